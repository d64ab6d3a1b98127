//! Profile schema routes: `GET /profile-schema`, `PATCH /profile-schema/standard/{name}`,
//! `PATCH /profile-schema/annotations`, `POST /profile-schema/custom`, `PATCH /profile-schema/custom/{name}`. A type change or a deletion
//! is 409 naming the attribute; bad values are 422 with pointers; nothing of a refused change is
//! applied.

use crate::body::invalid;
use crate::{AdminState, authenticate};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use http_kit::Problem;
use http_kit::json_no_store;
use http_kit::parse_json_body;
use profile::Actor;
use profile::{SchemaChangeError, SchemaError};
use serde_json::{Value, json};

fn schema_problem(e: SchemaChangeError, pointer_prefix: &str) -> Problem {
    match e {
        SchemaChangeError::Invalid(SchemaError {
            attribute,
            pointer,
            message,
            conflict,
        }) => {
            let (status, title) = if conflict {
                (StatusCode::CONFLICT, "Conflict")
            } else {
                (StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Content")
            };
            let detail = if attribute.is_empty() {
                message.clone()
            } else {
                format!("attribute {attribute:?}: {message}")
            };
            let pointer = match pointer.strip_prefix(pointer_prefix) {
                Some(rest) => rest.to_owned(),
                None => pointer,
            };
            Problem::new(status, title, detail).with_errors(vec![(pointer, message)])
        }
        SchemaChangeError::Service(e) => Problem::internal(e),
    }
}

async fn current_document(state: &AdminState) -> Result<Value, Problem> {
    Ok(state
        .profiles
        .schema(&state.db)
        .await
        .map_err(Problem::internal)?
        .to_document())
}

async fn apply(
    state: &AdminState,
    key: crate::AdminKeyId,
    doc: &Value,
    prefix: &str,
) -> Result<Value, Problem> {
    let schema = state
        .profiles
        .replace_schema(&state.db, state.clock.as_ref(), doc, Actor::AdminKey(key.0))
        .await
        .map_err(|e| schema_problem(e, prefix))?;
    Ok(schema.to_document())
}

/// `GET /profile-schema`.
#[utoipa::path(
    get,
    path = "/profile-schema",
    tag = "profile-schema",
    summary = "The profile schema document",
    responses(
        (status = 200, description = "The schema", body = crate::model::SchemaDocument),
        crate::model::errors::E401,
    ),
    security(("admin_key" = []))
)]
pub async fn get(state: AdminState, req: HttpRequest) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    Ok(json_no_store(
        StatusCode::OK,
        &current_document(&state).await?,
    ))
}

/// `PATCH /profile-schema/standard/{name}` with `{"end_user", "bearer"}`.
#[utoipa::path(
    patch,
    path = "/profile-schema/standard/{name}",
    tag = "profile-schema",
    summary = "Set a standard attribute's access levels",
    params(
        ("name" = String, Path, description = "A standard attribute, e.g. `given_name`"),
    ),
    request_body(content = crate::model::AttributeAccess, content_type = "application/json"),
    responses(
        (status = 200, description = "The attribute", body = crate::model::StandardAttribute),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn patch_standard(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let body = parse_json_body(&req, &body)?;
    let name = path.into_inner();
    let doc = json!({ "standard": { name.clone(): body } });
    let schema = apply(&state, key, &doc, &format!("/standard/{name}")).await?;
    Ok(json_no_store(
        StatusCode::OK,
        &json!({ "name": name, "access": schema["standard"][&name] }),
    ))
}

/// `PATCH /profile-schema/annotations` with `{"end_user", "bearer"}`.
#[utoipa::path(
    patch,
    path = "/profile-schema/annotations",
    tag = "profile-schema",
    summary = "Set who may read and write annotations",
    request_body(content = crate::model::AttributeAccess, content_type = "application/json"),
    responses(
        (status = 200, description = "The annotations' access", body = crate::model::AttributeAccess),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn patch_annotations(
    state: AdminState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let body = parse_json_body(&req, &body)?;
    let doc = json!({ "annotations": body });
    let schema = apply(&state, key, &doc, "/annotations").await?;
    Ok(json_no_store(StatusCode::OK, &schema["annotations"]))
}

/// `POST /profile-schema/custom`: a new definition, appended (or at `position`).
#[utoipa::path(
    post,
    path = "/profile-schema/custom",
    tag = "profile-schema",
    summary = "Define a custom attribute",
    request_body(content = crate::model::CustomAttribute, content_type = "application/json"),
    responses(
        (status = 201, description = "The definition", body = crate::model::CustomAttribute),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E409, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn create_custom(
    state: AdminState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let mut definition = parse_json_body(&req, &body)?;
    let Some(obj) = definition.as_object_mut() else {
        return Err(invalid("", "the body must be a JSON object"));
    };
    if obj.contains_key("id") {
        return Err(invalid("/id", "ids are assigned by Tessera"));
    }
    let position = take_position(obj)?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut doc = current_document(&state).await?;
    let list = doc["custom"]
        .as_array_mut()
        .ok_or_else(|| Problem::internal("schema without custom list"))?;
    if list.iter().any(|d| d["name"] == name.as_str()) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!("attribute {name:?} already exists"),
        )
        .with_errors(vec![("/name".into(), "is already taken".into())]));
    }
    let at = position.unwrap_or(list.len()).min(list.len());
    list.insert(at, definition);
    let schema = apply(&state, key, &doc, &format!("/custom/{at}")).await?;
    let created = schema["custom"]
        .as_array()
        .and_then(|l| l.iter().find(|d| d["name"] == name.as_str()))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(json_no_store(StatusCode::CREATED, &created))
}

fn take_position(obj: &mut serde_json::Map<String, Value>) -> Result<Option<usize>, Problem> {
    match obj.remove("position") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(|p| Some(p as usize))
            .ok_or_else(|| invalid("/position", "position must be a whole number")),
    }
}

/// `PATCH /profile-schema/custom/{name}`: rename, relabel, limits, access, scope, `position`;
/// a type change is 409.
#[utoipa::path(
    patch,
    path = "/profile-schema/custom/{name}",
    tag = "profile-schema",
    summary = "Rename, relabel, re-order a custom attribute or change its limits, access or scope (a type change is 409)",
    params(
        ("name" = String, Path, description = "The attribute's name"),
    ),
    request_body(content = crate::model::CustomAttribute, content_type = "application/json"),
    responses(
        (status = 200, description = "The definition", body = crate::model::CustomAttribute),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E409, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn patch_custom(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let mut changes = parse_json_body(&req, &body)?;
    let Some(obj) = changes.as_object_mut() else {
        return Err(invalid("", "the body must be a JSON object"));
    };
    if obj.contains_key("id") {
        return Err(invalid("/id", "an attribute's id never changes"));
    }
    let position = take_position(obj)?;
    let name = path.into_inner();
    let mut doc = current_document(&state).await?;
    let list = doc["custom"]
        .as_array_mut()
        .ok_or_else(|| Problem::internal("schema without custom list"))?;
    let Some(index) = list.iter().position(|d| d["name"] == name.as_str()) else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("no custom attribute {name:?}"),
        ));
    };
    let mut definition = list.remove(index);
    if let Some(target) = definition.as_object_mut() {
        for (k, v) in obj.iter() {
            if v.is_null() {
                target.remove(k);
            } else {
                target.insert(k.clone(), v.clone());
            }
        }
    }
    let at = position.unwrap_or(index).min(list.len());
    let id = definition["id"].clone();
    list.insert(at, definition);
    let schema = apply(&state, key, &doc, &format!("/custom/{at}")).await?;
    let updated = schema["custom"]
        .as_array()
        .and_then(|l| l.iter().find(|d| d["id"] == id))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(json_no_store(StatusCode::OK, &updated))
}

/// `DELETE /profile-schema/custom/{name}`: never allowed (hide it instead).
#[utoipa::path(
    delete,
    path = "/profile-schema/custom/{name}",
    tag = "profile-schema",
    summary = "Always refused: custom attributes are never deleted (hide them instead)",
    params(
        ("name" = String, Path, description = "The attribute's name"),
    ),
    responses(
        crate::model::errors::E409, crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn delete_custom(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let name = path.into_inner();
    Err(Problem::new(
        StatusCode::CONFLICT,
        "Conflict",
        format!(
            "attribute {name:?}: custom attributes cannot be deleted; set end_user and bearer to hidden instead"
        ),
    ))
}
