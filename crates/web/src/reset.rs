//! Password reset (`/reset-password`): ask for a code by email, then enter it with a new password.
//! The answer is the same whether or not an account has the address, and the email goes out in
//! the background so that the time taken does not tell either. A reset ends every other session.

use crate::WebState;
use crate::csrf::{self, Csrf};
use crate::render::{PageError, page, see_other};
use crate::session_cookie::{client_ip, current_session};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth::brute_force::{self, AttemptError};
use auth::codes::{self, CheckError, Purpose};
use serde::Deserialize;
use store::accounts::IdentityKind;
use store::audit::{Actor, NewEvent};

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
pub async fn request_form(state: web::Data<WebState>, req: HttpRequest) -> HttpResponse {
    let csrf = Csrf::for_request(&state, &req);
    let tpl = RequestPage {
        csrf_token: csrf.form_token(),
        email: String::new(),
        error: None,
    };
    page(StatusCode::OK, &tpl, Some(&csrf), state.secure_cookies)
}

#[derive(Debug, Default, Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    csrf_token: String,
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
    page(status, &tpl, Some(&csrf), state.secure_cookies)
}

/// `POST /reset-password`: sends a code if an account has the address; answers the same either way.
pub async fn request(
    state: web::Data<WebState>,
    req: HttpRequest,
    form: web::Form<RequestForm>,
) -> Result<HttpResponse, PageError> {
    if !csrf::verify(&state, &req, &form.csrf_token) {
        return Err(PageError::Csrf);
    }
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
            state.secure_cookies,
        ));
    };
    let ip = client_ip(&req);
    if let Some(account) =
        store::accounts::find_login_candidate(&state.db, IdentityKind::Email, &email).await?
    {
        let state = state.clone();
        let target = email.clone();
        // In the background: the answer must not take longer when an account exists.
        actix_web::rt::spawn(async move {
            send_reset_code(&state, account.user_id, &target, ip).await;
        });
    }
    Ok(code_page(&state, &req, StatusCode::OK, &email, |_| {}))
}

async fn send_reset_code(state: &WebState, user_id: store::Uuid, email: &str, ip: Option<String>) {
    let issued = match codes::issue(
        &state.db,
        state.clock.as_ref(),
        &state.code_policy,
        Purpose::ResetPassword,
        email,
        Some(user_id),
        ip.as_deref(),
    )
    .await
    {
        Ok(i) => i,
        Err(e) => {
            tracing::info!(error = %e, "no password reset code sent");
            return;
        }
    };
    let minutes = state.code_policy.ttl.num_minutes().max(1);
    let sent =
        match auth::delivery::code_email(email, Purpose::ResetPassword, &issued.code, minutes) {
            Ok(message) => state.mailer.send(&message).await,
            Err(e) => Err(e),
        };
    let kind = if sent.is_ok() {
        "code.sent"
    } else {
        "code.send_failed"
    };
    if let Err(e) = &sent {
        tracing::error!(error = %e, "sending a password reset email failed");
    }
    let event = NewEvent::new(kind, Actor::Anonymous)
        .user(user_id)
        .ip(ip)
        .detail(serde_json::json!({ "purpose": "reset_password", "channel": "email" }));
    if let Err(e) = store::audit::record(&state.db, event, state.clock.now()).await {
        tracing::warn!(error = %e, "could not record a code event");
    }
}

#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    email: Option<String>,
}

/// `GET /reset-password/code?email=…`.
pub async fn code_form(
    state: web::Data<WebState>,
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
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

/// `POST /reset-password/code`: the code and the new password.
pub async fn reset(
    state: web::Data<WebState>,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    if !csrf::verify(&state, &req, &form.csrf_token) {
        return Err(PageError::Csrf);
    }
    let email = auth::login_id::normalise_email(&form.email).unwrap_or_default();
    let typed: String = form.code.chars().take(32).collect();
    // The password is checked first: a code is not used up by a refused password.
    if let Err(e) = state.password_policy.check(&form.password) {
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
    let ip = client_ip(&req);
    let subject = format!("code:reset:{email}");
    match brute_force::check(&state.db, state.clock.as_ref(), &subject, ip.as_deref()).await {
        Ok(()) => {}
        Err(AttemptError::Locked(lock)) => {
            let minutes = (lock.retry_after(state.clock.now()) + 59) / 60;
            return Ok(code_page(
                &state,
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                &email,
                |p| {
                    p.error = Some(format!(
                        "Too many wrong codes. Try again in {minutes} minutes."
                    ));
                },
            ));
        }
        Err(AttemptError::Internal(e)) => return Err(e.into()),
    }
    let user_id = match codes::check(
        &state.db,
        state.clock.as_ref(),
        &state.code_policy,
        Purpose::ResetPassword,
        &email,
        &typed,
    )
    .await
    {
        Ok(Some(user_id)) => user_id,
        Ok(None) => {
            return Ok(code_page(
                &state,
                &req,
                StatusCode::UNPROCESSABLE_ENTITY,
                &email,
                |p| {
                    p.code_error = Some(CheckError::NoCode.to_string());
                },
            ));
        }
        Err(CheckError::Internal(e)) => return Err(e.into()),
        Err(e) => {
            if !matches!(e, CheckError::Malformed) {
                crate::verification::record_code_failure(&state, &subject, ip.as_deref(), None)
                    .await?;
            }
            let event = NewEvent::new("code.failed", Actor::Anonymous)
                .ip(ip)
                .detail(
                    serde_json::json!({ "purpose": "reset_password", "reason": e.to_string() }),
                );
            store::audit::record(&state.db, event, state.clock.now()).await?;
            return Ok(code_page(
                &state,
                &req,
                StatusCode::UNPROCESSABLE_ENTITY,
                &email,
                |p| {
                    p.code = typed.clone();
                    p.code_error = Some(e.to_string());
                },
            ));
        }
    };
    let hash = state
        .hasher
        .hash_blocking(form.password.clone())
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    // A browser signed in as this user keeps its session; every other one ends.
    let keep = current_session(&state, &req)
        .await?
        .filter(|s| s.user_id == user_id)
        .map(|s| s.id);
    let event = NewEvent::new("password.reset", Actor::User(user_id))
        .user(user_id)
        .ip(ip)
        .detail(serde_json::json!({ "via": "email_code" }));
    // The code went to this address: that proves the address, so it is verified now (an account
    // someone else pre-registered with it becomes the prover's, with every other session ended).
    store::accounts::reset_password(
        &state.db,
        user_id,
        &hash,
        keep,
        Some(&email),
        state.clock.now(),
        event,
    )
    .await?;
    brute_force::record_success(&state.db, &subject).await?;
    brute_force::record_success(&state.db, &format!("email:{email}")).await?;
    Ok(see_other("/login?password_reset=1"))
}
