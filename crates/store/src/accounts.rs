//! Users, their profile, their identities (login IDs) and password credentials.

use crate::audit::{self, NewEvent};
use crate::entity::{identities, password_credentials, profiles, users};
use crate::verification_codes::CodeSpend;
use crate::{Db, StoreError, from_millis, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};
use uuid::Uuid;

/// The kinds of identity a user can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    Email,
    Phone,
    Username,
    Oidc,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Email => "email",
            IdentityKind::Phone => "phone",
            IdentityKind::Username => "username",
            IdentityKind::Oidc => "oidc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "email" => IdentityKind::Email,
            "phone" => IdentityKind::Phone,
            "username" => IdentityKind::Username,
            "oidc" => IdentityKind::Oidc,
            _ => return None,
        })
    }
}

/// An identity to create with a new account. `value` is already normalised.
#[derive(Debug, Clone)]
pub struct NewIdentity {
    pub kind: IdentityKind,
    pub value: String,
    pub verified: bool,
}

/// Everything a new account starts with; written in one transaction.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub user_id: Uuid,
    pub identities: Vec<NewIdentity>,
    /// A PHC string (Argon2id); `None` for accounts that sign in another way.
    pub password_hash: Option<String>,
    /// Standard profile attributes as a JSON object.
    pub standard_attributes: serde_json::Value,
    /// Custom profile attributes as a JSON object keyed by definition id.
    pub custom_attributes: serde_json::Value,
    pub avatar_seed: String,
    /// A provisioning client's id for the user (SCIM `externalId`).
    pub external_id: Option<String>,
    /// Created disabled (a directory provisioning an inactive user).
    pub disabled: bool,
}

/// A stored identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: IdentityKind,
    pub value: String,
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub disabled: bool,
    /// The provisioning client's id for the user (SCIM `externalId`).
    pub external_id: Option<String>,
}

/// What a login needs to know about the owner of a login ID, read in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginCandidate {
    pub user_id: Uuid,
    pub disabled: bool,
    pub password_hash: Option<String>,
}

/// Creates a user with their profile, identities and password in one transaction, and records
/// `event` in it. A login ID that is already taken gives [`StoreError::Conflict`] and writes nothing.
pub async fn create_account(
    db: &Db,
    account: NewAccount,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<(), StoreError> {
    let tx = db.write.begin().await?;
    insert_account(&tx, db.tenant(), account, to_millis(now)).await?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Inserts an account inside `tx` (user, profile, identities, search index, password).
async fn insert_account(
    tx: &impl ConnectionTrait,
    tenant: &str,
    account: NewAccount,
    now_ms: i64,
) -> Result<(), StoreError> {
    let tenant = tenant.to_owned();
    let indexed: Vec<(String, String)> = account
        .identities
        .iter()
        .map(|i| (i.kind.as_str().to_owned(), i.value.clone()))
        .collect();
    users::Entity::insert(users::ActiveModel {
        tenant_id: Set(tenant.clone()),
        id: Set(account.user_id),
        created_at: Set(now_ms),
        last_login_at: Set(None),
        disabled_at: Set(account.disabled.then_some(now_ms)),
        external_id: Set(account.external_id),
    })
    .exec_without_returning(tx)
    .await?;
    // The index rows from the values at hand (nothing to read back).
    crate::search::index(
        tx,
        &tenant,
        account.user_id,
        &account.standard_attributes,
        &account.custom_attributes,
        &indexed,
    )
    .await?;
    profiles::Entity::insert(profiles::ActiveModel {
        tenant_id: Set(tenant.clone()),
        user_id: Set(account.user_id),
        standard: Set(account.standard_attributes),
        custom: Set(account.custom_attributes),
        annotations: Set(serde_json::Value::Array(Vec::new())),
        avatar_seed: Set(account.avatar_seed),
        cover: Set(None),
        updated_at: Set(now_ms),
    })
    .exec_without_returning(tx)
    .await?;
    let rows: Vec<identities::ActiveModel> = account
        .identities
        .into_iter()
        .map(|identity| identities::ActiveModel {
            tenant_id: Set(tenant.clone()),
            id: Set(Uuid::now_v7()),
            user_id: Set(account.user_id),
            kind: Set(identity.kind.as_str().to_owned()),
            value: Set(identity.value),
            verified_at: Set(identity.verified.then_some(now_ms)),
            created_at: Set(now_ms),
        })
        .collect();
    if !rows.is_empty() {
        identities::Entity::insert_many(rows)
            .exec_without_returning(tx)
            .await
            .map_err(|e| StoreError::conflict_or(e, "login ID"))?;
    }
    if let Some(hash) = account.password_hash {
        password_credentials::Entity::insert(password_credentials::ActiveModel {
            tenant_id: Set(tenant.clone()),
            user_id: Set(account.user_id),
            hash: Set(hash),
            created_at: Set(now_ms),
            updated_at: Set(now_ms),
        })
        .exec_without_returning(tx)
        .await?;
    }
    Ok(())
}

/// An account to import, with the groups (by name) it joins and its audit event.
#[derive(Debug)]
pub struct ImportedAccount {
    pub account: NewAccount,
    pub groups: Vec<String>,
    pub event: NewEvent,
}

/// Imports a batch of accounts in one transaction, each in a savepoint of its own so that one
/// refused (a taken login ID or user id: [`StoreError::Conflict`]) leaves the others. Groups are
/// joined by name and made when missing (audited `group.created`). Returns one result per
/// account, in order.
pub async fn import_accounts(
    db: &Db,
    batch: Vec<ImportedAccount>,
    now: DateTime<Utc>,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let tenant = db.tenant();
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    let mut groups: std::collections::HashMap<String, Uuid> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(batch.len());
    for item in batch {
        let user_id = item.account.user_id;
        let one = tx.begin().await?;
        match insert_account(&one, tenant, item.account, now_ms).await {
            Ok(()) => {}
            Err(e) => {
                one.rollback().await?;
                out.push(Err(match e {
                    StoreError::Database(d) => StoreError::conflict_or(d, "user id"),
                    other => other,
                }));
                continue;
            }
        }
        // The rest of the line in its savepoint too: a failure refuses this line alone (and a
        // group made in a savepoint rolled back is not remembered).
        let mut made = Vec::new();
        let rest = async {
            for name in &item.groups {
                let id = match groups.get(name) {
                    Some(id) => *id,
                    None => {
                        let id = crate::groups::ensure_group(&one, tenant, name, now).await?;
                        made.push((name.clone(), id));
                        id
                    }
                };
                crate::groups::join_new_member(&one, tenant, id, user_id, now_ms).await?;
            }
            audit::insert(&one, tenant, item.event, now).await
        };
        match rest.await {
            Ok(()) => {
                one.commit().await?;
                groups.extend(made);
                out.push(Ok(()));
            }
            Err(e) => {
                one.rollback().await?;
                out.push(Err(e));
            }
        }
    }
    tx.commit().await?;
    Ok(out)
}

/// The password hashes of several users, in one query.
pub async fn password_hashes_of(
    db: &Db,
    user_ids: &[Uuid],
) -> Result<Vec<(Uuid, String)>, StoreError> {
    Ok(password_credentials::Entity::find()
        .filter(password_credentials::Column::TenantId.eq(db.tenant()))
        .filter(password_credentials::Column::UserId.is_in(user_ids.iter().copied()))
        .all(&db.read)
        .await?
        .into_iter()
        .map(|p| (p.user_id, p.hash))
        .collect())
}

/// Users in id order after `after`, at most `limit` (for export).
pub async fn users_page(db: &Db, after: Option<Uuid>, limit: u64) -> Result<Vec<User>, StoreError> {
    use sea_orm::QuerySelect;
    let mut q = users::Entity::find()
        .filter(users::Column::TenantId.eq(db.tenant()))
        .order_by_asc(users::Column::Id);
    if let Some(a) = after {
        q = q.filter(users::Column::Id.gt(a));
    }
    Ok(q.limit(limit)
        .all(&db.read)
        .await?
        .into_iter()
        .map(from_user_row)
        .collect())
}

/// The owner of the login ID `(kind, value)`, whether they are disabled, and their password hash.
pub async fn find_login_candidate(
    db: &Db,
    kind: IdentityKind,
    value: &str,
) -> Result<Option<LoginCandidate>, StoreError> {
    let query = Query::select()
        .column((identities::Entity, identities::Column::UserId))
        .column((users::Entity, users::Column::DisabledAt))
        .column((
            password_credentials::Entity,
            password_credentials::Column::Hash,
        ))
        .from(identities::Entity)
        .inner_join(
            users::Entity,
            Expr::col((users::Entity, users::Column::Id))
                .equals((identities::Entity, identities::Column::UserId)),
        )
        .left_join(
            password_credentials::Entity,
            Expr::col((
                password_credentials::Entity,
                password_credentials::Column::UserId,
            ))
            .equals((identities::Entity, identities::Column::UserId)),
        )
        .and_where(Expr::col((identities::Entity, identities::Column::TenantId)).eq(db.tenant()))
        .and_where(Expr::col((identities::Entity, identities::Column::Kind)).eq(kind.as_str()))
        .and_where(Expr::col((identities::Entity, identities::Column::Value)).eq(value))
        .to_owned();
    let Some(row) = db.read.query_one(&query).await? else {
        return Ok(None);
    };
    Ok(Some(LoginCandidate {
        user_id: row.try_get("", "user_id")?,
        disabled: row.try_get::<Option<i64>>("", "disabled_at")?.is_some(),
        password_hash: row.try_get("", "hash")?,
    }))
}

pub(crate) fn from_user_row(u: users::Model) -> User {
    User {
        id: u.id,
        created_at: from_millis(u.created_at),
        last_login_at: u.last_login_at.map(from_millis),
        disabled: u.disabled_at.is_some(),
        external_id: u.external_id,
    }
}

pub async fn find_user(db: &Db, user_id: Uuid) -> Result<Option<User>, StoreError> {
    Ok(users::Entity::find_by_id(user_id)
        .filter(users::Column::TenantId.eq(db.tenant()))
        .one(&db.read)
        .await?
        .map(from_user_row))
}

/// The users of the tenant that have these usernames (given lower-cased, as they are stored), in
/// one query: `(username, user id)` for each name that is taken.
pub async fn users_by_username(
    db: &Db,
    names: &[String],
) -> Result<Vec<(String, Uuid)>, StoreError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    Ok(identities::Entity::find()
        .filter(identities::Column::TenantId.eq(db.tenant()))
        .filter(identities::Column::Kind.eq(IdentityKind::Username.as_str()))
        .filter(identities::Column::Value.is_in(names.iter().cloned()))
        .all(&db.read)
        .await?
        .into_iter()
        .map(|r| (r.value, r.user_id))
        .collect())
}

/// Sets (or clears) the user's external id, recording `event`. `false` when there is no such
/// user in the tenant.
pub async fn set_external_id(
    db: &Db,
    user_id: Uuid,
    external_id: Option<String>,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    if !update_external_id(&tx, db.tenant(), user_id, external_id).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    touch_profile(&tx, db.tenant(), user_id, now).await?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Moves the profile's `updated_at` (UserInfo's `updated_at`, SCIM's `meta.lastModified`) for
/// a change of what the user is outside the profile values: login IDs, external id, disabled.
async fn touch_profile(
    tx: &impl ConnectionTrait,
    tenant: &str,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now_ms = to_millis(now);
    let col = Expr::col(profiles::Column::UpdatedAt);
    profiles::Entity::update_many()
        .col_expr(
            profiles::Column::UpdatedAt,
            Expr::Case(Box::new(
                Expr::case(col.clone().gte(now_ms), col.add(1)).finally(Expr::val(now_ms)),
            )),
        )
        .filter(profiles::Column::TenantId.eq(tenant))
        .filter(profiles::Column::UserId.eq(user_id))
        .exec(tx)
        .await?;
    Ok(())
}

async fn update_external_id(
    tx: &impl ConnectionTrait,
    tenant: &str,
    user_id: Uuid,
    external_id: Option<String>,
) -> Result<bool, StoreError> {
    let done = users::Entity::update_many()
        .col_expr(users::Column::ExternalId, Expr::value(external_id))
        .filter(users::Column::TenantId.eq(tenant))
        .filter(users::Column::Id.eq(user_id))
        .exec(tx)
        .await?;
    Ok(done.rows_affected > 0)
}

/// The user's identities, oldest first.
pub async fn list_identities(db: &Db, user_id: Uuid) -> Result<Vec<Identity>, StoreError> {
    identities_of(db, &[user_id]).await
}

/// The identities of several users (oldest first per user), in one query.
pub async fn identities_of(db: &Db, user_ids: &[Uuid]) -> Result<Vec<Identity>, StoreError> {
    let rows = identities::Entity::find()
        .filter(identities::Column::TenantId.eq(db.tenant()))
        .filter(identities::Column::UserId.is_in(user_ids.iter().copied()))
        .order_by_asc(identities::Column::CreatedAt)
        .order_by_asc(identities::Column::Id)
        .all(&db.read)
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Identity {
                id: r.id,
                user_id: r.user_id,
                kind: IdentityKind::parse(&r.kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("identity kind {:?}", r.kind)))?,
                value: r.value,
                verified_at: r.verified_at.map(from_millis),
                created_at: from_millis(r.created_at),
            })
        })
        .collect()
}

/// The stored profile attributes of a user: (standard, custom, avatar seed, updated at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProfile {
    pub standard_attributes: serde_json::Value,
    pub custom_attributes: serde_json::Value,
    /// The annotations: a JSON array of `{"type", "value"}`.
    pub annotations: serde_json::Value,
    pub avatar_seed: String,
    /// The cover image's URL, if one was uploaded.
    pub cover: Option<String>,
    pub updated_at: DateTime<Utc>,
}

fn from_profile_row(p: profiles::Model) -> StoredProfile {
    StoredProfile {
        standard_attributes: p.standard,
        custom_attributes: p.custom,
        annotations: p.annotations,
        avatar_seed: p.avatar_seed,
        cover: p.cover,
        updated_at: from_millis(p.updated_at),
    }
}

pub async fn find_profile(db: &Db, user_id: Uuid) -> Result<Option<StoredProfile>, StoreError> {
    Ok(profiles::Entity::find_by_id(user_id)
        .filter(profiles::Column::TenantId.eq(db.tenant()))
        .one(&db.read)
        .await?
        .map(from_profile_row))
}

/// The profiles of several users, in one query.
pub async fn profiles_of(
    db: &Db,
    user_ids: &[Uuid],
) -> Result<Vec<(Uuid, StoredProfile)>, StoreError> {
    Ok(profiles::Entity::find()
        .filter(profiles::Column::TenantId.eq(db.tenant()))
        .filter(profiles::Column::UserId.is_in(user_ids.iter().copied()))
        .all(&db.read)
        .await?
        .into_iter()
        .map(|p| (p.user_id, from_profile_row(p)))
        .collect())
}

/// Counts users (for tests and metrics).
pub async fn count_users(db: &Db) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(users::Entity::find()
        .filter(users::Column::TenantId.eq(db.tenant()))
        .count(&db.read)
        .await?)
}

/// New values for a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileWrite {
    pub standard_attributes: serde_json::Value,
    pub custom_attributes: serde_json::Value,
    pub annotations: serde_json::Value,
    pub avatar_seed: String,
    pub cover: Option<String>,
    /// An uploaded image the new values point at, stored in the same transaction.
    pub image: Option<crate::images::NewImage>,
}

/// Writes a profile's values if nobody changed it since `expected_updated_at` (optimistic
/// concurrency), recording `event`. Returns `false` when someone else changed it first.
pub async fn save_profile(
    db: &Db,
    user_id: Uuid,
    write: ProfileWrite,
    expected_updated_at: DateTime<Utc>,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    if !write_profile(&tx, db.tenant(), user_id, write, expected_updated_at, now).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    crate::search::reindex(&tx, db.tenant(), user_id).await?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Writes a profile's values inside `tx` if nobody changed it since `expected_updated_at`
/// (false otherwise); the search index is the caller's to rewrite.
async fn write_profile(
    tx: &impl ConnectionTrait,
    tenant: &str,
    user_id: Uuid,
    write: ProfileWrite,
    expected_updated_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // updated_at only moves forward, even when two writes land in the same millisecond.
    let new_updated = std::cmp::max(to_millis(now), to_millis(expected_updated_at) + 1);
    let updated = profiles::Entity::update_many()
        .col_expr(
            profiles::Column::Standard,
            Expr::value(write.standard_attributes),
        )
        .col_expr(
            profiles::Column::Custom,
            Expr::value(write.custom_attributes),
        )
        .col_expr(
            profiles::Column::Annotations,
            Expr::value(write.annotations),
        )
        .col_expr(profiles::Column::AvatarSeed, Expr::value(write.avatar_seed))
        .col_expr(profiles::Column::Cover, Expr::value(write.cover))
        .col_expr(profiles::Column::UpdatedAt, Expr::value(new_updated))
        .filter(profiles::Column::TenantId.eq(tenant))
        .filter(profiles::Column::UserId.eq(user_id))
        .filter(profiles::Column::UpdatedAt.eq(to_millis(expected_updated_at)))
        .exec(tx)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(false);
    }
    if let Some(image) = write.image {
        crate::images::replace(tx, tenant, user_id, image, now).await?;
    }
    Ok(true)
}

/// Marks the user's identity `(kind, value)` verified, recording `event`; `proof`, the code that
/// proved it, is used up in the same transaction. Returns whether there was such an identity.
pub async fn mark_identity_verified(
    db: &Db,
    user_id: Uuid,
    kind: IdentityKind,
    value: &str,
    proof: Option<&CodeSpend>,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    if let Some(proof) = proof {
        crate::verification_codes::spend_in(&tx, db.tenant(), proof, to_millis(now)).await?;
    }
    let updated = identities::Entity::update_many()
        .col_expr(identities::Column::VerifiedAt, Expr::value(to_millis(now)))
        .filter(identities::Column::TenantId.eq(db.tenant()))
        .filter(identities::Column::UserId.eq(user_id))
        .filter(identities::Column::Kind.eq(kind.as_str()))
        .filter(identities::Column::Value.eq(value))
        .exec(&tx)
        .await?;
    if updated.rows_affected > 0 {
        audit::insert(&tx, db.tenant(), event, now).await?;
    }
    tx.commit().await?;
    Ok(updated.rows_affected > 0)
}

/// Sets a user's password and ends every session of theirs except `keep`, with the grants issued
/// under them, in one transaction (password reset). `proven_email`, when the reset was proven by a
/// code sent to that address, uses the code up and marks that email identity verified in the same
/// transaction.
pub async fn reset_password(
    db: &Db,
    user_id: Uuid,
    password_hash: &str,
    keep: Option<Uuid>,
    proven_email: Option<(&str, &CodeSpend)>,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<u64, StoreError> {
    use crate::entity::sessions;
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    if !user_in_tenant(&tx, db.tenant(), user_id).await? {
        return Err(StoreError::NotFound);
    }
    if let Some((email, proof)) = proven_email {
        crate::verification_codes::spend_in(&tx, db.tenant(), proof, now_ms).await?;
        identities::Entity::update_many()
            .col_expr(identities::Column::VerifiedAt, Expr::value(now_ms))
            .filter(identities::Column::TenantId.eq(db.tenant()))
            .filter(identities::Column::UserId.eq(user_id))
            .filter(identities::Column::Kind.eq(IdentityKind::Email.as_str()))
            .filter(identities::Column::Value.eq(email))
            .filter(identities::Column::VerifiedAt.is_null())
            .exec(&tx)
            .await?;
    }
    password_credentials::Entity::insert(password_credentials::ActiveModel {
        tenant_id: Set(db.tenant().to_owned()),
        user_id: Set(user_id),
        hash: Set(password_hash.to_owned()),
        created_at: Set(now_ms),
        updated_at: Set(now_ms),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(password_credentials::Column::UserId)
            .update_columns([
                password_credentials::Column::Hash,
                password_credentials::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&tx)
    .await?;
    let mut ended = 0;
    for session in sessions::Entity::find()
        .filter(sessions::Column::TenantId.eq(db.tenant()))
        .filter(sessions::Column::UserId.eq(user_id))
        .all(&tx)
        .await?
    {
        if Some(session.id) == keep {
            continue;
        }
        crate::oauth::revoke_grants_of_session(&tx, db.tenant(), session.id, now_ms).await?;
        sessions::Entity::delete_by_id(session.id).exec(&tx).await?;
        ended += 1;
    }
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(ended)
}

/// Adds a (verified) identity to a user, recording `event`; `proof`, the code that proved it, is
/// used up in the same transaction. A login ID another account has gives [`StoreError::Conflict`].
pub async fn add_identity(
    db: &Db,
    user_id: Uuid,
    identity: NewIdentity,
    proof: Option<&CodeSpend>,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    if !user_in_tenant(&tx, db.tenant(), user_id).await? {
        return Err(StoreError::NotFound);
    }
    if let Some(proof) = proof {
        crate::verification_codes::spend_in(&tx, db.tenant(), proof, now_ms).await?;
    }
    insert_identity(&tx, db.tenant(), id, user_id, identity, now_ms).await?;
    touch_profile(&tx, db.tenant(), user_id, now).await?;
    crate::search::reindex(&tx, db.tenant(), user_id).await?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// Inserts an identity inside `tx`; a login ID another account has gives
/// [`StoreError::Conflict`].
async fn insert_identity(
    tx: &impl ConnectionTrait,
    tenant: &str,
    id: Uuid,
    user_id: Uuid,
    identity: NewIdentity,
    now_ms: i64,
) -> Result<(), StoreError> {
    identities::Entity::insert(identities::ActiveModel {
        tenant_id: Set(tenant.to_owned()),
        id: Set(id),
        user_id: Set(user_id),
        kind: Set(identity.kind.as_str().to_owned()),
        value: Set(identity.value),
        verified_at: Set(identity.verified.then_some(now_ms)),
        created_at: Set(now_ms),
    })
    .exec_without_returning(tx)
    .await
    .map_err(|e| StoreError::conflict_or(e, "login ID"))?;
    Ok(())
}

/// Why an identity was not removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveIdentity {
    Removed,
    NotFound,
    /// It is the user's last identity: without it they could not sign in.
    Last,
}

/// Removes one of the user's identities unless it is their last, in one transaction.
pub async fn remove_identity(
    db: &Db,
    user_id: Uuid,
    identity_id: Uuid,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<RemoveIdentity, StoreError> {
    let tx = db.write.begin().await?;
    let removed = delete_identity(&tx, db.tenant(), user_id, identity_id).await?;
    if removed != RemoveIdentity::Removed {
        return Ok(removed);
    }
    touch_profile(&tx, db.tenant(), user_id, now).await?;
    crate::search::reindex(&tx, db.tenant(), user_id).await?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(RemoveIdentity::Removed)
}

/// Deletes one of the user's identities inside `tx`, unless it is their last.
async fn delete_identity(
    tx: &impl ConnectionTrait,
    tenant: &str,
    user_id: Uuid,
    identity_id: Uuid,
) -> Result<RemoveIdentity, StoreError> {
    use sea_orm::PaginatorTrait;
    let mine = identities::Entity::find_by_id(identity_id)
        .filter(identities::Column::TenantId.eq(tenant))
        .filter(identities::Column::UserId.eq(user_id))
        .one(tx)
        .await?;
    if mine.is_none() {
        return Ok(RemoveIdentity::NotFound);
    }
    let count = identities::Entity::find()
        .filter(identities::Column::UserId.eq(user_id))
        .count(tx)
        .await?;
    if count <= 1 {
        return Ok(RemoveIdentity::Last);
    }
    identities::Entity::delete_by_id(identity_id)
        .exec(tx)
        .await?;
    Ok(RemoveIdentity::Removed)
}

/// The user's password hash, if they have one.
pub async fn password_hash(db: &Db, user_id: Uuid) -> Result<Option<String>, StoreError> {
    Ok(password_credentials::Entity::find_by_id(user_id)
        .filter(password_credentials::Column::TenantId.eq(db.tenant()))
        .one(&db.read)
        .await?
        .map(|p| p.hash))
}

/// Disables or enables a user, recording `event`. Returns whether the user exists. A disabled
/// user's sessions and tokens stop working at once (every check reads `disabled_at`).
pub async fn set_disabled(
    db: &Db,
    user_id: Uuid,
    disabled: bool,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    let found = update_disabled(&tx, db.tenant(), user_id, disabled, now).await?;
    if found {
        touch_profile(&tx, db.tenant(), user_id, now).await?;
        audit::insert(&tx, db.tenant(), event, now).await?;
    }
    tx.commit().await?;
    Ok(found)
}

async fn update_disabled(
    tx: &impl ConnectionTrait,
    tenant: &str,
    user_id: Uuid,
    disabled: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let value: Option<i64> = disabled.then_some(to_millis(now));
    let updated = users::Entity::update_many()
        .col_expr(users::Column::DisabledAt, Expr::value(value))
        .filter(users::Column::TenantId.eq(tenant))
        .filter(users::Column::Id.eq(user_id))
        .exec(tx)
        .await?;
    Ok(updated.rows_affected > 0)
}

/// A profile write the profile service has checked: the values, the version they replace (the
/// write is refused if the profile changed since) and its audit event.
#[derive(Debug)]
pub struct ProfileSave {
    pub write: ProfileWrite,
    pub expected_updated_at: DateTime<Utc>,
    pub event: NewEvent,
}

/// What a provisioning client (SCIM `PUT`/`PATCH`) states of an existing user, written in one
/// transaction with one audit event per part: all of it lands, or none.
#[derive(Debug, Default)]
pub struct Provision {
    pub profile: Option<ProfileSave>,
    /// Login IDs to add, before any is removed (so the user always keeps one).
    pub add: Vec<(NewIdentity, NewEvent)>,
    /// Identities (by id) to remove; one already gone is skipped.
    pub remove: Vec<(Uuid, NewEvent)>,
    pub external_id: Option<(Option<String>, NewEvent)>,
    pub disabled: Option<(bool, NewEvent)>,
}

/// How a [`provision`] ended; anything but `Done` wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioned {
    Done,
    NoSuchUser,
    /// The profile changed since it was read: try again.
    ProfileChanged,
    /// A login ID to add belongs to another account.
    Taken,
    /// The removals would leave the user without a login ID.
    LastIdentity,
}

/// Writes `p` for `user_id` in one transaction (see [`Provision`]).
pub async fn provision(
    db: &Db,
    user_id: Uuid,
    p: Provision,
    now: DateTime<Utc>,
) -> Result<Provisioned, StoreError> {
    let tenant = db.tenant();
    let now_ms = to_millis(now);
    let tx = db.write.begin().await?;
    if !user_in_tenant(&tx, tenant, user_id).await? {
        return Ok(Provisioned::NoSuchUser);
    }
    let mut events = Vec::new();
    let profile_written = p.profile.is_some();
    if let Some(save) = p.profile {
        if !write_profile(
            &tx,
            tenant,
            user_id,
            save.write,
            save.expected_updated_at,
            now,
        )
        .await?
        {
            return Ok(Provisioned::ProfileChanged);
        }
        events.push(save.event);
    }
    for (identity, event) in p.add {
        match insert_identity(&tx, tenant, Uuid::now_v7(), user_id, identity, now_ms).await {
            Ok(()) => events.push(event),
            Err(StoreError::Conflict(_)) => return Ok(Provisioned::Taken),
            Err(e) => return Err(e),
        }
    }
    for (identity_id, event) in p.remove {
        match delete_identity(&tx, tenant, user_id, identity_id).await? {
            RemoveIdentity::Removed => events.push(event),
            RemoveIdentity::NotFound => {}
            RemoveIdentity::Last => return Ok(Provisioned::LastIdentity),
        }
    }
    if let Some((external_id, event)) = p.external_id {
        update_external_id(&tx, tenant, user_id, external_id).await?;
        events.push(event);
    }
    if let Some((disabled, event)) = p.disabled {
        update_disabled(&tx, tenant, user_id, disabled, now).await?;
        events.push(event);
    }
    if events.is_empty() {
        return Ok(Provisioned::Done);
    }
    if !profile_written {
        touch_profile(&tx, tenant, user_id, now).await?;
    }
    crate::search::reindex(&tx, tenant, user_id).await?;
    for event in events {
        audit::insert(&tx, tenant, event, now).await?;
    }
    tx.commit().await?;
    Ok(Provisioned::Done)
}

/// Deletes a user; their profile, identities, password, sessions, grants, tokens and consents go
/// with them (foreign keys cascade). Returns whether the user existed.
pub async fn delete_user(
    db: &Db,
    user_id: Uuid,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    let deleted = users::Entity::delete_many()
        .filter(users::Column::TenantId.eq(db.tenant()))
        .filter(users::Column::Id.eq(user_id))
        .exec(&tx)
        .await?;
    if deleted.rows_affected > 0 {
        audit::insert(&tx, db.tenant(), event, now).await?;
    }
    tx.commit().await?;
    Ok(deleted.rows_affected > 0)
}

/// Sets whether the user's identity is verified (admin action), recording `event`. Returns
/// whether the user has such an identity.
pub async fn set_identity_verified(
    db: &Db,
    user_id: Uuid,
    kind: IdentityKind,
    verified: bool,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<bool, StoreError> {
    let tx = db.write.begin().await?;
    let value: Option<i64> = verified.then_some(to_millis(now));
    let updated = identities::Entity::update_many()
        .col_expr(identities::Column::VerifiedAt, Expr::value(value))
        .filter(identities::Column::TenantId.eq(db.tenant()))
        .filter(identities::Column::UserId.eq(user_id))
        .filter(identities::Column::Kind.eq(kind.as_str()))
        .exec(&tx)
        .await?;
    if updated.rows_affected > 0 {
        audit::insert(&tx, db.tenant(), event, now).await?;
    }
    tx.commit().await?;
    Ok(updated.rows_affected > 0)
}

/// The stored value of an `oidc` identity: the upstream's issuer and the user's `sub` there. An
/// issuer URL has no fragment, so the first `#` separates them.
pub fn oidc_identity_value(issuer: &str, subject: &str) -> String {
    format!("{issuer}#{subject}")
}

/// The issuer and subject of an `oidc` identity's value.
pub fn parse_oidc_identity(value: &str) -> Option<(&str, &str)> {
    value.split_once('#')
}

/// Removes one of the user's identities unless the user would be left with no way to sign in: no
/// other upstream link, no verified email address (to reset a password with), and no password
/// with an email or username to type. One transaction.
pub async fn remove_identity_keeping_sign_in(
    db: &Db,
    user_id: Uuid,
    identity_id: Uuid,
    now: DateTime<Utc>,
    event: NewEvent,
) -> Result<RemoveIdentity, StoreError> {
    let tx = db.write.begin().await?;
    let all = identities::Entity::find()
        .filter(identities::Column::TenantId.eq(db.tenant()))
        .filter(identities::Column::UserId.eq(user_id))
        .all(&tx)
        .await?;
    if !all.iter().any(|i| i.id == identity_id) {
        return Ok(RemoveIdentity::NotFound);
    }
    let has_password = password_credentials::Entity::find_by_id(user_id)
        .filter(password_credentials::Column::TenantId.eq(db.tenant()))
        .one(&tx)
        .await?
        .is_some();
    let can_sign_in =
        all.iter()
            .filter(|i| i.id != identity_id)
            .any(|i| match IdentityKind::parse(&i.kind) {
                Some(IdentityKind::Oidc) => true,
                Some(IdentityKind::Email) => i.verified_at.is_some() || has_password,
                Some(IdentityKind::Username) => has_password,
                _ => false,
            });
    if !can_sign_in {
        return Ok(RemoveIdentity::Last);
    }
    identities::Entity::delete_by_id(identity_id)
        .exec(&tx)
        .await?;
    crate::search::reindex(&tx, db.tenant(), user_id).await?;
    audit::insert(&tx, db.tenant(), event, now).await?;
    tx.commit().await?;
    Ok(RemoveIdentity::Removed)
}

/// Whether `user_id` is a user of `tenant` (checked inside a write before it touches rows keyed by
/// the user id alone).
pub(crate) async fn user_in_tenant(
    conn: &impl ConnectionTrait,
    tenant: &str,
    user_id: Uuid,
) -> Result<bool, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(users::Entity::find()
        .filter(users::Column::TenantId.eq(tenant))
        .filter(users::Column::Id.eq(user_id))
        .count(conn)
        .await?
        > 0)
}

/// Replaces a password hash that still is `old` (an imported or weaker hash, upgraded at
/// sign-in) with `new`; `false` when the password changed meanwhile (then nothing is written).
pub async fn rehash_password(
    db: &Db,
    user_id: Uuid,
    old: &str,
    new: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = password_credentials::Entity::update_many()
        .col_expr(password_credentials::Column::Hash, Expr::value(new))
        .col_expr(
            password_credentials::Column::UpdatedAt,
            Expr::value(to_millis(now)),
        )
        .filter(password_credentials::Column::TenantId.eq(db.tenant()))
        .filter(password_credentials::Column::UserId.eq(user_id))
        .filter(password_credentials::Column::Hash.eq(old))
        .exec(&db.write)
        .await?;
    Ok(done.rows_affected > 0)
}
