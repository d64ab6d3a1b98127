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
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

pub async fn insert_authorization_code(
    db: &Db,
    code: &AuthorizationCode,
) -> Result<(), StoreError> {
    authorization_codes::Entity::insert(authorization_codes::ActiveModel {
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
    Redeemed(Grant),
    /// The code had been used already; the grant it produced (if any) is now revoked.
    Replayed,
    /// The user was disabled, or the session that approved the code has ended: nothing issued.
    ApprovalEnded,
}

/// Whether the code's user is enabled and the session that approved it (if any) still exists and
/// has not reached its end of life.
async fn approver_still_valid(
    tx: &DatabaseTransaction,
    code: &AuthorizationCode,
    now_ms: i64,
) -> Result<bool, StoreError> {
    use crate::entity::sessions;
    let enabled = users::Entity::find_by_id(code.user_id)
        .one(tx)
        .await?
        .is_some_and(|u| u.disabled_at.is_none());
    if !enabled {
        return Ok(false);
    }
    match code.session_id {
        None => Ok(true),
        Some(session_id) => Ok(sessions::Entity::find_by_id(session_id)
            .one(tx)
            .await?
            .is_some_and(|s| s.expires_at > now_ms && s.user_id == code.user_id)),
    }
}

async fn revoke_grant_in(
    tx: &DatabaseTransaction,
    grant_id: Uuid,
    now_ms: i64,
) -> Result<(), StoreError> {
    grants::Entity::update_many()
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
        .col_expr(authorization_codes::Column::UsedAt, Expr::value(now_ms))
        .col_expr(authorization_codes::Column::GrantId, Expr::value(grant_id))
        .filter(authorization_codes::Column::CodeHash.eq(code.code_hash.as_str()))
        .filter(authorization_codes::Column::UsedAt.is_null())
        .exec(&tx)
        .await?;
    if claimed.rows_affected == 0 {
        let previous = authorization_codes::Entity::find_by_id(code.code_hash.clone())
            .one(&tx)
            .await?
            .and_then(|c| c.grant_id);
        if let Some(previous) = previous {
            revoke_grant_in(&tx, previous, now_ms).await?;
        }
        tx.commit().await?;
        return Ok(CodeRedemption::Replayed);
    }
    // The user must still be enabled and the session that approved the code still live: a code
    // approved just before sign-out or an admin's disable must not turn into tokens after it. The
    // code stays used (with no grant), so it cannot be tried again.
    if !approver_still_valid(&tx, code, now_ms).await? {
        authorization_codes::Entity::update_many()
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
        id: grant_id,
        user_id: code.user_id,
        client_id: code.client_id.clone(),
        session_id: code.session_id,
        scope: code.scope.clone(),
        claims: code.claims.clone(),
        auth_time: to_millis(code.auth_time),
        created_at: now_ms,
        revoked_at: None,
    };
    grants::Entity::insert(grants::ActiveModel::from(grant.clone()))
        .exec_without_returning(&tx)
        .await?;
    if let Some(rt) = refresh_token {
        insert_refresh_token_in(&tx, grant_id, &rt, now_ms).await?;
    }
    tx.commit().await?;
    Ok(CodeRedemption::Redeemed(grant_from(grant)))
}

async fn insert_refresh_token_in(
    tx: &DatabaseTransaction,
    grant_id: Uuid,
    rt: &NewRefreshToken,
    now_ms: i64,
) -> Result<(), StoreError> {
    refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
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
        .to_owned();
    let Some(row) = db.read.query_one(&query).await? else {
        return Ok(None);
    };
    let grant = grants::Model {
        id: row.try_get("", "id")?,
        user_id: row.try_get("", "user_id")?,
        client_id: row.try_get("", "client_id")?,
        session_id: row.try_get("", "session_id")?,
        scope: row.try_get("", "scope")?,
        claims: row.try_get("", "claims")?,
        auth_time: row.try_get("", "auth_time")?,
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
        .col_expr(refresh_tokens::Column::UsedAt, Expr::value(now_ms))
        .filter(refresh_tokens::Column::TokenHash.eq(old_hash))
        .filter(refresh_tokens::Column::UsedAt.is_null())
        .exec(&tx)
        .await?;
    if claimed.rows_affected == 0 {
        revoke_grant_in(&tx, grant_id, now_ms).await?;
        tx.commit().await?;
        return Ok(Rotation::Reused);
    }
    insert_refresh_token_in(&tx, grant_id, new, now_ms).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated)
}

/// Revokes a grant: every token naming it stops working.
pub async fn revoke_grant(db: &Db, grant_id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
    let tx = db.write.begin().await?;
    revoke_grant_in(&tx, grant_id, to_millis(now)).await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes every grant issued under a browser session (logout), and voids the codes it approved
/// that were not redeemed yet, inside the caller's transaction.
pub(crate) async fn revoke_grants_of_session<C: ConnectionTrait>(
    conn: &C,
    session_id: Uuid,
    now_ms: i64,
) -> Result<(), StoreError> {
    authorization_codes::Entity::delete_many()
        .filter(authorization_codes::Column::SessionId.eq(session_id))
        .filter(authorization_codes::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    grants::Entity::update_many()
        .col_expr(grants::Column::RevokedAt, Expr::value(now_ms))
        .filter(grants::Column::SessionId.eq(session_id))
        .filter(grants::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn find_grant(db: &Db, grant_id: Uuid) -> Result<Option<Grant>, StoreError> {
    Ok(grants::Entity::find_by_id(grant_id)
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
        .and_where(Expr::col((clients::Entity, clients::Column::ClientId)).eq(client_id))
        .and_where(Expr::exists(revoked).not())
        .to_owned();
    if let Some(grant_id) = grant_id {
        query
            .inner_join(
                grants::Entity,
                Expr::col((grants::Entity, grants::Column::ClientId))
                    .equals((clients::Entity, clients::Column::ClientId)),
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
                .equals((grants::Entity, grants::Column::ClientId)),
        )
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

/// Everything UserInfo needs, in one round trip: whether the token is live (not revoked by
/// `jti`, its grant live, its user enabled, its client registered), whether the client is a third
/// party, the user's profile and identities. `None` when the token is dead.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfoBundle {
    pub third_party: bool,
    pub profile: crate::accounts::StoredProfile,
    pub identities: Vec<crate::accounts::Identity>,
}

/// Which request value goes into a placeholder of the prepared UserInfo query.
#[derive(Debug, Clone)]
enum Slot {
    Jti,
    Client,
    Grant,
}

/// The UserInfo query's SQL, built once per backend (building it with sea-query on every request
/// showed in profiles); the values are bound by position.
struct PreparedQuery {
    sql: String,
    slots: Vec<Slot>,
}

const SENTINEL_JTI: &str = "\u{1}tessera:jti";
const SENTINEL_CLIENT: &str = "\u{1}tessera:client";
const SENTINEL_GRANT: Uuid = Uuid::max();

fn prepare_userinfo(backend: sea_orm::DbBackend) -> Option<PreparedQuery> {
    use sea_orm::sea_query::Value;
    let stmt = backend.build(&userinfo_query(
        SENTINEL_JTI,
        SENTINEL_CLIENT,
        SENTINEL_GRANT,
    ));
    // Every placeholder must be one of the request's values.
    let slots = stmt
        .values
        .map(|v| v.0)
        .unwrap_or_default()
        .iter()
        .map(|v| match v {
            Value::String(Some(s)) if s == SENTINEL_JTI => Some(Slot::Jti),
            Value::String(Some(s)) if s == SENTINEL_CLIENT => Some(Slot::Client),
            Value::Uuid(Some(u)) if *u == SENTINEL_GRANT => Some(Slot::Grant),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(PreparedQuery {
        sql: stmt.sql,
        slots,
    })
}

fn prepared_userinfo(backend: sea_orm::DbBackend) -> Option<&'static PreparedQuery> {
    static SQLITE: std::sync::OnceLock<Option<PreparedQuery>> = std::sync::OnceLock::new();
    static POSTGRES: std::sync::OnceLock<Option<PreparedQuery>> = std::sync::OnceLock::new();
    let cell = match backend {
        sea_orm::DbBackend::Sqlite => &SQLITE,
        sea_orm::DbBackend::Postgres => &POSTGRES,
        _ => return None,
    };
    cell.get_or_init(|| prepare_userinfo(backend)).as_ref()
}

/// The UserInfo query (see [`userinfo_bundle`]).
fn userinfo_query(
    jti: &str,
    client_id: &str,
    grant_id: Uuid,
) -> sea_orm::sea_query::SelectStatement {
    use crate::entity::{clients, identities, profiles};
    // EXISTS ignores what the subquery selects; a column (not a constant) leaves only request
    // values to bind.
    let revoked = Query::select()
        .column(revoked_access_tokens::Column::Jti)
        .from(revoked_access_tokens::Entity)
        .and_where(Expr::col(revoked_access_tokens::Column::Jti).eq(jti))
        .to_owned();
    Query::select()
        .column((clients::Entity, clients::Column::ThirdParty))
        .column((grants::Entity, grants::Column::UserId))
        .column((profiles::Entity, profiles::Column::Standard))
        .column((profiles::Entity, profiles::Column::Custom))
        .column((profiles::Entity, profiles::Column::AvatarSeed))
        .column((profiles::Entity, profiles::Column::UpdatedAt))
        .expr_as(
            Expr::col((identities::Entity, identities::Column::Id)),
            "identity_id",
        )
        .column((identities::Entity, identities::Column::Kind))
        .column((identities::Entity, identities::Column::Value))
        .column((identities::Entity, identities::Column::VerifiedAt))
        .expr_as(
            Expr::col((identities::Entity, identities::Column::CreatedAt)),
            "identity_created_at",
        )
        .from(grants::Entity)
        .inner_join(
            users::Entity,
            Expr::col((users::Entity, users::Column::Id))
                .equals((grants::Entity, grants::Column::UserId)),
        )
        .inner_join(
            clients::Entity,
            Expr::col((clients::Entity, clients::Column::ClientId))
                .equals((grants::Entity, grants::Column::ClientId)),
        )
        .inner_join(
            profiles::Entity,
            Expr::col((profiles::Entity, profiles::Column::UserId))
                .equals((grants::Entity, grants::Column::UserId)),
        )
        .left_join(
            identities::Entity,
            Expr::col((identities::Entity, identities::Column::UserId))
                .equals((grants::Entity, grants::Column::UserId)),
        )
        .and_where(Expr::col((grants::Entity, grants::Column::Id)).eq(grant_id))
        .and_where(Expr::col((grants::Entity, grants::Column::ClientId)).eq(client_id))
        .and_where(Expr::col((grants::Entity, grants::Column::RevokedAt)).is_null())
        .and_where(Expr::col((users::Entity, users::Column::DisabledAt)).is_null())
        .and_where(Expr::exists(revoked).not())
        .order_by(
            (identities::Entity, identities::Column::CreatedAt),
            sea_orm::Order::Asc,
        )
        .order_by(
            (identities::Entity, identities::Column::Id),
            sea_orm::Order::Asc,
        )
        .to_owned()
}

pub async fn userinfo_bundle(
    db: &Db,
    jti: &str,
    client_id: &str,
    grant_id: Uuid,
) -> Result<Option<UserInfoBundle>, StoreError> {
    let backend = db.read.get_database_backend();
    let Some(prepared) = prepared_userinfo(backend) else {
        let rows = db
            .read
            .query_all(&userinfo_query(jti, client_id, grant_id))
            .await?;
        return bundle_from_rows(rows.iter());
    };
    if let Some(readers) = &db.sqlite_readers {
        match userinfo_bundle_here(readers, prepared, jti, client_id, grant_id) {
            Ok(bundle) => return bundle,
            Err(crate::sqlite_readers::ReadError::Busy(_)) => {}
            Err(e) => tracing::warn!(error = %e, "UserInfo read on the calling thread failed"),
        }
    }
    if let Some(grouped) = &db.grouped_reads {
        let key = crate::grouped_reads::ReadKey {
            jti: jti.to_owned(),
            client_id: client_id.to_owned(),
            grant_id,
        };
        if let Some(answer) = grouped.read(key).await {
            return answer;
        }
        // Not answered in a group (no runtime, or it stopped): one statement of its own.
        return userinfo_bundle_postgres(&grouped.pool, prepared, jti, client_id, grant_id).await;
    }
    let values: Vec<sea_orm::sea_query::Value> = prepared
        .slots
        .iter()
        .map(|slot| match slot {
            Slot::Jti => jti.into(),
            Slot::Client => client_id.into(),
            Slot::Grant => grant_id.into(),
        })
        .collect();
    let stmt = sea_orm::Statement::from_sql_and_values(backend, prepared.sql.clone(), values);
    let rows = db.read.query_all_raw(stmt).await?;
    bundle_from_rows(rows.iter())
}

/// The UserInfo query on a read-only SQLite connection on this thread (see
/// [`crate::sqlite_readers`]). The outer error means "not answered here"; the inner one is the
/// answer.
fn userinfo_bundle_here(
    readers: &crate::sqlite_readers::SqliteReaders,
    prepared: &PreparedQuery,
    jti: &str,
    client_id: &str,
    grant_id: Uuid,
) -> Result<Result<Option<UserInfoBundle>, StoreError>, crate::sqlite_readers::ReadError> {
    // sqlx stores UUIDs in SQLite as 16-byte blobs.
    let grant = grant_id.as_bytes();
    let values = prepared.slots.iter().map(|slot| -> &dyn rusqlite::ToSql {
        match slot {
            Slot::Jti => &jti,
            Slot::Client => &client_id,
            Slot::Grant => grant,
        }
    });
    readers.read(|conn| {
        let mut stmt = conn.prepare_cached(&prepared.sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
        let mut bundle = BundleBuilder::default();
        while let Some(row) = rows.next()? {
            if let Err(e) = bundle.add(row) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(bundle.finish()))
    })
}

/// The UserInfo query through sqlx's PostgreSQL pool: the same prepared SQL, values bound by
/// position, rows read by position.
async fn userinfo_bundle_postgres(
    pool: &sea_orm::sqlx::PgPool,
    // 'static: the SQL is built once from sea-query, with every request value bound.
    prepared: &'static PreparedQuery,
    jti: &str,
    client_id: &str,
    grant_id: Uuid,
) -> Result<Option<UserInfoBundle>, StoreError> {
    let mut query = sea_orm::sqlx::query(prepared.sql.as_str());
    for slot in &prepared.slots {
        query = match slot {
            Slot::Jti => query.bind(jti),
            Slot::Client => query.bind(client_id),
            Slot::Grant => query.bind(grant_id),
        };
    }
    let rows = query
        .fetch_all(pool)
        .await
        .map_err(|e| StoreError::Database(sea_orm::DbErr::Custom(format!("UserInfo: {e}"))))?;
    let mut bundle = BundleBuilder::default();
    for row in &rows {
        bundle.add(row)?;
    }
    Ok(bundle.finish())
}

/// The UserInfo query's columns, in the order [`userinfo_query`] selects them (rows are read by
/// position: looking columns up by name cost more than the rest of the decoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    ThirdParty,
    UserId,
    Standard,
    Custom,
    AvatarSeed,
    UpdatedAt,
    IdentityId,
    Kind,
    Value,
    VerifiedAt,
    IdentityCreatedAt,
}

impl Col {
    #[cfg(test)]
    pub(crate) const ALL: [Col; 11] = [
        Col::ThirdParty,
        Col::UserId,
        Col::Standard,
        Col::Custom,
        Col::AvatarSeed,
        Col::UpdatedAt,
        Col::IdentityId,
        Col::Kind,
        Col::Value,
        Col::VerifiedAt,
        Col::IdentityCreatedAt,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Col::ThirdParty => "third_party",
            Col::UserId => "user_id",
            Col::Standard => "standard",
            Col::Custom => "custom",
            Col::AvatarSeed => "avatar_seed",
            Col::UpdatedAt => "updated_at",
            Col::IdentityId => "identity_id",
            Col::Kind => "kind",
            Col::Value => "value",
            Col::VerifiedAt => "verified_at",
            Col::IdentityCreatedAt => "identity_created_at",
        }
    }
}

/// One row of the UserInfo query.
pub(crate) trait BundleRow {
    fn uuid(&self, col: Col) -> Result<Option<Uuid>, StoreError>;
    fn text(&self, col: Col) -> Result<Option<String>, StoreError>;
    fn int(&self, col: Col) -> Result<Option<i64>, StoreError>;
    fn flag(&self, col: Col) -> Result<bool, StoreError>;
    fn json(&self, col: Col) -> Result<serde_json::Value, StoreError>;
}

fn required<T>(value: Result<Option<T>, StoreError>, col: Col) -> Result<T, StoreError> {
    value?.ok_or_else(|| StoreError::Corrupt(format!("UserInfo row without {}", col.name())))
}

impl BundleRow for sea_orm::QueryResult {
    fn uuid(&self, col: Col) -> Result<Option<Uuid>, StoreError> {
        Ok(self.try_get_by_index(col as usize)?)
    }
    fn text(&self, col: Col) -> Result<Option<String>, StoreError> {
        Ok(self.try_get_by_index(col as usize)?)
    }
    fn int(&self, col: Col) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get_by_index(col as usize)?)
    }
    fn flag(&self, col: Col) -> Result<bool, StoreError> {
        Ok(self.try_get_by_index(col as usize)?)
    }
    fn json(&self, col: Col) -> Result<serde_json::Value, StoreError> {
        Ok(self.try_get_by_index(col as usize)?)
    }
}

impl BundleRow for sea_orm::sqlx::postgres::PgRow {
    fn uuid(&self, col: Col) -> Result<Option<Uuid>, StoreError> {
        pg_value(self, col)
    }
    fn text(&self, col: Col) -> Result<Option<String>, StoreError> {
        pg_value(self, col)
    }
    fn int(&self, col: Col) -> Result<Option<i64>, StoreError> {
        pg_value(self, col)
    }
    fn flag(&self, col: Col) -> Result<bool, StoreError> {
        pg_value(self, col)
    }
    fn json(&self, col: Col) -> Result<serde_json::Value, StoreError> {
        pg_value(self, col)
    }
}

fn pg_value<'r, T>(row: &'r sea_orm::sqlx::postgres::PgRow, col: Col) -> Result<T, StoreError>
where
    T: sea_orm::sqlx::Decode<'r, sea_orm::sqlx::Postgres>
        + sea_orm::sqlx::Type<sea_orm::sqlx::Postgres>,
{
    use sea_orm::sqlx::Row;
    row.try_get(col as usize)
        .map_err(|e| StoreError::Corrupt(format!("UserInfo column {}: {e}", col.name())))
}

/// A row read through rusqlite, decoded in place (nothing is copied that is not kept).
impl BundleRow for rusqlite::Row<'_> {
    fn uuid(&self, col: Col) -> Result<Option<Uuid>, StoreError> {
        match sqlite_value(self, col)? {
            rusqlite::types::ValueRef::Null => Ok(None),
            // sqlx stores UUIDs in SQLite as 16-byte blobs.
            rusqlite::types::ValueRef::Blob(b) => {
                Uuid::from_slice(b).map(Some).map_err(|_| wrong_type(col))
            }
            _ => Err(wrong_type(col)),
        }
    }
    fn text(&self, col: Col) -> Result<Option<String>, StoreError> {
        match sqlite_value(self, col)? {
            rusqlite::types::ValueRef::Null => Ok(None),
            rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|t| Some(t.to_owned()))
                .map_err(|_| wrong_type(col)),
            _ => Err(wrong_type(col)),
        }
    }
    fn int(&self, col: Col) -> Result<Option<i64>, StoreError> {
        match sqlite_value(self, col)? {
            rusqlite::types::ValueRef::Null => Ok(None),
            rusqlite::types::ValueRef::Integer(i) => Ok(Some(i)),
            _ => Err(wrong_type(col)),
        }
    }
    fn flag(&self, col: Col) -> Result<bool, StoreError> {
        Ok(required(self.int(col), col)? != 0)
    }
    fn json(&self, col: Col) -> Result<serde_json::Value, StoreError> {
        match sqlite_value(self, col)? {
            rusqlite::types::ValueRef::Text(t) => {
                serde_json::from_slice(t).map_err(|_| wrong_type(col))
            }
            _ => Err(wrong_type(col)),
        }
    }
}

fn sqlite_value<'a>(
    row: &'a rusqlite::Row<'_>,
    col: Col,
) -> Result<rusqlite::types::ValueRef<'a>, StoreError> {
    row.get_ref(col as usize)
        .map_err(|e| StoreError::Corrupt(format!("UserInfo column {}: {e}", col.name())))
}

fn wrong_type(col: Col) -> StoreError {
    StoreError::Corrupt(format!("UserInfo column {} has the wrong type", col.name()))
}

/// The bundle from the query's rows, added one at a time: the profile from the first, one
/// identity a row (none when the user has no identity).
#[derive(Default)]
pub(crate) struct BundleBuilder {
    bundle: Option<UserInfoBundle>,
    user_id: Uuid,
}

impl BundleBuilder {
    pub(crate) fn add(&mut self, row: &impl BundleRow) -> Result<(), StoreError> {
        use crate::accounts::{Identity, IdentityKind, StoredProfile};
        let bundle = match &mut self.bundle {
            Some(bundle) => bundle,
            None => {
                self.user_id = required(row.uuid(Col::UserId), Col::UserId)?;
                let profile = StoredProfile {
                    standard_attributes: row.json(Col::Standard)?,
                    custom_attributes: row.json(Col::Custom)?,
                    avatar_seed: required(row.text(Col::AvatarSeed), Col::AvatarSeed)?,
                    cover: None,
                    updated_at: from_millis(required(row.int(Col::UpdatedAt), Col::UpdatedAt)?),
                };
                self.bundle.insert(UserInfoBundle {
                    third_party: row.flag(Col::ThirdParty)?,
                    profile,
                    identities: Vec::new(),
                })
            }
        };
        let Some(id) = row.uuid(Col::IdentityId)? else {
            return Ok(());
        };
        let kind = required(row.text(Col::Kind), Col::Kind)?;
        bundle.identities.push(Identity {
            id,
            user_id: self.user_id,
            kind: IdentityKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("identity kind {kind:?}")))?,
            value: required(row.text(Col::Value), Col::Value)?,
            verified_at: row.int(Col::VerifiedAt)?.map(from_millis),
            created_at: from_millis(required(
                row.int(Col::IdentityCreatedAt),
                Col::IdentityCreatedAt,
            )?),
        });
        Ok(())
    }

    pub(crate) fn finish(self) -> Option<UserInfoBundle> {
        self.bundle
    }
}

fn bundle_from_rows<'a>(
    rows: impl Iterator<Item = &'a sea_orm::QueryResult>,
) -> Result<Option<UserInfoBundle>, StoreError> {
    let mut bundle = BundleBuilder::default();
    for row in rows {
        bundle.add(row)?;
    }
    Ok(bundle.finish())
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
                .equals((consents::Entity, consents::Column::ClientId)),
        )
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
        .filter(consents::Column::UserId.eq(user_id))
        .filter(consents::Column::ClientId.eq(client_id))
        .exec(&tx)
        .await?;
    grants::Entity::update_many()
        .col_expr(grants::Column::RevokedAt, Expr::value(now_ms))
        .filter(grants::Column::UserId.eq(user_id))
        .filter(grants::Column::ClientId.eq(client_id))
        .filter(grants::Column::RevokedAt.is_null())
        .exec(&tx)
        .await?;
    if deleted.rows_affected > 0 {
        crate::audit::insert(&tx, event, now).await?;
    }
    tx.commit().await?;
    Ok(deleted.rows_affected > 0)
}

#[cfg(test)]
mod prepared_tests {
    use super::*;

    #[test]
    fn the_userinfo_query_is_prepared_for_both_backends() {
        for backend in [sea_orm::DbBackend::Sqlite, sea_orm::DbBackend::Postgres] {
            let prepared = prepare_userinfo(backend).expect("every value is a request value");
            assert_eq!(prepared.slots.len(), 3, "{backend:?}");
            assert!(
                !prepared.sql.contains("tessera:"),
                "no sentinel left in the SQL"
            );
        }
    }

    /// Rows are read by position: the query must select the columns in [`Col`]'s order.
    #[test]
    fn the_userinfo_query_selects_the_columns_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.db");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let db = Db::connect(&url, &crate::DbSettings::default())
                .await
                .expect("connect");
            db.migrate().await.expect("migrate");
        });
        let prepared = prepare_userinfo(sea_orm::DbBackend::Sqlite).expect("prepared");
        let conn = rusqlite::Connection::open(&path).expect("open");
        let stmt = conn.prepare(&prepared.sql).expect("prepare");
        let expected: Vec<&str> = Col::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(stmt.column_names(), expected);
        assert!(
            Col::ALL.iter().enumerate().all(|(i, c)| *c as usize == i),
            "Col::ALL lists the columns by position"
        );
    }
}
