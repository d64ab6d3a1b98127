//! Webhooks (SPEC §13): the use cases that manage a tenant's subscriptions, and the worker that
//! delivers events from the outbox (`store::webhooks`).
//!
//! - A webhook's signing secret must be read back to sign, so it cannot be stored hashed: it is
//!   sealed with AES-256-GCM under a key every process shares (`server_secrets`), shown once
//!   when generated, and never returned by the API.
//! - A delivery is `POST {url}` with `{"id", "type", "occurred_at", "tenant", "actor", "user_id",
//!   "data"}` and `Tessera-Signature: t=UNIX,v1=HEX(HMAC-SHA256(secret, "t.body"))`. A 2xx answer
//!   delivers it; anything else (another status, no answer within 10 s, a redirect, a refused
//!   address) is tried again after an exponentially growing pause with jitter (the first within
//!   30 s), for 24 hours. A user's events go out in order (the store never leases an event while
//!   an earlier one of that user waits for the same webhook).
//! - Outgoing requests never reach loopback, link-local or private addresses unless
//!   `webhooks.allow_private` is set: names are resolved by [`PublicOnly`], which drops such
//!   addresses, and the connection is made to what it returned (so a name cannot be re-pointed
//!   between the check and the request); a URL with such an address literally is refused too.

use crate::InternalError;
use crate::secrets;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;
use std::sync::Arc;
use store::audit::{Actor, NewEvent};
use store::webhooks::{After, Attempt, DueDelivery, WebhookValues};
use store::{Clock, Db, StoreError, Uuid};

pub use store::webhooks::{DeliveryLog, Webhook};

/// The prefix of generated secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// How long a delivery is tried.
pub const GIVE_UP_AFTER: Duration = Duration::hours(24);
/// How long a process holds a delivery it is sending, after which another (or itself after a
/// restart) takes it again: longer than one attempt (at most 10 s), short enough that a crash
/// delays its deliveries by seconds, not minutes.
const LEASE: Duration = Duration::seconds(15);
/// The most event types one webhook lists.
const MAX_EVENTS: usize = 64;
const MAX_URL: usize = 2048;

/// Seals webhook secrets under the server's shared key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Arc<Aes256Gcm>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox")
    }
}

impl SecretBox {
    /// The key stored in the database (made by the first process that needs it).
    pub async fn load(db: &Db, clock: &dyn Clock) -> Result<Self, InternalError> {
        let candidate = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let stored =
            store::server_secrets::get_or_insert(db, "webhook_key", &candidate, clock.now())
                .await?;
        let key = URL_SAFE_NO_PAD
            .decode(stored.as_bytes())
            .ok()
            .and_then(|k| Aes256Gcm::new_from_slice(&k).ok())
            .ok_or_else(|| InternalError(StoreError::Corrupt("the webhook key".into())))?;
        Ok(Self {
            cipher: Arc::new(key),
        })
    }

    fn seal(&self, secret: &str) -> Result<String, InternalError> {
        let nonce_bytes: [u8; 12] = rand::random();
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce_bytes), secret.as_bytes())
            .map_err(|_| InternalError(StoreError::Corrupt("sealing a secret".into())))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    fn open(&self, sealed: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed.as_bytes()).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, data) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let plain = self.cipher.decrypt(&Nonce::from(nonce), data).ok()?;
        String::from_utf8(plain).ok()
    }
}

/// `Tessera-Signature` of `body` sent at `timestamp` (Unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    // HMAC takes keys of any length: this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("t={timestamp},v1={hex}"))
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("url must be an http or https URL with a host, without user or password")]
    InvalidUrl,
    #[error("events must list 1 to 64 event types (such as \"profile.updated\") or \"*\" for all")]
    InvalidEvents,
    #[error("a secret is 16 to 256 printable characters")]
    InvalidSecret,
    #[error("exclude_actor must be the id of an admin key")]
    InvalidActor,
    #[error("no such webhook")]
    NotFound,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<StoreError> for WebhookError {
    fn from(e: StoreError) -> Self {
        WebhookError::Internal(InternalError(e))
    }
}

fn check_url(url: &str) -> Result<String, WebhookError> {
    let parsed = url::Url::parse(url.trim()).map_err(|_| WebhookError::InvalidUrl)?;
    let ok = matches!(parsed.scheme(), "http" | "https")
        && parsed.host_str().is_some_and(|h| !h.is_empty())
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && url.len() <= MAX_URL;
    ok.then(|| parsed.to_string())
        .ok_or(WebhookError::InvalidUrl)
}

fn check_events(events: &[String]) -> Result<Vec<String>, WebhookError> {
    let valid = |e: &str| {
        e == "*"
            || (e.len() <= 128
                && e.contains('.')
                && e.split('.').all(|part| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                }))
    };
    if events.is_empty() || events.len() > MAX_EVENTS || !events.iter().all(|e| valid(e)) {
        return Err(WebhookError::InvalidEvents);
    }
    let mut out = events.to_vec();
    out.sort();
    out.dedup();
    Ok(out)
}

fn check_secret(secret: &str) -> Result<(), WebhookError> {
    let n = secret.chars().count();
    ((16..=256).contains(&n) && secret.chars().all(|c| c.is_ascii_graphic()))
        .then_some(())
        .ok_or(WebhookError::InvalidSecret)
}

/// A webhook to create (or the whole of an update).
#[derive(Debug, Clone)]
pub struct WebhookInput {
    pub url: String,
    pub events: Vec<String>,
    pub exclude_actor: Option<Uuid>,
    /// Generated when not given.
    pub secret: Option<String>,
}

/// A created webhook and its secret (shown this once).
#[derive(Debug, Clone)]
pub struct Created {
    pub webhook: Webhook,
    pub secret: String,
}

fn values(
    secrets: &SecretBox,
    input: &WebhookInput,
) -> Result<(WebhookValues, String), WebhookError> {
    let url = check_url(&input.url)?;
    let events = check_events(&input.events)?;
    let secret = match &input.secret {
        Some(s) => {
            check_secret(s)?;
            s.clone()
        }
        None => format!("{SECRET_PREFIX}{}", secrets::generate_secret()),
    };
    Ok((
        WebhookValues {
            url,
            events,
            exclude_actor: input.exclude_actor,
            sealed_secret: secrets.seal(&secret)?,
        },
        secret,
    ))
}

/// A webhook's audit event names its host only: URLs often carry tokens, and audit events are
/// themselves delivered to webhooks.
fn event(kind: &'static str, actor: Actor, id: Uuid, url: &str) -> NewEvent {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    NewEvent::new(kind, actor).detail(serde_json::json!({ "webhook_id": id, "host": host }))
}

/// Creates a webhook of `db`'s tenant.
pub async fn create(
    db: &Db,
    secrets: &SecretBox,
    clock: &dyn Clock,
    input: WebhookInput,
    actor: Actor,
) -> Result<Created, WebhookError> {
    let (values, secret) = values(secrets, &input)?;
    let id = Uuid::now_v7();
    let ev = event("webhook.created", actor, id, &values.url);
    let webhook = store::webhooks::create(db, id, values, None, clock.now(), ev).await?;
    Ok(Created { webhook, secret })
}

/// A change of a webhook: each given field replaces the stored one; `secret: Some(None)` makes
/// a new one (returned).
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub exclude_actor: Option<Option<Uuid>>,
    pub secret: Option<Option<String>>,
}

/// Changes a webhook; returns it and the new secret when one was made.
pub async fn update(
    db: &Db,
    secrets: &SecretBox,
    clock: &dyn Clock,
    id: Uuid,
    change: WebhookChange,
    actor: Actor,
) -> Result<(Webhook, Option<String>), WebhookError> {
    let current = store::webhooks::find(db, id)
        .await?
        .ok_or(WebhookError::NotFound)?;
    let url = change.url.unwrap_or_else(|| current.url.clone());
    let events = change.events.unwrap_or_else(|| current.events.clone());
    let exclude_actor = change.exclude_actor.unwrap_or(current.exclude_actor);
    let (sealed, shown) = match change.secret {
        None => (current.sealed_secret.clone(), None),
        Some(given) => {
            let secret = match given {
                Some(s) => {
                    check_secret(&s)?;
                    s
                }
                None => format!("{SECRET_PREFIX}{}", secrets::generate_secret()),
            };
            (secrets.seal(&secret)?, Some(secret))
        }
    };
    let values = WebhookValues {
        url: check_url(&url)?,
        events: check_events(&events)?,
        exclude_actor,
        sealed_secret: sealed,
    };
    let ev = event("webhook.updated", actor, id, &values.url);
    if !store::webhooks::update(db, id, values, clock.now(), ev).await? {
        return Err(WebhookError::NotFound);
    }
    let webhook = store::webhooks::find(db, id)
        .await?
        .ok_or(WebhookError::NotFound)?;
    Ok((webhook, shown))
}

/// Deletes a webhook and its delivery log; `false` when there was none.
pub async fn delete(
    db: &Db,
    clock: &dyn Clock,
    id: Uuid,
    actor: Actor,
) -> Result<bool, InternalError> {
    let url = store::webhooks::find(db, id)
        .await?
        .map(|w| w.url)
        .unwrap_or_default();
    Ok(store::webhooks::delete(
        db,
        id,
        clock.now(),
        event("webhook.deleted", actor, id, &url),
    )
    .await?)
}

pub async fn find(db: &Db, id: Uuid) -> Result<Option<Webhook>, InternalError> {
    Ok(store::webhooks::find(db, id).await?)
}

pub async fn list(db: &Db, after: Option<Uuid>, limit: u64) -> Result<Vec<Webhook>, InternalError> {
    Ok(store::webhooks::list(db, after, limit).await?)
}

/// The webhook's deliveries with their attempts, newest first.
pub async fn deliveries(
    db: &Db,
    id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<DeliveryLog>, InternalError> {
    Ok(store::webhooks::deliveries(db, id, before, limit).await?)
}

/// A `[[webhook]]` entry of the configuration (of the default tenant, or a `[[tenant]]`'s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredWebhook {
    pub url: String,
    pub events: Vec<String>,
    pub exclude_actor: Option<Uuid>,
    pub secret: String,
}

/// Makes the configured webhooks exist with their configured values (at start-up; idempotent,
/// keyed by URL).
pub async fn configure(
    db: &Db,
    secrets: &SecretBox,
    clock: &dyn Clock,
    configured: &[ConfiguredWebhook],
) -> Result<(), WebhookError> {
    for c in configured {
        let input = WebhookInput {
            url: c.url.clone(),
            events: c.events.clone(),
            exclude_actor: c.exclude_actor,
            secret: Some(c.secret.clone()),
        };
        let (values, _) = values(secrets, &input)?;
        match store::webhooks::find_configured(db, &values.url).await? {
            Some(existing)
                if existing.events == values.events
                    && existing.exclude_actor == values.exclude_actor
                    && secrets.open(&existing.sealed_secret).as_deref() == Some(&c.secret) => {}
            Some(existing) => {
                let ev = event("webhook.updated", Actor::Cli, existing.id, &values.url);
                store::webhooks::update(db, existing.id, values, clock.now(), ev).await?;
            }
            None => {
                let (id, key) = (Uuid::now_v7(), values.url.clone());
                let ev = event("webhook.created", Actor::Cli, id, &key);
                store::webhooks::create(db, id, values, Some(key), clock.now(), ev).await?;
            }
        }
    }
    Ok(())
}

/// Whether an address is one a webhook may not reach without `webhooks.allow_private`.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // shared address space
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            // IPv4-mapped and IPv4-compatible addresses are the IPv4 address.
            if let Some(v4) = v6.to_ipv4() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64 (may reach IPv4 private space)
                || s[0] == 0x2002 // 6to4 (embeds an IPv4 address)
        }
    }
}

/// A resolver that drops the addresses webhooks may not reach (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || !is_private(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} has no address a webhook may reach").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// The pause before attempt `attempts + 1`: 10 s doubling per attempt, at most an hour, ±25 %.
pub fn backoff(attempts: u32) -> Duration {
    let base = 10i64.saturating_mul(1i64 << attempts.min(12)).min(3600);
    let jitter = 0.75 + rand::random::<f64>() * 0.5;
    Duration::milliseconds((base as f64 * 1000.0 * jitter) as i64)
}

/// Delivers due events; one per process (several processes share the work through leases).
#[derive(Clone)]
pub struct Deliverer {
    db: Db,
    clock: Arc<dyn Clock>,
    secrets: SecretBox,
    client: reqwest::Client,
    allow_private: bool,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer").finish_non_exhaustive()
    }
}

impl Deliverer {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        secrets: SecretBox,
        allow_private: bool,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past `PublicOnly`.
            .no_proxy()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(10))
            .dns_resolver(Arc::new(PublicOnly { allow_private }))
            .user_agent("Tessera-Webhooks/1")
            .build()?;
        Ok(Self {
            db,
            clock,
            secrets,
            client,
            allow_private,
        })
    }

    /// Hands pending events to their webhooks and sends what is due; returns how many
    /// deliveries were attempted.
    pub async fn run_once(&self) -> Result<usize, InternalError> {
        while store::webhooks::fan_out(&self.db, self.clock.now(), 200).await? > 0 {}
        let due = store::webhooks::claim_due(&self.db, self.clock.now(), LEASE, 16).await?;
        let n = due.len();
        // Concurrently: one slow receiver does not hold the others up.
        let mut sends = tokio::task::JoinSet::new();
        for d in due {
            let me = self.clone();
            sends.spawn(async move { me.deliver(&d).await });
        }
        while let Some(done) = sends.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "recording a webhook attempt failed"),
                Err(e) => tracing::warn!(error = %e, "a webhook delivery task failed"),
            }
        }
        Ok(n)
    }

    /// Runs forever: every `every`, or at once after a round that found work.
    pub async fn run(self, every: std::time::Duration) {
        loop {
            match self.run_once().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook deliveries failed"),
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn deliver(&self, d: &DueDelivery) -> Result<(), InternalError> {
        let started = std::time::Instant::now();
        let outcome = self.send(d).await;
        let duration_ms = started.elapsed().as_millis() as i64;
        let now = self.clock.now();
        let (attempt, delivered) = match outcome {
            Ok(status) => (
                Attempt {
                    status_code: Some(status),
                    error: None,
                    duration_ms,
                },
                (200..300).contains(&status),
            ),
            Err(error) => (
                Attempt {
                    status_code: None,
                    error: Some(error),
                    duration_ms,
                },
                false,
            ),
        };
        let after = if delivered {
            After::Delivered
        } else if now - d.created_at >= GIVE_UP_AFTER {
            After::Failed
        } else {
            After::Retry(now + backoff(d.attempts))
        };
        store::webhooks::record_attempt(&self.db, d, attempt, after, now).await?;
        Ok(())
    }

    /// One attempt: the receiver's status, or why there was none.
    async fn send(&self, d: &DueDelivery) -> Result<u16, String> {
        let url = url::Url::parse(&d.url).map_err(|_| "the URL does not parse".to_owned())?;
        if let Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) = url.host() {
            let ip: Option<IpAddr> = match url.host() {
                Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
                Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
                _ => None,
            };
            if ip.is_some_and(is_private) && !self.allow_private {
                return Err("the address is private (webhooks.allow_private is off)".into());
            }
        }
        let secret = self
            .secrets
            .open(&d.sealed_secret)
            .ok_or_else(|| "the webhook's secret cannot be read".to_owned())?;
        let e = &d.event;
        let body = serde_json::to_vec(&serde_json::json!({
            "id": e.id,
            "type": e.kind,
            "occurred_at": e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "tenant": d.tenant,
            "actor": { "type": e.actor_type, "id": e.actor_id },
            "user_id": e.user_id,
            "data": e.detail,
        }))
        .map_err(|e| e.to_string())?;
        let timestamp = self.clock.now().timestamp();
        let signed = signature(&secret, timestamp, &body).ok_or("signing failed")?;
        let resp = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("tessera-signature", signed)
            .header("tessera-event-id", e.id.to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(": ");
                    text.push_str(&s.to_string());
                    source = s.source();
                }
                text.chars().take(500).collect::<String>()
            })?;
        Ok(resp.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_in_every_spelling_are_private() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.0.8",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "2002:c0a8:0101::1",
            "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(is_private(ip), "{ip}");
        }
        for ip in ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(!is_private(ip), "{ip}");
        }
    }

    #[test]
    fn signatures_are_hmac_sha256_of_time_dot_body() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
        let got = signature("secret", 1_700_000_000, b"{}").expect("signed");
        assert_eq!(
            got,
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(
            got,
            signature("other", 1_700_000_000, b"{}").expect("signed")
        );
    }
}
