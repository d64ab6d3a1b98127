//! `POST /users/import` (SPEC §13): JSON Lines, one user a line, each applied or refused alone
//! by `auth::import`, as the CLI's `tessera user import` does.

use crate::{AdminState, authenticate};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use http_kit::{Problem, json_no_store};
use profile::Actor;

/// The largest body (bigger imports go through the CLI).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Lines of one request that may give a plain `password` (each is an Argon2 hash, about 20 ms of
/// CPU): larger sets of plain passwords go through the CLI.
pub const MAX_PLAIN_PASSWORDS: usize = 1000;

/// `POST /users/import` with `Content-Type: application/x-ndjson` (or `application/jsonl`,
/// `text/plain`).
#[utoipa::path(
    post,
    path = "/users/import",
    tag = "users",
    summary = "Import users from JSON Lines (each line applied or refused alone)",
    request_body(content = String, content_type = "application/x-ndjson",
        description = "One user a line, as `POST /users` takes it, plus `groups` and `password_hash` (argon2, bcrypt, PBKDF2-SHA256, scrypt); at most 16 MiB and 1,000 plain passwords"),
    responses(
        (status = 200, description = "The report: `{\"created\": n, \"refused\": [{\"line\", \"error\"}]}`", body = crate::model::ImportReport),
        crate::model::errors::E401, crate::model::errors::E413, crate::model::errors::E415,
    ),
    security(("admin_key" = []))
)]
pub async fn import(
    state: AdminState,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let kind = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !matches!(
        kind.as_str(),
        "application/x-ndjson" | "application/jsonl" | "application/json-lines" | "text/plain"
    ) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "send JSON Lines as application/x-ndjson",
        ));
    }
    let body = payload
        .to_bytes_limited(MAX_BODY)
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Content Too Large",
                "at most 16 MiB; import more with tessera user import",
            )
        })?
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "Bad Request", e.to_string()))?;
    let text = String::from_utf8_lossy(&body);
    let lines = text.lines().map(|l| {
        if l.contains('\0') {
            Err("a NUL character".to_owned())
        } else {
            Ok(l.to_owned())
        }
    });
    let report = auth::import::import(
        &state.db,
        state.clock.as_ref(),
        &state.profiles,
        &state.hasher,
        &state.password_policy,
        lines,
        Actor::AdminKey(key.0),
        auth::import::PlainPasswords(Some(MAX_PLAIN_PASSWORDS)),
    )
    .await
    .map_err(Problem::internal)?;
    Ok(json_no_store(
        StatusCode::OK,
        &crate::model::to_json(&crate::model::ImportReport::from(&report)),
    ))
}
