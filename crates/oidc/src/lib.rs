//! The OpenID Connect provider: clients, keys, authorization codes, tokens, UserInfo and logout.
//! Nothing here knows HTTP: the web crate parses requests and renders what these functions return.

pub mod acr;
pub mod authorize;
pub mod clients;
pub mod consents;
pub mod error;
pub mod keys;
pub mod logout;
pub mod provider;
pub mod services;
pub mod tenant_settings;
pub mod tenants;
pub mod tokens;
pub mod upstream;

pub use error::{ErrorCode, OAuthError};
pub use keys::SigningAlg;
pub use provider::{Provider, ProviderSettings};
pub use services::Services;
pub mod bearer;
pub mod client_auth;
pub mod client_cache;
pub mod grants;
pub mod revocation;
pub mod userinfo;
