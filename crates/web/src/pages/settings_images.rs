//! Image uploads from the settings page: `POST /settings/avatar` (field `avatar`),
//! `POST /settings/cover` (field `cover`) and `POST /settings/images/{attribute}` (field `image`),
//! each a `multipart/form-data` form with the CSRF token. A refused upload re-renders the page
//! with the message next to the form it came from; the old image stays.

use crate::WebState;
use crate::csrf;
use crate::pages::settings::{Extras, render};
use crate::render::{PageError, see_other};
use crate::session_cookie::client_ip;
use crate::signed_in::SignedIn;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use http_kit::uploads::{UploadFormError, field_for, read_upload};
use profile::Actor;
use profile::images::ImageError;
use profile::{Audience, ChangeError, ImageTarget, Party, ProfileError, UploadError};

async fn upload(
    state: &WebState,
    req: &HttpRequest,
    signed_in: SignedIn,
    payload: web::Payload,
    target: ImageTarget<'_>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let (form_key, saved) = match target {
        ImageTarget::Avatar => ("avatar", "avatar"),
        ImageTarget::Cover => ("cover", "cover"),
        ImageTarget::Attribute(name) => (name, "image"),
    };
    let session = &session;
    let refuse = |status: StatusCode, message: String| async move {
        let extras = Extras {
            error: Some("The image was not saved.".into()),
            upload_error: Some((form_key.to_owned(), message)),
            ..Extras::default()
        };
        render(state, req, session, status, extras).await
    };
    let (field, limit) = field_for(target);
    let form = match read_upload(req, payload, field, limit).await {
        Ok(form) => form,
        Err(UploadFormError::TooLarge(limit)) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The file is too large: at most {} KB.", limit / 1024),
            )
            .await;
        }
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "The form could not be read; choose the file again.".into(),
            )
            .await;
        }
    };
    if !csrf::verify(state, req, form.csrf_token.as_deref().unwrap_or("")) {
        return Err(PageError::Csrf);
    }
    let bytes = form.file.unwrap_or_default();
    if bytes.is_empty() {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose an image file (PNG, JPEG, WebP or GIF).".into(),
        )
        .await;
    }
    let author = profile::Author {
        actor: Actor::User(session.user_id),
        ip: client_ip(req),
    };
    let outcome = state
        .profiles
        .upload_image(
            &state.db,
            state.clock.as_ref(),
            session.user_id,
            Audience::Party(Party::EndUser),
            target,
            bytes,
            author,
        )
        .await;
    match outcome {
        Ok(_) => Ok(see_other(&format!("/settings?saved={saved}#images"))),
        Err(UploadError::Image(e @ ImageError::TooLarge { .. })) => {
            refuse(StatusCode::PAYLOAD_TOO_LARGE, sentence(&e)).await
        }
        Err(UploadError::Image(e)) => refuse(StatusCode::UNPROCESSABLE_ENTITY, sentence(&e)).await,
        Err(UploadError::NoSuchAttribute(_)) => {
            refuse(StatusCode::NOT_FOUND, "There is no such image.".into()).await
        }
        Err(UploadError::Change(ChangeError::Refused(ProfileError::Forbidden { .. }))) => {
            refuse(
                StatusCode::FORBIDDEN,
                "This image cannot be changed here.".into(),
            )
            .await
        }
        Err(UploadError::Change(ChangeError::Conflict)) => {
            refuse(
                StatusCode::CONFLICT,
                "Your profile was changed elsewhere at the same time; try again.".into(),
            )
            .await
        }
        Err(e) => Err(PageError::Internal(e.to_string())),
    }
}

/// An error message as a sentence for the page.
fn sentence(e: &ImageError) -> String {
    let text = e.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => text,
    }
}

/// `POST /settings/avatar`.
pub async fn avatar(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    upload(&state, &req, signed_in, payload, ImageTarget::Avatar).await
}

/// `POST /settings/cover`.
pub async fn cover(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    upload(&state, &req, signed_in, payload, ImageTarget::Cover).await
}

/// `POST /settings/images/{attribute}`.
pub async fn attribute(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, PageError> {
    upload(
        &state,
        &req,
        signed_in,
        payload,
        ImageTarget::Attribute(&path),
    )
    .await
}
