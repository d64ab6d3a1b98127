//! Sign-ins through upstream OpenID providers that are under way (see the `upstream_logins`
//! migration): stored by a hash of their `state`, bound to a browser, used once.

use crate::entity::upstream_logins;
use crate::{Db, StoreError, from_millis, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

/// A pending upstream sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    /// SHA-256 of the `state` sent upstream.
    pub state_hash: String,
    pub upstream_id: String,
    /// SHA-256 of the browser's binding cookie.
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where the browser goes afterwards (a local path).
    pub return_to: Option<String>,
    /// Set when a signed-in user links the upstream account to theirs.
    pub link_user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub consumed: bool,
}

/// Stores a pending sign-in, and clears those that expired before `now`.
pub async fn insert(db: &Db, login: &PendingLogin, now: DateTime<Utc>) -> Result<(), StoreError> {
    upstream_logins::Entity::delete_many()
        .filter(upstream_logins::Column::TenantId.eq(db.tenant()))
        .filter(upstream_logins::Column::ExpiresAt.lt(to_millis(now)))
        .exec(&db.write)
        .await?;
    upstream_logins::Entity::insert(upstream_logins::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        state_hash: Set(login.state_hash.clone()),
        upstream_id: Set(login.upstream_id.clone()),
        browser_hash: Set(login.browser_hash.clone()),
        nonce: Set(login.nonce.clone()),
        pkce_verifier: Set(login.pkce_verifier.clone()),
        return_to: Set(login.return_to.clone()),
        link_user_id: Set(login.link_user_id),
        created_at: Set(to_millis(login.created_at)),
        expires_at: Set(to_millis(login.expires_at)),
        consumed_at: Set(None),
    })
    .exec_without_returning(&db.write)
    .await?;
    Ok(())
}

/// The pending sign-in whose state hashes to `state_hash`, used or not.
pub async fn find(db: &Db, state_hash: &str) -> Result<Option<PendingLogin>, StoreError> {
    Ok(upstream_logins::Entity::find_by_id(state_hash.to_owned())
        .filter(upstream_logins::Column::TenantId.eq(db.tenant()))
        .one(&db.write)
        .await?
        .map(|m| PendingLogin {
            state_hash: m.state_hash,
            upstream_id: m.upstream_id,
            browser_hash: m.browser_hash,
            nonce: m.nonce,
            pkce_verifier: m.pkce_verifier,
            return_to: m.return_to,
            link_user_id: m.link_user_id,
            created_at: from_millis(m.created_at),
            expires_at: from_millis(m.expires_at),
            consumed: m.consumed_at.is_some(),
        }))
}

/// Marks a pending sign-in used unless someone used it first; `false` when it was already used.
pub async fn consume(db: &Db, state_hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let done = upstream_logins::Entity::update_many()
        .filter(upstream_logins::Column::TenantId.eq(db.tenant()))
        .col_expr(
            upstream_logins::Column::ConsumedAt,
            Expr::value(to_millis(now)),
        )
        .filter(upstream_logins::Column::StateHash.eq(state_hash))
        .filter(upstream_logins::Column::ConsumedAt.is_null())
        .exec(&db.write)
        .await?;
    Ok(done.rows_affected == 1)
}
