//! The session cookie and the session it names; the names of every cookie Tessera sets.

use crate::WebState;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use auth::sessions::Session;
use auth::sessions::{self, SessionError, SessionToken};

/// The names of Tessera's cookies. On an https issuer they carry the `__Host-` prefix: the
/// browser then accepts them only with `Secure`, `Path=/` and no `Domain`, so a sibling subdomain
/// or a network attacker cannot plant or shadow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieNames {
    pub session: &'static str,
    pub csrf: &'static str,
    pub upstream: &'static str,
    /// A sign-in waiting for its second factor.
    pub mfa: &'static str,
    /// A passkey ceremony in progress.
    pub webauthn: &'static str,
}

impl CookieNames {
    pub fn new(secure: bool) -> Self {
        if secure {
            Self {
                session: "__Host-tessera_session",
                csrf: "__Host-tessera_csrf",
                upstream: "__Host-tessera_upstream",
                mfa: "__Host-tessera_mfa",
                webauthn: "__Host-tessera_webauthn",
            }
        } else {
            Self {
                session: "tessera_session",
                csrf: "tessera_csrf",
                upstream: "tessera_upstream",
                mfa: "tessera_mfa",
                webauthn: "tessera_webauthn",
            }
        }
    }
}

/// The cookie that hands a new session to the browser. It lives as long as the session may.
pub fn session_cookie(state: &WebState, token: &SessionToken) -> Cookie<'static> {
    Cookie::build(state.cookies.session, token.as_str().to_owned())
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(
            state.session_policy.lifetime.num_seconds(),
        ))
        .finish()
}

/// Signs `user_id` in on this browser after a first factor: a user with a second factor is sent
/// to `/login/mfa` with a challenge cookie (the session starts there); anyone else gets a session
/// at once (recording the address and browser) and a 303 to `next` that hands over the session
/// cookie — which also renews the browser's CSRF binding. The sign-in page, sign-up and upstream
/// sign-in all end here, so no door skips the second factor.
pub async fn start_and_redirect(
    state: &WebState,
    req: &HttpRequest,
    user_id: profile::Uuid,
    next: &str,
) -> Result<actix_web::HttpResponse, crate::render::PageError> {
    match auth::mfa::after_first_factor(&state.db, state.clock.as_ref(), user_id, next).await? {
        auth::mfa::AfterFirstFactor::SecondFactor(started) => {
            let mut resp = crate::render::see_other("/login/mfa");
            resp.add_cookie(&mfa_cookie(state, &started.token))?;
            Ok(resp)
        }
        auth::mfa::AfterFirstFactor::Session => {
            start_session_and_redirect(state, req, user_id, next, "pwd").await
        }
    }
}

/// Starts a session that used `amr` and answers with a 303 to `next` handing over its cookie.
pub async fn start_session_and_redirect(
    state: &WebState,
    req: &HttpRequest,
    user_id: profile::Uuid,
    next: &str,
    amr: &str,
) -> Result<actix_web::HttpResponse, crate::render::PageError> {
    let started = sessions::start_session(
        &state.db,
        state.clock.as_ref(),
        &state.session_policy,
        user_id,
        client_ip(req),
        user_agent(req),
        amr,
    )
    .await?;
    let mut resp = crate::render::see_other(next);
    resp.add_cookie(&session_cookie(state, &started.token))?;
    Ok(resp)
}

/// The cookie of a sign-in waiting for its second factor (as long as the challenge lives).
pub fn mfa_cookie(state: &WebState, token: &str) -> Cookie<'static> {
    Cookie::build(state.cookies.mfa, token.to_owned())
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(
            auth::mfa::CHALLENGE_TTL.num_seconds(),
        ))
        .finish()
}

/// A cookie that removes the session cookie from the browser.
pub fn removal_cookie(state: &WebState) -> Cookie<'static> {
    let mut c = Cookie::build(state.cookies.session, "")
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Lax)
        .finish();
    c.make_removal();
    c
}

/// The live session of the request's browser, if any.
pub async fn current_session(
    state: &WebState,
    req: &HttpRequest,
) -> Result<Option<Session>, SessionError> {
    let Some(cookie) = req.cookie(state.cookies.session) else {
        return Ok(None);
    };
    sessions::resolve_session(
        &state.db,
        state.clock.as_ref(),
        &state.session_policy,
        cookie.value(),
    )
    .await
}

pub use http_kit::client_ip;

/// The request's `User-Agent`, if it is valid text.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Ends a browser session: revokes what was issued under it, notifies clients that asked for
/// back-channel logout, and records the logout.
pub async fn sign_out(
    state: &WebState,
    session: &Session,
    ip: Option<String>,
) -> Result<(), SessionError> {
    oidc::logout::end_session(
        &state.provider,
        &state.db,
        state.clock.as_ref(),
        session,
        oidc::logout::Ending::SignedOut { ip },
    )
    .await?;
    Ok(())
}
