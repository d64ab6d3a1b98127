//! The second step of signing in (SPEC §9): `/login/mfa` takes a code (TOTP or recovery) after
//! the password — for a sign-in waiting in a challenge cookie — or, for a signed-in session that
//! has not proved a second factor, as a step-up before going on to `return_to`.

use crate::WebState;
use crate::csrf::{Csrf, CsrfForm};
use crate::pages::sign_in::safe_return_to;
use crate::render::{PageError, minutes, page, see_other, with_retry_after};
use crate::session_cookie::{self, client_ip, current_session};
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth::mfa::MfaError;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login_mfa.html")]
struct MfaPage {
    csrf_token: String,
    return_to: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct MfaQuery {
    return_to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct MfaForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    return_to: String,
}

/// Who is proving a second factor: a sign-in waiting in its challenge, or a signed-in session.
pub(crate) enum Prover {
    Challenge {
        token: String,
        challenge: auth::mfa::Challenge,
    },
    Session(auth::sessions::Session),
}

impl Prover {
    pub(crate) fn user_id(&self) -> profile::Uuid {
        match self {
            Prover::Challenge { challenge, .. } => challenge.user_id,
            Prover::Session(s) => s.user_id,
        }
    }
}

pub(crate) async fn prover(
    state: &WebState,
    req: &HttpRequest,
) -> Result<Option<Prover>, PageError> {
    if let Some(cookie) = req.cookie(state.cookies.mfa)
        && let Some(challenge) =
            auth::mfa::find_challenge(&state.db, state.clock.as_ref(), cookie.value()).await?
    {
        return Ok(Some(Prover::Challenge {
            token: cookie.value().to_owned(),
            challenge,
        }));
    }
    Ok(current_session(state, req).await?.map(Prover::Session))
}

fn render(
    state: &WebState,
    req: &HttpRequest,
    status: StatusCode,
    return_to: &str,
    error: Option<String>,
) -> HttpResponse {
    let csrf = Csrf::for_request(state, req);
    let tpl = MfaPage {
        csrf_token: csrf.form_token(),
        return_to: return_to.to_owned(),
        error,
    };
    page(status, &tpl, Some(&csrf), state)
}

/// `GET /login/mfa[?return_to=]`.
pub async fn form(
    state: WebState,
    req: HttpRequest,
    query: web::Query<MfaQuery>,
) -> Result<HttpResponse, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref()).unwrap_or_else(|| "/".into());
    match prover(&state, &req).await? {
        // A step-up for someone with no second factor yet: add one first.
        Some(Prover::Session(s)) if !auth::mfa::has_second_factor(&state.db, s.user_id).await? => {
            Ok(see_other("/settings?error=mfa_required#mfa"))
        }
        Some(_) => Ok(render(&state, &req, StatusCode::OK, &return_to, None)),
        None => Ok(see_other("/login")),
    }
}

fn removal(state: &WebState) -> Cookie<'static> {
    let mut c = session_cookie::mfa_cookie(state, "");
    c.make_removal();
    c
}

/// `POST /login/mfa` with `code`.
pub async fn verify(
    state: WebState,
    req: HttpRequest,
    form: CsrfForm<MfaForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let Some(who) = prover(&state, &req).await? else {
        return Ok(see_other("/login"));
    };
    let user_id = who.user_id();
    let ip = client_ip(&req);
    let return_to = safe_return_to(Some(&form.return_to)).unwrap_or_else(|| "/".into());
    let verified = auth::mfa::verify_code(
        &state.db,
        state.clock.as_ref(),
        &state.brute_force,
        crate::pages::verification::channels(&state),
        user_id,
        &form.code,
        ip.as_deref(),
    )
    .await;
    match verified {
        Ok(_) => {}
        Err(MfaError::Internal(e)) => return Err(e.into()),
        Err(MfaError::Locked(lock)) => {
            let wait = lock.retry_after(state.clock.now());
            let message = format!("Too many wrong codes. Try again in {}.", minutes(wait));
            let resp = render(
                &state,
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                &return_to,
                Some(message),
            );
            return Ok(with_retry_after(resp, wait));
        }
        Err(e) => {
            return Ok(render(
                &state,
                &req,
                StatusCode::UNAUTHORIZED,
                &return_to,
                Some(e.to_string()),
            ));
        }
    };
    second_factor_proved(&state, &req, who, auth::mfa::OTP_AMR, &return_to).await
}

/// The second factor is proved with methods `added`: the waiting sign-in gets its session (once,
/// however many requests race), or the signed-in session is stepped up; then on to where the
/// sign-in was going (a challenge's own `return_to`, else `return_to`).
pub(crate) async fn second_factor_proved(
    state: &WebState,
    req: &HttpRequest,
    who: Prover,
    added: &str,
    return_to: &str,
) -> Result<HttpResponse, PageError> {
    match who {
        Prover::Challenge { token, challenge } => {
            let Some(amr) =
                auth::mfa::finish_challenge(&state.db, &token, &challenge, added).await?
            else {
                return Ok(see_other("/login"));
            };
            let mut resp = session_cookie::start_session_and_redirect(
                state,
                req,
                challenge.user_id,
                &challenge.return_to,
                &amr,
            )
            .await?;
            resp.add_cookie(&removal(state))?;
            Ok(resp)
        }
        Prover::Session(session) => {
            let ip = client_ip(req);
            auth::mfa::step_up(
                &state.db,
                state.clock.as_ref(),
                &session,
                added,
                ip.as_deref(),
            )
            .await?;
            Ok(see_other(return_to))
        }
    }
}

#[derive(Template)]
#[template(path = "mfa_setup.html")]
struct SetupPage {
    csrf_token: String,
    totp: Option<auth::mfa::TotpEnrolment>,
    recovery_codes: Vec<String>,
    error: Option<String>,
}

fn setup_page(
    state: &WebState,
    req: &HttpRequest,
    status: StatusCode,
    totp: Option<auth::mfa::TotpEnrolment>,
    recovery_codes: Vec<String>,
    error: Option<String>,
) -> HttpResponse {
    let csrf = Csrf::for_request(state, req);
    let tpl = SetupPage {
        csrf_token: csrf.form_token(),
        totp,
        recovery_codes,
        error,
    };
    page(status, &tpl, Some(&csrf), state)
}

#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
}

/// Adding or removing a factor needs a recent sign-in or the current password (SPEC §9); when
/// neither, the settings page again with the reason.
async fn refused_unless_reauthenticated(
    state: &WebState,
    req: &HttpRequest,
    session: &auth::sessions::Session,
    password: &str,
) -> Result<Option<HttpResponse>, PageError> {
    if auth::mfa::reauthenticated(
        &state.db,
        state.clock.as_ref(),
        &state.hasher,
        session,
        password,
    )
    .await?
    {
        return Ok(None);
    }
    let message = if password.is_empty() {
        "Enter your current password to change two-step verification."
    } else {
        "That is not your current password."
    };
    let extras = crate::pages::settings::Extras {
        mfa_error: Some(message.into()),
        ..Default::default()
    };
    crate::pages::settings::render(state, req, session, StatusCode::FORBIDDEN, extras)
        .await
        .map(Some)
}

/// The account name an authenticator app shows: the user's first email address.
pub(crate) async fn account_label(
    state: &WebState,
    user_id: profile::Uuid,
) -> Result<String, PageError> {
    Ok(auth::users::email_of(&state.db, user_id)
        .await?
        .unwrap_or_else(|| user_id.to_string()))
}

/// `POST /settings/mfa/totp`: a new authenticator app secret, shown with its QR code.
pub async fn start_totp(
    state: WebState,
    req: HttpRequest,
    signed_in: crate::signed_in::SignedIn,
    form: CsrfForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    if let Some(refused) =
        refused_unless_reauthenticated(&state, &req, &session, &form.current_password).await?
    {
        return Ok(refused);
    }
    let account = account_label(&state, session.user_id).await?;
    let enrolment = auth::mfa::start_totp(
        &state.db,
        state.clock.as_ref(),
        session.user_id,
        &account,
        &state.tenant.name,
    )
    .await
    .map_err(|e| PageError::Internal(e.to_string()))?;
    Ok(setup_page(
        &state,
        &req,
        StatusCode::OK,
        Some(enrolment),
        Vec::new(),
        None,
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    factor_id: String,
    #[serde(default)]
    code: String,
}

/// `POST /settings/mfa/totp/confirm`: the first code from the app turns it on.
pub async fn confirm_totp(
    state: WebState,
    req: HttpRequest,
    signed_in: crate::signed_in::SignedIn,
    form: CsrfForm<ConfirmForm>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let Ok(factor_id) = profile::Uuid::parse_str(&form.factor_id) else {
        return Ok(see_other("/settings#mfa"));
    };
    let ip = client_ip(&req);
    match auth::mfa::confirm_totp(
        &state.db,
        state.clock.as_ref(),
        session.user_id,
        factor_id,
        &form.code,
        ip.as_deref(),
    )
    .await
    {
        Ok(()) => Ok(see_other("/settings?saved=mfa#mfa")),
        Err(MfaError::WrongCode) => {
            let account = account_label(&state, session.user_id).await?;
            let pending = auth::mfa::pending_totp(
                &state.db,
                session.user_id,
                factor_id,
                &account,
                &state.tenant.name,
            )
            .await
            .map_err(|e| PageError::Internal(e.to_string()))?;
            Ok(setup_page(
                &state,
                &req,
                StatusCode::UNPROCESSABLE_ENTITY,
                pending,
                Vec::new(),
                Some("That code is not right. Enter the code the app shows now.".into()),
            ))
        }
        Err(MfaError::NotFound) => Ok(see_other("/settings#mfa")),
        Err(e) => Err(PageError::Internal(e.to_string())),
    }
}

/// `POST /settings/mfa/recovery-codes`: a new set of recovery codes, shown once.
pub async fn recovery_codes(
    state: WebState,
    req: HttpRequest,
    signed_in: crate::signed_in::SignedIn,
    form: CsrfForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    if let Some(refused) =
        refused_unless_reauthenticated(&state, &req, &session, &form.current_password).await?
    {
        return Ok(refused);
    }
    let ip = client_ip(&req);
    let codes = auth::mfa::generate_recovery_codes(
        &state.db,
        state.clock.as_ref(),
        session.user_id,
        ip.as_deref(),
    )
    .await
    .map_err(|e| PageError::Internal(e.to_string()))?;
    Ok(setup_page(&state, &req, StatusCode::OK, None, codes, None))
}

/// `POST /settings/mfa/{id}/remove`.
pub async fn remove(
    state: WebState,
    req: HttpRequest,
    signed_in: crate::signed_in::SignedIn,
    path: web::Path<String>,
    form: CsrfForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    if let Some(refused) =
        refused_unless_reauthenticated(&state, &req, &session, &form.current_password).await?
    {
        return Ok(refused);
    }
    let Ok(factor_id) = profile::Uuid::parse_str(&path.into_inner()) else {
        return Ok(see_other("/settings#mfa"));
    };
    let ip = client_ip(&req);
    match auth::mfa::remove(
        &state.db,
        state.clock.as_ref(),
        session.user_id,
        factor_id,
        profile::Actor::User(session.user_id),
        ip.as_deref(),
    )
    .await
    {
        Ok(()) | Err(MfaError::NotFound) => Ok(see_other("/settings?saved=mfa_removed#mfa")),
        Err(e) => Err(PageError::Internal(e.to_string())),
    }
}

#[derive(Template)]
#[template(path = "mfa_required.html")]
struct RequiredPage {
    csrf_token: String,
    needs_password: bool,
}

/// `GET /login/mfa/setup`: the policy asks every account for a second factor; this one adds it.
pub async fn setup(
    state: WebState,
    req: HttpRequest,
    signed_in: crate::signed_in::SignedIn,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    if auth::mfa::has_second_factor(&state.db, session.user_id).await? {
        return Ok(see_other("/settings#mfa"));
    }
    let needs_password =
        !auth::mfa::reauthenticated(&state.db, state.clock.as_ref(), &state.hasher, &session, "")
            .await?;
    let csrf = Csrf::for_request(&state, &req);
    let tpl = RequiredPage {
        csrf_token: csrf.form_token(),
        needs_password,
    };
    Ok(page(StatusCode::OK, &tpl, Some(&csrf), &state))
}
