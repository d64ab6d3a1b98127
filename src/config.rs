//! Configuration: built-in defaults, overlaid by `config/tessera.toml` (if present), by the file
//! given with `--config`, then by `TESSERA__SECTION__KEY` environment variables; `DATABASE_URL`
//! overrides `database.url`. Unknown keys and bad values stop start-up with a one-line message that
//! names the key.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;

/// The file read when present, relative to the working directory.
pub const DEFAULT_FILE: &str = "config/tessera.toml";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub session: SessionConfig,
    pub password: PasswordConfig,
    pub tokens: TokensConfig,
    pub profile: ProfileConfig,
    pub brute_force: BruteForceConfig,
    pub smtp: SmtpConfig,
    pub sms: SmsConfig,
    pub verification: VerificationConfig,
    pub log: LogConfig,
    pub limits: LimitsConfig,
    pub images: ImagesConfig,
    /// Upstream OpenID providers people can sign in with (`[[upstream]]` entries).
    pub upstream: Vec<UpstreamConfig>,
    /// The login IDs people may use besides their email address (`[login_ids]`).
    pub login_ids: LoginIdsConfig,
    /// Tenants' settings and upstream providers (`[[tenant]]`, `[[tenant.upstream]]`).
    pub tenant: Vec<TenantConfig>,
    /// Two-step verification (`[mfa]`).
    pub mfa: MfaConfig,
    /// Webhook delivery (`[webhooks]`).
    pub webhooks: WebhooksConfig,
    /// Webhooks of the default tenant declared here (`[[webhook]]`), made at start-up.
    pub webhook: Vec<WebhookConfig>,
}

/// `[webhooks]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Deliver to loopback, link-local and private addresses too (tests, a receiver on the same
    /// network). Off: such addresses are refused whatever a URL or a name resolves to.
    pub allow_private: bool,
    /// How often each process looks for events to deliver when it found none, in milliseconds.
    pub poll_interval_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            poll_interval_ms: 1000,
        }
    }
}

/// A `[[webhook]]` entry: `url`, `events` (audit types, or `"*"`), optional `exclude_actor` (an
/// admin key id) and `secret` (16 to 256 printable characters; required here, since nothing
/// shows a generated one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub exclude_actor: Option<String>,
    pub secret: String,
}

/// `[mfa]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    /// `optional` (people choose) or `required` (a user without a second factor adds one right
    /// after signing in, before anything else continues).
    pub policy: String,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            policy: "optional".into(),
        }
    }
}

/// `[login_ids]`: login IDs beyond the email address every account has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginIdsConfig {
    /// People may add a phone number (verified by SMS) in their settings.
    pub phone: bool,
    /// People may sign in with a username.
    pub username: bool,
}

impl Default for LoginIdsConfig {
    fn default() -> Self {
        Self {
            phone: true,
            username: true,
        }
    }
}

/// One `[[tenant]]` entry (SPEC §11). A tenant named here is created at start-up when missing;
/// its settings are defaults that its stored settings (`PATCH /admin/api/v1/tenants/{id}`)
/// override.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantConfig {
    pub id: String,
    /// The display name it is created with (default: the id).
    pub name: String,
    pub email_verification_required: Option<bool>,
    pub password_min_length: Option<usize>,
    /// Of `email`, `phone`, `username`; with `email`.
    pub login_ids: Option<Vec<String>>,
    /// `optional` or `required` (as `mfa.policy`).
    pub mfa_policy: Option<String>,
    /// Its upstream OpenID providers (same keys as `[[upstream]]`).
    pub upstream: Vec<UpstreamConfig>,
}

/// One `[[upstream]]` entry: an OpenID provider people can sign in with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// In URLs (`/login/upstream/{id}`, callback `{issuer}/login/upstream/{id}/callback`).
    pub id: String,
    /// On the login button: "Sign in with {name}". Defaults to the id.
    pub name: String,
    /// The provider's issuer URL; its discovery document is read from
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Empty for a public client (PKCE only).
    pub client_secret: String,
    pub scopes: Vec<String>,
    /// `on_signup`, `every_login` or `none`.
    pub population: String,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            id: String::new(),
            name: String::new(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            population: "on_signup".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// `smtp://host:port`, `smtps://user:password@host`, `smtp://host?tls=required`; empty writes
    /// each email as an `.eml` file in `file_dir` instead.
    pub url: String,
    pub from: String,
    pub file_dir: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            from: "Tessera <no-reply@localhost>".into(),
            file_dir: "data/mail".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// `log`, `file` (into `file_dir`) or `webhook` (JSON POST `{to, body}` to `webhook_url`).
    pub sender: String,
    pub webhook_url: String,
    pub file_dir: String,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            sender: "log".into(),
            webhook_url: String::new(),
            file_dir: "data/sms".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerificationConfig {
    pub code_ttl_seconds: u64,
    pub max_attempts: u32,
    pub resend_cooldown_seconds: u64,
    pub per_target_per_hour: u32,
    pub per_ip_per_hour: u32,
    pub email: EmailVerificationConfig,
}

impl Default for VerificationConfig {
    fn default() -> Self {
        Self {
            code_ttl_seconds: 300,
            max_attempts: 5,
            resend_cooldown_seconds: 60,
            per_target_per_hour: 10,
            per_ip_per_hour: 30,
            email: EmailVerificationConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailVerificationConfig {
    /// New users confirm their email address with a code before anything else continues.
    pub required: bool,
}

impl Default for EmailVerificationConfig {
    fn default() -> Self {
        Self { required: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BruteForceConfig {
    /// Consecutive failures for one login ID before it is locked.
    pub max_failures: u32,
    /// The first lock; each further failure doubles it…
    pub lockout_seconds: u64,
    /// …up to this.
    pub max_lockout_seconds: u64,
    /// Failures one IP address may make in an hour.
    pub ip_failures_per_hour: u32,
}

impl Default for BruteForceConfig {
    fn default() -> Self {
        Self {
            max_failures: 10,
            lockout_seconds: 60,
            max_lockout_seconds: 3600,
            ip_failures_per_hour: 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileConfig {
    /// New profiles get a generated friendly nickname ("Brave Tiger 42").
    pub generate_nickname: bool,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        Self {
            generate_nickname: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    pub access_token_seconds: u64,
    pub refresh_token_seconds: u64,
    pub id_token_seconds: u64,
    pub authorization_code_seconds: u64,
    /// Algorithm of ID tokens (and logout tokens): RS256, ES256 or EdDSA.
    pub id_token_alg: String,
    /// Algorithm of access tokens: RS256, ES256 or EdDSA. ES256 by default: the token endpoint
    /// signs one per request, and an RSA signature costs tens of times more.
    pub access_token_alg: String,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            access_token_seconds: 600,
            refresh_token_seconds: 30 * 24 * 3600,
            id_token_seconds: 600,
            authorization_code_seconds: 60,
            id_token_alg: "RS256".into(),
            access_token_alg: "ES256".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: String,
    /// The issuer URL: what relying parties see; cookies are `Secure` when it is https.
    pub issuer: String,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Reverse proxies (IP addresses or CIDR ranges) whose `Forwarded` / `X-Forwarded-For` headers
    /// name the client. Empty (the default): the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// The header the trusted proxies write the client's address in: `x-forwarded-for` (default)
    /// or `forwarded` (RFC 7239). The other one is never read.
    pub forwarded_header: String,
    /// When set, `/metrics` requires `Authorization: Bearer <metrics_token>`.
    pub metrics_token: String,
    /// The display name of the root (`default`) tenant: page titles, header, emails, SMS.
    pub name: String,
}

/// Rate limits beyond brute-force protection (SPEC §8), kept in the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Accounts created through the sign-up page per client IP in an hour.
    pub signups_per_ip_per_hour: u32,
    /// Refused token-endpoint requests per client IP in an hour; then 429.
    pub token_failures_per_ip_per_hour: u32,
    /// Verification and reset codes sent for one account in a day.
    pub codes_per_account_per_day: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            signups_per_ip_per_hour: 20,
            token_failures_per_ip_per_hour: 300,
            codes_per_account_per_day: 10,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImagesConfig {
    /// Hosts besides Tessera itself that `/api/v1/users/{selector}/avatar|cover` may redirect to
    /// (a `picture` URL set by hand on another host); anything else answers 404.
    pub redirect_hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path?mode=rwc` or `postgres://user@host:port/db`.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session ends this long after sign-in, whatever happens.
    pub lifetime_seconds: u64,
    /// A session ends when unused for this long.
    pub idle_timeout_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    pub min_length: usize,
    pub max_length: usize,
    /// Argon2id memory cost in KiB (default 19456 = 19 MiB).
    pub argon2_memory_kib: u32,
    /// Argon2id time cost (passes).
    pub argon2_iterations: u32,
    /// Argon2id lanes.
    pub argon2_parallelism: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, `tessera=debug,info`, …; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            issuer: "http://127.0.0.1:8080".into(),
            workers: 0,
            trusted_proxies: Vec::new(),
            forwarded_header: "x-forwarded-for".into(),
            metrics_token: String::new(),
            name: "Tessera".into(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/tessera.db?mode=rwc".into(),
            max_connections: 16,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            lifetime_seconds: 14 * 24 * 3600,
            idle_timeout_seconds: 3 * 24 * 3600,
        }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        let argon2 = auth::Argon2Params::default();
        let policy = auth::PasswordPolicy::default();
        Self {
            min_length: policy.min_length,
            max_length: policy.max_length,
            argon2_memory_kib: argon2.memory_kib,
            argon2_iterations: argon2.iterations,
            argon2_parallelism: argon2.parallelism,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

/// A configuration error: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

fn from_figment(err: figment::Error) -> ConfigError {
    use figment::error::Kind;
    let mut path = err.path.join(".");
    let source = err
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(source) => source.to_string(),
            None => m.name.to_string(),
        })
        .map(|s| format!(" (from {s})"))
        .unwrap_or_default();
    let message = match &err.kind {
        Kind::UnknownField(field, _) => {
            if err.path.last() != Some(field) {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(field);
            }
            "unknown key".to_owned()
        }
        Kind::InvalidType(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::InvalidValue(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::Message(m) => m.replace('\n', " "),
        other => other.to_string(),
    };
    let key = if path.is_empty() {
        "(file)".to_owned()
    } else {
        path
    };
    ConfigError::new(key, format!("{message}{source}"))
}

impl Config {
    /// Loads the configuration from the standard sources and `file` (`--config`), with the process
    /// environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(
            file,
            Path::new(DEFAULT_FILE),
            Env::prefixed("TESSERA__").split("__"),
        )
    }

    /// Loads with an explicit default file and environment provider; for tests.
    pub fn load_from(
        file: Option<&Path>,
        default_file: &Path,
        env: Env,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if default_file.exists() {
            figment = figment.merge(Toml::file_exact(default_file));
        }
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("cannot read {}", file.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(env).merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database.url".into()),
        );
        let config: Config = figment.extract().map_err(from_figment)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that types alone do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        let issuer = url::Url::parse(&self.server.issuer)
            .map_err(|e| ConfigError::new("server.issuer", format!("not a URL: {e}")))?;
        if !matches!(issuer.scheme(), "http" | "https")
            || issuer.host().is_none()
            || issuer.query().is_some()
            || issuer.fragment().is_some()
            || self.server.issuer.ends_with('/')
        {
            return Err(ConfigError::new(
                "server.issuer",
                "must be an http(s) URL without query, fragment or trailing slash",
            ));
        }
        let db = &self.database.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "database.url",
                "must start with sqlite: or postgres://",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if self.session.lifetime_seconds == 0 {
            return Err(ConfigError::new(
                "session.lifetime_seconds",
                "must be at least 1",
            ));
        }
        if self.session.idle_timeout_seconds == 0 {
            return Err(ConfigError::new(
                "session.idle_timeout_seconds",
                "must be at least 1",
            ));
        }
        // A lifetime beyond ~100 years overflows time arithmetic and means nothing.
        const CENTURY: u64 = 100 * 365 * 24 * 3600;
        if self.session.lifetime_seconds > CENTURY {
            return Err(ConfigError::new("session.lifetime_seconds", "is too large"));
        }
        if self.session.idle_timeout_seconds > CENTURY {
            return Err(ConfigError::new(
                "session.idle_timeout_seconds",
                "is too large",
            ));
        }
        let p = &self.password;
        if p.min_length == 0 || p.min_length > 256 {
            return Err(ConfigError::new(
                "password.min_length",
                "must be between 1 and 256",
            ));
        }
        if p.max_length < p.min_length || p.max_length > 4096 {
            return Err(ConfigError::new(
                "password.max_length",
                "must be at least password.min_length and at most 4096",
            ));
        }
        auth::PasswordHasher::new(self.argon2_params())
            .map_err(|e| ConfigError::new("password.argon2_memory_kib", e.to_string()))?;
        let t = &self.tokens;
        for (key, value) in [
            ("tokens.access_token_seconds", t.access_token_seconds),
            ("tokens.refresh_token_seconds", t.refresh_token_seconds),
            ("tokens.id_token_seconds", t.id_token_seconds),
            (
                "tokens.authorization_code_seconds",
                t.authorization_code_seconds,
            ),
        ] {
            if value == 0 || value > CENTURY {
                return Err(ConfigError::new(key, "must be between 1 and 3153600000"));
            }
        }
        for (key, value) in [
            ("tokens.id_token_alg", &t.id_token_alg),
            ("tokens.access_token_alg", &t.access_token_alg),
        ] {
            value
                .parse::<oidc::SigningAlg>()
                .map_err(|e| ConfigError::new(key, e))?;
        }
        let b = &self.brute_force;
        if b.max_failures == 0 {
            return Err(ConfigError::new(
                "brute_force.max_failures",
                "must be at least 1",
            ));
        }
        if b.ip_failures_per_hour == 0 {
            return Err(ConfigError::new(
                "brute_force.ip_failures_per_hour",
                "must be at least 1",
            ));
        }
        if b.lockout_seconds == 0 || b.lockout_seconds > CENTURY {
            return Err(ConfigError::new(
                "brute_force.lockout_seconds",
                "must be between 1 and 3153600000",
            ));
        }
        if b.max_lockout_seconds < b.lockout_seconds || b.max_lockout_seconds > CENTURY {
            return Err(ConfigError::new(
                "brute_force.max_lockout_seconds",
                "must be at least brute_force.lockout_seconds",
            ));
        }
        let v = &self.verification;
        if v.code_ttl_seconds == 0 || v.code_ttl_seconds > 86_400 {
            return Err(ConfigError::new(
                "verification.code_ttl_seconds",
                "must be between 1 and 86400",
            ));
        }
        for (key, value) in [
            ("verification.max_attempts", v.max_attempts),
            ("verification.per_target_per_hour", v.per_target_per_hour),
            ("verification.per_ip_per_hour", v.per_ip_per_hour),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        if v.resend_cooldown_seconds > 86_400 {
            return Err(ConfigError::new(
                "verification.resend_cooldown_seconds",
                "must be at most 86400",
            ));
        }
        let l = &self.limits;
        for (key, value) in [
            ("limits.signups_per_ip_per_hour", l.signups_per_ip_per_hour),
            (
                "limits.token_failures_per_ip_per_hour",
                l.token_failures_per_ip_per_hour,
            ),
            (
                "limits.codes_per_account_per_day",
                l.codes_per_account_per_day,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        self.trusted_proxies()?;
        if !self.server.metrics_token.is_empty() && self.server.metrics_token.len() < 16 {
            return Err(ConfigError::new(
                "server.metrics_token",
                "must be at least 16 characters (or empty for none)",
            ));
        }
        for (n, host) in self.images.redirect_hosts.iter().enumerate() {
            let ok = !host.is_empty()
                && host.len() <= 253
                && url::Host::parse(host).is_ok()
                && !host.contains(['/', ':', '@', '?', '#']);
            if !ok {
                return Err(ConfigError::new(
                    format!("images.redirect_hosts[{n}]"),
                    "must be a host name such as images.example.com",
                ));
            }
        }
        self.mailer()?;
        self.sms_sender()?;
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(ConfigError::new("log.level", "not a valid log filter"));
        }
        self.upstream_settings()?;
        self.configured_tenants()?;
        self.mfa_required()?;
        let name = &self.server.name;
        if name.trim().is_empty()
            || name.chars().count() > 200
            || name.chars().any(char::is_control)
        {
            return Err(ConfigError::new(
                "server.name",
                "must be 1 to 200 characters",
            ));
        }
        Ok(())
    }

    /// The `[[upstream]]` entries, checked: keys are named `upstream[N].key`.
    pub fn upstream_settings(&self) -> Result<Vec<oidc::upstream::UpstreamSettings>, ConfigError> {
        upstream_list(&self.upstream, "upstream")
    }

    /// The `[[tenant]]` entries, checked: keys are named `tenant[N].key`.
    /// The `[[webhook]]` entries, checked (the rest of the checks run when they are made).
    pub fn configured_webhooks(
        &self,
    ) -> Result<Vec<auth::webhooks::ConfiguredWebhook>, ConfigError> {
        self.webhook
            .iter()
            .enumerate()
            .map(|(n, w)| {
                let exclude_actor = match &w.exclude_actor {
                    None => None,
                    Some(id) => Some(store::Uuid::parse_str(id).map_err(|_| {
                        ConfigError::new(
                            format!("webhook[{n}].exclude_actor"),
                            "must be an admin key id",
                        )
                    })?),
                };
                Ok(auth::webhooks::ConfiguredWebhook {
                    url: w.url.clone(),
                    events: w.events.clone(),
                    exclude_actor,
                    secret: w.secret.clone(),
                })
            })
            .collect()
    }

    pub fn configured_tenants(
        &self,
    ) -> Result<std::collections::HashMap<String, oidc::tenants::ConfiguredTenant>, ConfigError>
    {
        let mut out = std::collections::HashMap::new();
        for (n, t) in self.tenant.iter().enumerate() {
            let key = |k: &str| format!("tenant[{n}].{k}");
            if !oidc::tenants::valid_id(&t.id) || t.id == store::DEFAULT_TENANT {
                return Err(ConfigError::new(
                    key("id"),
                    "must be a tenant id other than default (a lowercase letter, then lowercase letters, digits or -; 2 to 63)",
                ));
            }
            if out.contains_key(&t.id) {
                return Err(ConfigError::new(
                    key("id"),
                    format!("{:?} is used twice", t.id),
                ));
            }
            if t.name.chars().count() > 200 || t.name.chars().any(char::is_control) {
                return Err(ConfigError::new(
                    key("name"),
                    "must be at most 200 characters",
                ));
            }
            let settings = oidc::tenant_settings::TenantSettings {
                email_verification_required: t.email_verification_required,
                password_min_length: t.password_min_length,
                login_ids: t.login_ids.clone(),
                mfa_policy: t.mfa_policy.clone(),
            };
            settings.validate(self.password.max_length).map_err(|e| {
                let field = e.pointer.strip_prefix('/').unwrap_or(&e.pointer);
                ConfigError::new(key(&field.replace('/', ".")), e.message)
            })?;
            let upstreams = upstream_list(&t.upstream, &key("upstream"))?;
            out.insert(
                t.id.clone(),
                oidc::tenants::ConfiguredTenant {
                    name: Some(t.name.clone()).filter(|n| !n.trim().is_empty()),
                    settings,
                    upstreams,
                },
            );
        }
        Ok(out)
    }

    /// Whether `mfa.policy` is `required`.
    pub fn mfa_required(&self) -> Result<bool, ConfigError> {
        match self.mfa.policy.as_str() {
            "optional" => Ok(false),
            "required" => Ok(true),
            _ => Err(ConfigError::new(
                "mfa.policy",
                "must be \"optional\" or \"required\"",
            )),
        }
    }

    /// `[login_ids]`.
    pub fn login_ids(&self) -> auth::login_id::EnabledLoginIds {
        auth::login_id::EnabledLoginIds {
            phone: self.login_ids.phone,
            username: self.login_ids.username,
        }
    }

    /// `server.trusted_proxies`, parsed.
    pub fn trusted_proxies(&self) -> Result<http_kit::TrustedProxies, ConfigError> {
        let header = http_kit::client_ip::ForwardedHeader::parse(&self.server.forwarded_header)
            .ok_or_else(|| {
                ConfigError::new(
                    "server.forwarded_header",
                    "must be x-forwarded-for or forwarded",
                )
            })?;
        http_kit::TrustedProxies::parse(&self.server.trusted_proxies, header).map_err(
            |(n, message)| ConfigError::new(format!("server.trusted_proxies[{n}]"), message),
        )
    }

    /// The rate limits of `[limits]`.
    pub fn rate_limits(&self) -> auth::rate_limits::RateLimits {
        auth::rate_limits::RateLimits {
            signups_per_ip_per_hour: self.limits.signups_per_ip_per_hour,
            token_failures_per_ip_per_hour: self.limits.token_failures_per_ip_per_hour,
        }
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| {
            ConfigError::new("server.listen", "must be an address like 127.0.0.1:8080")
        })
    }

    pub fn argon2_params(&self) -> auth::Argon2Params {
        auth::Argon2Params {
            memory_kib: self.password.argon2_memory_kib,
            iterations: self.password.argon2_iterations,
            parallelism: self.password.argon2_parallelism,
        }
    }

    pub fn password_policy(&self) -> auth::PasswordPolicy {
        auth::PasswordPolicy {
            min_length: self.password.min_length,
            max_length: self.password.max_length,
        }
    }

    pub fn session_policy(&self) -> auth::SessionPolicy {
        auth::SessionPolicy {
            lifetime: chrono::Duration::seconds(self.session.lifetime_seconds as i64),
            idle_timeout: chrono::Duration::seconds(self.session.idle_timeout_seconds as i64),
        }
    }

    /// How the OpenID provider issues tokens (after [`Config::validate`]).
    pub fn provider_settings(&self) -> Result<oidc::ProviderSettings, ConfigError> {
        let t = &self.tokens;
        let secs = |s: u64| chrono::Duration::seconds(s as i64);
        Ok(oidc::ProviderSettings {
            issuer: self.server.issuer.clone(),
            access_token_ttl: secs(t.access_token_seconds),
            refresh_token_ttl: secs(t.refresh_token_seconds),
            id_token_ttl: secs(t.id_token_seconds),
            authorization_code_ttl: secs(t.authorization_code_seconds),
            id_token_alg: t
                .id_token_alg
                .parse()
                .map_err(|e| ConfigError::new("tokens.id_token_alg", e))?,
            access_token_alg: t
                .access_token_alg
                .parse()
                .map_err(|e| ConfigError::new("tokens.access_token_alg", e))?,
            rate_limits: self.rate_limits(),
        })
    }

    /// The email sender: SMTP when `smtp.url` is set, else `.eml` files.
    pub fn mailer(&self) -> Result<auth::delivery::Mailer, ConfigError> {
        let url = Some(self.smtp.url.as_str()).filter(|u| !u.is_empty());
        auth::delivery::Mailer::new(
            url,
            &self.smtp.from,
            std::path::Path::new(&self.smtp.file_dir),
        )
        .map_err(|e| {
            let key = if e.to_string().contains("smtp.from") {
                "smtp.from"
            } else {
                "smtp.url"
            };
            ConfigError::new(key, e.to_string())
        })
    }

    pub fn sms_sender(&self) -> Result<auth::delivery::SmsSender, ConfigError> {
        let url = Some(self.sms.webhook_url.as_str()).filter(|u| !u.is_empty());
        auth::delivery::SmsSender::new(
            &self.sms.sender,
            url,
            std::path::Path::new(&self.sms.file_dir),
        )
        .map_err(|e| {
            let key = if self.sms.sender == "webhook" {
                "sms.webhook_url"
            } else {
                "sms.sender"
            };
            ConfigError::new(key, e.to_string())
        })
    }

    pub fn code_policy(&self) -> auth::codes::CodePolicy {
        let v = &self.verification;
        auth::codes::CodePolicy {
            ttl: chrono::Duration::seconds(v.code_ttl_seconds as i64),
            max_attempts: v.max_attempts,
            resend_cooldown: chrono::Duration::seconds(v.resend_cooldown_seconds as i64),
            per_target_per_hour: v.per_target_per_hour,
            per_ip_per_hour: v.per_ip_per_hour,
            per_account_per_day: self.limits.codes_per_account_per_day,
        }
    }

    pub fn brute_force_policy(&self) -> auth::brute_force::BruteForcePolicy {
        let b = &self.brute_force;
        auth::brute_force::BruteForcePolicy {
            max_failures: b.max_failures,
            lockout: chrono::Duration::seconds(b.lockout_seconds as i64),
            max_lockout: chrono::Duration::seconds(b.max_lockout_seconds as i64),
            ip_failures_per_hour: b.ip_failures_per_hour,
        }
    }

    /// Whether the issuer is https, so cookies must be `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.server.issuer.starts_with("https://")
    }
}

/// Upstream entries (`[[upstream]]`, or a tenant's), checked: keys are named `{prefix}[N].key`.
fn upstream_list(
    list: &[UpstreamConfig],
    prefix: &str,
) -> Result<Vec<oidc::upstream::UpstreamSettings>, ConfigError> {
    let mut out: Vec<oidc::upstream::UpstreamSettings> = Vec::new();
    for (n, u) in list.iter().enumerate() {
        let key = |k: &str| format!("{prefix}[{n}].{k}");
        let id_ok = (1..=64).contains(&u.id.len())
            && u.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(ConfigError::new(
                key("id"),
                "is required: 1 to 64 of a-z, 0-9, - and _",
            ));
        }
        if out.iter().any(|o| o.id == u.id) {
            return Err(ConfigError::new(
                key("id"),
                format!("{:?} is used twice", u.id),
            ));
        }
        if u.issuer.is_empty() {
            return Err(ConfigError::new(key("issuer"), "is required"));
        }
        let issuer_ok = url::Url::parse(&u.issuer).is_ok_and(|i| {
            matches!(i.scheme(), "http" | "https")
                && i.host().is_some()
                && i.query().is_none()
                && i.fragment().is_none()
        }) && u.issuer.len() <= 255;
        if !issuer_ok {
            return Err(ConfigError::new(
                key("issuer"),
                "must be an http(s) URL without query or fragment",
            ));
        }
        if out.iter().any(|o| o.issuer == u.issuer) {
            return Err(ConfigError::new(key("issuer"), "is used by two upstreams"));
        }
        if u.client_id.is_empty() {
            return Err(ConfigError::new(key("client_id"), "is required"));
        }
        if u.name.chars().count() > 64 || u.name.chars().any(char::is_control) {
            return Err(ConfigError::new(
                key("name"),
                "must be at most 64 characters",
            ));
        }
        let scope_ok = |s: &String| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        };
        if !u.scopes.iter().all(scope_ok) {
            return Err(ConfigError::new(
                key("scopes"),
                "each scope must be a non-empty word of printable ASCII",
            ));
        }
        let population = oidc::upstream::Population::parse(&u.population).ok_or_else(|| {
            ConfigError::new(
                key("population"),
                "must be \"on_signup\", \"every_login\" or \"none\"",
            )
        })?;
        out.push(oidc::upstream::UpstreamSettings {
            id: u.id.clone(),
            name: if u.name.is_empty() {
                u.id.clone()
            } else {
                u.name.clone()
            },
            issuer: u.issuer.clone(),
            client_id: u.client_id.clone(),
            client_secret: Some(u.client_secret.clone()).filter(|s| !s.is_empty()),
            scopes: u.scopes.clone(),
            population,
        });
    }
    Ok(out)
}
