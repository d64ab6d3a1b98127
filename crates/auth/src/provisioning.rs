//! A provisioning client (SCIM `PUT` and `PATCH`, SPEC §12) stating what an existing user is:
//! the login IDs it manages, the profile attributes it maps, its `externalId` and whether the
//! account is active. One use case: everything is checked first (the profile as any admin write
//! is), then written in one store transaction (`store::accounts::provision`) with an audit event
//! per change, naming the client's admin key. A refusal writes nothing.

use crate::InternalError;
use crate::users::{disabled_changed, external_id_changed, identity_added, identity_removed};
use profile::{Audience, Author, Change, ChangeError, Party, ProfileService};
use store::accounts::{IdentityKind, NewIdentity, Provision, Provisioned};
use store::audit::Actor;
use store::{Clock, Db, Uuid};

/// The login ID kinds a provisioning client manages (`userName`, `emails`, `phoneNumbers`);
/// the others (upstream identities) are left as they are.
pub const MANAGED_KINDS: [IdentityKind; 3] = [
    IdentityKind::Username,
    IdentityKind::Email,
    IdentityKind::Phone,
];

/// What the client states of the user.
#[derive(Debug, Clone)]
pub struct DirectoryUser {
    /// The managed login IDs the user has, normalised; new ones are added unverified.
    pub identities: Vec<(IdentityKind, String)>,
    pub active: bool,
    pub external_id: Option<String>,
    /// A merge patch of the profile attributes the client maps (`null` clears).
    pub profile: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    #[error("no such user")]
    NoSuchUser,
    #[error("a login ID is already taken by another user")]
    Taken,
    #[error("the user needs at least one login ID")]
    NoLoginId,
    #[error(transparent)]
    Profile(ChangeError),
    #[error("the user was changed at the same time; try again")]
    Conflict,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<store::StoreError> for ReplaceError {
    fn from(e: store::StoreError) -> Self {
        Self::Internal(InternalError(e))
    }
}

/// Makes user `user_id` what `wanted` states, in one transaction.
pub async fn replace_user(
    db: &Db,
    profiles: &ProfileService,
    clock: &dyn Clock,
    user_id: Uuid,
    wanted: DirectoryUser,
    by: Actor,
) -> Result<(), ReplaceError> {
    let user = store::accounts::find_user(db, user_id)
        .await?
        .ok_or(ReplaceError::NoSuchUser)?;
    let current = store::accounts::list_identities(db, user_id).await?;
    let mut p = Provision::default();
    for (kind, value) in &wanted.identities {
        if current.iter().any(|i| i.kind == *kind && i.value == *value) {
            continue;
        }
        // Taken by another account: refused before anything else is done.
        if store::accounts::find_login_candidate(db, *kind, value)
            .await?
            .is_some_and(|c| c.user_id != user_id)
        {
            return Err(ReplaceError::Taken);
        }
        let new = NewIdentity {
            kind: *kind,
            value: value.clone(),
            verified: false,
        };
        let event = identity_added(user_id, &new, by.clone());
        p.add.push((new, event));
    }
    for i in current.iter().filter(|i| MANAGED_KINDS.contains(&i.kind)) {
        if !wanted
            .identities
            .iter()
            .any(|(k, v)| *k == i.kind && *v == i.value)
        {
            p.remove
                .push((i.id, identity_removed(user_id, i.id, by.clone())));
        }
    }
    p.profile = profiles
        .prepare_change(
            db,
            user_id,
            Audience::Party(Party::Admin),
            Change::Patch(&wanted.profile),
            Author::new(by.clone()),
        )
        .await
        .map_err(ReplaceError::Profile)?;
    if user.external_id != wanted.external_id {
        let event = external_id_changed(user_id, wanted.external_id.as_deref(), by.clone());
        p.external_id = Some((wanted.external_id, event));
    }
    if user.disabled == wanted.active {
        p.disabled = Some((
            !wanted.active,
            disabled_changed(user_id, !wanted.active, by),
        ));
    }
    match store::accounts::provision(db, user_id, p, clock.now()).await? {
        Provisioned::Done => Ok(()),
        Provisioned::NoSuchUser => Err(ReplaceError::NoSuchUser),
        Provisioned::ProfileChanged => Err(ReplaceError::Conflict),
        Provisioned::Taken => Err(ReplaceError::Taken),
        Provisioned::LastIdentity => Err(ReplaceError::NoLoginId),
    }
}
