//! `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client acting for itself.
//! Nothing is written to the database; the token is revocable by its `jti`.

use crate::provider::Provider;
use crate::tokens::{self, AccessTokenSubject, TokenResponse};
use crate::{ErrorCode, OAuthError};
use store::Clock;
use store::clients::Client;

use super::TokenRequest;

pub(super) fn exchange(
    provider: &Provider,
    clock: &dyn Clock,
    client: &Client,
    req: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "public clients cannot use client_credentials",
        ));
    }
    // The client may ask for the scopes it is registered for (all of them by default).
    let scope = match req.scope.as_deref().filter(|s| !s.trim().is_empty()) {
        None => client.scopes.join(" "),
        Some(requested) => {
            let mut out: Vec<&str> = Vec::new();
            for s in requested.split(' ').filter(|s| !s.is_empty()) {
                if !client.scopes.iter().any(|c| c == s) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        format!("this client may not request the scope {s:?}"),
                    ));
                }
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            out.join(" ")
        }
    };
    let (access_token, expires_in) = tokens::mint_access_token(
        provider,
        clock.now(),
        AccessTokenSubject {
            sub: client.client_id.clone(),
            client_id: &client.client_id,
            scope: &scope,
            auth_time: None,
            session_id: None,
            grant_id: None,
        },
    )?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token: None,
        id_token: None,
        scope,
    })
}
