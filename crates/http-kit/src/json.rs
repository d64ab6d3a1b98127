//! JSON bodies of the APIs: parsing with the content-type check and the NUL refusal, and
//! answers that are never cached.

use crate::problem::Problem;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

/// A JSON answer of an API, never cached.
pub fn json_no_store(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    HttpResponseBuilder::new(status)
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-store"))
        .body(body.to_string())
}

/// Whether the request asks for the user's annotations: `include_annotations=1`, or App.net's
/// `include_user_annotations=1` (`true` works too).
pub fn wants_annotations(req: &HttpRequest) -> bool {
    req.query_string().split('&').any(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        matches!(key, "include_annotations" | "include_user_annotations")
            && matches!(value, "1" | "true")
    })
}

/// Parses a JSON body (`application/json` or `application/merge-patch+json`).
pub fn parse_json_body(req: &HttpRequest, body: &[u8]) -> Result<serde_json::Value, Problem> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if content_type != "application/json" && content_type != "application/merge-patch+json" {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "send application/json or application/merge-patch+json",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    if let Some(pointer) = nul_at(&value, String::new()) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Content",
            "text may not contain NUL characters",
        )
        .with_errors(vec![(pointer, "contains a NUL character".into())]));
    }
    Ok(value)
}

/// The JSON pointer of the first string (or key) holding a NUL, which nothing may store.
fn nul_at(value: &serde_json::Value, at: String) -> Option<String> {
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Some(at),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_at(v, format!("{at}/{i}"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            if k.contains('\0') {
                Some(here)
            } else {
                nul_at(v, here)
            }
        }),
        _ => None,
    }
}
