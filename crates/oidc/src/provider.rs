//! The provider: its settings, its key ring and its discovery document, shared by every request.

use crate::keys::{self, KeyError, KeyRing, SigningAlg};
use chrono::Duration;
use std::sync::{Arc, RwLock};
use store::{Clock, Db};

/// Scopes Tessera understands (clients may also be registered for their own).
pub const SCOPES_SUPPORTED: [&str; 8] = [
    "openid",
    "profile",
    "email",
    "phone",
    "address",
    "offline_access",
    "profile:write",
    "groups",
];

/// Claims Tessera can return about a user.
pub const CLAIMS_SUPPORTED: [&str; 31] = [
    "sub",
    "acr",
    "amr",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "sid",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "preferred_username",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "address",
    "updated_at",
    "groups",
];

/// How the provider issues tokens.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// The issuer URL, no trailing slash.
    pub issuer: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub id_token_ttl: Duration,
    pub authorization_code_ttl: Duration,
    pub id_token_alg: SigningAlg,
    pub access_token_alg: SigningAlg,
    /// Refused token requests per client address (`[limits]`).
    pub rate_limits: auth::rate_limits::RateLimits,
}

impl ProviderSettings {
    /// How long a retired key must stay in the JWKS: until every token it signed has expired.
    pub fn retired_key_lifetime(&self) -> Duration {
        self.access_token_ttl.max(self.id_token_ttl) + Duration::minutes(5)
    }

    fn algorithms(&self) -> Vec<SigningAlg> {
        let mut algs = vec![self.id_token_alg];
        if self.access_token_alg != self.id_token_alg {
            algs.push(self.access_token_alg);
        }
        algs
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }
}

/// The provider's shared state.
pub struct Provider {
    pub settings: ProviderSettings,
    /// Registered clients read in the last few seconds (see [`crate::client_cache`]).
    pub clients: crate::client_cache::ClientCache,
    /// Refused token requests per client address (SPEC §8).
    pub token_failures: auth::rate_limits::TokenFailureLimiter,
    keys: RwLock<Arc<KeyRing>>,
    /// When the key ring was last loaded (Unix ms); reloads on unknown `kid` are rate-limited.
    last_reload_ms: std::sync::atomic::AtomicI64,
    discovery: String,
    /// Access tokens whose signature this process has checked, by SHA-256 of the token: a token
    /// used again skips the signature check (its expiry and revocation are still checked on
    /// every use).
    verified: std::sync::Mutex<
        std::collections::HashMap<[u8; 32], Arc<crate::tokens::AccessTokenClaims>>,
    >,
}

/// Checked tokens kept at most (about 500 bytes each); past that the expired ones go, and if
/// none had, all of them.
const VERIFIED_CACHE_LIMIT: usize = 20_000;

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

/// Minimum time between two key reloads caused by unknown key ids.
const RELOAD_INTERVAL_MS: i64 = 5_000;

impl Provider {
    /// Loads the keys, generating the first ones when the database has none, and builds the
    /// discovery document.
    pub async fn start(
        db: &Db,
        clock: &dyn Clock,
        settings: ProviderSettings,
    ) -> Result<Self, KeyError> {
        ensure_active_keys(db, clock, &settings).await?;
        let ring = load_ring(db, clock).await?;
        let discovery = discovery_document(&settings).to_string();
        let settings_limits = settings.rate_limits;
        Ok(Self {
            settings,
            keys: RwLock::new(Arc::new(ring)),
            last_reload_ms: std::sync::atomic::AtomicI64::new(clock.now().timestamp_millis()),
            discovery,
            verified: std::sync::Mutex::new(std::collections::HashMap::new()),
            clients: crate::client_cache::ClientCache::default(),
            token_failures: auth::rate_limits::TokenFailureLimiter::new(&settings_limits),
        })
    }

    /// The current key ring.
    pub fn keys(&self) -> Arc<KeyRing> {
        match self.keys.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads the keys from the database (after a rotation by another process).
    pub async fn reload_keys(&self, db: &Db, clock: &dyn Clock) -> Result<(), KeyError> {
        let ring = Arc::new(load_ring(db, clock).await?);
        self.last_reload_ms.store(
            clock.now().timestamp_millis(),
            std::sync::atomic::Ordering::Relaxed,
        );
        match self.keys.write() {
            Ok(mut guard) => *guard = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        Ok(())
    }

    /// The verifying key for `kid`, reloading the ring once (rate-limited) when it is unknown.
    pub async fn verifying_key(
        &self,
        db: &Db,
        clock: &dyn Clock,
        kid: &str,
    ) -> Result<Option<Arc<keys::VerifyingKey>>, KeyError> {
        if let Some(k) = self.keys().verifying_key(kid) {
            return Ok(Some(k.clone()));
        }
        let last = self
            .last_reload_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if clock.now().timestamp_millis() - last < RELOAD_INTERVAL_MS {
            return Ok(None);
        }
        self.reload_keys(db, clock).await?;
        Ok(self.keys().verifying_key(kid).cloned())
    }

    /// Reloads the keys every `every` for as long as the process runs, so that a rotation made by
    /// another process (or `tessera keys rotate`) reaches this one even when it meets no unknown
    /// `kid`: it then signs with the new key well before the old one leaves the JWKS.
    pub fn spawn_key_reloader(
        self: &std::sync::Arc<Self>,
        db: Db,
        clock: std::sync::Arc<dyn Clock>,
        every: std::time::Duration,
    ) {
        let provider = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(provider) = provider.upgrade() else {
                    return;
                };
                if let Err(e) = provider.reload_keys(&db, clock.as_ref()).await {
                    tracing::warn!(error = %e, "reloading signing keys failed");
                }
            }
        });
    }

    /// The claims of a token whose signature was checked before.
    pub fn checked_token(
        &self,
        digest: &[u8; 32],
    ) -> Option<Arc<crate::tokens::AccessTokenClaims>> {
        self.verified.lock().ok()?.get(digest).cloned()
    }

    /// Remembers a token whose signature checked out.
    pub fn remember_checked_token(
        &self,
        digest: [u8; 32],
        claims: Arc<crate::tokens::AccessTokenClaims>,
        now: i64,
    ) {
        let Ok(mut cache) = self.verified.lock() else {
            return;
        };
        if cache.len() >= VERIFIED_CACHE_LIMIT {
            cache.retain(|_, c| c.exp > now);
            if cache.len() >= VERIFIED_CACHE_LIMIT {
                cache.clear();
            }
        }
        cache.insert(digest, claims);
    }

    pub fn discovery_json(&self) -> &str {
        &self.discovery
    }
}

async fn load_ring(db: &Db, clock: &dyn Clock) -> Result<KeyRing, KeyError> {
    let stored = store::signing_keys::live_keys(db, clock.now()).await?;
    KeyRing::from_stored(&stored)
}

/// Generates a key for each configured algorithm that has no active key yet.
pub async fn ensure_active_keys(
    db: &Db,
    clock: &dyn Clock,
    settings: &ProviderSettings,
) -> Result<(), KeyError> {
    let ring = load_ring(db, clock).await?;
    for alg in settings.algorithms() {
        if !ring.has_signing_key(alg) {
            let now = clock.now();
            let (_, stored) = generate_off_thread(alg, now).await?;
            store::signing_keys::activate_key(db, &stored, now, now).await?;
            tracing::info!(kid = %stored.kid, alg = alg.as_str(), "generated a signing key");
        }
    }
    Ok(())
}

async fn generate_off_thread(
    alg: SigningAlg,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(keys::SigningKey, store::signing_keys::StoredSigningKey), KeyError> {
    tokio::task::spawn_blocking(move || keys::generate_key(alg, now))
        .await
        .map_err(|_| KeyError::Generation)?
}

/// `tessera keys rotate`: a new key for each configured algorithm becomes active; the old ones
/// stay in the JWKS until tokens they signed have expired. Returns the new key ids.
pub async fn rotate_keys(
    db: &Db,
    clock: &dyn Clock,
    settings: &ProviderSettings,
) -> Result<Vec<String>, KeyError> {
    let mut kids = Vec::new();
    for alg in settings.algorithms() {
        let now = clock.now();
        let (_, stored) = generate_off_thread(alg, now).await?;
        store::signing_keys::activate_key(db, &stored, now + settings.retired_key_lifetime(), now)
            .await?;
        kids.push(stored.kid);
    }
    Ok(kids)
}

fn discovery_document(s: &ProviderSettings) -> serde_json::Value {
    let mut algs = vec![s.id_token_alg.as_str()];
    for a in ["RS256", "ES256", "EdDSA"] {
        if !algs.contains(&a) {
            algs.push(a);
        }
    }
    serde_json::json!({
        "issuer": s.issuer,
        "authorization_endpoint": s.endpoint("/oauth2/authorize"),
        "token_endpoint": s.endpoint("/oauth2/token"),
        "userinfo_endpoint": s.endpoint("/oauth2/userinfo"),
        "jwks_uri": s.endpoint("/oauth2/jwks"),
        "revocation_endpoint": s.endpoint("/oauth2/revoke"),
        "introspection_endpoint": s.endpoint("/oauth2/introspect"),
        "end_session_endpoint": s.endpoint("/oauth2/logout"),
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": crate::clients::SUPPORTED_GRANTS,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": CLAIMS_SUPPORTED,
        "claims_parameter_supported": true,
        "acr_values_supported": crate::acr::SUPPORTED,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login", "consent", "create"],
        "ui_locales_supported": ["en"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
    })
}
