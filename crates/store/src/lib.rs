//! Tessera's data layer: the SeaORM entities, the connection to SQLite or PostgreSQL, migrations,
//! and every query the server runs. No other crate writes SQL or knows which backend is in use.
//!
//! Writes that touch several tables run in one transaction inside the function that performs them,
//! so a refused or failed write leaves nothing behind.

pub mod accounts;
pub mod admin_keys;
pub mod audit;
pub mod clients;
mod clock;
mod db;
pub mod entity;
pub mod groups;
pub mod housekeeping;
pub mod images;
pub mod mfa;
pub mod oauth;
pub mod profile_schema;
pub mod search;
pub mod server_secrets;
pub mod sessions;
pub mod signing_keys;
#[cfg(test)]
mod tenant_migration_tests;
pub mod tenants;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
pub mod throttles;
pub mod upstream_logins;
pub mod userinfo;
pub mod verification_codes;
pub mod webhooks;

pub use clock::{Clock, ManualClock, SystemClock, from_millis, to_millis};
pub use db::{DEFAULT_TENANT, Db, DbSettings};
pub use uuid::Uuid;

/// What can go wrong in the data layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value (login ID, client id, …) is already taken.
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// The row the caller named does not exist.
    #[error("not found")]
    NotFound,
    /// A single-use value (a verification code) was used by someone else first.
    #[error("already used")]
    AlreadyUsed,
    /// A search that no index can answer (it would read every row of a tenant).
    #[error("no index answers this search")]
    Unindexed,
    /// Stored data could not be read back (a corrupted or hand-edited row).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`], anything else to `Database`.
    pub(crate) fn conflict_or(err: sea_orm::DbErr, what: &'static str) -> Self {
        match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(what),
            _ => StoreError::Database(err),
        }
    }
}
