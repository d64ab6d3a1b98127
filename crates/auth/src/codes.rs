//! One-time codes: six digits, sent to an email address or phone number to prove the person
//! holds it (verification, password reset).
//!
//! A code is valid for `ttl` (5 minutes by default), allows `max_attempts` wrong tries (5), and a
//! new one for the same target can be asked for after `resend_cooldown` (60 s). Per target and per
//! IP address only so many codes go out an hour. Only a hash of the code is stored, and a code
//! works once.

use crate::{InternalError, secrets};
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use store::verification_codes::{CodeSpend, StoredCode};
use store::{Clock, Db, Uuid};

/// What a code proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    VerifyPhone,
    ResetPassword,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::VerifyPhone => "verify_phone",
            Purpose::ResetPassword => "reset_password",
        }
    }
}

/// The limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodePolicy {
    pub ttl: Duration,
    pub max_attempts: u32,
    pub resend_cooldown: Duration,
    pub per_target_per_hour: u32,
    pub per_ip_per_hour: u32,
    /// Codes an account asks for itself in a day (verifying and adding addresses and numbers),
    /// whatever the target: an attacker who can add numbers to an account must not turn it into
    /// an SMS pump. Reset codes, which anyone may ask for, are held by the other limits.
    pub per_account_per_day: u32,
}

impl Default for CodePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::minutes(5),
            max_attempts: 5,
            resend_cooldown: Duration::seconds(60),
            per_target_per_hour: 10,
            per_ip_per_hour: 30,
            per_account_per_day: 10,
        }
    }
}

/// A code to deliver; `code` is the only copy.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCode {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for IssuedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCode")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("a code was sent moments ago; ask again in {retry_after} seconds")]
    Cooldown { retry_after: i64 },
    #[error("too many codes were asked for; try again later")]
    RateLimited,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("That code is not right. {remaining} tries left.")]
    Wrong { remaining: u32 },
    #[error("That code has expired. Ask for a new one.")]
    Expired,
    #[error("Too many wrong tries. Ask for a new code.")]
    TooManyAttempts,
    #[error("No code is waiting for this address. Ask for a new one.")]
    NoCode,
    #[error("Enter the 6-digit code.")]
    Malformed,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

fn hash_code(purpose: Purpose, target: &str, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(purpose.as_str().as_bytes());
    h.update([0]);
    h.update(target.as_bytes());
    h.update([0]);
    h.update(code.as_bytes());
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        h.finalize(),
    )
}

/// A uniformly random six-digit code.
fn six_digits() -> String {
    // Rejection sampling keeps every code equally likely.
    loop {
        let n = u32::from_le_bytes(rand::random::<[u8; 4]>());
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// Issues a code for `target` (a normalised address), after the cooldown and rate limits.
pub async fn issue(
    db: &Db,
    clock: &dyn Clock,
    policy: &CodePolicy,
    purpose: Purpose,
    target: &str,
    user_id: Option<Uuid>,
    ip: Option<&str>,
) -> Result<IssuedCode, IssueError> {
    let now = clock.now();
    if let Some(last) = store::verification_codes::latest(db, purpose.as_str(), target)
        .await
        .map_err(InternalError)?
    {
        let ready = last.created_at + policy.resend_cooldown;
        if ready > now {
            return Err(IssueError::Cooldown {
                retry_after: (ready - now).num_seconds().max(1),
            });
        }
    }
    let ip = ip.map(crate::address_key);
    let ip = ip.as_deref();
    let (to_target, from_ip) =
        store::verification_codes::counts_since(db, target, ip, now - Duration::hours(1))
            .await
            .map_err(InternalError)?;
    if to_target >= policy.per_target_per_hour as u64 || from_ip >= policy.per_ip_per_hour as u64 {
        return Err(IssueError::RateLimited);
    }
    // Codes an account asks for itself (verifying its addresses, adding login IDs) are limited per
    // day; reset codes anyone may ask for are not counted there (else ten anonymous requests a
    // day would lock a person out of their own account) — the per-target and per-address limits
    // hold them.
    if let Some(user_id) = user_id.filter(|_| purpose != Purpose::ResetPassword) {
        let for_account = store::verification_codes::count_for_user_since(
            db,
            user_id,
            &[Purpose::VerifyEmail.as_str(), Purpose::VerifyPhone.as_str()],
            now - Duration::days(1),
        )
        .await
        .map_err(InternalError)?;
        if for_account >= policy.per_account_per_day as u64 {
            return Err(IssueError::RateLimited);
        }
    }
    let code = six_digits();
    let expires_at = now + policy.ttl;
    store::verification_codes::insert(
        db,
        &StoredCode {
            id: Uuid::now_v7(),
            purpose: purpose.as_str().to_owned(),
            target: target.to_owned(),
            user_id,
            code_hash: hash_code(purpose, target, &code),
            created_at: now,
            expires_at,
            attempts: 0,
            consumed: false,
            ip: ip.map(str::to_owned),
        },
    )
    .await
    .map_err(InternalError)?;
    Ok(IssuedCode { code, expires_at })
}

/// A code proven right: the user it was issued for (if any), and what the write it proves must
/// use up in its own transaction (so the code works once, and only together with that write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub user_id: Option<Uuid>,
    pub spend: CodeSpend,
}

/// Checks a code typed by a person. The guess takes one of the code's attempts before it is
/// compared; a right one gives the [`Proof`] to spend.
pub async fn check(
    db: &Db,
    clock: &dyn Clock,
    policy: &CodePolicy,
    purpose: Purpose,
    target: &str,
    typed: &str,
) -> Result<Proof, CheckError> {
    let typed: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CheckError::Malformed);
    }
    let now = clock.now();
    let Some(code) = store::verification_codes::latest(db, purpose.as_str(), target)
        .await
        .map_err(InternalError)?
    else {
        return Err(CheckError::NoCode);
    };
    if code.consumed {
        return Err(CheckError::NoCode);
    }
    if now >= code.expires_at {
        return Err(CheckError::Expired);
    }
    // The guess is counted before it is compared, atomically in the database: parallel guesses
    // each take an attempt, and none is compared once `max_attempts` are taken.
    let Some(claimed) = store::verification_codes::claim_attempt(db, code.id, policy.max_attempts)
        .await
        .map_err(InternalError)?
    else {
        // Every attempt is taken (or a parallel right guess used the code up meanwhile).
        return Err(CheckError::TooManyAttempts);
    };
    if !secrets::constant_time_eq(&hash_code(purpose, target, &typed), &claimed.code_hash) {
        return Err(if claimed.attempts >= policy.max_attempts {
            CheckError::TooManyAttempts
        } else {
            CheckError::Wrong {
                remaining: policy.max_attempts - claimed.attempts,
            }
        });
    }
    Ok(Proof {
        user_id: code.user_id,
        spend: CodeSpend {
            code_id: code.id,
            throttle_key: crate::brute_force::Subject::Code { purpose, target }.key(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::ManualClock;
    use store::testing::TestDatabase;

    const TARGET: &str = "ann@example.com";

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..1000 {
            let c = six_digits();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[tokio::test]
    async fn a_code_works_once_and_only_before_it_expires() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let p = CodePolicy::default();
        let user = Some(Uuid::now_v7());
        let issued = issue(&t.db, &clock, &p, Purpose::VerifyEmail, TARGET, user, None)
            .await
            .expect("issue");
        let stored = store::verification_codes::latest(&t.db, "verify_email", TARGET)
            .await
            .expect("q")
            .expect("stored");
        assert_ne!(stored.code_hash, issued.code, "stored hashed");
        assert!(
            matches!(
                check(
                    &t.db,
                    &clock,
                    &p,
                    Purpose::ResetPassword,
                    TARGET,
                    &issued.code
                )
                .await,
                Err(CheckError::NoCode)
            ),
            "codes are per purpose"
        );
        let spaced = format!("{} {}", &issued.code[..3], &issued.code[3..]);
        let proof = check(&t.db, &clock, &p, Purpose::VerifyEmail, TARGET, &spaced)
            .await
            .expect("valid");
        assert_eq!(proof.user_id, user);
        // The proof is spent with the write it proves, once: a second write with it fails whole.
        let spend = || {
            store::accounts::mark_identity_verified(
                &t.db,
                Uuid::now_v7(),
                store::accounts::IdentityKind::Email,
                TARGET,
                Some(&proof.spend),
                clock.now(),
                store::audit::NewEvent::new("test", store::audit::Actor::Cli),
            )
        };
        spend().await.expect("spent");
        assert!(
            matches!(spend().await, Err(store::StoreError::AlreadyUsed)),
            "a proof is spent once"
        );
        assert!(
            matches!(
                check(
                    &t.db,
                    &clock,
                    &p,
                    Purpose::VerifyEmail,
                    TARGET,
                    &issued.code
                )
                .await,
                Err(CheckError::NoCode)
            ),
            "single use"
        );

        clock.advance(Duration::seconds(61));
        let issued = issue(&t.db, &clock, &p, Purpose::VerifyEmail, TARGET, user, None)
            .await
            .expect("issue");
        clock.advance(Duration::minutes(5));
        assert!(matches!(
            check(
                &t.db,
                &clock,
                &p,
                Purpose::VerifyEmail,
                TARGET,
                &issued.code
            )
            .await,
            Err(CheckError::Expired)
        ));
        assert!(matches!(
            check(&t.db, &clock, &p, Purpose::VerifyEmail, TARGET, "12345").await,
            Err(CheckError::Malformed)
        ));
    }

    #[tokio::test]
    async fn five_wrong_tries_use_the_code_up() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let p = CodePolicy::default();
        let issued = issue(
            &t.db,
            &clock,
            &p,
            Purpose::VerifyPhone,
            "+33612345678",
            None,
            None,
        )
        .await
        .expect("issue");
        let wrong = if issued.code == "000000" {
            "111111"
        } else {
            "000000"
        };
        for remaining in (1..=4).rev() {
            match check(
                &t.db,
                &clock,
                &p,
                Purpose::VerifyPhone,
                "+33612345678",
                wrong,
            )
            .await
            {
                Err(CheckError::Wrong { remaining: r }) => assert_eq!(r, remaining),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            check(
                &t.db,
                &clock,
                &p,
                Purpose::VerifyPhone,
                "+33612345678",
                wrong
            )
            .await,
            Err(CheckError::TooManyAttempts)
        ));
        // Even the right code is refused now.
        assert!(matches!(
            check(
                &t.db,
                &clock,
                &p,
                Purpose::VerifyPhone,
                "+33612345678",
                &issued.code
            )
            .await,
            Err(CheckError::TooManyAttempts)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_wrong_guesses_take_distinct_attempts_and_stop_at_the_limit() {
        let t = TestDatabase::create().await.expect("db");
        let clock = std::sync::Arc::new(ManualClock::starting_now());
        let p = CodePolicy::default();
        let issued = issue(
            &t.db,
            clock.as_ref(),
            &p,
            Purpose::VerifyEmail,
            TARGET,
            None,
            None,
        )
        .await
        .expect("issue");
        let mut tasks = tokio::task::JoinSet::new();
        for guess in (0..100u32)
            .map(|n| format!("{n:06}"))
            .filter(|g| *g != issued.code)
            .take(50)
        {
            let (db, clock) = (t.db.clone(), clock.clone());
            tasks.spawn(async move {
                check(
                    &db,
                    clock.as_ref(),
                    &p,
                    Purpose::VerifyEmail,
                    TARGET,
                    &guess,
                )
                .await
            });
        }
        let mut wrong = 0;
        while let Some(result) = tasks.join_next().await {
            match result.expect("task") {
                Err(CheckError::Wrong { .. }) => wrong += 1,
                Err(CheckError::TooManyAttempts) => {}
                other => panic!("{other:?}"),
            }
        }
        // Attempts 1 to 4 were compared and wrong, the 5th compared and used the code up; the
        // other 45 were refused before any comparison.
        assert_eq!(wrong, 4);
        let stored = store::verification_codes::latest(&t.db, "verify_email", TARGET)
            .await
            .expect("q")
            .expect("stored");
        assert_eq!(stored.attempts, 5);
        assert!(matches!(
            check(
                &t.db,
                clock.as_ref(),
                &p,
                Purpose::VerifyEmail,
                TARGET,
                &issued.code
            )
            .await,
            Err(CheckError::TooManyAttempts)
        ));
    }

    #[tokio::test]
    async fn cooldown_and_rate_limits() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let p = CodePolicy {
            per_target_per_hour: 3,
            per_ip_per_hour: 4,
            ..CodePolicy::default()
        };
        issue(
            &t.db,
            &clock,
            &p,
            Purpose::VerifyEmail,
            TARGET,
            None,
            Some("192.0.2.9"),
        )
        .await
        .expect("first");
        match issue(
            &t.db,
            &clock,
            &p,
            Purpose::VerifyEmail,
            TARGET,
            None,
            Some("192.0.2.9"),
        )
        .await
        {
            Err(IssueError::Cooldown { retry_after }) => assert_eq!(retry_after, 60),
            other => panic!("{other:?}"),
        }
        clock.advance(Duration::seconds(30));
        assert!(matches!(
            issue(&t.db, &clock, &p, Purpose::VerifyEmail, TARGET, None, None).await,
            Err(IssueError::Cooldown { retry_after: 30 })
        ));
        for _ in 0..2 {
            clock.advance(Duration::seconds(61));
            issue(
                &t.db,
                &clock,
                &p,
                Purpose::VerifyEmail,
                TARGET,
                None,
                Some("192.0.2.9"),
            )
            .await
            .expect("after the cooldown");
        }
        clock.advance(Duration::seconds(61));
        assert!(
            matches!(
                issue(&t.db, &clock, &p, Purpose::VerifyEmail, TARGET, None, None).await,
                Err(IssueError::RateLimited)
            ),
            "3 an hour per target"
        );
        issue(
            &t.db,
            &clock,
            &p,
            Purpose::VerifyEmail,
            "other@example.com",
            None,
            Some("192.0.2.9"),
        )
        .await
        .expect("4th from this address");
        assert!(
            matches!(
                issue(
                    &t.db,
                    &clock,
                    &p,
                    Purpose::VerifyEmail,
                    "third@example.com",
                    None,
                    Some("192.0.2.9")
                )
                .await,
                Err(IssueError::RateLimited)
            ),
            "4 an hour per address"
        );
        clock.advance(Duration::hours(1));
        issue(
            &t.db,
            &clock,
            &p,
            Purpose::VerifyEmail,
            TARGET,
            None,
            Some("192.0.2.9"),
        )
        .await
        .expect("a new hour");
    }
}
