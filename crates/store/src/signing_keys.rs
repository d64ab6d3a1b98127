//! Token signing keys. The private key is kept as PKCS#8 DER (base64) and never leaves the server;
//! the public JWK is published while the key can still have live tokens.

use crate::entity::signing_keys;
use crate::{Db, StoreError, from_millis, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub alg: String,
    /// PKCS#8 DER, base64.
    pub private_key: String,
    pub public_jwk: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// Set when a newer key took over; the key still verifies until `expires_at`.
    pub retired_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn from_model(m: signing_keys::Model) -> StoredSigningKey {
    StoredSigningKey {
        kid: m.kid,
        alg: m.alg,
        private_key: m.private_key,
        public_jwk: m.public_jwk,
        created_at: from_millis(m.created_at),
        retired_at: m.retired_at.map(from_millis),
        expires_at: m.expires_at.map(from_millis),
    }
}

/// Keys that can still verify tokens at `now` (active or retired but not expired), newest first.
pub async fn live_keys(db: &Db, now: DateTime<Utc>) -> Result<Vec<StoredSigningKey>, StoreError> {
    Ok(signing_keys::Entity::find()
        .filter(signing_keys::Column::TenantId.eq(db.tenant()))
        .filter(
            Condition::any()
                .add(signing_keys::Column::ExpiresAt.is_null())
                .add(signing_keys::Column::ExpiresAt.gt(to_millis(now))),
        )
        .order_by_desc(signing_keys::Column::CreatedAt)
        .order_by_desc(signing_keys::Column::Kid)
        .all(&db.read)
        .await?
        .into_iter()
        .map(from_model)
        .collect())
}

/// Stores `new` as the active key for its algorithm. Keys of that algorithm that were active are
/// retired at `now` and expire at `old_keys_expire_at` — all in one transaction.
pub async fn activate_key(
    db: &Db,
    new: &StoredSigningKey,
    old_keys_expire_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let tx = db.write.begin().await?;
    signing_keys::Entity::update_many()
        .filter(signing_keys::Column::TenantId.eq(db.tenant()))
        .col_expr(signing_keys::Column::RetiredAt, Expr::value(to_millis(now)))
        .col_expr(
            signing_keys::Column::ExpiresAt,
            Expr::value(to_millis(old_keys_expire_at)),
        )
        .filter(signing_keys::Column::Alg.eq(new.alg.as_str()))
        .filter(signing_keys::Column::RetiredAt.is_null())
        .exec(&tx)
        .await?;
    signing_keys::Entity::insert(signing_keys::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        kid: Set(new.kid.clone()),
        alg: Set(new.alg.clone()),
        private_key: Set(new.private_key.clone()),
        public_jwk: Set(new.public_jwk.clone()),
        created_at: Set(to_millis(new.created_at)),
        retired_at: Set(None),
        expires_at: Set(None),
    })
    .exec_without_returning(&tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
