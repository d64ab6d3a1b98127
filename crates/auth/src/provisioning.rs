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

impl DirectoryUser {
    /// What a PATCH changes: the parts of `self` that differ from `base` (the resource it was
    /// applied to). Applied to the user as it is when written, so that parallel patches each
    /// change only their own parts.
    fn changes_from(&self, base: &DirectoryUser) -> Changes {
        Changes {
            added: self
                .identities
                .iter()
                .filter(|i| !base.identities.contains(i))
                .cloned()
                .collect(),
            removed: Some(
                base.identities
                    .iter()
                    .filter(|i| !self.identities.contains(i))
                    .cloned()
                    .collect(),
            ),
            active: (self.active != base.active).then_some(self.active),
            external_id: (self.external_id != base.external_id).then(|| self.external_id.clone()),
            profile: profile_difference(&base.profile, &self.profile),
        }
    }

    /// What a PUT changes: everything it states.
    fn changes(&self) -> Changes {
        Changes {
            added: self.identities.clone(),
            removed: None,
            active: Some(self.active),
            external_id: Some(self.external_id.clone()),
            profile: self.profile.clone(),
        }
    }
}

/// The changes to make: login IDs to have (added when missing) and to remove (`None`: every
/// managed one not in `added`); `None` elsewhere leaves that part as it is.
struct Changes {
    added: Vec<(IdentityKind, String)>,
    removed: Option<Vec<(IdentityKind, String)>>,
    active: Option<bool>,
    external_id: Option<Option<String>>,
    profile: serde_json::Value,
}

/// The members of merge patch `after` whose values differ from `before` (objects compared member
/// by member, one level down: `custom_attributes`).
fn profile_difference(before: &serde_json::Value, after: &serde_json::Value) -> serde_json::Value {
    use serde_json::{Map, Value};
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return after.clone();
    };
    let mut out = Map::new();
    for (k, v) in a {
        match (b.get(k), v) {
            (Some(Value::Object(bo)), Value::Object(ao)) => {
                let inner: Map<String, Value> = ao
                    .iter()
                    .filter(|(ik, iv)| bo.get(*ik) != Some(*iv))
                    .map(|(ik, iv)| (ik.clone(), iv.clone()))
                    .collect();
                if !inner.is_empty() {
                    out.insert(k.clone(), Value::Object(inner));
                }
            }
            (old, new) if old != Some(new) => {
                out.insert(k.clone(), new.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

/// Makes user `user_id` what `wanted` states (SCIM `PUT`: `base` is `None`), or applies what
/// changed from `base` to `wanted` (SCIM `PATCH`: `base` is the resource the patch was applied
/// to), in one transaction.
pub async fn replace_user(
    db: &Db,
    profiles: &ProfileService,
    clock: &dyn Clock,
    user_id: Uuid,
    wanted: DirectoryUser,
    base: Option<&DirectoryUser>,
    by: Actor,
) -> Result<(), ReplaceError> {
    let changes = match base {
        Some(base) => wanted.changes_from(base),
        None => wanted.changes(),
    };
    // The profile is written only if unchanged since it was read; another write landing in
    // between (a parallel PATCH) means reading again and re-applying the same changes; each lost
    // round is another write that landed, so a few rounds outlast any burst a directory sends.
    for _ in 0..8 {
        match write_changes(db, profiles, clock, user_id, &changes, &by).await {
            Err(ReplaceError::Conflict) => continue,
            other => return other,
        }
    }
    Err(ReplaceError::Conflict)
}

async fn write_changes(
    db: &Db,
    profiles: &ProfileService,
    clock: &dyn Clock,
    user_id: Uuid,
    changes: &Changes,
    by: &Actor,
) -> Result<(), ReplaceError> {
    let user = store::accounts::find_user(db, user_id)
        .await?
        .ok_or(ReplaceError::NoSuchUser)?;
    let current = store::accounts::list_identities(db, user_id).await?;
    let mut p = Provision::default();
    for (kind, value) in &changes.added {
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
        let goes = match &changes.removed {
            Some(removed) => removed.iter().any(|(k, v)| *k == i.kind && *v == i.value),
            None => !changes
                .added
                .iter()
                .any(|(k, v)| *k == i.kind && *v == i.value),
        };
        if goes {
            p.remove
                .push((i.id, identity_removed(user_id, i.id, by.clone())));
        }
    }
    p.profile = profiles
        .prepare_change(
            db,
            user_id,
            Audience::Party(Party::Admin),
            Change::Patch(&changes.profile),
            Author::new(by.clone()),
        )
        .await
        .map_err(ReplaceError::Profile)?;
    if let Some(external_id) = &changes.external_id
        && user.external_id != *external_id
    {
        let event = external_id_changed(user_id, external_id.as_deref(), by.clone());
        p.external_id = Some((external_id.clone(), event));
    }
    if let Some(active) = changes.active
        && user.disabled == active
    {
        p.disabled = Some((!active, disabled_changed(user_id, !active, by.clone())));
    }
    match store::accounts::provision(db, user_id, p, clock.now()).await? {
        Provisioned::Done => Ok(()),
        Provisioned::NoSuchUser => Err(ReplaceError::NoSuchUser),
        Provisioned::ProfileChanged => Err(ReplaceError::Conflict),
        Provisioned::Taken => Err(ReplaceError::Taken),
        Provisioned::LastIdentity => Err(ReplaceError::NoLoginId),
    }
}
