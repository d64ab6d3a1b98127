//! The UserInfo read: the hottest query Tessera runs, so it has its own module. One round trip
//! answers whether the access token is live (not revoked by `jti`, its grant live, its user
//! enabled, its client registered), whether the client is a third party, and the user's profile
//! and identities.
//!
//! - The columns are one list ([`Col`]); the single-read SQL (sea-query, built once per backend
//!   and bound by position) and the grouped PostgreSQL SQL are both built from it.
//! - SQLite: the query runs on a read-only connection on the calling thread
//!   ([`sqlite_readers`]), falling back to the pool when the file is busy.
//! - PostgreSQL: reads that arrive while one is in flight share one statement
//!   ([`grouped_reads`]); a lone read goes at once.
//! - Rows are decoded by position into a [`UserInfoBundle`] ([`BundleBuilder`]) whichever
//!   driver read them.

pub(crate) mod grouped_reads;
pub(crate) mod sqlite_readers;

use crate::entity::{grants, revoked_access_tokens, users};
use crate::{Db, StoreError, from_millis};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use uuid::Uuid;

/// Everything UserInfo needs, in one round trip: whether the token is live (not revoked by
/// `jti`, its grant live, its user enabled, its client registered), whether the client is a third
/// party, the user's profile and identities. `None` when the token is dead.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfoBundle {
    pub third_party: bool,
    pub profile: crate::accounts::StoredProfile,
    pub identities: Vec<crate::accounts::Identity>,
    /// The names of the user's groups, sorted.
    pub groups: Vec<String>,
}

/// Which request value goes into a placeholder of the prepared UserInfo query.
#[derive(Debug, Clone)]
enum Slot {
    Tenant,
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

const SENTINEL_TENANT: &str = "\u{1}tessera:tenant";
const SENTINEL_JTI: &str = "\u{1}tessera:jti";
const SENTINEL_CLIENT: &str = "\u{1}tessera:client";
const SENTINEL_GRANT: Uuid = Uuid::max();

fn prepare_userinfo(backend: sea_orm::DbBackend) -> Option<PreparedQuery> {
    use sea_orm::sea_query::Value;
    let stmt = backend.build(&userinfo_query(
        backend,
        SENTINEL_TENANT,
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
            Value::String(Some(s)) if s == SENTINEL_TENANT => Some(Slot::Tenant),
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

/// The single-read UserInfo query (see [`read`]).
fn userinfo_query(
    backend: sea_orm::DbBackend,
    tenant: &str,
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
    let mut query = Query::select();
    for col in Col::ALL {
        match col.source() {
            Source::Column(table, column) => {
                query.expr_as(
                    Expr::col((Alias::new(table), Alias::new(column))),
                    col.name(),
                );
            }
            Source::Sql(sql) => {
                query.expr_as(Expr::cust(sql(backend)), col.name());
            }
        }
    }
    query
        .from(grants::Entity)
        .inner_join(
            users::Entity,
            Expr::col((users::Entity, users::Column::Id))
                .equals((grants::Entity, grants::Column::UserId)),
        )
        .inner_join(
            clients::Entity,
            Expr::col((clients::Entity, clients::Column::ClientId))
                .equals((grants::Entity, grants::Column::ClientId))
                .and(
                    Expr::col((clients::Entity, clients::Column::TenantId))
                        .equals((grants::Entity, grants::Column::TenantId)),
                ),
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
        .and_where(Expr::col((grants::Entity, grants::Column::TenantId)).eq(tenant))
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

/// The UserInfo bundle of one access token (see [`UserInfoBundle`]): on SQLite read on the
/// calling thread, on PostgreSQL grouped with the reads that arrive with it.
pub async fn read(
    db: &Db,
    jti: &str,
    client_id: &str,
    grant_id: Uuid,
) -> Result<Option<UserInfoBundle>, StoreError> {
    let backend = db.read.get_database_backend();
    let Some(prepared) = prepared_userinfo(backend) else {
        let rows = db
            .read
            .query_all(&userinfo_query(
                backend,
                db.tenant(),
                jti,
                client_id,
                grant_id,
            ))
            .await?;
        return bundle_from_rows(rows.iter());
    };
    if let Some(readers) = &db.sqlite_readers {
        match userinfo_bundle_here(readers, prepared, db.tenant(), jti, client_id, grant_id) {
            Ok(bundle) => return bundle,
            Err(sqlite_readers::ReadError::Busy(_)) => {}
            Err(e) => tracing::warn!(error = %e, "UserInfo read on the calling thread failed"),
        }
    }
    if let Some(grouped) = &db.grouped_reads {
        let key = grouped_reads::ReadKey {
            tenant: db.tenant().to_owned(),
            jti: jti.to_owned(),
            client_id: client_id.to_owned(),
            grant_id,
        };
        if let Some(answer) = grouped.read(key).await {
            return answer;
        }
        // Not answered in a group (no runtime, or it stopped): one statement of its own.
        return userinfo_bundle_postgres(
            &grouped.pool,
            prepared,
            db.tenant(),
            jti,
            client_id,
            grant_id,
        )
        .await;
    }
    let values: Vec<sea_orm::sea_query::Value> = prepared
        .slots
        .iter()
        .map(|slot| match slot {
            Slot::Tenant => db.tenant().into(),
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
    readers: &sqlite_readers::SqliteReaders,
    prepared: &PreparedQuery,
    tenant: &str,
    jti: &str,
    client_id: &str,
    grant_id: Uuid,
) -> Result<Result<Option<UserInfoBundle>, StoreError>, sqlite_readers::ReadError> {
    // sqlx stores UUIDs in SQLite as 16-byte blobs.
    let grant = grant_id.as_bytes();
    let values = prepared.slots.iter().map(|slot| -> &dyn rusqlite::ToSql {
        match slot {
            Slot::Tenant => &tenant,
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
    tenant: &str,
    jti: &str,
    client_id: &str,
    grant_id: Uuid,
) -> Result<Option<UserInfoBundle>, StoreError> {
    let mut query = sea_orm::sqlx::query(prepared.sql.as_str());
    for slot in &prepared.slots {
        query = match slot {
            Slot::Tenant => query.bind(tenant),
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

/// The UserInfo query's columns: the one list both the single query ([`userinfo_query`]) and the
/// grouped one ([`grouped_reads`]) select from, in this order (rows are read by position:
/// looking columns up by name cost more than the rest of the decoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    ThirdParty,
    UserId,
    Standard,
    Custom,
    Annotations,
    AvatarSeed,
    UpdatedAt,
    IdentityId,
    Kind,
    Value,
    VerifiedAt,
    IdentityCreatedAt,
    Groups,
}

/// Where a UserInfo column comes from.
pub(crate) enum Source {
    /// A table's column.
    Column(&'static str, &'static str),
    /// An expression, written per backend.
    Sql(fn(sea_orm::DbBackend) -> String),
}

/// The names of the user's groups as a JSON array: a correlated subquery over the
/// `group_members (tenant_id, user_id)` index, so the groups come in the same round trip.
fn groups_sql(backend: sea_orm::DbBackend) -> String {
    let aggregate = match backend {
        sea_orm::DbBackend::Postgres => "COALESCE(json_agg(groups.name), '[]'::json)",
        _ => "json_group_array(groups.name)",
    };
    format!(
        "(SELECT {aggregate} FROM group_members \
         INNER JOIN groups ON groups.id = group_members.group_id \
         WHERE group_members.tenant_id = grants.tenant_id \
         AND group_members.user_id = grants.user_id)"
    )
}

impl Col {
    /// Every column, in the order the queries select them.
    pub(crate) const ALL: [Col; 13] = [
        Col::ThirdParty,
        Col::UserId,
        Col::Standard,
        Col::Custom,
        Col::Annotations,
        Col::AvatarSeed,
        Col::UpdatedAt,
        Col::IdentityId,
        Col::Kind,
        Col::Value,
        Col::VerifiedAt,
        Col::IdentityCreatedAt,
        Col::Groups,
    ];

    /// Where each comes from.
    pub(crate) fn source(self) -> Source {
        let (table, column) = match self {
            Col::Groups => return Source::Sql(groups_sql),
            Col::ThirdParty => ("clients", "third_party"),
            Col::UserId => ("grants", "user_id"),
            Col::Standard => ("profiles", "standard"),
            Col::Custom => ("profiles", "custom"),
            Col::Annotations => ("profiles", "annotations"),
            Col::AvatarSeed => ("profiles", "avatar_seed"),
            Col::UpdatedAt => ("profiles", "updated_at"),
            Col::IdentityId => ("identities", "id"),
            Col::Kind => ("identities", "kind"),
            Col::Value => ("identities", "value"),
            Col::VerifiedAt => ("identities", "verified_at"),
            Col::IdentityCreatedAt => ("identities", "created_at"),
        };
        Source::Column(table, column)
    }

    /// What the queries call it (`AS …`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Col::ThirdParty => "third_party",
            Col::UserId => "user_id",
            Col::Standard => "standard",
            Col::Custom => "custom",
            Col::Annotations => "annotations",
            Col::AvatarSeed => "avatar_seed",
            Col::UpdatedAt => "updated_at",
            Col::IdentityId => "identity_id",
            Col::Kind => "kind",
            Col::Value => "value",
            Col::VerifiedAt => "verified_at",
            Col::IdentityCreatedAt => "identity_created_at",
            Col::Groups => "groups",
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
                    annotations: row.json(Col::Annotations)?,
                    avatar_seed: required(row.text(Col::AvatarSeed), Col::AvatarSeed)?,
                    cover: None,
                    updated_at: from_millis(required(row.int(Col::UpdatedAt), Col::UpdatedAt)?),
                };
                let mut groups: Vec<String> = match row.json(Col::Groups)? {
                    serde_json::Value::Array(names) => names
                        .into_iter()
                        .filter_map(|n| match n {
                            serde_json::Value::String(s) => Some(s),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                groups.sort_unstable();
                self.bundle.insert(UserInfoBundle {
                    third_party: row.flag(Col::ThirdParty)?,
                    profile,
                    identities: Vec::new(),
                    groups,
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

#[cfg(test)]
mod prepared_tests {
    use super::*;

    #[test]
    fn the_userinfo_query_is_prepared_for_both_backends() {
        for backend in [sea_orm::DbBackend::Sqlite, sea_orm::DbBackend::Postgres] {
            let prepared = prepare_userinfo(backend).expect("every value is a request value");
            assert_eq!(prepared.slots.len(), 4, "{backend:?}");
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
