//! SeaORM entities, one module per table. Times are Unix milliseconds.

pub mod admin_keys;
pub mod audit_events;
pub mod clients;
pub mod identities;
pub mod password_credentials;
pub mod profiles;
pub mod sessions;
pub mod signing_keys;
pub mod users;
