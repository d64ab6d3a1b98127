//! Adding a login ID (email or phone) after proving it with a code, and removing one (never the
//! last). The settings page links here.

use crate::WebState;
use crate::csrf::{Csrf, CsrfForm};
use crate::render::{PageError, page, see_other};
use crate::session_cookie::client_ip;
use crate::signed_in::SignedIn;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth::login_ids::{AddError, Kind, StartError};
use auth::users::RemoveIdentity;
use auth::verification::SendError;
use profile::Uuid;
use serde::Deserialize;

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
    page(status, &tpl, Some(&csrf), state)
}

#[derive(Debug, Deserialize)]
pub struct KindQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `GET /identities/add?type=email|phone`.
pub async fn add_form(
    state: WebState,
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
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    code: String,
}

/// `POST /identities/add`: sends a code to the new address or number.
pub async fn add(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    form: CsrfForm<AddForm>,
) -> Result<HttpResponse, PageError> {
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
    let ip = client_ip(&req);
    let started = auth::login_ids::start_adding(
        &state.db,
        state.clock.as_ref(),
        &state.code_policy,
        crate::pages::verification::channels(&state),
        session.user_id,
        kind,
        &value,
        ip.as_deref(),
        state.login_ids,
    )
    .await;
    let refused = |status: StatusCode, message: String| {
        Ok(add_page(
            &req,
            &state,
            status,
            kind,
            &value,
            Some(message),
            false,
        ))
    };
    match started {
        Ok(()) => Ok(add_page(
            &req,
            &state,
            StatusCode::OK,
            kind,
            &value,
            None,
            true,
        )),
        Err(StartError::Taken { mine }) => refused(
            StatusCode::CONFLICT,
            if mine {
                "This is already one of your login IDs.".into()
            } else {
                "This is already in use by another account.".into()
            },
        ),
        Err(StartError::NotEnabled) => refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Phone numbers cannot be added here.".into(),
        ),
        Err(StartError::Send(SendError::Internal(e))) => Err(e.into()),
        Err(StartError::Send(SendError::Undelivered)) => refused(
            StatusCode::BAD_GATEWAY,
            "We could not send the code just now. Try again in a minute.".into(),
        ),
        Err(StartError::Send(e)) => refused(
            StatusCode::TOO_MANY_REQUESTS,
            crate::pages::verification::send_error_sentence(&e),
        ),
    }
}

/// `POST /identities/confirm`: the code proves the address; it becomes a verified login ID.
pub async fn confirm(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    form: CsrfForm<AddForm>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let Some(kind) = Kind::parse(&form.kind) else {
        return Ok(see_other("/settings"));
    };
    let Ok(value) = kind.normalise(&form.value) else {
        return Ok(see_other("/settings"));
    };
    let ip = client_ip(&req);
    let added = auth::login_ids::confirm(
        &state.db,
        state.clock.as_ref(),
        &state.code_policy,
        &state.brute_force,
        session.user_id,
        kind,
        &value,
        &form.code,
        ip.as_deref(),
    )
    .await;
    let refused = |status: StatusCode, message: String, step_code: bool| {
        Ok(add_page(
            &req,
            &state,
            status,
            kind,
            &value,
            Some(message),
            step_code,
        ))
    };
    match added {
        Ok(_) => Ok(see_other("/settings?saved=identity_added#login-ids")),
        Err(AddError::Taken) => refused(
            StatusCode::CONFLICT,
            "This is already in use by another account.".into(),
            false,
        ),
        Err(AddError::Confirm(e)) => {
            let (status, message) = crate::pages::verification::confirm_error(&state, e)?;
            refused(status, message, true)
        }
    }
}

/// `POST /identities/{id}/remove`: never the last one.
pub async fn remove(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    path: web::Path<String>,
    _form: CsrfForm<crate::csrf::NoFields>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let Ok(id) = Uuid::parse_str(&path.into_inner()) else {
        return Ok(see_other("/settings?error=identity_not_found#login-ids"));
    };
    Ok(
        match auth::login_ids::remove(
            &state.db,
            state.clock.as_ref(),
            session.user_id,
            id,
            client_ip(&req).as_deref(),
        )
        .await?
        {
            RemoveIdentity::Removed => see_other("/settings?saved=identity_removed#login-ids"),
            RemoveIdentity::Last => see_other("/settings?error=last_identity#login-ids"),
            RemoveIdentity::NotFound => see_other("/settings?error=identity_not_found#login-ids"),
        },
    )
}
