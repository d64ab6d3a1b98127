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
