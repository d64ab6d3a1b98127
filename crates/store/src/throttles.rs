//! Counters of failed attempts (per login ID, per IP address), kept in the database so that the
//! limits hold across every server process.

use crate::entity::throttles;
use crate::{Db, StoreError, from_millis, to_millis};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

/// A counter's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    /// Failures in the current window.
    pub failures: u32,
    pub window_start: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// The states of `keys` that exist, in one query.
pub async fn load(db: &Db, keys: &[String]) -> Result<Vec<(String, Throttle)>, StoreError> {
    Ok(throttles::Entity::find()
        .filter(throttles::Column::TenantId.eq(db.tenant()))
        .filter(throttles::Column::Key.is_in(keys.iter().cloned()))
        .all(&db.read)
        .await?
        .into_iter()
        .map(|t| {
            (
                t.key,
                Throttle {
                    failures: t.failures.max(0) as u32,
                    window_start: from_millis(t.window_start),
                    locked_until: t.locked_until.map(from_millis),
                },
            )
        })
        .collect())
}

/// Creates `key`'s row when missing (with `window_start`) and reads it, inside `tx`. The upsert
/// takes the row lock (PostgreSQL) or the write lock (SQLite) until commit, so two processes
/// counting at once both count.
async fn lock_row(
    tx: &sea_orm::DatabaseTransaction,
    tenant: &str,
    key: &str,
    now_ms: i64,
    window_start: i64,
) -> Result<throttles::Model, StoreError> {
    throttles::Entity::insert(throttles::ActiveModel {
        tenant_id: Set(tenant.to_owned()),
        key: Set(key.to_owned()),
        failures: Set(0),
        window_start: Set(window_start),
        locked_until: Set(None),
        updated_at: Set(now_ms),
    })
    .on_conflict(
        OnConflict::columns([throttles::Column::TenantId, throttles::Column::Key])
            .value(throttles::Column::UpdatedAt, Expr::value(now_ms))
            .to_owned(),
    )
    .exec_without_returning(tx)
    .await?;
    throttles::Entity::find_by_id((tenant.to_owned(), key.to_owned()))
        .one(tx)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Counts one more failure for `key`, atomically across processes: a window older than `window`
/// starts again at one. `lock` decides, from the new count and window start, until when the key
/// is locked.
pub async fn record_failure(
    db: &Db,
    key: &str,
    now: DateTime<Utc>,
    window: Duration,
    lock: impl Fn(u32, DateTime<Utc>) -> Option<DateTime<Utc>>,
) -> Result<Throttle, StoreError> {
    match count(db, key, now, window, lock, false).await? {
        Claimed::Counted(t) | Claimed::Locked(t) => Ok(t),
    }
}

/// What [`claim_attempt`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The key was locked (until `locked_until`): nothing counted.
    Locked(Throttle),
    /// The attempt was counted as a failure (a success clears it afterwards).
    Counted(Throttle),
}

/// Counts an attempt as a failure before it is compared, unless `key` is locked: in one
/// transaction holding the row lock, so that of any number of parallel attempts only those
/// below the limit are counted and compared, the rest refused (across processes too).
pub async fn claim_attempt(
    db: &Db,
    key: &str,
    now: DateTime<Utc>,
    window: Duration,
    lock: impl Fn(u32, DateTime<Utc>) -> Option<DateTime<Utc>>,
) -> Result<Claimed, StoreError> {
    count(db, key, now, window, lock, true).await
}

async fn count(
    db: &Db,
    key: &str,
    now: DateTime<Utc>,
    window: Duration,
    lock: impl Fn(u32, DateTime<Utc>) -> Option<DateTime<Utc>>,
    refuse_locked: bool,
) -> Result<Claimed, StoreError> {
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    let row = lock_row(&tx, db.tenant(), key, now_ms, now_ms).await?;
    if refuse_locked && row.locked_until.is_some_and(|u| u > now_ms) {
        tx.commit().await?;
        return Ok(Claimed::Locked(Throttle {
            failures: row.failures.max(0) as u32,
            window_start: from_millis(row.window_start),
            locked_until: row.locked_until.map(from_millis),
        }));
    }
    let (failures, window_start) = if now_ms - row.window_start >= window.num_milliseconds() {
        (1u32, now)
    } else {
        (
            row.failures.max(0) as u32 + 1,
            from_millis(row.window_start),
        )
    };
    let locked_until = lock(failures, window_start);
    throttles::Entity::update_many()
        .filter(throttles::Column::TenantId.eq(db.tenant()))
        .col_expr(throttles::Column::Failures, Expr::value(failures as i32))
        .col_expr(
            throttles::Column::WindowStart,
            Expr::value(to_millis(window_start)),
        )
        .col_expr(
            throttles::Column::LockedUntil,
            Expr::value(locked_until.map(to_millis)),
        )
        .filter(throttles::Column::Key.eq(key))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(Claimed::Counted(Throttle {
        failures,
        window_start,
        locked_until,
    }))
}

/// Counts one more occurrence for `key` and tells whether it is time to report: at most once per
/// `interval`, with the number of occurrences since the last report (this one included). Atomic
/// across processes like [`record_failure`]. Used to audit floods without writing an event each.
pub async fn count_for_report(
    db: &Db,
    key: &str,
    now: DateTime<Utc>,
    interval: Duration,
) -> Result<Option<u32>, StoreError> {
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    // Never reported: the first occurrence is due at once.
    let row = lock_row(
        &tx,
        db.tenant(),
        key,
        now_ms,
        now_ms - interval.num_milliseconds(),
    )
    .await?;
    let pending = row.failures.max(0).saturating_add(1);
    let due = now_ms - row.window_start >= interval.num_milliseconds();
    let (failures, window_start) = if due {
        (0, now_ms)
    } else {
        (pending, row.window_start)
    };
    throttles::Entity::update_many()
        .filter(throttles::Column::TenantId.eq(db.tenant()))
        .col_expr(throttles::Column::Failures, Expr::value(failures))
        .col_expr(throttles::Column::WindowStart, Expr::value(window_start))
        .filter(throttles::Column::Key.eq(key))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(due.then_some(pending as u32))
}

/// Forgets a key's failures (after a success).
pub async fn clear(db: &Db, key: &str) -> Result<(), StoreError> {
    throttles::Entity::delete_many()
        .filter(throttles::Column::TenantId.eq(db.tenant()))
        .filter(throttles::Column::Key.eq(key))
        .exec(&db.write)
        .await?;
    Ok(())
}

/// Counts `key`'s failures without changing them (for tests and the Admin API).
pub async fn failures(db: &Db, key: &str) -> Result<u32, StoreError> {
    Ok(
        throttles::Entity::find_by_id((db.tenant().to_owned(), key.to_owned()))
            .one(&db.read)
            .await?
            .map_or(0, |t| t.failures.max(0) as u32),
    )
}
