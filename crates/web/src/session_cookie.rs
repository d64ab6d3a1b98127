//! The `tessera_session` cookie and the session it names.

use crate::WebState;
use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use auth::sessions::{self, SessionError, SessionToken};
use store::sessions::Session;

pub const COOKIE: &str = "tessera_session";

/// The cookie that hands a new session to the browser. It lives as long as the session may.
pub fn session_cookie(state: &WebState, token: &SessionToken) -> Cookie<'static> {
    Cookie::build(COOKIE, token.as_str().to_owned())
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(
            state.session_policy.lifetime.num_seconds(),
        ))
        .finish()
}

/// A cookie that removes the session cookie from the browser.
pub fn removal_cookie(state: &WebState) -> Cookie<'static> {
    let mut c = Cookie::build(COOKIE, "")
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
    let Some(cookie) = req.cookie(COOKIE) else {
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

/// The client's address as seen by this server (proxies are not trusted).
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

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
    let notifications = oidc::logout::prepare_backchannel(
        &state.provider,
        &state.db,
        state.clock.as_ref(),
        session.id,
    )
    .await;
    sessions::end_session(&state.db, state.clock.as_ref(), session, ip).await?;
    oidc::logout::send_backchannel(notifications);
    Ok(())
}
