//! Copying an upstream provider's claims into a profile. The claims go through the same checks
//! as any admin write ([`document::apply`] with [`Party::Admin`]), but leniently: a value that
//! fails its check is dropped (and reported), never the whole population.

use crate::access::Party;
use crate::document::{self, Audience, Change, LoginId, ProfileError, StoredValues};
use crate::schema::ProfileSchema;
use serde_json::{Map, Value};

/// The standard attributes an upstream provider fills: every standard claim except the
/// identity-coupled ones (`email`, `phone_number`, `preferred_username`), which become login IDs
/// instead.
pub const POPULATED_ATTRIBUTES: [&str; 13] = [
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "address",
];

/// The outcome of a population.
#[derive(Debug, Clone, PartialEq)]
pub struct Populated {
    pub values: StoredValues,
    /// Attributes that changed.
    pub changed: Vec<String>,
    /// Claims that were dropped: (JSON pointer, why).
    pub dropped: Vec<(String, String)>,
}

/// The claims of `claims` that populate a profile, as a merge patch (absent and `null` claims are
/// left out: they never clear a value).
pub fn patch_from_claims(claims: &Map<String, Value>) -> Map<String, Value> {
    POPULATED_ATTRIBUTES
        .iter()
        .filter_map(|name| {
            claims
                .get(*name)
                .filter(|v| !v.is_null())
                .map(|v| ((*name).to_owned(), v.clone()))
        })
        .collect()
}

/// Removes what `pointer` names from `patch`: a top-level claim or a part of `address`.
fn remove_pointer(patch: &mut Map<String, Value>, pointer: &str) -> bool {
    let mut parts = pointer.trim_start_matches('/').splitn(2, '/');
    let top = parts.next().unwrap_or_default();
    match parts.next() {
        Some(sub) if top == "address" => {
            let Some(Value::Object(address)) = patch.get_mut("address") else {
                return patch.remove(top).is_some();
            };
            let removed = address.remove(sub).is_some();
            if address.is_empty() {
                patch.remove("address");
            }
            removed || patch.remove(top).is_some()
        }
        _ => patch.remove(top).is_some(),
    }
}

/// Applies the claims to `current`, dropping each value that fails its check.
pub fn populate(
    schema: &ProfileSchema,
    current: &StoredValues,
    login_ids: &[LoginId],
    claims: &Map<String, Value>,
) -> Populated {
    let mut patch = patch_from_claims(claims);
    let mut dropped = Vec::new();
    // Each round drops at least one claim, so this ends.
    for _ in 0..=POPULATED_ATTRIBUTES.len() + 8 {
        match document::apply(
            schema,
            current,
            login_ids,
            Audience::Party(Party::Admin),
            Change::Patch(&Value::Object(patch.clone())),
        ) {
            Ok(applied) => {
                return Populated {
                    values: applied.values,
                    changed: applied.changed,
                    dropped,
                };
            }
            Err(ProfileError::Invalid(errors)) => {
                let mut progress = false;
                for (pointer, message) in errors {
                    progress |= remove_pointer(&mut patch, &pointer);
                    dropped.push((pointer, message));
                }
                if !progress {
                    break;
                }
            }
            Err(ProfileError::Forbidden { attribute }) => {
                if patch.remove(&attribute).is_none() {
                    break;
                }
                dropped.push((format!("/{attribute}"), "may not be written".into()));
            }
        }
    }
    Populated {
        values: current.clone(),
        changed: Vec::new(),
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_claims_are_dropped_and_valid_ones_normalised() {
        let schema = ProfileSchema::default();
        let claims = json!({
            "sub": "x",
            "given_name": "  Ann ",
            "zoneinfo": "Mars/Olympus",
            "locale": "en-us",
            "birthdate": "yesterday",
            "picture": "javascript:alert(1)",
            "website": "https://ann.example",
            "address": {"locality": "Paris", "planet": "Earth"},
            "email": "ann@example.com",
            "nickname": null,
        });
        let out = populate(
            &schema,
            &StoredValues::default(),
            &[],
            claims.as_object().expect("object"),
        );
        let s = &out.values.standard;
        assert_eq!(s.get("given_name"), Some(&json!("Ann")));
        assert_eq!(s.get("locale"), Some(&json!("en-US")));
        assert_eq!(s.get("website"), Some(&json!("https://ann.example")));
        assert_eq!(s.get("address"), Some(&json!({"locality": "Paris"})));
        for gone in ["zoneinfo", "birthdate", "picture", "email", "nickname"] {
            assert!(s.get(gone).is_none(), "{gone} was kept");
        }
        let pointers: Vec<&str> = out.dropped.iter().map(|(p, _)| p.as_str()).collect();
        for p in ["/zoneinfo", "/birthdate", "/picture", "/address/planet"] {
            assert!(pointers.contains(&p), "{p} not reported in {pointers:?}");
        }
    }
}
