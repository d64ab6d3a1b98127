//! A fresh, migrated database for each test.
//!
//! `TESSERA_TEST_DATABASE_URL` chooses the backend: unset (or a `sqlite:` URL) gives a new SQLite
//! file in a temporary directory; a `postgres://…` URL names a server and a maintenance database on
//! it, and each test gets a new database `tessera_t_<random>` there (the test command drops them
//! before each run).

use crate::{Db, DbSettings, StoreError};
use sea_orm::{ConnectionTrait, Database};
use std::path::PathBuf;

pub const ENV: &str = "TESSERA_TEST_DATABASE_URL";

/// A test's own database. The SQLite directory is removed on drop.
#[derive(Debug)]
pub struct TestDatabase {
    pub db: Db,
    /// The URL of this test's database, for a server or CLI the test starts.
    pub url: String,
    dir: Option<PathBuf>,
}

impl TestDatabase {
    /// Creates and migrates a new database.
    pub async fn create() -> Result<Self, StoreError> {
        let (url, dir) = Self::create_empty().await?;
        let db = Db::connect(&url, &DbSettings { max_connections: 4 }).await?;
        db.migrate().await?;
        Ok(Self { db, url, dir })
    }

    /// Creates a new, empty database (no migrations) and returns its URL and, for SQLite, its
    /// directory.
    pub async fn create_empty() -> Result<(String, Option<PathBuf>), StoreError> {
        let name = format!("tessera_t_{}", uuid::Uuid::new_v4().simple());
        match std::env::var(ENV) {
            Ok(admin_url) if admin_url.starts_with("postgres") => {
                let admin = Database::connect(admin_url.as_str()).await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await?;
                admin.close().await?;
                Ok((replace_database(&admin_url, &name), None))
            }
            _ => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).map_err(|e| {
                    StoreError::Database(sea_orm::DbErr::Custom(format!("temp dir: {e}")))
                })?;
                let url = format!("sqlite://{}?mode=rwc", dir.join("tessera.db").display());
                Ok((url, Some(dir)))
            }
        }
    }

    /// True when the tests run against PostgreSQL.
    pub fn is_postgres() -> bool {
        std::env::var(ENV).is_ok_and(|u| u.starts_with("postgres"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `postgres://u@h:p/old?x` with the database name replaced.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::replace_database("postgres://h:1?sslmode=disable", "x"),
            "postgres://h:1/x?sslmode=disable"
        );
    }
}
