//! What every list of the Admin API shares: `limit` and `cursor` parameters, and the
//! `{"items": […], "next_cursor": …}` answer. A cursor is the id of the last item of the previous
//! page.

use actix_web::http::StatusCode;
use http_kit::Problem;
use profile::Uuid;
use serde_json::{Value, json};

pub const DEFAULT_LIMIT: u64 = 50;

/// The `limit` and `cursor` query parameters of a list.
#[derive(Debug, serde::Deserialize)]
pub struct Page {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}
pub const MAX_LIMIT: u64 = 200;

/// A 400 naming the offending parameter.
pub fn bad(pointer: &str, message: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "Bad Request", message.to_owned())
        .with_errors(vec![(pointer.to_owned(), message.to_owned())])
}

/// The page size asked for (`limit`), 1 to 200, 50 when absent.
pub fn limit(raw: Option<&str>) -> Result<u64, Problem> {
    match raw {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(l) => match l.parse::<u64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(bad("/limit", "limit must be between 1 and 200")),
        },
    }
}

/// The position after which the page starts (`cursor`).
pub fn cursor(raw: Option<&str>) -> Result<Option<Uuid>, Problem> {
    match raw {
        None | Some("") => Ok(None),
        Some(c) => Uuid::parse_str(c)
            .map(Some)
            .map_err(|_| bad("/cursor", "the cursor is not valid")),
    }
}

/// Cuts `items` (fetched with one more than `limit`) to a page and its answer.
pub fn page<T, Id: std::fmt::Display>(
    mut items: Vec<T>,
    limit: u64,
    id: impl Fn(&T) -> Id,
    render: impl Fn(&T) -> Value,
) -> Value {
    let more = items.len() as u64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        items.last().map(|i| id(i).to_string())
    } else {
        None
    };
    json!({
        "items": items.iter().map(render).collect::<Vec<_>>(),
        "next_cursor": next,
    })
}
