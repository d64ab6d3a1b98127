//! Signing up and signing in with a password.

use crate::InternalError;
use crate::brute_force::{self, BruteForcePolicy};
use crate::login_id::{self, LoginIdError};
use crate::passwords::{PasswordError, PasswordHasher, PasswordPolicy};
use store::accounts::{IdentityKind, NewIdentity};
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

/// A new account, from any door: the sign-up page, the CLI, the Admin API or an upstream
/// provider's first sign-in.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    /// Normalised login IDs (at least one), each verified or not.
    pub identities: Vec<NewIdentity>,
    /// Checked against the policy and hashed; `None`: no password sign-in until one is set.
    pub password: Option<NewPassword<'a>>,
    /// The first profile values (already validated by the profile rules).
    pub standard_attributes: serde_json::Value,
    pub custom_attributes: serde_json::Value,
    pub avatar_seed: String,
    /// What a provisioning client states besides the profile (SCIM).
    pub provisioning: Provisioning,
    /// `user.signed_up` (the person signed up) or `user.created` (an admin created it).
    pub event: &'static str,
    /// Who did it; `Actor::Anonymous` stands for the new user themselves.
    pub actor: Actor,
    pub ip: Option<String>,
    /// More audit detail (the identities' kinds are always recorded).
    pub detail: serde_json::Map<String, serde_json::Value>,
}

/// A password for a new account, with the policy it must meet and the hasher that stores it.
#[derive(Debug, Clone)]
pub struct NewPassword<'a> {
    pub password: String,
    pub policy: &'a PasswordPolicy,
    pub hasher: &'a PasswordHasher,
}

/// Why an account was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Password(PasswordError),
    /// A login ID belongs to another account already.
    #[error("a login ID is already taken")]
    Taken,
    /// The first profile is refused (an admin's create).
    #[error(transparent)]
    Profile(profile::ChangeError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Creates an account — user, profile, identities and password — in one transaction with its
/// audit event. The one way accounts come to exist.
pub async fn create(db: &Db, clock: &dyn Clock, new: NewAccount<'_>) -> Result<Uuid, CreateError> {
    let password_hash = hash_new_password(new.password.clone()).await?;
    insert(db, clock, new, password_hash).await
}

/// Checks a new account's password against the policy and hashes it.
pub(crate) async fn hash_new_password(
    password: Option<NewPassword<'_>>,
) -> Result<Option<String>, CreateError> {
    let Some(NewPassword {
        password,
        policy,
        hasher,
    }) = password
    else {
        return Ok(None);
    };
    policy.check(&password).map_err(CreateError::Password)?;
    Ok(Some(hasher.hash_blocking(password).await.map_err(|e| {
        InternalError(StoreError::Corrupt(e.to_string()))
    })?))
}

async fn insert(
    db: &Db,
    clock: &dyn Clock,
    new: NewAccount<'_>,
    password_hash: Option<String>,
) -> Result<Uuid, CreateError> {
    let user_id = Uuid::now_v7();
    let actor = match new.actor {
        Actor::Anonymous => Actor::User(user_id),
        other => other,
    };
    let mut detail = new.detail;
    detail.insert(
        "identities".into(),
        new.identities
            .iter()
            .map(|i| serde_json::Value::from(i.kind.as_str()))
            .collect(),
    );
    let event = NewEvent::new(new.event, actor)
        .user(user_id)
        .ip(new.ip)
        .detail(serde_json::Value::Object(detail));
    let account = store::accounts::NewAccount {
        user_id,
        identities: new.identities,
        password_hash,
        standard_attributes: new.standard_attributes,
        custom_attributes: new.custom_attributes,
        avatar_seed: new.avatar_seed,
        external_id: new.provisioning.external_id,
        disabled: new.provisioning.disabled,
    };
    match store::accounts::create_account(db, account, clock.now(), event).await {
        Ok(()) => Ok(user_id),
        Err(StoreError::Conflict(_)) => Err(CreateError::Taken),
        Err(e) => Err(InternalError(e).into()),
    }
}

/// What a provisioning client (SCIM) states of a new account besides its profile.
#[derive(Debug, Clone, Default)]
pub struct Provisioning {
    pub external_id: Option<String>,
    /// Created disabled (`active: false`).
    pub disabled: bool,
}

/// An account an admin creates (`POST /users`, SPEC §6): login IDs, an optional password and an
/// optional first profile (an admin write: full access, the same validation as any write).
#[derive(Debug, Clone)]
pub struct AdminAccount<'a> {
    pub identities: Vec<NewIdentity>,
    pub password: Option<NewPassword<'a>>,
    pub profile: Option<&'a serde_json::Value>,
    /// New profiles get a generated nickname when the profile names none.
    pub generate_nickname: bool,
    pub admin_key: Uuid,
    pub provisioning: Provisioning,
}

/// Creates an account for an admin: the password is checked first, then the profile against the
/// schema (its refusal is [`CreateError::Profile`], pointers relative to the profile), then the
/// account is stored in one transaction with its audit event.
pub async fn create_by_admin(
    db: &Db,
    clock: &dyn Clock,
    profiles: &profile::ProfileService,
    new: AdminAccount<'_>,
) -> Result<Uuid, CreateError> {
    let password_hash = hash_new_password(new.password).await?;
    let login_ids: Vec<profile::document::LoginId> = new
        .identities
        .iter()
        .map(|i| profile::document::LoginId {
            kind: i.kind,
            value: i.value.clone(),
            verified: i.verified,
        })
        .collect();
    let values = profiles
        .initial_values(db, &login_ids, new.profile.filter(|p| !p.is_null()))
        .await
        .map_err(CreateError::Profile)?;
    let defaults = profile::NewProfile::generated(new.generate_nickname);
    let mut standard = values.standard;
    if let Some(nick) = defaults.standard_attributes.get("nickname")
        && !standard.contains_key("nickname")
    {
        standard.insert("nickname".into(), nick.clone());
    }
    let account = NewAccount {
        identities: new.identities,
        password: None,
        standard_attributes: serde_json::Value::Object(standard),
        custom_attributes: serde_json::Value::Object(values.custom),
        avatar_seed: defaults.avatar_seed,
        provisioning: new.provisioning,
        event: "user.created",
        actor: Actor::AdminKey(new.admin_key),
        ip: None,
        detail: serde_json::Map::new(),
    };
    insert(db, clock, account, password_hash).await
}

/// Creates an account with an email address and a password (the sign-up page, the CLI).
pub async fn sign_up(
    db: &Db,
    clock: &dyn Clock,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    input: SignUp,
) -> Result<Uuid, SignUpError> {
    let email = login_id::normalise_email(&input.email).map_err(SignUpError::InvalidEmail)?;
    let new = NewAccount {
        identities: vec![NewIdentity {
            kind: IdentityKind::Email,
            value: email,
            verified: input.email_verified,
        }],
        password: input.password.map(|password| NewPassword {
            password,
            policy,
            hasher,
        }),
        standard_attributes: input.initial_profile.standard_attributes,
        custom_attributes: serde_json::json!({}),
        avatar_seed: input.initial_profile.avatar_seed,
        provisioning: Provisioning::default(),
        event: "user.signed_up",
        actor: input.actor,
        ip: input.ip,
        detail: serde_json::Map::new(),
    };
    create(db, clock, new).await.map_err(|e| match e {
        CreateError::Password(p) => SignUpError::Password(p),
        CreateError::Taken => SignUpError::EmailTaken,
        CreateError::Internal(i) => SignUpError::Internal(i),
        // A sign-up carries no profile document to refuse.
        CreateError::Profile(e) => {
            SignUpError::Internal(InternalError(StoreError::Corrupt(e.to_string())))
        }
    })
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
    /// The login IDs the tenant lets people sign in with; another kind is an unknown login ID.
    pub enabled: crate::login_id::EnabledLoginIds,
}

/// Replaces an imported (or older) hash by Argon2id with the current parameters, now that the
/// password is known to be right. Never fatal to the sign-in: a failure is logged and the old
/// hash keeps working.
async fn upgrade_hash(
    db: &Db,
    clock: &dyn Clock,
    hasher: &PasswordHasher,
    user_id: Uuid,
    old: &str,
    password: String,
) {
    let new = match hasher.hash_blocking(password).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "rehashing a password failed");
            return;
        }
    };
    if let Err(e) = store::accounts::rehash_password(db, user_id, old, &new, clock.now()).await {
        tracing::warn!(error = %e, "storing a rehashed password failed");
    }
}

/// Checks a login ID and password; records the failure in the audit log.
pub async fn authenticate(
    db: &Db,
    clock: &dyn Clock,
    hasher: &PasswordHasher,
    policy: &BruteForcePolicy,
    attempt: LoginAttempt,
) -> Result<Uuid, LoginError> {
    let parsed = login_id::parse_login_id(&attempt.login_id)
        .filter(|(kind, _)| attempt.enabled.allows(*kind));
    // Locks are per login ID whether or not an account has it.
    let subject = match &parsed {
        Some((kind, value)) => brute_force::Subject::LoginId { kind: *kind, value },
        None => brute_force::Subject::Unparseable,
    };
    // Counted before the password is compared: parallel guesses cannot outrun the lock.
    let claim = brute_force::claim(db, clock, policy, &subject, attempt.ip.as_deref())
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
    let stored = hash.clone();
    let matched = hasher.verify_blocking(attempt.password.clone(), hash).await;
    let outcome = match (user_id, matched) {
        (Some(id), true) if !disabled => {
            claim.succeeded(db).await?;
            if let Some(old) = stored.filter(|h| hasher.needs_rehash(h)) {
                upgrade_hash(db, clock, hasher, id, &old, attempt.password).await;
            }
            return Ok(id);
        }
        (Some(_), true) => LoginError::Disabled,
        _ => LoginError::InvalidCredentials,
    };
    let lock = claim.failed(db, clock, policy).await?;
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
