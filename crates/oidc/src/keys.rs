//! Token signing keys and the key ring.
//!
//! Keys are generated on first start and stored in the database, so several server processes
//! share them. Each process holds a [`KeyRing`]: the private keys parsed once (signing never parses
//! a key), the public keys as ready `jsonwebtoken` decoding keys, and the JWKS document as bytes.
//! A rotation (`tessera keys rotate`) activates a new key and retires the old one, which stays in
//! the JWKS until every token it signed has expired; other processes pick the change up when they
//! meet an unknown `kid` or on their periodic reload.
//!
//! ID tokens are signed with RS256 by default (the algorithm every OpenID relying party supports).
//! Access tokens are signed with ES256 by default: an RSA-2048 signature costs about a millisecond,
//! ES256 a few tens of microseconds, and the token endpoint signs one per request.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Serialize;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use store::signing_keys::StoredSigningKey;

/// A signature algorithm Tessera signs tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    fn jwt_algorithm(self) -> Algorithm {
        match self {
            SigningAlg::RS256 => Algorithm::RS256,
            SigningAlg::ES256 => Algorithm::ES256,
            SigningAlg::EdDSA => Algorithm::EdDSA,
        }
    }
}

impl FromStr for SigningAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" => Ok(SigningAlg::RS256),
            "ES256" => Ok(SigningAlg::ES256),
            "EdDSA" => Ok(SigningAlg::EdDSA),
            other => Err(format!(
                "unsupported signing algorithm {other:?} (RS256, ES256 or EdDSA)"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    Generation,
    #[error("stored key {kid} is unusable: {reason}")]
    Unusable { kid: String, reason: String },
    #[error("no active {0} signing key")]
    NoActiveKey(&'static str),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

enum PrivateKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key ready to sign, parsed once.
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    key: PrivateKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct JwsHeader<'a> {
    alg: &'static str,
    typ: &'a str,
    kid: &'a str,
}

impl SigningKey {
    fn parse(kid: &str, alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let unusable = |reason: String| KeyError::Unusable {
            kid: kid.to_owned(),
            reason,
        };
        let key = match alg {
            SigningAlg::RS256 => {
                PrivateKey::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| unusable(e.to_string()))?)
            }
            SigningAlg::ES256 => PrivateKey::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|e| unusable(e.to_string()))?,
            ),
            SigningAlg::EdDSA => PrivateKey::Ed(
                Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| unusable(e.to_string()))?,
            ),
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            key,
            rng: SystemRandom::new(),
        })
    }

    /// The public half as a JWK (with `kid`, `alg` and `use: sig`).
    pub fn public_jwk(&self) -> serde_json::Value {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let mut jwk = match &self.key {
            PrivateKey::Rsa(k) => serde_json::json!({
                "kty": "RSA",
                "n": b64(k.public_key().modulus().big_endian_without_leading_zero()),
                "e": b64(k.public_key().exponent().big_endian_without_leading_zero()),
            }),
            PrivateKey::Ec(k) => {
                // Uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes).
                let point = k.public_key().as_ref();
                serde_json::json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": b64(point.get(1..33).unwrap_or_default()),
                    "y": b64(point.get(33..65).unwrap_or_default()),
                })
            }
            PrivateKey::Ed(k) => serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64(k.public_key().as_ref()),
            }),
        };
        jwk["kid"] = self.kid.clone().into();
        jwk["alg"] = self.alg.as_str().into();
        jwk["use"] = "sig".into();
        jwk
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.key {
            PrivateKey::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|_| KeyError::Generation)?;
                Ok(sig)
            }
            PrivateKey::Ec(k) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Generation),
            PrivateKey::Ed(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }

    /// A compact JWS: `typ` in the header (`JWT`, `at+jwt`, `logout+jwt`), `kid` always.
    pub fn sign_jwt<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        let header = serde_json::to_vec(&JwsHeader {
            alg: self.alg.as_str(),
            typ,
            kid: &self.kid,
        })
        .map_err(|_| KeyError::Generation)?;
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Generation)?;
        let mut jws = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 400);
        URL_SAFE_NO_PAD.encode_string(&header, &mut jws);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut jws);
        let signature = self.sign(jws.as_bytes())?;
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
        Ok(jws)
    }
}

/// Generates a new key: returns it parsed and in its stored form.
pub fn generate_key(
    alg: SigningAlg,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(SigningKey, StoredSigningKey), KeyError> {
    let rng = SystemRandom::new();
    let pkcs8: Vec<u8> = match alg {
        SigningAlg::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|k| k.as_der().map(|d| d.as_ref().to_vec()))
            .map_err(|_| KeyError::Generation)?,
        SigningAlg::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| KeyError::Generation)?,
        SigningAlg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| KeyError::Generation)?,
    };
    let kid = auth::secrets::generate_identifier();
    let key = SigningKey::parse(&kid, alg, &pkcs8)?;
    let stored = StoredSigningKey {
        kid,
        alg: alg.as_str().to_owned(),
        private_key: STANDARD.encode(&pkcs8),
        public_jwk: key.public_jwk(),
        created_at: now,
        retired_at: None,
        expires_at: None,
    };
    Ok((key, stored))
}

/// A public key ready to verify tokens.
pub struct VerifyingKey {
    pub alg: Algorithm,
    pub key: DecodingKey,
}

/// The keys one process signs and verifies with, and the JWKS it serves.
pub struct KeyRing {
    signing: HashMap<SigningAlg, Arc<SigningKey>>,
    verifying: HashMap<String, Arc<VerifyingKey>>,
    /// The JWKS document, serialised once.
    jwks: String,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("kids", &self.verifying.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn decoding_key(jwk: &serde_json::Value) -> Option<VerifyingKey> {
    let s = |k: &str| jwk.get(k).and_then(|v| v.as_str());
    let alg = SigningAlg::from_str(s("alg")?).ok()?;
    let key = match alg {
        SigningAlg::RS256 => DecodingKey::from_rsa_components(s("n")?, s("e")?).ok()?,
        SigningAlg::ES256 => DecodingKey::from_ec_components(s("x")?, s("y")?).ok()?,
        SigningAlg::EdDSA => DecodingKey::from_ed_components(s("x")?).ok()?,
    };
    Some(VerifyingKey {
        alg: alg.jwt_algorithm(),
        key,
    })
}

impl KeyRing {
    /// Builds the ring from the live keys in the database (newest first). The newest unretired key
    /// of each algorithm signs.
    pub fn from_stored(keys: &[StoredSigningKey]) -> Result<Self, KeyError> {
        let mut signing = HashMap::new();
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        for stored in keys {
            let Ok(alg) = SigningAlg::from_str(&stored.alg) else {
                tracing::warn!(kid = %stored.kid, alg = %stored.alg, "skipping key with unknown algorithm");
                continue;
            };
            if stored.retired_at.is_none() && !signing.contains_key(&alg) {
                let der = STANDARD
                    .decode(&stored.private_key)
                    .map_err(|e| KeyError::Unusable {
                        kid: stored.kid.clone(),
                        reason: e.to_string(),
                    })?;
                signing.insert(alg, Arc::new(SigningKey::parse(&stored.kid, alg, &der)?));
            }
            if let Some(v) = decoding_key(&stored.public_jwk) {
                verifying.insert(stored.kid.clone(), Arc::new(v));
                jwks.push(stored.public_jwk.clone());
            }
        }
        let jwks = serde_json::json!({ "keys": jwks }).to_string();
        Ok(Self {
            signing,
            verifying,
            jwks,
        })
    }

    pub fn signing_key(&self, alg: SigningAlg) -> Result<&Arc<SigningKey>, KeyError> {
        self.signing
            .get(&alg)
            .ok_or(KeyError::NoActiveKey(alg.as_str()))
    }

    pub fn verifying_key(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.verifying.get(kid)
    }

    pub fn has_signing_key(&self, alg: SigningAlg) -> bool {
        self.signing.contains_key(&alg)
    }

    /// The JWKS document (`{"keys": […]}`).
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Validation, decode};

    #[test]
    fn every_algorithm_signs_tokens_that_verify_with_its_jwk() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let (key, stored) = generate_key(alg, chrono::Utc::now()).expect("generate");
            let jwt = key
                .sign_jwt(
                    "at+jwt",
                    &serde_json::json!({ "sub": "s", "exp": 4_000_000_000u64 }),
                )
                .expect("sign");
            let header = jsonwebtoken::decode_header(&jwt).expect("header");
            assert_eq!(header.kid.as_deref(), Some(stored.kid.as_str()));
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            let ring = KeyRing::from_stored(&[stored]).expect("ring");
            let v = ring.verifying_key(&key.kid).expect("verifying key");
            let mut validation = Validation::new(v.alg);
            validation.validate_aud = false;
            let data = decode::<serde_json::Value>(&jwt, &v.key, &validation).expect("verifies");
            assert_eq!(data.claims["sub"], "s");
            // A tampered payload does not verify.
            let mut parts: Vec<&str> = jwt.split('.').collect();
            let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","exp":4000000000}"#);
            parts[1] = &forged;
            assert!(decode::<serde_json::Value>(&parts.join("."), &v.key, &validation).is_err());
            assert!(ring.jwks_json().contains(&key.kid));
            assert!(
                !ring.jwks_json().contains("\"d\""),
                "no private parts in the JWKS"
            );
        }
    }
}
