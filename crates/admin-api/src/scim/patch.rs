//! SCIM PATCH (RFC 7644 §3.5.2) on a resource's JSON: `add`, `replace` and `remove`, with or
//! without a path; paths may name a sub-attribute (`name.givenName`), an extension
//! (`urn:…:User:department`, or the bare extension URN), or select values of a multi-valued
//! attribute (`members[value eq "…"]`, `emails[value co "@x"].value`). The patched resource is
//! then written like a PUT, through the same use cases, so PATCH adds no rule of its own.

use super::ScimError;
use super::filter::{self, AttrPath, CompValue, CompareOp, Filter};
use serde_json::{Map, Value};

/// The most operations one request may carry.
pub const MAX_OPERATIONS: usize = 100;

fn invalid_path(m: impl Into<String>) -> ScimError {
    ScimError::bad("invalidPath", m)
}

fn invalid_value(m: impl Into<String>) -> ScimError {
    ScimError::bad("invalidValue", m)
}

/// The key of `obj` that is `name` without regard to case.
fn key_of(obj: &Map<String, Value>, name: &str) -> Option<String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// Where a path points: the object holding the attribute (top level, or an extension's), and the
/// attribute's name in it.
fn container<'a>(
    resource: &'a mut Map<String, Value>,
    core_schema: &str,
    path: &AttrPath,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, ScimError> {
    match &path.schema {
        None => Ok(Some(resource)),
        Some(s) if s.eq_ignore_ascii_case(core_schema) => Ok(Some(resource)),
        Some(s) => {
            let key = key_of(resource, s);
            let key = match key {
                Some(k) => k,
                None if create => {
                    resource.insert(s.clone(), Value::Object(Map::new()));
                    s.clone()
                }
                None => return Ok(None),
            };
            match resource.get_mut(&key) {
                Some(Value::Object(o)) => Ok(Some(o)),
                _ => Err(invalid_path(format!("{s} is not an extension object"))),
            }
        }
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether one value of a multi-valued attribute matches a value filter.
pub fn matches(value: &Value, f: &Filter) -> bool {
    match f {
        Filter::And(a, b) => matches(value, a) && matches(value, b),
        Filter::Or(a, b) => matches(value, a) || matches(value, b),
        Filter::Not(a) => !matches(value, a),
        Filter::ValuePath { .. } => false,
        Filter::Present(p) => field(value, p).is_some_and(|v| !v.is_null()),
        Filter::Compare {
            path,
            op,
            value: want,
        } => {
            let Some(have) = field(value, path) else {
                return *op == CompareOp::Ne;
            };
            let (have, want) = match (text_of(have), want) {
                (Some(h), CompValue::Str(w)) => (h.to_lowercase(), w.to_lowercase()),
                (Some(h), CompValue::Bool(b)) => (h, b.to_string()),
                (Some(h), CompValue::Num(n)) => (h, n.to_string()),
                (_, CompValue::Null) => return (*op == CompareOp::Eq) == have.is_null(),
                _ => return false,
            };
            match op {
                CompareOp::Eq => have == want,
                CompareOp::Ne => have != want,
                CompareOp::Co => have.contains(&want),
                CompareOp::Sw => have.starts_with(&want),
                CompareOp::Ew => have.ends_with(&want),
                CompareOp::Gt => have > want,
                CompareOp::Ge => have >= want,
                CompareOp::Lt => have < want,
                CompareOp::Le => have <= want,
            }
        }
    }
}

fn field<'a>(value: &'a Value, p: &AttrPath) -> Option<&'a Value> {
    // Inside a value filter, `value` names the element's own `value` (or the element itself when
    // it is a plain value).
    let obj = match value {
        Value::Object(o) => o,
        other if p.is("value", None) => return Some(other),
        _ => return None,
    };
    let v = obj.get(&key_of(obj, &p.name)?)?;
    match &p.sub {
        None => Some(v),
        Some(sub) => v.as_object().and_then(|o| o.get(&key_of(o, sub)?)),
    }
}

fn strip_schemas(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut o = o.clone();
            if let Some(k) = key_of(&o, "schemas") {
                o.remove(&k);
            }
            Value::Object(o)
        }
        other => other.clone(),
    }
}

/// `add` of `value` at attribute `name` of `obj`: arrays gain new values, objects merge, other
/// attributes are set.
fn add_at(obj: &mut Map<String, Value>, name: &str, value: Value) {
    let key = key_of(obj, name).unwrap_or_else(|| name.to_owned());
    match (obj.get_mut(&key), value) {
        (Some(Value::Array(have)), Value::Array(new)) => {
            for v in new {
                if !have.contains(&v) {
                    have.push(v);
                }
            }
        }
        (Some(Value::Object(have)), Value::Object(new)) => {
            for (k, v) in new {
                let k2 = key_of(have, &k).unwrap_or(k);
                have.insert(k2, v);
            }
        }
        (_, value) => {
            obj.insert(key, value);
        }
    }
}

/// Applies one operation.
fn apply_one(
    resource: &mut Map<String, Value>,
    core_schema: &str,
    extensions: &[&str],
    op: &str,
    path: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(path) = path.map(str::trim).filter(|p| !p.is_empty()) else {
        // No path: the value is an object of attributes (extension URNs as keys).
        let Some(Value::Object(attrs)) = value else {
            return Err(invalid_value(
                "an operation without a path needs an object value",
            ));
        };
        if op == "remove" {
            return Err(ScimError::bad("noTarget", "remove needs a path"));
        }
        for (k, v) in attrs {
            if k.eq_ignore_ascii_case("schemas") {
                continue;
            }
            if extensions.iter().any(|e| e.eq_ignore_ascii_case(k)) {
                apply_one(resource, core_schema, extensions, op, Some(k), Some(v))?;
            } else if op == "add" {
                add_at(resource, k, v.clone());
            } else {
                let key = key_of(resource, k).unwrap_or_else(|| k.clone());
                resource.insert(key, v.clone());
            }
        }
        return Ok(());
    };
    // The bare extension URN: the whole extension object.
    if let Some(ext) = extensions.iter().find(|e| e.eq_ignore_ascii_case(path)) {
        let ext = (*ext).to_owned();
        match op {
            "remove" => {
                if let Some(k) = key_of(resource, &ext) {
                    resource.remove(&k);
                }
            }
            _ => {
                let Some(v @ Value::Object(_)) = value.map(strip_schemas) else {
                    return Err(invalid_value("an extension's value is an object"));
                };
                if op == "add" {
                    add_at(resource, &ext, v);
                } else {
                    let k = key_of(resource, &ext).unwrap_or(ext);
                    resource.insert(k, v);
                }
            }
        }
        return Ok(());
    }
    let parsed = filter::parse_path(path).map_err(|e| invalid_path(e.0))?;
    let create = op != "remove";
    let Some(obj) = container(resource, core_schema, &parsed.attr, create)? else {
        return Ok(()); // removing from an absent extension: nothing to do
    };
    let name = parsed.attr.name.clone();
    match (&parsed.filter, &parsed.attr.sub) {
        (None, None) => match op {
            "remove" => {
                if let Some(k) = key_of(obj, &name) {
                    obj.remove(&k);
                }
            }
            "add" => add_at(obj, &name, value.cloned().unwrap_or(Value::Null)),
            _ => {
                let k = key_of(obj, &name).unwrap_or(name);
                obj.insert(k, value.cloned().unwrap_or(Value::Null));
            }
        },
        (None, Some(sub)) => {
            // `name.givenName`: inside a complex attribute.
            let k = key_of(obj, &name).unwrap_or(name);
            let inner = obj.entry(k).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(inner) = inner else {
                return Err(invalid_path(format!("{path} is not a complex attribute")));
            };
            let sk = key_of(inner, sub).unwrap_or_else(|| sub.clone());
            match op {
                "remove" => {
                    inner.remove(&sk);
                }
                _ => {
                    inner.insert(sk, value.cloned().unwrap_or(Value::Null));
                }
            }
        }
        (Some(f), _) => {
            let Some(k) = key_of(obj, &name) else {
                return match op {
                    "remove" => Ok(()),
                    _ => Err(ScimError::bad(
                        "noTarget",
                        format!("{path} matches no value"),
                    )),
                };
            };
            let Some(Value::Array(items)) = obj.get_mut(&k) else {
                return Err(invalid_path(format!("{name} is not multi-valued")));
            };
            let any = items.iter().any(|i| matches(i, f));
            match (op, &parsed.sub) {
                ("remove", None) => items.retain(|i| !matches(i, f)),
                ("remove", Some(sub)) => {
                    for i in items.iter_mut().filter(|i| matches(i, f)) {
                        if let Value::Object(o) = i
                            && let Some(sk) = key_of(o, sub)
                        {
                            o.remove(&sk);
                        }
                    }
                }
                (_, _) if !any => {
                    return Err(ScimError::bad(
                        "noTarget",
                        format!("{path} matches no value"),
                    ));
                }
                (_, None) => {
                    let v = value.cloned().unwrap_or(Value::Null);
                    for i in items.iter_mut().filter(|i| matches(i, f)) {
                        match (i, &v) {
                            (Value::Object(o), Value::Object(new)) => {
                                for (nk, nv) in new {
                                    o.insert(nk.clone(), nv.clone());
                                }
                            }
                            (i, v) => *i = v.clone(),
                        }
                    }
                }
                (_, Some(sub)) => {
                    let v = value.cloned().unwrap_or(Value::Null);
                    for i in items.iter_mut().filter(|i| matches(i, f)) {
                        if let Value::Object(o) = i {
                            let sk = key_of(o, sub).unwrap_or_else(|| sub.clone());
                            o.insert(sk, v.clone());
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Applies a PatchOp request body to `resource` (the resource as served).
pub fn apply(
    resource: &Value,
    body: &Value,
    core_schema: &str,
    extensions: &[&str],
) -> Result<Value, ScimError> {
    let schemas_ok = body["schemas"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s == super::PATCH_OP));
    if !schemas_ok {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("a PATCH body has schemas [\"{}\"]", super::PATCH_OP),
        ));
    }
    let Some(ops) = body
        .get("Operations")
        .or_else(|| body.get("operations"))
        .and_then(Value::as_array)
    else {
        return Err(ScimError::bad("invalidSyntax", "Operations is required"));
    };
    if ops.is_empty() || ops.len() > MAX_OPERATIONS {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("1 to {MAX_OPERATIONS} operations"),
        ));
    }
    let Value::Object(mut out) = resource.clone() else {
        return Err(ScimError::internal("a resource is not an object"));
    };
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .filter(|o| matches!(o.as_str(), "add" | "replace" | "remove"))
            .ok_or_else(|| ScimError::bad("invalidSyntax", "op is add, replace or remove"))?;
        let path = match op.get("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(p.as_str()),
            Some(_) => return Err(invalid_path("path must be a string")),
        };
        let value = op.get("value");
        if kind != "remove" && value.is_none() {
            return Err(invalid_value(format!("{kind} needs a value")));
        }
        apply_one(&mut out, core_schema, extensions, &kind, path, value)?;
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EXT: &str = "urn:tessera:params:scim:schemas:extension:profile:2.0:User";

    fn run(resource: Value, ops: Value) -> Result<Value, ScimError> {
        apply(
            &resource,
            &json!({ "schemas": [super::super::PATCH_OP], "Operations": ops }),
            super::super::USER_SCHEMA,
            &[EXT],
        )
    }

    #[test]
    fn add_replace_remove_with_and_without_paths() {
        let user = json!({ "userName": "ann", "name": { "givenName": "Ann" }, "emails": [{ "value": "a@x.example" }] });
        let out = run(
            user.clone(),
            json!([
                { "op": "replace", "path": "name.familyName", "value": "Lee" },
                { "op": "add", "path": "emails", "value": [{ "value": "b@x.example" }] },
                { "op": "Replace", "value": { "displayName": "Ann Lee", "active": false } },
                { "op": "add", "path": EXT.to_owned() + ":department", "value": "R&D" },
                { "op": "remove", "path": "emails[value eq \"A@X.example\"]" },
            ]),
        )
        .expect("patched");
        assert_eq!(
            out["name"],
            json!({ "givenName": "Ann", "familyName": "Lee" })
        );
        assert_eq!(out["emails"], json!([{ "value": "b@x.example" }]));
        assert_eq!(out["displayName"], "Ann Lee");
        assert_eq!(out["active"], false);
        assert_eq!(out[EXT]["department"], "R&D");

        // The whole extension, with the schemas key a client may put in it.
        let out = run(
            out,
            json!([{ "op": "replace", "path": EXT, "value": { "schemas": [EXT], "team": "red" } }]),
        )
        .expect("ext");
        assert_eq!(out[EXT], json!({ "team": "red" }));
        let out = run(out, json!([{ "op": "remove", "path": EXT }])).expect("remove ext");
        assert!(out.get(EXT).is_none());
        // Removing what is absent is no error.
        let out = run(
            out,
            json!([{ "op": "remove", "path": format!("{EXT}:team") }]),
        )
        .expect("noop");
        let out = run(out, json!([{ "op": "remove", "path": "nickName" }])).expect("noop");
        assert_eq!(out["userName"], "ann");
    }

    #[test]
    fn members_by_value_path() {
        let group =
            json!({ "displayName": "g", "members": [{ "value": "u1" }, { "value": "u2" }] });
        let out = run(
            group.clone(),
            json!([{ "op": "remove", "path": "members[value eq \"u1\"]" }]),
        )
        .expect("removed");
        assert_eq!(out["members"], json!([{ "value": "u2" }]));
        let out = run(
            group,
            json!([{ "op": "add", "path": "members", "value": [{ "value": "u3" }, { "value": "u1" }] }]),
        )
        .expect("added");
        assert_eq!(
            out["members"].as_array().map(Vec::len),
            Some(3),
            "u1 not twice"
        );
    }

    #[test]
    fn bad_patches_are_refused() {
        let user = json!({ "userName": "ann" });
        for ops in [
            json!([]),
            json!([{ "op": "move", "path": "userName", "value": "x" }]),
            json!([{ "op": "add", "path": "userName" }]),
            json!([{ "op": "remove" }]),
            json!([{ "op": "replace", "value": "not an object" }]),
            json!([{ "op": "replace", "path": "emails[value eq", "value": "x" }]),
            json!([{ "op": "replace", "path": "emails[value eq \"x\"]", "value": "y" }]),
            json!([{ "op": "add", "path": 5, "value": "y" }]),
        ] {
            assert!(run(user.clone(), ops.clone()).is_err(), "{ops}");
        }
        assert!(
            apply(
                &user,
                &json!({ "Operations": [] }),
                super::super::USER_SCHEMA,
                &[EXT]
            )
            .is_err(),
            "schemas are required"
        );
    }
}
