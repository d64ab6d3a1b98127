//! Group routes (SPEC §12): `GET|POST /groups`, `GET|PATCH|DELETE /groups/{id}`,
//! `GET|POST /groups/{id}/members`, `DELETE /groups/{id}/members/{user_id}`. Each calls one
//! `auth::groups` use case, audited as the admin key.

use crate::body::{invalid, nullable_text, object_of};
use crate::{AdminState, authenticate, paging};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth::groups::{Group, GroupChange, GroupError, NewGroup};
use http_kit::{Problem, json_no_store, parse_json_body};
use profile::{Actor, Uuid};
use serde_json::{Value, json};

pub(crate) fn group_json(g: &Group) -> Value {
    crate::model::to_json(&crate::model::Group::from(g))
}

fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such group")
}

fn group_problem(e: GroupError) -> Problem {
    let message = e.to_string();
    match e {
        GroupError::InvalidName => invalid("/name", message),
        GroupError::InvalidDescription => invalid("/description", message),
        GroupError::InvalidExternalId => invalid("/external_id", message),
        GroupError::TooManyMembers => invalid("/members", message),
        GroupError::NoSuchUser => invalid("/user_id", message),
        GroupError::NameTaken => Problem::new(StatusCode::CONFLICT, "Conflict", message)
            .with_errors(vec![("/name".into(), "is already taken".into())]),
        GroupError::NoSuchGroup => not_found(),
        GroupError::Internal(e) => Problem::internal(e),
    }
}

fn group_id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| not_found())
}

/// `GET /groups?limit=&cursor=`.
#[utoipa::path(
    get,
    path = "/groups",
    tag = "groups",
    summary = "List groups",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of groups", body = crate::model::GroupPage),
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
    let items = auth::groups::list(&state.db, after, limit + 1)
        .await
        .map_err(Problem::internal)?;
    Ok(json_no_store(
        StatusCode::OK,
        &paging::page(items, limit, |g| g.id, group_json),
    ))
}

/// `POST /groups` with `{"name", "description"?}`.
#[utoipa::path(
    post,
    path = "/groups",
    tag = "groups",
    summary = "Create a group",
    request_body(content = crate::model::NewGroup, content_type = "application/json"),
    responses(
        (status = 201, description = "The group", body = crate::model::Group),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E409, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
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
    let o = object_of(&body, &["name", "description"])?;
    let Some(Some(name)) = nullable_text(o, "name")? else {
        return Err(invalid("/name", "a name is required"));
    };
    let new = NewGroup {
        name,
        description: nullable_text(o, "description")?.flatten(),
        ..NewGroup::default()
    };
    let group = auth::groups::create(&state.db, state.clock.as_ref(), new, Actor::AdminKey(key.0))
        .await
        .map_err(group_problem)?;
    Ok(json_no_store(StatusCode::CREATED, &group_json(&group)))
}

/// `GET /groups/{id}`.
#[utoipa::path(
    get,
    path = "/groups/{id}",
    tag = "groups",
    summary = "Read a group",
    params(("id" = String, Path, description = "The group's id")),
    responses(
        (status = 200, description = "The group", body = crate::model::Group),
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
    let id = group_id(&path.into_inner())?;
    let group = auth::groups::find(&state.db, id)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    Ok(json_no_store(StatusCode::OK, &group_json(&group)))
}

/// `PATCH /groups/{id}` with `{"name"?, "description"?}` (`null` clears the description).
#[utoipa::path(
    patch,
    path = "/groups/{id}",
    tag = "groups",
    summary = "Rename a group or change its description",
    params(("id" = String, Path, description = "The group's id")),
    request_body(content = crate::model::NewGroup, content_type = "application/json"),
    responses(
        (status = 200, description = "The group", body = crate::model::Group),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E409, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
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
    let id = group_id(&path.into_inner())?;
    let body = parse_json_body(&req, &body)?;
    let o = object_of(&body, &["name", "description"])?;
    let name = match nullable_text(o, "name")? {
        Some(None) => return Err(invalid("/name", "a group needs a name")),
        other => other.flatten(),
    };
    let change = GroupChange {
        name,
        description: nullable_text(o, "description")?,
        external_id: None,
    };
    let group = auth::groups::update(
        &state.db,
        state.clock.as_ref(),
        id,
        change,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(group_problem)?;
    Ok(json_no_store(StatusCode::OK, &group_json(&group)))
}

/// `DELETE /groups/{id}`.
#[utoipa::path(
    delete,
    path = "/groups/{id}",
    tag = "groups",
    summary = "Delete a group (its members stay)",
    params(("id" = String, Path, description = "The group's id")),
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
    let id = group_id(&path.into_inner())?;
    let found = auth::groups::delete(&state.db, state.clock.as_ref(), id, Actor::AdminKey(key.0))
        .await
        .map_err(Problem::internal)?;
    if !found {
        return Err(not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /groups/{id}/members?limit=&cursor=`: `{"items": [{"user_id"}], "next_cursor"}`.
#[utoipa::path(
    get,
    path = "/groups/{id}/members",
    tag = "groups",
    summary = "List a group's members",
    params(
        ("id" = String, Path, description = "The group's id"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of members", body = crate::model::MemberPage),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn members(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    page: web::Query<paging::Page>,
) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let id = group_id(&path.into_inner())?;
    let limit = paging::limit(page.limit.as_deref())?;
    let after = paging::cursor(page.cursor.as_deref())?;
    auth::groups::find(&state.db, id)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    let items = auth::groups::members(&state.db, id, after, limit + 1)
        .await
        .map_err(Problem::internal)?;
    Ok(json_no_store(
        StatusCode::OK,
        &paging::page(items, limit, |u| *u, |u| json!({ "user_id": u })),
    ))
}

/// `POST /groups/{id}/members` with `{"user_id"}`: 201 when added, 200 when already a member.
#[utoipa::path(
    post,
    path = "/groups/{id}/members",
    tag = "groups",
    summary = "Add a user to a group",
    params(("id" = String, Path, description = "The group's id")),
    request_body(content = crate::model::Member, content_type = "application/json"),
    responses(
        (status = 201, description = "Added", body = crate::model::Member),
        (status = 200, description = "Already a member", body = crate::model::Member),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn add_member(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let id = group_id(&path.into_inner())?;
    let body = parse_json_body(&req, &body)?;
    let user = object_of(&body, &["user_id"])?
        .get("user_id")
        .and_then(Value::as_str)
        .and_then(|u| Uuid::parse_str(u).ok())
        .ok_or_else(|| invalid("/user_id", "a user id is required"))?;
    let added = auth::groups::add_member(
        &state.db,
        state.clock.as_ref(),
        id,
        user,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(group_problem)?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_no_store(status, &json!({ "user_id": user })))
}

/// `DELETE /groups/{id}/members/{user_id}`.
#[utoipa::path(
    delete,
    path = "/groups/{id}/members/{user_id}",
    tag = "groups",
    summary = "Remove a user from a group",
    params(
        ("id" = String, Path, description = "The group's id"),
        ("user_id" = String, Path, description = "The member's user id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn remove_member(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let (id, user) = path.into_inner();
    let id = group_id(&id)?;
    let not_member = || Problem::new(StatusCode::NOT_FOUND, "Not Found", "not a member");
    let user = Uuid::parse_str(&user).map_err(|_| not_member())?;
    let removed = auth::groups::remove_member(
        &state.db,
        state.clock.as_ref(),
        id,
        user,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(group_problem)?;
    if !removed {
        return Err(not_member());
    }
    Ok(HttpResponse::NoContent().finish())
}
