//! Random secrets (session tokens, keys, client secrets) and how they are stored.
//!
//! Every secret Tessera generates carries 256 bits of randomness, so a fast SHA-256 hash is a safe
//! way to store it (no password stretching needed) and keeps lookups on hot paths cheap. Stored
//! hashes are compared by equality in an indexed query, or in constant time when compared in code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new random secret: 32 random bytes, base64url without padding (43 characters).
pub fn generate_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// A shorter random identifier that is not secret (client ids): 16 random bytes, base64url.
///
/// It never starts with `-` or `_`, so it can be passed as a command-line argument
/// (`tessera client delete ID`) and read in a log without being mistaken for an option.
pub fn generate_identifier() -> String {
    loop {
        let id = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return id;
        }
    }
}

/// How a secret is stored: SHA-256, base64url without padding.
pub fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Whether `secret` hashes to `stored_hash`, compared in constant time.
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    constant_time_eq(&hash_secret(secret), stored_hash)
}

/// The server secret `name`, shared by every process on the database: generated and stored by
/// the first process that asks, read by the others (the CSRF key).
pub async fn shared_secret(
    db: &store::Db,
    clock: &dyn store::Clock,
    name: &str,
) -> Result<String, crate::InternalError> {
    Ok(store::server_secrets::get_or_insert(db, name, &generate_secret(), clock.now()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_never_look_like_options() {
        for _ in 0..2000 {
            let id = generate_identifier();
            assert_eq!(id.len(), 22);
            assert!(id.starts_with(|c: char| c.is_ascii_alphanumeric()), "{id}");
        }
    }

    #[test]
    fn secrets_are_random_and_hash_stably() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), a);
        assert!(secret_matches(&a, &hash_secret(&a)));
        assert!(!secret_matches(&b, &hash_secret(&a)));
    }
}
