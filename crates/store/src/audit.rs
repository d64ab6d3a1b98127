//! The audit log: who did what to whom, and when.

use crate::entity::audit_events;
use crate::{Db, StoreError, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, QueryOrder};
use uuid::Uuid;

/// Who performed an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Someone not (yet) signed in.
    Anonymous,
    /// A signed-in end user.
    User(Uuid),
    /// An Admin API key, by its id.
    AdminKey(Uuid),
    /// The command line (`tessera …`).
    Cli,
}

impl Actor {
    fn parts(&self) -> (&'static str, Option<String>) {
        match self {
            Actor::Anonymous => ("anonymous", None),
            Actor::User(id) => ("user", Some(id.to_string())),
            Actor::AdminKey(id) => ("admin_key", Some(id.to_string())),
            Actor::Cli => ("cli", None),
        }
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// What happened, dotted: `user.signed_up`, `login.failed`, `client.created`, …
    pub kind: &'static str,
    pub actor: Actor,
    /// The user the event is about, if any.
    pub user_id: Option<Uuid>,
    pub ip: Option<String>,
    /// Details; never secrets.
    pub detail: serde_json::Value,
}

impl NewEvent {
    pub fn new(kind: &'static str, actor: Actor) -> Self {
        Self {
            kind,
            actor,
            user_id: None,
            ip: None,
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn user(mut self, user_id: Uuid) -> Self {
        self.user_id = Some(user_id);
        self
    }

    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub kind: String,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub user_id: Option<Uuid>,
    pub ip: Option<String>,
    pub detail: serde_json::Value,
}

/// Records `event` on `conn`: inside the caller's transaction when the event belongs to a write.
pub(crate) async fn insert<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    event: NewEvent,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (actor_type, actor_id) = event.actor.parts();
    audit_events::Entity::insert(audit_events::ActiveModel {
        tenant_id: Set(tenant.to_owned()),
        id: Set(Uuid::now_v7()),
        occurred_at: Set(to_millis(now)),
        kind: Set(event.kind.to_owned()),
        actor_type: Set(actor_type.to_owned()),
        actor_id: Set(actor_id),
        user_id: Set(event.user_id),
        ip: Set(event.ip),
        detail: Set(event.detail),
        // Pending for the webhooks (the outbox): written with the change it describes.
        fanned_out_at: sea_orm::ActiveValue::NotSet,
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Records an event that is not part of another write (a failed login, …).
pub async fn record(db: &Db, event: NewEvent, now: DateTime<Utc>) -> Result<(), StoreError> {
    insert(&db.write, db.tenant(), event, now).await
}

/// The newest `limit` events, newest first.
pub async fn latest(db: &Db, limit: u64) -> Result<Vec<Event>, StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    let rows = audit_events::Entity::find()
        .filter(audit_events::Column::TenantId.eq(db.tenant()))
        .order_by_desc(audit_events::Column::Id)
        .limit(limit)
        .all(&db.read)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Event {
            id: r.id,
            occurred_at: crate::from_millis(r.occurred_at),
            kind: r.kind,
            actor_type: r.actor_type,
            actor_id: r.actor_id,
            user_id: r.user_id,
            ip: r.ip,
            detail: r.detail,
        })
        .collect())
}

/// Events newest first, optionally for one user and/or one kind, older than the event `before`.
pub async fn list(
    db: &Db,
    user_id: Option<Uuid>,
    kind: Option<&str>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Event>, StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    let mut query = audit_events::Entity::find()
        .filter(audit_events::Column::TenantId.eq(db.tenant()))
        .order_by_desc(audit_events::Column::Id);
    if let Some(user_id) = user_id {
        query = query.filter(audit_events::Column::UserId.eq(user_id));
    }
    if let Some(kind) = kind {
        query = query.filter(audit_events::Column::Kind.eq(kind));
    }
    if let Some(before) = before {
        query = query.filter(audit_events::Column::Id.lt(before));
    }
    Ok(query
        .limit(limit)
        .all(&db.read)
        .await?
        .into_iter()
        .map(|r| Event {
            id: r.id,
            occurred_at: crate::from_millis(r.occurred_at),
            kind: r.kind,
            actor_type: r.actor_type,
            actor_id: r.actor_id,
            user_id: r.user_id,
            ip: r.ip,
            detail: r.detail,
        })
        .collect())
}
