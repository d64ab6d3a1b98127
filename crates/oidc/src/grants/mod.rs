//! The token endpoint: one grant per module, each a linear chain of checks.

mod authorization_code;
mod client_credentials;
mod refresh_token;

use crate::client_auth::{self, Method, PresentedCredentials};
use crate::provider::Provider;
use crate::tokens::TokenResponse;
use crate::{ErrorCode, OAuthError};
use serde::Deserialize;
use store::clients::Client;
use store::{Clock, Db};

/// The form body of a token request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// A refused token request, with how the client authenticated (a failed `client_secret_basic`
/// answers 401 with `WWW-Authenticate: Basic`).
#[derive(Debug, Clone)]
pub struct TokenError {
    pub error: OAuthError,
    pub method: Method,
}

impl From<OAuthError> for TokenError {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            method: Method::None,
        }
    }
}

fn client_may(client: &Client, grant: &str) -> Result<(), OAuthError> {
    if client.grant_types.iter().any(|g| g == grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use the {grant} grant"),
        ))
    }
}

/// Narrows `granted` to `requested` (space-separated); a scope not granted is `invalid_scope`.
fn narrow_scope(granted: &str, requested: Option<&str>) -> Result<String, OAuthError> {
    let Some(requested) = requested.filter(|r| !r.trim().is_empty()) else {
        return Ok(granted.to_owned());
    };
    let granted: Vec<&str> = granted.split(' ').collect();
    let mut out: Vec<&str> = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if !granted.contains(&s) {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("the scope {s:?} was not granted"),
            ));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out.join(" "))
}

/// Handles a token request.
pub async fn exchange(
    provider: &Provider,
    profiles: &profile::ProfileService,
    db: &Db,
    clock: &dyn Clock,
    req: TokenRequest,
    authorization: Option<String>,
) -> Result<TokenResponse, TokenError> {
    let presented = PresentedCredentials {
        authorization,
        client_id: req.client_id.clone(),
        client_secret: req.client_secret.clone(),
    };
    let Some(grant_type) = req.grant_type.clone() else {
        return Err(OAuthError::invalid_request("grant_type is missing").into());
    };
    if !crate::clients::SUPPORTED_GRANTS.contains(&grant_type.as_str()) {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("the grant type {grant_type:?} is not supported"),
        )
        .into());
    }
    let (client, method) =
        match client_auth::authenticate_client(db, &provider.clients, &presented).await {
            Ok(c) => c,
            Err((error, method)) => {
                record_failure(
                    db,
                    clock,
                    presented.client_id.as_deref(),
                    &grant_type,
                    &error,
                )
                .await;
                return Err(TokenError { error, method });
            }
        };
    let with_method = |error: OAuthError| TokenError { error, method };
    if let Err(error) = client_may(&client, &grant_type) {
        record_failure(db, clock, Some(&client.client_id), &grant_type, &error).await;
        return Err(with_method(error));
    }
    let result = match grant_type.as_str() {
        crate::clients::GRANT_AUTHORIZATION_CODE => {
            authorization_code::exchange(provider, profiles, db, clock, &client, &req).await
        }
        crate::clients::GRANT_REFRESH_TOKEN => {
            refresh_token::exchange(provider, db, clock, &client, &req).await
        }
        _ => client_credentials::exchange(provider, clock, &client, &req),
    };
    if let Err(error) = &result {
        record_failure(db, clock, Some(&client.client_id), &grant_type, error).await;
    }
    result.map_err(with_method)
}

/// Records a refused token request in the audit log (never the presented secrets).
async fn record_failure(
    db: &Db,
    clock: &dyn Clock,
    client_id: Option<&str>,
    grant_type: &str,
    error: &OAuthError,
) {
    if error.code == ErrorCode::ServerError {
        return;
    }
    let client_id: Option<String> = client_id.map(|c| c.chars().take(128).collect());
    let event = store::audit::NewEvent::new("token.failed", store::audit::Actor::Anonymous).detail(
        serde_json::json!({
            "client_id": client_id,
            "grant_type": grant_type,
            "error": error.code.as_str(),
            "error_description": error.description,
        }),
    );
    if let Err(e) = store::audit::record(db, event, clock.now()).await {
        tracing::warn!(error = %e, "could not record a token failure");
    }
}

#[cfg(test)]
mod tests {
    use super::narrow_scope;

    #[test]
    fn scopes_narrow_but_never_widen() {
        assert_eq!(
            narrow_scope("openid email", None).as_deref(),
            Ok("openid email")
        );
        assert_eq!(
            narrow_scope("openid email", Some("email")).as_deref(),
            Ok("email")
        );
        assert!(narrow_scope("openid", Some("openid email")).is_err());
    }
}
