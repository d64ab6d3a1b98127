//! Reading JSON request bodies field by field: every refusal is a 422 problem naming the field
//! by its JSON pointer (SPEC §6).

use actix_web::http::StatusCode;
use http_kit::Problem;
use serde_json::{Map, Value};

/// A 422 naming the offending field.
pub(crate) fn invalid(pointer: &str, message: impl Into<String>) -> Problem {
    let message = message.into();
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Unprocessable Content",
        message.clone(),
    )
    .with_errors(vec![(pointer.to_owned(), message)])
}

/// The body as a JSON object.
pub(crate) fn object(body: &Value) -> Result<&Map<String, Value>, Problem> {
    body.as_object()
        .ok_or_else(|| invalid("", "the body must be a JSON object"))
}

/// The body as a JSON object holding no field but `keys`.
pub(crate) fn object_of<'a>(
    body: &'a Value,
    keys: &[&str],
) -> Result<&'a Map<String, Value>, Problem> {
    let o = object(body)?;
    match o.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(invalid(&format!("/{k}"), "unknown field")),
        None => Ok(o),
    }
}

/// A string field: absent → `None`, `null` → `Some(None)`.
pub(crate) fn nullable_text<'a>(
    o: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<Option<&'a str>>, Problem> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.as_str()))),
        Some(_) => Err(invalid(&format!("/{key}"), "must be a string or null")),
    }
}

/// A string field, absent or `null` → `None`.
pub(crate) fn text<'a>(o: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Problem> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(invalid(&format!("/{key}"), "must be a string")),
    }
}

/// A list of strings, absent or `null` → empty.
pub(crate) fn strings(o: &Map<String, Value>, key: &str) -> Result<Vec<String>, Problem> {
    let refuse = || invalid(&format!("/{key}"), "must be a list of strings");
    match o.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(refuse),
        Some(_) => Err(refuse()),
    }
}

/// A boolean field, absent or `null` → `None`.
pub(crate) fn boolean(o: &Map<String, Value>, key: &str) -> Result<Option<bool>, Problem> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(&format!("/{key}"), "must be true or false")),
    }
}
