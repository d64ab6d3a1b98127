//! The Admin API: admin-key authentication and the profile-schema routes.

mod common;

use common::admin::{admin_key, call};
use common::*;
use serde_json::json;

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

#[tokio::test]
async fn users_are_created_read_changed_disabled_and_deleted() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let k = Some(key.as_str());

    // Bad requests create nothing.
    for (body, pointer) in [
        (json!({ "identities": [] }), "/identities"),
        (
            json!({ "identities": [{ "type": "email", "value": "nope" }] }),
            "/identities/0/value",
        ),
        (
            json!({ "identities": [{ "type": "fax", "value": "1" }] }),
            "/identities/0/type",
        ),
        (
            json!({ "identities": [{ "type": "email", "value": "a@example.com" }], "password": "short" }),
            "/password",
        ),
        (
            json!({ "identities": [{ "type": "email", "value": "a@example.com" }], "profile": { "birthdate": "soon" } }),
            "/profile/birthdate",
        ),
    ] {
        let (status, problem, _) =
            call(&server, k, Method::POST, "/users", Some(body.clone())).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{problem}");
    }
    assert_eq!(
        store::accounts::count_users(server.db())
            .await
            .expect("count"),
        0
    );

    let (status, user, _) = call(&server, k, Method::POST, "/users", Some(json!({
        "identities": [{ "type": "email", "value": "Zed@Example.com" }, { "type": "phone", "value": "+33 6 12 34 56 78" }],
        "password": "a good password",
        "profile": { "given_name": "Zed", "middle_name": "Hidden from users" }
    }))).await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().expect("id").to_owned();
    assert_eq!(user["disabled"], false);
    assert_eq!(
        user["identities"][0],
        json!({ "id": user["identities"][0]["id"], "type": "email", "value": "zed@example.com", "verified": false })
    );
    assert_eq!(user["identities"][1]["value"], "+33612345678");
    assert_eq!(
        user["profile"]["middle_name"], "Hidden from users",
        "the admin sees and writes everything"
    );
    let (status, _, _) = call(
        &server,
        k,
        Method::POST,
        "/users",
        Some(json!({ "identities": [{ "type": "email", "value": "ZED@example.com" }] })),
    )
    .await;
    assert_eq!(status, 409);

    let (status, got, _) = call(&server, k, Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["profile"]["given_name"], "Zed");
    for missing in [
        "/users/not-a-uuid",
        "/users/01900000-0000-7000-8000-000000000000",
    ] {
        let (status, _, _) = call(&server, k, Method::GET, missing, None).await;
        assert_eq!(status, 404);
    }

    // Profile writes: PATCH merges, PUT replaces, validation applies to the admin too.
    let (status, p, _) = call(
        &server,
        k,
        Method::PATCH,
        &format!("/users/{id}/profile"),
        Some(json!({ "family_name": "Zee" })),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        (p["given_name"].as_str(), p["family_name"].as_str()),
        (Some("Zed"), Some("Zee"))
    );
    let (status, problem, _) = call(
        &server,
        k,
        Method::PATCH,
        &format!("/users/{id}/profile"),
        Some(json!({ "website": "not a url" })),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["pointer"], "/website");
    let (status, p, _) = call(
        &server,
        k,
        Method::PUT,
        &format!("/users/{id}/profile"),
        Some(json!({ "nickname": "Zz" })),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        p.get("given_name").is_none() && p.get("middle_name").is_none(),
        "PUT cleared the rest: {p}"
    );

    // Disable: no sign-in, the live session ends; enable: back.
    let b = browser();
    assert_eq!(
        log_in(&server, &b, "zed@example.com", "a good password")
            .await
            .status(),
        303
    );
    let (status, u, _) = call(
        &server,
        k,
        Method::POST,
        &format!("/users/{id}/disable"),
        None,
    )
    .await;
    assert_eq!((status, u["disabled"].as_bool()), (200, Some(true)));
    assert_eq!(
        signed_in_as(&server, &b).await,
        None,
        "the session stopped working"
    );
    let resp = log_in(&server, &browser(), "zed@example.com", "a good password").await;
    assert_eq!(resp.status(), 403);
    assert!(
        resp.text()
            .await
            .expect("html")
            .contains("This account is disabled.")
    );
    let (status, _, _) = call(
        &server,
        k,
        Method::POST,
        &format!("/users/{id}/enable"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        log_in(&server, &browser(), "zed@example.com", "a good password")
            .await
            .status(),
        303
    );

    // Delete: everything goes; a second delete is 404.
    let resp = reqwest::Client::new()
        .delete(server.url(&format!("/admin/api/v1/users/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), 204);
    let (status, _, _) = call(&server, k, Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!(status, 404);
    let (status, _, _) = call(&server, k, Method::DELETE, &format!("/users/{id}"), None).await;
    assert_eq!(status, 404);
    assert!(
        store::accounts::find_login_candidate(
            server.db(),
            store::accounts::IdentityKind::Email,
            "zed@example.com"
        )
        .await
        .expect("q")
        .is_none()
    );
    let kinds: Vec<String> = store::audit::latest(server.db(), 30)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for k in [
        "user.created",
        "user.disabled",
        "user.enabled",
        "user.deleted",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k}");
    }
}

#[tokio::test]
async fn clients_crud_pagination_and_secret_rotation() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let k = Some(key.as_str());
    let (status, created, _) = call(
        &server,
        k,
        Method::POST,
        "/clients",
        Some(json!({ "name": "Shop", "redirect_uris": ["https://shop.example/cb"] })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().expect("id").to_owned();
    let secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    for body in [
        json!({ "name": "", "redirect_uris": ["https://x.example/cb"] }),
        json!({ "name": "X" }),
        json!({ "name": "X", "redirect_uris": "https://x.example/cb" }),
        json!({ "name": "X", "public": true, "grant_types": ["client_credentials"] }),
    ] {
        let (status, _, _) = call(&server, k, Method::POST, "/clients", Some(body.clone())).await;
        assert_eq!(status, 422, "{body}");
    }
    for i in 0..3 {
        let (status, _, _) = call(
            &server,
            k,
            Method::POST,
            "/clients",
            Some(json!({ "name": format!("M{i}"), "grant_types": ["client_credentials"] })),
        )
        .await;
        assert_eq!(status, 201);
    }
    // Pages of two: 4 clients, two pages, no overlap.
    let (_, page1, _) = call(&server, k, Method::GET, "/clients?limit=2", None).await;
    assert_eq!(page1["items"].as_array().map(Vec::len), Some(2));
    let cursor = page1["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, page2, _) = call(
        &server,
        k,
        Method::GET,
        &format!("/clients?limit=2&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(page2["items"].as_array().map(Vec::len), Some(2));
    assert!(page2["next_cursor"].is_null());
    assert_ne!(
        page1["items"][0]["client_id"],
        page2["items"][0]["client_id"]
    );
    assert!(
        !page1.to_string().contains(&secret),
        "secrets are never listed"
    );
    for bad in [
        "/clients?limit=0",
        "/clients?limit=x",
        "/clients?cursor=garbage",
    ] {
        let (status, _, _) = call(&server, k, Method::GET, bad, None).await;
        assert_eq!(status, 400, "{bad}");
    }

    let (status, patched, _) = call(
        &server,
        k,
        Method::PATCH,
        &format!("/clients/{id}"),
        Some(json!({ "name": "Shop 2", "third_party": true, "require_mfa": true })),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (
            patched["name"].as_str(),
            patched["third_party"].as_bool(),
            patched["require_mfa"].as_bool()
        ),
        (Some("Shop 2"), Some(true), Some(true))
    );
    let stored = oidc::clients::find(server.db(), &id)
        .await
        .expect("q")
        .expect("client");
    assert!(
        stored.require_mfa,
        "a second factor is now demanded for its codes"
    );
    let (status, _, _) = call(
        &server,
        k,
        Method::PATCH,
        &format!("/clients/{id}"),
        Some(json!({ "redirect_uris": ["not a uri"] })),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, _) = call(
        &server,
        k,
        Method::PATCH,
        &format!("/clients/{id}"),
        Some(json!({ "public": true })),
    )
    .await;
    assert_eq!(status, 422);

    // Rotation: the new secret works, the old one no longer does.
    let (status, rotated, _) = call(
        &server,
        k,
        Method::POST,
        &format!("/clients/{id}/secret"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let new_secret = rotated["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_ne!(new_secret, secret);
    let stored = store::clients::find_by_client_id(server.db(), &id)
        .await
        .expect("q")
        .expect("client");
    assert!(auth::secrets::secret_matches(
        &new_secret,
        stored.secret_hash.as_deref().unwrap_or("")
    ));
    assert!(!auth::secrets::secret_matches(
        &secret,
        stored.secret_hash.as_deref().unwrap_or("")
    ));

    let (status, _, _) = call(&server, k, Method::DELETE, &format!("/clients/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _, _) = call(&server, k, Method::GET, &format!("/clients/{id}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn passwords_verified_flags_and_identities() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let k = Some(key.as_str());
    let (_, user, _) = call(&server, k, Method::POST, "/users", Some(json!({
        "identities": [{ "type": "email", "value": "una@example.com" }, { "type": "username", "value": "una" }],
        "password": "the first password"
    }))).await;
    let id = user["id"].as_str().expect("id").to_owned();
    let b = browser();
    assert_eq!(
        log_in(&server, &b, "una@example.com", "the first password")
            .await
            .status(),
        303
    );

    // Setting a password ends the user's sessions; the new one works.
    let (status, _, _) = call(
        &server,
        k,
        Method::PUT,
        &format!("/users/{id}/password"),
        Some(json!({ "password": "short" })),
    )
    .await;
    assert_eq!(status, 422);
    let resp = reqwest::Client::new()
        .put(server.url(&format!("/admin/api/v1/users/{id}/password")))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(json!({ "password": "the second password" }).to_string())
        .send()
        .await
        .expect("set password");
    assert_eq!(resp.status(), 204);
    assert_eq!(signed_in_as(&server, &b).await, None);
    assert_eq!(
        log_in(&server, &browser(), "una", "the second password")
            .await
            .status(),
        303
    );

    // Verified flags.
    let (status, u, _) = call(
        &server,
        k,
        Method::PUT,
        &format!("/users/{id}/verified/email_verified"),
        Some(json!({ "verified": true })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(u["profile"]["email_verified"], true);
    let (status, _, _) = call(
        &server,
        k,
        Method::PUT,
        &format!("/users/{id}/verified/phone_number_verified"),
        Some(json!({ "verified": true })),
    )
    .await;
    assert_eq!(status, 404, "no phone login ID");
    let (status, _, _) = call(
        &server,
        k,
        Method::PUT,
        &format!("/users/{id}/verified/given_name"),
        Some(json!({ "verified": true })),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = call(
        &server,
        k,
        Method::PUT,
        &format!("/users/{id}/verified/email_verified"),
        Some(json!({ "verified": "yes" })),
    )
    .await;
    assert_eq!(status, 422);

    // Identities: listed; removable except the last.
    let (status, list, _) = call(
        &server,
        k,
        Method::GET,
        &format!("/users/{id}/identities"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let items = list["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 2);
    let first = items[0]["id"].as_str().expect("id").to_owned();
    let second = items[1]["id"].as_str().expect("id").to_owned();
    let (status, _, _) = call(
        &server,
        k,
        Method::DELETE,
        &format!("/users/{id}/identities/{first}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, problem, _) = call(
        &server,
        k,
        Method::DELETE,
        &format!("/users/{id}/identities/{second}"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    let (status, _, _) = call(
        &server,
        k,
        Method::DELETE,
        &format!("/users/{id}/identities/{first}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn sessions_are_listed_and_revoked() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let k = Some(key.as_str());
    let (_, user, _) = call(&server, k, Method::POST, "/users", Some(json!({
        "identities": [{ "type": "email", "value": "vio@example.com" }], "password": "a fine password" }))).await;
    let id = user["id"].as_str().expect("id").to_owned();
    let (a, b, c) = (browser(), browser(), browser());
    for client in [&a, &b, &c] {
        assert_eq!(
            log_in(&server, client, "vio@example.com", "a fine password")
                .await
                .status(),
            303
        );
    }
    let (status, list, _) = call(
        &server,
        k,
        Method::GET,
        &format!("/users/{id}/sessions"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let items = list["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["user_agent"], "tessera-tests/1.0");
    let one = items[0]["id"].as_str().expect("id").to_owned();
    let (status, _, _) = call(
        &server,
        k,
        Method::DELETE,
        &format!("/users/{id}/sessions/{one}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let alive = [&a, &b, &c];
    let mut live = 0;
    for client in alive {
        if signed_in_as(&server, client).await.is_some() {
            live += 1;
        }
    }
    assert_eq!(live, 2);
    let (status, _, _) = call(
        &server,
        k,
        Method::DELETE,
        &format!("/users/{id}/sessions/{one}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = call(
        &server,
        k,
        Method::DELETE,
        &format!("/users/{id}/sessions"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    for client in [&a, &b, &c] {
        assert_eq!(signed_in_as(&server, client).await, None);
    }
    let (status, _, _) = call(
        &server,
        k,
        Method::GET,
        "/users/01900000-0000-7000-8000-000000000000/sessions",
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_audit_log_newest_first_with_filters_and_a_cursor() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let k = Some(key.as_str());
    let (_, user, _) = call(&server, k, Method::POST, "/users", Some(json!({
        "identities": [{ "type": "email", "value": "wes@example.com" }], "password": "a fine password" }))).await;
    let id = user["id"].as_str().expect("id").to_owned();
    for _ in 0..3 {
        log_in(&server, &browser(), "wes@example.com", "wrong password").await;
    }
    let (status, all, _) = call(&server, k, Method::GET, "/events?limit=200", None).await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(
        kinds.first(),
        Some(&"login.failed"),
        "newest first: {kinds:?}"
    );
    assert!(kinds.contains(&"user.created") && kinds.contains(&"admin_key.created"));
    let (_, failures, _) = call(
        &server,
        k,
        Method::GET,
        &format!("/events?user={id}&type=login.failed&limit=2"),
        None,
    )
    .await;
    assert_eq!(failures["items"].as_array().map(Vec::len), Some(2));
    let cursor = failures["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, rest, _) = call(
        &server,
        k,
        Method::GET,
        &format!("/events?user={id}&type=login.failed&limit=2&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert!(rest["next_cursor"].is_null());
    assert_eq!(rest["items"][0]["user_id"], id.as_str());
    for bad in [
        "/events?limit=0",
        "/events?cursor=x",
        "/events?user=x",
        "/events?limit=1000",
    ] {
        let (status, _, _) = call(&server, k, Method::GET, bad, None).await;
        assert_eq!(status, 400, "{bad}");
    }
}

#[tokio::test]
async fn oversized_bodies_are_413_and_change_nothing() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let (_, user, _) = call(
        &server,
        Some(&key),
        Method::POST,
        "/users",
        Some(json!({
        "identities": [{ "type": "email", "value": "xia@example.com" }] })),
    )
    .await;
    let id = user["id"].as_str().expect("id").to_owned();
    let huge = json!({ "given_name": "x".repeat(400 * 1024) }).to_string();
    for (method, path) in [
        (Method::PATCH, format!("/admin/api/v1/users/{id}/profile")),
        (Method::POST, "/admin/api/v1/users".to_owned()),
        (Method::PATCH, "/api/v1/me/profile".to_owned()),
        (Method::POST, "/oauth2/token".to_owned()),
    ] {
        let resp = reqwest::Client::new()
            .request(method.clone(), server.url(&path))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 413, "{method} {path}");
    }
    let (_, after, _) = call(
        &server,
        Some(&key),
        Method::GET,
        &format!("/users/{id}"),
        None,
    )
    .await;
    assert!(after["profile"].get("given_name").is_none());
}

/// `POST /users/import`: JSON Lines in, a report out (created, refused lines with numbers); the
/// users are there and sign in with their imported hashes; wrong content types and missing keys
/// are refused.
#[tokio::test]
async fn users_are_imported_from_json_lines() {
    let server = TestServer::start().await;
    let key = common::admin::admin_key(&server).await;
    let body = [
        json!({ "identities": [{ "type": "email", "value": "lin@example.com", "verified": true }],
            "password_hash": "$2b$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS",
            "profile": { "family_name": "Lin" }, "groups": ["imported"] })
        .to_string(),
        "{\"identities\": 7}".to_owned(),
    ]
    .join("\n");
    let post = |content_type: &'static str, key: Option<String>| {
        let mut req = reqwest::Client::new()
            .post(server.url("/admin/api/v1/users/import"))
            .header("content-type", content_type)
            .body(body.clone());
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send()
    };
    let resp = post("application/x-ndjson", Some(key.clone()))
        .await
        .expect("import");
    assert_eq!(resp.status(), 200);
    let report: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["refused"][0]["line"], 2, "{report}");
    let resp = post("application/json", Some(key.clone()))
        .await
        .expect("import");
    assert_eq!(resp.status(), 415);
    let resp = post("application/x-ndjson", None).await.expect("import");
    assert_eq!(resp.status(), 401);
    // The imported user signs in with the old password (and is listed in the group).
    let b = browser();
    let resp = log_in(&server, &b, "lin@example.com", "correct horse battery").await;
    assert_eq!(resp.status(), 303);
    let (_, users, _) = common::admin::call(
        &server,
        Some(&key),
        reqwest::Method::GET,
        "/users?group=imported",
        None,
    )
    .await;
    assert_eq!(users["items"].as_array().map(Vec::len), Some(1), "{users}");
    assert_eq!(users["items"][0]["profile"]["family_name"], "Lin");

    // Plain passwords cost a hash each: one request takes at most 1,000 of them (these fail the
    // policy, but count), and the 1,001st is refused whatever it is.
    let mut lines: Vec<String> = (0..1000)
        .map(|i| {
            json!({ "identities": [{ "type": "email", "value": format!("p{i}@example.com") }],
                "password": "x" })
            .to_string()
        })
        .collect();
    lines.push(
        json!({ "identities": [{ "type": "email", "value": "last@example.com" }],
            "password": "a long enough password" })
        .to_string(),
    );
    let resp = reqwest::Client::new()
        .post(server.url("/admin/api/v1/users/import"))
        .header("content-type", "application/x-ndjson")
        .bearer_auth(&key)
        .body(lines.join("\n"))
        .send()
        .await
        .expect("import");
    assert_eq!(resp.status(), 200);
    let report: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(report["created"], 0, "{report}");
    let refused = report["refused"].as_array().expect("refused");
    assert_eq!(refused.len(), 1001);
    assert_eq!(refused[1000]["line"], 1001);
    let last = refused[1000]["error"].as_str().unwrap_or_default();
    assert!(last.contains("at most 1000 plain passwords"), "{last}");
}
