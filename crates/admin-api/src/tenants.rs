//! The system Admin API (SPEC §11): `GET|POST /tenants`, `GET|DELETE /tenants/{id}`, served at
//! the root only and only to system keys (`tessera admin-key create --system`). A tenant's own
//! Admin API is the rest of this crate under `/t/{id}/admin/api/v1`.

use crate::body::{invalid, object};
use crate::{AdminState, authenticate_system, paging};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use http_kit::{Problem, json_no_store, parse_json_body};
use oidc::tenants::{Deletion, Tenant, TenantChange, TenantError};
use profile::Actor;
use serde_json::Value;

fn tenant_json(state: &AdminState, t: &Tenant) -> Value {
    crate::model::to_json(&crate::model::Tenant {
        id: t.id.clone(),
        name: t.name.clone(),
        issuer: oidc::tenants::issuer_of(state.tenants.base_url(), &t.id),
        settings: t.settings.clone(),
        created_at: t.created_at.to_rfc3339(),
        updated_at: t.updated_at.to_rfc3339(),
    })
}

/// A change as the body gives it: `name` (a string) and `settings` (an object, checked by the
/// use case).
fn change_of(object: &serde_json::Map<String, Value>) -> Result<TenantChange<'_>, Problem> {
    let name = match object.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(invalid("/name", "name must be a string")),
    };
    let settings = match object.get("settings") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v),
        Some(_) => return Err(invalid("/settings", "settings must be a JSON object")),
    };
    Ok(TenantChange { name, settings })
}

fn tenant_problem(e: TenantError) -> Problem {
    match e {
        e @ TenantError::InvalidId => invalid("/id", e.to_string()),
        e @ TenantError::InvalidName => invalid("/name", e.to_string()),
        TenantError::InvalidSetting(s) => invalid(&format!("/settings{}", s.pointer), s.message),
        e @ (TenantError::Exists | TenantError::IsDefault) => {
            Problem::new(StatusCode::CONFLICT, "Conflict", e.to_string())
        }
        TenantError::NotFound => not_found(),
        TenantError::Internal(e) => Problem::internal(e),
    }
}

fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such tenant")
}

/// `GET /tenants?limit=&cursor=`.
#[utoipa::path(
    get,
    path = "/tenants",
    tag = "tenants",
    summary = "List tenants (system keys)",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of tenants, by id", body = crate::model::TenantPage),
        crate::model::errors::E401, crate::model::errors::E403, crate::model::errors::E400,
    ),
    security(("admin_key" = []))
)]
pub async fn list(
    state: AdminState,
    req: HttpRequest,
    page: web::Query<paging::Page>,
) -> Result<HttpResponse, Problem> {
    authenticate_system(&state, &req).await?;
    let limit = paging::limit(page.limit.as_deref())?;
    let after = page.cursor.as_deref().filter(|c| !c.is_empty());
    if after.is_some_and(|c| !oidc::tenants::valid_id(c)) {
        return Err(paging::bad("/cursor", "the cursor is not valid"));
    }
    let items = oidc::tenants::list(&state.db, after, limit + 1)
        .await
        .map_err(Problem::internal)?;
    Ok(json_no_store(
        StatusCode::OK,
        &paging::page(items, limit, |t| t.id.clone(), |t| tenant_json(&state, t)),
    ))
}

/// `POST /tenants` with `{"id": …, "name": …}`.
#[utoipa::path(
    post,
    path = "/tenants",
    tag = "tenants",
    summary = "Create a tenant (system keys)",
    request_body(content = Value, description = "`{\"id\": \"acme\", \"name\": \"Acme\", \"settings\": {…}}`; the name defaults to the id, settings (see `Tenant`) to none"),
    responses(
        (status = 201, description = "Created; served at its `issuer` at once", body = crate::model::Tenant),
        crate::model::errors::E401, crate::model::errors::E403, crate::model::errors::E409,
        crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn create(
    state: AdminState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate_system(&state, &req).await?;
    let body: Value = parse_json_body(&req, &body)?;
    let object = object(&body)?;
    let id = match object.get("id") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(invalid("/id", "id is required (a string)")),
    };
    let created = oidc::tenants::create(
        &state.db,
        state.clock.as_ref(),
        id,
        change_of(object)?,
        state.password_policy.max_length,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(tenant_problem)?;
    Ok(json_no_store(
        StatusCode::CREATED,
        &tenant_json(&state, &created),
    ))
}

/// `PATCH /tenants/{id}` with `{"name": …, "settings": {…}}`: either or both; `settings`
/// replaces the stored settings whole.
#[utoipa::path(
    patch,
    path = "/tenants/{id}",
    tag = "tenants",
    summary = "Change a tenant's name or settings (system keys; never `default`)",
    params(("id" = String, Path, description = "The tenant's id")),
    request_body(content = Value, description = "`{\"name\": \"Acme\", \"settings\": {\"email_verification_required\": true, \"password_min_length\": 12, \"login_ids\": [\"email\", \"username\"]}}`"),
    responses(
        (status = 200, description = "Changed; served with the change on the next request", body = crate::model::Tenant),
        crate::model::errors::E401, crate::model::errors::E403, crate::model::errors::E404,
        crate::model::errors::E409, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn patch(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate_system(&state, &req).await?;
    let body: Value = parse_json_body(&req, &body)?;
    let object = object(&body)?;
    if let Some(k) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "name" | "settings"))
    {
        return Err(invalid(
            &format!("/{k}"),
            "only name and settings can change",
        ));
    }
    let updated = oidc::tenants::update(
        &state.db,
        state.clock.as_ref(),
        &path,
        change_of(object)?,
        state.password_policy.max_length,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(tenant_problem)?;
    state.tenants.recheck(&updated.id);
    Ok(json_no_store(
        StatusCode::OK,
        &tenant_json(&state, &updated),
    ))
}

/// `GET /tenants/{id}`.
#[utoipa::path(
    get,
    path = "/tenants/{id}",
    tag = "tenants",
    summary = "Read a tenant (system keys)",
    params(("id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant", body = crate::model::Tenant),
        crate::model::errors::E401, crate::model::errors::E403, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn get(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    authenticate_system(&state, &req).await?;
    let tenant = oidc::tenants::find(&state.db, &path)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    Ok(json_no_store(StatusCode::OK, &tenant_json(&state, &tenant)))
}

/// `DELETE /tenants/{id}`: deletes the tenant and everything in it, in one transaction.
#[utoipa::path(
    delete,
    path = "/tenants/{id}",
    tag = "tenants",
    summary = "Delete a tenant and everything in it (system keys; never `default`)",
    params(("id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 204, description = "Deleted"),
        crate::model::errors::E401, crate::model::errors::E403, crate::model::errors::E404,
        crate::model::errors::E409,
    ),
    security(("admin_key" = []))
)]
pub async fn delete(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let key = authenticate_system(&state, &req).await?;
    match oidc::tenants::delete(
        &state.db,
        state.clock.as_ref(),
        &path,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(Problem::internal)?
    {
        Deletion::Deleted => {
            state.tenants.forget(&path);
            Ok(HttpResponse::NoContent().finish())
        }
        Deletion::NotFound => Err(not_found()),
        Deletion::Default => Err(Problem::new(
            StatusCode::CONFLICT,
            "Conflict",
            "the default tenant cannot be deleted",
        )),
    }
}
