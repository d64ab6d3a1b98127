//! Rich text and annotations (SPEC §10) over HTTP: a `text` attribute defined through the Admin
//! API reads the same on every surface (self-service API, UserInfo, Admin API); the text
//! processor; annotations written per type by the self-service and Admin APIs, shown only when
//! asked, to first-party UserInfo, and never to third parties.

mod common;

use common::admin::admin_key;
use common::flows::{access_token, register, token_post, userinfo};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
const BIO: &str = "Builder of @alice's #rust tools, see https://example.com";

/// Calls the self-service API with a bearer token: (status, JSON).
async fn api(
    server: &TestServer,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, server.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.expect("api");
    let status = resp.status().as_u16();
    if status >= 400 {
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{status} {path}"
        );
    }
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The Admin API: (status, JSON).
async fn call(
    server: &TestServer,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, body, _) = common::admin::call(server, key, method, path, body).await;
    (status, body)
}

fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["pointer"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A server with a `description` text attribute, Alice (username `alice`) and a signed-in
/// browser for Bo: (server, admin key, Alice's id, Bo's browser, Bo's id).
async fn setup() -> (TestServer, String, String, reqwest::Client, String) {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let (status, def) = call(
        &server,
        Some(&key),
        Method::POST,
        "/profile-schema/custom",
        Some(
            json!({ "name": "description", "type": "text", "label": "About you",
                      "end_user": "readwrite", "bearer": "readonly" }),
        ),
    )
    .await;
    assert_eq!(status, 201, "{def}");
    assert_eq!(def["type"], "text");
    let (status, alice) = call(
        &server,
        Some(&key),
        Method::POST,
        "/users",
        Some(json!({ "identities": [
            { "type": "email", "value": "alice@example.com", "verified": true },
            { "type": "username", "value": "alice" },
        ] })),
    )
    .await;
    assert_eq!(status, 201, "{alice}");
    let b = browser();
    assert_eq!(
        sign_up(&server, &b, "bo@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let bo = store::accounts::find_login_candidate(
        server.db(),
        store::accounts::IdentityKind::Email,
        "bo@example.com",
    )
    .await
    .expect("q")
    .expect("bo")
    .user_id;
    let alice_id = alice["id"].as_str().expect("id").to_owned();
    (server, key, alice_id, b, bo.to_string())
}

fn assert_processed_bio(v: &Value, alice: &str) {
    assert_eq!(v["text"], BIO, "{v}");
    assert_eq!(
        v["entities"]["mentions"],
        json!([{ "name": "alice", "id": alice, "pos": 11, "len": 6 }])
    );
    assert_eq!(
        v["entities"]["hashtags"],
        json!([{ "name": "rust", "pos": 20, "len": 5 }])
    );
    assert_eq!(
        v["entities"]["links"],
        json!([{ "text": "https://example.com", "url": "https://example.com/", "pos": 37, "len": 19 }])
    );
    assert_eq!(
        v["html"],
        format!(
            "Builder of <span itemprop=\"mention\" data-mention-name=\"alice\" data-mention-id=\"{alice}\">@alice</span>&#39;s \
             <span itemprop=\"hashtag\" data-hashtag-name=\"rust\">#rust</span> tools, see \
             <a href=\"https://example.com/\" rel=\"nofollow\">https://example.com</a>"
        )
    );
}

#[tokio::test]
async fn a_description_reads_the_same_on_every_surface() {
    let (server, key, alice, b, bo) = setup().await;
    let first = register(&server, false).await;
    let token = access_token(&server, &b, &first, "openid profile profile:write").await;

    let (status, written) = api(
        &server,
        Some(&token),
        Method::PATCH,
        "/api/v1/me/profile",
        Some(json!({ "custom_attributes": { "description": BIO } })),
    )
    .await;
    assert_eq!(status, 200, "{written}");
    assert_processed_bio(&written["custom_attributes"]["description"], &alice);

    let (status, me) = api(&server, Some(&token), Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, 200);
    assert_processed_bio(&me["profile"]["custom_attributes"]["description"], &alice);
    assert!(
        me["profile"].get("annotations").is_none(),
        "only when asked"
    );

    let info = userinfo(&server, &token).await;
    assert_processed_bio(&info["custom_attributes"]["description"], &alice);

    let (status, user) = call(
        &server,
        Some(&key),
        Method::GET,
        &format!("/users/{bo}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_processed_bio(&user["profile"]["custom_attributes"]["description"], &alice);

    // Writing back what was read (the object form) changes nothing; a forged html or mention
    // in it is ignored, and the stored text is rebuilt from text and links only.
    let mut forged = me["profile"]["custom_attributes"]["description"].clone();
    forged["html"] = json!("<script>alert(1)</script>");
    forged["entities"]["mentions"] = json!([{ "name": "root", "id": "admin", "pos": 0, "len": 7 }]);
    let (status, after) = api(
        &server,
        Some(&token),
        Method::PATCH,
        "/api/v1/me/profile",
        Some(json!({ "custom_attributes": { "description": forged } })),
    )
    .await;
    assert_eq!(status, 200);
    assert_processed_bio(&after["custom_attributes"]["description"], &alice);

    // An explicit link: its text must be the text at its position.
    let with_link = json!({ "custom_attributes": { "description": {
        "text": "My shop is open",
        "entities": { "links": [{ "text": "shop", "url": "https://shop.example/x?a=1&b=2", "pos": 3, "len": 4 }] },
    } } });
    let (status, linked) = api(
        &server,
        Some(&token),
        Method::PATCH,
        "/api/v1/me/profile",
        Some(with_link),
    )
    .await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(
        linked["custom_attributes"]["description"]["html"],
        "My <a href=\"https://shop.example/x?a=1&amp;b=2\" rel=\"nofollow\">shop</a> is open"
    );

    // Hostile text is inert; hostile links are refused with a pointer, nothing applied.
    let hostile = "<script>alert(1)</script> \"onmouseover=alert(1) javascript:alert(1) <img src=x onerror=alert(1)>";
    let (status, inert) = api(
        &server,
        Some(&token),
        Method::PATCH,
        "/api/v1/me/profile",
        Some(json!({ "custom_attributes": { "description": hostile } })),
    )
    .await;
    assert_eq!(status, 200);
    let html = inert["custom_attributes"]["description"]["html"]
        .as_str()
        .expect("html");
    assert!(
        !html.contains('<') && !html.contains('>'),
        "no markup at all: {html}"
    );
    assert!(
        html.starts_with("&lt;script&gt;alert(1)&lt;/script&gt; &quot;onmouseover=alert(1)"),
        "{html}"
    );
    assert!(!html.contains("href"), "{html}");
    for (description, pointer) in [
        (
            json!({ "text": "click me", "entities": { "links": [
                { "text": "click", "url": "javascript:alert(1)", "pos": 0, "len": 5 }] } }),
            "/custom_attributes/description/entities/links/0",
        ),
        (
            json!({ "text": "click me", "entities": { "links": [
                { "text": "me", "url": "https://x.example", "pos": 0, "len": 2 }] } }),
            "/custom_attributes/description/entities/links/0",
        ),
        (
            json!({ "text": "click me", "entities": { "links": [
                { "text": "me", "url": "https://x.example", "pos": 6, "len": 99 }] } }),
            "/custom_attributes/description/entities/links/0",
        ),
        (json!("x".repeat(257)), "/custom_attributes/description"),
        (
            json!({ "html": "<b>no text</b>" }),
            "/custom_attributes/description/text",
        ),
        (json!(["not", "text"]), "/custom_attributes/description"),
    ] {
        let (status, problem) = api(
            &server,
            Some(&token),
            Method::PATCH,
            "/api/v1/me/profile",
            Some(json!({ "custom_attributes": { "description": description.clone() } })),
        )
        .await;
        assert_eq!(status, 422, "{description}: {problem}");
        assert_eq!(pointers(&problem), [pointer], "{description}");
    }
    let (_, still) = api(
        &server,
        Some(&token),
        Method::GET,
        "/api/v1/me/profile",
        None,
    )
    .await;
    assert_eq!(still["custom_attributes"]["description"]["text"], hostile);

    // Multi-byte text: positions count code points.
    let (status, wide) = api(
        &server,
        Some(&token),
        Method::PUT,
        "/api/v1/me/profile",
        Some(json!({ "custom_attributes": { "description": "👩🏽‍💻 東京 @alice #日本 שלום" } })),
    )
    .await;
    assert_eq!(status, 200, "{wide}");
    let d = &wide["custom_attributes"]["description"];
    assert_eq!(d["entities"]["mentions"][0]["pos"], 8);
    assert_eq!(d["entities"]["mentions"][0]["id"], alice.as_str());
    assert_eq!(d["entities"]["hashtags"][0]["name"], "日本");
    assert_eq!(d["entities"]["hashtags"][0]["pos"], 15);

    // A third-party client sees the description only through a scope; without one, nothing.
    let third = register(&server, true).await;
    let third_token = access_token(&server, &b, &third, "openid profile").await;
    let info = userinfo(&server, &third_token).await;
    assert!(info.get("custom_attributes").is_none(), "{info}");

    // The schema document and its import carry the type.
    let (_, schema) = call(&server, Some(&key), Method::GET, "/profile-schema", None).await;
    assert_eq!(schema["custom"][0]["type"], "text");
    let (status, problem) = call(
        &server,
        Some(&key),
        Method::POST,
        "/profile-schema/custom",
        Some(json!({ "name": "essay", "type": "text", "maximum": 100000 })),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(pointers(&problem), ["/maximum"]);
}

#[tokio::test]
async fn the_text_processor_takes_any_valid_token_and_stores_nothing() {
    let (server, _key, alice, b, _bo) = setup().await;
    let first = register(&server, false).await;
    let token = access_token(&server, &b, &first, "openid").await;
    let (status, out) = api(
        &server,
        Some(&token),
        Method::POST,
        "/api/v1/text-processor",
        Some(json!({ "text": BIO })),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_processed_bio(&out, &alice);

    let (status, out) = api(
        &server,
        Some(&token),
        Method::POST,
        "/api/v1/text-processor",
        Some(json!({ "text": "read the docs, @Alice", "entities": {
            "links": [{ "text": "the docs", "url": "https://docs.example", "pos": 5, "len": 8 }],
            "mentions": [{ "name": "forged", "id": "x", "pos": 0, "len": 4 }],
        } })),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["entities"]["links"][0]["url"], "https://docs.example/");
    assert_eq!(
        out["entities"]["mentions"],
        json!([{ "name": "Alice", "id": alice, "pos": 15, "len": 6 }])
    );

    // A client's own token (client credentials) may ask too.
    let m2m = oidc::clients::register_client(
        server.db(),
        server.clock(),
        oidc::clients::ClientRegistration {
            name: "Batch".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api:read".into()],
            ..Default::default()
        },
        store::audit::Actor::Cli,
    )
    .await
    .expect("client");
    let secret = m2m.client_secret.clone().unwrap_or_default();
    let (status, tokens) = token_post(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&m2m.client.client_id, &secret)),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let client_token = tokens["access_token"].as_str().expect("token");
    let (status, out) = api(
        &server,
        Some(client_token),
        Method::POST,
        "/api/v1/text-processor",
        Some(json!({ "text": "#hello" })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(out["entities"]["hashtags"][0]["name"], "hello");

    // No token, a bad token, bad input.
    let (status, _) = api(
        &server,
        None,
        Method::POST,
        "/api/v1/text-processor",
        Some(json!({ "text": "x" })),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = api(
        &server,
        Some("not-a-token"),
        Method::POST,
        "/api/v1/text-processor",
        Some(json!({ "text": "x" })),
    )
    .await;
    assert_eq!(status, 401);
    for (body, pointer) in [
        (json!({ "text": "x".repeat(8193) }), "/text"),
        (json!({}), "/text"),
        (json!({ "text": 5 }), "/text"),
        (json!("just a string"), ""),
        (
            json!({ "text": "go", "entities": { "links": [{ "text": "go", "url": "data:text/html,x", "pos": 0, "len": 2 }] } }),
            "/entities/links/0",
        ),
        (
            json!({ "text": "go", "entities": { "links": [{ "text": "go", "pos": 0 }] } }),
            "/entities/links/0",
        ),
        (
            json!({ "text": "go", "entities": { "links": "https://x.example" } }),
            "/entities/links",
        ),
    ] {
        let (status, problem) = api(
            &server,
            Some(&token),
            Method::POST,
            "/api/v1/text-processor",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(pointers(&problem), [pointer], "{body}");
    }
    let resp = reqwest::Client::new()
        .post(server.url("/api/v1/text-processor"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 415);

    // Nothing was stored.
    let (_, me) = api(
        &server,
        Some(&token),
        Method::GET,
        "/api/v1/me/profile",
        None,
    )
    .await;
    assert_eq!(me["custom_attributes"], json!({}));
}

#[tokio::test]
async fn annotations_change_per_type_and_are_shown_only_where_they_may_be() {
    let (server, key, _alice, b, bo) = setup().await;
    let first = register(&server, false).await;
    let token = access_token(&server, &b, &first, "openid profile profile:write").await;
    let prefs =
        json!({ "type": "com.example.prefs", "value": { "theme": "dark", "sizes": [1, 2] } });

    let (status, written) = api(
        &server,
        Some(&token),
        Method::PATCH,
        "/api/v1/me/profile",
        Some(
            json!({ "custom_attributes": { "description": "hi #there" }, "annotations": [prefs] }),
        ),
    )
    .await;
    assert_eq!(status, 200, "{written}");
    assert_eq!(written["annotations"], json!([prefs]));

    // A full update clears unlisted attributes but leaves annotations alone.
    let (status, put) = api(
        &server,
        Some(&token),
        Method::PUT,
        "/api/v1/me/profile",
        Some(json!({ "given_name": "Bo" })),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert!(put["custom_attributes"].get("description").is_none());
    let (_, me) = api(
        &server,
        Some(&token),
        Method::GET,
        "/api/v1/me?include_annotations=1",
        None,
    )
    .await;
    assert_eq!(me["profile"]["annotations"], json!([prefs]));
    assert_eq!(me["profile"]["given_name"], "Bo");
    let (_, me) = api(
        &server,
        Some(&token),
        Method::GET,
        "/api/v1/me?include_user_annotations=1",
        None,
    )
    .await;
    assert_eq!(me["profile"]["annotations"], json!([prefs]));

    // First-party UserInfo carries them (the bearer may read them by default).
    let info = userinfo(&server, &token).await;
    assert_eq!(info["annotations"], json!([prefs]));

    // The Admin API: only when asked, and per type.
    let (_, user) = call(
        &server,
        Some(&key),
        Method::GET,
        &format!("/users/{bo}"),
        None,
    )
    .await;
    assert!(user["profile"].get("annotations").is_none());
    let (_, user) = call(
        &server,
        Some(&key),
        Method::GET,
        &format!("/users/{bo}?include_annotations=1"),
        None,
    )
    .await;
    assert_eq!(user["profile"]["annotations"], json!([prefs]));
    let (status, admin_written) = call(
        &server,
        Some(&key),
        Method::PATCH,
        &format!("/users/{bo}/profile"),
        Some(json!({ "annotations": [
            { "type": "net.app.core.fallback", "value": { "url": "https://x.example" } },
            { "type": "com.example.prefs", "value": { "theme": "light" } },
        ] })),
    )
    .await;
    assert_eq!(status, 200, "{admin_written}");
    assert_eq!(
        admin_written["annotations"],
        json!([
            { "type": "com.example.prefs", "value": { "theme": "light" } },
            { "type": "net.app.core.fallback", "value": { "url": "https://x.example" } },
        ])
    );
    let (status, page) = call(
        &server,
        Some(&key),
        Method::GET,
        "/users?email=bo@example.com&include_annotations=1",
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["items"][0]["profile"]["annotations"][1]["type"],
        "net.app.core.fallback"
    );
    let (status, problem) = call(
        &server,
        Some(&key),
        Method::GET,
        "/users?attr.description=hi",
        None,
    )
    .await;
    assert_eq!(status, 400, "rich text is not searched by value: {problem}");

    // Removing one by listing it without a value; bad ones refused whole with pointers.
    let (status, removed) = api(
        &server,
        Some(&token),
        Method::PATCH,
        "/api/v1/me/profile",
        Some(json!({ "annotations": [{ "type": "com.example.prefs", "value": null }] })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(removed["annotations"].as_array().map(Vec::len), Some(1));
    let (status, problem) = api(
        &server,
        Some(&token),
        Method::PATCH,
        "/api/v1/me/profile",
        Some(json!({ "given_name": "Changed", "annotations": [
            { "type": "COM.Example", "value": {} },
            { "type": "com.example.big", "value": { "s": "x".repeat(9000) } },
            { "type": "com.example.str", "value": "text" },
        ] })),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        pointers(&problem),
        [
            "/annotations/0/type",
            "/annotations/1/value",
            "/annotations/2/value"
        ]
    );
    let many: Vec<Value> = (0..32)
        .map(|i| json!({ "type": format!("com.example.n{i}"), "value": { "i": i } }))
        .collect();
    let (status, problem) = api(
        &server,
        Some(&token),
        Method::PATCH,
        "/api/v1/me/profile",
        Some(json!({ "annotations": many })),
    )
    .await;
    assert_eq!(status, 422, "33 in all: {problem}");
    assert_eq!(pointers(&problem), ["/annotations"]);
    let (_, me) = api(
        &server,
        Some(&token),
        Method::GET,
        "/api/v1/me/profile?include_annotations=1",
        None,
    )
    .await;
    assert_eq!(me["given_name"], "Bo", "nothing of a refused write applied");
    assert_eq!(me["annotations"].as_array().map(Vec::len), Some(1));

    // A third-party client never sees or writes them.
    let third = register(&server, true).await;
    let third_token = access_token(&server, &b, &third, "openid profile profile:write").await;
    let info = userinfo(&server, &third_token).await;
    assert!(info.get("annotations").is_none(), "{info}");
    let (_, me) = api(
        &server,
        Some(&third_token),
        Method::GET,
        "/api/v1/me?include_annotations=1",
        None,
    )
    .await;
    assert!(me["profile"].get("annotations").is_none(), "{me}");
    let (status, _) = api(
        &server,
        Some(&third_token),
        Method::PATCH,
        "/api/v1/me/profile",
        Some(json!({ "annotations": [{ "type": "com.evil.x", "value": {} }] })),
    )
    .await;
    assert_eq!(status, 403);

    // The schema's levels: read-only for the end user, then hidden from apps too.
    let (status, levels) = call(
        &server,
        Some(&key),
        Method::PATCH,
        "/profile-schema/annotations",
        Some(json!({ "end_user": "readonly" })),
    )
    .await;
    assert_eq!(status, 200, "{levels}");
    assert_eq!(
        levels,
        json!({ "end_user": "readonly", "bearer": "readonly" })
    );
    let (status, _) = api(
        &server,
        Some(&token),
        Method::PATCH,
        "/api/v1/me/profile",
        Some(json!({ "annotations": [{ "type": "com.example.more", "value": {} }] })),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        userinfo(&server, &token).await["annotations"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let (status, _) = call(
        &server,
        Some(&key),
        Method::PATCH,
        "/profile-schema/annotations",
        Some(json!({ "end_user": "hidden", "bearer": "hidden" })),
    )
    .await;
    assert_eq!(status, 200);
    assert!(userinfo(&server, &token).await.get("annotations").is_none());
    let (status, problem) = call(
        &server,
        Some(&key),
        Method::PATCH,
        "/profile-schema/annotations",
        Some(json!({ "bearer": "readwrite" })),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let (_, schema) = call(&server, Some(&key), Method::GET, "/profile-schema", None).await;
    assert_eq!(
        schema["annotations"],
        json!({ "end_user": "hidden", "bearer": "hidden" })
    );
}
