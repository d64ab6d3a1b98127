//! The one rule every page behind the sign-in passes: [`SignedIn`] is a request extractor for a
//! browser with a live session whose account may go on (the verification gate of SPEC §8). A
//! handler that takes it cannot forget either check; a browser without a session is sent to sign
//! in, one that still has to prove its email address to the code page, and both come back after.
//!
//! Only the code pages, resend, sign-out and password reset do without it.

use crate::WebState;
use crate::render::{PageError, see_other};
use crate::session_cookie::current_session;
use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use auth::sessions::Session;
use auth::verification::Gate;
use std::future::Future;
use std::pin::Pin;

/// A signed-in browser whose account passed the verification gate.
#[derive(Debug, Clone)]
pub struct SignedIn(pub Session);

impl std::ops::Deref for SignedIn {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0
    }
}

/// Why a page behind the sign-in was not shown.
#[derive(Debug)]
pub enum NotSignedIn {
    /// No live session: sign in, then come back.
    Login {
        return_to: String,
    },
    /// The account must prove its email address first.
    VerifyEmail {
        return_to: String,
    },
    /// The account must add a second factor first.
    AddSecondFactor {
        return_to: String,
    },
    Page(PageError),
}

impl std::fmt::Display for NotSignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotSignedIn::Login { .. } => f.write_str("sign-in required"),
            NotSignedIn::VerifyEmail { .. } => f.write_str("email verification required"),
            NotSignedIn::AddSecondFactor { .. } => f.write_str("a second factor is required"),
            NotSignedIn::Page(e) => e.fmt(f),
        }
    }
}

fn with_return(path: &str, return_to: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish();
    format!("{path}?{q}")
}

impl ResponseError for NotSignedIn {
    fn status_code(&self) -> StatusCode {
        match self {
            NotSignedIn::Page(e) => e.status_code(),
            _ => StatusCode::SEE_OTHER,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            NotSignedIn::Login { return_to } => see_other(&with_return("/login", return_to)),
            NotSignedIn::VerifyEmail { return_to } => {
                see_other(&with_return("/verify-email", return_to))
            }
            NotSignedIn::AddSecondFactor { return_to } => {
                see_other(&with_return("/login/mfa/setup", return_to))
            }
            NotSignedIn::Page(e) => e.error_response(),
        }
    }
}

/// Where to come back to: the page itself for a GET, the settings page after a refused form.
fn return_to(req: &HttpRequest) -> String {
    if req.method() == Method::GET {
        let path = req
            .uri()
            .path_and_query()
            .map_or("/settings", |p| p.as_str());
        crate::pages::sign_in::safe_return_to(Some(path)).unwrap_or_else(|| "/settings".into())
    } else {
        "/settings".into()
    }
}

/// The gate for a signed-in user: the same question for pages, forms, upstream links,
/// authorization requests and self-service writes.
pub async fn gate(state: &WebState, user_id: profile::Uuid) -> Result<Gate, PageError> {
    let policy = auth::verification::GatePolicy {
        email_verification: state.require_email_verification,
        second_factor: state.require_second_factor,
    };
    Ok(auth::verification::gate(&state.db, user_id, policy).await?)
}

/// Where a closed gate sends the browser, to come back to `return_to` (a local path).
pub fn gate_page(gate: &Gate, return_to: &str) -> Option<String> {
    match gate {
        Gate::Open => None,
        Gate::VerifyEmail { .. } => Some(with_return("/verify-email", return_to)),
        Gate::AddSecondFactor => Some(with_return("/login/mfa/setup", return_to)),
    }
}

/// The pages where a user adds the second factor a policy asks for: past that gate, or it could
/// never open.
fn adds_a_second_factor(req: &HttpRequest) -> bool {
    let path = req.path();
    path == "/login/mfa/setup" || path.starts_with("/settings/mfa/")
}

async fn extract(req: HttpRequest) -> Result<SignedIn, NotSignedIn> {
    let state = WebState::of(&req)
        .ok_or_else(|| NotSignedIn::Page(PageError::Internal("no web state".into())))?;
    let state = &state;
    let session = current_session(state, &req)
        .await
        .map_err(|e| NotSignedIn::Page(e.into()))?
        .ok_or_else(|| NotSignedIn::Login {
            return_to: return_to(&req),
        })?;
    match gate(state, session.user_id)
        .await
        .map_err(NotSignedIn::Page)?
    {
        Gate::Open => Ok(SignedIn(session)),
        Gate::VerifyEmail { .. } => Err(NotSignedIn::VerifyEmail {
            return_to: return_to(&req),
        }),
        Gate::AddSecondFactor if adds_a_second_factor(&req) => Ok(SignedIn(session)),
        Gate::AddSecondFactor => Err(NotSignedIn::AddSecondFactor {
            return_to: return_to(&req),
        }),
    }
}

impl FromRequest for SignedIn {
    type Error = NotSignedIn;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(extract(req.clone()))
    }
}
