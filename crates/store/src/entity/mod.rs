//! SeaORM entities, one module per table. Times are Unix milliseconds.

pub mod admin_keys;
pub mod audit_events;
pub mod authorization_codes;
pub mod clients;
pub mod consents;
pub mod custom_attributes;
pub mod grants;
pub mod identities;
pub mod images;
pub mod mfa_challenges;
pub mod mfa_factors;
pub mod password_credentials;
pub mod profile_schema_version;
pub mod profile_search;
pub mod profiles;
pub mod refresh_tokens;
pub mod revoked_access_tokens;
pub mod server_secrets;
pub mod sessions;
pub mod signing_keys;
pub mod standard_attribute_access;
pub mod tenants;
pub mod throttles;
pub mod upstream_logins;
pub mod users;
pub mod verification_codes;
