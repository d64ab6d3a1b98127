//! Multipart uploads, for the self-service API, the settings page and the Admin API: reading a
//! file field under a size limit, the problems for refused uploads, and storing an image in a
//! profile.

use crate::json::json_no_store;
use crate::problem::Problem;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use profile::images::{ImageError, ImagePurpose};
use profile::{Actor, Audience, ImageTarget, UploadError, Uuid};

/// The form field that carries a page form's CSRF token (read beside the file).
pub const CSRF_FIELD: &str = "csrf_token";

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
        } else if name == CSRF_FIELD {
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
        } else if name == CSRF_FIELD {
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
        UploadError::Change(e) => crate::problem_profile::change_problem(e),
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
    pub db: &'a profile::Db,
    pub clock: &'a dyn profile::Clock,
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
        ip: crate::client_ip::client_ip(req),
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
