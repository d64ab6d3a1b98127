//! Tenants (SPEC §11): the identity realms every other table is scoped by.
//!
//! This module, unlike the others, is not scoped by the handle's tenant: it manages the tenants
//! themselves. Its audit events are recorded in the tenant of the handle it is given (the
//! `default` tenant for the CLI and the system Admin API).
//!
//! Deleting a tenant removes everything in it in one transaction and marks its row deleted
//! (`deleted_at`): from then on it exists for nobody. A request of that tenant still in flight
//! (or served by another process until it rechecks) may yet write a row; [`sweep_deleted`] removes
//! such stragglers once [`RETIREMENT`] has passed and only then removes the row, so the id cannot
//! be taken again by a new tenant that would inherit them.

use crate::audit::{self, NewEvent};
use crate::entity::{
    admin_keys, audit_events, authorization_codes, clients, consents, custom_attributes, grants,
    group_members, groups, identities, images, mfa_challenges, mfa_factors, password_credentials,
    profile_schema_version, profile_search, profiles, refresh_tokens, revoked_access_tokens,
    sessions, signing_keys, standard_attribute_access, tenants, throttles, upstream_logins, users,
    verification_codes, webauthn_ceremonies, webhook_attempts, webhook_deliveries, webhooks,
};
use crate::{DEFAULT_TENANT, Db, StoreError, from_millis, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};

/// A stored tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: String,
    /// The display name (pages, discovery's `service_documentation` is not affected).
    pub name: String,
    /// The tenant's own settings, a JSON object read by the crates that apply them.
    pub settings: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How long a deleted tenant's row is kept (and its id taken) before the sweep removes it with
/// whatever was written into the tenant after the deletion: far longer than any request, and than
/// the time other processes take to notice (`oidc::tenants::RECHECK`).
pub const RETIREMENT: chrono::Duration = chrono::Duration::minutes(10);

fn from_model(m: tenants::Model) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        settings: serde_json::from_str(&m.settings)
            .map_err(|e| StoreError::Corrupt(format!("tenant {} settings: {e}", m.id)))?,
        id: m.id,
        name: m.name,
        created_at: from_millis(m.created_at),
        updated_at: from_millis(m.updated_at),
    })
}

/// Creates a tenant, recording `event`. An id in use (or of a tenant deleted less than
/// [`RETIREMENT`] ago, not yet swept) gives [`StoreError::Conflict`].
pub async fn create(
    db: &Db,
    id: &str,
    name: &str,
    settings: &serde_json::Value,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<Tenant, StoreError> {
    let now_ms = to_millis(now);
    let model = tenants::Model {
        id: id.to_owned(),
        name: name.to_owned(),
        settings: settings.to_string(),
        created_at: now_ms,
        updated_at: now_ms,
        deleted_at: None,
    };
    let tx = db.write.begin().await?;
    tenants::Entity::insert(tenants::ActiveModel::from(model.clone()))
        .exec_without_returning(&tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "tenant id"))?;
    profile_schema_version::Entity::insert(profile_schema_version::ActiveModel {
        tenant_id: Set(id.to_owned()),
        version: Set(0),
    })
    .exec_without_returning(&tx)
    .await?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    from_model(model)
}

/// The tenant `id`, if it exists.
pub async fn find(db: &Db, id: &str) -> Result<Option<Tenant>, StoreError> {
    tenants::Entity::find_by_id(id.to_owned())
        .filter(tenants::Column::DeletedAt.is_null())
        .one(&db.read)
        .await?
        .map(from_model)
        .transpose()
}

/// Tenants in id order, after `after`, at most `limit`.
pub async fn list(db: &Db, after: Option<&str>, limit: u64) -> Result<Vec<Tenant>, StoreError> {
    let mut query = tenants::Entity::find()
        .filter(tenants::Column::DeletedAt.is_null())
        .order_by_asc(tenants::Column::Id);
    if let Some(after) = after {
        query = query.filter(tenants::Column::Id.gt(after));
    }
    query
        .limit(limit)
        .all(&db.read)
        .await?
        .into_iter()
        .map(from_model)
        .collect()
}

/// How many tenants there are (`default` included).
pub async fn count(db: &Db) -> Result<u64, StoreError> {
    Ok(tenants::Entity::find()
        .filter(tenants::Column::DeletedAt.is_null())
        .count(&db.read)
        .await?)
}

/// Changes a tenant's name and settings, recording `event`. Returns whether it exists.
pub async fn update(
    db: &Db,
    id: &str,
    name: &str,
    settings: &serde_json::Value,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    let updated = tenants::Entity::update_many()
        .col_expr(tenants::Column::Name, Expr::value(name.to_owned()))
        .col_expr(tenants::Column::Settings, Expr::value(settings.to_string()))
        .col_expr(tenants::Column::UpdatedAt, Expr::value(to_millis(now)))
        .filter(tenants::Column::Id.eq(id))
        .filter(tenants::Column::DeletedAt.is_null())
        .exec(&tx)
        .await?;
    if updated.rows_affected > 0 {
        audit::insert(&tx, db.tenant(), event, now).await?;
    }
    tx.commit().await?;
    Ok(updated.rows_affected > 0)
}

/// Why a tenant was not deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    NotFound,
    /// `default` always exists.
    Default,
}

/// Deletes tenant `id` and everything in it (users and all they own, clients, keys, schema,
/// audit log, counters) in one transaction, recording `event` in the handle's tenant: no reader
/// ever sees half a tenant. The row stays, marked deleted, until [`sweep_deleted`]. `default`
/// cannot be deleted.
pub async fn delete(
    db: &Db,
    id: &str,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<Deletion, StoreError> {
    if id == DEFAULT_TENANT {
        return Ok(Deletion::Default);
    }
    let tx = db.write.begin().await?;
    // The tenant is marked first, so that a request resolving it concurrently finds it gone;
    // then its rows, children before parents for the foreign keys.
    let gone = tenants::Entity::update_many()
        .col_expr(tenants::Column::DeletedAt, Expr::value(to_millis(now)))
        .filter(tenants::Column::Id.eq(id))
        .filter(tenants::Column::DeletedAt.is_null())
        .exec(&tx)
        .await?;
    if gone.rows_affected == 0 {
        return Ok(Deletion::NotFound);
    }
    delete_rows(&tx, id).await?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(Deletion::Deleted)
}

/// Removes the tenants deleted more than [`RETIREMENT`] before `now`, each with anything written
/// into it after its deletion, one transaction each; returns how many went. Idempotent, so
/// several processes may sweep at once.
pub async fn sweep_deleted(db: &Db, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let due: Vec<String> = tenants::Entity::find()
        .select_only()
        .column(tenants::Column::Id)
        .filter(tenants::Column::DeletedAt.lt(to_millis(now - RETIREMENT)))
        .into_tuple()
        .all(&db.read)
        .await?;
    let mut swept = 0;
    for id in due {
        let tx = db.write.begin().await?;
        delete_rows(&tx, &id).await?;
        swept += tenants::Entity::delete_many()
            .filter(tenants::Column::Id.eq(id.as_str()))
            .filter(tenants::Column::DeletedAt.is_not_null())
            .exec(&tx)
            .await?
            .rows_affected;
        tx.commit().await?;
    }
    Ok(swept)
}

/// The tables that hold a tenant's rows, children before parents (module names are table
/// names): [`TENANT_TABLES`] names them (tested against the database catalogue, so a new table
/// cannot be forgotten) and `delete_rows` empties them of one tenant.
macro_rules! tenant_tables {
    ($($table:ident),* $(,)?) => {
        pub const TENANT_TABLES: &[&str] = &[$(stringify!($table)),*];

        async fn delete_rows(tx: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
            $(
                $table::Entity::delete_many()
                    .filter($table::Column::TenantId.eq(id))
                    .exec(tx)
                    .await?;
            )*
            Ok(())
        }
    };
}

tenant_tables!(
    webhook_attempts,
    webhook_deliveries,
    webhooks,
    group_members,
    groups,
    webauthn_ceremonies,
    mfa_challenges,
    mfa_factors,
    refresh_tokens,
    grants,
    authorization_codes,
    revoked_access_tokens,
    consents,
    sessions,
    images,
    profile_search,
    upstream_logins,
    verification_codes,
    identities,
    password_credentials,
    profiles,
    users,
    clients,
    signing_keys,
    admin_keys,
    audit_events,
    custom_attributes,
    standard_attribute_access,
    profile_schema_version,
    throttles,
);
