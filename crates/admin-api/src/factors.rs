//! A user's second factors (SPEC §9): `GET /users/{id}/factors`, `DELETE
//! /users/{id}/factors/{factor_id}` (a user who lost every device gets back in with the password
//! alone, then enrols again).

use crate::users::{not_found, user_id};
use crate::{AdminState, authenticate};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth::mfa::MfaError;
use http_kit::{Problem, json_no_store};
use profile::Actor;
use serde_json::json;

async fn existing_user(state: &AdminState, raw: &str) -> Result<profile::Uuid, Problem> {
    let id = user_id(raw)?;
    if auth::users::find(&state.db, id)
        .await
        .map_err(Problem::internal)?
        .is_none()
    {
        return Err(not_found());
    }
    Ok(id)
}

/// `GET /users/{id}/factors`.
#[utoipa::path(
    get,
    path = "/users/{id}/factors",
    tag = "factors",
    summary = "List a user's second factors",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The confirmed factors, oldest first", body = crate::model::FactorPage),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn list(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let id = existing_user(&state, &path.into_inner()).await?;
    let factors = auth::mfa::list(&state.db, id)
        .await
        .map_err(Problem::internal)?;
    let items: Vec<_> = factors
        .iter()
        .map(|f| crate::model::to_json(&crate::model::Factor::from(f)))
        .collect();
    Ok(json_no_store(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": null }),
    ))
}

/// `DELETE /users/{id}/factors/{factor_id}`.
#[utoipa::path(
    delete,
    path = "/users/{id}/factors/{factor_id}",
    tag = "factors",
    summary = "Remove one of a user's second factors",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("factor_id" = String, Path, description = "The factor's id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn remove(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let (raw_user, raw_factor) = path.into_inner();
    let id = existing_user(&state, &raw_user).await?;
    let no_factor = || Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such factor");
    let factor = profile::Uuid::parse_str(&raw_factor).map_err(|_| no_factor())?;
    match auth::mfa::remove(
        &state.db,
        state.clock.as_ref(),
        id,
        factor,
        Actor::AdminKey(key.0),
        None,
    )
    .await
    {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(MfaError::NotFound) => Err(no_factor()),
        Err(e) => Err(Problem::internal(e)),
    }
}
