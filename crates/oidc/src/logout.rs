//! RP-initiated logout (`end_session_endpoint`) and back-channel logout tokens.

use crate::provider::Provider;
use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;
use std::time::Duration;
use store::{Clock, Db, Uuid};

/// The parameters of an end-session request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EndSessionRequest {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
    pub logout_hint: Option<String>,
    pub ui_locales: Option<String>,
}

/// What a valid end-session request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndSessionPlan {
    /// Where to send the browser afterwards (a registered URI, with `state`).
    pub redirect: Option<String>,
    /// The user the ID token hint names; when it is the signed-in user, no confirmation is asked.
    pub hinted_user: Option<Uuid>,
}

#[derive(Deserialize)]
struct HintClaims {
    sub: String,
    aud: serde_json::Value,
}

/// Checks an end-session request. An error is a message for the user; the browser is never sent
/// to an unregistered URI.
pub async fn check_end_session(
    provider: &Provider,
    db: &Db,
    clock: &dyn Clock,
    req: &EndSessionRequest,
) -> Result<EndSessionPlan, String> {
    let mut hinted_user = None;
    let mut hinted_client: Option<String> = None;
    if let Some(hint) = req.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        let invalid = || "The id_token_hint is not an ID token issued by this server.".to_owned();
        if hint.len() > 8192 {
            return Err(invalid());
        }
        let header = decode_header(hint).map_err(|_| invalid())?;
        let kid = header.kid.ok_or_else(invalid)?;
        let key = provider
            .verifying_key(db, clock, &kid)
            .await
            .map_err(|_| invalid())?
            .ok_or_else(invalid)?;
        if key.alg != header.alg {
            return Err(invalid());
        }
        let mut validation = Validation::new(key.alg);
        // An expired ID token is still a fine hint (OpenID RP-Initiated Logout §2).
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[&provider.settings.issuer]);
        let claims = decode::<HintClaims>(hint, &key.key, &validation)
            .map_err(|_| invalid())?
            .claims;
        hinted_user = Uuid::parse_str(&claims.sub).ok();
        hinted_client = match claims.aud {
            serde_json::Value::String(a) => Some(a),
            serde_json::Value::Array(a) => a.first().and_then(|v| v.as_str()).map(str::to_owned),
            _ => None,
        };
    }
    let client_id = match (&hinted_client, req.client_id.as_deref()) {
        (Some(h), Some(c)) if h != c => {
            return Err("The client_id does not match the id_token_hint.".into());
        }
        (Some(h), _) => Some(h.clone()),
        (None, c) => c.map(str::to_owned),
    };
    let redirect = match req.post_logout_redirect_uri.as_deref() {
        None => None,
        Some(uri) => {
            let Some(client_id) = client_id else {
                return Err(
                    "A post_logout_redirect_uri needs an id_token_hint or client_id.".into(),
                );
            };
            let client = store::clients::find_by_client_id(db, &client_id)
                .await
                .map_err(|_| "The server could not look up the client.".to_owned())?
                .ok_or_else(|| "The application is not registered with this server.".to_owned())?;
            if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Err(
                    "The post_logout_redirect_uri is not registered for this application.".into(),
                );
            }
            let mut url =
                url::Url::parse(uri).map_err(|_| "Invalid post_logout_redirect_uri.".to_owned())?;
            if let Some(state) = req.state.as_deref() {
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(url.to_string())
        }
    };
    Ok(EndSessionPlan {
        redirect,
        hinted_user,
    })
}

/// A logout token for one client (OpenID Back-Channel Logout §2.4).
pub fn logout_token(
    provider: &Provider,
    now: chrono::DateTime<chrono::Utc>,
    client_id: &str,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<String, crate::keys::KeyError> {
    let claims = serde_json::json!({
        "iss": provider.settings.issuer,
        "aud": client_id,
        "iat": now.timestamp(),
        "exp": now.timestamp() + 120,
        "jti": auth::secrets::generate_identifier(),
        "sub": user_id.to_string(),
        "sid": session_id.to_string(),
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    provider
        .keys()
        .signing_key(provider.settings.id_token_alg)?
        .sign_jwt("logout+jwt", &claims)
}

/// The clients to notify when a session ends, with their logout tokens; collect them before the
/// session's grants are revoked.
pub async fn prepare_backchannel(
    provider: &Provider,
    db: &Db,
    clock: &dyn Clock,
    session_id: Uuid,
) -> Vec<(String, String)> {
    let targets = match store::oauth::backchannel_targets(db, session_id).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "could not list back-channel logout targets");
            return Vec::new();
        }
    };
    let now = clock.now();
    targets
        .into_iter()
        .filter_map(|(client_id, uri, user_id)| {
            match logout_token(provider, now, &client_id, user_id, session_id) {
                Ok(token) => Some((uri, token)),
                Err(e) => {
                    tracing::error!(error = %e, %client_id, "could not sign a logout token");
                    None
                }
            }
        })
        .collect()
}

/// POSTs each logout token in the background (5 s timeout, one retry); failures are logged.
pub fn send_backchannel(notifications: Vec<(String, String)>) {
    if notifications.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "back-channel HTTP client");
                return;
            }
        };
        for (uri, token) in notifications {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("logout_token", &token)
                .finish();
            let mut delivered = false;
            for _ in 0..2 {
                let sent = client
                    .post(&uri)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone())
                    .send()
                    .await;
                if let Ok(resp) = sent
                    && resp.status().is_success()
                {
                    delivered = true;
                    break;
                }
            }
            if !delivered {
                tracing::warn!(%uri, "back-channel logout was not accepted");
            }
        }
    });
}

/// How a browser session ends.
#[derive(Debug, Clone)]
pub enum Ending {
    /// The user signed out (or revoked one of their sessions) from `ip`.
    SignedOut { ip: Option<String> },
    /// An admin (or another party) revoked it.
    Revoked { by: store::audit::Actor },
}

/// Ends a browser session: what was issued under it is revoked and its unredeemed codes voided
/// (in the store's one transaction with the audit event), and clients that registered for
/// back-channel logout are told. Signing out, revoking a session from the settings page and an
/// admin's revocation all come here.
pub async fn end_session(
    provider: &Provider,
    db: &Db,
    clock: &dyn Clock,
    session: &store::sessions::Session,
    ending: Ending,
) -> Result<(), auth::InternalError> {
    let notifications = prepare_backchannel(provider, db, clock, session.id).await;
    match ending {
        Ending::SignedOut { ip } => auth::sessions::end_session(db, clock, session, ip)
            .await
            .map_err(|auth::SessionError::Internal(e)| e)?,
        Ending::Revoked { by } => {
            let event = store::audit::NewEvent::new("session.revoked", by)
                .user(session.user_id)
                .detail(serde_json::json!({ "session_id": session.id }));
            store::sessions::end_session(db, session.id, clock.now(), event)
                .await
                .map_err(auth::InternalError)?;
        }
    }
    send_backchannel(notifications);
    Ok(())
}
