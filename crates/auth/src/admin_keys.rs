//! Admin API keys: shown once when created, stored as a hash.

use crate::{InternalError, secrets};
use store::audit::{Actor, NewEvent};
use store::{Clock, Db, Uuid};

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
    #[error(transparent)]
    Internal(#[from] InternalError),
}

pub async fn create_admin_key(
    db: &Db,
    clock: &dyn Clock,
    name: &str,
    actor: Actor,
) -> Result<CreatedAdminKey, AdminKeyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(AdminKeyError::InvalidName);
    }
    let id = Uuid::now_v7();
    let key = format!("{KEY_PREFIX}{}", secrets::generate_secret());
    let event = NewEvent::new("admin_key.created", actor)
        .detail(serde_json::json!({ "admin_key_id": id, "name": name }));
    store::admin_keys::insert_admin_key(
        db,
        id,
        name,
        &secrets::hash_secret(&key),
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
