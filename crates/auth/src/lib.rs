//! Accounts, passwords, sessions and other credentials.
//!
//! Functions here take plain values, a [`store::Db`] and a [`store::Clock`], and return typed
//! errors; they know nothing of HTTP.

pub mod accounts;
pub mod admin_keys;
pub mod audit;
pub mod brute_force;
pub mod codes;
pub mod delivery;
pub mod housekeeping;
pub mod login_id;
pub mod login_ids;
pub mod passwords;
pub mod rate_limits;
pub mod secrets;
pub mod sessions;
pub mod users;
pub mod verification;

pub use accounts::{LoginError, SignUpError};
pub use passwords::{Argon2Params, PasswordError, PasswordHasher, PasswordPolicy};
pub use sessions::{SessionError, SessionPolicy, SessionToken, StartedSession};

/// The database failed; the caller can only report it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct InternalError(#[from] pub store::StoreError);
