//! Webhooks (SPEC §13): a tenant's subscriptions, and their deliveries from the outbox.
//!
//! The audit log is the outbox: every change writes its event in its own transaction, pending
//! (`fanned_out_at` NULL). [`fan_out`] hands pending events to the webhooks of their tenant (one
//! delivery per matching webhook, in one transaction with marking the events), [`claim_due`]
//! leases due deliveries to one process (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single
//! writer on SQLite), never a user's event while an earlier one of that user is pending for the
//! same webhook, and [`record_attempt`] writes each answer and the next try. Nothing here is lost
//! by a crash: an unfanned event stays pending, a leased delivery is taken again when its lease
//! runs out (at least once).

use crate::audit::{self, NewEvent};
use crate::entity::{audit_events, webhook_attempts, webhook_deliveries, webhooks};
use crate::{Db, StoreError, from_millis, to_millis};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// A stored webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    /// Event types, or `*` for all.
    pub events: Vec<String>,
    pub exclude_actor: Option<Uuid>,
    /// The signing secret as stored (sealed by the caller).
    pub sealed_secret: String,
    /// The URL of a `[[webhook]]` entry it was made from.
    pub config_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    /// Whether an event of `kind` by the actor (`actor_type`, `actor_id`) is sent to it.
    pub fn wants(&self, kind: &str, actor_type: &str, actor_id: Option<&str>) -> bool {
        let excluded = self.exclude_actor.is_some_and(|key| {
            actor_type == "admin_key" && actor_id == Some(key.to_string().as_str())
        });
        !excluded && self.events.iter().any(|e| e == "*" || e == kind)
    }
}

fn from_model(m: webhooks::Model) -> Result<Webhook, StoreError> {
    Ok(Webhook {
        events: serde_json::from_str(&m.events)
            .map_err(|e| StoreError::Corrupt(format!("webhook {} events: {e}", m.id)))?,
        id: m.id,
        url: m.url,
        exclude_actor: m.exclude_actor,
        sealed_secret: m.secret,
        config_key: m.config_key,
        created_at: from_millis(m.created_at),
        updated_at: from_millis(m.updated_at),
    })
}

/// A webhook to create or the new values of one.
#[derive(Debug, Clone)]
pub struct WebhookValues {
    pub url: String,
    pub events: Vec<String>,
    pub exclude_actor: Option<Uuid>,
    pub sealed_secret: String,
}

/// Creates webhook `id`, recording `event`.
pub async fn create(
    db: &Db,
    id: Uuid,
    values: WebhookValues,
    config_key: Option<String>,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<Webhook, StoreError> {
    let now_ms = to_millis(now);
    let model = webhooks::Model {
        tenant_id: db.tenant().to_owned(),
        id,
        url: values.url,
        events: serde_json::to_string(&values.events)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        exclude_actor: values.exclude_actor,
        secret: values.sealed_secret,
        config_key,
        created_at: now_ms,
        updated_at: now_ms,
    };
    let tx = db.write.begin().await?;
    webhooks::Entity::insert(webhooks::ActiveModel::from(model.clone()))
        .exec_without_returning(&tx)
        .await
        .map_err(|e| StoreError::conflict_or(e, "webhook"))?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    from_model(model)
}

/// The webhook `id` of the tenant.
pub async fn find(db: &Db, id: Uuid) -> Result<Option<Webhook>, StoreError> {
    webhooks::Entity::find_by_id(id)
        .filter(webhooks::Column::TenantId.eq(db.tenant()))
        .one(&db.read)
        .await?
        .map(from_model)
        .transpose()
}

/// The webhook made from the `[[webhook]]` entry for `url`, if any.
pub async fn find_configured(db: &Db, url: &str) -> Result<Option<Webhook>, StoreError> {
    webhooks::Entity::find()
        .filter(webhooks::Column::TenantId.eq(db.tenant()))
        .filter(webhooks::Column::ConfigKey.eq(url))
        .one(&db.read)
        .await?
        .map(from_model)
        .transpose()
}

/// The tenant's webhooks in id order, after `after`, at most `limit`.
pub async fn list(db: &Db, after: Option<Uuid>, limit: u64) -> Result<Vec<Webhook>, StoreError> {
    let mut q = webhooks::Entity::find()
        .filter(webhooks::Column::TenantId.eq(db.tenant()))
        .order_by_asc(webhooks::Column::Id);
    if let Some(after) = after {
        q = q.filter(webhooks::Column::Id.gt(after));
    }
    q.limit(limit)
        .all(&db.read)
        .await?
        .into_iter()
        .map(from_model)
        .collect()
}

/// Replaces a webhook's values, recording `event`; `false` when there is no such webhook.
pub async fn update(
    db: &Db,
    id: Uuid,
    values: WebhookValues,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let events =
        serde_json::to_string(&values.events).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let tx = db.write.begin().await?;
    let done = webhooks::Entity::update_many()
        .col_expr(webhooks::Column::Url, Expr::value(values.url))
        .col_expr(webhooks::Column::Events, Expr::value(events))
        .col_expr(
            webhooks::Column::ExcludeActor,
            Expr::value(values.exclude_actor),
        )
        .col_expr(webhooks::Column::Secret, Expr::value(values.sealed_secret))
        .col_expr(webhooks::Column::UpdatedAt, Expr::value(to_millis(now)))
        .filter(webhooks::Column::TenantId.eq(db.tenant()))
        .filter(webhooks::Column::Id.eq(id))
        .exec(&tx)
        .await?;
    if done.rows_affected == 0 {
        return Ok(false);
    }
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Deletes a webhook with its deliveries, recording `event`; `false` when there is none.
pub async fn delete(
    db: &Db,
    id: Uuid,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    let deliveries: Vec<Uuid> = webhook_deliveries::Entity::find()
        .select_only()
        .column(webhook_deliveries::Column::Id)
        .filter(webhook_deliveries::Column::TenantId.eq(db.tenant()))
        .filter(webhook_deliveries::Column::WebhookId.eq(id))
        .into_tuple()
        .all(&tx)
        .await?;
    for chunk in deliveries.chunks(500) {
        webhook_attempts::Entity::delete_many()
            .filter(webhook_attempts::Column::DeliveryId.is_in(chunk.iter().copied()))
            .exec(&tx)
            .await?;
    }
    webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::TenantId.eq(db.tenant()))
        .filter(webhook_deliveries::Column::WebhookId.eq(id))
        .exec(&tx)
        .await?;
    let gone = webhooks::Entity::delete_many()
        .filter(webhooks::Column::TenantId.eq(db.tenant()))
        .filter(webhooks::Column::Id.eq(id))
        .exec(&tx)
        .await?;
    if gone.rows_affected == 0 {
        return Ok(false);
    }
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Hands up to `limit` pending events, of every tenant, oldest first, to the webhooks of their
/// tenant: a delivery for each webhook that wants the event, and the events marked, in one
/// transaction. Returns how many events were handed out (0: none was pending).
pub async fn fan_out(db: &Db, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    let events = audit_events::Entity::find()
        .filter(audit_events::Column::FannedOutAt.is_null())
        .order_by_asc(audit_events::Column::OccurredAt)
        .order_by_asc(audit_events::Column::Id)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&tx)
        .await?;
    if events.is_empty() {
        return Ok(0);
    }
    let mut tenants: Vec<&str> = events.iter().map(|e| e.tenant_id.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let hooks: Vec<(String, Webhook)> = webhooks::Entity::find()
        .filter(webhooks::Column::TenantId.is_in(tenants.iter().map(|t| t.to_string())))
        .all(&tx)
        .await?
        .into_iter()
        .map(|m| {
            let tenant = m.tenant_id.clone();
            from_model(m).map(|w| (tenant, w))
        })
        .collect::<Result<_, _>>()?;
    let mut deliveries = Vec::new();
    for e in &events {
        for (_, hook) in hooks.iter().filter(|(t, _)| *t == e.tenant_id) {
            if hook.wants(&e.kind, &e.actor_type, e.actor_id.as_deref()) {
                deliveries.push(webhook_deliveries::ActiveModel {
                    tenant_id: Set(e.tenant_id.clone()),
                    id: Set(Uuid::now_v7()),
                    webhook_id: Set(hook.id),
                    event_id: Set(e.id),
                    user_id: Set(e.user_id),
                    seq: Set(e.occurred_at),
                    status: Set(PENDING.to_owned()),
                    attempts: Set(0),
                    next_attempt_at: Set(now_ms),
                    leased_until: Set(None),
                    created_at: Set(now_ms),
                    delivered_at: Set(None),
                });
            }
        }
    }
    for chunk in deliveries.chunks(200) {
        webhook_deliveries::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    webhook_deliveries::Column::WebhookId,
                    webhook_deliveries::Column::EventId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&tx)
            .await?;
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    audit_events::Entity::update_many()
        .col_expr(audit_events::Column::FannedOutAt, Expr::value(now_ms))
        .filter(audit_events::Column::Id.is_in(ids))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(events.len() as u64)
}

/// A delivery leased to this process: what to send and where.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: Uuid,
    pub tenant: String,
    pub webhook_id: Uuid,
    pub url: String,
    pub sealed_secret: String,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub event: audit::Event,
}

/// Leases up to `limit` due deliveries to the caller until `now + lease`: pending, due, not
/// leased by another process, and with no earlier pending delivery of the same user to the same
/// webhook (so a user's events go out in order).
pub async fn claim_due(
    db: &Db,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u64,
) -> Result<Vec<DueDelivery>, StoreError> {
    use sea_orm::sea_query::{Alias, Condition, Query};
    let now_ms = to_millis(now);
    let earlier = Alias::new("earlier");
    let d = webhook_deliveries::Entity;
    let no_earlier = Query::select()
        .expr(Expr::val(1))
        .from_as(d, earlier.clone())
        .and_where(
            Expr::col((earlier.clone(), webhook_deliveries::Column::WebhookId))
                .equals((d, webhook_deliveries::Column::WebhookId)),
        )
        .and_where(
            Expr::col((earlier.clone(), webhook_deliveries::Column::UserId))
                .equals((d, webhook_deliveries::Column::UserId)),
        )
        .and_where(Expr::col((earlier.clone(), webhook_deliveries::Column::Status)).eq(PENDING))
        // Audit event ids are UUID v7: ordered by creation (strictly, within a process).
        .and_where(
            Expr::col((earlier.clone(), webhook_deliveries::Column::EventId))
                .lt(Expr::col((d, webhook_deliveries::Column::EventId))),
        )
        .to_owned();
    let tx = db.write.begin().await?;
    let free = Condition::any()
        .add(webhook_deliveries::Column::LeasedUntil.is_null())
        .add(webhook_deliveries::Column::LeasedUntil.lt(now_ms));
    let rows = webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::Status.eq(PENDING))
        .filter(webhook_deliveries::Column::NextAttemptAt.lte(now_ms))
        .filter(free.clone())
        .filter(Expr::exists(no_earlier).not())
        .order_by_asc(webhook_deliveries::Column::NextAttemptAt)
        .order_by_asc(webhook_deliveries::Column::EventId)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&tx)
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    webhook_deliveries::Entity::update_many()
        .col_expr(
            webhook_deliveries::Column::LeasedUntil,
            Expr::value(to_millis(now + lease)),
        )
        .filter(webhook_deliveries::Column::Id.is_in(ids.clone()))
        .filter(free)
        .exec(&tx)
        .await?;
    let event_ids: Vec<Uuid> = rows.iter().map(|r| r.event_id).collect();
    let events = audit_events::Entity::find()
        .filter(audit_events::Column::Id.is_in(event_ids))
        .all(&tx)
        .await?;
    let hook_ids: Vec<Uuid> = rows.iter().map(|r| r.webhook_id).collect();
    let hooks = webhooks::Entity::find()
        .filter(webhooks::Column::Id.is_in(hook_ids))
        .all(&tx)
        .await?;
    tx.commit().await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (Some(e), Some(h)) = (
            events.iter().find(|e| e.id == r.event_id),
            hooks.iter().find(|h| h.id == r.webhook_id),
        ) else {
            continue;
        };
        out.push(DueDelivery {
            id: r.id,
            tenant: r.tenant_id,
            webhook_id: r.webhook_id,
            url: h.url.clone(),
            sealed_secret: h.secret.clone(),
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            created_at: from_millis(r.created_at),
            event: audit::Event {
                id: e.id,
                occurred_at: from_millis(e.occurred_at),
                kind: e.kind.clone(),
                actor_type: e.actor_type.clone(),
                actor_id: e.actor_id.clone(),
                user_id: e.user_id,
                ip: e.ip.clone(),
                detail: e.detail.clone(),
            },
        });
    }
    Ok(out)
}

/// What one attempt got.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Delivered,
    /// Try again at this time.
    Retry(DateTime<Utc>),
    /// Given up.
    Failed,
}

/// Records an attempt of a leased delivery and what follows it, releasing the lease.
pub async fn record_attempt(
    db: &Db,
    delivery: &DueDelivery,
    attempt: Attempt,
    after: After,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    webhook_attempts::Entity::insert(webhook_attempts::ActiveModel {
        tenant_id: Set(delivery.tenant.clone()),
        id: Set(Uuid::now_v7()),
        delivery_id: Set(delivery.id),
        at: Set(now_ms),
        status_code: Set(attempt.status_code.map(i32::from)),
        error: Set(attempt.error),
        duration_ms: Set(attempt.duration_ms),
    })
    .exec_without_returning(&tx)
    .await?;
    let (status, next, delivered) = match after {
        After::Delivered => (DELIVERED, now_ms, Some(now_ms)),
        After::Retry(at) => (PENDING, to_millis(at), None),
        After::Failed => (FAILED, now_ms, None),
    };
    webhook_deliveries::Entity::update_many()
        .col_expr(webhook_deliveries::Column::Status, Expr::value(status))
        .col_expr(
            webhook_deliveries::Column::Attempts,
            Expr::col(webhook_deliveries::Column::Attempts).add(1),
        )
        .col_expr(webhook_deliveries::Column::NextAttemptAt, Expr::value(next))
        .col_expr(
            webhook_deliveries::Column::LeasedUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            webhook_deliveries::Column::DeliveredAt,
            Expr::value(delivered),
        )
        .filter(webhook_deliveries::Column::Id.eq(delivery.id))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A delivery as `GET /webhooks/{id}/deliveries` lists it, with its attempts.
#[derive(Debug, Clone)]
pub struct DeliveryLog {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: Vec<(DateTime<Utc>, Attempt)>,
}

/// The webhook's deliveries, newest first, before `before`, at most `limit`.
pub async fn deliveries(
    db: &Db,
    webhook_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<DeliveryLog>, StoreError> {
    let mut q = webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::TenantId.eq(db.tenant()))
        .filter(webhook_deliveries::Column::WebhookId.eq(webhook_id))
        .order_by_desc(webhook_deliveries::Column::Id);
    if let Some(before) = before {
        q = q.filter(webhook_deliveries::Column::Id.lt(before));
    }
    let rows = q.limit(limit).all(&db.read).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let attempts = webhook_attempts::Entity::find()
        .filter(webhook_attempts::Column::DeliveryId.is_in(ids))
        .order_by_asc(webhook_attempts::Column::At)
        .all(&db.read)
        .await?;
    let event_ids: Vec<Uuid> = rows.iter().map(|r| r.event_id).collect();
    let kinds: Vec<(Uuid, String)> = audit_events::Entity::find()
        .select_only()
        .column(audit_events::Column::Id)
        .column(audit_events::Column::Kind)
        .filter(audit_events::Column::Id.is_in(event_ids))
        .into_tuple()
        .all(&db.read)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeliveryLog {
            id: r.id,
            event_id: r.event_id,
            event_type: kinds
                .iter()
                .find(|(id, _)| *id == r.event_id)
                .map(|(_, k)| k.clone())
                .unwrap_or_default(),
            next_attempt_at: (r.status == PENDING).then(|| from_millis(r.next_attempt_at)),
            status: r.status,
            created_at: from_millis(r.created_at),
            delivered_at: r.delivered_at.map(from_millis),
            attempts: attempts
                .iter()
                .filter(|a| a.delivery_id == r.id)
                .map(|a| {
                    (
                        from_millis(a.at),
                        Attempt {
                            status_code: a.status_code.and_then(|s| u16::try_from(s).ok()),
                            error: a.error.clone(),
                            duration_ms: a.duration_ms,
                        },
                    )
                })
                .collect(),
        })
        .collect())
}
