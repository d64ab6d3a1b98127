//! The Admin API's user search and lists, identities added by the admin, and admin keys.

mod common;

use common::admin::{admin_key, call};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn schema(server: &TestServer, key: &str) {
    for def in [
        json!({ "name": "team", "type": "enum", "enum": ["Red", "Blue"] }),
        json!({ "name": "badge_number", "type": "integer" }),
    ] {
        let (status, body, _) = call(
            server,
            Some(key),
            Method::POST,
            "/profile-schema/custom",
            Some(def),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
}

async fn create(server: &TestServer, key: &str, body: Value) -> String {
    let (status, user, _) = call(server, Some(key), Method::POST, "/users", Some(body)).await;
    assert_eq!(status, 201, "{user}");
    user["id"].as_str().expect("id").to_owned()
}

/// The ids a search finds (one page of up to 200).
async fn found(server: &TestServer, key: &str, query: &str) -> Vec<String> {
    let (status, body, _) = call(
        server,
        Some(key),
        Method::GET,
        &format!("/users?limit=200&{query}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{query}: {body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn users_are_found_by_every_searchable_field() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    schema(&server, &key).await;
    let ada = create(&server, &key, json!({
        "identities": [{ "type": "email", "value": "Ada@Example.org" }, { "type": "username", "value": "countess" },
                       { "type": "phone", "value": "+44 20 7946 0958" }],
        "profile": { "given_name": "Ada", "family_name": "Lovelace", "name": "Ada King Lovelace",
                     "custom_attributes": { "team": "Red", "badge_number": 1815 } }
    })).await;
    let grace = create(&server, &key, json!({
        "identities": [{ "type": "email", "value": "grace@navy.example" }],
        "profile": { "given_name": "Grace", "family_name": "Hopper", "custom_attributes": { "team": "Blue" } }
    })).await;
    let alan = create(
        &server,
        &key,
        json!({
            "identities": [{ "type": "username", "value": "alan_t" }],
            "profile": { "given_name": "Alan", "family_name": "Turing" }
        }),
    )
    .await;

    assert_eq!(
        found(&server, &key, "").await,
        vec![ada.clone(), grace.clone(), alan.clone()]
    );
    // Free text: name words, email, username, email domain; prefixes, any case, every word.
    assert_eq!(found(&server, &key, "q=ada").await, vec![ada.clone()]);
    assert_eq!(found(&server, &key, "q=LOVE").await, vec![ada.clone()]);
    assert_eq!(found(&server, &key, "q=king+ada").await, vec![ada.clone()]);
    assert_eq!(
        found(&server, &key, "q=ada+hopper").await,
        Vec::<String>::new()
    );
    assert_eq!(
        found(&server, &key, "q=navy.example").await,
        vec![grace.clone()]
    );
    assert_eq!(found(&server, &key, "q=alan_").await, vec![alan.clone()]);
    assert_eq!(found(&server, &key, "q=countess").await, vec![ada.clone()]);
    assert_eq!(found(&server, &key, "q=%25").await, Vec::<String>::new());
    // Login IDs, normalised like at sign-in.
    assert_eq!(
        found(&server, &key, "email=ADA%40example.org").await,
        vec![ada.clone()]
    );
    assert_eq!(
        found(&server, &key, "phone_number=%2B442079460958").await,
        vec![ada.clone()]
    );
    assert_eq!(
        found(&server, &key, "preferred_username=Countess").await,
        vec![ada.clone()]
    );
    assert_eq!(
        found(&server, &key, "email=not-an-email").await,
        Vec::<String>::new()
    );
    // Custom attributes, exactly (text without regard to case), combined with the rest.
    assert_eq!(
        found(&server, &key, "attr.team=red").await,
        vec![ada.clone()]
    );
    assert_eq!(
        found(&server, &key, "attr.team=Blue").await,
        vec![grace.clone()]
    );
    assert_eq!(
        found(&server, &key, "attr.badge_number=1815").await,
        vec![ada.clone()]
    );
    assert_eq!(
        found(&server, &key, "attr.team=Red&q=grace").await,
        Vec::<String>::new()
    );

    // The index follows changes: a new name, a removed login ID, disabling.
    let (status, _, _) = call(
        &server,
        Some(&key),
        Method::PATCH,
        &format!("/users/{grace}/profile"),
        Some(json!({ "family_name": "Murray", "custom_attributes": { "team": "Red" } })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(found(&server, &key, "q=hopper").await, Vec::<String>::new());
    assert_eq!(found(&server, &key, "q=murray").await, vec![grace.clone()]);
    assert_eq!(
        found(&server, &key, "attr.team=red").await,
        vec![ada.clone(), grace.clone()]
    );
    let (_, ids, _) = call(
        &server,
        Some(&key),
        Method::GET,
        &format!("/users/{ada}/identities"),
        None,
    )
    .await;
    let username = ids["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "username")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, _) = call(
        &server,
        Some(&key),
        Method::DELETE,
        &format!("/users/{ada}/identities/{username}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        found(&server, &key, "q=countess").await,
        Vec::<String>::new()
    );
    let (status, _, _) = call(
        &server,
        Some(&key),
        Method::POST,
        &format!("/users/{alan}/disable"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        found(&server, &key, "disabled=true").await,
        vec![alan.clone()]
    );
    assert_eq!(
        found(&server, &key, "disabled=false").await,
        vec![ada.clone(), grace.clone()]
    );

    // Bad parameters are 400 naming the parameter, never 5xx.
    for (query, pointer) in [
        ("limit=0", "/limit"),
        ("limit=201", "/limit"),
        ("limit=ten", "/limit"),
        ("cursor=nope", "/cursor"),
        ("disabled=maybe", "/disabled"),
        ("attr.nothing=1", "/attr.nothing"),
        ("colour=red", "/colour"),
        ("q=a&q=b", "/q"),
        ("q=a+b+c+d+e+f+g+h+i", "/q"),
    ] {
        let (status, body, _) = call(
            &server,
            Some(&key),
            Method::GET,
            &format!("/users?{query}"),
            None,
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["errors"][0]["pointer"], pointer, "{query}");
    }
    let (status, _, _) = call(&server, None, Method::GET, "/users", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_cursor_stays_correct_while_users_are_added() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let mut before = Vec::new();
    for i in 0..5 {
        before.push(create(&server, &key, json!({ "identities": [{ "type": "email", "value": format!("u{i}@example.com") }] })).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut added = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/users?limit=2&cursor={c}"),
            None => "/users?limit=2".to_owned(),
        };
        let (status, page, _) = call(&server, Some(&key), Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        // Someone signs up while the admin pages through.
        if added.len() < 2 {
            added.push(create(&server, &key, json!({ "identities": [{ "type": "email", "value": format!("new{}@example.com", added.len()) }] })).await);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut expected = before.clone();
    expected.extend(added);
    assert_eq!(
        seen, expected,
        "every user once, in order, the new ones at the end"
    );
}

#[tokio::test]
async fn identities_are_added_by_the_admin() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let ada = create(
        &server,
        &key,
        json!({ "identities": [{ "type": "email", "value": "ada@example.org" }] }),
    )
    .await;
    let bob = create(
        &server,
        &key,
        json!({ "identities": [{ "type": "email", "value": "bob@example.org" }] }),
    )
    .await;
    let path = format!("/users/{ada}/identities");
    let (status, added, _) = call(
        &server,
        Some(&key),
        Method::POST,
        &path,
        Some(json!({ "type": "email", "value": " Ada.Work@Example.org ", "verified": true })),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["type"], "email");
    assert_eq!(added["value"], "ada.work@example.org");
    assert_eq!(added["verified"], true);
    assert_eq!(
        found(&server, &key, "email=ada.work%40example.org").await,
        vec![ada.clone()]
    );
    let (_, user, _) = call(
        &server,
        Some(&key),
        Method::GET,
        &format!("/users/{ada}"),
        None,
    )
    .await;
    assert_eq!(user["identities"].as_array().unwrap().len(), 2);

    let (status, body, _) = call(
        &server,
        Some(&key),
        Method::POST,
        &path,
        Some(json!({ "type": "username", "value": "ada" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["verified"], false);
    // Taken by another account, taken by herself, invalid, unknown user.
    for (target, body, expected) in [
        (
            &ada,
            json!({ "type": "email", "value": "bob@example.org" }),
            409,
        ),
        (
            &ada,
            json!({ "type": "email", "value": "ada@example.org" }),
            409,
        ),
        (
            &ada,
            json!({ "type": "email", "value": "not an email" }),
            422,
        ),
        (&ada, json!({ "type": "fax", "value": "123" }), 422),
        (&ada, json!({ "type": "phone", "value": "12" }), 422),
        (
            &ada,
            json!({ "type": "email", "value": "x@example.org", "verified": "yes" }),
            422,
        ),
        (&ada, json!(["email"]), 422),
        (&bob, json!({ "type": "username", "value": "ADA" }), 409),
    ] {
        let (status, problem, _) = call(
            &server,
            Some(&key),
            Method::POST,
            &format!("/users/{target}/identities"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, expected, "{body}: {problem}");
    }
    let (status, _, _) = call(
        &server,
        Some(&key),
        Method::POST,
        &format!("/users/{}/identities", store::Uuid::new_v4()),
        Some(json!({ "type": "email", "value": "z@example.org" })),
    )
    .await;
    assert_eq!(status, 404);
    let (_, user, _) = call(
        &server,
        Some(&key),
        Method::GET,
        &format!("/users/{ada}"),
        None,
    )
    .await;
    assert_eq!(
        user["identities"].as_array().unwrap().len(),
        3,
        "refused adds changed nothing"
    );
}

#[tokio::test]
async fn admin_keys_are_listed_and_revoked() {
    let server = TestServer::start().await;
    let first = admin_key(&server).await;
    let second = admin_key(&server).await;
    let (status, list, _) = call(&server, Some(&first), Method::GET, "/admin-keys", None).await;
    assert_eq!(status, 200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let text = list.to_string();
    assert!(
        !text.contains(&first) && !text.contains(&second),
        "keys are never shown again"
    );
    assert!(!text.contains("hash"));
    assert!(
        items[0]["last_used_at"].is_string(),
        "the key in use is marked used"
    );
    let second_id = items[1]["id"].as_str().unwrap().to_owned();

    let (status, _, _) = call(&server, Some(&second), Method::GET, "/users", None).await;
    assert_eq!(status, 200);
    let (status, _, _) = call(
        &server,
        Some(&first),
        Method::DELETE,
        &format!("/admin-keys/{second_id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, headers) = call(&server, Some(&second), Method::GET, "/users", None).await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
    for id in [
        second_id.as_str(),
        "junk",
        &store::Uuid::new_v4().to_string(),
    ] {
        let (status, _, _) = call(
            &server,
            Some(&first),
            Method::DELETE,
            &format!("/admin-keys/{id}"),
            None,
        )
        .await;
        assert_eq!(status, 404, "{id}");
    }
    let (_, list, _) = call(&server, Some(&first), Method::GET, "/admin-keys", None).await;
    assert_eq!(list["items"][1]["revoked"], true);
    let (_, events, _) = call(
        &server,
        Some(&first),
        Method::GET,
        "/events?type=admin_key.revoked",
        None,
    )
    .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
}

/// A client_credentials token request; the status.
async fn client_token(server: &TestServer, id: &str, secret: &str) -> u16 {
    reqwest::Client::new()
        .post(server.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .status()
        .as_u16()
}

#[tokio::test]
async fn client_changes_through_the_admin_api_apply_at_once() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let (status, client, _) = call(
        &server,
        Some(&key),
        Method::POST,
        "/clients",
        Some(json!({ "name": "Batch", "grant_types": ["client_credentials"] })),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    let id = client["client_id"].as_str().unwrap().to_owned();
    let old = client["client_secret"].as_str().unwrap().to_owned();
    // The client is now in the token endpoint's cache.
    assert_eq!(client_token(&server, &id, &old).await, 200);
    let (status, rotated, _) = call(
        &server,
        Some(&key),
        Method::POST,
        &format!("/clients/{id}/secret"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let new = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        client_token(&server, &id, &old).await,
        401,
        "the old secret stops at once"
    );
    assert_eq!(client_token(&server, &id, &new).await, 200);
    let (status, _, _) = call(&server, Some(&key), Method::PATCH, &format!("/clients/{id}"),
        Some(json!({ "grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"] }))).await;
    assert_eq!(status, 200);
    assert_eq!(
        client_token(&server, &id, &new).await,
        400,
        "the grant is no longer allowed"
    );
    let (status, _, _) = call(
        &server,
        Some(&key),
        Method::DELETE,
        &format!("/clients/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        client_token(&server, &id, &new).await,
        401,
        "a deleted client stops at once"
    );
}

#[tokio::test]
async fn ending_sessions_from_the_admin_api_tells_clients_by_back_channel() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let (bc_url, received) = common::peers::http_collector("/backchannel").await;
    let registered = oidc::clients::register_client(
        server.db(),
        server.clock.as_ref(),
        oidc::clients::ClientRegistration {
            name: "RP".into(),
            redirect_uris: vec![common::flows::REDIRECT.into()],
            backchannel_logout_uri: Some(bc_url),
            ..Default::default()
        },
        store::audit::Actor::Cli,
    )
    .await
    .expect("register");
    let client_id = registered.client.client_id;
    let b = browser();
    assert_eq!(
        sign_up(&server, &b, "ida@example.com", "correct horse battery")
            .await
            .status(),
        303
    );
    let tokens = common::flows::tokens_for(
        &server,
        &b,
        &client_id,
        registered.client_secret.as_deref(),
        "openid",
    )
    .await;
    assert!(tokens["id_token"].is_string());
    let user = store::accounts::find_login_candidate(
        server.db(),
        store::accounts::IdentityKind::Email,
        "ida@example.com",
    )
    .await
    .unwrap()
    .unwrap()
    .user_id;
    let (status, _, _) = call(
        &server,
        Some(&key),
        Method::DELETE,
        &format!("/users/{user}/sessions"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let body = common::peers::first_body(&received).await;
    assert!(body.starts_with("logout_token="), "{body}");
    assert_eq!(signed_in_as(&server, &b).await, None);
}
