//! Minting tokens: RFC 9068 access tokens, ID tokens, refresh tokens.

use crate::OAuthError;
use crate::keys::SigningAlg;
use crate::provider::Provider;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use store::Uuid;

/// The claims of an access token (RFC 9068). `gid` names the grant, so that revoking the grant
/// (logout, refresh-token reuse, a replayed code) ends the token at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<Uuid>,
}

impl AccessTokenClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

/// What the token endpoint hands out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

/// Who an access token is for.
pub struct AccessTokenSubject<'a> {
    pub sub: String,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub auth_time: Option<DateTime<Utc>>,
    pub session_id: Option<Uuid>,
    pub grant_id: Option<Uuid>,
}

/// Signs a new access token; returns it with its lifetime in seconds.
pub fn mint_access_token(
    provider: &Provider,
    now: DateTime<Utc>,
    subject: AccessTokenSubject<'_>,
) -> Result<(String, i64), OAuthError> {
    let s = &provider.settings;
    let ttl = s.access_token_ttl.num_seconds();
    let claims = AccessTokenClaims {
        iss: s.issuer.clone(),
        sub: subject.sub,
        aud: s.issuer.clone(),
        client_id: subject.client_id.to_owned(),
        exp: now.timestamp() + ttl,
        iat: now.timestamp(),
        jti: auth::secrets::generate_identifier(),
        scope: subject.scope.to_owned(),
        auth_time: subject.auth_time.map(|t| t.timestamp()),
        sid: subject.session_id.map(|s| s.to_string()),
        gid: subject.grant_id,
    };
    let keys = provider.keys();
    let jwt = keys
        .signing_key(s.access_token_alg)?
        .sign_jwt("at+jwt", &claims)?;
    Ok((jwt, ttl))
}

/// `at_hash`: the left half of the hash of the access token, with the hash of the ID token's
/// algorithm (SHA-256 for RS256 and ES256, SHA-512 for Ed25519).
pub fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => Sha256::digest(access_token.as_bytes()).to_vec(),
        SigningAlg::EdDSA => Sha512::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// The facts an ID token states.
pub struct IdTokenFacts<'a> {
    pub user_id: Uuid,
    pub client_id: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: DateTime<Utc>,
    /// RFC 8176 methods of the sign-in, space-separated: the `amr` claim, and `acr`.
    pub amr: &'a str,
    pub session_id: Option<Uuid>,
    pub access_token: Option<&'a str>,
    /// User claims to include (requested with `claims`, or by scope when no access token is issued).
    pub claims: serde_json::Map<String, serde_json::Value>,
}

pub fn mint_id_token(
    provider: &Provider,
    now: DateTime<Utc>,
    facts: IdTokenFacts<'_>,
) -> Result<String, OAuthError> {
    let s = &provider.settings;
    let mut claims = facts.claims;
    let mut set = |k: &str, v: serde_json::Value| {
        claims.insert(k.to_owned(), v);
    };
    set("iss", s.issuer.clone().into());
    set("sub", facts.user_id.to_string().into());
    set("aud", facts.client_id.into());
    set("azp", facts.client_id.into());
    set(
        "exp",
        (now.timestamp() + s.id_token_ttl.num_seconds()).into(),
    );
    set("iat", now.timestamp().into());
    set("auth_time", facts.auth_time.timestamp().into());
    let amr: Vec<&str> = facts.amr.split_whitespace().collect();
    set("acr", crate::acr::of_amr(facts.amr).into());
    set("amr", amr.into());
    if let Some(nonce) = facts.nonce {
        set("nonce", nonce.into());
    }
    if let Some(sid) = facts.session_id {
        set("sid", sid.to_string().into());
    }
    if let Some(at) = facts.access_token {
        set("at_hash", at_hash(s.id_token_alg, at).into());
    }
    let keys = provider.keys();
    Ok(keys
        .signing_key(s.id_token_alg)?
        .sign_jwt("JWT", &serde_json::Value::Object(claims))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_spec_example() {
        // OpenID Connect Core, appendix A.3 (access token and at_hash for RS256).
        assert_eq!(
            at_hash(
                SigningAlg::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
