//! OAuth state: authorization codes, grants, refresh tokens, revoked access tokens and consents.
//!
//! Single use is enforced in the database: redeeming a code or rotating a refresh token is a
//! conditional update (`… WHERE used_at IS NULL`), so two concurrent redemptions — even on two
//! server processes — cannot both succeed. The loser revokes the whole grant (replay detection).

use crate::entity::{
    authorization_codes, consents, grants, refresh_tokens, revoked_access_tokens, users,
};
use crate::{Db, StoreError, from_millis, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    TransactionTrait,
};
use uuid::Uuid;

/// An authorization code as issued by the authorization endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: Uuid,
    pub session_id: Option<Uuid>,
    pub redirect_uri: String,
    pub scope: String,
    pub claims: Option<serde_json::Value>,
    pub nonce: Option<String>,
    /// The S256 PKCE challenge, if the client sent one.
    pub code_challenge: Option<String>,
    pub auth_time: DateTime<Utc>,
    /// RFC 8176 methods of the approving sign-in, space-separated.
    pub amr: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

pub async fn insert_authorization_code(
    db: &Db,
    code: &AuthorizationCode,
) -> Result<(), StoreError> {
    authorization_codes::Entity::insert(authorization_codes::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        code_hash: Set(code.code_hash.clone()),
        client_id: Set(code.client_id.clone()),
        user_id: Set(code.user_id),
        session_id: Set(code.session_id),
        redirect_uri: Set(code.redirect_uri.clone()),
        scope: Set(code.scope.clone()),
        claims: Set(code.claims.clone()),
        nonce: Set(code.nonce.clone()),
        code_challenge: Set(code.code_challenge.clone()),
        auth_time: Set(to_millis(code.auth_time)),
        amr: Set(Some(code.amr.clone())),
        created_at: Set(to_millis(code.created_at)),
        expires_at: Set(to_millis(code.expires_at)),
        used_at: Set(None),
        grant_id: Set(None),
    })
    .exec_without_returning(&db.write)
    .await?;
    Ok(())
}

pub async fn find_authorization_code(
    db: &Db,
    code_hash: &str,
) -> Result<Option<AuthorizationCode>, StoreError> {
    Ok(
        authorization_codes::Entity::find_by_id(code_hash.to_owned())
            .filter(authorization_codes::Column::TenantId.eq(db.tenant()))
            .one(&db.read)
            .await?
            .map(|m| AuthorizationCode {
                code_hash: m.code_hash,
                client_id: m.client_id,
                user_id: m.user_id,
                session_id: m.session_id,
                redirect_uri: m.redirect_uri,
                scope: m.scope,
                claims: m.claims,
                nonce: m.nonce,
                code_challenge: m.code_challenge,
                auth_time: from_millis(m.auth_time),
                amr: m.amr.unwrap_or_else(|| "pwd".into()),
                created_at: from_millis(m.created_at),
                expires_at: from_millis(m.expires_at),
                used: m.used_at.is_some(),
            }),
    )
}

/// A grant: a user's authorisation of a client, which tokens name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: Uuid,
    pub user_id: Uuid,
    pub client_id: String,
    pub session_id: Option<Uuid>,
    pub scope: String,
    pub claims: Option<serde_json::Value>,
    pub auth_time: DateTime<Utc>,
    /// RFC 8176 methods of the sign-in the grant came from, space-separated.
    pub amr: String,
    pub created_at: DateTime<Utc>,
    pub revoked: bool,
}

fn grant_from(m: grants::Model) -> Grant {
    Grant {
        id: m.id,
        user_id: m.user_id,
        client_id: m.client_id,
        session_id: m.session_id,
        scope: m.scope,
        claims: m.claims,
        auth_time: from_millis(m.auth_time),
        amr: m.amr.unwrap_or_else(|| "pwd".into()),
        created_at: from_millis(m.created_at),
        revoked: m.revoked_at.is_some(),
    }
}

/// A refresh token to store with a grant.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// What redeeming a code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// The code was unused: it is now used, and `grant` was created.
    Redeemed(Box<Grant>),
    /// The code had been used already; the grant it produced (if any) is now revoked.
    Replayed,
    /// The user was disabled, or the session that approved the code has ended: nothing issued.
    ApprovalEnded,
}

/// Whether the code's user is enabled and the session that approved it (if any) still exists and
/// has not reached its end of life.
async fn approver_still_valid(
    tx: &DatabaseTransaction,
    tenant: &str,
    code: &AuthorizationCode,
    now_ms: i64,
) -> Result<bool, StoreError> {
    use crate::entity::sessions;
    let enabled = users::Entity::find_by_id(code.user_id)
        .filter(users::Column::TenantId.eq(tenant))
        .one(tx)
        .await?
        .is_some_and(|u| u.disabled_at.is_none());
    if !enabled {
        return Ok(false);
    }
    match code.session_id {
        None => Ok(true),
        Some(session_id) => Ok(sessions::Entity::find_by_id(session_id)
            .filter(sessions::Column::TenantId.eq(tenant))
            .one(tx)
            .await?
            .is_some_and(|s| s.expires_at > now_ms && s.user_id == code.user_id)),
    }
}

async fn revoke_grant_in(
    tx: &DatabaseTransaction,
    tenant: &str,
    grant_id: Uuid,
    now_ms: i64,
) -> Result<(), StoreError> {
    grants::Entity::update_many()
        .filter(grants::Column::TenantId.eq(tenant))
        .col_expr(grants::Column::RevokedAt, Expr::value(now_ms))
        .filter(grants::Column::Id.eq(grant_id))
        .filter(grants::Column::RevokedAt.is_null())
        .exec(tx)
        .await?;
    Ok(())
}

/// Marks the code used and creates its grant (with an optional refresh token), in one
/// transaction. A code already used revokes the grant it produced.
pub async fn redeem_authorization_code(
    db: &Db,
    code: &AuthorizationCode,
    grant_id: Uuid,
    refresh_token: Option<NewRefreshToken>,
    now: DateTime<Utc>,
) -> Result<CodeRedemption, StoreError> {
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    let claimed = authorization_codes::Entity::update_many()
        .filter(authorization_codes::Column::TenantId.eq(db.tenant()))
        .col_expr(authorization_codes::Column::UsedAt, Expr::value(now_ms))
        .col_expr(authorization_codes::Column::GrantId, Expr::value(grant_id))
        .filter(authorization_codes::Column::CodeHash.eq(code.code_hash.as_str()))
        .filter(authorization_codes::Column::UsedAt.is_null())
        .exec(&tx)
        .await?;
    if claimed.rows_affected == 0 {
        let previous = authorization_codes::Entity::find_by_id(code.code_hash.clone())
            .filter(authorization_codes::Column::TenantId.eq(db.tenant()))
            .one(&tx)
            .await?
            .and_then(|c| c.grant_id);
        if let Some(previous) = previous {
            revoke_grant_in(&tx, db.tenant(), previous, now_ms).await?;
        }
        tx.commit().await?;
        return Ok(CodeRedemption::Replayed);
    }
    // The user must still be enabled and the session that approved the code still live: a code
    // approved just before sign-out or an admin's disable must not turn into tokens after it. The
    // code stays used (with no grant), so it cannot be tried again.
    if !approver_still_valid(&tx, db.tenant(), code, now_ms).await? {
        authorization_codes::Entity::update_many()
            .filter(authorization_codes::Column::TenantId.eq(db.tenant()))
            .col_expr(
                authorization_codes::Column::GrantId,
                Expr::value(Option::<Uuid>::None),
            )
            .filter(authorization_codes::Column::CodeHash.eq(code.code_hash.as_str()))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        return Ok(CodeRedemption::ApprovalEnded);
    }
    let grant = grants::Model {
        tenant_id: db.tenant().to_owned(),
        id: grant_id,
        user_id: code.user_id,
        client_id: code.client_id.clone(),
        session_id: code.session_id,
        scope: code.scope.clone(),
        claims: code.claims.clone(),
        auth_time: to_millis(code.auth_time),
        amr: Some(code.amr.clone()),
        created_at: now_ms,
        revoked_at: None,
    };
    grants::Entity::insert(grants::ActiveModel::from(grant.clone()))
        .exec_without_returning(&tx)
        .await?;
    if let Some(rt) = refresh_token {
        insert_refresh_token_in(&tx, db.tenant(), grant_id, &rt, now_ms).await?;
    }
    tx.commit().await?;
    Ok(CodeRedemption::Redeemed(Box::new(grant_from(grant))))
}

async fn insert_refresh_token_in(
    tx: &DatabaseTransaction,
    tenant: &str,
    grant_id: Uuid,
    rt: &NewRefreshToken,
    now_ms: i64,
) -> Result<(), StoreError> {
    refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
        tenant_id: Set(tenant.to_owned()),
        token_hash: Set(rt.token_hash.clone()),
        grant_id: Set(grant_id),
        created_at: Set(now_ms),
        expires_at: Set(to_millis(rt.expires_at)),
        used_at: Set(None),
    })
    .exec_without_returning(tx)
    .await?;
    Ok(())
}

/// A stored refresh token with its grant and whether the grant's user is disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub grant: Grant,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
    pub user_disabled: bool,
}

pub async fn find_refresh_token(
    db: &Db,
    token_hash: &str,
) -> Result<Option<RefreshTokenRecord>, StoreError> {
    use grants::Column as G;
    // One round trip: the token, its grant and whether the grant's user is disabled.
    let query = Query::select()
        .columns([
            (grants::Entity, G::Id),
            (grants::Entity, G::UserId),
            (grants::Entity, G::ClientId),
            (grants::Entity, G::SessionId),
            (grants::Entity, G::Scope),
            (grants::Entity, G::Claims),
            (grants::Entity, G::AuthTime),
            (grants::Entity, G::Amr),
            (grants::Entity, G::CreatedAt),
            (grants::Entity, G::RevokedAt),
        ])
        .column((refresh_tokens::Entity, refresh_tokens::Column::ExpiresAt))
        .column((refresh_tokens::Entity, refresh_tokens::Column::UsedAt))
        .column((users::Entity, users::Column::DisabledAt))
        .from(refresh_tokens::Entity)
        .inner_join(
            grants::Entity,
            Expr::col((grants::Entity, G::Id))
                .equals((refresh_tokens::Entity, refresh_tokens::Column::GrantId)),
        )
        .inner_join(
            users::Entity,
            Expr::col((users::Entity, users::Column::Id)).equals((grants::Entity, G::UserId)),
        )
        .and_where(
            Expr::col((refresh_tokens::Entity, refresh_tokens::Column::TokenHash)).eq(token_hash),
        )
        .and_where(
            Expr::col((refresh_tokens::Entity, refresh_tokens::Column::TenantId)).eq(db.tenant()),
        )
        .to_owned();
    let Some(row) = db.read.query_one(&query).await? else {
        return Ok(None);
    };
    let grant = grants::Model {
        tenant_id: db.tenant().to_owned(),
        id: row.try_get("", "id")?,
        user_id: row.try_get("", "user_id")?,
        client_id: row.try_get("", "client_id")?,
        session_id: row.try_get("", "session_id")?,
        scope: row.try_get("", "scope")?,
        claims: row.try_get("", "claims")?,
        auth_time: row.try_get("", "auth_time")?,
        amr: row.try_get("", "amr")?,
        created_at: row.try_get("", "created_at")?,
        revoked_at: row.try_get("", "revoked_at")?,
    };
    Ok(Some(RefreshTokenRecord {
        grant: grant_from(grant),
        expires_at: from_millis(row.try_get("", "expires_at")?),
        used: row.try_get::<Option<i64>>("", "used_at")?.is_some(),
        user_disabled: row.try_get::<Option<i64>>("", "disabled_at")?.is_some(),
    }))
}

/// What rotating a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    Rotated,
    /// The token had been used already: the whole grant is now revoked.
    Reused,
}

/// Marks `old_hash` used and stores its successor, in one transaction; a token used before
/// revokes its grant instead.
pub async fn rotate_refresh_token(
    db: &Db,
    old_hash: &str,
    grant_id: Uuid,
    new: &NewRefreshToken,
    now: DateTime<Utc>,
) -> Result<Rotation, StoreError> {
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    let claimed = refresh_tokens::Entity::update_many()
        .filter(refresh_tokens::Column::TenantId.eq(db.tenant()))
        .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now_ms))
        .filter(refresh_tokens::Column::TokenHash.eq(old_hash))
        .filter(refresh_tokens::Column::UsedAt.is_null())
        .exec(&tx)
        .await?;
    if claimed.rows_affected == 0 {
        revoke_grant_in(&tx, db.tenant(), grant_id, now_ms).await?;
        tx.commit().await?;
        return Ok(Rotation::Reused);
    }
    insert_refresh_token_in(&tx, db.tenant(), grant_id, new, now_ms).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated)
}

/// Revokes a grant: every token naming it stops working.
pub async fn revoke_grant(db: &Db, grant_id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    let tx = db.write.begin().await?;
    revoke_grant_in(&tx, db.tenant(), grant_id, to_millis(now)).await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes every grant issued under a browser session (logout), and voids the codes it approved
/// that were not redeemed yet, inside the caller's transaction.
pub(crate) async fn revoke_grants_of_session<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    session_id: Uuid,
    now_ms: i64,
) -> Result<(), StoreError> {
    authorization_codes::Entity::delete_many()
        .filter(authorization_codes::Column::TenantId.eq(tenant))
        .filter(authorization_codes::Column::SessionId.eq(session_id))
        .filter(authorization_codes::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    grants::Entity::update_many()
        .filter(grants::Column::TenantId.eq(tenant))
        .col_expr(grants::Column::RevokedAt, Expr::value(now_ms))
        .filter(grants::Column::SessionId.eq(session_id))
        .filter(grants::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn find_grant(db: &Db, grant_id: Uuid) -> Result<Option<Grant>, StoreError> {
    Ok(grants::Entity::find_by_id(grant_id)
        .filter(grants::Column::TenantId.eq(db.tenant()))
        .one(&db.read)
        .await?
        .map(grant_from))
}

/// Records that the access token `jti` is revoked until it would have expired anyway.
pub async fn revoke_access_token(
    db: &Db,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    revoked_access_tokens::Entity::insert(revoked_access_tokens::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        jti: Set(jti.to_owned()),
        expires_at: Set(to_millis(expires_at)),
    })
    .on_conflict(
        OnConflict::column(revoked_access_tokens::Column::Jti)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&db.write)
    .await?;
    Ok(())
}

/// Whether an access token is still good, read in one query: not revoked by `jti`, its client
/// still registered, and (for tokens issued to a user) its grant not revoked and its user not
/// disabled. Returns whether the client is third-party, or `None` for a dead token.
pub async fn active_token_client(
    db: &Db,
    jti: &str,
    client_id: &str,
    grant_id: Option<Uuid>,
) -> Result<Option<bool>, StoreError> {
    use crate::entity::clients;
    let revoked = Query::select()
        .expr(Expr::val(1))
        .from(revoked_access_tokens::Entity)
        .and_where(Expr::col(revoked_access_tokens::Column::Jti).eq(jti))
        .to_owned();
    let mut query = Query::select()
        .column((clients::Entity, clients::Column::ThirdParty))
        .from(clients::Entity)
        .and_where(Expr::col((clients::Entity, clients::Column::TenantId)).eq(db.tenant()))
        .and_where(Expr::col((clients::Entity, clients::Column::ClientId)).eq(client_id))
        .and_where(Expr::exists(revoked).not())
        .to_owned();
    if let Some(grant_id) = grant_id {
        query
            .inner_join(
                grants::Entity,
                Expr::col((grants::Entity, grants::Column::ClientId))
                    .equals((clients::Entity, clients::Column::ClientId))
                    .and(
                        Expr::col((grants::Entity, grants::Column::TenantId))
                            .equals((clients::Entity, clients::Column::TenantId)),
                    ),
            )
            .inner_join(
                users::Entity,
                Expr::col((users::Entity, users::Column::Id))
                    .equals((grants::Entity, grants::Column::UserId)),
            )
            .and_where(Expr::col((grants::Entity, grants::Column::Id)).eq(grant_id))
            .and_where(Expr::col((grants::Entity, grants::Column::RevokedAt)).is_null())
            .and_where(Expr::col((users::Entity, users::Column::DisabledAt)).is_null());
    }
    match db.read.query_one(&query).await? {
        Some(row) => Ok(Some(row.try_get("", "third_party")?)),
        None => Ok(None),
    }
}

/// The scopes a user has consented to for a client, if any.
pub async fn find_consent(
    db: &Db,
    user_id: Uuid,
    client_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        consents::Entity::find_by_id((user_id, client_id.to_owned()))
            .filter(consents::Column::TenantId.eq(db.tenant()))
            .one(&db.read)
            .await?
            .map(|c| c.scope),
    )
}

/// Remembers (or widens) a user's consent for a client.
pub async fn save_consent(
    db: &Db,
    user_id: Uuid,
    client_id: &str,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    consents::Entity::insert(consents::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        user_id: Set(user_id),
        client_id: Set(client_id.to_owned()),
        scope: Set(scope.to_owned()),
        granted_at: Set(to_millis(now)),
    })
    .on_conflict(
        OnConflict::columns([consents::Column::UserId, consents::Column::ClientId])
            .update_columns([consents::Column::Scope, consents::Column::GrantedAt])
            .to_owned(),
    )
    .exec_without_returning(&db.write)
    .await?;
    Ok(())
}

/// Clients with a back-channel logout URI that hold a live grant from this browser session:
/// `(client_id, backchannel_logout_uri, user_id)`.
pub async fn backchannel_targets(
    db: &Db,
    session_id: Uuid,
) -> Result<Vec<(String, String, Uuid)>, StoreError> {
    use crate::entity::clients;
    let query = Query::select()
        .distinct()
        .column((clients::Entity, clients::Column::ClientId))
        .column((clients::Entity, clients::Column::BackchannelLogoutUri))
        .column((grants::Entity, grants::Column::UserId))
        .from(grants::Entity)
        .inner_join(
            clients::Entity,
            Expr::col((clients::Entity, clients::Column::ClientId))
                .equals((grants::Entity, grants::Column::ClientId))
                .and(
                    Expr::col((clients::Entity, clients::Column::TenantId))
                        .equals((grants::Entity, grants::Column::TenantId)),
                ),
        )
        .and_where(Expr::col((grants::Entity, grants::Column::TenantId)).eq(db.tenant()))
        .and_where(Expr::col((grants::Entity, grants::Column::SessionId)).eq(session_id))
        .and_where(Expr::col((grants::Entity, grants::Column::RevokedAt)).is_null())
        .and_where(
            Expr::col((clients::Entity, clients::Column::BackchannelLogoutUri)).is_not_null(),
        )
        .to_owned();
    let rows = db.read.query_all(&query).await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                r.try_get("", "client_id")?,
                r.try_get("", "backchannel_logout_uri")?,
                r.try_get("", "user_id")?,
            ))
        })
        .collect()
}

/// A third-party app the user has consented to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    pub client_id: String,
    pub name: String,
    pub scope: String,
    pub granted_at: DateTime<Utc>,
}

/// The user's consents, newest first, with the clients' names.
pub async fn connected_apps(db: &Db, user_id: Uuid) -> Result<Vec<ConnectedApp>, StoreError> {
    use crate::entity::clients;
    let query = Query::select()
        .column((consents::Entity, consents::Column::ClientId))
        .column((consents::Entity, consents::Column::Scope))
        .column((consents::Entity, consents::Column::GrantedAt))
        .column((clients::Entity, clients::Column::Name))
        .from(consents::Entity)
        .inner_join(
            clients::Entity,
            Expr::col((clients::Entity, clients::Column::ClientId))
                .equals((consents::Entity, consents::Column::ClientId))
                .and(
                    Expr::col((clients::Entity, clients::Column::TenantId))
                        .equals((consents::Entity, consents::Column::TenantId)),
                ),
        )
        .and_where(Expr::col((consents::Entity, consents::Column::TenantId)).eq(db.tenant()))
        .and_where(Expr::col((consents::Entity, consents::Column::UserId)).eq(user_id))
        .order_by(
            (consents::Entity, consents::Column::GrantedAt),
            sea_orm::Order::Desc,
        )
        .to_owned();
    db.read
        .query_all(&query)
        .await?
        .into_iter()
        .map(|r| {
            Ok(ConnectedApp {
                client_id: r.try_get("", "client_id")?,
                name: r.try_get("", "name")?,
                scope: r.try_get("", "scope")?,
                granted_at: from_millis(r.try_get("", "granted_at")?),
            })
        })
        .collect()
}

/// Withdraws a consent and revokes every grant the user gave that client (its tokens stop
/// working), in one transaction. Returns whether there was a consent.
pub async fn revoke_consent(
    db: &Db,
    user_id: Uuid,
    client_id: &str,
    now: DateTime<Utc>,
    event: crate::audit::NewEvent,
) -> Result<bool, StoreError> {
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    let deleted = consents::Entity::delete_many()
        .filter(consents::Column::TenantId.eq(db.tenant()))
        .filter(consents::Column::UserId.eq(user_id))
        .filter(consents::Column::ClientId.eq(client_id))
        .exec(&tx)
        .await?;
    grants::Entity::update_many()
        .filter(grants::Column::TenantId.eq(db.tenant()))
        .col_expr(grants::Column::RevokedAt, Expr::value(now_ms))
        .filter(grants::Column::UserId.eq(user_id))
        .filter(grants::Column::ClientId.eq(client_id))
        .filter(grants::Column::RevokedAt.is_null())
        .exec(&tx)
        .await?;
    if deleted.rows_affected > 0 {
        crate::audit::insert(&tx, db.tenant(), event, now).await?;
    }
    tx.commit().await?;
    Ok(deleted.rows_affected > 0)
}
