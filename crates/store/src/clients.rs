//! OAuth clients (relying parties). Only the SHA-256 hash of a client secret is stored.

use crate::audit::{self, NewEvent};
use crate::entity::clients;
use crate::{Db, StoreError, from_millis, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use uuid::Uuid;

/// A client as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: Uuid,
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub is_public: bool,
    pub third_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// Codes only for sessions that proved a second factor (SPEC §9).
    pub require_mfa: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn strings(v: serde_json::Value, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt(format!("client {what}: {e}")))
}

fn from_model(m: clients::Model) -> Result<Client, StoreError> {
    Ok(Client {
        id: m.id,
        client_id: m.client_id,
        name: m.name,
        secret_hash: m.secret_hash,
        is_public: m.is_public,
        third_party: m.third_party,
        require_mfa: m.require_mfa,
        redirect_uris: strings(m.redirect_uris, "redirect_uris")?,
        post_logout_redirect_uris: strings(
            m.post_logout_redirect_uris,
            "post_logout_redirect_uris",
        )?,
        backchannel_logout_uri: m.backchannel_logout_uri,
        grant_types: strings(m.grant_types, "grant_types")?,
        scopes: strings(m.scopes, "scopes")?,
        created_at: from_millis(m.created_at),
        updated_at: from_millis(m.updated_at),
    })
}

/// Stores a new client (its `created_at`/`updated_at` are taken from `now`) and records `event`.
pub async fn insert_client(
    db: &Db,
    client: &Client,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<(), StoreError> {
    let tx = db.write.begin().await?;
    clients::Entity::insert(clients::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        id: Set(client.id),
        client_id: Set(client.client_id.clone()),
        name: Set(client.name.clone()),
        secret_hash: Set(client.secret_hash.clone()),
        is_public: Set(client.is_public),
        third_party: Set(client.third_party),
        require_mfa: Set(client.require_mfa),
        redirect_uris: Set(serde_json::json!(client.redirect_uris)),
        post_logout_redirect_uris: Set(serde_json::json!(client.post_logout_redirect_uris)),
        backchannel_logout_uri: Set(client.backchannel_logout_uri.clone()),
        grant_types: Set(serde_json::json!(client.grant_types)),
        scopes: Set(serde_json::json!(client.scopes)),
        created_at: Set(to_millis(now)),
        updated_at: Set(to_millis(now)),
    })
    .exec_without_returning(&tx)
    .await
    .map_err(|e| StoreError::conflict_or(e, "client_id"))?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Every client, oldest first.
pub async fn list_clients(db: &Db) -> Result<Vec<Client>, StoreError> {
    clients::Entity::find()
        .filter(clients::Column::TenantId.eq(db.tenant()))
        .order_by_asc(clients::Column::CreatedAt)
        .order_by_asc(clients::Column::Id)
        .all(&db.read)
        .await?
        .into_iter()
        .map(from_model)
        .collect()
}

pub async fn find_by_client_id(db: &Db, client_id: &str) -> Result<Option<Client>, StoreError> {
    clients::Entity::find()
        .filter(clients::Column::TenantId.eq(db.tenant()))
        .filter(clients::Column::ClientId.eq(client_id))
        .one(&db.read)
        .await?
        .map(from_model)
        .transpose()
}

/// Deletes the client with this `client_id`, recording `event`. Returns whether it existed.
pub async fn delete_client(
    db: &Db,
    client_id: &str,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    let deleted = clients::Entity::delete_many()
        .filter(clients::Column::TenantId.eq(db.tenant()))
        .filter(clients::Column::ClientId.eq(client_id))
        .exec(&tx)
        .await?;
    if deleted.rows_affected > 0 {
        audit::insert(&tx, db.tenant(), event, now).await?;
    }
    tx.commit().await?;
    Ok(deleted.rows_affected > 0)
}

/// A page of clients in creation order, after the client with id `after`.
pub async fn list_clients_page(
    db: &Db,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Client>, StoreError> {
    use sea_orm::QuerySelect;
    let mut query = clients::Entity::find()
        .filter(clients::Column::TenantId.eq(db.tenant()))
        .order_by_asc(clients::Column::Id);
    if let Some(after) = after {
        query = query.filter(clients::Column::Id.gt(after));
    }
    query
        .limit(limit)
        .all(&db.read)
        .await?
        .into_iter()
        .map(from_model)
        .collect()
}

/// Saves a changed client (everything but its ids and creation time), recording `event`.
pub async fn update_client(
    db: &Db,
    client: &Client,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    use sea_orm::sea_query::Expr;
    let tx = db.write.begin().await?;
    let updated = clients::Entity::update_many()
        .filter(clients::Column::TenantId.eq(db.tenant()))
        .col_expr(clients::Column::Name, Expr::value(client.name.clone()))
        .col_expr(
            clients::Column::SecretHash,
            Expr::value(client.secret_hash.clone()),
        )
        .col_expr(clients::Column::ThirdParty, Expr::value(client.third_party))
        .col_expr(clients::Column::RequireMfa, Expr::value(client.require_mfa))
        .col_expr(
            clients::Column::RedirectUris,
            Expr::value(serde_json::json!(client.redirect_uris)),
        )
        .col_expr(
            clients::Column::PostLogoutRedirectUris,
            Expr::value(serde_json::json!(client.post_logout_redirect_uris)),
        )
        .col_expr(
            clients::Column::BackchannelLogoutUri,
            Expr::value(client.backchannel_logout_uri.clone()),
        )
        .col_expr(
            clients::Column::GrantTypes,
            Expr::value(serde_json::json!(client.grant_types)),
        )
        .col_expr(
            clients::Column::Scopes,
            Expr::value(serde_json::json!(client.scopes)),
        )
        .col_expr(clients::Column::UpdatedAt, Expr::value(to_millis(now)))
        .filter(clients::Column::ClientId.eq(client.client_id.as_str()))
        .exec(&tx)
        .await?;
    if updated.rows_affected > 0 {
        audit::insert(&tx, db.tenant(), event, now).await?;
    }
    tx.commit().await?;
    Ok(updated.rows_affected > 0)
}
