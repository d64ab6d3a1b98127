//! RFC 9457 problem details (`application/problem+json`) for the JSON APIs.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use serde_json::{Value, json};

/// A problem: `type`, `title`, `status`, `detail` and, for validation, `errors`
/// (`[{pointer, message}]`). Bearer problems carry an RFC 6750 challenge.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<(String, String)>,
    pub bearer_error: Option<&'static str>,
}

impl Problem {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            bearer_error: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<(String, String)>) -> Self {
        self.errors = errors;
        self
    }

    /// 401 or 403 for a bearer API.
    pub fn bearer(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        let title = if status == StatusCode::UNAUTHORIZED {
            "Unauthorized"
        } else {
            "Forbidden"
        };
        Self {
            bearer_error: Some(error),
            ..Self::new(status, title, detail)
        }
    }

    /// A server-side failure; the cause is logged, not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            "the request could not be completed",
        )
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.title,
            self.detail
        )
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if !self.errors.is_empty() {
            body["errors"] = Value::Array(
                self.errors
                    .iter()
                    .map(|(pointer, message)| json!({ "pointer": pointer, "message": message }))
                    .collect(),
            );
        }
        let mut resp = HttpResponseBuilder::new(self.status)
            .content_type("application/problem+json")
            .insert_header(("Cache-Control", "no-store"))
            .body(body.to_string());
        if let Some(error) = self.bearer_error
            && let Ok(v) =
                HeaderValue::from_str(&format!("Bearer realm=\"tessera\", error=\"{error}\""))
        {
            resp.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        resp
    }
}

/// Whether `path` belongs to a JSON API (whose every error is problem+json).
fn is_api_path(path: &str) -> bool {
    path.starts_with("/admin/api/") || path.starts_with("/api/")
}

fn generic_detail(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "the request is malformed (check the query parameters and the body)",
        404 => "there is no such resource",
        405 => "this method is not allowed here",
        413 => "the body is too large",
        415 => "the content type is not supported here",
        s if s >= 500 => "the request could not be completed",
        _ => "the request was refused",
    }
}

/// Error answers of the JSON APIs that did not come from a handler (an extractor refusing a query
/// string, a body over the size limit, an unknown route) become problem+json too; pages keep
/// theirs. For `actix_web::middleware::ErrorHandlers::default_handler`.
pub fn api_errors_as_problems<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::middleware::ErrorHandlerResponse;
    let already = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/problem+json") || v.starts_with("application/json")
        });
    if already || !is_api_path(res.request().path()) {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let problem = Problem::new(
        status,
        status.canonical_reason().unwrap_or("Error"),
        generic_detail(status),
    );
    let (req, _) = res.into_parts();
    let res = actix_web::dev::ServiceResponse::new(req, problem.error_response());
    Ok(ErrorHandlerResponse::Response(res.map_into_right_body()))
}
