//! The one services handle: everything the use cases run with, built once at start-up and shared
//! by both HTTP faces (the pages crate and the Admin API), which hold it and pass its parts to
//! the domain functions they call.

use auth::brute_force::BruteForcePolicy;
use auth::codes::CodePolicy;
use auth::delivery::{Mailer, SmsSender};
use auth::rate_limits::RateLimits;
use auth::{PasswordHasher, PasswordPolicy, SessionPolicy};
use profile::ProfileService;
use std::sync::Arc;
use store::{Clock, Db};

/// The services of one tenant (SPEC §11): `db` is scoped to it, `provider` has its issuer and
/// keys, `profiles` its schema. Built on first use by [`crate::tenants::Registry`].
#[derive(Debug, Clone)]
pub struct Services {
    /// Which tenant these are.
    pub tenant: Arc<crate::tenants::TenantInfo>,
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    /// The OpenID provider: keys, the client cache, the token endpoint's failure limiter.
    pub provider: Arc<crate::Provider>,
    /// The profile schema (cached) and the profile use cases.
    pub profiles: Arc<ProfileService>,
    /// The upstream OpenID providers people of this tenant can sign in with.
    pub upstreams: Arc<crate::upstream::Upstreams>,
    pub hasher: PasswordHasher,
    pub password_policy: PasswordPolicy,
    pub session_policy: SessionPolicy,
    pub brute_force: BruteForcePolicy,
    pub code_policy: CodePolicy,
    /// Sign-ups per client address and refused token requests (`[limits]`).
    pub rate_limits: RateLimits,
    pub mailer: Mailer,
    pub sms: SmsSender,
    /// New users prove their email address before anything else continues.
    pub require_email_verification: bool,
    /// Every user has a second factor (`mfa.policy = "required"`): one without adds one first.
    pub require_second_factor: bool,
    /// The login IDs people may sign in with and add besides their email address.
    pub login_ids: auth::login_id::EnabledLoginIds,
    /// New profiles get a generated nickname.
    pub generate_nickname: bool,
    /// Seals webhook secrets (one key for the server, every tenant).
    pub webhook_secrets: auth::webhooks::SecretBox,
}
