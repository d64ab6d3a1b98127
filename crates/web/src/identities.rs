//! Adding a login ID (email or phone) after proving it with a code, and removing one (never the
//! last). The settings page links here.

use crate::WebState;
use crate::csrf::{self, Csrf};
use crate::render::{PageError, page, see_other};
use crate::session_cookie::client_ip;
use crate::signed_in::SignedIn;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth::brute_force::{self, AttemptError};
use auth::codes::{self, IssueError, Purpose};
use serde::Deserialize;
use store::accounts::{IdentityKind, NewIdentity, RemoveIdentity};
use store::audit::{Actor, NewEvent};
use store::{StoreError, Uuid};

#[derive(Template)]
#[template(path = "add_identity.html")]
struct AddPage {
    csrf_token: String,
    kind: &'static str,
    noun: &'static str,
    label: &'static str,
    input_type: &'static str,
    autocomplete: &'static str,
    value: String,
    error: Option<String>,
    step_code: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Phone,
}

impl Kind {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Kind::Email),
            "phone" => Some(Kind::Phone),
            _ => None,
        }
    }

    fn identity(self) -> IdentityKind {
        match self {
            Kind::Email => IdentityKind::Email,
            Kind::Phone => IdentityKind::Phone,
        }
    }

    fn purpose(self) -> Purpose {
        match self {
            Kind::Email => Purpose::VerifyEmail,
            Kind::Phone => Purpose::VerifyPhone,
        }
    }

    /// The stored form of what was typed.
    fn normalise(self, input: &str) -> Result<String, String> {
        match self {
            Kind::Email => auth::login_id::normalise_email(input).map_err(|e| e.to_string()),
            Kind::Phone => profile::validate::phone_number(&serde_json::json!(input))
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .map_err(|m| format!("The phone number {m}.")),
        }
    }
}

fn add_page(
    req: &HttpRequest,
    state: &WebState,
    status: StatusCode,
    kind: Kind,
    value: &str,
    error: Option<String>,
    step_code: bool,
) -> HttpResponse {
    let csrf = Csrf::for_request(state, req);
    let (kind_str, noun, label, input_type, autocomplete) = match kind {
        Kind::Email => (
            "email",
            "an email address",
            "Email address",
            "email",
            "email",
        ),
        Kind::Phone => (
            "phone",
            "a phone number",
            "Phone number (international format, e.g. +33 6 12 34 56 78)",
            "tel",
            "tel",
        ),
    };
    let tpl = AddPage {
        csrf_token: csrf.form_token(),
        kind: kind_str,
        noun,
        label,
        input_type,
        autocomplete,
        value: value.chars().take(320).collect(),
        error,
        step_code,
    };
    page(status, &tpl, Some(&csrf), state.secure_cookies)
}

#[derive(Debug, Deserialize)]
pub struct KindQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `GET /identities/add?type=email|phone`.
pub async fn add_form(
    state: web::Data<WebState>,
    req: HttpRequest,
    _signed_in: SignedIn,
    query: web::Query<KindQuery>,
) -> Result<HttpResponse, PageError> {
    let kind = query
        .kind
        .as_deref()
        .and_then(Kind::parse)
        .unwrap_or(Kind::Email);
    Ok(add_page(
        &req,
        &state,
        StatusCode::OK,
        kind,
        "",
        None,
        false,
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    code: String,
}

/// `POST /identities/add`: sends a code to the new address or number.
pub async fn add(
    state: web::Data<WebState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, PageError> {
    if !csrf::verify(&state, &req, &form.csrf_token) {
        return Err(PageError::Csrf);
    }
    let session = signed_in.0;
    let Some(kind) = Kind::parse(&form.kind) else {
        return Ok(add_page(
            &req,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            Kind::Email,
            &form.value,
            Some("Choose email or phone.".into()),
            false,
        ));
    };
    let value = match kind.normalise(&form.value) {
        Ok(v) => v,
        Err(message) => {
            return Ok(add_page(
                &req,
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                kind,
                &form.value,
                Some(message),
                false,
            ));
        }
    };
    if let Some(owner) =
        store::accounts::find_login_candidate(&state.db, kind.identity(), &value).await?
    {
        let message = if owner.user_id == session.user_id {
            "This is already one of your login IDs."
        } else {
            "This is already in use by another account."
        };
        return Ok(add_page(
            &req,
            &state,
            StatusCode::CONFLICT,
            kind,
            &form.value,
            Some(message.into()),
            false,
        ));
    }
    let ip = client_ip(&req);
    let issued = match codes::issue(
        &state.db,
        state.clock.as_ref(),
        &state.code_policy,
        kind.purpose(),
        &value,
        Some(session.user_id),
        ip.as_deref(),
    )
    .await
    {
        Ok(i) => i,
        Err(IssueError::Cooldown { retry_after }) => {
            return Ok(add_page(
                &req,
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                kind,
                &value,
                Some(format!(
                    "A code was sent moments ago. Ask again in {retry_after} seconds."
                )),
                false,
            ));
        }
        Err(IssueError::RateLimited) => {
            return Ok(add_page(
                &req,
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                kind,
                &value,
                Some("Too many codes were asked for. Try again in an hour.".into()),
                false,
            ));
        }
        Err(IssueError::Internal(e)) => return Err(e.into()),
    };
    let minutes = state.code_policy.ttl.num_minutes().max(1);
    let sent = match kind {
        Kind::Email => {
            match auth::delivery::code_email(&value, Purpose::VerifyEmail, &issued.code, minutes) {
                Ok(message) => state.mailer.send(&message).await,
                Err(e) => Err(e),
            }
        }
        Kind::Phone => {
            let body = format!(
                "Your Tessera code is {}. It expires in {minutes} minutes.",
                issued.code
            );
            state.sms.send(&value, &body).await
        }
    };
    let event = NewEvent::new(
        if sent.is_ok() {
            "code.sent"
        } else {
            "code.send_failed"
        },
        Actor::User(session.user_id),
    )
    .user(session.user_id)
    .ip(ip)
    .detail(serde_json::json!({ "purpose": kind.purpose().as_str(), "channel": form.kind }));
    store::audit::record(&state.db, event, state.clock.now()).await?;
    if let Err(e) = sent {
        tracing::error!(error = %e, "sending a code failed");
        return Ok(add_page(
            &req,
            &state,
            StatusCode::BAD_GATEWAY,
            kind,
            &value,
            Some("We could not send the code just now. Try again in a minute.".into()),
            false,
        ));
    }
    Ok(add_page(
        &req,
        &state,
        StatusCode::OK,
        kind,
        &value,
        None,
        true,
    ))
}

/// `POST /identities/confirm`: the code proves the address; it becomes a verified login ID.
pub async fn confirm(
    state: web::Data<WebState>,
    req: HttpRequest,
    signed_in: SignedIn,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, PageError> {
    if !csrf::verify(&state, &req, &form.csrf_token) {
        return Err(PageError::Csrf);
    }
    let session = signed_in.0;
    let Some(kind) = Kind::parse(&form.kind) else {
        return Ok(see_other("/settings"));
    };
    let Ok(value) = kind.normalise(&form.value) else {
        return Ok(see_other("/settings"));
    };
    let ip = client_ip(&req);
    let subject = format!("code:{}:{value}", form.kind);
    if let Err(e) =
        brute_force::check(&state.db, state.clock.as_ref(), &subject, ip.as_deref()).await
    {
        return match e {
            AttemptError::Locked(_) => Ok(add_page(
                &req,
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                kind,
                &value,
                Some("Too many wrong codes. Try again later.".into()),
                true,
            )),
            AttemptError::Internal(e) => Err(e.into()),
        };
    }
    match codes::check(
        &state.db,
        state.clock.as_ref(),
        &state.code_policy,
        kind.purpose(),
        &value,
        &form.code,
    )
    .await
    {
        Ok(Some(owner)) if owner == session.user_id => {}
        Ok(_) => {
            return Ok(add_page(
                &req,
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                kind,
                &value,
                Some("No code is waiting for this address. Ask for a new one.".into()),
                true,
            ));
        }
        Err(codes::CheckError::Internal(e)) => return Err(e.into()),
        Err(e) => {
            crate::verification::record_code_failure(
                &state,
                &subject,
                ip.as_deref(),
                Some(session.user_id),
            )
            .await?;
            let event = NewEvent::new("code.failed", Actor::User(session.user_id))
                .user(session.user_id)
                .ip(ip)
                .detail(serde_json::json!({ "purpose": kind.purpose().as_str(), "reason": e.to_string() }));
            store::audit::record(&state.db, event, state.clock.now()).await?;
            return Ok(add_page(
                &req,
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                kind,
                &value,
                Some(e.to_string()),
                true,
            ));
        }
    }
    let event = NewEvent::new("identity.added", Actor::User(session.user_id))
        .user(session.user_id)
        .ip(ip)
        .detail(serde_json::json!({ "type": kind.identity().as_str(), "verified": true }));
    match store::accounts::add_identity(
        &state.db,
        session.user_id,
        NewIdentity {
            kind: kind.identity(),
            value: value.clone(),
            verified: true,
        },
        state.clock.now(),
        event,
    )
    .await
    {
        Ok(_) => Ok(see_other("/settings?saved=identity_added#login-ids")),
        Err(StoreError::Conflict(_)) => Ok(add_page(
            &req,
            &state,
            StatusCode::CONFLICT,
            kind,
            &value,
            Some("This is already in use by another account.".into()),
            false,
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /identities/{id}/remove`: never the last one.
pub async fn remove(
    state: web::Data<WebState>,
    req: HttpRequest,
    signed_in: SignedIn,
    path: web::Path<String>,
    form: web::Form<RemoveForm>,
) -> Result<HttpResponse, PageError> {
    if !csrf::verify(&state, &req, &form.csrf_token) {
        return Err(PageError::Csrf);
    }
    let session = signed_in.0;
    let Ok(id) = Uuid::parse_str(&path.into_inner()) else {
        return Ok(see_other("/settings?error=identity_not_found#login-ids"));
    };
    let event = NewEvent::new("identity.removed", Actor::User(session.user_id))
        .user(session.user_id)
        .ip(client_ip(&req))
        .detail(serde_json::json!({ "identity_id": id }));
    Ok(
        match store::accounts::remove_identity(
            &state.db,
            session.user_id,
            id,
            state.clock.now(),
            event,
        )
        .await?
        {
            RemoveIdentity::Removed => see_other("/settings?saved=identity_removed#login-ids"),
            RemoveIdentity::Last => see_other("/settings?error=last_identity#login-ids"),
            RemoveIdentity::NotFound => see_other("/settings?error=identity_not_found#login-ids"),
        },
    )
}
