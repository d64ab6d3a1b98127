//! One-time codes. Only a hash of the code is stored; single use and the attempt limit are
//! enforced in the database.

use crate::entity::verification_codes;
use crate::{Db, StoreError, from_millis, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

/// A code as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCode {
    pub id: Uuid,
    pub purpose: String,
    pub target: String,
    pub user_id: Option<Uuid>,
    pub code_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub attempts: u32,
    pub consumed: bool,
    pub ip: Option<String>,
}

fn from_model(m: verification_codes::Model) -> StoredCode {
    StoredCode {
        id: m.id,
        purpose: m.purpose,
        target: m.target,
        user_id: m.user_id,
        code_hash: m.code_hash,
        created_at: from_millis(m.created_at),
        expires_at: from_millis(m.expires_at),
        attempts: Ord::max(m.attempts, 0) as u32,
        consumed: m.consumed_at.is_some(),
        ip: m.ip,
    }
}

pub async fn insert(db: &Db, code: &StoredCode) -> Result<(), StoreError> {
    verification_codes::Entity::insert(verification_codes::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        id: Set(code.id),
        purpose: Set(code.purpose.clone()),
        target: Set(code.target.clone()),
        user_id: Set(code.user_id),
        code_hash: Set(code.code_hash.clone()),
        created_at: Set(to_millis(code.created_at)),
        expires_at: Set(to_millis(code.expires_at)),
        attempts: Set(0),
        consumed_at: Set(None),
        ip: Set(code.ip.clone()),
    })
    .exec_without_returning(&db.write)
    .await?;
    Ok(())
}

/// The newest code for `(purpose, target)`.
pub async fn latest(
    db: &Db,
    purpose: &str,
    target: &str,
) -> Result<Option<StoredCode>, StoreError> {
    Ok(verification_codes::Entity::find()
        .filter(verification_codes::Column::TenantId.eq(db.tenant()))
        .filter(verification_codes::Column::Purpose.eq(purpose))
        .filter(verification_codes::Column::Target.eq(target))
        .order_by_desc(verification_codes::Column::CreatedAt)
        .one(&db.read)
        .await?
        .map(from_model))
}

/// Codes sent to `target` since `since` (any purpose), and from `ip` since `since`.
pub async fn counts_since(
    db: &Db,
    target: &str,
    ip: Option<&str>,
    since: DateTime<Utc>,
) -> Result<(u64, u64), StoreError> {
    let to_target = verification_codes::Entity::find()
        .filter(verification_codes::Column::TenantId.eq(db.tenant()))
        .filter(verification_codes::Column::Target.eq(target))
        .filter(verification_codes::Column::CreatedAt.gte(to_millis(since)))
        .count(&db.read)
        .await?;
    let from_ip = match ip {
        Some(ip) => {
            verification_codes::Entity::find()
                .filter(verification_codes::Column::TenantId.eq(db.tenant()))
                .filter(verification_codes::Column::Ip.eq(ip))
                .filter(verification_codes::Column::CreatedAt.gte(to_millis(since)))
                .count(&db.read)
                .await?
        }
        None => 0,
    };
    Ok((to_target, from_ip))
}

/// Takes one of the code's attempts before the guess is compared: a single conditional
/// `UPDATE … SET attempts = attempts + 1 WHERE attempts < max AND consumed_at IS NULL RETURNING`,
/// so that N parallel guesses — on any number of processes — each take a distinct attempt and at
/// most `max_attempts` of them are ever compared. `None` when no attempt is left (or the code was
/// used meanwhile); otherwise the code with its attempts counted so far, this one included.
pub async fn claim_attempt(
    db: &Db,
    id: Uuid,
    max_attempts: u32,
) -> Result<Option<StoredCode>, StoreError> {
    let max = i32::try_from(max_attempts).unwrap_or(i32::MAX);
    let claimed = verification_codes::Entity::update_many()
        .filter(verification_codes::Column::TenantId.eq(db.tenant()))
        .col_expr(
            verification_codes::Column::Attempts,
            Expr::col(verification_codes::Column::Attempts).add(1),
        )
        .filter(verification_codes::Column::Id.eq(id))
        .filter(verification_codes::Column::Attempts.lt(max))
        .filter(verification_codes::Column::ConsumedAt.is_null())
        .exec_with_returning(&db.write)
        .await?;
    Ok(claimed.into_iter().next().map(from_model))
}

/// Codes of `purposes` issued for `user_id` since `since` (any target): the per-account limit.
pub async fn count_for_user_since(
    db: &Db,
    user_id: Uuid,
    purposes: &[&str],
    since: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(verification_codes::Entity::find()
        .filter(verification_codes::Column::TenantId.eq(db.tenant()))
        .filter(verification_codes::Column::UserId.eq(user_id))
        .filter(verification_codes::Column::Purpose.is_in(purposes.iter().copied()))
        .filter(verification_codes::Column::CreatedAt.gte(to_millis(since)))
        .count(&db.read)
        .await?)
}

/// A code proven right, to be used up in the same transaction as the write it proves (the email
/// marked verified, the login ID added, the password reset), with the throttle counter its wrong
/// guesses filled. If a parallel request used the code first, that write fails whole with
/// [`StoreError::AlreadyUsed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSpend {
    pub code_id: Uuid,
    /// The `throttles` key of the code's target, cleared by the success.
    pub throttle_key: String,
}

/// Uses up `spend` inside the caller's transaction.
pub(crate) async fn spend_in<C: sea_orm::ConnectionTrait>(
    conn: &C,
    tenant: &str,
    spend: &CodeSpend,
    now_ms: i64,
) -> Result<(), StoreError> {
    let done = verification_codes::Entity::update_many()
        .filter(verification_codes::Column::TenantId.eq(tenant))
        .col_expr(verification_codes::Column::ConsumedAt, Expr::value(now_ms))
        .filter(verification_codes::Column::Id.eq(spend.code_id))
        .filter(verification_codes::Column::ConsumedAt.is_null())
        .exec(conn)
        .await?;
    if done.rows_affected != 1 {
        return Err(StoreError::AlreadyUsed);
    }
    crate::entity::throttles::Entity::delete_by_id((tenant.to_owned(), spend.throttle_key.clone()))
        .exec(conn)
        .await?;
    Ok(())
}
