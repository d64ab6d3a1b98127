//! CSRF protection for every form: a signed double-submit token.
//!
//! The browser holds a random value in the `tessera_csrf` cookie (HttpOnly, SameSite=Lax). Each
//! form carries `csrf_token`, a SHA-256 digest of that value under a fixed label. A cross-site
//! page can neither read the cookie nor compute the digest, so it cannot forge a form post; the
//! comparison is constant-time.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use auth::secrets;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const COOKIE: &str = "tessera_csrf";
/// The form field that carries the token.
pub const FIELD: &str = "csrf_token";

/// The CSRF value for one response: the browser's existing one, or a new one to set.
#[derive(Debug, Clone)]
pub struct Csrf {
    value: String,
    fresh: bool,
}

fn token_for(value: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"tessera csrf v1\0");
    h.update(value.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

fn cookie_value(req: &HttpRequest) -> Option<String> {
    req.cookie(COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl Csrf {
    /// The browser's CSRF value, or a fresh one when it has none.
    pub fn for_request(req: &HttpRequest) -> Self {
        match cookie_value(req) {
            Some(value) => Self {
                value,
                fresh: false,
            },
            None => Self {
                value: secrets::generate_secret(),
                fresh: true,
            },
        }
    }

    /// The value for the form's hidden `csrf_token` field.
    pub fn form_token(&self) -> String {
        token_for(&self.value)
    }

    /// The cookie to set, when the browser did not have one yet.
    pub fn cookie(&self, secure: bool) -> Option<Cookie<'static>> {
        self.fresh.then(|| {
            Cookie::build(COOKIE, self.value.clone())
                .path("/")
                .http_only(true)
                .secure(secure)
                .same_site(SameSite::Lax)
                .finish()
        })
    }
}

/// Whether `submitted` is the right token for the request's CSRF cookie.
pub fn verify(req: &HttpRequest, submitted: &str) -> bool {
    match cookie_value(req) {
        Some(value) => secrets::constant_time_eq(&token_for(&value), submitted),
        None => false,
    }
}
