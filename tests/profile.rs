//! Profiles over HTTP: UserInfo for first- and third-party clients, the self-service API, the
//! generated avatar.

mod common;

use common::flows::{self, access_token, register, userinfo};
use common::*;
use serde_json::{Value, json};
use store::audit::Actor;

const PASSWORD: &str = "correct horse battery";

async fn import_schema(server: &TestServer) {
    server
        .profiles()
        .replace_schema(
            server.db(),
            server.clock.as_ref(),
            &json!({
                "standard": { "middle_name": { "end_user": "readonly", "bearer": "readonly" } },
                "custom": [
                    { "name": "department", "type": "string", "label": "Department", "maximum": 32,
                      "end_user": "readwrite", "bearer": "readonly", "scope": "custom:department" },
                    { "name": "team", "type": "enum", "enum": ["red", "blue"], "end_user": "readonly", "bearer": "readonly" },
                    { "name": "salary", "type": "integer" }
                ]
            }),
            Actor::Cli,
        )
        .await
        .expect("schema");
}

/// Signs up, sets admin-only values, and returns (browser, user id).
async fn user_with_profile(server: &TestServer, email: &str) -> (reqwest::Client, store::Uuid) {
    let b = browser();
    assert_eq!(sign_up(server, &b, email, PASSWORD).await.status(), 303);
    let candidate = store::accounts::find_login_candidate(
        server.db(),
        store::accounts::IdentityKind::Email,
        email,
    )
    .await
    .expect("q")
    .expect("user");
    server
        .profiles()
        .change(
            server.db(),
            server.clock.as_ref(),
            candidate.user_id,
            profile::Audience::Party(profile::Party::Admin),
            profile::Change::Patch(&json!({
                "given_name": "Ada", "middle_name": "M", "locale": "en-gb",
                "custom_attributes": { "department": "R&D", "team": "red", "salary": 100 }
            })),
            profile::Author::new(Actor::Cli),
        )
        .await
        .expect("admin sets values");
    (b, candidate.user_id)
}

#[tokio::test]
async fn userinfo_for_first_and_third_party_clients() {
    let server = TestServer::start().await;
    import_schema(&server).await;
    let (b, user_id) = user_with_profile(&server, "ada@example.com").await;

    // First party: every attribute the bearer can read, whatever the scopes.
    let first = register(&server, false).await;
    let info = userinfo(&server, &access_token(&server, &b, &first, "openid").await).await;
    assert_eq!(info["sub"], user_id.to_string());
    assert_eq!(info["given_name"], "Ada");
    assert_eq!(
        info["middle_name"], "M",
        "opened up to the bearer by the schema"
    );
    assert_eq!(info["locale"], "en-GB");
    assert_eq!(info["email"], "ada@example.com");
    assert_eq!(info["email_verified"], false);
    assert!(info["updated_at"].as_i64().is_some());
    assert!(
        info["picture"]
            .as_str()
            .is_some_and(|p| p.contains("/avatars/"))
    );
    assert_eq!(
        info["custom_attributes"],
        json!({ "department": "R&D", "team": "red" }),
        "salary is hidden"
    );
    assert!(
        info.get("nickname").is_none(),
        "nickname is hidden by default"
    );

    // Third party: only the granted scopes' claims.
    let third = register(&server, true).await;
    let info = userinfo(
        &server,
        &access_token(&server, &b, &third, "openid email").await,
    )
    .await;
    assert_eq!(info["email"], "ada@example.com");
    assert!(
        info.get("given_name").is_none() && info.get("custom_attributes").is_none(),
        "{info}"
    );
    let info = userinfo(
        &server,
        &access_token(&server, &b, &third, "openid profile custom:department").await,
    )
    .await;
    assert_eq!(info["given_name"], "Ada");
    assert!(info.get("email").is_none());
    assert_eq!(info["custom_attributes"], json!({ "department": "R&D" }));
}

async fn api(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string());
    }
    let resp = req.send().await.expect("api");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(ct, "application/problem+json", "{status} {body}");
    }
    (status, body)
}

#[tokio::test]
async fn self_service_api_put_patch_and_refusals() {
    let server = TestServer::start().await;
    import_schema(&server).await;
    let (b, user_id) = user_with_profile(&server, "bea@example.com").await;
    let client = register(&server, false).await;
    let writer = access_token(&server, &b, &client, "openid profile:write").await;
    let reader = access_token(&server, &b, &client, "openid").await;

    let (status, me) = api(&server, reqwest::Method::GET, "/api/v1/me", &reader, None).await;
    assert_eq!(status, 200);
    assert_eq!(me["id"], user_id.to_string());
    assert_eq!(me["identities"][0]["value"], "bea@example.com");
    assert_eq!(me["profile"]["custom_attributes"]["team"], "red");
    assert!(me["profile"]["custom_attributes"].get("salary").is_none());

    // Writes need profile:write.
    let (status, body) = api(
        &server,
        reqwest::Method::PATCH,
        "/api/v1/me/profile",
        &reader,
        Some(json!({ "given_name": "B" })),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // PATCH merges; null clears.
    let (status, p) = api(&server, reqwest::Method::PATCH, "/api/v1/me/profile", &writer,
        Some(json!({ "family_name": "Lovelace", "locale": null, "custom_attributes": { "department": "Ops" } }))).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["given_name"], "Ada");
    assert_eq!(p["family_name"], "Lovelace");
    assert!(p.get("locale").is_none());
    assert_eq!(p["custom_attributes"]["department"], "Ops");

    // A write to a read-only attribute is 403 naming it, and nothing of the write is applied.
    for (body, attribute) in [
        (
            json!({ "given_name": "Changed", "middle_name": "X" }),
            "middle_name",
        ),
        (
            json!({ "given_name": "Changed", "custom_attributes": { "team": "blue" } }),
            "custom_attributes.team",
        ),
        (
            json!({ "given_name": "Changed", "custom_attributes": { "salary": 1 } }),
            "custom_attributes.salary",
        ),
    ] {
        let (status, problem) = api(
            &server,
            reqwest::Method::PATCH,
            "/api/v1/me/profile",
            &writer,
            Some(body),
        )
        .await;
        assert_eq!(status, 403);
        assert!(
            problem["detail"].as_str().unwrap_or("").contains(attribute),
            "{problem}"
        );
    }
    // Invalid values: 422 with a pointer each.
    let (status, problem) = api(&server, reqwest::Method::PATCH, "/api/v1/me/profile", &writer,
        Some(json!({ "given_name": "Changed", "birthdate": "31/12/1990", "custom_attributes": { "department": "x".repeat(40) } }))).await;
    assert_eq!(status, 422);
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert!(
        pointers.contains(&"/birthdate") && pointers.contains(&"/custom_attributes/department"),
        "{problem}"
    );
    let (_, p) = api(
        &server,
        reqwest::Method::GET,
        "/api/v1/me/profile",
        &reader,
        None,
    )
    .await;
    assert_eq!(
        p["given_name"], "Ada",
        "nothing of a refused write was applied"
    );

    // PUT replaces every writable attribute: what it leaves out is cleared; read-only ones stay.
    let (status, p) = api(
        &server,
        reqwest::Method::PUT,
        "/api/v1/me/profile",
        &writer,
        Some(json!({ "given_name": "Bea", "custom_attributes": { "department": "Ops" } })),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["given_name"], "Bea");
    assert!(p.get("family_name").is_none());
    assert_eq!(p["middle_name"], "M");
    assert_eq!(p["custom_attributes"]["team"], "red");

    // Regenerating the avatar changes the picture; the generated image is served.
    let before = p["picture"].as_str().expect("picture").to_owned();
    let (status, p) = api(
        &server,
        reqwest::Method::PATCH,
        "/api/v1/me/profile",
        &writer,
        Some(json!({ "regenerate_avatar": true })),
    )
    .await;
    assert_eq!(status, 200);
    let after = p["picture"].as_str().expect("picture").to_owned();
    assert_ne!(before, after);
    let svg = reqwest::get(&after).await.expect("avatar");
    assert_eq!(svg.status(), 200);
    assert_eq!(
        svg.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/svg+xml")
    );
    assert!(svg.text().await.expect("svg").starts_with("<svg"));
    let bad = reqwest::get(server.url("/avatars/not-a-user/abc.svg"))
        .await
        .expect("bad avatar");
    assert_eq!(bad.status(), 404);

    // Bad requests: no token, a bad token, not JSON, the wrong media type.
    let resp = reqwest::Client::new()
        .get(server.url("/api/v1/me"))
        .send()
        .await
        .expect("no token");
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("www-authenticate").is_some());
    let (status, _) = api(&server, reqwest::Method::GET, "/api/v1/me", "garbage", None).await;
    assert_eq!(status, 401);
    let resp = reqwest::Client::new()
        .patch(server.url("/api/v1/me/profile"))
        .bearer_auth(&writer)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("bad json");
    assert_eq!(resp.status(), 400);
    let resp = reqwest::Client::new()
        .patch(server.url("/api/v1/me/profile"))
        .bearer_auth(&writer)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("wrong type");
    assert_eq!(resp.status(), 415);
    let (status, _) = api(
        &server,
        reqwest::Method::PATCH,
        "/api/v1/me/profile",
        &writer,
        Some(json!([1, 2])),
    )
    .await;
    assert_eq!(status, 422);

    // Every accepted change is in the audit log with the attributes it changed.
    let events = store::audit::latest(server.db(), 50).await.expect("events");
    let changes: Vec<&store::audit::Event> = events
        .iter()
        .filter(|e| e.kind == "profile.updated" && e.actor_type == "user")
        .collect();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(changes.iter().any(|e| {
        e.detail["attributes"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("family_name")))
    }));
}

#[tokio::test]
async fn new_accounts_get_a_generated_nickname_unless_turned_off() {
    let server = TestServer::start().await;
    import_schema(&server).await;
    let (_, user_id) = user_with_profile(&server, "cy@example.com").await;
    let admin = server
        .profiles()
        .view(
            server.db(),
            user_id,
            profile::Audience::Party(profile::Party::Admin),
        )
        .await
        .expect("v")
        .expect("p");
    let nickname = admin["nickname"].as_str().expect("nickname");
    assert_eq!(nickname.split(' ').count(), 3, "{nickname}");

    let plain = TestServer::start_with(|c| c.profile.generate_nickname = false).await;
    import_schema(&plain).await;
    let (_, user_id) = user_with_profile(&plain, "di@example.com").await;
    let admin = plain
        .profiles()
        .view(
            plain.db(),
            user_id,
            profile::Audience::Party(profile::Party::Admin),
        )
        .await
        .expect("v")
        .expect("p");
    assert!(admin.get("nickname").is_none());
}

#[tokio::test]
async fn id_tokens_carry_user_claims_only_when_asked_with_the_claims_parameter() {
    let server = TestServer::start().await;
    import_schema(&server).await;
    let (b, _) = user_with_profile(&server, "eve@example.com").await;
    let client = register(&server, false).await;
    let id_token_claims = |claims: Option<&'static str>| {
        let extra: Vec<(&str, &str)> = claims.map(|c| vec![("claims", c)]).unwrap_or_default();
        let url = server.url(&flows::authorize_path(&client.0, "openid email", &extra));
        let b = b.clone();
        let client = client.clone();
        let server = &server;
        async move {
            let resp = b.get(url).send().await.expect("authorize");
            let code = flows::code_from(&resp);
            let tokens = flows::exchange(server, &client.0, Some(&client.1), &code).await;
            let id_token = tokens["id_token"].as_str().expect("id token").to_owned();
            let payload = id_token.split('.').nth(1).unwrap_or_default().to_owned();
            let bytes =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                    .expect("b64");
            serde_json::from_slice::<Value>(&bytes).expect("claims")
        }
    };
    let plain = id_token_claims(None).await;
    assert!(
        plain.get("email").is_none() && plain.get("given_name").is_none(),
        "{plain}"
    );
    let asked = id_token_claims(Some(
        r#"{"id_token":{"email":null,"given_name":{"essential":true},"salary":null}}"#,
    ))
    .await;
    assert_eq!(asked["email"], "eve@example.com");
    assert_eq!(asked["given_name"], "Ada");
    assert!(
        asked.get("salary").is_none() && asked.get("locale").is_none(),
        "{asked}"
    );
    // A malformed claims parameter is an error sent back to the client.
    let q = flows::authorize_path(&client.0, "openid", &[("claims", "[1]")]);
    let resp = b.get(server.url(&q)).send().await.expect("authorize");
    assert!(location(&resp).contains("error=invalid_request"));
}
