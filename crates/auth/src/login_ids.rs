//! Adding a login ID (an email address or a phone number) after proving it with a code, and
//! removing one (never the last way to sign in). Each step is one use case: the settings page calls
//! them, and nothing else writes login IDs for the end user.

use crate::InternalError;
use crate::brute_force::BruteForcePolicy;
use crate::codes::{CodePolicy, Purpose};
use crate::verification::{self, Attempt, Channels, ConfirmError, SendCode, SendError};
use store::accounts::{IdentityKind, NewIdentity, RemoveIdentity};
use store::audit::{Actor, NewEvent};
use store::{Clock, Db, StoreError, Uuid};

/// The login IDs a person adds with a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Email,
    Phone,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Kind::Email),
            "phone" => Some(Kind::Phone),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
        }
    }

    pub fn identity(self) -> IdentityKind {
        match self {
            Kind::Email => IdentityKind::Email,
            Kind::Phone => IdentityKind::Phone,
        }
    }

    fn purpose(self) -> Purpose {
        match self {
            Kind::Email => Purpose::VerifyEmail,
            Kind::Phone => Purpose::VerifyPhone,
        }
    }

    /// The stored form of what was typed, or a sentence saying what is wrong.
    pub fn normalise(self, input: &str) -> Result<String, String> {
        match self {
            Kind::Email => crate::login_id::normalise_email(input).map_err(|e| e.to_string()),
            Kind::Phone => profile::validate::phone_number(&serde_json::json!(input))
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .map_err(|m| format!("The phone number {m}.")),
        }
    }
}

/// Why adding a login ID did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The login ID is taken (by this user when `mine`).
    #[error("the login ID is already in use")]
    Taken { mine: bool },
    /// The tenant does not let people add login IDs of this kind.
    #[error("this kind of login ID is not enabled")]
    NotEnabled,
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Sends a code to a login ID `user_id` wants to add (`value` normalised), unless it is taken.
#[allow(clippy::too_many_arguments)]
pub async fn start_adding(
    db: &Db,
    clock: &dyn Clock,
    policy: &CodePolicy,
    channels: Channels<'_>,
    user_id: Uuid,
    kind: Kind,
    value: &str,
    ip: Option<&str>,
    enabled: crate::login_id::EnabledLoginIds,
) -> Result<(), StartError> {
    if !enabled.allows(kind.identity()) {
        return Err(StartError::NotEnabled);
    }
    if let Some(owner) = store::accounts::find_login_candidate(db, kind.identity(), value)
        .await
        .map_err(|e| StartError::Send(SendError::Internal(InternalError(e))))?
    {
        return Err(StartError::Taken {
            mine: owner.user_id == user_id,
        });
    }
    let send = SendCode {
        purpose: kind.purpose(),
        target: value,
        user_id: Some(user_id),
        actor: Actor::User(user_id),
        ip,
    };
    verification::send_code(db, clock, policy, channels, send).await?;
    Ok(())
}

/// Why a login ID was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error(transparent)]
    Confirm(#[from] ConfirmError),
    #[error("the login ID is already in use")]
    Taken,
}

/// The code proves `value`: it becomes a verified login ID of `user_id`, in one transaction with
/// the code used up and the audit event.
#[allow(clippy::too_many_arguments)]
pub async fn confirm(
    db: &Db,
    clock: &dyn Clock,
    policy: &CodePolicy,
    brute: &BruteForcePolicy,
    user_id: Uuid,
    kind: Kind,
    value: &str,
    typed: &str,
    ip: Option<&str>,
) -> Result<Uuid, AddError> {
    let attempt = Attempt {
        purpose: kind.purpose(),
        target: value,
        typed,
        user_id: Some(user_id),
        ip,
    };
    let proof = verification::confirm(db, clock, policy, brute, &attempt).await?;
    let event = NewEvent::new("identity.added", Actor::User(user_id))
        .user(user_id)
        .ip(ip.map(str::to_owned))
        .detail(serde_json::json!({ "type": kind.identity().as_str(), "verified": true }));
    let identity = NewIdentity {
        kind: kind.identity(),
        value: value.to_owned(),
        verified: true,
    };
    match store::accounts::add_identity(
        db,
        user_id,
        identity,
        Some(&proof.spend),
        clock.now(),
        event,
    )
    .await
    {
        Ok(id) => Ok(id),
        Err(StoreError::Conflict(_)) => Err(AddError::Taken),
        Err(e) => Err(AddError::Confirm(verification::spent_or(e))),
    }
}

/// Removes one of the user's login IDs, never the last.
pub async fn remove(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    identity_id: Uuid,
    ip: Option<&str>,
) -> Result<RemoveIdentity, InternalError> {
    let event = NewEvent::new("identity.removed", Actor::User(user_id))
        .user(user_id)
        .ip(ip.map(str::to_owned))
        .detail(serde_json::json!({ "identity_id": identity_id }));
    Ok(store::accounts::remove_identity(db, user_id, identity_id, clock.now(), event).await?)
}

/// Unlinks one of the user's upstream identities, unless it is their last way to sign in.
pub async fn unlink_upstream(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    identity_id: Uuid,
    ip: Option<&str>,
) -> Result<RemoveIdentity, InternalError> {
    let mine = store::accounts::list_identities(db, user_id)
        .await?
        .into_iter()
        .any(|i| i.id == identity_id && i.kind == IdentityKind::Oidc);
    if !mine {
        return Ok(RemoveIdentity::NotFound);
    }
    let event = NewEvent::new("identity.removed", Actor::User(user_id))
        .user(user_id)
        .ip(ip.map(str::to_owned))
        .detail(serde_json::json!({ "identity_id": identity_id, "type": "oidc" }));
    Ok(store::accounts::remove_identity_keeping_sign_in(
        db,
        user_id,
        identity_id,
        clock.now(),
        event,
    )
    .await?)
}
