//! Calling the Admin API from tests.

use super::Site;
use serde_json::Value;

/// A fresh admin key.
pub async fn admin_key(server: &(impl Site + ?Sized)) -> String {
    auth::admin_keys::create_admin_key(
        server.db(),
        server.clock(),
        "tests",
        false,
        store::audit::Actor::Cli,
    )
    .await
    .expect("key")
    .key
}

/// Calls the Admin API: (status, JSON body or null, headers). Error answers must be
/// problem+json.
pub async fn call(
    server: &(impl Site + ?Sized),
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
