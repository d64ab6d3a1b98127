//! CSRF protection for every form: a token keyed to a server secret and bound to the browser.
//!
//! The token is HMAC-SHA256 under a secret the server generated on first start and keeps in the
//! database (every process shares it), over what binds it to this browser: the session cookie
//! when there is one, else a random pre-session value in the CSRF cookie (HttpOnly,
//! SameSite=Lax). So the token changes at sign-in, and someone able to plant a cookie in the
//! victim's browser (a sibling subdomain, a network attacker on http) still cannot compute the
//! token that goes with it. The comparison is constant-time.

use crate::WebState;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use auth::secrets;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The form field that carries the token.
pub const FIELD: &str = "csrf_token";
/// The server secret's name in the database.
pub const SECRET_NAME: &str = "csrf";

/// The HMAC key, derived from the stored server secret.
#[derive(Clone)]
pub struct CsrfKey([u8; 32]);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(…)")
    }
}

impl CsrfKey {
    pub fn from_secret(secret: &str) -> Self {
        use sha2::Digest;
        Self(Sha256::digest(format!("tessera csrf key\0{secret}").as_bytes()).into())
    }

    fn token(&self, binding: &Binding) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            // HMAC takes a key of any length; unreachable, and an empty token never verifies.
            return String::new();
        };
        mac.update(b"tessera csrf v2\0");
        mac.update(binding.kind);
        mac.update(b"\0");
        mac.update(binding.value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// What a token is bound to.
struct Binding {
    kind: &'static [u8],
    value: String,
}

/// A cookie value Tessera could have issued: base64url, not absurdly long.
fn plausible(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn binding(state: &WebState, req: &HttpRequest) -> Option<Binding> {
    if let Some(c) = req.cookie(state.cookies.session)
        && plausible(c.value(), 128)
    {
        return Some(Binding {
            kind: b"session",
            value: c.value().to_owned(),
        });
    }
    req.cookie(state.cookies.csrf)
        .filter(|c| c.value().len() == 43 && plausible(c.value(), 43))
        .map(|c| Binding {
            kind: b"browser",
            value: c.value().to_owned(),
        })
}

/// The CSRF token for one response, and the pre-session cookie to set when the browser had none.
#[derive(Debug, Clone)]
pub struct Csrf {
    token: String,
    new_cookie: Option<(&'static str, String)>,
}

impl Csrf {
    /// The token for the request's browser; a fresh pre-session value when it has nothing to
    /// bind to yet.
    pub fn for_request(state: &WebState, req: &HttpRequest) -> Self {
        match binding(state, req) {
            Some(b) => Self {
                token: state.csrf_key.token(&b),
                new_cookie: None,
            },
            None => {
                let value = secrets::generate_secret();
                let token = state.csrf_key.token(&Binding {
                    kind: b"browser",
                    value: value.clone(),
                });
                Self {
                    token,
                    new_cookie: Some((state.cookies.csrf, value)),
                }
            }
        }
    }

    /// The value for the form's hidden `csrf_token` field.
    pub fn form_token(&self) -> String {
        self.token.clone()
    }

    /// The cookie to set, when the browser did not have one yet.
    pub fn cookie(&self, secure: bool) -> Option<Cookie<'static>> {
        self.new_cookie.as_ref().map(|(name, value)| {
            Cookie::build(*name, value.clone())
                .path("/")
                .http_only(true)
                .secure(secure)
                .same_site(SameSite::Lax)
                .finish()
        })
    }
}

/// Whether `submitted` is the right token for the request's browser.
pub fn verify(state: &WebState, req: &HttpRequest, submitted: &str) -> bool {
    match binding(state, req) {
        Some(b) => {
            let expected = state.csrf_key.token(&b);
            !expected.is_empty() && secrets::constant_time_eq(&expected, submitted)
        }
        None => false,
    }
}

/// A form that passed the CSRF check: the one extractor every page form goes through, so no
/// handler can forget the check. The token travels in the form's `csrf_token` field beside the
/// fields of `T`; a missing or wrong one is refused with the "form has expired" page before the
/// handler runs.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

impl<T> CsrfForm<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for CsrfForm<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The fields of a form that carries nothing but its CSRF token (a button).
#[derive(Debug, Default, serde::Deserialize)]
pub struct NoFields {}

#[derive(serde::Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf_token: String,
    #[serde(flatten)]
    fields: T,
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for CsrfForm<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let form = actix_web::web::Form::<WithToken<T>>::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let form = form.await?.into_inner();
            let state = req
                .app_data::<actix_web::web::Data<WebState>>()
                .ok_or_else(|| crate::render::PageError::Internal("no web state".into()))?;
            if !verify(state, &req, &form.csrf_token) {
                return Err(crate::render::PageError::Csrf.into());
            }
            Ok(CsrfForm(form.fields))
        })
    }
}
