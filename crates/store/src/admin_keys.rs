//! Admin API keys. Only the SHA-256 hash of a key is stored.

use crate::audit::{self, NewEvent};
use crate::entity::admin_keys;
use crate::{Db, StoreError, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, EntityTrait, TransactionTrait};
use uuid::Uuid;

/// Stores a new admin key and records `event`, in one transaction.
pub async fn insert_admin_key(
    db: &Db,
    id: Uuid,
    name: &str,
    key_hash: &str,
    system: bool,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<(), StoreError> {
    let tx = db.write.begin().await?;
    admin_keys::Entity::insert(admin_keys::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        system: Set(system),
        id: Set(id),
        name: Set(name.to_owned()),
        key_hash: Set(key_hash.to_owned()),
        created_at: Set(to_millis(now)),
        last_used_at: Set(None),
        revoked_at: Set(None),
    })
    .exec_without_returning(&tx)
    .await
    .map_err(|e| StoreError::conflict_or(e, "admin key"))?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The stored hash of an admin key, by id (for tests and key checks).
pub async fn find_key_hash(db: &Db, id: Uuid) -> Result<Option<String>, StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(admin_keys::Entity::find_by_id(id)
        .filter(admin_keys::Column::TenantId.eq(db.tenant()))
        .one(&db.read)
        .await?
        .map(|k| k.key_hash))
}

/// A live (not revoked) admin key found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKey {
    pub id: Uuid,
    pub key_hash: String,
    pub last_used_at: Option<DateTime<Utc>>,
    /// A system key: it manages tenants and acts in every tenant.
    pub system: bool,
}

/// The live (not revoked) admin key with this hash.
pub async fn find_live_key(db: &Db, key_hash: &str) -> Result<Option<LiveKey>, StoreError> {
    use sea_orm::sea_query::Condition;
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(admin_keys::Entity::find()
        .filter(admin_keys::Column::KeyHash.eq(key_hash))
        .filter(admin_keys::Column::RevokedAt.is_null())
        .filter(
            Condition::any()
                .add(admin_keys::Column::TenantId.eq(db.tenant()))
                // System keys are the default tenant's (only there can one be created).
                .add(
                    Condition::all()
                        .add(admin_keys::Column::TenantId.eq(crate::DEFAULT_TENANT))
                        .add(admin_keys::Column::System.eq(true)),
                ),
        )
        .one(&db.read)
        .await?
        .map(|k| LiveKey {
            id: k.id,
            key_hash: k.key_hash,
            last_used_at: k.last_used_at.map(crate::from_millis),
            system: k.system,
        }))
}

/// An admin key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminKeyInfo {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub system: bool,
}

/// Every admin key, oldest first.
pub async fn list_admin_keys(db: &Db) -> Result<Vec<AdminKeyInfo>, StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    Ok(admin_keys::Entity::find()
        .filter(admin_keys::Column::TenantId.eq(db.tenant()))
        .order_by_asc(admin_keys::Column::CreatedAt)
        .order_by_asc(admin_keys::Column::Id)
        .all(&db.read)
        .await?
        .into_iter()
        .map(|k| AdminKeyInfo {
            id: k.id,
            name: k.name,
            created_at: crate::from_millis(k.created_at),
            last_used_at: k.last_used_at.map(crate::from_millis),
            revoked_at: k.revoked_at.map(crate::from_millis),
            system: k.system,
        })
        .collect())
}

/// Revokes a key (it stops working at once), recording `event`. Returns whether a live key with
/// that id existed.
pub async fn revoke_admin_key(
    db: &Db,
    id: Uuid,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    let tx = db.write.begin().await?;
    let updated = admin_keys::Entity::update_many()
        .col_expr(admin_keys::Column::RevokedAt, Expr::value(to_millis(now)))
        .filter(admin_keys::Column::TenantId.eq(db.tenant()))
        .filter(admin_keys::Column::Id.eq(id))
        .filter(admin_keys::Column::RevokedAt.is_null())
        .exec(&tx)
        .await?;
    if updated.rows_affected > 0 {
        audit::insert(&tx, db.tenant(), event, now).await?;
    }
    tx.commit().await?;
    Ok(updated.rows_affected > 0)
}

/// Records that a key was used; callers skip it when the key was marked less than a minute ago,
/// so reads do not each take the writer.
pub async fn touch_admin_key(db: &Db, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    use sea_orm::sea_query::{Condition, Expr};
    use sea_orm::{ColumnTrait, QueryFilter};
    let now_ms = to_millis(now);
    admin_keys::Entity::update_many()
        .col_expr(admin_keys::Column::LastUsedAt, Expr::value(now_ms))
        .filter(admin_keys::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(admin_keys::Column::LastUsedAt.is_null())
                .add(admin_keys::Column::LastUsedAt.lt(now_ms - 60_000)),
        )
        .exec(&db.write)
        .await?;
    Ok(())
}
