//! `GET /events`: the audit log, newest first, filterable by user and type, with a cursor.

use crate::{AdminState, authenticate};
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

fn bad(pointer: &str, message: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "Bad Request", message.to_owned())
        .with_errors(vec![(pointer.to_owned(), message.to_owned())])
}

pub async fn list(
    state: web::Data<AdminState>,
    req: HttpRequest,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let limit = match query.limit.as_deref() {
        None => 50,
        Some(l) => match l.parse::<u64>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => return Err(bad("/limit", "limit must be between 1 and 200")),
        },
    };
    let user = match query.user.as_deref() {
        None | Some("") => None,
        Some(u) => Some(Uuid::parse_str(u).map_err(|_| bad("/user", "user must be a user id"))?),
    };
    let before = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(Uuid::parse_str(c).map_err(|_| bad("/cursor", "the cursor is not valid"))?),
    };
    let kind = query
        .kind
        .as_deref()
        .filter(|k| !k.is_empty() && k.len() <= 64);
    let mut events = store::audit::list(&state.db, user, kind, before, limit + 1)
        .await
        .map_err(Problem::internal)?;
    let next = if events.len() as u64 > limit {
        events.truncate(limit as usize);
        events.last().map(|e| e.id.to_string())
    } else {
        None
    };
    let items: Vec<_> = events
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "occurred_at": e.occurred_at.to_rfc3339(),
                "type": e.kind,
                "actor": { "type": e.actor_type, "id": e.actor_id },
                "user_id": e.user_id,
                "ip": e.ip,
                "detail": e.detail,
            })
        })
        .collect();
    Ok(json_no_store(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": next }),
    ))
}
