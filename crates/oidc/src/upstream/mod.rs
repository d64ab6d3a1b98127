//! Signing in through upstream OpenID providers (SPEC §4, "Upstream OpenID providers").
//!
//! Tessera is the relying party here, with the `openidconnect` crate: an authorization code flow
//! with PKCE, `state` and `nonce`. Each pending sign-in is stored by a hash of its `state`, bound
//! to the browser that started it (a hash of a random cookie value the web layer keeps), used
//! once and valid for ten minutes. The callback checks all of that, redeems the code, verifies
//! the ID token (signature from the upstream's JWKS, `iss`, `aud`, `exp`, `nonce`), reads
//! UserInfo when the ID token carries no profile claims, and then signs in, creates or links the
//! account (see [`accounts`]).
//!
//! Each upstream's discovery document (with its JWKS) is fetched on first use and cached.

pub mod accounts;
mod http;

pub use http::HttpError;

use auth::secrets;
use chrono::Duration;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Map, Value};
use std::time::Instant;
use store::upstream_logins::{self, PendingLogin};
use store::{Clock, Db, StoreError, Uuid};
use tokio::sync::RwLock;

/// How long a pending sign-in may take.
pub const PENDING_TTL: Duration = Duration::minutes(10);
/// How long a discovery document (and its JWKS) is trusted before it is fetched again.
const DISCOVERY_TTL: std::time::Duration = std::time::Duration::from_secs(3600);
/// An ID token that fails its signature check makes Tessera re-read the JWKS, at most this often.
const JWKS_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// What to copy from the upstream's claims into the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Population {
    /// When the account is created (the default).
    OnSignup,
    /// On every sign-in through this upstream as well.
    EveryLogin,
    /// Nothing.
    None,
}

impl Population {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "on_signup" => Population::OnSignup,
            "every_login" => Population::EveryLogin,
            "none" => Population::None,
            _ => return None,
        })
    }
}

/// One configured upstream provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// In URLs: `/login/upstream/{id}`.
    pub id: String,
    /// On the button: "Sign in with {name}".
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// `None` for a public client (PKCE only).
    pub client_secret: Option<String>,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    pub population: Population,
}

/// Why an upstream sign-in did not complete. Nothing was created or changed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no such upstream provider")]
    UnknownUpstream,
    #[error("the provider cannot be reached: {0}")]
    Unreachable(String),
    #[error("the provider refused the sign-in: {error}")]
    Denied {
        error: String,
        description: Option<String>,
    },
    #[error("the sign-in request is unknown, expired or from another browser")]
    BadState,
    #[error("this sign-in response was already used")]
    Replayed,
    #[error("the response is not from the expected provider")]
    WrongIssuer,
    #[error("the provider's response is invalid: {0}")]
    Protocol(String),
    #[error("the provider's ID token is invalid: {0}")]
    InvalidIdToken(String),
    #[error("an account with the email address {email} already exists")]
    EmailTaken { email: String },
    #[error("this provider account is already linked to another Tessera account")]
    LinkedElsewhere,
    #[error("the account to link to is not signed in in this browser")]
    NotSignedIn,
    #[error("this account is disabled")]
    Disabled,
    #[error(transparent)]
    Internal(#[from] auth::InternalError),
}

impl From<StoreError> for UpstreamError {
    fn from(e: StoreError) -> Self {
        UpstreamError::Internal(auth::InternalError(e))
    }
}

struct Cached {
    metadata: CoreProviderMetadata,
    fetched: Instant,
}

struct Upstream {
    settings: UpstreamSettings,
    discovery: RwLock<Option<Cached>>,
}

/// Every configured upstream, with their cached discovery documents. Shared by every request.
pub struct Upstreams {
    /// Tessera's own issuer: the callbacks live under it.
    issuer: String,
    list: Vec<Upstream>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field(
                "ids",
                &self.list.iter().map(|u| &u.settings.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What the browser brings to start a sign-in.
#[derive(Debug, Clone)]
pub struct Begin {
    /// The browser's binding secret (from its cookie).
    pub browser_secret: String,
    /// Where to go afterwards (a local path, already checked).
    pub return_to: Option<String>,
    /// The signed-in user who links this upstream to their account.
    pub link_user: Option<Uuid>,
}

/// The query of the callback.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207: the issuer of the response, when the provider says.
    pub iss: Option<String>,
}

/// What the browser brings to the callback.
#[derive(Debug, Clone)]
pub struct Return {
    pub callback: Callback,
    pub browser_secret: Option<String>,
    /// The user signed in in this browser, if any.
    pub current_user: Option<Uuid>,
    pub ip: Option<String>,
}

/// A verified answer of an upstream provider.
#[derive(Debug, Clone)]
pub struct Verified {
    pub upstream: UpstreamSettings,
    pub subject: String,
    /// Claims of the ID token and (when it had no profile claims) UserInfo.
    pub claims: Map<String, Value>,
    pub pending: PendingLogin,
}

/// Claims that hold profile data (the others are about the token).
const PROFILE_CLAIMS: [&str; 16] = [
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "address",
];

impl Upstreams {
    pub fn new(issuer: &str, settings: Vec<UpstreamSettings>) -> Result<Self, reqwest::Error> {
        Ok(Self {
            issuer: issuer.to_owned(),
            list: settings
                .into_iter()
                .map(|settings| Upstream {
                    settings,
                    discovery: RwLock::new(None),
                })
                .collect(),
            http: http::reqwest_client()?,
        })
    }

    /// Upstreams for another issuer (a tenant's), sharing this one's HTTP client.
    pub fn for_issuer(&self, issuer: &str, settings: Vec<UpstreamSettings>) -> Self {
        Self {
            issuer: issuer.to_owned(),
            list: settings
                .into_iter()
                .map(|settings| Upstream {
                    settings,
                    discovery: RwLock::new(None),
                })
                .collect(),
            http: self.http.clone(),
        }
    }

    /// The configured upstreams, in configuration order.
    pub fn settings(&self) -> impl Iterator<Item = &UpstreamSettings> {
        self.list.iter().map(|u| &u.settings)
    }

    pub fn find(&self, id: &str) -> Option<&UpstreamSettings> {
        self.get(id).map(|u| &u.settings)
    }

    /// The upstream whose issuer is `issuer` (to name a linked identity).
    pub fn by_issuer(&self, issuer: &str) -> Option<&UpstreamSettings> {
        self.settings().find(|s| s.issuer == issuer)
    }

    fn get(&self, id: &str) -> Option<&Upstream> {
        self.list.iter().find(|u| u.settings.id == id)
    }

    /// Tessera's callback for upstream `id`.
    pub fn callback_url(&self, id: &str) -> String {
        format!("{}/login/upstream/{id}/callback", self.issuer)
    }

    /// The upstream's discovery document: cached, fetched when missing, stale or `refresh`.
    async fn metadata(
        &self,
        up: &Upstream,
        refresh: bool,
    ) -> Result<CoreProviderMetadata, UpstreamError> {
        {
            let cached = up.discovery.read().await;
            if let Some(c) = cached.as_ref()
                && c.fetched.elapsed() < DISCOVERY_TTL
                && !(refresh && c.fetched.elapsed() >= JWKS_RETRY_AFTER)
            {
                return Ok(c.metadata.clone());
            }
        }
        let issuer = IssuerUrl::new(up.settings.issuer.clone())
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        let client = http::async_client(self.http.clone());
        let metadata = CoreProviderMetadata::discover_async(issuer, &client)
            .await
            .map_err(|e| {
                tracing::warn!(upstream = %up.settings.id, error = %error_chain(&e), "upstream discovery failed");
                UpstreamError::Unreachable(error_chain(&e))
            })?;
        *up.discovery.write().await = Some(Cached {
            metadata: metadata.clone(),
            fetched: Instant::now(),
        });
        Ok(metadata)
    }

    fn client(
        &self,
        up: &Upstream,
        metadata: CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        UpstreamError,
    > {
        let redirect = RedirectUrl::new(self.callback_url(&up.settings.id))
            .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(up.settings.client_id.clone()),
            up.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a sign-in: stores the pending request and returns the upstream's authorization URL
    /// to send the browser to.
    pub async fn begin(
        &self,
        db: &Db,
        clock: &dyn Clock,
        id: &str,
        begin: Begin,
    ) -> Result<String, UpstreamError> {
        let up = self.get(id).ok_or(UpstreamError::UnknownUpstream)?;
        let metadata = self.metadata(up, false).await?;
        let client = self.client(up, metadata)?;
        let state = secrets::generate_secret();
        let nonce = secrets::generate_secret();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            {
                let state = state.clone();
                move || CsrfToken::new(state)
            },
            {
                let nonce = nonce.clone();
                move || Nonce::new(nonce)
            },
        );
        for scope in up.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.set_pkce_challenge(challenge).url();
        let now = clock.now();
        upstream_logins::insert(
            db,
            &PendingLogin {
                state_hash: secrets::hash_secret(&state),
                upstream_id: up.settings.id.clone(),
                browser_hash: secrets::hash_secret(&begin.browser_secret),
                nonce,
                pkce_verifier: verifier.secret().clone(),
                return_to: begin.return_to,
                link_user_id: begin.link_user,
                created_at: now,
                expires_at: now + PENDING_TTL,
                consumed: false,
            },
            now,
        )
        .await?;
        Ok(url.to_string())
    }

    /// Checks the callback's `state` against the pending sign-in and uses it up.
    async fn take_pending(
        &self,
        db: &Db,
        clock: &dyn Clock,
        id: &str,
        ret: &Return,
    ) -> Result<PendingLogin, UpstreamError> {
        let state = ret
            .callback
            .state
            .as_deref()
            .filter(|s| !s.is_empty() && s.len() <= 128)
            .ok_or(UpstreamError::BadState)?;
        let pending = upstream_logins::find(db, &secrets::hash_secret(state))
            .await?
            .ok_or(UpstreamError::BadState)?;
        let same_browser = ret
            .browser_secret
            .as_deref()
            .is_some_and(|b| secrets::secret_matches(b, &pending.browser_hash));
        if pending.upstream_id != id || !same_browser {
            return Err(UpstreamError::BadState);
        }
        let now = clock.now();
        if pending.consumed || !upstream_logins::consume(db, &pending.state_hash, now).await? {
            return Err(UpstreamError::Replayed);
        }
        if pending.expires_at <= now {
            return Err(UpstreamError::BadState);
        }
        Ok(pending)
    }

    /// Checks the callback and the upstream's answer: the verified subject and claims.
    pub async fn verify(
        &self,
        db: &Db,
        clock: &dyn Clock,
        id: &str,
        ret: &Return,
    ) -> Result<Verified, UpstreamError> {
        let up = self.get(id).ok_or(UpstreamError::UnknownUpstream)?;
        let pending = self.take_pending(db, clock, id, ret).await?;
        let cb = &ret.callback;
        if let Some(error) = &cb.error {
            return Err(UpstreamError::Denied {
                error: error.chars().take(64).collect(),
                description: cb
                    .error_description
                    .as_ref()
                    .map(|d| d.chars().take(300).collect()),
            });
        }
        if let Some(iss) = &cb.iss
            && iss.trim_end_matches('/') != up.settings.issuer.trim_end_matches('/')
        {
            return Err(UpstreamError::WrongIssuer);
        }
        let code = cb
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| UpstreamError::Protocol("no authorization code".into()))?;
        let metadata = self.metadata(up, false).await?;
        let client = self.client(up, metadata)?;
        let http = http::async_client(self.http.clone());
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| UpstreamError::Protocol(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|e| {
                tracing::warn!(upstream = %id, error = %error_chain(&e), "upstream token request failed");
                match e {
                    openidconnect::RequestTokenError::Request(_) => {
                        UpstreamError::Unreachable(error_chain(&e))
                    }
                    other => UpstreamError::Protocol(error_chain(&other)),
                }
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| UpstreamError::InvalidIdToken("no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let now = || clock.now();
        let verified: Result<CoreIdTokenClaims, _> = id_token
            .claims(&client.id_token_verifier().set_time_fn(now), &nonce)
            .cloned();
        let claims = match verified {
            Ok(c) => c,
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(first)) => {
                // The upstream may have rotated its keys: read its JWKS again, once.
                let metadata = self.metadata(up, true).await?;
                let client = self.client(up, metadata)?;
                id_token
                    .claims(&client.id_token_verifier().set_time_fn(now), &nonce)
                    .cloned()
                    .map_err(|e| {
                        tracing::warn!(upstream = %id, error = %first, "upstream ID token refused");
                        UpstreamError::InvalidIdToken(e.to_string())
                    })?
            }
            Err(e) => {
                tracing::warn!(upstream = %id, error = %e, "upstream ID token refused");
                return Err(UpstreamError::InvalidIdToken(e.to_string()));
            }
        };
        let subject = claims.subject().as_str().to_owned();
        if subject.is_empty() || subject.len() > 255 {
            return Err(UpstreamError::InvalidIdToken("bad subject".into()));
        }
        let mut all = match serde_json::to_value(&claims) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let has_profile = PROFILE_CLAIMS.iter().any(|c| all.contains_key(*c));
        if !has_profile && let Some(endpoint) = client.user_info_url() {
            let info = self
                .userinfo(endpoint.as_str(), tokens.access_token().secret(), &subject)
                .await?;
            for (k, v) in info {
                all.entry(k).or_insert(v);
            }
        }
        Ok(Verified {
            upstream: up.settings.clone(),
            subject,
            claims: all,
            pending,
        })
    }

    /// UserInfo as JSON; its `sub` must be the ID token's.
    async fn userinfo(
        &self,
        endpoint: &str,
        access_token: &str,
        subject: &str,
    ) -> Result<Map<String, Value>, UpstreamError> {
        let resp = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable(error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(UpstreamError::Protocol(format!(
                "UserInfo answered {}",
                resp.status()
            )));
        }
        let body = http::read_body(resp)
            .await
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        let info: Map<String, Value> = serde_json::from_slice(&body)
            .map_err(|_| UpstreamError::Protocol("UserInfo is not a JSON object".into()))?;
        if info.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(UpstreamError::Protocol(
                "UserInfo is about another subject".into(),
            ));
        }
        Ok(info)
    }
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Records a refused upstream sign-in in the audit log (server errors are logged instead).
pub async fn record_refusal(
    db: &Db,
    clock: &dyn Clock,
    upstream_id: &str,
    error: &UpstreamError,
    user: Option<Uuid>,
    ip: Option<String>,
) -> Result<(), auth::InternalError> {
    if matches!(error, UpstreamError::Internal(_)) {
        return Ok(());
    }
    let mut event = store::audit::NewEvent::new("login.failed", store::audit::Actor::Anonymous)
        .ip(ip)
        .detail(serde_json::json!({
            "reason": "upstream",
            "upstream": upstream_id.chars().take(64).collect::<String>(),
            "error": error.to_string(),
        }));
    if let Some(user) = user {
        event = event.user(user);
    }
    store::audit::record(db, event, clock.now()).await?;
    Ok(())
}
