//! The apps a user has consented to (third-party clients), as the settings page lists them, and
//! withdrawing a consent (which ends the grants it allowed).

use auth::InternalError;
use store::audit::{Actor, NewEvent};
use store::{Clock, Db, Uuid};

pub use store::oauth::ConnectedApp;

/// The user's consents, newest first, with the clients' names.
pub async fn connected_apps(db: &Db, user_id: Uuid) -> Result<Vec<ConnectedApp>, InternalError> {
    Ok(store::oauth::connected_apps(db, user_id).await?)
}

/// Withdraws the user's consent to `client_id`: the app must ask again, and what it was issued
/// stops working, in one transaction with the audit event.
pub async fn revoke(
    db: &Db,
    clock: &dyn Clock,
    user_id: Uuid,
    client_id: &str,
    ip: Option<String>,
) -> Result<(), InternalError> {
    let client_id: String = client_id.chars().take(128).collect();
    let event = NewEvent::new("consent.revoked", Actor::User(user_id))
        .user(user_id)
        .ip(ip)
        .detail(serde_json::json!({ "client_id": client_id }));
    store::oauth::revoke_consent(db, user_id, &client_id, clock.now(), event).await?;
    Ok(())
}
