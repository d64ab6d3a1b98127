//! Client authentication at the token, revocation and introspection endpoints:
//! `client_secret_basic`, `client_secret_post`, or `none` for public clients.

use crate::OAuthError;
use auth::secrets;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::sync::Arc;
use store::Db;
use store::clients::Client;

/// The credentials a request presented.
#[derive(Debug, Clone, Default)]
pub struct PresentedCredentials {
    /// The `Authorization` header's value, if any.
    pub authorization: Option<String>,
    /// `client_id` from the body.
    pub client_id: Option<String>,
    /// `client_secret` from the body.
    pub client_secret: Option<String>,
}

/// How the client authenticated, for the `WWW-Authenticate` header on failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Basic,
    Post,
    None,
}

fn form_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// Parses `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(value.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Authenticates the client. Returns the client and the method it used; `invalid_client` when the
/// credentials are missing, unknown or wrong.
pub async fn authenticate_client(
    db: &Db,
    clients: &crate::client_cache::ClientCache,
    presented: &PresentedCredentials,
) -> Result<(Arc<Client>, Method), (OAuthError, Method)> {
    let basic = match presented.authorization.as_deref() {
        Some(h) => match parse_basic(h) {
            Some(pair) => Some(pair),
            None => {
                return Err((
                    OAuthError::invalid_client(
                        "the Authorization header is not valid Basic credentials",
                    ),
                    Method::Basic,
                ));
            }
        },
        None => None,
    };
    let (client_id, secret, method) = match (basic, &presented.client_secret) {
        (Some(_), Some(_)) => {
            return Err((
                OAuthError::invalid_request("use one client authentication method, not two"),
                Method::Basic,
            ));
        }
        (Some((id, secret)), None) => {
            if presented.client_id.as_deref().is_some_and(|b| b != id) {
                return Err((
                    OAuthError::invalid_request(
                        "client_id does not match the Authorization header",
                    ),
                    Method::Basic,
                ));
            }
            (id, Some(secret), Method::Basic)
        }
        (None, Some(secret)) => match &presented.client_id {
            Some(id) => (id.clone(), Some(secret.clone()), Method::Post),
            None => {
                return Err((
                    OAuthError::invalid_client("client_id is missing"),
                    Method::Post,
                ));
            }
        },
        (None, None) => match &presented.client_id {
            Some(id) => (id.clone(), None, Method::None),
            None => {
                return Err((
                    OAuthError::invalid_client("client authentication is missing"),
                    Method::None,
                ));
            }
        },
    };
    let unknown = || {
        (
            OAuthError::invalid_client("client authentication failed"),
            method,
        )
    };
    if client_id.is_empty() || client_id.len() > 128 {
        return Err(unknown());
    }
    let client = clients
        .find(db, &client_id)
        .await
        .map_err(|e| (OAuthError::from(e), method))?
        .ok_or_else(unknown)?;
    match (&client.secret_hash, secret) {
        (Some(hash), Some(secret)) if secrets::secret_matches(&secret, hash) => {
            Ok((client, method))
        }
        (None, None) if client.is_public => Ok((client, method)),
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_basic;

    #[test]
    fn basic_credentials_are_form_decoded() {
        // "a%3Ab:s%20t" → id "a:b", secret "s t"
        let header = format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "a%3Ab:s%20t")
        );
        assert_eq!(parse_basic(&header), Some(("a:b".into(), "s t".into())));
        assert_eq!(parse_basic("Bearer xyz"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic("Basic"), None);
    }
}
