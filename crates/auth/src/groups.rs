//! Groups (SPEC §12): named sets of users that apps authorise from, through the `groups` claim.
//! The Admin API, the CLI and SCIM all change groups through these use cases, so the rules
//! (names, descriptions, members of the tenant) and the audit events are written once.
//!
//! Events: `group.created`, `group.updated`, `group.deleted`, `group.member_added`,
//! `group.member_removed` (detail: the group's id and name; member events are filed under the
//! member).

use crate::InternalError;
use store::audit::{Actor, NewEvent};
use store::{Clock, Db, StoreError, Uuid};

pub use store::groups::{Group, GroupFilter, GroupOrder};
pub use store::search::{Compare, TextMatch};

/// The longest group name, in characters.
pub const MAX_NAME: usize = 256;
/// The longest description, in characters.
pub const MAX_DESCRIPTION: usize = 1024;
/// The most members one request may name (a SCIM PUT or create).
pub const MAX_MEMBERS_PER_REQUEST: usize = 10_000;

/// Why a group change was refused.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("a group name is 1 to 256 characters, without control characters")]
    InvalidName,
    #[error("a description is at most 1024 characters, without control characters")]
    InvalidDescription,
    #[error("an external id is 1 to 256 characters, without control characters")]
    InvalidExternalId,
    #[error("a group with this name already exists")]
    NameTaken,
    #[error("no such group")]
    NoSuchGroup,
    #[error("no such user")]
    NoSuchUser,
    #[error("at most {MAX_MEMBERS_PER_REQUEST} members at once")]
    TooManyMembers,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StoreError> for GroupError {
    fn from(e: StoreError) -> Self {
        GroupError::Internal(InternalError(e))
    }
}

fn plain(s: &str, max: usize) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t.chars().count() <= max && !t.chars().any(char::is_control))
        .then(|| t.to_owned())
}

/// A group name as stored: trimmed, 1 to 256 characters, no control characters.
pub fn normalise_name(name: &str) -> Result<String, GroupError> {
    plain(name, MAX_NAME).ok_or(GroupError::InvalidName)
}

fn description(d: Option<&str>) -> Result<Option<String>, GroupError> {
    match d.map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) => plain(d, MAX_DESCRIPTION)
            .map(Some)
            .ok_or(GroupError::InvalidDescription),
    }
}

fn external_id(x: Option<&str>) -> Result<Option<String>, GroupError> {
    match x {
        None => Ok(None),
        Some(x) => plain(x, 256).map(Some).ok_or(GroupError::InvalidExternalId),
    }
}

/// A group to create.
#[derive(Debug, Clone, Default)]
pub struct NewGroup<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub external_id: Option<&'a str>,
    /// Its first members (users of the tenant).
    pub members: &'a [Uuid],
}

fn refused(e: StoreError) -> GroupError {
    match e {
        StoreError::Conflict(_) => GroupError::NameTaken,
        StoreError::NotFound => GroupError::NoSuchUser,
        other => other.into(),
    }
}

fn detail(g: &Group) -> serde_json::Value {
    serde_json::json!({ "group_id": g.id, "name": g.name })
}

/// Creates a group.
pub async fn create(
    db: &Db,
    clock: &dyn Clock,
    new: NewGroup<'_>,
    actor: Actor,
) -> Result<Group, GroupError> {
    let name = normalise_name(new.name)?;
    if new.members.len() > MAX_MEMBERS_PER_REQUEST {
        return Err(GroupError::TooManyMembers);
    }
    let stored = store::groups::NewGroup {
        name: name.clone(),
        description: description(new.description)?,
        external_id: external_id(new.external_id)?,
    };
    let event = NewEvent::new("group.created", actor)
        .detail(serde_json::json!({ "name": name, "members": new.members }));
    store::groups::create_group(db, stored, new.members, clock.now(), event)
        .await
        .map_err(refused)
}

pub async fn find(db: &Db, id: Uuid) -> Result<Option<Group>, InternalError> {
    Ok(store::groups::find_group(db, id).await?)
}

pub async fn find_by_name(db: &Db, name: &str) -> Result<Option<Group>, InternalError> {
    match normalise_name(name) {
        Ok(name) => Ok(store::groups::find_group_by_name(db, &name).await?),
        Err(_) => Ok(None),
    }
}

/// The groups matching `filter` (SCIM): how many in all, and `limit` after the first `offset`.
pub async fn filter(
    db: &Db,
    filter: Option<&GroupFilter>,
    order: (GroupOrder, bool),
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<Group>), InternalError> {
    Ok(store::groups::filter_groups(db, filter, order.0, order.1, offset, limit).await?)
}

/// One page of groups, oldest first.
pub async fn list(db: &Db, after: Option<Uuid>, limit: u64) -> Result<Vec<Group>, InternalError> {
    Ok(store::groups::list_groups(db, after, limit).await?)
}

/// What a change sets: `None` leaves a field; a description or external id of `Some(None)`
/// clears it.
#[derive(Debug, Clone, Default)]
pub struct GroupChange<'a> {
    pub name: Option<&'a str>,
    pub description: Option<Option<&'a str>>,
    pub external_id: Option<Option<&'a str>>,
}

/// Renames a group or changes its description.
pub async fn update(
    db: &Db,
    clock: &dyn Clock,
    id: Uuid,
    change: GroupChange<'_>,
    actor: Actor,
) -> Result<Group, GroupError> {
    let name = change.name.map(normalise_name).transpose()?;
    let description = change.description.map(description).transpose()?;
    let external_id = change.external_id.map(external_id).transpose()?;
    let event = NewEvent::new("group.updated", actor).detail(serde_json::json!({
        "group_id": id,
        "name": name,
        "description_changed": description.is_some(),
    }));
    store::groups::update_group(
        db,
        id,
        store::groups::GroupChange {
            name,
            description,
            external_id,
        },
        clock.now(),
        event,
    )
    .await
    .map_err(|e| match e {
        StoreError::NotFound => GroupError::NoSuchGroup,
        other => refused(other),
    })
}

/// Deletes a group (its members stay, without it). `false` when there was none.
pub async fn delete(
    db: &Db,
    clock: &dyn Clock,
    id: Uuid,
    actor: Actor,
) -> Result<bool, InternalError> {
    let name = store::groups::find_group(db, id).await?.map(|g| g.name);
    let event = NewEvent::new("group.deleted", actor)
        .detail(serde_json::json!({ "group_id": id, "name": name }));
    Ok(store::groups::delete_group(db, id, clock.now(), event).await?)
}

async fn group(db: &Db, id: Uuid) -> Result<Group, GroupError> {
    store::groups::find_group(db, id)
        .await?
        .ok_or(GroupError::NoSuchGroup)
}

/// Adds a user to a group; `false` when they already were a member (nothing recorded).
pub async fn add_member(
    db: &Db,
    clock: &dyn Clock,
    group_id: Uuid,
    user_id: Uuid,
    actor: Actor,
) -> Result<bool, GroupError> {
    let g = group(db, group_id).await?;
    let event = NewEvent::new("group.member_added", actor)
        .user(user_id)
        .detail(detail(&g));
    store::groups::add_member(db, group_id, user_id, clock.now(), event)
        .await
        .map_err(|e| match e {
            // The group was checked above; gone since, or the user is not the tenant's.
            StoreError::NotFound => GroupError::NoSuchUser,
            other => other.into(),
        })
}

/// Removes a user from a group; `false` when they were not a member.
pub async fn remove_member(
    db: &Db,
    clock: &dyn Clock,
    group_id: Uuid,
    user_id: Uuid,
    actor: Actor,
) -> Result<bool, GroupError> {
    let g = group(db, group_id).await?;
    let event = NewEvent::new("group.member_removed", actor)
        .user(user_id)
        .detail(detail(&g));
    Ok(store::groups::remove_member(db, group_id, user_id, clock.now(), event).await?)
}

pub use store::groups::Members;

/// What a provisioning client (SCIM `PUT`, `PATCH`) states of a group: its name, its external id
/// and a change of its members.
#[derive(Debug, Clone)]
pub struct DirectoryGroup<'a> {
    pub name: &'a str,
    pub external_id: Option<&'a str>,
    pub members: Members,
}

/// Makes group `id` what `wanted` states, in one transaction: the rename and every member added
/// or removed (each audited, under the member), or nothing.
pub async fn provision(
    db: &Db,
    clock: &dyn Clock,
    id: Uuid,
    wanted: DirectoryGroup<'_>,
    actor: Actor,
) -> Result<Group, GroupError> {
    let name = normalise_name(wanted.name)?;
    let external_id = external_id(wanted.external_id)?;
    let named = match &wanted.members {
        Members::Keep => 0,
        Members::Replace(m) => m.len(),
        Members::Change { add, remove } => add.len() + remove.len(),
    };
    if named > MAX_MEMBERS_PER_REQUEST {
        return Err(GroupError::TooManyMembers);
    }
    let g = group(db, id).await?;
    let updated = NewEvent::new("group.updated", actor.clone()).detail(serde_json::json!({
        "group_id": id, "name": name, "description_changed": false,
    }));
    let member_event = |user: Uuid, added: bool| {
        let kind = if added {
            "group.member_added"
        } else {
            "group.member_removed"
        };
        NewEvent::new(kind, actor.clone())
            .user(user)
            .detail(detail(&g))
    };
    store::groups::provision_group(
        db,
        id,
        store::groups::GroupChange {
            name: Some(name),
            description: None,
            external_id: Some(external_id),
        },
        wanted.members,
        clock.now(),
        updated,
        &member_event,
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict(_) => GroupError::NameTaken,
        // The group was checked above; gone since, or a member is not the tenant's.
        StoreError::NotFound => GroupError::NoSuchUser,
        other => other.into(),
    })
}

/// One page of a group's members (user ids).
pub async fn members(
    db: &Db,
    group_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>, InternalError> {
    Ok(store::groups::members(db, group_id, after, limit).await?)
}

/// The group names of several users (for user objects): `(user id, name)`, by name.
pub async fn names_of(db: &Db, users: &[Uuid]) -> Result<Vec<(Uuid, String)>, InternalError> {
    Ok(store::groups::groups_of(db, users)
        .await?
        .into_iter()
        .map(|(u, g)| (u, g.name))
        .collect())
}

/// The group names of one user, sorted (the `groups` claim of ID tokens).
pub async fn names(db: &Db, user: Uuid) -> Result<Vec<String>, InternalError> {
    Ok(store::groups::group_names(db, user).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_plain_text() {
        assert_eq!(
            normalise_name("  Site editors ").ok().as_deref(),
            Some("Site editors")
        );
        assert_eq!(normalise_name("管理者").ok().as_deref(), Some("管理者"));
        for bad in ["", "   ", "a\nb", "tab\there", &"x".repeat(257)] {
            assert!(normalise_name(bad).is_err(), "{bad:?}");
        }
        assert!(normalise_name(&"é".repeat(256)).is_ok());
        assert!(matches!(description(Some("  ")), Ok(None)));
        assert!(description(Some(&"d".repeat(1025))).is_err());
        assert!(external_id(Some("")).is_err());
    }
}
