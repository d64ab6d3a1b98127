//! Client routes: `GET|POST /clients`, `GET|PATCH|DELETE /clients/{id}`, `POST /clients/{id}/secret`.

use crate::body::{boolean, invalid, object, strings, text};
use crate::{AdminState, authenticate, paging};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use http_kit::Problem;
use http_kit::json_no_store;
use http_kit::parse_json_body;
use oidc::clients::Client;
use oidc::clients::{ClientError, ClientRegistration};
use profile::Actor;
use serde_json::{Value, json};

fn client_json(c: &Client) -> Value {
    crate::model::to_json(&crate::model::Client::from(c))
}

fn client_problem(e: ClientError) -> Problem {
    let pointer = match &e {
        ClientError::InvalidName => "/name",
        ClientError::InvalidUri { field, .. } if field.starts_with("redirect") => "/redirect_uris",
        ClientError::InvalidUri { field, .. } if field.starts_with("post") => {
            "/post_logout_redirect_uris"
        }
        ClientError::InvalidUri { .. } => "/backchannel_logout_uri",
        ClientError::UnsupportedGrant(_) | ClientError::PublicClientCredentials => "/grant_types",
        ClientError::MissingRedirectUri => "/redirect_uris",
        ClientError::InvalidScope(_) => "/scopes",
        ClientError::Internal(e) => return Problem::internal(e),
    };
    invalid(pointer, e.to_string())
}

fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such client")
}

/// `GET /clients?limit=&cursor=`.
#[utoipa::path(
    get,
    path = "/clients",
    tag = "clients",
    summary = "List clients",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of clients", body = crate::model::ClientPage),
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
    let items = oidc::clients::list_page(&state.db, after, limit + 1)
        .await
        .map_err(Problem::internal)?;
    Ok(json_no_store(
        StatusCode::OK,
        &paging::page(items, limit, |c| c.id, client_json),
    ))
}

/// `POST /clients`: the secret (confidential clients) is in this response only.
#[utoipa::path(
    post,
    path = "/clients",
    tag = "clients",
    summary = "Register a client (a confidential client's secret is shown once)",
    request_body(content = crate::model::ClientBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The client", body = crate::model::Client),
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
    let o = object(&body)?;
    let registration = ClientRegistration {
        name: text(o, "name")?.unwrap_or_default().to_owned(),
        redirect_uris: strings(o, "redirect_uris")?,
        public: boolean(o, "public")?.unwrap_or(false),
        third_party: boolean(o, "third_party")?.unwrap_or(false),
        require_mfa: boolean(o, "require_mfa")?.unwrap_or(false),
        post_logout_redirect_uris: strings(o, "post_logout_redirect_uris")?,
        backchannel_logout_uri: text(o, "backchannel_logout_uri")?.map(str::to_owned),
        grant_types: strings(o, "grant_types")?,
        scopes: strings(o, "scopes")?,
    };
    let registered = oidc::clients::register_client(
        &state.db,
        state.clock.as_ref(),
        registration,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(client_problem)?;
    let mut out = client_json(&registered.client);
    if let Some(secret) = registered.client_secret {
        out["client_secret"] = secret.into();
    }
    Ok(json_no_store(StatusCode::CREATED, &out))
}

/// `GET /clients/{id}`.
#[utoipa::path(
    get,
    path = "/clients/{id}",
    tag = "clients",
    summary = "Read a client",
    params(
        ("id" = String, Path, description = "The client_id"),
    ),
    responses(
        (status = 200, description = "The client", body = crate::model::Client),
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
    let client = oidc::clients::find(&state.db, &path.into_inner())
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    Ok(json_no_store(StatusCode::OK, &client_json(&client)))
}

/// `PATCH /clients/{id}`: name, URIs, third_party, grant types, scopes.
#[utoipa::path(
    patch,
    path = "/clients/{id}",
    tag = "clients",
    summary = "Change a client",
    params(
        ("id" = String, Path, description = "The client_id"),
    ),
    request_body(content = crate::model::ClientBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The client", body = crate::model::Client),
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
    let body = parse_json_body(&req, &body)?;
    let obj = object(&body)?;
    let mut client = oidc::clients::find(&state.db, &path.into_inner())
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    for key in obj.keys() {
        match key.as_str() {
            "name" => client.name = text(obj, key)?.unwrap_or_default().to_owned(),
            "redirect_uris" => client.redirect_uris = strings(obj, key)?,
            "post_logout_redirect_uris" => client.post_logout_redirect_uris = strings(obj, key)?,
            "backchannel_logout_uri" => {
                client.backchannel_logout_uri = text(obj, key)?.map(str::to_owned)
            }
            "third_party" => client.third_party = boolean(obj, key)?.unwrap_or(false),
            "require_mfa" => client.require_mfa = boolean(obj, key)?.unwrap_or(false),
            "grant_types" => client.grant_types = strings(obj, key)?,
            "scopes" => client.scopes = strings(obj, key)?,
            "public" | "client_id" | "created_at" | "updated_at" => {
                return Err(invalid(&format!("/{key}"), "cannot be changed"));
            }
            other => return Err(invalid(&format!("/{other}"), "unknown field")),
        }
    }
    client.name = client.name.trim().to_owned();
    let saved = oidc::clients::update(
        &state.provider,
        &state.db,
        state.clock.as_ref(),
        &client,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(|e| match e {
        oidc::clients::UpdateError::Invalid(e) => client_problem(e),
        oidc::clients::UpdateError::Internal(e) => Problem::internal(e),
    })?
    .ok_or_else(not_found)?;
    Ok(json_no_store(StatusCode::OK, &client_json(&saved)))
}

/// `DELETE /clients/{id}`.
#[utoipa::path(
    delete,
    path = "/clients/{id}",
    tag = "clients",
    summary = "Delete a client and its grants",
    params(
        ("id" = String, Path, description = "The client_id"),
    ),
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
    let client_id = path.into_inner();
    let found = oidc::clients::delete_client(
        &state.db,
        state.clock.as_ref(),
        &client_id,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(Problem::internal)?;
    state.provider.clients.forget(&client_id);
    if !found {
        return Err(not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /clients/{id}/secret`: a new secret, shown once; the old one stops working.
#[utoipa::path(
    post,
    path = "/clients/{id}/secret",
    tag = "clients",
    summary = "Rotate a confidential client's secret (shown once)",
    params(
        ("id" = String, Path, description = "The client_id"),
    ),
    responses(
        (status = 200, description = "The new secret", body = crate::model::ClientSecret),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn rotate_secret(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let client_id = path.into_inner();
    match oidc::clients::rotate_secret(
        &state.db,
        state.clock.as_ref(),
        &client_id,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(Problem::internal)?
    {
        Some(secret) => {
            state.provider.clients.forget(&client_id);
            Ok(json_no_store(
                StatusCode::OK,
                &json!({ "client_id": client_id, "client_secret": secret }),
            ))
        }
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            "no confidential client with this id",
        )),
    }
}
