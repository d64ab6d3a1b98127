//! Images over HTTP: uploads (self-service API and settings page), serving stored images, and the
//! public avatar and cover URLs.
//!
//! - `POST /api/v1/me/avatar` (multipart field `avatar`), `POST /api/v1/me/cover` (field `cover`),
//!   `POST /api/v1/me/images/{attribute}` (field `image`): bearer token with `profile:write`.
//! - `GET /images/{id}[?size=N]`: the stored bytes, immutable, with a strong ETag.
//! - `GET /api/v1/users/{selector}/avatar|cover`: 302 to the current image; the selector is a user
//!   id, `@username`, or `me` (bearer token). The query string passes through.

use crate::WebState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use http_kit::Problem;
use http_kit::uploads::{UploadContext, upload_for};
use profile::Actor;
use profile::IdentityKind;
use profile::ImageTarget;
use profile::Uuid;
use profile::images::is_image_id;

async fn me_upload(
    state: &WebState,
    req: &HttpRequest,
    payload: web::Payload,
    target: ImageTarget<'_>,
) -> Result<HttpResponse, Problem> {
    let writer = crate::api::authenticate_writer(state, req).await?;
    let user_id = writer.user_id;
    let scopes = writer.scopes();
    let cx = UploadContext {
        db: &state.db,
        clock: state.clock.as_ref(),
        profiles: &state.profiles,
    };
    upload_for(
        cx,
        req,
        payload,
        (user_id, writer.audience(&scopes)),
        target,
        Actor::User(user_id),
    )
    .await
}

/// `POST /api/v1/me/avatar`.
pub async fn upload_avatar(
    state: WebState,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    me_upload(&state, &req, payload, ImageTarget::Avatar).await
}

/// `POST /api/v1/me/cover`.
pub async fn upload_cover(
    state: WebState,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    me_upload(&state, &req, payload, ImageTarget::Cover).await
}

/// `POST /api/v1/me/images/{attribute}`.
pub async fn upload_attribute(
    state: WebState,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    me_upload(&state, &req, payload, ImageTarget::Attribute(&path)).await
}

/// The `size` query parameter, if it is a number.
fn requested_size(req: &HttpRequest) -> Option<u32> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "size")
        .and_then(|(_, v)| v.parse().ok())
}

/// `GET /images/{id}`: a stored image. `?size=N` picks the smallest rendition at least N pixels
/// (the largest when none is); without it, the default rendition.
pub async fn serve(
    state: WebState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such image");
    if !is_image_id(&id) {
        return Err(not_found());
    }
    let renditions = state
        .profiles
        .image_renditions(&state.db, &id)
        .await
        .map_err(Problem::internal)?;
    let chosen = match requested_size(&req) {
        Some(size) => renditions
            .iter()
            .find(|r| r.size >= size)
            .or_else(|| renditions.last()),
        None => renditions
            .iter()
            .find(|r| r.is_default)
            .or_else(|| renditions.last()),
    }
    .ok_or_else(not_found)?;
    let etag = format!("\"{}\"", chosen.digest);
    let cache = "public, max-age=31536000, immutable";
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish());
    }
    let bytes = state
        .profiles
        .image_bytes(&state.db, &id, chosen.size)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok()
        .content_type(chosen.content_type.as_str())
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", "default-src 'none'"))
        .body(bytes))
}

/// The user a public image URL names, and whether it was `me` (so the answer is private).
async fn select_user(
    state: &WebState,
    req: &HttpRequest,
    selector: &str,
) -> Result<(Uuid, bool), Problem> {
    let unknown = || Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such user");
    if selector == "me" {
        let (_, user_id) = crate::api::authenticate(state, req).await?;
        return Ok((user_id, true));
    }
    if let Some(name) = selector.strip_prefix('@') {
        let name = auth::login_id::normalise_username(name).map_err(|_| unknown())?;
        let found = auth::users::owner_of(&state.db, IdentityKind::Username, &name)
            .await
            .map_err(Problem::internal)?;
        return found.map(|id| (id, false)).ok_or_else(unknown);
    }
    Uuid::parse_str(selector)
        .map(|id| (id, false))
        .map_err(|_| unknown())
}

async fn redirect_to_image(
    state: &WebState,
    req: &HttpRequest,
    selector: &str,
    cover: bool,
) -> Result<HttpResponse, Problem> {
    let (user_id, private) = select_user(state, req, selector).await?;
    let images = state
        .profiles
        .public_images(&state.db, user_id)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such user"))?;
    let (target, what) = if cover {
        (images.cover, "cover")
    } else {
        (images.avatar, "avatar")
    };
    let mut location = target.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("this user has no {what}"),
        )
    })?;
    let query = req.query_string();
    if !query.is_empty() {
        location.push(if location.contains('?') { '&' } else { '?' });
        location.push_str(query);
    }
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((
            header::CACHE_CONTROL,
            if private {
                "private, no-store"
            } else {
                "public, max-age=60"
            },
        ))
        .finish())
}

/// `GET /api/v1/users/{selector}/avatar`.
pub async fn public_avatar(
    state: WebState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    redirect_to_image(&state, &req, &path, false).await
}

/// `GET /api/v1/users/{selector}/cover`.
pub async fn public_cover(
    state: WebState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    redirect_to_image(&state, &req, &path, true).await
}
