//! Second factors (SPEC §9): authenticator apps (TOTP, RFC 6238: SHA-1, 6 digits, 30-second
//! steps, one step of drift, each code accepted once) and recovery codes (10, single use, shown
//! once, stored hashed), and the sign-in that waits for one.
//!
//! A sign-in whose password is right, for a user with a confirmed factor, does not start a
//! session: it starts a *challenge* (a random token in a cookie, stored hashed, 10 minutes) that
//! only the second-factor page accepts. The code given there is checked here; the session that
//! follows records `amr` = `pwd otp` (or `pwd otp` for a recovery code too: it is a one-time
//! password). Wrong codes count toward a per-account lock (the brute-force policy of §3), so the
//! holder of a password cannot try the million TOTP codes.

use crate::brute_force::{self, AttemptError, BruteForcePolicy, Locked};
use crate::{InternalError, secrets};
use serde_json::{Value, json};
use store::audit::{Actor, NewEvent};
pub use store::mfa::Challenge;
use store::mfa::{Factor, NewFactor};
use store::{Clock, Db, Uuid};

pub const TOTP: &str = "totp";
pub const RECOVERY_CODES: &str = "recovery_codes";
pub const PASSKEY: &str = "passkey";
/// How many recovery codes a set has.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// How long a sign-in waits for its second factor.
pub const CHALLENGE_TTL: chrono::Duration = chrono::Duration::minutes(10);
const STEP_SECONDS: u64 = 30;

/// What can go wrong with a factor.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("The code is not right, or was used already.")]
    WrongCode,
    /// Too many wrong codes: the account's second-factor step is locked for a while.
    #[error(transparent)]
    Locked(#[from] Locked),
    #[error("There is no such factor.")]
    NotFound,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<store::StoreError> for MfaError {
    fn from(e: store::StoreError) -> Self {
        MfaError::Internal(InternalError(e))
    }
}

/// The per-account lock of second-factor codes.
fn subject(user_id: &Uuid) -> String {
    user_id.to_string()
}

fn brute_subject(user: &str) -> brute_force::Subject<'_> {
    brute_force::Subject::SecondFactor { user }
}

/// An authenticator app being added: what the settings page shows until a first code confirms it.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub factor_id: Uuid,
    /// The shared secret as typed into an app (base32, no padding).
    pub secret: String,
    /// `otpauth://totp/…`: what the QR code holds.
    pub uri: String,
    /// The URI as an inline SVG QR code.
    pub qr_svg: String,
}

fn totp_of(secret_base32: &str, account: &str, issuer: &str) -> Option<totp_rs::Totp> {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).ok()?;
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some(issuer))
        .build()
        .ok()
}

/// The inline SVG QR code of `text`.
pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

fn enrolment(factor_id: Uuid, secret: &str, account: &str, issuer: &str) -> Option<TotpEnrolment> {
    let uri = totp_of(secret, account, issuer)?.to_url().ok()?;
    Some(TotpEnrolment {
        factor_id,
        secret: secret.to_owned(),
        qr_svg: qr_svg(&uri),
        uri,
    })
}

/// Starts adding an authenticator app: a new secret, stored unconfirmed (an earlier unconfirmed
/// one of the user goes). `account` (the user's email) and `issuer` (the site's name) label the
/// entry in the app.
pub async fn start_totp(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    account: &str,
    issuer: &str,
) -> Result<TotpEnrolment, MfaError> {
    let bytes: [u8; 20] = rand::random();
    let secret = totp_rs::Secret::from(bytes).to_base32();
    let factor_id = Uuid::now_v7();
    store::mfa::insert_factor(
        db,
        NewFactor {
            id: factor_id,
            user_id,
            kind: TOTP.into(),
            name: "Authenticator app".into(),
            secret: Some(secret.clone()),
            data: json!({}),
            confirmed: false,
        },
        false,
        clock.now(),
        None,
    )
    .await?;
    enrolment(factor_id, &secret, account, issuer)
        .ok_or_else(|| MfaError::Internal(InternalError(store::StoreError::Corrupt("totp".into()))))
}

/// The authenticator app the user is adding (to show the page again after a wrong code).
pub async fn pending_totp(
    db: &Db,
    user_id: Uuid,
    factor_id: Uuid,
    account: &str,
    issuer: &str,
) -> Result<Option<TotpEnrolment>, MfaError> {
    let factors = store::mfa::list_factors(db, user_id).await?;
    Ok(factors
        .iter()
        .find(|f| f.id == factor_id && f.kind == TOTP && f.confirmed_at.is_none())
        .and_then(|f| enrolment(f.id, f.secret.as_deref()?, account, issuer)))
}

/// The step `code` matches for `secret` at `now` (one step of drift either way), if any.
fn matching_step(secret: &str, code: &str, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp_of(secret, "-", "-")?;
    let time = u64::try_from(now.timestamp()).ok()?;
    let step = totp.check(&code, time)?;
    i64::try_from(step).ok()
}

/// Confirms the authenticator app being added with a first code from it.
pub async fn confirm_totp(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    factor_id: Uuid,
    code: &str,
    ip: Option<&str>,
) -> Result<(), MfaError> {
    let factors = store::mfa::list_factors(db, user_id).await?;
    let Some(factor) = factors
        .iter()
        .find(|f| f.id == factor_id && f.kind == TOTP && f.confirmed_at.is_none())
    else {
        return Err(MfaError::NotFound);
    };
    let now = clock.now();
    let step = factor
        .secret
        .as_deref()
        .and_then(|s| matching_step(s, code, now))
        .ok_or(MfaError::WrongCode)?;
    let event = NewEvent::new("mfa.enrolled", Actor::User(user_id))
        .user(user_id)
        .ip(ip.map(str::to_owned))
        .detail(json!({ "factor_id": factor_id, "type": TOTP }));
    if store::mfa::confirm_factor(db, user_id, factor_id, step, now, event).await? {
        Ok(())
    } else {
        Err(MfaError::NotFound)
    }
}

/// A recovery code as people type it: `xxxx-xxxx-xxxx`, case and dashes ignored.
/// A typed recovery code as generated: separators dropped, lower case, a typed letter o read as
/// the zero it looks like.
fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            c => c,
        })
        .collect()
}

/// 32 symbols without look-alikes (no i, l, o, 1).
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz023456789";

fn new_recovery_code() -> String {
    // 12 characters of 32 symbols: 60 bits.
    const ALPHABET: &[u8; 32] = RECOVERY_ALPHABET;
    let bytes: [u8; 12] = rand::random();
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[(b & 31) as usize] as char)
        .collect();
    format!("{}-{}-{}", &chars[..4], &chars[4..8], &chars[8..])
}

/// A new set of recovery codes (replacing the old set): the codes, to show once.
pub async fn generate_recovery_codes(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    ip: Option<&str>,
) -> Result<Vec<String>, MfaError> {
    let codes: Vec<String> = (0..RECOVERY_CODE_COUNT)
        .map(|_| new_recovery_code())
        .collect();
    let hashes: Vec<Value> = codes
        .iter()
        .map(|c| json!({ "hash": secrets::hash_secret(&normalise_recovery(c)), "used_at": null }))
        .collect();
    let factor_id = Uuid::now_v7();
    let event = NewEvent::new("mfa.enrolled", Actor::User(user_id))
        .user(user_id)
        .ip(ip.map(str::to_owned))
        .detail(json!({ "factor_id": factor_id, "type": RECOVERY_CODES }));
    store::mfa::insert_factor(
        db,
        NewFactor {
            id: factor_id,
            user_id,
            kind: RECOVERY_CODES.into(),
            name: "Recovery codes".into(),
            secret: None,
            data: json!({ "codes": hashes }),
            confirmed: true,
        },
        true,
        clock.now(),
        Some(event),
    )
    .await?;
    Ok(codes)
}

/// A factor as the settings page and the Admin API list it.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorInfo {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Recovery codes not used yet (recovery code sets only).
    pub remaining: Option<usize>,
}

fn unused_codes(f: &Factor) -> usize {
    f.data["codes"]
        .as_array()
        .map_or(0, |c| c.iter().filter(|c| c["used_at"].is_null()).count())
}

/// The user's confirmed factors, oldest first.
pub async fn list(db: &Db, user_id: Uuid) -> Result<Vec<FactorInfo>, MfaError> {
    Ok(store::mfa::list_factors(db, user_id)
        .await?
        .into_iter()
        .filter(|f| f.confirmed_at.is_some())
        .map(|f| FactorInfo {
            remaining: (f.kind == RECOVERY_CODES).then(|| unused_codes(&f)),
            id: f.id,
            kind: f.kind,
            name: f.name,
            created_at: f.created_at,
            last_used_at: f.last_used_at,
        })
        .collect())
}

/// Whether the user has a second factor (then a password alone does not sign in).
pub async fn has_second_factor(db: &Db, user_id: Uuid) -> Result<bool, InternalError> {
    Ok(store::mfa::has_factor(db, user_id).await?)
}

/// Removes one of the user's factors (by the user, or an admin: `actor`).
pub async fn remove(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    factor_id: Uuid,
    actor: Actor,
    ip: Option<&str>,
) -> Result<(), MfaError> {
    let event = NewEvent::new("mfa.removed", actor)
        .user(user_id)
        .ip(ip.map(str::to_owned))
        .detail(json!({ "factor_id": factor_id }));
    if store::mfa::delete_factor(db, user_id, factor_id, clock.now(), event).await? {
        Ok(())
    } else {
        Err(MfaError::NotFound)
    }
}

/// How recent a sign-in lets its session add or remove factors without the password again.
pub const RECENT_SIGN_IN: chrono::Duration = chrono::Duration::minutes(5);

/// Whether `session` may change its user's factors now: it signed in (or proved a second factor)
/// within [`RECENT_SIGN_IN`], or `password` is the user's current password.
pub async fn reauthenticated(
    db: &Db,
    clock: &dyn Clock,
    hasher: &crate::PasswordHasher,
    session: &store::sessions::Session,
    password: &str,
) -> Result<bool, InternalError> {
    let now = clock.now();
    let last = session
        .mfa_at
        .map_or(session.auth_time, |m| m.max(session.auth_time));
    if now - last < RECENT_SIGN_IN {
        return Ok(true);
    }
    if password.is_empty() {
        return Ok(false);
    }
    let stored = store::accounts::password_hash(db, session.user_id).await?;
    Ok(hasher.verify_blocking(password.to_owned(), stored).await)
}

/// Which kind of code proved the second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    Totp,
    Recovery,
}

/// Checks a second-factor code of `user_id`: a TOTP code of one of the user's apps (each step
/// once), or one of the user's unused recovery codes (then used up, audited). A wrong code counts
/// toward the account's lock and is audited as `mfa.failed`.
/// A used recovery code is told to the account's email address (`channels`), so that its owner
/// learns at once if someone else had the codes.
pub async fn verify_code(
    db: &Db,
    clock: &dyn Clock,
    policy: &BruteForcePolicy,
    channels: crate::verification::Channels<'_>,
    user_id: Uuid,
    code: &str,
    ip: Option<&str>,
) -> Result<CodeKind, MfaError> {
    let who = subject(&user_id);
    let subject = brute_subject(&who);
    // Counted before it is compared: parallel guesses cannot outrun the lock.
    let claim = brute_force::claim(db, clock, policy, &subject, ip)
        .await
        .map_err(|e| match e {
            AttemptError::Locked(l) => MfaError::Locked(l),
            AttemptError::Internal(i) => MfaError::Internal(i),
        })?;
    let now = clock.now();
    let factors = store::mfa::list_factors(db, user_id).await?;
    let confirmed = factors.iter().filter(|f| f.confirmed_at.is_some());
    let mut proved = None;
    for f in confirmed.clone().filter(|f| f.kind == TOTP) {
        if let Some(step) = f
            .secret
            .as_deref()
            .and_then(|s| matching_step(s, code, now))
            && store::mfa::accept_totp_step(db, f.id, step, now).await?
        {
            proved = Some(CodeKind::Totp);
            break;
        }
    }
    if proved.is_none() {
        let typed = normalise_recovery(code);
        if typed.len() == 12 {
            let hash = secrets::hash_secret(&typed);
            for f in confirmed.filter(|f| f.kind == RECOVERY_CODES) {
                if use_recovery_code(db, f, &hash, user_id, ip, now).await? {
                    proved = Some(CodeKind::Recovery);
                    break;
                }
            }
        }
    }
    match proved {
        Some(kind) => {
            claim.succeeded(db).await?;
            if kind == CodeKind::Recovery {
                notify_recovery_used(db, channels, user_id).await;
            }
            Ok(kind)
        }
        None => {
            let locked = claim.failed(db, clock, policy).await?;
            let event = NewEvent::new("mfa.failed", Actor::User(user_id))
                .user(user_id)
                .ip(ip.map(str::to_owned));
            store::audit::record(db, event, now)
                .await
                .map_err(InternalError)?;
            Err(match locked {
                Some(l) => MfaError::Locked(l),
                None => MfaError::WrongCode,
            })
        }
    }
}

/// Mails the account's address that a recovery code was used (logged, never fatal: the sign-in
/// goes on whether or not the mail could be sent).
async fn notify_recovery_used(db: &Db, channels: crate::verification::Channels<'_>, user_id: Uuid) {
    let to = match crate::users::email_of(db, user_id).await {
        Ok(to) => to,
        Err(e) => {
            tracing::warn!(error = %e, "reading the address for a recovery notice failed");
            None
        }
    };
    let Some(to) = to else { return };
    let site = channels.site_name;
    let text = format!(
        "A recovery code was just used to sign in to your {site} account.\n\nIf this was you, \
         consider making new recovery codes in your settings. If it was not you, change your \
         password and remove the recovery codes and authenticator apps you do not recognise.\n\n\
         — {site}\n"
    );
    let email = crate::delivery::Email {
        to,
        subject: format!("A recovery code was used on your {site} account"),
        html: format!(
            "<p>{}</p>",
            text.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace("\n\n", "</p><p>")
        ),
        text,
    };
    if let Err(e) = channels.mailer.send(&email).await {
        tracing::warn!(error = %e, "sending a recovery notice failed");
    }
}

/// Uses up the recovery code hashing to `hash` in set `f`, if it is there and unused.
async fn use_recovery_code(
    db: &Db,
    f: &Factor,
    hash: &str,
    user_id: Uuid,
    ip: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, MfaError> {
    let Some(codes) = f.data["codes"].as_array() else {
        return Ok(false);
    };
    let Some(index) = codes.iter().position(|c| {
        c["used_at"].is_null()
            && c["hash"]
                .as_str()
                .is_some_and(|h| secrets::constant_time_eq(h, hash))
    }) else {
        return Ok(false);
    };
    let mut next = f.data.clone();
    next["codes"][index]["used_at"] = now.timestamp_millis().into();
    let remaining = unused_codes(f).saturating_sub(1);
    let event = NewEvent::new("mfa.recovery_used", Actor::User(user_id))
        .user(user_id)
        .ip(ip.map(str::to_owned))
        .detail(json!({ "factor_id": f.id, "remaining": remaining }));
    Ok(store::mfa::swap_data(db, f.id, &f.data, &next, now, event).await?)
}

/// What follows a first factor (a password, an upstream provider, a sign-up).
#[derive(Debug, Clone)]
pub enum AfterFirstFactor {
    /// No second factor to ask for: start the session (its `amr` is `pwd`).
    Session,
    /// The user has a second factor: wait for it in this challenge.
    SecondFactor(StartedChallenge),
}

/// The sign-in state machine's first step: a user with a confirmed second factor gets a
/// challenge (the session starts once it is proved), anyone else a session at once.
pub async fn after_first_factor(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    return_to: &str,
) -> Result<AfterFirstFactor, InternalError> {
    if !has_second_factor(db, user_id).await? {
        return Ok(AfterFirstFactor::Session);
    }
    Ok(AfterFirstFactor::SecondFactor(
        start_challenge(db, clock, user_id, return_to).await?,
    ))
}

/// The second factor of a waiting sign-in is proved with methods `added`: ends the challenge and
/// gives the session's `amr` — `None` when another request ended it first (a challenge completes
/// once, however many requests race with good codes).
pub async fn finish_challenge(
    db: &Db,
    token: &str,
    challenge: &Challenge,
    added: &str,
) -> Result<Option<String>, InternalError> {
    if !complete_challenge(db, token).await? {
        return Ok(None);
    }
    Ok(Some(amr_with(&challenge.amr, added)))
}

/// A sign-in waiting for its second factor, as its cookie names it.
#[derive(Debug, Clone)]
pub struct StartedChallenge {
    /// For the cookie (only its hash is stored).
    pub token: String,
    pub challenge: Challenge,
}

/// Starts waiting for `user_id`'s second factor after a right password; the sign-in then goes
/// to `return_to`.
pub async fn start_challenge(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    return_to: &str,
) -> Result<StartedChallenge, InternalError> {
    let token = secrets::generate_secret();
    let now = clock.now();
    let challenge = Challenge {
        user_id,
        amr: "pwd".into(),
        return_to: return_to.to_owned(),
        expires_at: now + CHALLENGE_TTL,
    };
    store::mfa::insert_challenge(db, &secrets::hash_secret(&token), &challenge, now).await?;
    Ok(StartedChallenge { token, challenge })
}

/// The live challenge a cookie names.
pub async fn find_challenge(
    db: &Db,
    clock: &dyn Clock,
    token: &str,
) -> Result<Option<Challenge>, InternalError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    Ok(store::mfa::find_challenge(db, &secrets::hash_secret(token), clock.now()).await?)
}

/// Ends a challenge; `true` for the one caller that ended it (a challenge completes once).
async fn complete_challenge(db: &Db, token: &str) -> Result<bool, InternalError> {
    Ok(store::mfa::take_challenge(db, &secrets::hash_secret(token)).await?)
}

/// A signed-in session proved a second factor (a step-up) with methods `added` (`otp mfa`): it
/// now counts as multi-factor.
pub async fn step_up(
    db: &Db,
    clock: &dyn Clock,
    session: &store::sessions::Session,
    added: &str,
    ip: Option<&str>,
) -> Result<(), InternalError> {
    let amr = amr_with(&session.amr, added);
    let event = NewEvent::new("mfa.step_up", Actor::User(session.user_id))
        .user(session.user_id)
        .ip(ip.map(str::to_owned))
        .detail(json!({ "session_id": session.id, "amr": amr }));
    Ok(store::sessions::record_second_factor(db, session.id, &amr, clock.now(), event).await?)
}

/// The `amr` a code of either kind adds: a one-time password, so multi-factor.
pub const OTP_AMR: &str = "otp mfa";

/// `before` with the methods of `added`, each once (`pwd` + `otp mfa` → `pwd otp mfa`).
pub fn amr_with(before: &str, added: &str) -> String {
    let mut methods: Vec<&str> = before.split_whitespace().collect();
    for m in added.split_whitespace() {
        if !methods.contains(&m) {
            methods.push(m);
        }
    }
    methods.join(" ")
}

/// The base32 form of a raw secret.
pub fn base32_secret(raw: &[u8]) -> String {
    totp_rs::Secret::from(raw).to_base32()
}

/// The TOTP code of a base32 `secret` at `time` (Unix seconds): what an authenticator app shows.
pub fn totp_code(secret: &str, time: u64) -> Option<String> {
    Some(totp_of(secret, "-", "-")?.generate(time).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// RFC 6238 appendix B, SHA-1: the 20-byte ASCII secret "12345678901234567890"; the RFC's
    /// 8-digit codes end in these 6 digits.
    #[test]
    fn recovery_codes_use_32_distinct_symbols() {
        let mut symbols = RECOVERY_ALPHABET.to_vec();
        symbols.sort_unstable();
        symbols.dedup();
        assert_eq!(symbols.len(), 32);
        let code = new_recovery_code();
        assert_eq!(code.len(), 14);
        assert_eq!(
            normalise_recovery(&code.to_uppercase()),
            code.replace('-', "")
        );
        assert_eq!(normalise_recovery("ab0-O"), "ab00");
    }

    #[test]
    fn rfc_6238_test_vectors() {
        let secret = base32_secret(b"12345678901234567890");
        let totp = totp_of(&secret, "a", "b").expect("totp");
        for (time, code) in [
            (59u64, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(totp.generate(time).to_string(), code, "t = {time}");
        }
    }

    #[test]
    fn codes_match_within_one_step_of_drift() {
        let secret = base32_secret(b"12345678901234567890");
        let at = |s: i64| chrono::Utc.timestamp_opt(s, 0).single().expect("time");
        // 1111111109 is in step 37037036; the code is good one step either side, not two.
        assert_eq!(
            matching_step(&secret, "081804", at(1_111_111_109)),
            Some(37_037_036)
        );
        assert_eq!(
            matching_step(&secret, "081804", at(1_111_111_109 + 30)),
            Some(37_037_036)
        );
        assert_eq!(
            matching_step(&secret, "081804", at(1_111_111_109 - 30)),
            Some(37_037_036)
        );
        assert_eq!(
            matching_step(&secret, "081804", at(1_111_111_109 + 61)),
            None
        );
        assert_eq!(
            matching_step(&secret, " 081 804 ", at(1_111_111_109)),
            Some(37_037_036)
        );
        for bad in ["", "08180", "0818045", "abcdef", "٠٨١٨٠٤"] {
            assert_eq!(
                matching_step(&secret, bad, at(1_111_111_109)),
                None,
                "{bad}"
            );
        }
    }

    #[test]
    fn recovery_codes_are_long_and_typed_loosely() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 14);
        assert_eq!(normalise_recovery(&code).len(), 12);
        assert_eq!(
            normalise_recovery(&code.to_uppercase().replace('-', " ")),
            normalise_recovery(&code)
        );
        assert_ne!(new_recovery_code(), code);
    }

    #[test]
    fn amr_names_every_method_once() {
        assert_eq!(amr_with("pwd", OTP_AMR), "pwd otp mfa");
        assert_eq!(amr_with("pwd otp mfa", OTP_AMR), "pwd otp mfa");
        assert_eq!(amr_with("pwd", "hwk user mfa"), "pwd hwk user mfa");
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg = qr_svg("otpauth://totp/Tessera:ann%40example.com?secret=ABC&issuer=Tessera");
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }
}
