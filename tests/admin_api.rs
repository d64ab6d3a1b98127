//! The Admin API: admin-key authentication and the profile-schema routes.

mod common;

use common::*;
use serde_json::{Value, json};

async fn admin_key(server: &TestServer) -> String {
    auth::admin_keys::create_admin_key(
        server.db(),
        server.clock.as_ref(),
        "tests",
        store::audit::Actor::Cli,
    )
    .await
    .expect("key")
    .key
}

async fn call(
    server: &TestServer,
    key: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req =
        reqwest::Client::new().request(method, server.url(&format!("/admin/api/v1{path}")));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let resp = req.send().await.expect("admin api");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    if status >= 400 {
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{status}"
        );
    }
    (status, resp.json().await.unwrap_or(Value::Null), headers)
}

#[tokio::test]
async fn admin_keys_are_required_and_checked() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let (status, problem, headers) =
        call(&server, None, reqwest::Method::GET, "/profile-schema", None).await;
    assert_eq!(status, 401);
    assert!(headers.get("www-authenticate").is_some());
    assert_eq!(problem["status"], 401);
    for wrong in ["tsa_wrong", "", &"x".repeat(1000)] {
        let (status, _, _) = call(
            &server,
            Some(wrong),
            reqwest::Method::GET,
            "/profile-schema",
            None,
        )
        .await;
        assert_eq!(status, 401, "{wrong:?}");
    }
    let (status, doc, _) = call(
        &server,
        Some(&key),
        reqwest::Method::GET,
        "/profile-schema",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        doc["standard"]["given_name"],
        json!({ "end_user": "readwrite", "bearer": "readonly" })
    );
}

#[tokio::test]
async fn profile_schema_routes_follow_the_import_rules() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let k = Some(key.as_str());
    use reqwest::Method;

    // Standard access levels.
    let (status, body, _) = call(
        &server,
        k,
        Method::PATCH,
        "/profile-schema/standard/middle_name",
        Some(json!({ "end_user": "readonly", "bearer": "readonly" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["access"],
        json!({ "end_user": "readonly", "bearer": "readonly" })
    );
    let (status, problem, _) = call(
        &server,
        k,
        Method::PATCH,
        "/profile-schema/standard/email",
        Some(json!({ "bearer": "readwrite" })),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let (status, _, _) = call(
        &server,
        k,
        Method::PATCH,
        "/profile-schema/standard/shoe_size",
        Some(json!({ "bearer": "readonly" })),
    )
    .await;
    assert_eq!(status, 422);

    // Custom definitions: create, reject bad ones, rename, reorder, refuse type changes and deletion.
    let (status, created, _) = call(&server, k, Method::POST, "/profile-schema/custom", Some(json!({ "name": "department", "type": "string", "maximum": 64, "end_user": "readwrite", "bearer": "readonly" }))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, _, _) = call(
        &server,
        k,
        Method::POST,
        "/profile-schema/custom",
        Some(json!({ "name": "team", "type": "enum", "enum": ["red"], "position": 0 })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, problem, _) = call(
        &server,
        k,
        Method::POST,
        "/profile-schema/custom",
        Some(json!({ "name": "department", "type": "string" })),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    let (status, problem, _) = call(
        &server,
        k,
        Method::POST,
        "/profile-schema/custom",
        Some(json!({ "name": "Bad Name", "type": "string" })),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        problem["errors"][0]["pointer"]
            .as_str()
            .is_some_and(|p| p.ends_with("/name")),
        "{problem}"
    );

    let (status, renamed, _) = call(
        &server,
        k,
        Method::PATCH,
        "/profile-schema/custom/department",
        Some(json!({ "name": "division", "label": "Division", "position": 0 })),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["id"], id.as_str(), "a rename keeps the id");
    let (_, doc, _) = call(&server, k, Method::GET, "/profile-schema", None).await;
    let names: Vec<&str> = doc["custom"]
        .as_array()
        .expect("custom")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["division", "team"]);

    let (status, problem, _) = call(
        &server,
        k,
        Method::PATCH,
        "/profile-schema/custom/division",
        Some(json!({ "type": "integer" })),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("division")
    );
    let (status, problem, _) = call(
        &server,
        k,
        Method::DELETE,
        "/profile-schema/custom/division",
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("division")
    );
    let (status, _, _) = call(
        &server,
        k,
        Method::PATCH,
        "/profile-schema/custom/nothing",
        Some(json!({ "label": "x" })),
    )
    .await;
    assert_eq!(status, 404);
    let resp = reqwest::Client::new()
        .patch(server.url("/admin/api/v1/profile-schema/custom/division"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("bad json");
    assert_eq!(resp.status(), 400);
    // Nothing of the refused changes was applied.
    let (_, after, _) = call(&server, k, Method::GET, "/profile-schema", None).await;
    assert_eq!(after, doc);
    let events = store::audit::latest(server.db(), 10).await.expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.kind == "profile_schema.updated" && e.actor_type == "admin_key")
    );
}
