//! Signing up and signing in with a password.

use crate::InternalError;
use crate::brute_force::{self, BruteForcePolicy};
use crate::login_id::{self, LoginIdError};
use crate::passwords::{PasswordError, PasswordHasher, PasswordPolicy};
use store::accounts::{IdentityKind, NewAccount, NewIdentity};
use store::audit::{Actor, NewEvent};
use store::{Clock, Db, StoreError, Uuid};

/// Why a sign-up was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    #[error(transparent)]
    InvalidEmail(LoginIdError),
    #[error(transparent)]
    Password(PasswordError),
    #[error("An account with this email address already exists.")]
    EmailTaken,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// A sign-up with email and password.
#[derive(Debug, Clone)]
pub struct SignUp {
    pub email: String,
    /// `None` creates an account that cannot sign in with a password (until one is set).
    pub password: Option<String>,
    /// Set by trusted callers (the CLI) that vouch for the address.
    pub email_verified: bool,
    pub ip: Option<String>,
    pub actor: Actor,
    /// What the profile starts with (generated nickname and avatar seed).
    pub initial_profile: profile::NewProfile,
}

/// Creates an account: user, profile, email identity and password, in one transaction.
pub async fn sign_up(
    db: &Db,
    clock: &dyn Clock,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    input: SignUp,
) -> Result<Uuid, SignUpError> {
    let email = login_id::normalise_email(&input.email).map_err(SignUpError::InvalidEmail)?;
    let password_hash = match input.password {
        Some(password) => {
            policy.check(&password).map_err(SignUpError::Password)?;
            Some(
                hasher
                    .hash_blocking(password)
                    .await
                    .map_err(|e| InternalError(StoreError::Corrupt(e.to_string())))?,
            )
        }
        None => None,
    };
    let user_id = Uuid::now_v7();
    let actor = match input.actor {
        Actor::Anonymous => Actor::User(user_id),
        other => other,
    };
    let event = NewEvent::new("user.signed_up", actor)
        .user(user_id)
        .ip(input.ip)
        .detail(serde_json::json!({ "identities": ["email"] }));
    let account = NewAccount {
        user_id,
        identities: vec![NewIdentity {
            kind: IdentityKind::Email,
            value: email,
            verified: input.email_verified,
        }],
        password_hash,
        standard_attributes: input.initial_profile.standard_attributes,
        custom_attributes: serde_json::json!({}),
        avatar_seed: input.initial_profile.avatar_seed,
    };
    match store::accounts::create_account(db, account, clock.now(), event).await {
        Ok(()) => Ok(user_id),
        Err(StoreError::Conflict(_)) => Err(SignUpError::EmailTaken),
        Err(e) => Err(InternalError(e).into()),
    }
}

/// Why a sign-in failed. `InvalidCredentials` is the same for an unknown login ID and a wrong
/// password, and takes the same time.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("The login ID or password is incorrect.")]
    InvalidCredentials,
    #[error("This account is disabled.")]
    Disabled,
    /// Too many failures for this login ID or from this address.
    #[error(transparent)]
    Locked(#[from] crate::brute_force::Locked),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// A password sign-in attempt.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    pub login_id: String,
    pub password: String,
    pub ip: Option<String>,
}

/// Checks a login ID and password; records the failure in the audit log.
pub async fn authenticate(
    db: &Db,
    clock: &dyn Clock,
    hasher: &PasswordHasher,
    policy: &BruteForcePolicy,
    attempt: LoginAttempt,
) -> Result<Uuid, LoginError> {
    let parsed = login_id::parse_login_id(&attempt.login_id);
    // Locks are per login ID whether or not an account has it.
    let subject = match &parsed {
        Some((kind, value)) => brute_force::Subject::LoginId { kind: *kind, value },
        None => brute_force::Subject::Unparseable,
    };
    brute_force::check(db, clock, &subject, attempt.ip.as_deref())
        .await
        .map_err(|e| match e {
            brute_force::AttemptError::Locked(l) => LoginError::Locked(l),
            brute_force::AttemptError::Internal(i) => LoginError::Internal(i),
        })?;
    let candidate = match &parsed {
        Some((kind, value)) => store::accounts::find_login_candidate(db, *kind, value)
            .await
            .map_err(InternalError)?,
        None => None,
    };
    let (user_id, disabled, hash) = match candidate {
        Some(c) => (Some(c.user_id), c.disabled, c.password_hash),
        None => (None, false, None),
    };
    // Always spend one Argon2 verification, whether or not the account exists.
    let matched = hasher.verify_blocking(attempt.password, hash).await;
    let outcome = match (user_id, matched) {
        (Some(id), true) if !disabled => {
            brute_force::record_success(db, &subject).await?;
            return Ok(id);
        }
        (Some(_), true) => LoginError::Disabled,
        _ => LoginError::InvalidCredentials,
    };
    let lock =
        brute_force::record_failure(db, clock, policy, &subject, attempt.ip.as_deref()).await?;
    let mut event = NewEvent::new("login.failed", Actor::Anonymous)
        .ip(attempt.ip)
        .detail(serde_json::json!({
            "reason": if matches!(outcome, LoginError::Disabled) { "disabled" } else { "invalid_credentials" },
        }));
    if let Some(id) = user_id {
        event = event.user(id);
    }
    store::audit::record(db, event, clock.now())
        .await
        .map_err(InternalError)?;
    if let Some(lock) = lock {
        let mut event = NewEvent::new("login.locked", Actor::Anonymous)
            .detail(serde_json::json!({ "until": lock.until.to_rfc3339() }));
        if let Some(id) = user_id {
            event = event.user(id);
        }
        store::audit::record(db, event, clock.now())
            .await
            .map_err(InternalError)?;
    }
    Err(outcome)
}
