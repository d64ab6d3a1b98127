//! `GET /admin-keys` and `DELETE /admin-keys/{id}`: the keys that open this API (never the keys
//! themselves, which are shown once at creation and stored hashed). A revoked key stops working
//! at once.

use crate::{AdminState, authenticate};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use http_kit::Problem;
use http_kit::json_no_store;
use profile::Actor;
use profile::Uuid;
use serde_json::json;

/// `GET /admin-keys`.
#[utoipa::path(
    get,
    path = "/admin-keys",
    tag = "admin-keys",
    summary = "List Admin API keys (never the keys themselves)",
    responses(
        (status = 200, description = "The keys", body = crate::model::AdminKeyPage),
        crate::model::errors::E401,
    ),
    security(("admin_key" = []))
)]
pub async fn list(state: AdminState, req: HttpRequest) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let keys = auth::admin_keys::list(&state.db)
        .await
        .map_err(Problem::internal)?;
    let items: Vec<_> = keys
        .iter()
        .map(|k| crate::model::to_json(&crate::model::AdminKey::from(k)))
        .collect();
    Ok(json_no_store(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": null }),
    ))
}

/// `DELETE /admin-keys/{id}`: revokes the key (404 when there is no live key with that id).
#[utoipa::path(
    delete,
    path = "/admin-keys/{id}",
    tag = "admin-keys",
    summary = "Revoke an Admin API key",
    params(
        ("id" = String, Path, description = "The key's id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn revoke(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such admin key");
    let id = Uuid::parse_str(&path.into_inner()).map_err(|_| not_found())?;
    if auth::admin_keys::revoke(&state.db, state.clock.as_ref(), id, Actor::AdminKey(key.0))
        .await
        .map_err(Problem::internal)?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(not_found())
    }
}
