//! Groups and their members (SPEC §12). Every write records its audit event in the same
//! transaction; names are unique per tenant (a taken name is [`StoreError::Conflict`]).

use crate::audit::{self, NewEvent};
use crate::entity::{group_members, groups};
use crate::{Db, StoreError, from_millis, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

/// A stored group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn from_model(m: groups::Model) -> Group {
    Group {
        id: m.id,
        name: m.name,
        description: m.description,
        external_id: m.external_id,
        created_at: from_millis(m.created_at),
        updated_at: from_millis(m.updated_at),
    }
}

/// A group to create.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub name: String,
    pub description: Option<String>,
    pub external_id: Option<String>,
}

/// Creates a group (with its first members, each of the tenant), recording `event`.
pub async fn create_group(
    db: &Db,
    new: NewGroup,
    members: &[Uuid],
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<Group, StoreError> {
    let now_ms = to_millis(now);
    let id = Uuid::now_v7();
    let tx = db.write.begin().await?;
    groups::Entity::insert(groups::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        id: Set(id),
        name: Set(new.name.clone()),
        description: Set(new.description.clone()),
        external_id: Set(new.external_id.clone()),
        created_at: Set(now_ms),
        updated_at: Set(now_ms),
    })
    .exec_without_returning(&tx)
    .await
    .map_err(|e| StoreError::conflict_or(e, "group name"))?;
    for user in members {
        insert_member(&tx, db.tenant(), id, *user, now_ms).await?;
    }
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(Group {
        id,
        name: new.name,
        description: new.description,
        external_id: new.external_id,
        created_at: now,
        updated_at: now,
    })
}

async fn insert_member(
    conn: &impl sea_orm::ConnectionTrait,
    tenant: &str,
    group: Uuid,
    user: Uuid,
    now_ms: i64,
) -> Result<bool, StoreError> {
    if !crate::accounts::user_in_tenant(conn, tenant, user).await? {
        return Err(StoreError::NotFound);
    }
    let inserted = group_members::Entity::insert(group_members::ActiveModel {
        tenant_id: Set(tenant.to_owned()),
        group_id: Set(group),
        user_id: Set(user),
        created_at: Set(now_ms),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::columns([
            group_members::Column::GroupId,
            group_members::Column::UserId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(inserted > 0)
}

pub async fn find_group(db: &Db, id: Uuid) -> Result<Option<Group>, StoreError> {
    Ok(groups::Entity::find_by_id(id)
        .filter(groups::Column::TenantId.eq(db.tenant()))
        .one(&db.read)
        .await?
        .map(from_model))
}

pub async fn find_group_by_name(db: &Db, name: &str) -> Result<Option<Group>, StoreError> {
    Ok(groups::Entity::find()
        .filter(groups::Column::TenantId.eq(db.tenant()))
        .filter(groups::Column::Name.eq(name))
        .one(&db.read)
        .await?
        .map(from_model))
}

/// One page of groups in id order (creation order), after `cursor`.
pub async fn list_groups(
    db: &Db,
    cursor: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Group>, StoreError> {
    let mut q = groups::Entity::find().filter(groups::Column::TenantId.eq(db.tenant()));
    if let Some(c) = cursor {
        q = q.filter(groups::Column::Id.gt(c));
    }
    Ok(q.order_by_asc(groups::Column::Id)
        .limit(limit)
        .all(&db.read)
        .await?
        .into_iter()
        .map(from_model)
        .collect())
}

/// What a change sets (`None`: unchanged; `Some(None)`: cleared).
#[derive(Debug, Clone, Default)]
pub struct GroupChange {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub external_id: Option<Option<String>>,
}

/// Changes a group, recording `event`. [`StoreError::NotFound`] when it is not the tenant's.
pub async fn update_group(
    db: &Db,
    id: Uuid,
    change: GroupChange,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<Group, StoreError> {
    let tx = db.write.begin().await?;
    let mut update = groups::Entity::update_many()
        .col_expr(groups::Column::UpdatedAt, Expr::value(to_millis(now)))
        .filter(groups::Column::TenantId.eq(db.tenant()))
        .filter(groups::Column::Id.eq(id));
    if let Some(name) = change.name {
        update = update.col_expr(groups::Column::Name, Expr::value(name));
    }
    if let Some(d) = change.description {
        update = update.col_expr(groups::Column::Description, Expr::value(d));
    }
    if let Some(x) = change.external_id {
        update = update.col_expr(groups::Column::ExternalId, Expr::value(x));
    }
    let done = update
        .exec(&tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "group name"))?;
    if done.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    let group = groups::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .map(from_model)
        .ok_or(StoreError::NotFound)?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(group)
}

/// Deletes a group and its memberships, recording `event`. `false` when there was none.
pub async fn delete_group(
    db: &Db,
    id: Uuid,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    group_members::Entity::delete_many()
        .filter(group_members::Column::TenantId.eq(db.tenant()))
        .filter(group_members::Column::GroupId.eq(id))
        .exec(&tx)
        .await?;
    let gone = groups::Entity::delete_many()
        .filter(groups::Column::TenantId.eq(db.tenant()))
        .filter(groups::Column::Id.eq(id))
        .exec(&tx)
        .await?;
    if gone.rows_affected == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(true)
}

async fn group_in_tenant(
    conn: &impl sea_orm::ConnectionTrait,
    tenant: &str,
    id: Uuid,
) -> Result<bool, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(groups::Entity::find()
        .filter(groups::Column::TenantId.eq(tenant))
        .filter(groups::Column::Id.eq(id))
        .count(conn)
        .await?
        > 0)
}

/// The id of the tenant's group `name`, made (and audited `group.created`) when missing; inside
/// the caller's transaction (imports).
pub(crate) async fn ensure_group(
    conn: &impl sea_orm::ConnectionTrait,
    tenant: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    if let Some(g) = groups::Entity::find()
        .filter(groups::Column::TenantId.eq(tenant))
        .filter(groups::Column::Name.eq(name))
        .one(conn)
        .await?
    {
        return Ok(g.id);
    }
    let id = Uuid::now_v7();
    groups::Entity::insert(groups::ActiveModel {
        tenant_id: Set(tenant.to_owned()),
        id: Set(id),
        name: Set(name.to_owned()),
        description: Set(None),
        external_id: Set(None),
        created_at: Set(to_millis(now)),
        updated_at: Set(to_millis(now)),
    })
    .exec_without_returning(conn)
    .await?;
    let event = NewEvent::new("group.created", crate::audit::Actor::Cli)
        .detail(serde_json::json!({ "group_id": id, "name": name }));
    audit::insert(conn, tenant, event, now).await?;
    Ok(id)
}

/// Adds a user just made in the caller's transaction (so the tenant's) to a group.
pub(crate) async fn join_new_member(
    conn: &impl sea_orm::ConnectionTrait,
    tenant: &str,
    group: Uuid,
    user: Uuid,
    now_ms: i64,
) -> Result<(), StoreError> {
    group_members::Entity::insert(group_members::ActiveModel {
        tenant_id: Set(tenant.to_owned()),
        group_id: Set(group),
        user_id: Set(user),
        created_at: Set(now_ms),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Adds `user` to `group` (both the tenant's, else [`StoreError::NotFound`]). Adding a member
/// twice changes nothing and records nothing: `false`.
pub async fn add_member(
    db: &Db,
    group: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    if !group_in_tenant(&tx, db.tenant(), group).await? {
        return Err(StoreError::NotFound);
    }
    let added = insert_member(&tx, db.tenant(), group, user, to_millis(now)).await?;
    if added {
        touch(&tx, db.tenant(), group, now).await?;
        audit::insert(&tx, db.tenant(), event, now).await?;
    }
    tx.commit().await?;
    Ok(added)
}

async fn touch(
    conn: &impl sea_orm::ConnectionTrait,
    tenant: &str,
    group: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    groups::Entity::update_many()
        .col_expr(groups::Column::UpdatedAt, Expr::value(to_millis(now)))
        .filter(groups::Column::TenantId.eq(tenant))
        .filter(groups::Column::Id.eq(group))
        .exec(conn)
        .await?;
    Ok(())
}

/// Removes `user` from `group`, recording `event`. `false` when they were not a member.
pub async fn remove_member(
    db: &Db,
    group: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    let gone = group_members::Entity::delete_many()
        .filter(group_members::Column::TenantId.eq(db.tenant()))
        .filter(group_members::Column::GroupId.eq(group))
        .filter(group_members::Column::UserId.eq(user))
        .exec(&tx)
        .await?;
    if gone.rows_affected == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    touch(&tx, db.tenant(), group, now).await?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// A provisioning client's change of a group's members.
#[derive(Debug, Clone)]
pub enum Members {
    Keep,
    /// These and no others (SCIM `PUT`).
    Replace(Vec<Uuid>),
    /// Add these, remove those (SCIM `PATCH`: only what the patch changed, so parallel patches
    /// do not undo each other).
    Change {
        add: Vec<Uuid>,
        remove: Vec<Uuid>,
    },
}

/// Changes a group's name or external id and its members in one transaction (SCIM `PUT` and
/// `PATCH`): all of it, or none (a taken name gives [`StoreError::Conflict`], a member who is
/// not the tenant's [`StoreError::NotFound`] like a missing group: the caller checked the group).
/// `updated` is recorded when the name or external id changes, `member_event(user, added)` for
/// each member added or removed. Returns the group as it is after.
pub async fn provision_group(
    db: &Db,
    id: Uuid,
    change: GroupChange,
    members: Members,
    now: DateTime<Utc>,
    updated: NewEvent,
    member_event: &(dyn Fn(Uuid, bool) -> NewEvent + Sync),
) -> Result<Group, StoreError> {
    let tenant = db.tenant();
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    let before = groups::Entity::find_by_id(id)
        .filter(groups::Column::TenantId.eq(tenant))
        .one(&tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let renamed = change.name.as_ref().is_some_and(|n| *n != before.name)
        || change
            .external_id
            .as_ref()
            .is_some_and(|x| *x != before.external_id)
        || change
            .description
            .as_ref()
            .is_some_and(|d| *d != before.description);
    let mut events = Vec::new();
    if renamed {
        let mut update = groups::Entity::update_many()
            .filter(groups::Column::TenantId.eq(tenant))
            .filter(groups::Column::Id.eq(id));
        if let Some(name) = change.name {
            update = update.col_expr(groups::Column::Name, Expr::value(name));
        }
        if let Some(d) = change.description {
            update = update.col_expr(groups::Column::Description, Expr::value(d));
        }
        if let Some(x) = change.external_id {
            update = update.col_expr(groups::Column::ExternalId, Expr::value(x));
        }
        update
            .exec(&tx)
            .await
            .map_err(|e| StoreError::conflict_or(e, "group name"))?;
        events.push(updated);
    }
    let (add, remove) = match members {
        Members::Keep => (Vec::new(), Vec::new()),
        Members::Change { add, remove } => (add, remove),
        Members::Replace(wanted) => {
            let current: std::collections::HashSet<Uuid> = group_members::Entity::find()
                .select_only()
                .column(group_members::Column::UserId)
                .filter(group_members::Column::TenantId.eq(tenant))
                .filter(group_members::Column::GroupId.eq(id))
                .into_tuple()
                .all(&tx)
                .await?
                .into_iter()
                .collect();
            let wanted_set: std::collections::HashSet<Uuid> = wanted.iter().copied().collect();
            (
                wanted
                    .into_iter()
                    .filter(|u| !current.contains(u))
                    .collect(),
                current
                    .into_iter()
                    .filter(|u| !wanted_set.contains(u))
                    .collect(),
            )
        }
    };
    for user in remove {
        let gone = group_members::Entity::delete_many()
            .filter(group_members::Column::TenantId.eq(tenant))
            .filter(group_members::Column::GroupId.eq(id))
            .filter(group_members::Column::UserId.eq(user))
            .exec(&tx)
            .await?;
        if gone.rows_affected > 0 {
            events.push(member_event(user, false));
        }
    }
    for user in add {
        if insert_member(&tx, tenant, id, user, now_ms).await? {
            events.push(member_event(user, true));
        }
    }
    if !events.is_empty() {
        touch(&tx, tenant, id, now).await?;
    }
    for event in events {
        audit::insert(&tx, tenant, event, now).await?;
    }
    let after = groups::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .map(from_model)
        .ok_or(StoreError::NotFound)?;
    tx.commit().await?;
    Ok(after)
}

/// One page of a group's members (user ids in order), after `cursor`.
pub async fn members(
    db: &Db,
    group: Uuid,
    cursor: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Uuid>, StoreError> {
    let mut q = group_members::Entity::find()
        .filter(group_members::Column::TenantId.eq(db.tenant()))
        .filter(group_members::Column::GroupId.eq(group));
    if let Some(c) = cursor {
        q = q.filter(group_members::Column::UserId.gt(c));
    }
    Ok(q.order_by_asc(group_members::Column::UserId)
        .limit(limit)
        .all(&db.read)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect())
}

/// The groups of several users, in one query: `(user id, group)` pairs, by group name.
pub async fn groups_of(db: &Db, users: &[Uuid]) -> Result<Vec<(Uuid, Group)>, StoreError> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let rows = group_members::Entity::find()
        .filter(group_members::Column::TenantId.eq(db.tenant()))
        .filter(group_members::Column::UserId.is_in(users.iter().copied()))
        .all(&db.read)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|m| m.group_id).collect();
    let groups: Vec<Group> = groups::Entity::find()
        .filter(groups::Column::TenantId.eq(db.tenant()))
        .filter(groups::Column::Id.is_in(ids))
        .order_by_asc(groups::Column::Name)
        .all(&db.read)
        .await?
        .into_iter()
        .map(from_model)
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for g in &groups {
        for m in rows.iter().filter(|m| m.group_id == g.id) {
            out.push((m.user_id, g.clone()));
        }
    }
    Ok(out)
}

/// The names of one user's groups, sorted (the `groups` claim of tokens).
pub async fn group_names(db: &Db, user: Uuid) -> Result<Vec<String>, StoreError> {
    Ok(groups_of(db, &[user])
        .await?
        .into_iter()
        .map(|(_, g)| g.name)
        .collect())
}

/// The order of a filtered list of groups (ties by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupOrder {
    #[default]
    Created,
    Name,
    LastModified,
}

/// A condition tree over groups (SCIM filters), each leaf an indexed lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupFilter {
    And(Box<GroupFilter>, Box<GroupFilter>),
    Or(Box<GroupFilter>, Box<GroupFilter>),
    Not(Box<GroupFilter>),
    Name(crate::search::TextMatch, String),
    ExternalId(crate::search::TextMatch, String),
    HasExternalId,
    Id(Uuid),
    /// Groups this user belongs to.
    HasMember(Uuid),
    UpdatedAt(crate::search::Compare, i64),
    Nothing,
}

fn group_condition(tenant: &str, f: &GroupFilter) -> sea_orm::sea_query::SimpleExpr {
    use crate::search::{compare_expr, text_expr};
    use sea_orm::sea_query::{ExprTrait, Query};
    match f {
        GroupFilter::And(a, b) => group_condition(tenant, a).and(group_condition(tenant, b)),
        GroupFilter::Or(a, b) => group_condition(tenant, a).or(group_condition(tenant, b)),
        GroupFilter::Not(a) => group_condition(tenant, a).not(),
        // Names compare as stored (they keep their case); SCIM's displayName is not case-exact,
        // so equality also accepts a lower-cased match of the whole name.
        GroupFilter::Name(how, v) => text_expr((groups::Entity, groups::Column::Name), *how, v),
        GroupFilter::ExternalId(how, v) => {
            text_expr((groups::Entity, groups::Column::ExternalId), *how, v)
        }
        GroupFilter::HasExternalId => {
            Expr::col((groups::Entity, groups::Column::ExternalId)).is_not_null()
        }
        GroupFilter::Id(id) => Expr::col((groups::Entity, groups::Column::Id)).eq(*id),
        GroupFilter::HasMember(user) => Expr::col((groups::Entity, groups::Column::Id))
            .in_subquery(
                Query::select()
                    .column(group_members::Column::GroupId)
                    .from(group_members::Entity)
                    .and_where(Expr::col(group_members::Column::TenantId).eq(tenant))
                    .and_where(Expr::col(group_members::Column::UserId).eq(*user))
                    .to_owned(),
            ),
        GroupFilter::UpdatedAt(op, at) => {
            compare_expr((groups::Entity, groups::Column::UpdatedAt), *op, *at)
        }
        GroupFilter::Nothing => Expr::val(1).eq(0),
    }
}

/// The groups matching `filter` (all with `None`) in id order: how many in all, and `limit`
/// after the first `offset`.
pub async fn filter_groups(
    db: &Db,
    filter: Option<&GroupFilter>,
    order: GroupOrder,
    descending: bool,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<Group>), StoreError> {
    use sea_orm::PaginatorTrait;
    let mut select = groups::Entity::find().filter(groups::Column::TenantId.eq(db.tenant()));
    if let Some(f) = filter {
        select = select.filter(group_condition(db.tenant(), f));
    }
    let total = select.clone().count(&db.read).await?;
    let direction = if descending {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    };
    let rows = if limit == 0 {
        Vec::new()
    } else {
        match order {
            GroupOrder::Created => {}
            GroupOrder::Name => select = select.order_by(groups::Column::Name, direction.clone()),
            GroupOrder::LastModified => {
                select = select.order_by(groups::Column::UpdatedAt, direction.clone())
            }
        }
        select
            .order_by(groups::Column::Id, direction)
            .offset(offset)
            .limit(limit)
            .all(&db.read)
            .await?
    };
    Ok((total, rows.into_iter().map(from_model).collect()))
}
