//! Input no store can hold (NUL characters) is refused at the door on every kind of endpoint,
//! in the endpoint's own error format, on both databases.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn nul_characters_are_refused_in_paths_queries_forms_and_json() {
    let server = TestServer::start().await;
    let http = browser();
    // OAuth: RFC 6749 JSON.
    for resp in [
        http.post(server.url("/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=a%00b&client_secret=x")
            .send()
            .await
            .unwrap(),
        http.get(server.url("/oauth2/authorize?client_id=%00&response_type=code"))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    // APIs: problem+json.
    let resp = http
        .get(server.url("/api/v1/users/%00/avatar"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    // Pages: a plain refusal, and nothing signed in.
    let token = csrf_token(&http, &server.url("/login")).await;
    let resp = http
        .post(server.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf_token={token}&login_id=a%00%40example.com&password=x"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(signed_in_as(&server, &http).await, None);
    // A form too large to inspect is refused before any handler.
    let resp = http
        .post(server.url("/signup"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a".repeat(70 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let resp = http
        .post(server.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&pad={}",
            "a".repeat(70 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["error"], "invalid_request",
        "RFC 6749 JSON on OAuth endpoints"
    );
    // Ordinary percent-encoding still works: a literal "%00" typed by a person arrives as %2500.
    let resp = http
        .get(server.url("/login?return_to=%2Fsettings%3Fq%3D%2500"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
