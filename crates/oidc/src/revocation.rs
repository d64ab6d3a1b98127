//! Token revocation (RFC 7009) and introspection (RFC 7662).

use crate::OAuthError;
use crate::bearer;
use crate::client_auth::{self, Method, PresentedCredentials};
use crate::provider::Provider;
use auth::secrets;
use store::{Clock, Db};

/// The form body of a revocation or introspection request.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TokenParams {
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Revokes a refresh token (its whole grant) or an access token (its `jti`) that belongs to the
/// authenticated client. Unknown tokens are not an error (RFC 7009 §2.2).
pub async fn revoke(
    provider: &Provider,
    db: &Db,
    clock: &dyn Clock,
    params: TokenParams,
    authorization: Option<String>,
) -> Result<(), (OAuthError, Method)> {
    let presented = PresentedCredentials {
        authorization,
        client_id: params.client_id.clone(),
        client_secret: params.client_secret.clone(),
    };
    let (client, method) =
        client_auth::authenticate_client(db, &provider.clients, &presented).await?;
    let Some(token) = params.token.filter(|t| !t.is_empty()) else {
        return Err((OAuthError::invalid_request("token is missing"), method));
    };
    let now = clock.now();
    if looks_like_jwt(&token) {
        if let Ok(claims) = bearer::verify_signature(provider, db, clock, &token, false).await
            && claims.client_id == client.client_id
        {
            let expires = store::from_millis(claims.exp.saturating_mul(1000));
            store::oauth::revoke_access_token(db, &claims.jti, expires)
                .await
                .map_err(|e| (OAuthError::from(e), method))?;
        }
        return Ok(());
    }
    if token.len() <= 128
        && let Some(record) = store::oauth::find_refresh_token(db, &secrets::hash_secret(&token))
            .await
            .map_err(|e| (OAuthError::from(e), method))?
        && record.grant.client_id == client.client_id
    {
        store::oauth::revoke_grant(db, record.grant.id, now)
            .await
            .map_err(|e| (OAuthError::from(e), method))?;
    }
    Ok(())
}

/// Introspects a token for an authenticated confidential client.
pub async fn introspect(
    provider: &Provider,
    db: &Db,
    clock: &dyn Clock,
    params: TokenParams,
    authorization: Option<String>,
) -> Result<serde_json::Value, (OAuthError, Method)> {
    let presented = PresentedCredentials {
        authorization,
        client_id: params.client_id.clone(),
        client_secret: params.client_secret.clone(),
    };
    let (client, method) =
        client_auth::authenticate_client(db, &provider.clients, &presented).await?;
    if client.is_public {
        return Err((
            OAuthError::invalid_client("public clients may not introspect tokens"),
            method,
        ));
    }
    let Some(token) = params.token.filter(|t| !t.is_empty()) else {
        return Err((OAuthError::invalid_request("token is missing"), method));
    };
    let inactive = serde_json::json!({ "active": false });
    if looks_like_jwt(&token) {
        return Ok(
            match bearer::verify_access_token(provider, db, clock, &token).await {
                Ok(verified) => {
                    let c = verified.claims;
                    let mut out = serde_json::json!({
                        "active": true,
                        "token_type": "Bearer",
                        "scope": c.scope,
                        "client_id": c.client_id,
                        "sub": c.sub,
                        "aud": c.aud,
                        "iss": c.iss,
                        "exp": c.exp,
                        "iat": c.iat,
                        "jti": c.jti,
                    });
                    if let Some(t) = c.auth_time {
                        out["auth_time"] = t.into();
                    }
                    out
                }
                Err(_) => inactive,
            },
        );
    }
    if token.len() > 128 {
        return Ok(inactive);
    }
    let record = store::oauth::find_refresh_token(db, &secrets::hash_secret(&token))
        .await
        .map_err(|e| (OAuthError::from(e), method))?;
    Ok(match record {
        Some(r)
            if !r.used && !r.grant.revoked && !r.user_disabled && clock.now() < r.expires_at =>
        {
            serde_json::json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": r.grant.scope,
                "client_id": r.grant.client_id,
                "sub": r.grant.user_id.to_string(),
                "iss": provider.settings.issuer,
                "exp": r.expires_at.timestamp(),
                "iat": r.grant.created_at.timestamp(),
            })
        }
        _ => inactive,
    })
}
