//! Password hashes brought from other systems (SPEC §13, import): recognised by their form,
//! verified with the RustCrypto implementations, and replaced by Argon2id with the current
//! parameters at the first successful sign-in (`passwords::PasswordHasher::check`).
//!
//! Forms: Argon2 (`$argon2id$…`, `$argon2i$…`, PHC, any parameters), bcrypt (`$2a$`, `$2b$`,
//! `$2y$`, modular crypt), PBKDF2-SHA256 in PHC form (`$pbkdf2-sha256$i=N,l=L$salt$hash`, standard
//! base64 without padding) and in passlib's modular-crypt form (`$pbkdf2-sha256$N$salt$hash`,
//! base64 with `.` for `+`), and scrypt in PHC form (`$scrypt$ln=L,r=R,p=P$salt$hash`, the salt
//! decoded) and in the modular-crypt form of libsodium and libxcrypt (`$7$`, parameters and hash
//! in their little-endian `./0-9A-Za-z` encoding, the salt used as written). Costs are bounded (a
//! hash that would take minutes or gigabytes is refused as malformed), since an import may come
//! from anywhere.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use subtle::ConstantTimeEq;

/// The kinds of stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    Argon2,
    Bcrypt,
    Pbkdf2Sha256,
    Scrypt,
}

/// The kind of `hash`, or `None` for a form Tessera does not know.
pub fn kind_of(hash: &str) -> Option<HashKind> {
    let h = hash.trim();
    if h.starts_with("$argon2id$") || h.starts_with("$argon2i$") || h.starts_with("$argon2d$") {
        Some(HashKind::Argon2)
    } else if h.starts_with("$2a$") || h.starts_with("$2b$") || h.starts_with("$2y$") {
        Some(HashKind::Bcrypt)
    } else if h.starts_with("$pbkdf2-sha256$") {
        Some(HashKind::Pbkdf2Sha256)
    } else if h.starts_with("$scrypt$") || h.starts_with("$7$") {
        Some(HashKind::Scrypt)
    } else {
        None
    }
}

/// Whether `hash` is a well-formed hash of a known kind within the cost bounds (checked on
/// import, without a password).
pub fn is_valid(hash: &str) -> bool {
    match kind_of(hash) {
        Some(HashKind::Argon2) => {
            argon2::password_hash::phc::PasswordHash::new(hash).is_ok_and(|h| {
                let p = argon2::Params::try_from(&h);
                p.is_ok_and(|p| p.m_cost() <= 1 << 20 && p.t_cost() <= 64)
            })
        }
        Some(HashKind::Bcrypt) => bcrypt_cost(hash).is_some_and(|c| (4..=16).contains(&c)),
        Some(HashKind::Pbkdf2Sha256) => parse_pbkdf2(hash).is_some(),
        Some(HashKind::Scrypt) => parse_scrypt(hash).is_some(),
        None => false,
    }
}

fn bcrypt_cost(hash: &str) -> Option<u32> {
    let parts: Vec<&str> = hash.split('$').collect();
    (parts.len() == 4 && parts[3].len() == 53)
        .then(|| parts[2].parse().ok())
        .flatten()
}

/// Verifies `password` against a foreign hash (not Argon2, which the hasher verifies).
pub fn verify(password: &str, hash: &str) -> bool {
    match kind_of(hash) {
        Some(HashKind::Bcrypt) => {
            bcrypt_cost(hash).is_some_and(|c| (4..=16).contains(&c))
                && bcrypt::verify(password, hash).unwrap_or(false)
        }
        Some(HashKind::Pbkdf2Sha256) => parse_pbkdf2(hash).is_some_and(|p| {
            let mut out = vec![0u8; p.expected.len()];
            pbkdf2::pbkdf2_hmac::<sha2_11::Sha256>(
                password.as_bytes(),
                &p.salt,
                p.rounds,
                &mut out,
            );
            bool::from(out.ct_eq(&p.expected))
        }),
        Some(HashKind::Scrypt) => parse_scrypt(hash).is_some_and(|s| {
            let mut out = vec![0u8; s.expected.len()];
            scrypt::Params::new(s.log_n, s.r, s.p)
                .ok()
                .and_then(|params| {
                    scrypt::scrypt(password.as_bytes(), &s.salt, &params, &mut out).ok()
                })
                .is_some()
                && bool::from(out.ct_eq(&s.expected))
        }),
        Some(HashKind::Argon2) | None => false,
    }
}

struct Derived {
    salt: Vec<u8>,
    expected: Vec<u8>,
}

struct Pbkdf2Hash {
    rounds: u32,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

/// PHC (`i=N,l=L`, standard base64) or passlib (`N`, base64 with `.` for `+`).
fn parse_pbkdf2(hash: &str) -> Option<Pbkdf2Hash> {
    let parts: Vec<&str> = hash.split('$').collect();
    if parts.len() != 5 || parts[1] != "pbkdf2-sha256" {
        return None;
    }
    let (rounds, d) = if parts[2].contains('=') {
        let mut rounds = None;
        let mut len = None;
        for kv in parts[2].split(',') {
            match kv.split_once('=')? {
                ("i", v) => rounds = v.parse::<u32>().ok(),
                ("l", v) => len = v.parse::<usize>().ok(),
                _ => return None,
            }
        }
        let d = derived(parts[3], parts[4], false)?;
        if len.is_some_and(|l| l != d.expected.len()) {
            return None;
        }
        (rounds?, d)
    } else {
        (
            parts[2].parse::<u32>().ok()?,
            derived(parts[3], parts[4], true)?,
        )
    };
    ((1..=10_000_000).contains(&rounds)).then_some(Pbkdf2Hash {
        rounds,
        salt: d.salt,
        expected: d.expected,
    })
}

struct ScryptHash {
    log_n: u8,
    r: u32,
    p: u32,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl ScryptHash {
    /// At most 1 GiB of memory (128 · r · 2^ln bytes) and a bounded parallel cost.
    fn bounded(log_n: u32, r: u32, p: u32, salt: Vec<u8>, expected: Vec<u8>) -> Option<Self> {
        if !(1..=24).contains(&log_n) || !(1..=32).contains(&r) || !(1..=16).contains(&p) {
            return None;
        }
        if 128u64 * u64::from(r) * (1u64 << log_n) > 1 << 30 {
            return None;
        }
        if salt.is_empty() || salt.len() > 64 || !(16..=64).contains(&expected.len()) {
            return None;
        }
        Some(Self {
            log_n: u8::try_from(log_n).ok()?,
            r,
            p,
            salt,
            expected,
        })
    }
}

fn parse_scrypt(hash: &str) -> Option<ScryptHash> {
    if hash.starts_with("$7$") {
        return parse_scrypt_crypt(hash);
    }
    let parts: Vec<&str> = hash.split('$').collect();
    if parts.len() != 5 || parts[1] != "scrypt" {
        return None;
    }
    let (mut log_n, mut r, mut p) = (None, None, None);
    for kv in parts[2].split(',') {
        match kv.split_once('=')? {
            ("ln", v) => log_n = v.parse::<u32>().ok(),
            ("r", v) => r = v.parse::<u32>().ok(),
            ("p", v) => p = v.parse::<u32>().ok(),
            _ => return None,
        }
    }
    let d = derived(parts[3], parts[4], false)?;
    ScryptHash::bounded(log_n?, r?, p?, d.salt, d.expected)
}

/// The alphabet of the modular-crypt encodings (`$7$`).
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn itoa64(c: u8) -> Option<u32> {
    ITOA64
        .iter()
        .position(|&a| a == c)
        .and_then(|i| u32::try_from(i).ok())
}

/// Six bits per character, the lowest first.
fn little_endian_number(chars: &[u8]) -> Option<u32> {
    chars
        .iter()
        .enumerate()
        .try_fold(0u32, |acc, (i, &c)| Some(acc | (itoa64(c)? << (6 * i))))
}

/// Bytes in groups of three, each group as four characters, the lowest six bits first; a last
/// group of one or two bytes takes two or three characters. Bits past the bytes must be zero.
fn little_endian_bytes(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for group in text.as_bytes().chunks(4) {
        let value = little_endian_number(group)?;
        let bytes = group.len() * 6 / 8;
        if bytes == 0 || value >> (8 * bytes) != 0 {
            return None;
        }
        out.extend((0..bytes).map(|i| (value >> (8 * i)) as u8));
    }
    Some(out)
}

/// `$7$` + log2 N (one character) + r and p (five each) + salt + `$` + 32-byte hash.
fn parse_scrypt_crypt(hash: &str) -> Option<ScryptHash> {
    let rest = hash.strip_prefix("$7$")?;
    let params = rest.as_bytes().get(..11)?;
    let log_n = itoa64(params[0])?;
    let r = little_endian_number(&params[1..6])?;
    let p = little_endian_number(&params[6..11])?;
    let (salt, encoded) = rest.get(11..)?.split_once('$')?;
    let expected = little_endian_bytes(encoded)?;
    if expected.len() != 32 {
        return None;
    }
    ScryptHash::bounded(log_n, r, p, salt.as_bytes().to_vec(), expected)
}

/// Decodes salt and hash: standard base64 without padding, or passlib's (`.` for `+`).
fn derived(salt: &str, hash: &str, passlib: bool) -> Option<Derived> {
    let decode = |s: &str| {
        let s = if passlib {
            s.replace('.', "+")
        } else {
            s.to_owned()
        };
        STANDARD_NO_PAD.decode(s.trim_end_matches('=')).ok()
    };
    let salt = decode(salt)?;
    let expected = decode(hash)?;
    (!salt.is_empty() && (16..=64).contains(&expected.len())).then_some(Derived { salt, expected })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "correct horse battery";
    // Made by Python (hashlib, the bcrypt and argon2-cffi packages): independent of the code
    // under test.
    const PBKDF2_PHC: &str = "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0MTIzNA$wheZis4WMGFy+7bhdev/G/YeD76DK1WUFiU5ngBGWLk";
    const PBKDF2_PASSLIB: &str =
        "$pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0MTIzNA$wheZis4WMGFy.7bhdev/G/YeD76DK1WUFiU5ngBGWLk";
    const SCRYPT_PHC: &str =
        "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0MTIzNA$muQK1ETLjw6mJQBAf4Gt+N1mN8zU7SEaIoo+ASVQ2Hk";
    // Made by libxcrypt (Python's `crypt.crypt` with the setting `$7$86..../....<salt>`).
    const SCRYPT_CRYPT: &str =
        "$7$86..../....SodiumChloride$3dyMxy7MDs6uwYMIC6AtJxPU7um1Iy3.w.BBrB.2rr2";
    const SCRYPT_CRYPT_2: &str =
        "$7$86..../....k9L2mQ7x$0BsERfZmoTo6QdRjhLSoJ/OZaMZPDWnEEDGXRSMBp8A";
    const BCRYPT_2B: &str = "$2b$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS";
    const BCRYPT_2Y: &str = "$2y$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS";
    const BCRYPT_2A: &str = "$2a$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS";
    pub(crate) const ARGON2I: &str = "$argon2i$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$wfB0UDJ/dt+zyy1AX5QBwptsDRwMkQasPbnPtj7P+QQ";

    #[test]
    fn known_vectors_verify_and_wrong_passwords_do_not() {
        for hash in [
            PBKDF2_PHC,
            PBKDF2_PASSLIB,
            SCRYPT_PHC,
            SCRYPT_CRYPT,
            SCRYPT_CRYPT_2,
            BCRYPT_2B,
            BCRYPT_2Y,
            BCRYPT_2A,
        ] {
            assert!(is_valid(hash), "{hash}");
            assert!(verify(PASSWORD, hash), "{hash}");
            assert!(!verify("correct horse batterY", hash), "{hash}");
            assert!(!verify("", hash), "{hash}");
        }
        assert!(is_valid(ARGON2I));
        assert_eq!(kind_of(ARGON2I), Some(HashKind::Argon2));
    }

    #[test]
    fn malformed_or_too_costly_hashes_are_refused() {
        for bad in [
            "",
            "plaintext",
            "$md5$abc",
            "$2b$04$short",
            "$2b$31$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS",
            "$pbkdf2-sha256$i=0,l=32$c2FsdA$wheZis4WMGFy+7bhdev/G/YeD76DK1WUFiU5ngBGWLk",
            "$pbkdf2-sha256$i=99999999999,l=32$c2FsdA$wheZis4WMGFy+7bhdev/G/YeD76DK1WUFiU5ngBGWLk",
            "$pbkdf2-sha256$i=1000,l=16$c2FsdHNhbHRzYWx0MTIzNA$wheZis4WMGFy+7bhdev/G/YeD76DK1WUFiU5ngBGWLk",
            "$pbkdf2-sha256$i=1000$c2FsdA$!!!",
            "$scrypt$ln=30,r=8,p=1$c2FsdA$muQK1ETLjw6mJQBAf4Gt+N1mN8zU7SEaIoo+ASVQ2Hk",
            "$scrypt$ln=10,r=8$c2FsdA$muQK1ETLjw6mJQBAf4Gt+N1mN8zU7SEaIoo+ASVQ2Hk",
            // $7$: N = 2^63, r = 0, a short hash, a bad character, no salt, unused high bits.
            "$7$z6..../....SodiumChloride$3dyMxy7MDs6uwYMIC6AtJxPU7um1Iy3.w.BBrB.2rr2",
            "$7$8...../....SodiumChloride$3dyMxy7MDs6uwYMIC6AtJxPU7um1Iy3.w.BBrB.2rr2",
            "$7$86..../....SodiumChloride$3dyMxy7MDs6uwYMIC6AtJxPU7um1Iy3.w.BBrB.2rr",
            "$7$86..../....SodiumChloride$3dyMxy7MDs6uwYMIC6AtJxPU7um1Iy3.w.BBrB.2r!2",
            "$7$86..../....$3dyMxy7MDs6uwYMIC6AtJxPU7um1Iy3.w.BBrB.2rr2",
            "$7$86..../....SodiumChloride$3dyMxy7MDs6uwYMIC6AtJxPU7um1Iy3.w.BBrB.2rrz",
            "$7$86..",
            "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0MTIzNA$KHfCJ9rTRk1/FDpwe9lOcWYC/vx/hwGDFxxo/3+4I4k",
        ] {
            assert!(!is_valid(bad), "{bad}");
            assert!(!verify(PASSWORD, bad), "{bad}");
        }
    }
}
