//! Brute-force protection for password sign-in and code entry.
//!
//! Two counters, both in the database so that every server process enforces them:
//! - per login ID (whether or not an account has it, so a lock does not reveal that an account
//!   exists): after `max_failures` consecutive failures the login ID is locked for `lockout`, and
//!   each further failure doubles the lock, up to `max_lockout`. A success clears it; a quiet day
//!   forgets it.
//! - per IP address: at most `ip_failures_per_hour` failures in an hour, then no more attempts from
//!   that address until the hour is over.

use crate::InternalError;
use chrono::{DateTime, Duration, Utc};
use store::{Clock, Db};

/// The limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BruteForcePolicy {
    pub max_failures: u32,
    pub lockout: Duration,
    pub max_lockout: Duration,
    pub ip_failures_per_hour: u32,
}

impl Default for BruteForcePolicy {
    fn default() -> Self {
        Self {
            max_failures: 10,
            lockout: Duration::minutes(1),
            max_lockout: Duration::hours(1),
            ip_failures_per_hour: 100,
        }
    }
}

/// How long a login ID's failures are remembered without a new one.
const ACCOUNT_WINDOW: Duration = Duration::hours(24);
const IP_WINDOW: Duration = Duration::hours(1);

impl BruteForcePolicy {
    /// The lock after `failures` consecutive failures: none below the limit, then `lockout`
    /// doubling with each further failure, at most `max_lockout`.
    pub fn account_lock(&self, failures: u32) -> Option<Duration> {
        if failures < self.max_failures {
            return None;
        }
        let doublings = (failures - self.max_failures).min(30);
        let lock = self
            .lockout
            .checked_mul(1i32 << doublings.min(30))
            .unwrap_or(self.max_lockout);
        Some(lock.min(self.max_lockout))
    }
}

/// Attempts are refused until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed attempts; try again after {until}")]
pub struct Locked {
    pub until: DateTime<Utc>,
}

impl Locked {
    /// Whole seconds to wait (at least one), for `Retry-After`.
    pub fn retry_after(&self, now: DateTime<Utc>) -> i64 {
        (self.until - now).num_seconds().max(1)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error(transparent)]
    Locked(#[from] Locked),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// What failures are counted against besides the address: the thing being guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A normalised login ID being signed in with, whether or not an account has it (so a lock
    /// does not tell that an account exists).
    LoginId {
        kind: store::accounts::IdentityKind,
        value: &'a str,
    },
    /// A sign-in with something that is no login ID at all.
    Unparseable,
    /// Second-factor codes of one account (by user id): its own counter, so that the holder of
    /// a password cannot try every TOTP code.
    SecondFactor { user: &'a str },
    /// One-time codes for a normalised address or number.
    Code {
        purpose: crate::codes::Purpose,
        target: &'a str,
    },
}

impl Subject<'_> {
    /// The counter's key in the database.
    pub fn key(&self) -> String {
        use crate::codes::Purpose;
        match self {
            Subject::LoginId { kind, value } => format!("login:{}:{value}", kind.as_str()),
            Subject::Unparseable => "login:invalid".to_owned(),
            Subject::SecondFactor { user } => format!("login:mfa:{user}"),
            Subject::Code { purpose, target } => {
                // Verifying and adding an email share one counter: the same code page guards both.
                let what = match purpose {
                    Purpose::VerifyEmail => "email",
                    Purpose::VerifyPhone => "phone",
                    Purpose::ResetPassword => "reset",
                };
                format!("login:code:{what}:{target}")
            }
        }
    }
}

fn keys(subject: &Subject<'_>, ip: Option<&str>) -> (String, Option<String>) {
    (
        subject.key(),
        ip.map(|ip| format!("ip:{}", crate::address_key(ip))),
    )
}

/// Refuses the attempt when the subject or the address is locked. Costs one indexed query.
pub async fn check(
    db: &Db,
    clock: &dyn Clock,
    subject: &Subject<'_>,
    ip: Option<&str>,
) -> Result<(), AttemptError> {
    let (subject_key, ip_key) = keys(subject, ip);
    let mut wanted = vec![subject_key];
    wanted.extend(ip_key);
    let now = clock.now();
    let states = store::throttles::load(db, &wanted)
        .await
        .map_err(InternalError)?;
    let until = states
        .iter()
        .filter_map(|(_, t)| t.locked_until)
        .filter(|u| *u > now)
        .max();
    match until {
        Some(until) => Err(Locked { until }.into()),
        None => Ok(()),
    }
}

/// Counts a failure against the subject and the address; returns the lock it caused, if any.
pub async fn record_failure(
    db: &Db,
    clock: &dyn Clock,
    policy: &BruteForcePolicy,
    subject: &Subject<'_>,
    ip: Option<&str>,
) -> Result<Option<Locked>, InternalError> {
    let (subject_key, ip_key) = keys(subject, ip);
    let now = clock.now();
    let account =
        store::throttles::record_failure(db, &subject_key, now, ACCOUNT_WINDOW, |n, _| {
            policy.account_lock(n).map(|d| now + d)
        })
        .await?;
    let mut until = account.locked_until;
    if let Some(ip_key) = ip_key {
        let limit = policy.ip_failures_per_hour;
        let ip = store::throttles::record_failure(db, &ip_key, now, IP_WINDOW, |n, start| {
            (n >= limit).then_some(start + IP_WINDOW)
        })
        .await?;
        until = until.max(ip.locked_until);
    }
    Ok(until.filter(|u| *u > now).map(|until| Locked { until }))
}

/// An attempt on a subject, counted as a failure before it is compared (see [`claim`]).
#[must_use = "an attempt ends with succeeded or failed"]
#[derive(Debug)]
pub struct Claim {
    subject_key: String,
    ip_key: Option<String>,
    /// The lock this attempt's count set, if it fails.
    locks_until: Option<DateTime<Utc>>,
}

/// Starts an attempt on `subject`: refused when the address or the subject is locked; otherwise
/// the subject's failure is counted *before* the guess is compared, atomically across processes,
/// so that of any number of parallel guesses only the `max_failures` below the lock are compared
/// at all (counting after the comparison let a burst through before the first failure was
/// written). The address's counter is counted after a failure only, since the successes of one
/// busy address must not add up to a lock; it is a wider net, checked first.
pub async fn claim(
    db: &Db,
    clock: &dyn Clock,
    policy: &BruteForcePolicy,
    subject: &Subject<'_>,
    ip: Option<&str>,
) -> Result<Claim, AttemptError> {
    let (subject_key, ip_key) = keys(subject, ip);
    let now = clock.now();
    if let Some(ip_key) = &ip_key {
        let states = store::throttles::load(db, std::slice::from_ref(ip_key))
            .await
            .map_err(InternalError)?;
        if let Some(until) = states
            .iter()
            .filter_map(|(_, t)| t.locked_until)
            .find(|u| *u > now)
        {
            return Err(Locked { until }.into());
        }
    }
    let claimed = store::throttles::claim_attempt(db, &subject_key, now, ACCOUNT_WINDOW, |n, _| {
        policy.account_lock(n).map(|d| now + d)
    })
    .await
    .map_err(InternalError)?;
    match claimed {
        store::throttles::Claimed::Locked(t) => Err(Locked {
            until: t.locked_until.unwrap_or(now),
        }
        .into()),
        store::throttles::Claimed::Counted(t) => Ok(Claim {
            subject_key,
            ip_key,
            locks_until: t.locked_until,
        }),
    }
}

impl Claim {
    /// The guess was right: the subject's failures are forgotten.
    pub async fn succeeded(self, db: &Db) -> Result<(), InternalError> {
        store::throttles::clear(db, &self.subject_key).await?;
        Ok(())
    }

    /// The guess was wrong (already counted for the subject): counts it for the address and
    /// returns the lock it caused, if any.
    pub async fn failed(
        self,
        db: &Db,
        clock: &dyn Clock,
        policy: &BruteForcePolicy,
    ) -> Result<Option<Locked>, InternalError> {
        let now = clock.now();
        let mut until = self.locks_until;
        if let Some(ip_key) = self.ip_key {
            let limit = policy.ip_failures_per_hour;
            let ip = store::throttles::record_failure(db, &ip_key, now, IP_WINDOW, |n, start| {
                (n >= limit).then_some(start + IP_WINDOW)
            })
            .await?;
            until = until.max(ip.locked_until);
        }
        Ok(until.filter(|u| *u > now).map(|until| Locked { until }))
    }
}

/// A success clears the subject's failures (not the address's).
pub async fn record_success(db: &Db, subject: &Subject<'_>) -> Result<(), InternalError> {
    store::throttles::clear(db, &keys(subject, None).0).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::ManualClock;
    use store::accounts::IdentityKind;
    use store::testing::TestDatabase;

    #[test]
    fn locks_double_up_to_the_maximum() {
        let p = BruteForcePolicy::default();
        assert_eq!(p.account_lock(9), None);
        assert_eq!(p.account_lock(10), Some(Duration::minutes(1)));
        assert_eq!(p.account_lock(11), Some(Duration::minutes(2)));
        assert_eq!(p.account_lock(13), Some(Duration::minutes(8)));
        assert_eq!(p.account_lock(16), Some(Duration::hours(1)));
        assert_eq!(p.account_lock(u32::MAX), Some(Duration::hours(1)));
    }

    #[tokio::test]
    async fn ten_failures_lock_the_login_id_and_a_success_clears_it() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let p = BruteForcePolicy::default();
        let who = &Subject::LoginId {
            kind: IdentityKind::Email,
            value: "ann@example.com",
        };
        for i in 1..=9 {
            assert_eq!(
                record_failure(&t.db, &clock, &p, who, Some("192.0.2.1"))
                    .await
                    .expect("count"),
                None,
                "{i}"
            );
            check(&t.db, &clock, who, Some("192.0.2.1"))
                .await
                .expect("not locked yet");
        }
        let lock = record_failure(&t.db, &clock, &p, who, Some("192.0.2.1"))
            .await
            .expect("count")
            .expect("locked");
        assert_eq!(lock.until, clock.now() + Duration::minutes(1));
        assert!(matches!(
            check(&t.db, &clock, who, None).await,
            Err(AttemptError::Locked(_))
        ));
        // Another login ID from another address is not affected.
        let bob = Subject::LoginId {
            kind: IdentityKind::Email,
            value: "bob@example.com",
        };
        check(&t.db, &clock, &bob, Some("192.0.2.2"))
            .await
            .expect("others go on");
        // After the lock, one more failure locks for twice as long.
        clock.advance(Duration::seconds(61));
        check(&t.db, &clock, who, None).await.expect("lock over");
        let lock = record_failure(&t.db, &clock, &p, who, None)
            .await
            .expect("count")
            .expect("locked");
        assert_eq!(lock.until, clock.now() + Duration::minutes(2));
        clock.advance(Duration::minutes(3));
        record_success(&t.db, who).await.expect("clear");
        assert_eq!(
            store::throttles::failures(&t.db, "login:email:ann@example.com")
                .await
                .expect("q"),
            0
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_guesses_compare_no_more_than_the_limit() {
        let t = TestDatabase::create().await.expect("db");
        let clock = std::sync::Arc::new(ManualClock::starting_now());
        let p = BruteForcePolicy::default();
        let who = Subject::SecondFactor { user: "u1" };
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let db = t.db.clone();
            let clock = clock.clone();
            tasks.spawn(async move {
                let who = Subject::SecondFactor { user: "u1" };
                match claim(&db, clock.as_ref(), &p, &who, Some("192.0.2.9")).await {
                    // Every guess is wrong: each one that got a claim is compared and fails.
                    Ok(c) => {
                        c.failed(&db, clock.as_ref(), &p).await.expect("fail");
                        true
                    }
                    Err(AttemptError::Locked(_)) => false,
                    Err(AttemptError::Internal(e)) => panic!("{e}"),
                }
            });
        }
        let compared = tasks.join_all().await.into_iter().filter(|c| *c).count();
        assert_eq!(
            compared, p.max_failures as usize,
            "only guesses below the lock"
        );
        let clock = clock.as_ref();
        assert!(matches!(
            claim(&t.db, clock, &p, &who, None).await,
            Err(AttemptError::Locked(_))
        ));
        // When the lock is over, one more guess is compared and locks for twice as long.
        clock.advance(Duration::seconds(61));
        let c = claim(&t.db, clock, &p, &who, None)
            .await
            .expect("lock over");
        let lock = c
            .failed(&t.db, clock, &p)
            .await
            .expect("fail")
            .expect("locked");
        assert_eq!(lock.until, clock.now() + Duration::minutes(2));
        // A right guess clears the subject.
        clock.advance(Duration::minutes(3));
        let c = claim(&t.db, clock, &p, &who, None)
            .await
            .expect("lock over");
        c.succeeded(&t.db).await.expect("clear");
        assert_eq!(
            store::throttles::failures(&t.db, &who.key())
                .await
                .expect("q"),
            0
        );
    }

    #[tokio::test]
    async fn an_address_gets_a_hundred_failures_an_hour() {
        let t = TestDatabase::create().await.expect("db");
        let fresh = Subject::LoginId {
            kind: IdentityKind::Email,
            value: "fresh@example.com",
        };
        let clock = ManualClock::starting_now();
        let p = BruteForcePolicy {
            ip_failures_per_hour: 5,
            ..BruteForcePolicy::default()
        };
        for i in 0..4 {
            let value = format!("user{i}@example.com");
            let who = Subject::LoginId {
                kind: IdentityKind::Email,
                value: &value,
            };
            assert_eq!(
                record_failure(&t.db, &clock, &p, &who, Some("198.51.100.7"))
                    .await
                    .expect("count"),
                None
            );
        }
        let lock = record_failure(
            &t.db,
            &clock,
            &p,
            &Subject::LoginId {
                kind: IdentityKind::Email,
                value: "x@example.com",
            },
            Some("198.51.100.7"),
        )
        .await
        .expect("count")
        .expect("address locked");
        assert!(matches!(
            check(&t.db, &clock, &fresh, Some("198.51.100.7")).await,
            Err(AttemptError::Locked(_))
        ));
        check(&t.db, &clock, &fresh, Some("198.51.100.8"))
            .await
            .expect("other address");
        clock.advance(lock.until - clock.now() + Duration::seconds(1));
        check(&t.db, &clock, &fresh, Some("198.51.100.7"))
            .await
            .expect("hour over");
    }
}
