//! Rendering templates into responses, and the error page.

use crate::csrf::Csrf;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use askama::Template;

/// A 303 to a page of this site, never cached.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .insert_header(("Cache-Control", "no-store"))
        .finish()
}

/// Renders `page` with `status` for the request's tenant (its display name is the template
/// value `site_name`, read by `base.html`); sets the CSRF cookie when the browser needs one.
pub fn page<T: Template>(
    status: StatusCode,
    page: &T,
    csrf: Option<&Csrf>,
    state: &crate::WebState,
) -> HttpResponse {
    render_page(
        status,
        page,
        csrf,
        state.secure_cookies,
        Some(&state.tenant.name),
    )
}

/// [`page`] without a request's state (the error page: the generic name).
fn render_page<T: Template>(
    status: StatusCode,
    page: &T,
    csrf: Option<&Csrf>,
    secure: bool,
    site_name: Option<&str>,
) -> HttpResponse {
    let mut values: std::collections::HashMap<&str, Box<dyn std::any::Any>> =
        std::collections::HashMap::with_capacity(1);
    if let Some(name) = site_name {
        values.insert("site_name", Box::new(name.to_owned()));
    }
    match page.render_with_values(&values) {
        Ok(html) => {
            let mut builder = HttpResponseBuilder::new(status);
            builder
                .content_type("text/html; charset=utf-8")
                .insert_header(("Cache-Control", "no-store"));
            if let Some(cookie) = csrf.and_then(|c| c.cookie(secure)) {
                builder.cookie(cookie);
            }
            builder.body(html)
        }
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("Internal error")
        }
    }
}

/// Adds `Retry-After` (whole seconds) to a 429 answer.
pub fn with_retry_after(mut resp: HttpResponse, seconds: i64) -> HttpResponse {
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&seconds.to_string()) {
        resp.headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, v);
    }
    resp
}

/// "1 minute", "3 minutes": a wait in seconds, rounded up, for a sentence.
pub fn minutes(seconds: i64) -> String {
    let minutes = (seconds + 59) / 60;
    format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    back_href: &'a str,
    back_label: &'a str,
}

/// An error shown to a person as a page.
#[derive(Debug)]
pub enum PageError {
    /// The form's CSRF token is missing or wrong (an expired form, or a forged post).
    Csrf,
    /// Something on the server failed; details go to the log only.
    Internal(String),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::Csrf => f.write_str("invalid or missing CSRF token"),
            PageError::Internal(e) => write!(f, "internal error: {e}"),
        }
    }
}

impl<E: std::error::Error> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError::Internal(e.to_string())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let tpl = match self {
            PageError::Csrf => ErrorPage {
                title: "This form has expired",
                message: "For your security the form could not be accepted. Go back, reload the page and try again.",
                back_href: "/",
                back_label: "Start again",
            },
            PageError::Internal(e) => {
                tracing::error!(error = %e, "page failed");
                ErrorPage {
                    title: "Something went wrong",
                    message: "The server could not complete your request. Please try again in a moment.",
                    back_href: "/",
                    back_label: "Back to the start",
                }
            }
        };
        render_page(self.status_code(), &tpl, None, false, None)
    }
}
