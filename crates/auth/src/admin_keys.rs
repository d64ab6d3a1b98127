//! Admin API keys: shown once when created, stored as a hash.

use crate::{InternalError, secrets};
use store::audit::{Actor, NewEvent};
use store::{Clock, Db, Uuid};

pub use store::admin_keys::AdminKeyInfo;

/// Every admin key starts with this, so that a leaked one is easy to recognise.
pub const KEY_PREFIX: &str = "tsa_";

/// A key just created; `key` is the only copy of the secret.
#[derive(Debug, Clone)]
pub struct CreatedAdminKey {
    pub id: Uuid,
    pub name: String,
    pub key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminKeyError {
    #[error("name must be 1 to 256 characters")]
    InvalidName,
    /// System keys belong to the `default` tenant (they act in every tenant from there).
    #[error("a system key is created in the default tenant only")]
    SystemOutsideDefault,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Creates an admin key of `db`'s tenant; a `system` key (SPEC §11) also manages tenants and acts
/// in every tenant.
pub async fn create_admin_key(
    db: &Db,
    clock: &dyn Clock,
    name: &str,
    system: bool,
    actor: Actor,
) -> Result<CreatedAdminKey, AdminKeyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(AdminKeyError::InvalidName);
    }
    if system && db.tenant() != store::DEFAULT_TENANT {
        return Err(AdminKeyError::SystemOutsideDefault);
    }
    let id = Uuid::now_v7();
    let key = format!("{KEY_PREFIX}{}", secrets::generate_secret());
    let event = NewEvent::new("admin_key.created", actor)
        .detail(serde_json::json!({ "admin_key_id": id, "name": name, "system": system }));
    store::admin_keys::insert_admin_key(
        db,
        id,
        name,
        &secrets::hash_secret(&key),
        system,
        clock.now(),
        event,
    )
    .await
    .map_err(InternalError)?;
    Ok(CreatedAdminKey {
        id,
        name: name.to_owned(),
        key,
    })
}

/// How often a key's `last_used_at` is written at most: an Admin API read must not take the
/// writer on every request.
const TOUCH_INTERVAL: chrono::Duration = chrono::Duration::minutes(1);

/// Why an admin key was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the admin key is not valid")]
    Invalid,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// A key that authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatedKey {
    pub id: Uuid,
    /// A system key: it may manage tenants.
    pub system: bool,
}

/// The live admin key `presented` is, found by its hash (compared again in constant time) among
/// the keys of `db`'s tenant and the system keys; its use is recorded at most once a minute.
pub async fn authenticate(
    db: &Db,
    clock: &dyn Clock,
    presented: &str,
) -> Result<AuthenticatedKey, KeyError> {
    if presented.is_empty() || presented.len() > 256 {
        return Err(KeyError::Invalid);
    }
    let hash = secrets::hash_secret(presented);
    let found = store::admin_keys::find_live_key(db, &hash)
        .await
        .map_err(InternalError)?
        .filter(|k| secrets::constant_time_eq(&k.key_hash, &hash))
        .ok_or(KeyError::Invalid)?;
    let now = clock.now();
    if found.last_used_at.is_none_or(|t| now - t >= TOUCH_INTERVAL)
        && let Err(e) = store::admin_keys::touch_admin_key(db, found.id, now).await
    {
        tracing::warn!(error = %e, "could not record the admin key's use");
    }
    Ok(AuthenticatedKey {
        id: found.id,
        system: found.system,
    })
}

/// The admin keys (never the keys themselves).
pub async fn list(db: &Db) -> Result<Vec<AdminKeyInfo>, InternalError> {
    Ok(store::admin_keys::list_admin_keys(db).await?)
}

/// Revokes a live key; `false` when there is none with that id.
pub async fn revoke(
    db: &Db,
    clock: &dyn Clock,
    id: Uuid,
    by: Actor,
) -> Result<bool, InternalError> {
    let event =
        NewEvent::new("admin_key.revoked", by).detail(serde_json::json!({ "admin_key_id": id }));
    Ok(store::admin_keys::revoke_admin_key(db, id, clock.now(), event).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::ManualClock;
    use store::testing::TestDatabase;

    #[tokio::test]
    async fn system_keys_are_made_in_the_default_tenant_only() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let acme = t.db.in_tenant("acme");
        assert!(matches!(
            create_admin_key(&acme, &clock, "ops", true, Actor::Cli).await,
            Err(AdminKeyError::SystemOutsideDefault)
        ));
        let key = create_admin_key(&t.db, &clock, "ops", true, Actor::Cli)
            .await
            .expect("a system key at the root");
        let hash = secrets::hash_secret(&key.key);
        let seen = store::admin_keys::find_live_key(&acme, &hash)
            .await
            .expect("lookup")
            .expect("a system key acts in every tenant");
        assert!(seen.system);
    }
}
