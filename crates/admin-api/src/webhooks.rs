//! Webhook routes (SPEC §13): `GET|POST /webhooks`, `GET|PATCH|DELETE /webhooks/{id}`,
//! `GET /webhooks/{id}/deliveries`. Each calls one `auth::webhooks` use case, audited as the key.

use crate::body::{invalid, nullable_text, object_of, strings};
use crate::{AdminState, authenticate, paging};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth::webhooks::{WebhookChange, WebhookError, WebhookInput};
use http_kit::{Problem, json_no_store, parse_json_body};
use profile::{Actor, Uuid};
use serde_json::{Map, Value};

const FIELDS: [&str; 4] = ["url", "events", "exclude_actor", "secret"];

fn webhook_json(w: &auth::webhooks::Webhook, secret: Option<String>) -> Value {
    crate::model::to_json(&crate::model::Webhook::of(w, secret))
}

fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such webhook")
}

fn webhook_id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| not_found())
}

fn webhook_problem(e: WebhookError) -> Problem {
    let message = e.to_string();
    match e {
        WebhookError::InvalidUrl => invalid("/url", message),
        WebhookError::InvalidEvents => invalid("/events", message),
        WebhookError::InvalidSecret => invalid("/secret", message),
        WebhookError::InvalidActor => invalid("/exclude_actor", message),
        WebhookError::NotFound => not_found(),
        WebhookError::Internal(e) => Problem::internal(e),
    }
}

/// `exclude_actor`: absent → `None`, `null` → `Some(None)`, an id → `Some(Some(id))`.
fn actor_field(o: &Map<String, Value>) -> Result<Option<Option<Uuid>>, Problem> {
    match nullable_text(o, "exclude_actor")? {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) => Uuid::parse_str(s)
            .map(|id| Some(Some(id)))
            .map_err(|_| webhook_problem(WebhookError::InvalidActor)),
    }
}

/// `GET /webhooks?limit=&cursor=`.
#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    summary = "List webhooks",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of webhooks", body = crate::model::WebhookPage),
        crate::model::errors::E401, crate::model::errors::E400,
    ),
    security(("admin_key" = []))
)]
pub async fn list(
    state: AdminState,
    req: HttpRequest,
    page: web::Query<paging::Page>,
) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let limit = paging::limit(page.limit.as_deref())?;
    let after = paging::cursor(page.cursor.as_deref())?;
    let items = auth::webhooks::list(&state.db, after, limit + 1)
        .await
        .map_err(Problem::internal)?;
    Ok(json_no_store(
        StatusCode::OK,
        &paging::page(items, limit, |w| w.id, |w| webhook_json(w, None)),
    ))
}

/// `POST /webhooks` with `{"url", "events", "exclude_actor"?, "secret"?}`.
#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    summary = "Create a webhook (a generated secret is shown once)",
    request_body(content = crate::model::NewWebhook, content_type = "application/json"),
    responses(
        (status = 201, description = "The webhook, with its secret", body = crate::model::Webhook),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn create(
    state: AdminState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let body = parse_json_body(&req, &body)?;
    let o = object_of(&body, &FIELDS)?;
    let Some(Some(url)) = nullable_text(o, "url")? else {
        return Err(invalid("/url", "a url is required"));
    };
    if o.get("events").is_none() {
        return Err(invalid("/events", "events are required (\"*\" for all)"));
    }
    let input = WebhookInput {
        url: url.to_owned(),
        events: strings(o, "events")?,
        exclude_actor: actor_field(o)?.flatten(),
        secret: nullable_text(o, "secret")?.flatten().map(str::to_owned),
    };
    let created = auth::webhooks::create(
        &state.db,
        &state.webhook_secrets,
        state.clock.as_ref(),
        input,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(webhook_problem)?;
    Ok(json_no_store(
        StatusCode::CREATED,
        &webhook_json(&created.webhook, Some(created.secret)),
    ))
}

/// `GET /webhooks/{id}`.
#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    tag = "webhooks",
    summary = "Get a webhook",
    params(("id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook", body = crate::model::Webhook),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn get(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let id = webhook_id(&path.into_inner())?;
    let w = auth::webhooks::find(&state.db, id)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    Ok(json_no_store(StatusCode::OK, &webhook_json(&w, None)))
}

/// `PATCH /webhooks/{id}`.
#[utoipa::path(
    patch,
    path = "/webhooks/{id}",
    tag = "webhooks",
    summary = "Change a webhook (`\"secret\": null` makes a new secret, shown once)",
    params(("id" = String, Path, description = "The webhook's id")),
    request_body(content = crate::model::NewWebhook, content_type = "application/json"),
    responses(
        (status = 200, description = "The webhook", body = crate::model::Webhook),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn patch(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let id = webhook_id(&path.into_inner())?;
    let body = parse_json_body(&req, &body)?;
    let o = object_of(&body, &FIELDS)?;
    let url = match nullable_text(o, "url")? {
        Some(None) => return Err(invalid("/url", "a webhook needs a url")),
        other => other.flatten().map(str::to_owned),
    };
    let events = match o.get("events") {
        None => None,
        Some(_) => Some(strings(o, "events")?),
    };
    let change = WebhookChange {
        url,
        events,
        exclude_actor: actor_field(o)?,
        secret: nullable_text(o, "secret")?.map(|s| s.map(str::to_owned)),
    };
    let (w, secret) = auth::webhooks::update(
        &state.db,
        &state.webhook_secrets,
        state.clock.as_ref(),
        id,
        change,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(webhook_problem)?;
    Ok(json_no_store(StatusCode::OK, &webhook_json(&w, secret)))
}

/// `DELETE /webhooks/{id}`.
#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "webhooks",
    summary = "Delete a webhook and its delivery log",
    params(("id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 204, description = "Deleted"),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn delete(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let id = webhook_id(&path.into_inner())?;
    let found = auth::webhooks::delete(&state.db, state.clock.as_ref(), id, Actor::AdminKey(key.0))
        .await
        .map_err(Problem::internal)?;
    if !found {
        return Err(not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /webhooks/{id}/deliveries?limit=&cursor=`: newest first, each with its attempts.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "webhooks",
    summary = "List a webhook's deliveries and their attempts, newest first",
    params(
        ("id" = String, Path, description = "The webhook's id"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of deliveries", body = crate::model::DeliveryPage),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn deliveries(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    page: web::Query<paging::Page>,
) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let id = webhook_id(&path.into_inner())?;
    let limit = paging::limit(page.limit.as_deref())?;
    let before = paging::cursor(page.cursor.as_deref())?;
    if auth::webhooks::find(&state.db, id)
        .await
        .map_err(Problem::internal)?
        .is_none()
    {
        return Err(not_found());
    }
    let items = auth::webhooks::deliveries(&state.db, id, before, limit + 1)
        .await
        .map_err(Problem::internal)?;
    Ok(json_no_store(
        StatusCode::OK,
        &paging::page(
            items,
            limit,
            |d| d.id,
            |d| crate::model::to_json(&crate::model::Delivery::from(d)),
        ),
    ))
}
