//! `POST /users/{id}/avatar` (multipart field `avatar`) and `POST /users/{id}/images/{attribute}`
//! (field `image`): the same processing as the self-service uploads, with the admin's full access.

use crate::users::user_id;
use crate::{AdminState, authenticate};
use ::web::images::{UploadContext, upload_for};
use ::web::problem::Problem;
use actix_web::{HttpRequest, HttpResponse, web};
use profile::{ImageTarget, Party};
use store::audit::Actor;

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
        (id, Party::Admin),
        target,
        Actor::AdminKey(key.0),
    )
    .await
}

/// `POST /users/{id}/avatar`: sets `picture` to the uploaded image.
pub async fn avatar(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    upload(&state, &req, &path, payload, ImageTarget::Avatar).await
}

/// `POST /users/{id}/cover`: sets the cover image.
pub async fn cover(
    state: web::Data<AdminState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    upload(&state, &req, &path, payload, ImageTarget::Cover).await
}

/// `POST /users/{id}/images/{attribute}`: sets an image attribute.
pub async fn attribute(
    state: web::Data<AdminState>,
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
