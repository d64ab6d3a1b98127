//! `GET /events`: the audit log, newest first, filterable by user and type, with a cursor.

use crate::{AdminState, authenticate, paging};
use ::web::problem::Problem;
use ::web::render::json_no_store;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use store::Uuid;

#[derive(Debug, Deserialize)]
pub struct EventQuery {
    user: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list(
    state: web::Data<AdminState>,
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
    let events = store::audit::list(&state.db, user, kind, before, limit + 1)
        .await
        .map_err(Problem::internal)?;
    let body = paging::page(
        events,
        limit,
        |e| e.id,
        |e| {
            json!({
                "id": e.id,
                "occurred_at": e.occurred_at.to_rfc3339(),
                "type": e.kind,
                "actor": { "type": e.actor_type, "id": e.actor_id },
                "user_id": e.user_id,
                "ip": e.ip,
                "detail": e.detail,
            })
        },
    );
    Ok(json_no_store(StatusCode::OK, &body))
}
