//! Signing in with an upstream OpenID provider, and linking or unlinking one from the settings
//! page. The flow itself (state, nonce, PKCE, ID token checks, accounts) lives in
//! [`oidc::upstream`]; this module only reads requests and renders the outcome.
//!
//! The browser that starts a sign-in gets a random value in the `tessera_upstream` cookie
//! (HttpOnly, SameSite=Lax); the pending sign-in stores its hash, so a callback only completes in
//! the browser that started it.

use crate::WebState;
use crate::csrf::CsrfForm;
use crate::pages::sign_in::safe_return_to;
use crate::render::{PageError, page, see_other};
use crate::session_cookie::{self, client_ip, current_session};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth::users::RemoveIdentity;
use oidc::upstream::accounts::{self, Outcome, SignUpSettings};
use oidc::upstream::{Begin, Callback, Return, UpstreamError};
use profile::Uuid;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    back_href: &'a str,
    back_label: &'a str,
}

fn error_page(
    state: &WebState,
    status: StatusCode,
    message: &str,
    back_href: &str,
    back_label: &str,
) -> HttpResponse {
    let tpl = ErrorPage {
        title: "Sign-in did not complete",
        message,
        back_href,
        back_label,
    };
    page(status, &tpl, None, state)
}

/// The browser's binding value: its cookie, or a new one.
fn browser_secret(state: &WebState, req: &HttpRequest) -> String {
    match req
        .cookie(state.cookies.upstream)
        .map(|c| c.value().to_owned())
    {
        Some(v)
            if v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            v
        }
        _ => auth::secrets::generate_secret(),
    }
}

fn binding_cookie(state: &WebState, value: &str) -> Cookie<'static> {
    Cookie::build(state.cookies.upstream, value.to_owned())
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(
            oidc::upstream::PENDING_TTL.num_seconds(),
        ))
        .finish()
}

/// The page for a failed sign-in; nothing was created. `Internal` is a server error.
fn failure(
    state: &WebState,
    upstream_name: &str,
    error: UpstreamError,
    signed_in: bool,
) -> Result<HttpResponse, PageError> {
    let (back, label) = if signed_in {
        ("/settings#upstream", "Back to your settings")
    } else {
        ("/login", "Back to sign in")
    };
    let (status, message) = match error {
        UpstreamError::Internal(e) => return Err(e.into()),
        UpstreamError::UnknownUpstream => (
            StatusCode::NOT_FOUND,
            "There is no such sign-in provider.".to_owned(),
        ),
        UpstreamError::Unreachable(_) => (
            StatusCode::BAD_GATEWAY,
            format!(
                "{upstream_name} cannot be reached just now. Try again in a moment, or sign in another way."
            ),
        ),
        UpstreamError::Denied { error, .. } => (
            StatusCode::FORBIDDEN,
            format!(
                "{upstream_name} did not let you sign in ({error}). You have not been signed in."
            ),
        ),
        UpstreamError::BadState => (
            StatusCode::BAD_REQUEST,
            "This sign-in is unknown, has expired, or was started in another browser. Start again."
                .to_owned(),
        ),
        UpstreamError::Replayed => (
            StatusCode::BAD_REQUEST,
            "This sign-in response was already used. Start again.".to_owned(),
        ),
        UpstreamError::WrongIssuer => (
            StatusCode::BAD_REQUEST,
            format!(
                "The answer did not come from {upstream_name}, so it could not be trusted and you have not been signed in."
            ),
        ),
        UpstreamError::InvalidIdToken(_) => (
            StatusCode::BAD_REQUEST,
            format!(
                "The ID token from {upstream_name} is not valid, so it could not be trusted and you have not been signed in."
            ),
        ),
        UpstreamError::Protocol(_) => (
            StatusCode::BAD_REQUEST,
            format!(
                "The answer from {upstream_name} could not be trusted, so you have not been signed in."
            ),
        ),
        UpstreamError::EmailTaken { email } => (
            StatusCode::CONFLICT,
            format!(
                "An account with the email address {email} already exists. Sign in to it, then link {upstream_name} from your settings page."
            ),
        ),
        UpstreamError::LinkedElsewhere => (
            StatusCode::CONFLICT,
            format!("This {upstream_name} account is already linked to another account."),
        ),
        UpstreamError::NotSignedIn => (
            StatusCode::FORBIDDEN,
            format!("Sign in again, then link {upstream_name} from your settings page."),
        ),
        UpstreamError::Disabled => (
            StatusCode::FORBIDDEN,
            "This account is disabled.".to_owned(),
        ),
    };
    Ok(error_page(state, status, &message, back, label))
}

/// Records a refused upstream sign-in in the audit log.
async fn record_failure(
    state: &WebState,
    id: &str,
    error: &UpstreamError,
    user: Option<Uuid>,
    ip: Option<String>,
) -> Result<(), PageError> {
    oidc::upstream::record_refusal(&state.db, state.clock.as_ref(), id, error, user, ip).await?;
    Ok(())
}

fn name_of(state: &WebState, id: &str) -> String {
    state
        .upstreams
        .find(id)
        .map(|u| u.name.clone())
        .unwrap_or_else(|| "The provider".to_owned())
}

/// Sends the browser upstream.
async fn start(
    state: &WebState,
    req: &HttpRequest,
    id: &str,
    return_to: Option<String>,
    link_user: Option<Uuid>,
) -> Result<HttpResponse, PageError> {
    let secret = browser_secret(state, req);
    let begin = Begin {
        browser_secret: secret.clone(),
        return_to,
        link_user,
    };
    match state
        .upstreams
        .begin(&state.db, state.clock.as_ref(), id, begin)
        .await
    {
        Ok(url) => {
            let mut resp = HttpResponse::Found()
                .insert_header((actix_web::http::header::LOCATION, url))
                .insert_header(("Cache-Control", "no-store"))
                .finish();
            // Set again on every start, so it outlives the pending sign-in.
            resp.add_cookie(&binding_cookie(state, &secret))?;
            Ok(resp)
        }
        Err(e) => failure(state, &name_of(state, id), e, link_user.is_some()),
    }
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
}

/// `GET /login/upstream/{id}`: "Sign in with …".
pub async fn login(
    state: WebState,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let return_to = safe_return_to(query.return_to.as_deref());
    start(&state, &req, &id, return_to, None).await
}

/// `GET /login/upstream/{id}/callback`.
pub async fn callback(
    state: WebState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let name = name_of(&state, &id);
    let callback: Callback = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let session = current_session(&state, &req).await?;
    let ret = Return {
        callback,
        browser_secret: req
            .cookie(state.cookies.upstream)
            .map(|c| c.value().to_owned()),
        current_user: session.as_ref().map(|s| s.user_id),
        ip: client_ip(&req),
    };
    let verified = match state
        .upstreams
        .verify(&state.db, state.clock.as_ref(), &id, &ret)
        .await
    {
        Ok(v) => v,
        Err(e) => {
            record_failure(&state, &id, &e, ret.current_user, ret.ip.clone()).await?;
            return failure(&state, &name, e, session.is_some());
        }
    };
    // Linking adds a way into the account: only for an account past the verification gate (the
    // link was started from the settings page, which checks it; checked again here).
    if verified.pending.link_user_id.is_some()
        && let Some(s) = &session
        && let Some(to) = crate::signed_in::gate_page(
            &crate::signed_in::gate(&state, s.user_id).await?,
            "/settings",
        )
    {
        return Ok(see_other(&to));
    }
    let outcome = match accounts::complete(
        &state.db,
        state.clock.as_ref(),
        &state.profiles,
        &verified,
        ret.current_user,
        SignUpSettings {
            generate_nickname: state.generate_nickname,
        },
        ret.ip.clone(),
    )
    .await
    {
        Ok(o) => o,
        Err(e) => {
            record_failure(&state, &id, &e, ret.current_user, ret.ip.clone()).await?;
            let linking = verified.pending.link_user_id.is_some();
            return failure(&state, &name, e, linking && session.is_some());
        }
    };
    let return_to = safe_return_to(verified.pending.return_to.as_deref());
    match outcome {
        Outcome::Linked { already, .. } => Ok(see_other(if already {
            "/settings?saved=upstream_already#upstream"
        } else {
            "/settings?saved=upstream_linked#upstream"
        })),
        Outcome::SignIn { user_id, .. } => {
            if let Some(old) = session.filter(|s| s.user_id != user_id) {
                // Another user was signed in here: that session ends.
                session_cookie::sign_out(&state, &old, client_ip(&req)).await?;
            }
            session_cookie::start_and_redirect(
                &state,
                &req,
                user_id,
                return_to.as_deref().unwrap_or("/"),
            )
            .await
        }
    }
}

/// `POST /settings/upstream/{id}/link`: links another provider account to the signed-in user.
pub async fn link(
    state: WebState,
    req: HttpRequest,
    signed_in: crate::signed_in::SignedIn,
    path: web::Path<String>,
    _form: CsrfForm<crate::csrf::NoFields>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let id = path.into_inner();
    start(&state, &req, &id, None, Some(session.user_id)).await
}

/// `POST /settings/upstream/{identity_id}/unlink`: refused when it is the last way to sign in.
pub async fn unlink(
    state: WebState,
    req: HttpRequest,
    signed_in: crate::signed_in::SignedIn,
    path: web::Path<String>,
    _form: CsrfForm<crate::csrf::NoFields>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let Ok(id) = Uuid::parse_str(&path.into_inner()) else {
        return Ok(see_other("/settings?error=identity_not_found#upstream"));
    };
    Ok(
        match auth::login_ids::unlink_upstream(
            &state.db,
            state.clock.as_ref(),
            session.user_id,
            id,
            client_ip(&req).as_deref(),
        )
        .await?
        {
            RemoveIdentity::Removed => see_other("/settings?saved=upstream_unlinked#upstream"),
            RemoveIdentity::Last => see_other("/settings?error=last_sign_in#upstream"),
            RemoveIdentity::NotFound => see_other("/settings?error=identity_not_found#upstream"),
        },
    )
}
