//! Proving an email address with a code: after sign-up (when `verification.email.required`), and
//! before an authorization request continues for a user who has not done it yet.

use crate::WebState;
use crate::csrf::{self, Csrf};
use crate::render::{PageError, page, see_other};
use crate::session_cookie::{client_ip, current_session};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth::brute_force::{self, AttemptError};
use auth::codes::{self, CheckError, IssueError, Purpose};
use serde::Deserialize;
use store::Uuid;
use store::accounts::IdentityKind;
use store::audit::{Actor, NewEvent};

/// The address still to verify: the user's first email identity, when none is verified.
pub async fn pending_email(state: &WebState, user_id: Uuid) -> Result<Option<String>, PageError> {
    Ok(auth::verification::pending_email(&state.db, user_id).await?)
}

/// Issues a code for `email` and sends it. An error is a sentence for the person.
pub async fn send_email_code(
    state: &WebState,
    user_id: Uuid,
    email: &str,
    ip: Option<String>,
) -> Result<(), String> {
    let issued = match codes::issue(
        &state.db,
        state.clock.as_ref(),
        &state.code_policy,
        Purpose::VerifyEmail,
        email,
        Some(user_id),
        ip.as_deref(),
    )
    .await
    {
        Ok(i) => i,
        Err(IssueError::Cooldown { retry_after }) => {
            return Err(format!(
                "A code was sent moments ago. You can ask for a new one in {retry_after} seconds."
            ));
        }
        Err(IssueError::RateLimited) => {
            return Err("Too many codes were asked for. Try again in an hour.".into());
        }
        Err(IssueError::Internal(e)) => {
            tracing::error!(error = %e, "issuing a code failed");
            return Err("The server could not create a code. Try again in a moment.".into());
        }
    };
    let minutes = state.code_policy.ttl.num_minutes().max(1);
    let sent = match auth::delivery::code_email(email, Purpose::VerifyEmail, &issued.code, minutes)
    {
        Ok(message) => state.mailer.send(&message).await,
        Err(e) => Err(e),
    };
    let (kind, result) = match &sent {
        Ok(()) => ("code.sent", "sent"),
        Err(_) => ("code.send_failed", "failed"),
    };
    let event = NewEvent::new(kind, Actor::User(user_id))
        .user(user_id)
        .ip(ip)
        .detail(
            serde_json::json!({ "purpose": "verify_email", "channel": "email", "result": result }),
        );
    if let Err(e) = store::audit::record(&state.db, event, state.clock.now()).await {
        tracing::warn!(error = %e, "could not record a code event");
    }
    sent.map_err(|e| {
        tracing::error!(error = %e, "sending a verification email failed");
        "We could not send the email just now. Try again in a moment with “Send a new code”.".into()
    })
}

/// Counts a wrong code against the address and the client, and records a lock it causes.
pub async fn record_code_failure(
    state: &WebState,
    subject: &str,
    ip: Option<&str>,
    user_id: Option<Uuid>,
) -> Result<(), PageError> {
    let lock = brute_force::record_failure(
        &state.db,
        state.clock.as_ref(),
        &state.brute_force,
        subject,
        ip,
    )
    .await?;
    if let Some(lock) = lock {
        let actor = user_id.map_or(Actor::Anonymous, Actor::User);
        let mut event = NewEvent::new("code.locked", actor)
            .ip(ip.map(str::to_owned))
            .detail(serde_json::json!({ "until": lock.until.to_rfc3339() }));
        if let Some(id) = user_id {
            event = event.user(id);
        }
        store::audit::record(&state.db, event, state.clock.now()).await?;
    }
    Ok(())
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
    page(status, &tpl, Some(&csrf), state.secure_cookies)
}

/// `GET /verify-email`.
pub async fn verify_form(
    state: web::Data<WebState>,
    req: HttpRequest,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, PageError> {
    let return_to = crate::pages::safe_return_to(query.return_to.as_deref());
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
    csrf_token: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    return_to: String,
}

/// `POST /verify-email`: checks the code.
pub async fn verify(
    state: web::Data<WebState>,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    if !csrf::verify(&state, &req, &form.csrf_token) {
        return Err(PageError::Csrf);
    }
    let return_to = crate::pages::safe_return_to(Some(&form.return_to));
    let Some(session) = current_session(&state, &req).await? else {
        return Ok(see_other("/login?return_to=%2Fverify-email"));
    };
    let Some(email) = pending_email(&state, session.user_id).await? else {
        return Ok(see_other(return_to.as_deref().unwrap_or("/")));
    };
    let ip = client_ip(&req);
    let typed: String = form.code.chars().take(32).collect();
    let subject = format!("code:email:{email}");
    let failure = |message: String| {
        let view = View {
            email: email.clone(),
            return_to: return_to.clone(),
            code: typed.clone(),
            error: Some(message),
            notice: None,
        };
        render(&state, &req, StatusCode::UNPROCESSABLE_ENTITY, view)
    };
    match brute_force::check(&state.db, state.clock.as_ref(), &subject, ip.as_deref()).await {
        Ok(()) => {}
        Err(AttemptError::Locked(lock)) => {
            let minutes = (lock.retry_after(state.clock.now()) + 59) / 60;
            let mut resp = failure(format!(
                "Too many wrong codes. Try again in {minutes} minutes."
            ));
            *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            return Ok(resp);
        }
        Err(AttemptError::Internal(e)) => return Err(e.into()),
    }
    match codes::check(
        &state.db,
        state.clock.as_ref(),
        &state.code_policy,
        Purpose::VerifyEmail,
        &email,
        &typed,
    )
    .await
    {
        Ok(_) => {
            let event = NewEvent::new("code.verified", Actor::User(session.user_id))
                .user(session.user_id)
                .ip(ip)
                .detail(serde_json::json!({ "purpose": "verify_email", "channel": "email" }));
            store::accounts::mark_identity_verified(
                &state.db,
                session.user_id,
                IdentityKind::Email,
                &email,
                state.clock.now(),
                event,
            )
            .await?;
            brute_force::record_success(&state.db, &subject).await?;
            Ok(see_other(return_to.as_deref().unwrap_or("/")))
        }
        Err(CheckError::Internal(e)) => Err(e.into()),
        Err(e) => {
            if !matches!(e, CheckError::Malformed) {
                record_code_failure(&state, &subject, ip.as_deref(), Some(session.user_id)).await?;
            }
            let event = NewEvent::new("code.failed", Actor::User(session.user_id))
                .user(session.user_id)
                .ip(ip)
                .detail(serde_json::json!({ "purpose": "verify_email", "reason": e.to_string() }));
            store::audit::record(&state.db, event, state.clock.now()).await?;
            Ok(failure(e.to_string()))
        }
    }
}

/// `POST /verify-email/resend`.
pub async fn resend(
    state: web::Data<WebState>,
    req: HttpRequest,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    if !csrf::verify(&state, &req, &form.csrf_token) {
        return Err(PageError::Csrf);
    }
    let return_to = crate::pages::safe_return_to(Some(&form.return_to));
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
