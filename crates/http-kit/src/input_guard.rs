//! Refuses NUL characters anywhere in a request's path, query string or form body before any
//! handler sees them. No value Tessera stores may contain one (PostgreSQL text cannot hold it),
//! and no legitimate client sends one; refusing them here means no lookup or write deeper down
//! can fail on one. JSON bodies are checked where they are parsed
//! ([`crate::json::parse_json_body`]).
//!
//! The refusal speaks the language of the endpoint: RFC 6749 JSON on `/oauth2/`, problem+json on
//! the APIs, a short text otherwise.

use crate::problem::Problem;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::Next;
use actix_web::web::BytesMut;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError};
use futures_util::StreamExt;

/// The largest form body inspected (forms are limited to 64 KiB elsewhere; anything longer is
/// refused there).
const MAX_FORM: usize = 64 * 1024;

/// Whether `raw` (a percent-encoded path, query or form body) carries a NUL.
fn has_nul(raw: &[u8]) -> bool {
    raw.contains(&0)
        || raw
            .windows(3)
            .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// A refusal in the endpoint's own error format.
fn refusal(path: &str, status: StatusCode, message: &str) -> HttpResponse {
    if path.starts_with("/oauth2/") {
        HttpResponse::build(status)
            .content_type("application/json")
            .insert_header(("Cache-Control", "no-store"))
            .body(
                serde_json::json!({ "error": "invalid_request", "error_description": message })
                    .to_string(),
            )
    } else if path.starts_with("/api/") || path.starts_with("/admin/api/") {
        Problem::new(
            status,
            status.canonical_reason().unwrap_or("Bad Request"),
            message,
        )
        .error_response()
    } else {
        HttpResponse::build(status)
            .content_type("text/plain; charset=utf-8")
            .body(format!("The {message}."))
    }
}

const NUL: &str = "request contains a NUL character";

/// The middleware (for `actix_web::middleware::from_fn`).
pub async fn refuse_nul(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let target = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("");
    if has_nul(target.as_bytes()) {
        let path = req.path().to_owned();
        return Ok(req.into_response(refusal(&path, StatusCode::BAD_REQUEST, NUL)));
    }
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if is_form {
        let mut payload = req.take_payload();
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > MAX_FORM {
                let path = req.path().to_owned();
                let too_large = "request body is too large";
                return Ok(req.into_response(refusal(
                    &path,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    too_large,
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if has_nul(&body) {
            let path = req.path().to_owned();
            return Ok(req.into_response(refusal(&path, StatusCode::BAD_REQUEST, NUL)));
        }
        req.set_payload(actix_web::dev::Payload::from(body.freeze()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::has_nul;

    #[test]
    fn nul_in_any_spelling_is_found() {
        assert!(has_nul(b"/clients/%00"));
        assert!(has_nul(b"a=b&c=%00d"));
        assert!(has_nul(b"raw\0byte"));
        assert!(!has_nul(b"/users?q=100%25"));
        assert!(!has_nul(b"a=%2000"));
    }
}
