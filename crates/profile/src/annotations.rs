//! Annotations (SPEC §10, after App.net): typed metadata objects an app keeps on a user.
//!
//! A user has a list of `{"type", "value"}`. The type is a reverse-domain name the app owns
//! (`com.example.app.settings`), the value a JSON object of at most 8 KiB serialised, and a user
//! has at most 32. A write lists only the types it changes: a listed type is replaced (or added
//! at the end), a listed type without a value (or with `value: null`) is removed, and every other
//! annotation stays as it was — so two apps never overwrite each other's data by accident.
//!
//! Who may read and write them is one pair of levels in the schema document
//! (`"annotations": {"end_user", "bearer"}`, readwrite / readonly by default); third-party clients
//! never see them.

use serde_json::{Map, Value};

/// The most annotations one user may have.
pub const MAX_PER_USER: usize = 32;
/// The longest serialised value, in bytes.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;
/// The longest type, in characters.
pub const MAX_TYPE_CHARS: usize = 256;

/// `^[a-z0-9]+(\.[a-z0-9-]+)+$`, at most 256 characters.
pub fn is_valid_type(t: &str) -> bool {
    if t.is_empty() || t.len() > MAX_TYPE_CHARS {
        return false;
    }
    let mut parts = t.split('.');
    let first_ok = parts.next().is_some_and(|p| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    let mut rest = 0;
    let rest_ok = parts.all(|p| {
        rest += 1;
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    first_ok && rest_ok && rest > 0
}

/// The stored list: `{"type", "value"}` objects, in the order they were first added. Anything
/// else in the stored JSON (there should be nothing) is dropped rather than shown.
pub fn stored_list(stored: &Value) -> Vec<Value> {
    match stored {
        Value::Array(items) => items
            .iter()
            .filter(|a| {
                a.get("type").is_some_and(Value::is_string)
                    && a.get("value").is_some_and(Value::is_object)
            })
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

fn type_of(a: &Value) -> Option<&str> {
    a.get("type").and_then(Value::as_str)
}

/// Applies the annotations a write lists to the current ones: the new list, or every refusal as
/// `(JSON pointer, message)`. Nothing is applied unless all of it is acceptable.
pub fn apply(current: &[Value], listed: &Value) -> Result<Vec<Value>, Vec<(String, String)>> {
    let Some(items) = listed.as_array() else {
        return Err(vec![(
            "/annotations".into(),
            "must be an array of {\"type\", \"value\"} objects".into(),
        )]);
    };
    let mut errors = Vec::new();
    let mut next: Vec<Value> = current.to_vec();
    let mut seen: Vec<&str> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let pointer = format!("/annotations/{i}");
        let Some(obj) = item.as_object() else {
            errors.push((pointer, "must be an object with type and value".into()));
            continue;
        };
        if let Some(k) = obj.keys().find(|k| *k != "type" && *k != "value") {
            errors.push((
                format!("{pointer}/{k}"),
                "is not part of an annotation".into(),
            ));
            continue;
        }
        let kind = match obj.get("type") {
            Some(Value::String(t)) if is_valid_type(t) => t.as_str(),
            _ => {
                errors.push((
                    format!("{pointer}/type"),
                    "must be a reverse-domain name such as com.example.app (lower case, at most 256 characters)"
                        .into(),
                ));
                continue;
            }
        };
        if seen.contains(&kind) {
            errors.push((format!("{pointer}/type"), "is listed twice".into()));
            continue;
        }
        seen.push(kind);
        match obj.get("value") {
            None | Some(Value::Null) => next.retain(|a| type_of(a) != Some(kind)),
            Some(Value::Object(value)) => {
                let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
                if size > MAX_VALUE_BYTES {
                    errors.push((
                        format!("{pointer}/value"),
                        format!("must be at most {MAX_VALUE_BYTES} bytes as JSON (it is {size})"),
                    ));
                    continue;
                }
                let annotation = annotation(kind, value.clone());
                match next.iter_mut().find(|a| type_of(a) == Some(kind)) {
                    Some(existing) => *existing = annotation,
                    None => next.push(annotation),
                }
            }
            Some(_) => errors.push((
                format!("{pointer}/value"),
                "must be a JSON object (or null to remove the annotation)".into(),
            )),
        }
    }
    if errors.is_empty() && next.len() > MAX_PER_USER {
        errors.push((
            "/annotations".into(),
            format!(
                "a user may have at most {MAX_PER_USER} annotations (this would make {})",
                next.len()
            ),
        ));
    }
    if errors.is_empty() {
        Ok(next)
    } else {
        Err(errors)
    }
}

fn annotation(kind: &str, value: Map<String, Value>) -> Value {
    let mut a = Map::new();
    a.insert("type".into(), Value::String(kind.to_owned()));
    a.insert("value".into(), Value::Object(value));
    Value::Object(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_are_reverse_domain_names() {
        for ok in ["com.example", "net.app.core.user", "io.x-y.z9", "0.1"] {
            assert!(is_valid_type(ok), "{ok}");
        }
        for bad in [
            "",
            "com",
            "Com.example",
            "com..example",
            "com.example.",
            ".com.example",
            "-com.example",
            "com.exa_mple",
            "com.exämple",
            "com example.x",
        ] {
            assert!(!is_valid_type(bad), "{bad}");
        }
        let long = format!("com.{}", "a".repeat(252));
        assert!(is_valid_type(&long));
        assert!(!is_valid_type(&format!("{long}b")));
    }

    #[test]
    fn listed_types_are_replaced_added_or_removed_and_others_kept() {
        let current = vec![
            json!({"type": "com.a", "value": {"n": 1}}),
            json!({"type": "com.b", "value": {"n": 2}}),
            json!({"type": "com.c", "value": {"n": 3}}),
        ];
        let next = apply(
            &current,
            &json!([
                {"type": "com.b", "value": {"n": 20}},
                {"type": "com.c", "value": null},
                {"type": "com.a"},
                {"type": "com.d", "value": {"deep": {"x": [1, 2]}}},
            ]),
        )
        .expect("applied");
        assert_eq!(
            next,
            vec![
                json!({"type": "com.b", "value": {"n": 20}}),
                json!({"type": "com.d", "value": {"deep": {"x": [1, 2]}}}),
            ]
        );
        assert_eq!(apply(&current, &json!([])).expect("nothing"), current);
    }

    #[test]
    fn bad_annotations_are_refused_with_pointers_and_nothing_applies() {
        let errs = apply(
            &[],
            &json!([
                {"type": "com.ok", "value": {"fine": true}},
                {"type": "Not A Type", "value": {}},
                {"type": "com.ok", "value": {}},
                {"type": "com.v", "value": "text"},
                {"type": "com.w", "value": {"big": "x".repeat(MAX_VALUE_BYTES)}},
                {"type": "com.x", "value": {}, "extra": 1},
                "nope",
            ]),
        )
        .expect_err("refused");
        let pointers: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/annotations/1/type",
                "/annotations/2/type",
                "/annotations/3/value",
                "/annotations/4/value",
                "/annotations/5/extra",
                "/annotations/6",
            ]
        );
        assert!(apply(&[], &json!({"type": "com.a"})).is_err());
    }

    #[test]
    fn at_most_32_per_user() {
        let full: Vec<Value> = (0..MAX_PER_USER)
            .map(|i| json!({"type": format!("com.t{i}"), "value": {}}))
            .collect();
        let errs = apply(&full, &json!([{"type": "com.one-more", "value": {}}])).expect_err("full");
        assert_eq!(errs[0].0, "/annotations");
        // Replacing one of them is fine, and so is removing one to make room.
        assert!(apply(&full, &json!([{"type": "com.t3", "value": {"x": 1}}])).is_ok());
        assert_eq!(
            apply(
                &full,
                &json!([{"type": "com.t3"}, {"type": "com.one-more", "value": {}}])
            )
            .expect("room")
            .len(),
            MAX_PER_USER
        );
    }

    #[test]
    fn a_value_of_exactly_8_kib_is_accepted() {
        // {"s":"…"} is 8 bytes of framing.
        let v = json!({"s": "x".repeat(MAX_VALUE_BYTES - 8)});
        assert_eq!(
            serde_json::to_vec(&v).map(|b| b.len()).ok(),
            Some(MAX_VALUE_BYTES)
        );
        assert!(apply(&[], &json!([{"type": "com.a", "value": v}])).is_ok());
    }

    #[test]
    fn stored_junk_is_not_shown() {
        assert_eq!(
            stored_list(&json!([{"type": "com.a", "value": {}}, {"type": 3}, "x"])),
            vec![json!({"type": "com.a", "value": {}})]
        );
        assert!(stored_list(&json!(null)).is_empty());
    }
}
