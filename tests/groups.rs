//! Groups (SPEC §12) against a real server: the Admin API, user objects and search by group, the
//! audit log, the `groups` claim in UserInfo and ID tokens (first party with `openid` alone,
//! third party only with the `groups` scope), and isolation between tenants.

mod common;

use common::admin::admin_key;
use common::flows::{self, authorize_path, code_from, register, userinfo};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

async fn call(
    server: &(impl Site + ?Sized),
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, body, _) = common::admin::call(server, Some(key), method, path, body).await;
    (status, body)
}

/// The token response of a code flow for a signed-in browser, consenting when asked.
async fn tokens(
    server: &TestServer,
    b: &reqwest::Client,
    client: &(String, String),
    scope: &str,
) -> Value {
    let mut resp = b
        .get(server.url(&authorize_path(&client.0, scope, &[])))
        .send()
        .await
        .expect("authorize");
    if resp.status() == 200 {
        let html = resp.text().await.expect("consent");
        let token = hidden_field(&html, "csrf_token");
        let request = hidden_field(&html, "request");
        resp = b
            .post(server.url("/oauth2/consent"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("request", request.as_str()),
                ("decision", "allow"),
            ])
            .send()
            .await
            .expect("consent");
    }
    let code = code_from(&resp);
    flows::exchange(server, &client.0, Some(&client.1), &code).await
}

async fn user_id(server: &TestServer, email: &str) -> String {
    store::accounts::find_login_candidate(server.db(), store::accounts::IdentityKind::Email, email)
        .await
        .expect("q")
        .expect("user")
        .user_id
        .to_string()
}

#[tokio::test]
async fn groups_through_the_admin_api() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let b = browser();
    assert_eq!(
        sign_up(&server, &b, "gil@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let gil = user_id(&server, "gil@example.com").await;

    let (status, editors) = call(
        &server,
        &key,
        Method::POST,
        "/groups",
        Some(json!({ "name": "  editors ", "description": "Edit the site" })),
    )
    .await;
    assert_eq!(status, 201, "{editors}");
    assert_eq!(editors["name"], "editors");
    let id = editors["id"].as_str().expect("id").to_owned();
    for (body, status, pointer) in [
        (json!({ "name": "editors" }), 409, "/name"),
        (json!({ "name": "" }), 422, "/name"),
        (json!({ "name": "a\u{7}b" }), 422, "/name"),
        (json!({ "name": "x".repeat(257) }), 422, "/name"),
        (json!({ "name": 5 }), 422, "/name"),
        (json!({}), 422, "/name"),
        (json!({ "name": "ok", "owner": "me" }), 422, "/owner"),
        (
            json!({ "name": "ok", "description": "d".repeat(1025) }),
            422,
            "/description",
        ),
    ] {
        let (got, problem) = call(&server, &key, Method::POST, "/groups", Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{body}");
    }
    let (status, _) = call(
        &server,
        &key,
        Method::POST,
        "/groups",
        Some(json!({ "name": "admins" })),
    )
    .await;
    assert_eq!(status, 201);

    // Members: added once, an unknown user refused, listed, shown on the user.
    let add = json!({ "user_id": gil });
    let path = format!("/groups/{id}/members");
    let (status, _) = call(&server, &key, Method::POST, &path, Some(add.clone())).await;
    assert_eq!(status, 201);
    let (status, _) = call(&server, &key, Method::POST, &path, Some(add.clone())).await;
    assert_eq!(status, 200, "already a member");
    let stranger = json!({ "user_id": profile::Uuid::now_v7().to_string() });
    let (status, problem) = call(&server, &key, Method::POST, &path, Some(stranger)).await;
    assert_eq!(status, 422, "{problem}");
    let (status, problem) = call(&server, &key, Method::POST, &path, Some(json!({}))).await;
    assert_eq!(
        (status, &problem["errors"][0]["pointer"]),
        (422, &json!("/user_id"))
    );
    let (_, members) = call(&server, &key, Method::GET, &path, None).await;
    assert_eq!(members["items"], json!([{ "user_id": gil }]));
    let (_, user) = call(&server, &key, Method::GET, &format!("/users/{gil}"), None).await;
    assert_eq!(user["groups"], json!(["editors"]));
    let (_, found) = call(&server, &key, Method::GET, "/users?group=editors", None).await;
    assert_eq!(found["items"][0]["id"], gil.as_str());
    assert_eq!(found["items"][0]["groups"], json!(["editors"]));
    let (_, found) = call(&server, &key, Method::GET, "/users?group=admins", None).await;
    assert_eq!(found["items"], json!([]));
    let (_, found) = call(&server, &key, Method::GET, "/users?group=nobody", None).await;
    assert_eq!(found["items"], json!([]));

    // Rename and describe; the user's groups follow.
    let (status, renamed) = call(
        &server,
        &key,
        Method::PATCH,
        &format!("/groups/{id}"),
        Some(json!({ "name": "writers", "description": null })),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "writers");
    assert_eq!(renamed["description"], Value::Null);
    let (status, _) = call(
        &server,
        &key,
        Method::PATCH,
        &format!("/groups/{id}"),
        Some(json!({ "name": "admins" })),
    )
    .await;
    assert_eq!(status, 409, "a taken name");
    let (_, user) = call(&server, &key, Method::GET, &format!("/users/{gil}"), None).await;
    assert_eq!(user["groups"], json!(["writers"]));
    let (_, list) = call(&server, &key, Method::GET, "/groups?limit=1", None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let cursor = list["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, rest) = call(
        &server,
        &key,
        Method::GET,
        &format!("/groups?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(rest["items"][0]["name"], "admins");
    assert_eq!(rest["next_cursor"], Value::Null);

    // The audit log names the changes, member events under the member.
    let (_, events) = call(
        &server,
        &key,
        Method::GET,
        &format!("/events?user={gil}&type=group.member_added"),
        None,
    )
    .await;
    assert_eq!(
        events["items"].as_array().map(Vec::len),
        Some(1),
        "{events}"
    );
    assert_eq!(events["items"][0]["detail"]["name"], "editors");

    // A deleted user leaves its groups.
    let (_, admins) = call(&server, &key, Method::GET, "/groups?limit=200", None).await;
    let admins = admins["items"]
        .as_array()
        .and_then(|l| l.iter().find(|g| g["name"] == "admins"))
        .and_then(|g| g["id"].as_str())
        .expect("admins")
        .to_owned();
    let (status, temp) = call(
        &server,
        &key,
        Method::POST,
        "/users",
        Some(json!({ "identities": [{ "type": "username", "value": "temp" }] })),
    )
    .await;
    assert_eq!(status, 201, "{temp}");
    let temp = temp["id"].as_str().expect("id").to_owned();
    let (status, _) = call(
        &server,
        &key,
        Method::POST,
        &format!("/groups/{admins}/members"),
        Some(json!({ "user_id": temp })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(
        &server,
        &key,
        Method::DELETE,
        &format!("/users/{temp}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, members) = call(
        &server,
        &key,
        Method::GET,
        &format!("/groups/{admins}/members"),
        None,
    )
    .await;
    assert_eq!(members["items"], json!([]));

    // Remove, delete; bad ids are 404.
    let member = format!("/groups/{id}/members/{gil}");
    let (status, _) = call(&server, &key, Method::DELETE, &member, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&server, &key, Method::DELETE, &member, None).await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &server,
        &key,
        Method::DELETE,
        &format!("/groups/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    for path in [
        format!("/groups/{id}"),
        "/groups/not-an-id".to_owned(),
        format!("/groups/{id}/members"),
    ] {
        let (status, _) = call(&server, &key, Method::GET, &path, None).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = call(&server, &key, Method::GET, "/groups", None).await;
    assert_eq!(status, 200);
    let (status, _, _) = common::admin::call(&server, None, Method::GET, "/groups", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_groups_claim_goes_to_first_parties_and_to_third_parties_that_ask() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let b = browser();
    assert_eq!(
        sign_up(&server, &b, "hal@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let hal = user_id(&server, "hal@example.com").await;
    for name in ["staff", "admins"] {
        let (_, g) = call(
            &server,
            &key,
            Method::POST,
            "/groups",
            Some(json!({ "name": name })),
        )
        .await;
        let id = g["id"].as_str().expect("id");
        let (status, _) = call(
            &server,
            &key,
            Method::POST,
            &format!("/groups/{id}/members"),
            Some(json!({ "user_id": hal })),
        )
        .await;
        assert_eq!(status, 201);
    }

    let first = register(&server, false).await;
    let t = tokens(&server, &b, &first, "openid").await;
    let id_token = flows::jwt_claims(t["id_token"].as_str().expect("id token"));
    assert_eq!(id_token["groups"], json!(["admins", "staff"]));
    let access = t["access_token"].as_str().expect("access token");
    assert_eq!(
        userinfo(&server, access).await["groups"],
        json!(["admins", "staff"])
    );

    let third = register(&server, true).await;
    let t = tokens(&server, &b, &third, "openid profile").await;
    let id_token = flows::jwt_claims(t["id_token"].as_str().expect("id token"));
    assert!(id_token.get("groups").is_none(), "{id_token}");
    let info = userinfo(&server, t["access_token"].as_str().expect("at")).await;
    assert!(info.get("groups").is_none(), "{info}");

    let t = tokens(&server, &b, &third, "openid groups").await;
    let id_token = flows::jwt_claims(t["id_token"].as_str().expect("id token"));
    assert_eq!(id_token["groups"], json!(["admins", "staff"]));
    let info = userinfo(&server, t["access_token"].as_str().expect("at")).await;
    assert_eq!(info["groups"], json!(["admins", "staff"]));

    // A change shows at once in UserInfo (it is read with the profile).
    let (_, list) = call(&server, &key, Method::GET, "/groups", None).await;
    let staff = list["items"]
        .as_array()
        .and_then(|l| l.iter().find(|g| g["name"] == "staff"))
        .and_then(|g| g["id"].as_str())
        .expect("staff")
        .to_owned();
    let (status, _) = call(
        &server,
        &key,
        Method::DELETE,
        &format!("/groups/{staff}/members/{hal}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(userinfo(&server, access).await["groups"], json!(["admins"]));

    let discovery: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert!(
        discovery["scopes_supported"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("groups")))
    );
    assert!(
        discovery["claims_supported"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("groups")))
    );
}

#[tokio::test]
async fn groups_stay_in_their_tenant() {
    let server = TestServer::start().await;
    let system = auth::admin_keys::create_admin_key(
        server.db(),
        server.clock.as_ref(),
        "system",
        true,
        store::audit::Actor::Cli,
    )
    .await
    .expect("system key")
    .key;
    let (status, _) = call(
        &server,
        &system,
        Method::POST,
        "/tenants",
        Some(json!({ "id": "acme", "name": "Acme" })),
    )
    .await;
    assert_eq!(status, 201);
    let acme = server.tenant("acme");
    let acme_key = admin_key(&acme).await;
    let key = admin_key(&server).await;
    let b = browser();
    assert_eq!(
        sign_up(&server, &b, "ida@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let ida = user_id(&server, "ida@example.com").await;
    let (_, ours) = call(
        &server,
        &key,
        Method::POST,
        "/groups",
        Some(json!({ "name": "staff" })),
    )
    .await;
    let ours = ours["id"].as_str().expect("id").to_owned();

    // The same name is free in the other tenant; our group is not found there; our user cannot
    // join theirs.
    let (status, theirs) = call(
        &acme,
        &acme_key,
        Method::POST,
        "/groups",
        Some(json!({ "name": "staff" })),
    )
    .await;
    assert_eq!(status, 201);
    let theirs = theirs["id"].as_str().expect("id").to_owned();
    for (method, path, body) in [
        (Method::GET, format!("/groups/{ours}"), None),
        (
            Method::PATCH,
            format!("/groups/{ours}"),
            Some(json!({ "name": "x" })),
        ),
        (Method::DELETE, format!("/groups/{ours}"), None),
        (Method::GET, format!("/groups/{ours}/members"), None),
        (
            Method::POST,
            format!("/groups/{ours}/members"),
            Some(json!({ "user_id": ida })),
        ),
    ] {
        let (status, _) = call(&acme, &acme_key, method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    let (status, _) = call(
        &acme,
        &acme_key,
        Method::POST,
        &format!("/groups/{theirs}/members"),
        Some(json!({ "user_id": ida })),
    )
    .await;
    assert_eq!(status, 422, "a user of another tenant");
    // Their key does not work here.
    let (status, _) = call(&server, &acme_key, Method::GET, "/groups", None).await;
    assert_eq!(status, 401);
    let (_, list) = call(&acme, &acme_key, Method::GET, "/groups", None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}
