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
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<(), StoreError> {
    let tx = db.write.begin().await?;
    admin_keys::Entity::insert(admin_keys::ActiveModel {
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
    audit::insert(&tx, event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The stored hash of an admin key, by id (for tests and key checks).
pub async fn find_key_hash(db: &Db, id: Uuid) -> Result<Option<String>, StoreError> {
    Ok(admin_keys::Entity::find_by_id(id)
        .one(&db.read)
        .await?
        .map(|k| k.key_hash))
}

/// The id of the live (not revoked) admin key with this hash.
pub async fn find_live_key(db: &Db, key_hash: &str) -> Result<Option<(Uuid, String)>, StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(admin_keys::Entity::find()
        .filter(admin_keys::Column::KeyHash.eq(key_hash))
        .filter(admin_keys::Column::RevokedAt.is_null())
        .one(&db.read)
        .await?
        .map(|k| (k.id, k.key_hash)))
}
