//! `grant_type=refresh_token` (RFC 6749 §6), with rotation on every use and reuse detection:
//! presenting a refresh token that was already used revokes the whole grant.

use crate::OAuthError;
use crate::provider::Provider;
use crate::tokens::{self, AccessTokenSubject, TokenResponse};
use auth::secrets;
use store::clients::Client;
use store::oauth::{NewRefreshToken, Rotation};
use store::{Clock, Db};

use super::{TokenRequest, narrow_scope};

pub(super) async fn exchange(
    provider: &Provider,
    db: &Db,
    clock: &dyn Clock,
    client: &Client,
    req: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let now = clock.now();
    let presented = req
        .refresh_token
        .as_deref()
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let old_hash = secrets::hash_secret(presented);
    let record = store::oauth::find_refresh_token(db, &old_hash)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid"))?;
    let grant = &record.grant;
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if grant.revoked {
        return Err(OAuthError::invalid_grant(
            "the refresh token has been revoked",
        ));
    }
    if record.user_disabled {
        return Err(OAuthError::invalid_grant("the user is disabled"));
    }
    if now >= record.expires_at {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    let scope = narrow_scope(&grant.scope, req.scope.as_deref())?;
    let new_token = secrets::generate_secret();
    let new = NewRefreshToken {
        token_hash: secrets::hash_secret(&new_token),
        expires_at: now + provider.settings.refresh_token_ttl,
    };
    // Rotation is the single-use check: a token used before revokes the grant.
    if store::oauth::rotate_refresh_token(db, &old_hash, grant.id, &new, now).await?
        == Rotation::Reused
    {
        tracing::warn!(grant_id = %grant.id, client_id = %client.client_id, "refresh token reused; grant revoked");
        let event =
            store::audit::NewEvent::new("refresh_token.reused", store::audit::Actor::Anonymous)
                .user(grant.user_id)
                .detail(serde_json::json!({ "client_id": client.client_id, "grant_id": grant.id }));
        store::audit::record(db, event, now).await?;
        return Err(OAuthError::invalid_grant(
            "the refresh token has already been used",
        ));
    }
    let (access_token, expires_in) = tokens::mint_access_token(
        provider,
        now,
        AccessTokenSubject {
            sub: grant.user_id.to_string(),
            client_id: &client.client_id,
            scope: &scope,
            auth_time: Some(grant.auth_time),
            session_id: grant.session_id,
            grant_id: Some(grant.id),
        },
    )?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token: Some(new_token),
        id_token: None,
        scope,
    })
}
