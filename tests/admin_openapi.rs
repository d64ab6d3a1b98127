//! The Admin API's OpenAPI document: a valid OpenAPI 3.1 structure that describes exactly the
//! routes that are served, every parameter, body and error.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;

async fn document(server: &TestServer) -> Value {
    let resp = reqwest::get(server.url("/admin/api/v1/openapi.json"))
        .await
        .expect("openapi");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    resp.json().await.expect("json")
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every `$ref` in `v` resolves inside `doc`.
fn check_refs(doc: &Value, v: &Value, at: &str) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let pointer = r
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("external ref {r} at {at}"));
                assert!(doc.pointer(pointer).is_some(), "unresolved {r} at {at}");
            }
            for (k, child) in map {
                check_refs(doc, child, &format!("{at}/{k}"));
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                check_refs(doc, child, &format!("{at}/{i}"));
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_valid_openapi_and_matches_the_served_routes() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert_eq!(doc["servers"][0]["url"], "/admin/api/v1");
    assert_eq!(
        doc["components"]["securitySchemes"]["admin_key"]["scheme"],
        "bearer"
    );
    check_refs(&doc, &doc, "");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            assert!(METHODS.contains(&method.as_str()), "{method} {path}");
            documented.insert((path.clone(), method.to_uppercase()));
            let what = format!("{method} {path}");
            assert!(op["tags"][0].is_string(), "{what} has a tag");
            assert!(op["summary"].is_string(), "{what} has a summary");
            // Every path parameter is declared.
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let in_path: BTreeSet<String> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_owned)
                .collect();
            assert_eq!(declared, in_path, "{what}: path parameters");
            let responses = op["responses"].as_object().expect("responses");
            // Deleting a custom attribute exists only to be refused clearly (409).
            let refused_by_design = what == "delete /profile-schema/custom/{name}";
            assert!(
                refused_by_design || responses.keys().any(|s| s.starts_with('2')),
                "{what}: a success answer"
            );
            if path != "/openapi.json" {
                assert!(responses.contains_key("401"), "{what}: 401 documented");
                assert!(op["security"].is_array(), "{what}: security");
                for (status, answer) in responses {
                    if status.starts_with('4') {
                        assert!(
                            answer["content"]["application/problem+json"]["schema"].is_object(),
                            "{what} {status}: problem+json"
                        );
                    }
                }
            }
            if matches!(method.as_str(), "post" | "put" | "patch")
                && !path.ends_with("/disable")
                && !path.ends_with("/enable")
                && !path.ends_with("/secret")
            {
                assert!(
                    op["requestBody"]["content"].is_object(),
                    "{what}: request body"
                );
            }
        }
    }
    let served: BTreeSet<(String, String)> = admin_api::route_table()
        .into_iter()
        .map(|(p, m)| (p.to_owned(), m.as_str().to_owned()))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not served: {extra:?}");

    // What the document lists answers: without a key every route is 401 problem+json (none is
    // the server's plain 404 or a 405), the document itself is public.
    let client = reqwest::Client::new();
    for (path, method) in &documented {
        let concrete = path
            .replace("{id}", &store::Uuid::new_v4().to_string())
            .replace(['{', '}'], "");
        let url = server.url(&format!("/admin/api/v1{concrete}"));
        let resp = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                &url,
            )
            .send()
            .await
            .expect("call");
        let expected = if path == "/openapi.json" { 200 } else { 401 };
        assert_eq!(resp.status().as_u16(), expected, "{method} {path}");
        if expected == 401 {
            assert_eq!(resp.headers()["content-type"], "application/problem+json");
        }
    }
}
