//! Passkeys (WebAuthn, SPEC §9), with `webauthn-rs`: registered from the settings page, used as
//! a second factor after the password, or alone (a discoverable credential: password-less).
//!
//! Each ceremony has two halves. `start_*` makes the browser's options and keeps the server's
//! half in `webauthn_ceremonies` under a random token (stored hashed, five minutes, taken — and
//! deleted — by the one `finish_*` that presents it), so a challenge is bound to the browser that
//! asked and answered once. The relying-party id is the issuer's host and the origin its scheme,
//! host and port, so a tenant's passkeys (under `/t/{id}` on the same host) share the host's
//! relying party; the user handle is the user id, which exists in one tenant only, so a passkey
//! of one tenant names nobody in another. User verification is required.
//!
//! A passkey is stored as an `mfa_factors` row of kind `passkey`: the credential id (base64url) in
//! `secret`, the credential (public key, counter, backup flags) in `data`.

use crate::InternalError;
use crate::mfa::PASSKEY;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use store::audit::{Actor, NewEvent};
use store::mfa::{Ceremony, NewFactor};
use store::{Clock, Db, Uuid};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

/// How long a ceremony waits for the browser.
pub const CEREMONY_TTL: chrono::Duration = chrono::Duration::minutes(5);
const REGISTER: &str = "register";
const AUTHENTICATE: &str = "authenticate";
const DISCOVER: &str = "discover";

/// Why a passkey step failed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The issuer cannot be a relying party (an IP address: browsers refuse those).
    #[error("passkeys need the issuer to be a host name (not an IP address)")]
    Unavailable,
    /// The ceremony is unknown, used or expired: start again.
    #[error("the passkey request expired; try again")]
    Expired,
    /// The browser's answer did not verify, or names no passkey of the account.
    #[error("the passkey was not accepted")]
    Refused,
    /// The passkey's account is disabled.
    #[error("This account is disabled.")]
    Disabled,
    /// The user has no passkey to sign in with.
    #[error("there is no passkey for this account")]
    NoPasskey,
    /// The passkey is registered already (to this or another account).
    #[error("this passkey is registered already")]
    Taken,
    #[error("the name must be 1 to 64 characters")]
    InvalidName,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

impl From<store::StoreError> for PasskeyError {
    fn from(e: store::StoreError) -> Self {
        PasskeyError::Internal(InternalError(e))
    }
}

/// The relying party of an issuer: id = its host, origin = scheme, host and port.
pub fn relying_party(issuer: &str, name: &str) -> Result<Webauthn, PasskeyError> {
    let url = Url::parse(issuer).map_err(|_| PasskeyError::Unavailable)?;
    let host = url.domain().ok_or(PasskeyError::Unavailable)?.to_owned();
    let origin =
        Url::parse(&url.origin().ascii_serialization()).map_err(|_| PasskeyError::Unavailable)?;
    WebauthnBuilder::new(&host, &origin)
        .and_then(|b| b.rp_name(name).build())
        .map_err(|_| PasskeyError::Unavailable)
}

fn corrupt(what: &str) -> PasskeyError {
    PasskeyError::Internal(InternalError(store::StoreError::Corrupt(what.to_owned())))
}

/// A ceremony started: the options for `navigator.credentials`, and the token that names it.
#[derive(Debug, Clone)]
pub struct Started {
    pub options: Value,
    pub token: String,
}

async fn keep(
    db: &Db,
    clock: &dyn Clock,
    user_id: Option<Uuid>,
    purpose: &str,
    state: Value,
    options: Value,
) -> Result<Started, PasskeyError> {
    let token = crate::secrets::generate_secret();
    let now = clock.now();
    let ceremony = Ceremony {
        user_id,
        purpose: purpose.to_owned(),
        state: state.to_string(),
    };
    store::mfa::insert_ceremony(
        db,
        &crate::secrets::hash_secret(&token),
        &ceremony,
        now,
        now + CEREMONY_TTL,
    )
    .await?;
    Ok(Started { options, token })
}

async fn take<T: serde::de::DeserializeOwned>(
    db: &Db,
    clock: &dyn Clock,
    token: &str,
    purpose: &str,
) -> Result<(Option<Uuid>, T), PasskeyError> {
    if token.is_empty() || token.len() > 128 {
        return Err(PasskeyError::Expired);
    }
    let ceremony = store::mfa::take_ceremony(
        db,
        &crate::secrets::hash_secret(token),
        purpose,
        clock.now(),
    )
    .await?
    .ok_or(PasskeyError::Expired)?;
    let state = serde_json::from_str(&ceremony.state).map_err(|_| corrupt("ceremony state"))?;
    Ok((ceremony.user_id, state))
}

/// The user's passkeys: (factor id, credential).
async fn passkeys_of(db: &Db, user_id: Uuid) -> Result<Vec<(Uuid, Passkey)>, PasskeyError> {
    Ok(store::mfa::list_factors(db, user_id)
        .await?
        .into_iter()
        .filter(|f| f.kind == PASSKEY && f.confirmed_at.is_some())
        .filter_map(|f| Some((f.id, serde_json::from_value(f.data).ok()?)))
        .collect())
}

fn credential_id(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Starts adding a passkey for `user_id` (`user_name`: the email the authenticator shows).
pub async fn start_registration(
    db: &Db,
    clock: &dyn Clock,
    rp: &Webauthn,
    user_id: Uuid,
    user_name: &str,
) -> Result<Started, PasskeyError> {
    let existing = passkeys_of(db, user_id).await?;
    let exclude = existing.iter().map(|(_, p)| p.cred_id().clone()).collect();
    let (options, state): (_, PasskeyRegistration) = rp
        .start_passkey_registration(user_id, user_name, user_name, Some(exclude))
        .map_err(|_| PasskeyError::Refused)?;
    let state = serde_json::to_value(&state).map_err(|_| corrupt("registration state"))?;
    let options = serde_json::to_value(&options).map_err(|_| corrupt("registration options"))?;
    keep(db, clock, Some(user_id), REGISTER, state, options).await
}

/// Finishes adding a passkey named `name` with the browser's answer.
#[allow(clippy::too_many_arguments)]
pub async fn finish_registration(
    db: &Db,
    clock: &dyn Clock,
    rp: &Webauthn,
    user_id: Uuid,
    token: &str,
    answer: &RegisterPublicKeyCredential,
    name: &str,
    ip: Option<&str>,
) -> Result<(), PasskeyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(PasskeyError::InvalidName);
    }
    let (owner, state): (_, PasskeyRegistration) = take(db, clock, token, REGISTER).await?;
    if owner != Some(user_id) {
        return Err(PasskeyError::Expired);
    }
    let passkey = rp
        .finish_passkey_registration(answer, &state)
        .map_err(|_| PasskeyError::Refused)?;
    let cred = credential_id(passkey.cred_id().as_slice());
    if store::mfa::find_by_secret(db, PASSKEY, &cred)
        .await?
        .is_some()
    {
        return Err(PasskeyError::Taken);
    }
    let factor_id = Uuid::now_v7();
    let event = NewEvent::new("mfa.enrolled", Actor::User(user_id))
        .user(user_id)
        .ip(ip.map(str::to_owned))
        .detail(json!({ "factor_id": factor_id, "type": PASSKEY }));
    store::mfa::insert_factor(
        db,
        NewFactor {
            id: factor_id,
            user_id,
            kind: PASSKEY.into(),
            name: name.to_owned(),
            secret: Some(cred),
            data: serde_json::to_value(&passkey).map_err(|_| corrupt("passkey"))?,
            confirmed: true,
        },
        false,
        clock.now(),
        Some(event),
    )
    .await
    .map_err(|e| match e {
        store::StoreError::Conflict(_) => PasskeyError::Taken,
        e => PasskeyError::from(e),
    })?;
    Ok(())
}

/// Starts a second-factor sign-in with one of `user_id`'s passkeys.
pub async fn start_authentication(
    db: &Db,
    clock: &dyn Clock,
    rp: &Webauthn,
    user_id: Uuid,
) -> Result<Started, PasskeyError> {
    let keys: Vec<Passkey> = passkeys_of(db, user_id)
        .await?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if keys.is_empty() {
        return Err(PasskeyError::NoPasskey);
    }
    let (options, state): (_, PasskeyAuthentication) = rp
        .start_passkey_authentication(&keys)
        .map_err(|_| PasskeyError::Refused)?;
    let state = serde_json::to_value(&state).map_err(|_| corrupt("authentication state"))?;
    let options = serde_json::to_value(&options).map_err(|_| corrupt("authentication options"))?;
    keep(db, clock, Some(user_id), AUTHENTICATE, state, options).await
}

/// Stores what a sign-in changed in the passkey (its counter, its backup flags).
async fn record_use(
    db: &Db,
    clock: &dyn Clock,
    keys: &mut [(Uuid, Passkey)],
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<(), PasskeyError> {
    for (id, key) in keys.iter_mut() {
        if key.update_credential(result).is_some() {
            let data = serde_json::to_value(&*key).map_err(|_| corrupt("passkey"))?;
            store::mfa::update_data(db, *id, &data, clock.now()).await?;
        }
    }
    Ok(())
}

/// Finishes a second-factor sign-in of `user_id` with the browser's answer.
pub async fn finish_authentication(
    db: &Db,
    clock: &dyn Clock,
    rp: &Webauthn,
    user_id: Uuid,
    token: &str,
    answer: &PublicKeyCredential,
) -> Result<(), PasskeyError> {
    let (owner, state): (_, PasskeyAuthentication) = take(db, clock, token, AUTHENTICATE).await?;
    if owner != Some(user_id) {
        return Err(PasskeyError::Expired);
    }
    let result = rp
        .finish_passkey_authentication(answer, &state)
        .map_err(|_| PasskeyError::Refused)?;
    let mut keys = passkeys_of(db, user_id).await?;
    record_use(db, clock, &mut keys, &result).await
}

/// Starts a password-less sign-in: any discoverable passkey of this relying party may answer.
pub async fn start_discoverable(
    db: &Db,
    clock: &dyn Clock,
    rp: &Webauthn,
) -> Result<Started, PasskeyError> {
    let (mut options, state): (_, DiscoverableAuthentication) = rp
        .start_discoverable_authentication()
        .map_err(|_| PasskeyError::Refused)?;
    // A button, not autofill: the browser asks at once.
    options.mediation = None;
    let state = serde_json::to_value(&state).map_err(|_| corrupt("discoverable state"))?;
    let options = serde_json::to_value(&options).map_err(|_| corrupt("discoverable options"))?;
    keep(db, clock, None, DISCOVER, state, options).await
}

/// Finishes a password-less sign-in: the user the passkey belongs to, in this tenant (never a
/// disabled one: the passkey is checked, then the account refused).
pub async fn finish_discoverable(
    db: &Db,
    clock: &dyn Clock,
    rp: &Webauthn,
    token: &str,
    answer: &PublicKeyCredential,
    ip: Option<&str>,
) -> Result<Uuid, PasskeyError> {
    let (_, state): (_, DiscoverableAuthentication) = take(db, clock, token, DISCOVER).await?;
    let (user_id, cred) = rp
        .identify_discoverable_authentication(answer)
        .map_err(|_| PasskeyError::Refused)?;
    let cred = credential_id(cred);
    let mut keys = passkeys_of(db, user_id).await?;
    let Some((_, key)) = keys
        .iter()
        .find(|(_, k)| credential_id(k.cred_id().as_slice()) == cred)
    else {
        return Err(PasskeyError::Refused);
    };
    let result = rp
        .finish_discoverable_authentication_v2(answer, state, key)
        .map_err(|_| PasskeyError::Refused)?;
    record_use(db, clock, &mut keys, &result).await?;
    let enabled = store::accounts::find_user(db, user_id)
        .await?
        .is_some_and(|u| !u.disabled);
    if !enabled {
        return Err(PasskeyError::Disabled);
    }
    let event = NewEvent::new("login.passkey", Actor::User(user_id))
        .user(user_id)
        .ip(ip.map(str::to_owned));
    store::audit::record(db, event, clock.now())
        .await
        .map_err(InternalError)?;
    Ok(user_id)
}

/// The `amr` of a sign-in a passkey proved (user verification is required): hardware key and
/// user, so multi-factor.
pub const PASSKEY_AMR: &str = "hwk user mfa";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_issuers_host() {
        assert!(relying_party("http://localhost:8080", "T").is_ok());
        assert!(relying_party("https://id.example.com/t/acme", "T").is_ok());
        assert!(matches!(
            relying_party("http://127.0.0.1:8080", "T"),
            Err(PasskeyError::Unavailable)
        ));
    }
}
