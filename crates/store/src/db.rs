//! Connecting to SQLite or PostgreSQL and applying migrations.

use crate::StoreError;
use crate::userinfo::grouped_reads::GroupedReads;
use crate::userinfo::sqlite_readers::SqliteReaders;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use std::sync::Arc;
use std::time::Duration;

/// The tenant every database has, served at the root issuer.
pub const DEFAULT_TENANT: &str = "default";

/// Connection settings that do not belong in the URL.
#[derive(Debug, Clone)]
pub struct DbSettings {
    /// Connections in the pool (PostgreSQL), or readers beside the single writer (SQLite).
    pub max_connections: u32,
}

impl Default for DbSettings {
    fn default() -> Self {
        Self { max_connections: 8 }
    }
}

/// A handle on the database.
///
/// SQLite allows one writer at a time; a pool that lets several connections start write
/// transactions turns load into `database is locked` errors. So on SQLite every write goes
/// through a pool of exactly one connection (`write`), and reads use a pool of several (`read`),
/// with WAL so readers never wait for the writer. On PostgreSQL both are the same pool.
///
/// A SQLite file also gets read-only connections used synchronously on the caller's thread for
/// the hottest read (see [`crate::userinfo`]); on PostgreSQL that read goes to sqlx's pool
/// directly, grouped (see [`crate::userinfo`]), since SeaORM's query future costs more to move
/// around than the query.
///
/// A handle is scoped to one tenant ([`Db::tenant`]): every query it runs reads and writes that
/// tenant's rows only, and every row it inserts belongs to it. [`Db::connect`] gives the
/// `default` tenant; [`Db::in_tenant`] another one over the same connections. Only
/// [`crate::tenants`] and the housekeeping sweep work across tenants.
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) tenant: Arc<str>,
    pub(crate) read: DatabaseConnection,
    pub(crate) write: DatabaseConnection,
    pub(crate) sqlite_readers: Option<Arc<SqliteReaders>>,
    /// PostgreSQL: UserInfo reads that arrive together share a statement.
    pub(crate) grouped_reads: Option<Arc<GroupedReads>>,
}

impl Db {
    /// Opens the database named by `url` (`sqlite:…` or `postgres://…`), creating the SQLite file
    /// and its directory when missing. Does not run migrations: see [`Db::migrate`].
    pub async fn connect(url: &str, settings: &DbSettings) -> Result<Self, StoreError> {
        if is_sqlite(url) {
            let path = sqlite_path(url);
            if let Some(dir) = path
                .as_ref()
                .and_then(|p| p.parent().map(|d| d.to_path_buf()))
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(&dir).map_err(|e| {
                    StoreError::Database(sea_orm::DbErr::Custom(format!(
                        "cannot create {}: {e}",
                        dir.display()
                    )))
                })?;
            }
            let write = Database::connect(sqlite_options(url, 1)).await?;
            let read =
                Database::connect(sqlite_options(url, settings.max_connections.max(1))).await?;
            Ok(Self {
                tenant: Arc::from(DEFAULT_TENANT),
                read,
                write,
                // An in-memory database is private to its connection: nothing to share.
                // The file exists now; its absolute path keeps working if the directory changes.
                sqlite_readers: path.map(|p| {
                    let p = std::fs::canonicalize(&p).unwrap_or(p);
                    Arc::new(SqliteReaders::new(&p))
                }),
                grouped_reads: None,
            })
        } else {
            let mut opts = ConnectOptions::new(url.to_owned());
            opts.max_connections(settings.max_connections.max(1))
                .min_connections(1)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(Duration::from_secs(10))
                // A connection idle for a while is pinged before use (the server may have
                // restarted); a busy one is not, which saves a round trip per query.
                .test_before_acquire_if_idle_for(Duration::from_secs(30))
                .sqlx_logging(false);
            let conn = Database::connect(opts).await?;
            let grouped_reads = (conn.get_database_backend() == DbBackend::Postgres).then(|| {
                Arc::new(GroupedReads::new(
                    conn.get_postgres_connection_pool().clone(),
                ))
            });
            Ok(Self {
                tenant: Arc::from(DEFAULT_TENANT),
                read: conn.clone(),
                write: conn,
                sqlite_readers: None,
                grouped_reads,
            })
        }
    }

    /// The tenant this handle reads and writes.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The same database, scoped to tenant `id` (which the caller has checked exists).
    pub fn in_tenant(&self, id: &str) -> Db {
        Db {
            tenant: Arc::from(id),
            ..self.clone()
        }
    }

    /// Applies pending migrations, then fills derived data a migration cannot compute in SQL
    /// (the user search index of a database from before it existed).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.write, None).await?;
        let indexed = crate::search::rebuild_if_empty(self).await?;
        if indexed > 0 {
            tracing::info!(users = indexed, "built the user search index");
        }
        Ok(())
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read.ping().await?;
        Ok(())
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.write.get_database_backend() {
            DbBackend::Sqlite => "sqlite",
            DbBackend::Postgres => "postgres",
            _ => "other",
        }
    }

    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
    }
}

fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// The file path in a `sqlite:` URL, or `None` for an in-memory database.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        None
    } else {
        Some(std::path::PathBuf::from(path))
    }
}

fn sqlite_options(url: &str, connections: u32) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        // An in-process SQLite connection cannot drop like a network one; pinging it before each
        // use would add a round trip to its thread for every query.
        .test_before_acquire(false)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // An acknowledged write (a new account, a revoked session) must survive power loss.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    opts
}

#[cfg(test)]
mod tests {
    use super::sqlite_path;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://data/tessera.db?mode=rwc").as_deref(),
            Some(std::path::Path::new("data/tessera.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:/tmp/x.db").as_deref(),
            Some(std::path::Path::new("/tmp/x.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
