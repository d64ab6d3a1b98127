//! `POST /users/{id}/avatar` (multipart field `avatar`) and `POST /users/{id}/images/{attribute}`
//! (field `image`): the same processing as the self-service uploads, with the admin's full access.

use crate::users::user_id;
use crate::{AdminState, authenticate};
use actix_web::{HttpRequest, HttpResponse, web};
use http_kit::Problem;
use http_kit::uploads::{UploadContext, upload_for};
use profile::Actor;
use profile::{ImageTarget, Party};

async fn upload(
    state: &AdminState,
    req: &HttpRequest,
    raw_id: &str,
    payload: web::Payload,
    target: ImageTarget<'_>,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(state, req).await?;
    let id = user_id(raw_id)?;
    let cx = UploadContext {
        db: &state.db,
        clock: state.clock.as_ref(),
        profiles: &state.profiles,
    };
    upload_for(
        cx,
        req,
        payload,
        (id, profile::Audience::Party(Party::Admin)),
        target,
        Actor::AdminKey(key.0),
    )
    .await
}

/// `POST /users/{id}/avatar`: sets `picture` to the uploaded image.
#[utoipa::path(
    post,
    path = "/users/{id}/avatar",
    tag = "images",
    summary = "Upload an avatar (multipart field `avatar`); sets `picture`",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    request_body(content = crate::model::ImageUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Where the image is served", body = crate::model::ImageUrl),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn avatar(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    upload(&state, &req, &path, payload, ImageTarget::Avatar).await
}

/// `POST /users/{id}/cover`: sets the cover image.
#[utoipa::path(
    post,
    path = "/users/{id}/cover",
    tag = "images",
    summary = "Upload a cover image (multipart field `cover`)",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    request_body(content = crate::model::ImageUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Where the image is served", body = crate::model::ImageUrl),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn cover(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    upload(&state, &req, &path, payload, ImageTarget::Cover).await
}

/// `POST /users/{id}/images/{attribute}`: sets an image attribute.
#[utoipa::path(
    post,
    path = "/users/{id}/images/{attribute}",
    tag = "images",
    summary = "Upload an image attribute (multipart field `image`)",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("attribute" = String, Path, description = "The name of a custom attribute of type image"),
    ),
    request_body(content = crate::model::ImageUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Where the image is served", body = crate::model::ImageUrl),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn attribute(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (id, attribute) = path.into_inner();
    upload(
        &state,
        &req,
        &id,
        payload,
        ImageTarget::Attribute(&attribute),
    )
    .await
}
