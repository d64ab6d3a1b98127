//! Browser sessions. Only the SHA-256 hash of a session token is stored.

use crate::audit::{self, NewEvent};
use crate::entity::{sessions, users};
use crate::{Db, StoreError, from_millis, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use uuid::Uuid;

/// A session to start.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// RFC 8176 methods the sign-in used, space-separated (`pwd`, `pwd otp`, `hwk user`).
    pub amr: String,
    /// Whether the sign-in proved a second factor (then `mfa_at` is its start).
    pub second_factor: bool,
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub auth_time: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// RFC 8176 methods the session authenticated with, space-separated.
    pub amr: String,
    /// When the session last proved a second factor.
    pub mfa_at: Option<DateTime<Utc>>,
}

fn from_model(m: sessions::Model) -> Session {
    Session {
        id: m.id,
        user_id: m.user_id,
        created_at: from_millis(m.created_at),
        last_used_at: from_millis(m.last_used_at),
        expires_at: from_millis(m.expires_at),
        auth_time: from_millis(m.auth_time),
        ip: m.ip,
        user_agent: m.user_agent,
        amr: m.amr,
        mfa_at: m.mfa_at.map(from_millis),
    }
}

/// Stores a new session, marks the user's last login, and records `event`, in one transaction.
pub async fn start_session(
    db: &Db,
    new: NewSession,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<Session, StoreError> {
    let now_ms = to_millis(now);
    let model = sessions::Model {
        tenant_id: db.tenant().to_owned(),
        id: new.id,
        user_id: new.user_id,
        token_hash: new.token_hash,
        created_at: now_ms,
        last_used_at: now_ms,
        expires_at: to_millis(new.expires_at),
        auth_time: now_ms,
        ip: new.ip,
        user_agent: new.user_agent,
        amr: new.amr,
        mfa_at: new.second_factor.then_some(now_ms),
    };
    let tx = db.write.begin().await?;
    sessions::Entity::insert(sessions::ActiveModel::from(model.clone()))
        .exec_without_returning(&tx)
        .await?;
    users::Entity::update_many()
        .filter(users::Column::TenantId.eq(db.tenant()))
        .col_expr(users::Column::LastLoginAt, Expr::value(now_ms))
        .filter(users::Column::Id.eq(new.user_id))
        .exec(&tx)
        .await?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(from_model(model))
}

/// The session whose token hashes to `token_hash`, with whether its user is disabled; one query.
pub async fn find_by_token_hash(
    db: &Db,
    token_hash: &str,
) -> Result<Option<(Session, bool)>, StoreError> {
    use sessions::Column as C;
    let query = Query::select()
        .columns([
            (sessions::Entity, C::Id),
            (sessions::Entity, C::UserId),
            (sessions::Entity, C::TokenHash),
            (sessions::Entity, C::CreatedAt),
            (sessions::Entity, C::LastUsedAt),
            (sessions::Entity, C::ExpiresAt),
            (sessions::Entity, C::AuthTime),
            (sessions::Entity, C::Ip),
            (sessions::Entity, C::UserAgent),
            (sessions::Entity, C::Amr),
            (sessions::Entity, C::MfaAt),
        ])
        .column((users::Entity, users::Column::DisabledAt))
        .from(sessions::Entity)
        .inner_join(
            users::Entity,
            Expr::col((users::Entity, users::Column::Id)).equals((sessions::Entity, C::UserId)),
        )
        .and_where(Expr::col((sessions::Entity, C::TokenHash)).eq(token_hash))
        .and_where(Expr::col((sessions::Entity, C::TenantId)).eq(db.tenant()))
        .to_owned();
    let Some(row) = db.read.query_one(&query).await? else {
        return Ok(None);
    };
    let model = sessions::Model {
        tenant_id: db.tenant().to_owned(),
        id: row.try_get("", "id")?,
        user_id: row.try_get("", "user_id")?,
        token_hash: row.try_get("", "token_hash")?,
        created_at: row.try_get("", "created_at")?,
        last_used_at: row.try_get("", "last_used_at")?,
        expires_at: row.try_get("", "expires_at")?,
        auth_time: row.try_get("", "auth_time")?,
        ip: row.try_get("", "ip")?,
        user_agent: row.try_get("", "user_agent")?,
        amr: row.try_get("", "amr")?,
        mfa_at: row.try_get("", "mfa_at")?,
    };
    let disabled = row.try_get::<Option<i64>>("", "disabled_at")?.is_some();
    Ok(Some((from_model(model), disabled)))
}

/// Records that the session proved a second factor at `now` (a step-up): its methods become
/// `amr`, with `event`, in one transaction.
pub async fn record_second_factor(
    db: &Db,
    session_id: Uuid,
    amr: &str,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<(), StoreError> {
    let tx = db.write.begin().await?;
    sessions::Entity::update_many()
        .filter(sessions::Column::TenantId.eq(db.tenant()))
        .filter(sessions::Column::Id.eq(session_id))
        .col_expr(sessions::Column::Amr, Expr::value(amr.to_owned()))
        .col_expr(sessions::Column::MfaAt, Expr::value(to_millis(now)))
        .exec(&tx)
        .await?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Records that the session was used at `now`.
pub async fn touch(db: &Db, session_id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    sessions::Entity::update_many()
        .filter(sessions::Column::TenantId.eq(db.tenant()))
        .col_expr(sessions::Column::LastUsedAt, Expr::value(to_millis(now)))
        .filter(sessions::Column::Id.eq(session_id))
        .exec(&db.write)
        .await?;
    Ok(())
}

/// Ends a session, recording `event` with it. Returns whether there was such a session.
pub async fn end_session(
    db: &Db,
    session_id: Uuid,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    let deleted = sessions::Entity::delete_many()
        .filter(sessions::Column::TenantId.eq(db.tenant()))
        .filter(sessions::Column::Id.eq(session_id))
        .exec(&tx)
        .await?;
    // Ending a session ends the refresh tokens (and grants) issued under it.
    crate::oauth::revoke_grants_of_session(&tx, db.tenant(), session_id, to_millis(now)).await?;
    if deleted.rows_affected > 0 {
        audit::insert(&tx, db.tenant(), event, now).await?;
    }
    tx.commit().await?;
    Ok(deleted.rows_affected > 0)
}

/// Deletes a session that has expired (no event: nobody ended it).
pub async fn delete_expired(db: &Db, session_id: Uuid) -> Result<(), StoreError> {
    sessions::Entity::delete_many()
        .filter(sessions::Column::TenantId.eq(db.tenant()))
        .filter(sessions::Column::Id.eq(session_id))
        .exec(&db.write)
        .await?;
    Ok(())
}

/// The user's sessions, most recently used first.
pub async fn list_for_user(db: &Db, user_id: Uuid) -> Result<Vec<Session>, StoreError> {
    Ok(sessions::Entity::find()
        .filter(sessions::Column::TenantId.eq(db.tenant()))
        .filter(sessions::Column::UserId.eq(user_id))
        .order_by_desc(sessions::Column::LastUsedAt)
        .all(&db.read)
        .await?
        .into_iter()
        .map(from_model)
        .collect())
}
