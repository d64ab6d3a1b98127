//! Second factors (SPEC §9) and the sign-ins waiting for one. The writes that decide whether a
//! code counts are single conditional `UPDATE`s, so two requests racing with one code cannot both
//! win: a TOTP step is accepted only above the last one, a recovery code only while the set it
//! was checked against is unchanged.

use crate::audit::{self, NewEvent};
use crate::entity::{mfa_challenges, mfa_factors};
use crate::{Db, StoreError, from_millis, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use uuid::Uuid;

/// A stored factor.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    pub id: Uuid,
    pub user_id: Uuid,
    /// `totp`, `recovery_codes` or `passkey`.
    pub kind: String,
    pub name: String,
    pub secret: Option<String>,
    pub data: serde_json::Value,
    pub last_step: Option<i64>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A factor to store.
#[derive(Debug, Clone)]
pub struct NewFactor {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub name: String,
    pub secret: Option<String>,
    pub data: serde_json::Value,
    /// Confirmed at once (recovery codes) or only after a first code (authenticator apps).
    pub confirmed: bool,
}

fn from_model(m: mfa_factors::Model) -> Result<Factor, StoreError> {
    Ok(Factor {
        data: serde_json::from_str(&m.data)
            .map_err(|e| StoreError::Corrupt(format!("factor {}: {e}", m.id)))?,
        id: m.id,
        user_id: m.user_id,
        kind: m.kind,
        name: m.name,
        secret: m.secret,
        last_step: m.last_step,
        confirmed_at: m.confirmed_at.map(from_millis),
        last_used_at: m.last_used_at.map(from_millis),
        created_at: from_millis(m.created_at),
    })
}

fn model(db: &Db, new: NewFactor, now_ms: i64) -> mfa_factors::ActiveModel {
    mfa_factors::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        id: Set(new.id),
        user_id: Set(new.user_id),
        kind: Set(new.kind),
        name: Set(new.name),
        secret: Set(new.secret),
        data: Set(new.data.to_string()),
        last_step: Set(None),
        confirmed_at: Set(new.confirmed.then_some(now_ms)),
        last_used_at: Set(None),
        created_at: Set(now_ms),
    }
}

/// Stores a factor. Unconfirmed factors of the same kind the user left behind are dropped first;
/// `replace_kind` also drops confirmed ones (a new set of recovery codes replaces the old).
/// `event` is recorded when given (a factor confirmed at once), all in one transaction.
pub async fn insert_factor(
    db: &Db,
    new: NewFactor,
    replace_kind: bool,
    now: DateTime<Utc>,
    event: Option<NewEvent>,
) -> Result<(), StoreError> {
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    let mut stale = mfa_factors::Entity::delete_many()
        .filter(mfa_factors::Column::TenantId.eq(db.tenant()))
        .filter(mfa_factors::Column::UserId.eq(new.user_id))
        .filter(mfa_factors::Column::Kind.eq(new.kind.as_str()));
    if !replace_kind {
        stale = stale.filter(mfa_factors::Column::ConfirmedAt.is_null());
    }
    stale.exec(&tx).await?;
    // A passkey's credential id is unique in its tenant (two registrations racing: one lands).
    mfa_factors::Entity::insert(model(db, new, now_ms))
        .exec_without_returning(&tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "factor secret"))?;
    if let Some(event) = event {
        audit::insert(&tx, db.tenant(), event, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The user's factors, oldest first (unconfirmed ones included: callers filter).
pub async fn list_factors(db: &Db, user_id: Uuid) -> Result<Vec<Factor>, StoreError> {
    mfa_factors::Entity::find()
        .filter(mfa_factors::Column::TenantId.eq(db.tenant()))
        .filter(mfa_factors::Column::UserId.eq(user_id))
        .order_by_asc(mfa_factors::Column::CreatedAt)
        .order_by_asc(mfa_factors::Column::Id)
        .all(&db.read)
        .await?
        .into_iter()
        .map(from_model)
        .collect()
}

/// Whether the user has a confirmed factor (one indexed read).
pub async fn has_factor(db: &Db, user_id: Uuid) -> Result<bool, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(mfa_factors::Entity::find()
        .filter(mfa_factors::Column::TenantId.eq(db.tenant()))
        .filter(mfa_factors::Column::UserId.eq(user_id))
        .filter(mfa_factors::Column::ConfirmedAt.is_not_null())
        .count(&db.read)
        .await?
        > 0)
}

/// Confirms an authenticator app with its first code's step; `false` when there is no such
/// unconfirmed factor (confirmed meanwhile, or another user's).
pub async fn confirm_factor(
    db: &Db,
    user_id: Uuid,
    factor_id: Uuid,
    step: i64,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    let done = mfa_factors::Entity::update_many()
        .filter(mfa_factors::Column::TenantId.eq(db.tenant()))
        .filter(mfa_factors::Column::Id.eq(factor_id))
        .filter(mfa_factors::Column::UserId.eq(user_id))
        .filter(mfa_factors::Column::ConfirmedAt.is_null())
        .col_expr(mfa_factors::Column::ConfirmedAt, Expr::value(now_ms))
        .col_expr(mfa_factors::Column::LastStep, Expr::value(step))
        .col_expr(mfa_factors::Column::LastUsedAt, Expr::value(now_ms))
        .exec(&tx)
        .await?;
    if done.rows_affected == 0 {
        return Ok(false);
    }
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Accepts TOTP `step` for a confirmed factor if it is later than every step accepted before:
/// `false` for a replayed (or older) code.
pub async fn accept_totp_step(
    db: &Db,
    factor_id: Uuid,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = mfa_factors::Entity::update_many()
        .filter(mfa_factors::Column::TenantId.eq(db.tenant()))
        .filter(mfa_factors::Column::Id.eq(factor_id))
        .filter(mfa_factors::Column::ConfirmedAt.is_not_null())
        .filter(
            mfa_factors::Column::LastStep
                .is_null()
                .or(mfa_factors::Column::LastStep.lt(step)),
        )
        .col_expr(mfa_factors::Column::LastStep, Expr::value(step))
        .col_expr(mfa_factors::Column::LastUsedAt, Expr::value(to_millis(now)))
        .exec(&db.write)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Replaces a factor's data if it is still `expected` (a recovery code used up), recording
/// `event`; `false` when another request changed it first.
pub async fn swap_data(
    db: &Db,
    factor_id: Uuid,
    expected: &serde_json::Value,
    next: &serde_json::Value,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    let done = mfa_factors::Entity::update_many()
        .filter(mfa_factors::Column::TenantId.eq(db.tenant()))
        .filter(mfa_factors::Column::Id.eq(factor_id))
        .filter(mfa_factors::Column::Data.eq(expected.to_string()))
        .col_expr(mfa_factors::Column::Data, Expr::value(next.to_string()))
        .col_expr(mfa_factors::Column::LastUsedAt, Expr::value(to_millis(now)))
        .exec(&tx)
        .await?;
    if done.rows_affected == 0 {
        return Ok(false);
    }
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Deletes one of the user's factors, recording `event`; `false` when there is none.
pub async fn delete_factor(
    db: &Db,
    user_id: Uuid,
    factor_id: Uuid,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    let done = mfa_factors::Entity::delete_many()
        .filter(mfa_factors::Column::TenantId.eq(db.tenant()))
        .filter(mfa_factors::Column::Id.eq(factor_id))
        .filter(mfa_factors::Column::UserId.eq(user_id))
        .exec(&tx)
        .await?;
    if done.rows_affected == 0 {
        return Ok(false);
    }
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub user_id: Uuid,
    pub amr: String,
    pub return_to: String,
    pub expires_at: DateTime<Utc>,
}

/// Stores a challenge under the hash of its token.
pub async fn insert_challenge(
    db: &Db,
    token_hash: &str,
    challenge: &Challenge,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    mfa_challenges::Entity::insert(mfa_challenges::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        token_hash: Set(token_hash.to_owned()),
        user_id: Set(challenge.user_id),
        amr: Set(challenge.amr.clone()),
        return_to: Set(challenge.return_to.clone()),
        created_at: Set(to_millis(now)),
        expires_at: Set(to_millis(challenge.expires_at)),
    })
    .exec_without_returning(&db.write)
    .await?;
    Ok(())
}

/// The live challenge under `token_hash`.
pub async fn find_challenge(
    db: &Db,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Challenge>, StoreError> {
    Ok(mfa_challenges::Entity::find_by_id(token_hash.to_owned())
        .filter(mfa_challenges::Column::TenantId.eq(db.tenant()))
        .filter(mfa_challenges::Column::ExpiresAt.gt(to_millis(now)))
        .one(&db.write)
        .await?
        .map(|m| Challenge {
            user_id: m.user_id,
            amr: m.amr,
            return_to: m.return_to,
            expires_at: from_millis(m.expires_at),
        }))
}

/// Deletes the challenge under `token_hash`: `true` for the one caller that did (so a challenge
/// completes once).
pub async fn take_challenge(db: &Db, token_hash: &str) -> Result<bool, StoreError> {
    let done = mfa_challenges::Entity::delete_many()
        .filter(mfa_challenges::Column::TenantId.eq(db.tenant()))
        .filter(mfa_challenges::Column::TokenHash.eq(token_hash))
        .exec(&db.write)
        .await?;
    Ok(done.rows_affected == 1)
}

/// A passkey ceremony in progress (SPEC §9): the server's half, stored under its token's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub user_id: Option<Uuid>,
    pub purpose: String,
    pub state: String,
}

/// Stores a ceremony until `expires_at`.
pub async fn insert_ceremony(
    db: &Db,
    token_hash: &str,
    ceremony: &Ceremony,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    use crate::entity::webauthn_ceremonies;
    webauthn_ceremonies::Entity::insert(webauthn_ceremonies::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        token_hash: Set(token_hash.to_owned()),
        user_id: Set(ceremony.user_id),
        purpose: Set(ceremony.purpose.clone()),
        state: Set(ceremony.state.clone()),
        created_at: Set(to_millis(now)),
        expires_at: Set(to_millis(expires_at)),
    })
    .exec_without_returning(&db.write)
    .await?;
    Ok(())
}

/// Takes the live ceremony of `purpose` under `token_hash`: it is deleted, so only one caller
/// ever gets it.
pub async fn take_ceremony(
    db: &Db,
    token_hash: &str,
    purpose: &str,
    now: DateTime<Utc>,
) -> Result<Option<Ceremony>, StoreError> {
    use crate::entity::webauthn_ceremonies;
    let Some(found) = webauthn_ceremonies::Entity::find_by_id(token_hash.to_owned())
        .filter(webauthn_ceremonies::Column::TenantId.eq(db.tenant()))
        .filter(webauthn_ceremonies::Column::Purpose.eq(purpose))
        .filter(webauthn_ceremonies::Column::ExpiresAt.gt(to_millis(now)))
        .one(&db.write)
        .await?
    else {
        return Ok(None);
    };
    let gone = webauthn_ceremonies::Entity::delete_many()
        .filter(webauthn_ceremonies::Column::TenantId.eq(db.tenant()))
        .filter(webauthn_ceremonies::Column::TokenHash.eq(token_hash))
        .exec(&db.write)
        .await?;
    Ok((gone.rows_affected == 1).then_some(Ceremony {
        user_id: found.user_id,
        purpose: found.purpose,
        state: found.state,
    }))
}

/// The factor of `kind` whose `secret` is `secret` (a passkey's credential id), of any user of
/// the tenant.
pub async fn find_by_secret(
    db: &Db,
    kind: &str,
    secret: &str,
) -> Result<Option<Factor>, StoreError> {
    mfa_factors::Entity::find()
        .filter(mfa_factors::Column::TenantId.eq(db.tenant()))
        .filter(mfa_factors::Column::Kind.eq(kind))
        .filter(mfa_factors::Column::Secret.eq(secret))
        .one(&db.read)
        .await?
        .map(from_model)
        .transpose()
}

/// Replaces a factor's data (a passkey's counter and flags after a sign-in).
pub async fn update_data(
    db: &Db,
    factor_id: Uuid,
    data: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    mfa_factors::Entity::update_many()
        .filter(mfa_factors::Column::TenantId.eq(db.tenant()))
        .filter(mfa_factors::Column::Id.eq(factor_id))
        .col_expr(mfa_factors::Column::Data, Expr::value(data.to_string()))
        .col_expr(mfa_factors::Column::LastUsedAt, Expr::value(to_millis(now)))
        .exec(&db.write)
        .await?;
    Ok(())
}
