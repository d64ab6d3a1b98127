//! Tenants (SPEC §11): the identity realms every other table is scoped by.
//!
//! This module, unlike the others, is not scoped by the handle's tenant: it manages the tenants
//! themselves. Its audit events are recorded in the tenant of the handle it is given (the
//! `default` tenant for the CLI and the system Admin API).

use crate::audit::{self, NewEvent};
use crate::entity::{
    admin_keys, audit_events, authorization_codes, clients, consents, custom_attributes, grants,
    group_members, groups, identities, images, mfa_challenges, mfa_factors, password_credentials,
    profile_schema_version, profile_search, profiles, refresh_tokens, revoked_access_tokens,
    sessions, signing_keys, standard_attribute_access, tenants, throttles, upstream_logins, users,
    verification_codes, webauthn_ceremonies,
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

/// Creates a tenant, recording `event`. An id in use gives [`StoreError::Conflict`].
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
        .one(&db.read)
        .await?
        .map(from_model)
        .transpose()
}

/// Tenants in id order, after `after`, at most `limit`.
pub async fn list(db: &Db, after: Option<&str>, limit: u64) -> Result<Vec<Tenant>, StoreError> {
    let mut query = tenants::Entity::find().order_by_asc(tenants::Column::Id);
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
    Ok(tenants::Entity::find().count(&db.read).await?)
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
/// ever sees half a tenant. `default` cannot be deleted.
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
    // The tenant row goes first, so that a request resolving the tenant concurrently finds it
    // gone; children before parents for the foreign keys.
    let gone = tenants::Entity::delete_many()
        .filter(tenants::Column::Id.eq(id))
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

async fn delete_rows(tx: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    macro_rules! delete_from {
        ($($table:ident),* $(,)?) => {
            $(
                $table::Entity::delete_many()
                    .filter($table::Column::TenantId.eq(id))
                    .exec(tx)
                    .await?;
            )*
        };
    }
    delete_from!(
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
    Ok(())
}
