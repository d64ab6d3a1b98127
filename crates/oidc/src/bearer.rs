//! Checking an access token presented as a bearer token (UserInfo, introspection, the
//! self-service API): signature with a key already parsed, `typ`, issuer, audience, expiry by the
//! injected clock, then one indexed query for revocation (of the token, its grant or its user).

use crate::provider::Provider;
use crate::tokens::AccessTokenClaims;
use jsonwebtoken::{Validation, decode, decode_header};
use std::sync::Arc;
use store::{Clock, Db};

/// Why a bearer token was refused (RFC 6750 `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token's signature is invalid")]
    BadSignature,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token has been revoked")]
    Revoked,
    #[error("the server could not check the token")]
    Internal,
}

/// Verifies the signature and claims of one of our access tokens. With `check_expiry` false
/// (revocation), an expired token still verifies.
pub async fn verify_signature(
    provider: &Provider,
    db: &Db,
    clock: &dyn Clock,
    token: &str,
    check_expiry: bool,
) -> Result<AccessTokenClaims, BearerError> {
    if token.len() > 8192 {
        return Err(BearerError::Malformed);
    }
    let header = decode_header(token).map_err(|_| BearerError::Malformed)?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
    {
        return Err(BearerError::Malformed);
    }
    let kid = header.kid.ok_or(BearerError::Malformed)?;
    let key = provider
        .verifying_key(db, clock, &kid)
        .await
        .map_err(|_| BearerError::Internal)?
        .ok_or(BearerError::BadSignature)?;
    if key.alg != header.alg {
        return Err(BearerError::BadSignature);
    }
    let mut validation = Validation::new(key.alg);
    // Expiry is checked against the injected clock below, not the system clock.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[&provider.settings.issuer]);
    validation.set_audience(&[&provider.settings.issuer]);
    let claims = decode::<AccessTokenClaims>(token, &key.key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => BearerError::BadSignature,
            _ => BearerError::Malformed,
        })?
        .claims;
    if check_expiry && clock.now().timestamp() >= claims.exp {
        return Err(BearerError::Expired);
    }
    Ok(claims)
}

/// A fully checked, live access token, and whether its client is a third party. The signature of
/// a token is checked once per process; expiry and revocation on every call.
pub async fn verify_access_token(
    provider: &Provider,
    db: &Db,
    clock: &dyn Clock,
    token: &str,
) -> Result<VerifiedToken, BearerError> {
    let claims = check_token(provider, db, clock, token).await?;
    let third_party =
        store::oauth::active_token_client(db, &claims.jti, &claims.client_id, claims.gid)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "revocation check failed");
                BearerError::Internal
            })?
            .ok_or(BearerError::Revoked)?;
    Ok(VerifiedToken {
        claims,
        third_party,
    })
}

/// The claims of one of our access tokens: signature (once per process, then remembered) and
/// expiry; not revocation, which the caller checks in the database.
pub async fn check_token(
    provider: &Provider,
    db: &Db,
    clock: &dyn Clock,
    token: &str,
) -> Result<Arc<AccessTokenClaims>, BearerError> {
    use sha2::Digest;
    let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
    let claims = match provider.checked_token(&digest) {
        Some(claims) => {
            if clock.now().timestamp() >= claims.exp {
                return Err(BearerError::Expired);
            }
            claims
        }
        None => {
            let claims = Arc::new(verify_signature(provider, db, clock, token, true).await?);
            provider.remember_checked_token(digest, claims.clone(), clock.now().timestamp());
            claims
        }
    };
    Ok(claims)
}

/// A live access token.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: Arc<AccessTokenClaims>,
    /// The token was issued to a third-party client.
    pub third_party: bool,
}

impl VerifiedToken {
    /// The user the token acts for (`None` for client_credentials tokens).
    pub fn user_id(&self) -> Option<store::Uuid> {
        self.claims.gid?;
        store::Uuid::parse_str(&self.claims.sub).ok()
    }
}
