//! Hostile input against every route of the Admin API, generated from its OpenAPI document:
//! malformed and oversized bodies, wrong types for every documented property, wrong content
//! types, junk and unicode in path parameters, bad pagination parameters and cursors. No answer
//! may be a 5xx, every refusal is problem+json, and nothing stored changes.

mod common;

use common::admin::{admin_key, call};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// A request to send: path and query, body (content type and bytes), whether it must be refused.
type Probe = (String, Option<(String, Vec<u8>)>, bool);

/// Everything the Admin API can show, to compare before and after.
async fn snapshot(server: &TestServer, key: &str, user: &str) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "/users?limit=200".to_owned(),
        "/clients?limit=200".to_owned(),
        "/profile-schema".to_owned(),
        "/events?limit=200".to_owned(),
        format!("/users/{user}"),
        format!("/users/{user}/sessions"),
        format!("/users/{user}/identities"),
    ] {
        let (status, body, _) = call(server, Some(key), Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}");
        out.insert(path, body);
    }
    let (_, mut keys, _) = call(server, Some(key), Method::GET, "/admin-keys", None).await;
    for k in keys["items"].as_array_mut().into_iter().flatten() {
        k["last_used_at"] = Value::Null;
    }
    out.insert("keys".into(), keys);
    Value::Object(out)
}

/// The JSON types a documented schema (or its `$ref`) accepts.
fn types_of(doc: &Value, schema: &Value) -> Vec<String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = doc
            .pointer(r.trim_start_matches('#'))
            .cloned()
            .unwrap_or(Value::Null);
        return types_of(doc, &target);
    }
    if let Some(any) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        return any.iter().flat_map(|s| types_of(doc, s)).collect();
    }
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => vec!["object".into()],
    }
}

/// Values of the wrong type for a property accepting `types`, and text with a NUL in it.
fn wrong_values(types: &[String]) -> Vec<Value> {
    let candidates = [
        json!(12345),
        json!(-1.5e300),
        json!("\u{0}\u{202e}ü🦀"),
        json!(true),
        json!([1, "two", null]),
        json!({ "nested": { "deeper": [] } }),
    ];
    candidates
        .into_iter()
        .filter(|v| {
            let t = match v {
                Value::Number(n) if n.is_i64() => "integer",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Bool(_) => "boolean",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
                Value::Null => "null",
            };
            !types
                .iter()
                .any(|ok| ok == t || (ok == "number" && t == "integer"))
        })
        .collect()
}

/// The request bodies to send to an operation whose JSON body has `schema`.
fn bodies(doc: &Value, schema: &Value) -> Vec<(String, Vec<u8>)> {
    let json_type = "application/json".to_owned();
    let mut out: Vec<(String, Vec<u8>)> = [
        &b""[..],
        b"{",
        b"nul",
        b"[]",
        b"\"just a string\"",
        b"42",
        b"null",
        b"{\"a\": \"\xff\xfe\"}",
        b"\xef\xbb\xbf{}garbage",
    ]
    .iter()
    .map(|b| (json_type.clone(), b.to_vec()))
    .collect();
    out.push((json_type.clone(), "[".repeat(100_000).into_bytes()));
    out.push((
        json_type.clone(),
        format!("{{\"x\": \"{}\"}}", "a".repeat(300 * 1024)).into_bytes(),
    ));
    out.push(("text/plain".into(), b"{}".to_vec()));
    out.push(("application/x-www-form-urlencoded".into(), b"a=b".to_vec()));
    out.push((
        "multipart/form-data; boundary=x".into(),
        b"--x\r\n\r\n--x--".to_vec(),
    ));
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .cloned()
            .unwrap_or(Value::Null),
        None => schema.clone(),
    };
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            for wrong in wrong_values(&types_of(doc, prop)) {
                out.push((
                    json_type.clone(),
                    json!({ name.clone(): wrong }).to_string().into_bytes(),
                ));
            }
        }
    }
    out
}

/// Junk for a path parameter.
fn junk_segments() -> Vec<String> {
    vec![
        "x".into(),
        "..%2F..%2Fetc%2Fpasswd".into(),
        "%00".into(),
        "%F0%9F%A6%80%C3%BC".into(),
        "%FF%FE".into(),
        "a".repeat(5000),
        "00000000-0000-0000-0000-000000000000".into(),
        "-1".into(),
        "%25s%25n".into(),
    ]
}

/// Junk query strings for lists.
fn junk_queries() -> Vec<String> {
    let mut out: Vec<String> = [
        "0",
        "-1",
        "201",
        "1e3",
        "abc",
        "%C3%BC",
        &"9".repeat(40),
        "%00",
    ]
    .iter()
    .map(|l| format!("limit={l}"))
    .collect();
    for c in [
        "x",
        "%F0%9F%A6%80",
        "%27%3B%20DROP%20TABLE%20users%3B--",
        &"9".repeat(100),
        "%FF",
    ] {
        out.push(format!("cursor={c}"));
    }
    out.extend([
        format!("q={}", "a".repeat(20_000)),
        "q=%00%C3%BC%F0%9F%A6%80".into(),
        "email=%FF".into(),
        "phone_number=%2B%2B%2B".into(),
        "attr.team=%00".into(),
        "attr.%C3%BC=1".into(),
        "disabled=%C3%BC".into(),
        "type=%00".into(),
        "user=%F0%9F%A6%80".into(),
        "limit=1&limit=2".into(),
        "=&&&==".into(),
    ]);
    out
}

#[tokio::test]
async fn no_input_makes_any_admin_route_fail_or_change_anything() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    // Something to break: attributes, a user with identities, a password, a session, a client.
    for def in [
        json!({ "name": "team", "type": "enum", "enum": ["red", "blue"], "end_user": "readwrite", "bearer": "readonly" }),
        json!({ "name": "bio", "type": "string", "maximum": 200 }),
        json!({ "name": "badge", "type": "image" }),
    ] {
        let (status, _, _) = call(
            &server,
            Some(&key),
            Method::POST,
            "/profile-schema/custom",
            Some(def),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (status, user, _) = call(&server, Some(&key), Method::POST, "/users", Some(json!({
        "identities": [{ "type": "email", "value": "fuzz@example.com", "verified": true }, { "type": "username", "value": "fuzzy" }],
        "password": PASSWORD,
        "profile": { "given_name": "Fuzz", "custom_attributes": { "team": "red" } }
    }))).await;
    assert_eq!(status, 201, "{user}");
    let user_id = user["id"].as_str().unwrap().to_owned();
    let identity_id = user["identities"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        log_in(&server, &browser(), "fuzz@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let (_, sessions, _) = call(
        &server,
        Some(&key),
        Method::GET,
        &format!("/users/{user_id}/sessions"),
        None,
    )
    .await;
    let session_id = sessions["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, client, _) = call(
        &server,
        Some(&key),
        Method::POST,
        "/clients",
        Some(json!({
            "name": "Fuzz app", "redirect_uris": ["https://app.example/cb"]
        })),
    )
    .await;
    assert_eq!(status, 201);
    let client_id = client["client_id"].as_str().unwrap().to_owned();

    let doc: Value = reqwest::get(server.url("/admin/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let before = snapshot(&server, &key, &user_id).await;
    let real = |path: &str| {
        path.replace(
            "{id}",
            if path.starts_with("/clients") {
                &client_id
            } else {
                &user_id
            },
        )
        .replace("{identity_id}", &identity_id)
        .replace("{session_id}", &session_id)
        .replace("{claim}", "email_verified")
        .replace("{attribute}", "badge")
        .replace(
            "{name}",
            if path.contains("/standard/") {
                "given_name"
            } else {
                "team"
            },
        )
    };
    let http = reqwest::Client::new();
    let mut sent = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut requests: Vec<Probe> = Vec::new();
            let params: Vec<&str> = path.split('/').filter(|s| s.starts_with('{')).collect();
            // Junk in each path parameter in turn (the others real).
            for param in &params {
                for junk in junk_segments() {
                    let concrete = real(&path.replace(param, &junk));
                    requests.push((concrete, None, true));
                }
            }
            let content = &op["requestBody"]["content"];
            if let Some(schema) = content.get("application/json").map(|c| &c["schema"]) {
                for body in bodies(&doc, schema) {
                    requests.push((real(path), Some(body), true));
                }
            } else if content.get("multipart/form-data").is_some() {
                for body in [
                    ("application/json".to_owned(), b"{\"avatar\": \"x\"}".to_vec()),
                    ("multipart/form-data; boundary=b".to_owned(), b"--b\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n\r\nnot an image\r\n--b--\r\n".to_vec()),
                    ("multipart/form-data; boundary=b".to_owned(), b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xff\xff\xff\xff\xff\xff\xff\r\n--b--\r\n".to_vec()),
                    ("multipart/form-data; boundary=b".to_owned(), b"--b\r\nContent-Disposition: form-data; name=\"cover\"\r\n\r\n".to_vec()),
                    ("multipart/form-data".to_owned(), b"no boundary".to_vec()),
                    ("multipart/form-data; boundary=b".to_owned(), vec![0u8; 5 * 1024 * 1024]),
                ] {
                    requests.push((real(path), Some(body), true));
                }
            } else if method == Method::GET && params.is_empty() {
                for q in junk_queries() {
                    // Odd but well-formed searches may answer 200.
                    requests.push((format!("{path}?{q}"), None, false));
                }
            }
            for (concrete, body, must_refuse) in requests {
                let sent_body = body
                    .as_ref()
                    .map(|(_, b)| String::from_utf8_lossy(&b[..b.len().min(80)]).into_owned());
                let url = server.url(&format!("/admin/api/v1{concrete}"));
                let mut req = http.request(method.clone(), &url).bearer_auth(&key);
                if let Some((content_type, bytes)) = body {
                    req = req.header("content-type", content_type).body(bytes);
                }
                let resp = req
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{method} {concrete}: {e}"));
                let status = resp.status().as_u16();
                let content_type = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let shown: String = concrete.chars().take(120).collect();
                assert!(status < 500, "{method} {shown}: {status}");
                assert!(
                    !must_refuse || status >= 400,
                    "{method} {shown} accepted ({status}) {sent_body:?}"
                );
                if status >= 400 {
                    assert_eq!(
                        content_type, "application/problem+json",
                        "{method} {shown}: {status}"
                    );
                }
                sent += 1;
            }
        }
    }
    assert!(sent > 500, "only {sent} requests were generated");
    let after = snapshot(&server, &key, &user_id).await;
    assert_eq!(before, after, "hostile requests changed stored data");
}
