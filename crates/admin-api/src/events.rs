//! `GET /events`: the audit log, newest first, filterable by user and type, with a cursor.

use crate::{AdminState, authenticate, paging};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use http_kit::Problem;
use http_kit::json_no_store;
use profile::Uuid;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct EventQuery {
    user: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    summary = "The audit log, newest first",
    params(
        ("user" = Option<String>, Query, description = "Only events about this user id"),
        ("type" = Option<String>, Query, description = "Only events of this type, e.g. `login.succeeded`"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of events", body = crate::model::EventPage),
        crate::model::errors::E401, crate::model::errors::E400,
    ),
    security(("admin_key" = []))
)]
pub async fn list(
    state: AdminState,
    req: HttpRequest,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let limit = paging::limit(query.limit.as_deref())?;
    let user = match query.user.as_deref() {
        None | Some("") => None,
        Some(u) => {
            Some(Uuid::parse_str(u).map_err(|_| paging::bad("/user", "user must be a user id"))?)
        }
    };
    let before = paging::cursor(query.cursor.as_deref())?;
    let kind = query
        .kind
        .as_deref()
        .filter(|k| !k.is_empty() && k.len() <= 64);
    let events = auth::audit::list(&state.db, user, kind, before, limit + 1)
        .await
        .map_err(Problem::internal)?;
    let body = paging::page(
        events,
        limit,
        |e| e.id,
        |e| crate::model::to_json(&crate::model::Event::from(e)),
    );
    Ok(json_no_store(StatusCode::OK, &body))
}
