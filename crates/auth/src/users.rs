//! Accounts as an admin manages them (the Admin API): reading users, their identities and
//! sessions; disabling, deleting, verified flags and login IDs. Every change is one transaction
//! with its audit event, naming who made it.

use crate::InternalError;
use store::audit::{Actor, NewEvent};
use store::{Clock, Db, StoreError, Uuid};

pub use store::accounts::{
    Identity, IdentityKind, NewIdentity, RemoveIdentity, User, parse_oidc_identity,
};
pub use store::search::{DISPLAY as DISPLAY_FIELD, UserFilter, UserOrder, UserQuery};

pub async fn find(db: &Db, user_id: Uuid) -> Result<Option<User>, InternalError> {
    Ok(store::accounts::find_user(db, user_id).await?)
}

/// The user's identities, oldest first.
pub async fn identities(db: &Db, user_id: Uuid) -> Result<Vec<Identity>, InternalError> {
    Ok(store::accounts::list_identities(db, user_id).await?)
}

/// The address to write to about the account: its verified email, else its first email.
pub async fn email_of(db: &Db, user_id: Uuid) -> Result<Option<String>, InternalError> {
    let identities = store::accounts::list_identities(db, user_id).await?;
    let mut emails = identities
        .into_iter()
        .filter(|i| i.kind == IdentityKind::Email);
    let first = emails.next();
    let verified = first
        .iter()
        .cloned()
        .chain(emails)
        .find(|i| i.verified_at.is_some());
    Ok(verified.or(first).map(|i| i.value))
}

/// The identities of several users, in one query.
pub async fn identities_of(db: &Db, user_ids: &[Uuid]) -> Result<Vec<Identity>, InternalError> {
    Ok(store::accounts::identities_of(db, user_ids).await?)
}

/// The account that has the (normalised) login ID, if any.
pub async fn owner_of(
    db: &Db,
    kind: IdentityKind,
    value: &str,
) -> Result<Option<Uuid>, InternalError> {
    Ok(store::accounts::find_login_candidate(db, kind, value)
        .await?
        .map(|c| c.user_id))
}

/// Users matching every condition of `query` (an indexed search), oldest first.
pub async fn search(db: &Db, query: &UserQuery) -> Result<Vec<User>, InternalError> {
    Ok(store::search::search_users(db, query).await?)
}

/// Why a filtered list was not given.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// No condition of the filter is answered by an index (it would read every user).
    #[error("the filter needs a condition an index answers")]
    Unindexed,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// The users matching `filter` (SCIM): how many in all, and `limit` after the first `offset`.
pub async fn filter(
    db: &Db,
    filter: Option<&UserFilter>,
    order: (UserOrder, bool),
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<User>), FilterError> {
    store::search::filter_users(db, filter, order.0, order.1, offset, limit)
        .await
        .map_err(|e| match e {
            StoreError::Unindexed => FilterError::Unindexed,
            other => FilterError::Internal(InternalError(other)),
        })
}

/// Sets or clears the external id a provisioning client keeps for the user (SCIM
/// `externalId`); `false` when there is no such user.
pub async fn set_external_id(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    external_id: Option<&str>,
    by: Actor,
) -> Result<bool, InternalError> {
    let event = external_id_changed(user_id, external_id, by);
    Ok(store::accounts::set_external_id(
        db,
        user_id,
        external_id.map(str::to_owned),
        clock.now(),
        event,
    )
    .await?)
}

/// Disables or enables an account; `false` when there is no such user.
pub async fn set_disabled(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    disabled: bool,
    by: Actor,
) -> Result<bool, InternalError> {
    let event = disabled_changed(user_id, disabled, by);
    Ok(store::accounts::set_disabled(db, user_id, disabled, clock.now(), event).await?)
}

/// The audit events of the changes above, shared with `provisioning`.
pub(crate) fn external_id_changed(user_id: Uuid, external_id: Option<&str>, by: Actor) -> NewEvent {
    NewEvent::new("user.external_id_changed", by)
        .user(user_id)
        .detail(serde_json::json!({ "external_id": external_id }))
}

pub(crate) fn disabled_changed(user_id: Uuid, disabled: bool, by: Actor) -> NewEvent {
    let kind = if disabled {
        "user.disabled"
    } else {
        "user.enabled"
    };
    NewEvent::new(kind, by).user(user_id)
}

pub(crate) fn identity_added(user_id: Uuid, identity: &NewIdentity, by: Actor) -> NewEvent {
    NewEvent::new("identity.added", by).user(user_id).detail(
        serde_json::json!({ "type": identity.kind.as_str(), "verified": identity.verified }),
    )
}

pub(crate) fn identity_removed(user_id: Uuid, identity_id: Uuid, by: Actor) -> NewEvent {
    NewEvent::new("identity.removed", by)
        .user(user_id)
        .detail(serde_json::json!({ "identity_id": identity_id }))
}

/// Deletes an account with everything it owns; `false` when there is no such user.
pub async fn delete(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    by: Actor,
) -> Result<bool, InternalError> {
    let event = NewEvent::new("user.deleted", by).user(user_id);
    Ok(store::accounts::delete_user(db, user_id, clock.now(), event).await?)
}

/// Sets whether the user's login IDs of `kind` are verified (an admin vouching for them);
/// `false` when the user has none.
pub async fn set_verified(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    kind: IdentityKind,
    verified: bool,
    by: Actor,
) -> Result<bool, InternalError> {
    let claim = match kind {
        IdentityKind::Phone => "phone_number_verified",
        _ => "email_verified",
    };
    let event = NewEvent::new("identity.verified_set", by)
        .user(user_id)
        .detail(serde_json::json!({ "claim": claim, "verified": verified }));
    Ok(
        store::accounts::set_identity_verified(db, user_id, kind, verified, clock.now(), event)
            .await?,
    )
}

/// Why a login ID was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddIdentityError {
    #[error("the login ID is already taken")]
    Taken,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Adds a login ID (normalised) to the user.
pub async fn add_identity(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    identity: NewIdentity,
    by: Actor,
) -> Result<Uuid, AddIdentityError> {
    let event = identity_added(user_id, &identity, by);
    match store::accounts::add_identity(db, user_id, identity, None, clock.now(), event).await {
        Ok(id) => Ok(id),
        Err(StoreError::Conflict(_)) => Err(AddIdentityError::Taken),
        Err(e) => Err(InternalError(e).into()),
    }
}

/// Removes one of the user's login IDs, never the last.
pub async fn remove_identity(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    identity_id: Uuid,
    by: Actor,
) -> Result<RemoveIdentity, InternalError> {
    let event = identity_removed(user_id, identity_id, by);
    Ok(store::accounts::remove_identity(db, user_id, identity_id, clock.now(), event).await?)
}
