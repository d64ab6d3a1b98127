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
    /// Refused for too many failures from the address: seconds until it may try again (429).
    pub retry_after: Option<i64>,
}

impl From<OAuthError> for TokenError {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            method: Method::None,
            retry_after: None,
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

/// Handles a token request from the client at `ip`.
///
/// An address with too many failed client authentications in the last hour is refused before
/// anything else is looked at (429), so guessing client secrets from one address stops after
/// `limits.token_failures_per_ip_per_hour` tries. (Codes and refresh tokens are 256-bit values
/// nobody can guess; counting their refusals would let anyone who makes an app forward bad codes
/// lock that app's server out.) Every refusal is audited: at most one event a minute per client
/// and address, with the number of refusals.
pub async fn exchange(
    provider: &Provider,
    profiles: &profile::ProfileService,
    db: &Db,
    clock: &dyn Clock,
    req: TokenRequest,
    authorization: Option<String>,
    ip: Option<&str>,
) -> Result<TokenResponse, TokenError> {
    use auth::rate_limits::RateError;
    match provider.token_failures.check(db, clock, ip).await {
        Ok(()) => {}
        Err(RateError::Limited(l)) => {
            return Err(TokenError {
                error: OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    format!(
                        "too many refused requests from this address; try again in {} seconds",
                        l.retry_after
                    ),
                ),
                method: Method::None,
                retry_after: Some(l.retry_after),
            });
        }
        Err(RateError::Internal(e)) => return Err(OAuthError::server_error(e).into()),
    }
    exchange_checked(provider, profiles, db, clock, req, authorization, ip).await
}

async fn exchange_checked(
    provider: &Provider,
    profiles: &profile::ProfileService,
    db: &Db,
    clock: &dyn Clock,
    req: TokenRequest,
    authorization: Option<String>,
    ip: Option<&str>,
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
                // Only failed client authentications count against the address: an app that
                // authenticates and forwards a bad code (or a refresh token its user just revoked
                // by signing out) must not lock its own server out.
                if let Err(e) = provider.token_failures.record(db, clock, ip).await {
                    tracing::warn!(error = %e, "could not count a refused client authentication");
                }
                record_failure(
                    db,
                    clock,
                    presented.client_id.as_deref(),
                    ip,
                    &grant_type,
                    &error,
                )
                .await;
                return Err(TokenError {
                    error,
                    method,
                    retry_after: None,
                });
            }
        };
    let with_method = |error: OAuthError| TokenError {
        error,
        method,
        retry_after: None,
    };
    if let Err(error) = client_may(&client, &grant_type) {
        record_failure(db, clock, Some(&client.client_id), ip, &grant_type, &error).await;
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
        record_failure(db, clock, Some(&client.client_id), ip, &grant_type, error).await;
    }
    result.map_err(with_method)
}

/// Records a refused token request in the audit log (never the presented secrets): at most one
/// event a minute per client and address, with the number of refusals since the last one, so a
/// flood of bad requests cannot flood the log.
async fn record_failure(
    db: &Db,
    clock: &dyn Clock,
    client_id: Option<&str>,
    ip: Option<&str>,
    grant_type: &str,
    error: &OAuthError,
) {
    if error.code == ErrorCode::ServerError {
        return;
    }
    let client_id: Option<String> = client_id.map(|c| c.chars().take(128).collect());
    let count = match auth::rate_limits::sample_token_failure(
        db,
        clock,
        client_id.as_deref().unwrap_or(""),
        ip.unwrap_or(""),
    )
    .await
    {
        Ok(Some(count)) => count,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not count a token failure");
            1
        }
    };
    let event = store::audit::NewEvent::new("token.failed", store::audit::Actor::Anonymous)
        .ip(ip.map(str::to_owned))
        .detail(serde_json::json!({
            "client_id": client_id,
            "grant_type": grant_type,
            "error": error.code.as_str(),
            "error_description": error.description,
            "count": count,
        }));
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
