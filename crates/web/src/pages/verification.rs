//! Proving an email address with a code: after sign-up (when `verification.email.required`), and
//! before an authorization request continues for a user who has not done it yet.

use crate::WebState;
use crate::csrf::{Csrf, CsrfForm};
use crate::render::{PageError, page, see_other};
use crate::session_cookie::{client_ip, current_session};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth::codes::Purpose;
use auth::verification::{ConfirmError, SendCode, SendError};
use profile::Actor;
use profile::Uuid;
use serde::Deserialize;

/// The address still to verify: the user's first email identity, when none is verified.
pub async fn pending_email(state: &WebState, user_id: Uuid) -> Result<Option<String>, PageError> {
    Ok(auth::verification::pending_email(&state.db, user_id).await?)
}

/// The channels codes go out on.
pub(crate) fn channels(state: &WebState) -> auth::verification::Channels<'_> {
    auth::verification::Channels {
        mailer: &state.mailer,
        sms: &state.sms,
        site_name: &state.tenant.name,
    }
}

/// A refused code delivery as a sentence for the person.
pub(crate) fn send_error_sentence(e: &SendError) -> String {
    match e {
        SendError::Cooldown { retry_after } => format!(
            "A code was sent moments ago. You can ask for a new one in {retry_after} seconds."
        ),
        SendError::RateLimited => "Too many codes were asked for. Try again in an hour.".into(),
        SendError::Undelivered => {
            "We could not send the code just now. Try again in a moment with “Send a new code”."
                .into()
        }
        SendError::Internal(e) => {
            tracing::error!(error = %e, "issuing a code failed");
            "The server could not create a code. Try again in a moment.".into()
        }
    }
}

/// Sends a verification code to `email`. An error is a sentence for the person.
pub async fn send_email_code(
    state: &WebState,
    user_id: Uuid,
    email: &str,
    ip: Option<String>,
) -> Result<(), String> {
    let send = SendCode {
        purpose: Purpose::VerifyEmail,
        target: email,
        user_id: Some(user_id),
        actor: Actor::User(user_id),
        ip: ip.as_deref(),
    };
    auth::verification::send_code(
        &state.db,
        state.clock.as_ref(),
        &state.code_policy,
        channels(state),
        send,
    )
    .await
    .map_err(|e| send_error_sentence(&e))
}

/// A refused code as (status, sentence) for the code pages.
pub(crate) fn confirm_error(
    state: &WebState,
    e: ConfirmError,
) -> Result<(StatusCode, String), PageError> {
    Ok(match e {
        ConfirmError::Locked(lock) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many wrong codes. Try again in {}.",
                crate::render::minutes(lock.retry_after(state.clock.now()))
            ),
        ),
        ConfirmError::Code(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        ConfirmError::AlreadyUsed => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "This code was already used. Ask for a new one.".into(),
        ),
        ConfirmError::Internal(e) => return Err(e.into()),
    })
}

#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyPage {
    csrf_token: String,
    return_to: String,
    email: String,
    code: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct VerifyQuery {
    return_to: Option<String>,
    send_failed: Option<String>,
}

/// What the code page shows.
#[derive(Debug, Clone, Default)]
struct View {
    email: String,
    return_to: Option<String>,
    code: String,
    error: Option<String>,
    notice: Option<String>,
}

fn render(state: &WebState, req: &HttpRequest, status: StatusCode, view: View) -> HttpResponse {
    let csrf = Csrf::for_request(state, req);
    let tpl = VerifyPage {
        csrf_token: csrf.form_token(),
        return_to: view.return_to.unwrap_or_default(),
        email: view.email,
        code: view.code,
        error: view.error,
        notice: view.notice,
    };
    page(status, &tpl, Some(&csrf), state)
}

/// `GET /verify-email`.
pub async fn verify_form(
    state: WebState,
    req: HttpRequest,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, PageError> {
    let return_to = crate::pages::sign_in::safe_return_to(query.return_to.as_deref());
    let Some(session) = current_session(&state, &req).await? else {
        return Ok(see_other("/login?return_to=%2Fverify-email"));
    };
    let Some(email) = pending_email(&state, session.user_id).await? else {
        return Ok(see_other(return_to.as_deref().unwrap_or("/")));
    };
    let error = query.send_failed.as_ref().map(|_| {
        "We could not send the email just now. Try again in a moment with “Send a new code”."
            .to_owned()
    });
    let view = View {
        email,
        return_to,
        error,
        ..View::default()
    };
    Ok(render(&state, &req, StatusCode::OK, view))
}

#[derive(Debug, Default, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    return_to: String,
}

/// `POST /verify-email`: checks the code.
pub async fn verify(
    state: WebState,
    req: HttpRequest,
    form: CsrfForm<CodeForm>,
) -> Result<HttpResponse, PageError> {
    let return_to = crate::pages::sign_in::safe_return_to(Some(&form.return_to));
    let Some(session) = current_session(&state, &req).await? else {
        return Ok(see_other("/login?return_to=%2Fverify-email"));
    };
    let Some(email) = pending_email(&state, session.user_id).await? else {
        return Ok(see_other(return_to.as_deref().unwrap_or("/")));
    };
    let ip = client_ip(&req);
    let typed: String = form.code.chars().take(32).collect();
    match auth::verification::verify_email(
        &state.db,
        state.clock.as_ref(),
        &state.code_policy,
        &state.brute_force,
        session.user_id,
        &email,
        &typed,
        ip.as_deref(),
    )
    .await
    {
        Ok(()) => Ok(see_other(return_to.as_deref().unwrap_or("/"))),
        Err(e) => {
            let (status, message) = confirm_error(&state, e)?;
            let view = View {
                email,
                return_to,
                code: typed,
                error: Some(message),
                notice: None,
            };
            Ok(render(&state, &req, status, view))
        }
    }
}

/// `POST /verify-email/resend`.
pub async fn resend(
    state: WebState,
    req: HttpRequest,
    form: CsrfForm<CodeForm>,
) -> Result<HttpResponse, PageError> {
    let return_to = crate::pages::sign_in::safe_return_to(Some(&form.return_to));
    let Some(session) = current_session(&state, &req).await? else {
        return Ok(see_other("/login?return_to=%2Fverify-email"));
    };
    let Some(email) = pending_email(&state, session.user_id).await? else {
        return Ok(see_other(return_to.as_deref().unwrap_or("/")));
    };
    Ok(
        match send_email_code(&state, session.user_id, &email, client_ip(&req)).await {
            Ok(()) => render(
                &state,
                &req,
                StatusCode::OK,
                View {
                    email,
                    return_to,
                    notice: Some("We sent a new code.".into()),
                    ..View::default()
                },
            ),
            Err(message) => render(
                &state,
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                View {
                    email,
                    return_to,
                    error: Some(message),
                    ..View::default()
                },
            ),
        },
    )
}
