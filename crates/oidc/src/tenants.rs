//! Tenants (SPEC §11): which tenants exist, and the services of each, built on first use.
//!
//! The `default` tenant is served at the base URL and its services are built at start-up, as a
//! single-tenant server's always were. Tenant `t` is served under `{base}/t/{t}`: its services
//! (a store handle scoped to it, a provider with its own issuer and keys, a profile service with
//! its own schema, its upstreams) are built the first time a request names it and kept. A tenant
//! nobody uses costs one row in `tenants` and nothing in memory.
//!
//! A loaded tenant is checked again against the database at most every [`RECHECK`], so that a
//! tenant deleted or changed by another process (`tessera tenant delete`, a `PATCH` served by
//! another server) stops being served, or is served with its new name and settings, within that
//! time; one deleted or changed through this process is seen at once ([`Registry::forget`],
//! [`Registry::recheck`]). A changed row (a later `updated_at`) re-applies the tenant's settings
//! to what is built; keys and schema are not loaded again.

use crate::services::Services;
use crate::tenant_settings::{SettingError, TenantSettings};
use crate::upstream::UpstreamSettings;
use crate::{Provider, ProviderSettings};
use auth::InternalError;
use profile::ProfileService;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use store::audit::Actor;
use store::audit::NewEvent;
use store::{DEFAULT_TENANT, Db};

pub use store::tenants::{Deletion, Tenant};

/// How long a loaded tenant is served before checking that it still exists.
pub const RECHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// What a tenant's services know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
    /// Where its pages and endpoints are, relative to the base URL: `""` for `default`,
    /// `/t/{id}` for the others.
    pub path: String,
}

impl TenantInfo {
    fn of(tenant: &Tenant) -> Self {
        Self {
            id: tenant.id.clone(),
            name: tenant.name.clone(),
            path: path_of(&tenant.id),
        }
    }

    pub fn is_default(&self) -> bool {
        self.id == DEFAULT_TENANT
    }
}

/// The path prefix tenant `id` is served under.
pub fn path_of(id: &str) -> String {
    if id == DEFAULT_TENANT {
        String::new()
    } else {
        format!("/t/{id}")
    }
}

/// The issuer of tenant `id` on a server whose base URL is `base_url`.
pub fn issuer_of(base_url: &str, id: &str) -> String {
    format!("{base_url}{}", path_of(id))
}

/// Whether `id` is a well-formed tenant id: `^[a-z][a-z0-9-]{1,62}$`.
pub fn valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    (2..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// Why a tenant could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error(
        "a tenant id is 2 to 63 characters: a lowercase letter, then lowercase letters, digits or '-'"
    )]
    InvalidId,
    #[error("the name must be 1 to 200 characters")]
    InvalidName,
    #[error("a tenant with this id exists (or was deleted less than 10 minutes ago)")]
    Exists,
    #[error("{}: {}", .0.pointer, .0.message)]
    InvalidSetting(SettingError),
    #[error("no such tenant")]
    NotFound,
    /// The `default` tenant is set up by the configuration file, not changed at run time.
    #[error("the default tenant is configured in the configuration file")]
    IsDefault,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

fn checked_name(name: &str) -> Result<&str, TenantError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(TenantError::InvalidName);
    }
    Ok(name)
}

/// Settings sent by an admin, checked, in their stored form.
fn checked_settings(
    value: &serde_json::Value,
    max_password_length: usize,
) -> Result<serde_json::Value, TenantError> {
    Ok(TenantSettings::from_json(value, max_password_length)
        .map_err(TenantError::InvalidSetting)?
        .to_json())
}

/// A change to a tenant: a new display name, new settings (replacing the stored ones whole), or
/// both. `settings` is what the Admin API received; it is checked here.
#[derive(Debug, Clone, Default)]
pub struct TenantChange<'a> {
    pub name: Option<&'a str>,
    pub settings: Option<&'a serde_json::Value>,
}

/// Changes tenant `id` (never `default`); its services pick the change up on their next request
/// (in every process: they compare the row's `updated_at`). `max_password_length` bounds the
/// password setting (the server's `password.max_length`).
pub async fn update(
    db: &Db,
    clock: &dyn store::Clock,
    id: &str,
    change: TenantChange<'_>,
    max_password_length: usize,
    actor: Actor,
) -> Result<Tenant, TenantError> {
    if id == DEFAULT_TENANT {
        return Err(TenantError::IsDefault);
    }
    let Some(current) = find(db, id).await? else {
        return Err(TenantError::NotFound);
    };
    let name = match change.name {
        Some(n) => checked_name(n)?.to_owned(),
        None => current.name.clone(),
    };
    let settings = match change.settings {
        Some(v) => checked_settings(v, max_password_length)?,
        None => current.settings.clone(),
    };
    let event = NewEvent::new("tenant.updated", actor).detail(serde_json::json!({
        "tenant_id": id,
        "name": name,
        "settings": settings,
    }));
    let system = db.in_tenant(DEFAULT_TENANT);
    let now = clock.now();
    // Strictly later than what processes have loaded, even within one millisecond.
    let at = now.max(current.updated_at + chrono::Duration::milliseconds(1));
    if !store::tenants::update(&system, id, &name, &settings, at, event)
        .await
        .map_err(InternalError)?
    {
        return Err(TenantError::NotFound);
    }
    Ok(Tenant {
        name,
        settings,
        updated_at: at,
        ..current
    })
}

/// Creates tenant `id` (SPEC §11) with `change`'s name (default: the id) and settings, recording
/// the event in the `default` tenant's audit log.
pub async fn create(
    db: &Db,
    clock: &dyn store::Clock,
    id: &str,
    change: TenantChange<'_>,
    max_password_length: usize,
    actor: Actor,
) -> Result<Tenant, TenantError> {
    if !valid_id(id) {
        return Err(TenantError::InvalidId);
    }
    let name = checked_name(change.name.unwrap_or(id))?;
    let settings = match change.settings {
        Some(v) => checked_settings(v, max_password_length)?,
        None => serde_json::json!({}),
    };
    let event = NewEvent::new("tenant.created", actor)
        .detail(serde_json::json!({ "tenant_id": id, "name": name }));
    let system = db.in_tenant(DEFAULT_TENANT);
    match store::tenants::create(&system, id, name, &settings, clock.now(), event).await {
        Ok(t) => Ok(t),
        Err(store::StoreError::Conflict(_)) => Err(TenantError::Exists),
        Err(e) => Err(TenantError::Internal(InternalError(e))),
    }
}

/// The tenant `id`, if it exists.
pub async fn find(db: &Db, id: &str) -> Result<Option<Tenant>, InternalError> {
    if !valid_id(id) {
        return Ok(None);
    }
    Ok(store::tenants::find(db, id).await?)
}

/// Tenants in id order, after `after`, at most `limit`.
pub async fn list(db: &Db, after: Option<&str>, limit: u64) -> Result<Vec<Tenant>, InternalError> {
    Ok(store::tenants::list(db, after, limit).await?)
}

/// Deletes tenant `id` and everything in it, in one transaction; `default` is refused.
pub async fn delete(
    db: &Db,
    clock: &dyn store::Clock,
    id: &str,
    actor: Actor,
) -> Result<Deletion, InternalError> {
    if !valid_id(id) {
        return Ok(Deletion::NotFound);
    }
    let event =
        NewEvent::new("tenant.deleted", actor).detail(serde_json::json!({ "tenant_id": id }));
    let system = db.in_tenant(DEFAULT_TENANT);
    Ok(store::tenants::delete(&system, id, clock.now(), event).await?)
}

/// How every tenant's services are made: the `default` tenant's, and what another tenant's
/// differ by (its store scope, issuer, keys, schema, upstreams).
#[derive(Debug, Clone)]
pub struct Blueprint {
    /// The `default` tenant's services; another tenant's start as a copy.
    pub default: Services,
    /// The base URL (the `default` tenant's issuer).
    pub base_url: String,
    /// `images.redirect_hosts`, for every tenant.
    pub redirect_hosts: Vec<String>,
    /// `[[tenant]]` entries of the configuration, by tenant id (never `default`).
    pub configured: HashMap<String, ConfiguredTenant>,
}

/// A `[[tenant]]` entry of the configuration file.
#[derive(Debug, Clone, Default)]
pub struct ConfiguredTenant {
    /// The display name it is created with at start-up when it does not exist.
    pub name: Option<String>,
    /// Defaults for its settings (its stored settings win).
    pub settings: TenantSettings,
    /// Its upstream providers (`[[tenant.upstream]]`).
    pub upstreams: Vec<UpstreamSettings>,
}

struct Loaded {
    /// The tenant's services before its settings (keys, schema, upstreams: what is costly).
    built: Arc<Services>,
    /// `built` with the settings of the row last read.
    services: Arc<Services>,
    /// The row's `updated_at` when `services` was made: a later one (name or settings changed,
    /// maybe by another process) re-applies the settings.
    updated_at: chrono::DateTime<chrono::Utc>,
    /// The row's `created_at`: another one is another tenant of the same id (deleted and made
    /// again), whose keys and schema are its own, so everything is built again.
    created_at: chrono::DateTime<chrono::Utc>,
    checked: std::time::Instant,
}

/// The tenants this process serves, loaded on first use.
pub struct Registry {
    blueprint: Blueprint,
    default: Arc<Services>,
    loaded: RwLock<HashMap<String, Loaded>>,
    /// One tenant is built at a time: two requests for a new tenant build it once.
    building: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

/// Why a tenant's services could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Internal(#[from] InternalError),
    #[error("signing keys: {0}")]
    Keys(String),
    #[error("profile schema: {0}")]
    Profile(String),
}

impl Registry {
    pub fn new(blueprint: Blueprint) -> Self {
        Self {
            default: Arc::new(blueprint.default.clone()),
            blueprint,
            loaded: RwLock::new(HashMap::new()),
            building: tokio::sync::Mutex::new(()),
        }
    }

    /// The `default` tenant's services (built at start-up).
    pub fn default_services(&self) -> &Arc<Services> {
        &self.default
    }

    /// The base URL (the `default` tenant's issuer).
    pub fn base_url(&self) -> &str {
        &self.blueprint.base_url
    }

    /// How many tenants other than `default` this process has loaded.
    pub fn loaded_count(&self) -> usize {
        self.loaded.read().map_or(0, |m| m.len())
    }

    /// The services of tenant `id`, building them on first use; `None` when there is no such
    /// tenant.
    pub async fn get(&self, id: &str) -> Result<Option<Arc<Services>>, LoadError> {
        if id == DEFAULT_TENANT {
            return Ok(Some(self.default.clone()));
        }
        if !valid_id(id) {
            return Ok(None);
        }
        if let Some(services) = self.fresh(id) {
            return Ok(Some(services));
        }
        // Whether it exists is read without the build lock: requests for unknown (or stale)
        // tenants never queue behind the building of another.
        let db = &self.blueprint.default.db;
        let Some(tenant) = store::tenants::find(db, id).await.map_err(InternalError)? else {
            self.forget(id);
            return Ok(None);
        };
        let built = match self.cached(&tenant) {
            // Still there: serve what is built.
            Some((built, services, updated_at)) if updated_at == tenant.updated_at => {
                self.loaded_at(&tenant, built, services.clone());
                return Ok(Some(services));
            }
            Some((built, _, _)) => built,
            None => {
                let _building = self.building.lock().await;
                match self.cached(&tenant) {
                    Some((built, _, _)) => built,
                    None => Arc::new(self.build(&tenant).await?),
                }
            }
        };
        let services = Arc::new(self.with_settings(&built, &tenant));
        self.loaded_at(&tenant, built, services.clone());
        Ok(Some(services))
    }

    /// Records what is served for `tenant` (as its row reads now).
    fn loaded_at(&self, tenant: &Tenant, built: Arc<Services>, services: Arc<Services>) {
        if let Ok(mut map) = self.loaded.write() {
            map.insert(
                tenant.id.clone(),
                Loaded {
                    built,
                    services,
                    updated_at: tenant.updated_at,
                    created_at: tenant.created_at,
                    checked: std::time::Instant::now(),
                },
            );
        }
    }

    /// `built` with the tenant's name and settings (stored, then configured, then the server's).
    fn with_settings(&self, built: &Services, tenant: &Tenant) -> Services {
        let configured = self
            .blueprint
            .configured
            .get(&tenant.id)
            .map(|c| c.settings.clone())
            .unwrap_or_default();
        let settings = TenantSettings::from_stored(&tenant.id, &tenant.settings).or(&configured);
        let mut services = settings.apply(built);
        services.tenant = Arc::new(TenantInfo::of(tenant));
        services
    }

    /// Creates the configuration's `[[tenant]]` entries that do not exist yet (at start-up).
    pub async fn create_configured(&self) -> Result<(), TenantError> {
        let base = &self.blueprint.default;
        for (id, configured) in &self.blueprint.configured {
            let change = TenantChange {
                name: configured.name.as_deref(),
                settings: None,
            };
            match create(
                &base.db,
                base.clock.as_ref(),
                id,
                change,
                base.password_policy.max_length,
                Actor::Cli,
            )
            .await
            {
                Ok(_) => tracing::info!(tenant = %id, "tenant of the configuration created"),
                Err(TenantError::Exists) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Makes the next request for tenant `id` read its row again (after changing it here; other
    /// processes see a change within [`RECHECK`]).
    pub fn recheck(&self, id: &str) {
        if let Ok(mut map) = self.loaded.write()
            && let Some(loaded) = map.get_mut(id)
            && let Some(stale) = std::time::Instant::now().checked_sub(RECHECK)
        {
            loaded.checked = stale;
        }
    }

    /// Stops serving tenant `id` from memory (after deleting it).
    pub fn forget(&self, id: &str) {
        if let Ok(mut map) = self.loaded.write() {
            map.remove(id);
        }
    }

    /// What is loaded for this very tenant (not an earlier one of the same id): (built, served,
    /// the row's `updated_at` then).
    fn cached(
        &self,
        tenant: &Tenant,
    ) -> Option<(Arc<Services>, Arc<Services>, chrono::DateTime<chrono::Utc>)> {
        let map = self.loaded.read().ok()?;
        map.get(&tenant.id)
            .filter(|l| l.created_at == tenant.created_at)
            .map(|l| (l.built.clone(), l.services.clone(), l.updated_at))
    }

    fn fresh(&self, id: &str) -> Option<Arc<Services>> {
        let map = self.loaded.read().ok()?;
        map.get(id)
            .filter(|l| l.checked.elapsed() < RECHECK)
            .map(|l| l.services.clone())
    }

    async fn build(&self, tenant: &Tenant) -> Result<Services, LoadError> {
        let base = &self.blueprint.default;
        let info = TenantInfo::of(tenant);
        let issuer = issuer_of(&self.blueprint.base_url, &tenant.id);
        let db = base.db.in_tenant(&tenant.id);
        let settings = ProviderSettings {
            issuer: issuer.clone(),
            ..base.provider.settings.clone()
        };
        let provider = Arc::new(
            Provider::start(&db, base.clock.as_ref(), settings)
                .await
                .map_err(|e| LoadError::Keys(e.to_string()))?,
        );
        provider.spawn_key_reloader(
            db.clone(),
            base.clock.clone(),
            std::time::Duration::from_secs(60),
        );
        let profiles = Arc::new(
            ProfileService::start(&db, &issuer)
                .await
                .map_err(|e| LoadError::Profile(e.to_string()))?
                .with_redirect_hosts(self.blueprint.redirect_hosts.clone()),
        );
        let upstreams = Arc::new(
            base.upstreams.for_issuer(
                &issuer,
                self.blueprint
                    .configured
                    .get(&tenant.id)
                    .map(|c| c.upstreams.clone())
                    .unwrap_or_default(),
            ),
        );
        tracing::info!(tenant = %tenant.id, "tenant loaded");
        Ok(Services {
            tenant: Arc::new(info),
            db,
            provider,
            profiles,
            upstreams,
            ..base.clone()
        })
    }
}

/// The `default` tenant's description.
pub fn default_info(name: &str) -> TenantInfo {
    TenantInfo {
        id: DEFAULT_TENANT.to_owned(),
        name: name.to_owned(),
        path: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        for ok in ["ab", "acme", "a-1", "x0-y", &format!("a{}", "b".repeat(62))] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "1a",
            "-a",
            "Acme",
            "ac_me",
            "ac.me",
            "acmé",
            "a b",
            &format!("a{}", "b".repeat(63)),
        ] {
            assert!(!valid_id(bad), "{bad}");
        }
        assert_eq!(path_of("default"), "");
        assert_eq!(path_of("acme"), "/t/acme");
    }
}
