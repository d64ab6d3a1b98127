//! Images over HTTP: uploads (self-service API and settings page), serving stored images, and the
//! public avatar and cover URLs.
//!
//! - `POST /api/v1/me/avatar` (multipart field `avatar`), `POST /api/v1/me/cover` (field `cover`),
//!   `POST /api/v1/me/images/{attribute}` (field `image`): bearer token with `profile:write`.
//! - `GET /images/{id}[?size=N]`: the stored bytes, immutable, with a strong ETag.
//! - `GET /api/v1/users/{selector}/avatar|cover`: 302 to the current image; the selector is a user
//!   id, `@username`, or `me` (bearer token). The query string passes through.

use crate::WebState;
use crate::problem::Problem;
use crate::render::json_no_store;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use profile::images::{ImageError, ImagePurpose, is_image_id};
use profile::{Audience, ImageTarget, UploadError};
use store::Uuid;
use store::accounts::IdentityKind;
use store::audit::Actor;

/// Room for the multipart framing and small text fields around the file.
const MULTIPART_SLACK: usize = 64 * 1024;
/// The most fields a form may have before it is refused.
const MAX_FIELDS: usize = 16;

/// A file and the text fields that came with it.
#[derive(Debug, Default)]
pub struct Upload {
    pub file: Option<Vec<u8>>,
    pub csrf_token: Option<String>,
}

/// Why a multipart body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum UploadFormError {
    NotMultipart,
    TooLarge(usize),
    Malformed,
}

impl UploadFormError {
    pub fn problem(&self, field: &str) -> Problem {
        match self {
            UploadFormError::NotMultipart => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
                format!("send multipart/form-data with the file in the field `{field}`"),
            ),
            UploadFormError::TooLarge(limit) => too_large(field, *limit),
            UploadFormError::Malformed => Problem::new(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "the multipart body is malformed",
            ),
        }
    }
}

fn too_large(field: &str, limit: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Payload Too Large",
        format!("the file must be at most {limit} bytes"),
    )
    .with_errors(vec![(
        format!("/{field}"),
        format!("larger than {limit} bytes"),
    )])
}

/// Reads a multipart body: the file in `field` (at most `limit` bytes) and the CSRF field. Other
/// fields are read and dropped; nothing is kept beyond the limits.
pub async fn read_upload(
    req: &HttpRequest,
    payload: web::Payload,
    field: &str,
    limit: usize,
) -> Result<Upload, UploadFormError> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if !is_multipart {
        return Err(UploadFormError::NotMultipart);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit + MULTIPART_SLACK) {
        return Err(UploadFormError::TooLarge(limit));
    }
    let mut multipart = actix_multipart::Multipart::new(req.headers(), payload);
    let mut upload = Upload::default();
    let mut fields = 0;
    let mut total = 0usize;
    while let Some(item) = multipart.next().await {
        let mut part = item.map_err(|_| UploadFormError::Malformed)?;
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(UploadFormError::Malformed);
        }
        let name = part.name().unwrap_or("").to_owned();
        let keep = if name == field {
            Some(limit)
        } else if name == crate::csrf::FIELD {
            Some(256)
        } else {
            // Other fields are read (the body must be consumed) and dropped.
            None
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|_| UploadFormError::Malformed)?;
            total += chunk.len();
            if total > limit + MULTIPART_SLACK {
                return Err(UploadFormError::TooLarge(limit));
            }
            if let Some(cap) = keep {
                if bytes.len() + chunk.len() > cap {
                    return Err(if name == field {
                        UploadFormError::TooLarge(limit)
                    } else {
                        UploadFormError::Malformed
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
        }
        if name == field {
            upload.file = Some(bytes);
        } else if name == crate::csrf::FIELD {
            upload.csrf_token = String::from_utf8(bytes).ok();
        }
    }
    Ok(upload)
}

/// The problem for a refused upload of `field`.
pub fn upload_problem(field: &str, e: UploadError) -> Problem {
    match e {
        UploadError::Image(ImageError::TooLarge { limit }) => too_large(field, limit),
        UploadError::Image(e) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Content",
            e.to_string(),
        )
        .with_errors(vec![(format!("/{field}"), e.to_string())]),
        UploadError::NoSuchAttribute(name) => Problem::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("there is no image attribute named {name}"),
        ),
        UploadError::Change(e) => crate::api::change_problem(e),
    }
}

/// The multipart field and size limit for an upload target.
pub fn field_for(target: ImageTarget<'_>) -> (&'static str, usize) {
    match target {
        ImageTarget::Avatar => ("avatar", ImagePurpose::Avatar.max_bytes()),
        ImageTarget::Cover => ("cover", ImagePurpose::Cover.max_bytes()),
        ImageTarget::Attribute(_) => ("image", ImagePurpose::Attribute.max_bytes()),
    }
}

/// What an upload is stored with.
pub struct UploadContext<'a> {
    pub db: &'a store::Db,
    pub clock: &'a dyn store::Clock,
    pub profiles: &'a profile::ProfileService,
}

/// Reads an upload for `target` from a multipart body and stores it for `user_id` by `writer`.
/// Answers `{"url": …}`.
pub async fn upload_for(
    cx: UploadContext<'_>,
    req: &HttpRequest,
    payload: web::Payload,
    (user_id, writer): (Uuid, Audience<'_>),
    target: ImageTarget<'_>,
    actor: Actor,
) -> Result<HttpResponse, Problem> {
    let (field, limit) = field_for(target);
    let upload = read_upload(req, payload, field, limit)
        .await
        .map_err(|e| e.problem(field))?;
    let Some(bytes) = upload.file else {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Content",
            format!("the file is missing: send it in the field `{field}`"),
        )
        .with_errors(vec![(format!("/{field}"), "missing".into())]));
    };
    let author = profile::Author {
        actor,
        ip: crate::session_cookie::client_ip(req),
    };
    let url = cx
        .profiles
        .upload_image(cx.db, cx.clock, user_id, writer, target, bytes, author)
        .await
        .map_err(|e| upload_problem(field, e))?;
    Ok(json_no_store(
        StatusCode::OK,
        &serde_json::json!({ "url": url }),
    ))
}

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
    state: web::Data<WebState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    me_upload(&state, &req, payload, ImageTarget::Avatar).await
}

/// `POST /api/v1/me/cover`.
pub async fn upload_cover(
    state: web::Data<WebState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    me_upload(&state, &req, payload, ImageTarget::Cover).await
}

/// `POST /api/v1/me/images/{attribute}`.
pub async fn upload_attribute(
    state: web::Data<WebState>,
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
    state: web::Data<WebState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = path.into_inner();
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such image");
    if !is_image_id(&id) {
        return Err(not_found());
    }
    let renditions = store::images::renditions(&state.db, &id)
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
    let bytes = store::images::rendition_bytes(&state.db, &id, chosen.size)
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
        let found = store::accounts::find_login_candidate(&state.db, IdentityKind::Username, &name)
            .await
            .map_err(Problem::internal)?;
        return found.map(|c| (c.user_id, false)).ok_or_else(unknown);
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
    state: web::Data<WebState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    redirect_to_image(&state, &req, &path, false).await
}

/// `GET /api/v1/users/{selector}/cover`.
pub async fn public_cover(
    state: web::Data<WebState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    redirect_to_image(&state, &req, &path, true).await
}
