//! Passkey ceremonies for `static/passkeys.js` (SPEC §9): JSON in, JSON out (`{"options": …}`
//! to start, a 303 to where the browser goes next on success, problem+json on failure). Every call carries the page's CSRF token in `X-CSRF-Token`; the ceremony's token
//! travels in the HttpOnly `tessera_webauthn` cookie, so only the browser that started a ceremony
//! can finish it, once.
//!
//! - `POST /settings/mfa/passkey/start|finish`: add a passkey (signed in; recent sign-in or
//!   `current_password`, as for every factor change);
//! - `POST /login/mfa/passkey/start|finish`: the second step with a passkey (after the password,
//!   or a step-up);
//! - `POST /login/passkey/start|finish`: password-less sign-in with a discoverable passkey.

use crate::WebState;
use crate::pages::mfa::prover;
use crate::pages::sign_in::safe_return_to;
use crate::render::{PageError, see_other};
use crate::session_cookie::{self, client_ip};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth::passkeys::{self, PasskeyError};
use serde::Deserialize;
use serde_json::{Value, json};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential, Webauthn};

/// A refusal as problem+json (the script shows its `detail`).
fn refused(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    let title = status.canonical_reason().unwrap_or("Error");
    actix_web::ResponseError::error_response(&http_kit::Problem::new(status, title, message))
}

fn problem(e: PasskeyError) -> Result<HttpResponse, PageError> {
    let status = match &e {
        PasskeyError::Internal(i) => return Err(PageError::Internal(i.to_string())),
        PasskeyError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        PasskeyError::Expired => StatusCode::BAD_REQUEST,
        PasskeyError::Taken => StatusCode::CONFLICT,
        PasskeyError::InvalidName => StatusCode::UNPROCESSABLE_ENTITY,
        PasskeyError::Refused | PasskeyError::NoPasskey => StatusCode::UNAUTHORIZED,
        PasskeyError::Disabled => StatusCode::FORBIDDEN,
    };
    Ok(refused(status, e.to_string()))
}

/// The request's body as `T` if its CSRF header is right; else the answer to give.
fn checked<T: serde::de::DeserializeOwned>(
    state: &WebState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, Box<HttpResponse>> {
    let token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !crate::csrf::verify(state, req, token) {
        return Err(Box::new(refused(
            StatusCode::FORBIDDEN,
            "the page has expired; reload it",
        )));
    }
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|_| {
        Box::new(refused(
            StatusCode::BAD_REQUEST,
            "the request is not valid JSON",
        ))
    })
}

fn rp(state: &WebState) -> Result<Webauthn, PasskeyError> {
    passkeys::relying_party(&state.provider.settings.issuer, &state.tenant.name)
}

fn ceremony_cookie(state: &WebState, token: &str) -> Cookie<'static> {
    Cookie::build(state.cookies.webauthn, token.to_owned())
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::seconds(
            passkeys::CEREMONY_TTL.num_seconds(),
        ))
        .finish()
}

fn ceremony_token(state: &WebState, req: &HttpRequest) -> String {
    req.cookie(state.cookies.webauthn)
        .map(|c| c.value().to_owned())
        .unwrap_or_default()
}

fn started(state: &WebState, s: passkeys::Started) -> Result<HttpResponse, PageError> {
    let mut resp = HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "options": s.options }));
    resp.add_cookie(&ceremony_cookie(state, &s.token))?;
    Ok(resp)
}

fn finished(state: &WebState, mut resp: HttpResponse) -> Result<HttpResponse, PageError> {
    let mut gone = ceremony_cookie(state, "");
    gone.make_removal();
    resp.add_cookie(&gone)?;
    Ok(resp)
}

#[derive(Debug, Default, Deserialize)]
pub struct StartAdding {
    #[serde(default)]
    current_password: String,
}

/// `POST /settings/mfa/passkey/start`.
pub async fn start_adding(
    state: WebState,
    req: HttpRequest,
    signed_in: crate::signed_in::SignedIn,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let form: StartAdding = match checked(&state, &req, &body) {
        Ok(f) => f,
        Err(resp) => return Ok(*resp),
    };
    if !auth::mfa::reauthenticated(
        &state.db,
        state.clock.as_ref(),
        &state.hasher,
        &session,
        &form.current_password,
    )
    .await?
    {
        return Ok(refused(
            StatusCode::FORBIDDEN,
            "Enter your current password to add a passkey.",
        ));
    }
    let rp = match rp(&state) {
        Ok(rp) => rp,
        Err(e) => return problem(e),
    };
    let name = crate::pages::mfa::account_label(&state, session.user_id).await?;
    match passkeys::start_registration(&state.db, state.clock.as_ref(), &rp, session.user_id, &name)
        .await
    {
        Ok(s) => started(&state, s),
        Err(e) => problem(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct FinishAdding {
    #[serde(default)]
    name: String,
    credential: RegisterPublicKeyCredential,
}

/// `POST /settings/mfa/passkey/finish`.
pub async fn finish_adding(
    state: WebState,
    req: HttpRequest,
    signed_in: crate::signed_in::SignedIn,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let form: FinishAdding = match checked(&state, &req, &body) {
        Ok(f) => f,
        Err(resp) => return Ok(*resp),
    };
    let rp = match rp(&state) {
        Ok(rp) => rp,
        Err(e) => return problem(e),
    };
    let ip = client_ip(&req);
    let name = if form.name.trim().is_empty() {
        "Passkey"
    } else {
        form.name.as_str()
    };
    match passkeys::finish_registration(
        &state.db,
        state.clock.as_ref(),
        &rp,
        session.user_id,
        &ceremony_token(&state, &req),
        &form.credential,
        name,
        ip.as_deref(),
    )
    .await
    {
        Ok(()) => finished(&state, see_other("/settings?saved=passkey#mfa")),
        Err(e) => problem(e),
    }
}

/// `POST /login/mfa/passkey/start`: the second step with a passkey.
pub async fn start_second_step(
    state: WebState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    if let Err(resp) = checked::<Value>(&state, &req, &body) {
        return Ok(*resp);
    }
    let Some(who) = prover(&state, &req).await? else {
        return Ok(refused(StatusCode::UNAUTHORIZED, "sign in again"));
    };
    let rp = match rp(&state) {
        Ok(rp) => rp,
        Err(e) => return problem(e),
    };
    match passkeys::start_authentication(&state.db, state.clock.as_ref(), &rp, who.user_id()).await
    {
        Ok(s) => started(&state, s),
        Err(e) => problem(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct Finish {
    credential: PublicKeyCredential,
    #[serde(default)]
    return_to: String,
}

/// `POST /login/mfa/passkey/finish`.
pub async fn finish_second_step(
    state: WebState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form: Finish = match checked(&state, &req, &body) {
        Ok(f) => f,
        Err(resp) => return Ok(*resp),
    };
    let Some(who) = prover(&state, &req).await? else {
        return Ok(refused(StatusCode::UNAUTHORIZED, "sign in again"));
    };
    let rp = match rp(&state) {
        Ok(rp) => rp,
        Err(e) => return problem(e),
    };
    if let Err(e) = passkeys::finish_authentication(
        &state.db,
        state.clock.as_ref(),
        &rp,
        who.user_id(),
        &ceremony_token(&state, &req),
        &form.credential,
    )
    .await
    {
        return problem(e);
    }
    let return_to = safe_return_to(Some(&form.return_to)).unwrap_or_else(|| "/".into());
    let resp = crate::pages::mfa::second_factor_proved(
        &state,
        &req,
        who,
        passkeys::PASSKEY_AMR,
        &return_to,
    )
    .await?;
    finished(&state, resp)
}

/// `POST /login/passkey/start`: password-less sign-in.
pub async fn start_passwordless(
    state: WebState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    if let Err(resp) = checked::<Value>(&state, &req, &body) {
        return Ok(*resp);
    }
    let rp = match rp(&state) {
        Ok(rp) => rp,
        Err(e) => return problem(e),
    };
    match passkeys::start_discoverable(&state.db, state.clock.as_ref(), &rp).await {
        Ok(s) => started(&state, s),
        Err(e) => problem(e),
    }
}

/// `POST /login/passkey/finish`: a session for the passkey's user (never a disabled one).
pub async fn finish_passwordless(
    state: WebState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form: Finish = match checked(&state, &req, &body) {
        Ok(f) => f,
        Err(resp) => return Ok(*resp),
    };
    let rp = match rp(&state) {
        Ok(rp) => rp,
        Err(e) => return problem(e),
    };
    let ip = client_ip(&req);
    let user_id = match passkeys::finish_discoverable(
        &state.db,
        state.clock.as_ref(),
        &rp,
        &ceremony_token(&state, &req),
        &form.credential,
        ip.as_deref(),
    )
    .await
    {
        Ok(u) => u,
        Err(e) => return problem(e),
    };
    let return_to = safe_return_to(Some(&form.return_to)).unwrap_or_else(|| "/".into());
    let resp = session_cookie::start_session_and_redirect(
        &state,
        &req,
        user_id,
        &return_to,
        passkeys::PASSKEY_AMR,
    )
    .await?;
    finished(&state, resp)
}
