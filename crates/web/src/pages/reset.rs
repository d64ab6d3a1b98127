//! Password reset (`/reset-password`): ask for a code by email, then enter it with a new password.
//! The answer is the same whether or not an account has the address, and the email goes out in
//! the background so that the time taken does not tell either. A reset ends every other session.

use crate::WebState;
use crate::csrf::{Csrf, CsrfForm};
use crate::render::{PageError, page, see_other};
use crate::session_cookie::{client_ip, current_session};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth::codes::Purpose;
use auth::passwords::SetPasswordError;
use auth::verification::{ConfirmError, SendCode};
use profile::Actor;
use profile::IdentityKind;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "reset_password.html")]
struct RequestPage {
    csrf_token: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "reset_password_code.html")]
struct CodePage {
    csrf_token: String,
    email: String,
    code: String,
    error: Option<String>,
    code_error: Option<String>,
    password_error: Option<String>,
    min_length: usize,
    max_length: usize,
}

/// `GET /reset-password`.
pub async fn request_form(state: WebState, req: HttpRequest) -> HttpResponse {
    let csrf = Csrf::for_request(&state, &req);
    let tpl = RequestPage {
        csrf_token: csrf.form_token(),
        email: String::new(),
        error: None,
    };
    page(StatusCode::OK, &tpl, Some(&csrf), &state)
}

#[derive(Debug, Default, Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    email: String,
}

fn code_page(
    state: &WebState,
    req: &HttpRequest,
    status: StatusCode,
    email: &str,
    fill: impl FnOnce(&mut CodePage),
) -> HttpResponse {
    let csrf = Csrf::for_request(state, req);
    let mut tpl = CodePage {
        csrf_token: csrf.form_token(),
        email: email.to_owned(),
        code: String::new(),
        error: None,
        code_error: None,
        password_error: None,
        min_length: state.password_policy.min_length,
        max_length: state.password_policy.max_length,
    };
    fill(&mut tpl);
    page(status, &tpl, Some(&csrf), state)
}

/// `POST /reset-password`: sends a code if an account has the address; answers the same either way.
pub async fn request(
    state: WebState,
    req: HttpRequest,
    form: CsrfForm<RequestForm>,
) -> Result<HttpResponse, PageError> {
    let Ok(email) = auth::login_id::normalise_email(&form.email) else {
        let csrf = Csrf::for_request(&state, &req);
        let tpl = RequestPage {
            csrf_token: csrf.form_token(),
            email: form.email.chars().take(320).collect(),
            error: Some("Enter an email address such as name@example.com.".into()),
        };
        return Ok(page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &tpl,
            Some(&csrf),
            &state,
        ));
    };
    let ip = client_ip(&req);
    if let Some(user_id) = auth::users::owner_of(&state.db, IdentityKind::Email, &email).await? {
        let state = state.clone();
        let target = email.clone();
        // In the background: the answer must not take longer when an account exists.
        actix_web::rt::spawn(async move {
            send_reset_code(&state, user_id, &target, ip).await;
        });
    }
    Ok(code_page(&state, &req, StatusCode::OK, &email, |_| {}))
}

async fn send_reset_code(
    state: &WebState,
    user_id: profile::Uuid,
    email: &str,
    ip: Option<String>,
) {
    let send = SendCode {
        purpose: Purpose::ResetPassword,
        target: email,
        user_id: Some(user_id),
        actor: Actor::Anonymous,
        ip: ip.as_deref(),
    };
    if let Err(e) = auth::verification::send_code(
        &state.db,
        state.clock.as_ref(),
        &state.code_policy,
        crate::pages::verification::channels(state),
        send,
    )
    .await
    {
        tracing::info!(error = %e, "no password reset code sent");
    }
}

#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    email: Option<String>,
}

/// `GET /reset-password/code?email=…`.
pub async fn code_form(
    state: WebState,
    req: HttpRequest,
    query: web::Query<CodeQuery>,
) -> HttpResponse {
    let email: String = query
        .email
        .clone()
        .unwrap_or_default()
        .chars()
        .take(320)
        .collect();
    code_page(&state, &req, StatusCode::OK, &email, |_| {})
}

#[derive(Debug, Default, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

/// `POST /reset-password/code`: the code and the new password.
pub async fn reset(
    state: WebState,
    req: HttpRequest,
    form: CsrfForm<CodeForm>,
) -> Result<HttpResponse, PageError> {
    let email = auth::login_id::normalise_email(&form.email).unwrap_or_default();
    let typed: String = form.code.chars().take(32).collect();
    let ip = client_ip(&req);
    // A browser signed in as this user keeps its session; every other one ends.
    let current = current_session(&state, &req).await?;
    let reset = auth::passwords::reset_with_code(
        &state.db,
        state.clock.as_ref(),
        &state.hasher,
        &state.password_policy,
        &state.code_policy,
        &state.brute_force,
        &email,
        &typed,
        form.password.clone(),
        current.as_ref(),
        ip.as_deref(),
    )
    .await;
    match reset {
        Ok(_) => {}
        Err(SetPasswordError::Policy(e)) => {
            return Ok(code_page(
                &state,
                &req,
                StatusCode::UNPROCESSABLE_ENTITY,
                &email,
                |p| {
                    p.code = typed.clone();
                    p.password_error = Some(e.to_string());
                },
            ));
        }
        Err(SetPasswordError::Code(e)) => {
            let locked = matches!(e, ConfirmError::Locked(_));
            let (status, message) = crate::pages::verification::confirm_error(&state, e)?;
            return Ok(code_page(&state, &req, status, &email, |p| {
                if locked {
                    p.error = Some(message);
                } else {
                    p.code = typed.clone();
                    p.code_error = Some(message);
                }
            }));
        }
        Err(e) => return Err(PageError::Internal(e.to_string())),
    }
    Ok(see_other("/login?password_reset=1"))
}
