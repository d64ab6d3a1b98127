//! The attacks of SPEC §8 (issue 15), each run as an attacker would against a real server, on
//! both databases: consent bypass on the self-service API, the open redirect of public avatars,
//! pre-account hijacking through an unverified session, parallel code guessing, codes that outlive
//! their sign-in, forged CSRF tokens, the hidden-attribute oracle, forged client addresses, and the
//! rate limits, headers and metrics token.

mod common;

use common::admin::{admin_key, call};
use common::flows;
use common::peers::smtp_server;
use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// A signed-up (and, when verification is off, usable) browser and its user id.
async fn user(server: &TestServer, email: &str) -> (reqwest::Client, String) {
    let b = browser();
    assert_eq!(sign_up(server, &b, email, PASSWORD).await.status(), 303);
    let id = store::accounts::find_login_candidate(
        server.db(),
        store::accounts::IdentityKind::Email,
        email,
    )
    .await
    .expect("lookup")
    .expect("user")
    .user_id
    .to_string();
    (b, id)
}

async fn get_json(server: &TestServer, path: &str, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// PATCH (a merge patch) or PUT of `/api/v1/me/profile` with a bearer token.
async fn write_profile(
    server: &TestServer,
    token: &str,
    method: Method,
    body: Value,
) -> (u16, Value) {
    let content_type = if method == Method::PATCH {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    let resp = reqwest::Client::new()
        .request(method, server.url("/api/v1/me/profile"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("write");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn patch_profile(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    write_profile(server, token, Method::PATCH, body).await
}

async fn put_profile(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    write_profile(server, token, Method::PUT, body).await
}

async fn admin_patch(server: &TestServer, key: &str, user_id: &str, body: Value) {
    let (status, body, _) = call(
        server,
        Some(key),
        Method::PATCH,
        &format!("/users/{user_id}/profile"),
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// The admin view of a user.
async fn admin_user(server: &TestServer, key: &str, user_id: &str) -> Value {
    let (status, body, _) = call(
        server,
        Some(key),
        Method::GET,
        &format!("/users/{user_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_third_party_token_sees_on_the_self_service_api_only_what_userinfo_gives_it() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let (b, id) = user(&server, "vera@example.com").await;
    admin_patch(
        &server,
        &key,
        &id,
        json!({ "given_name": "Vera", "family_name": "Lind" }),
    )
    .await;
    let third = flows::register(&server, true).await;

    // Only `openid` granted: UserInfo gives `sub`, and so does the self-service API.
    let token = flows::access_token(&server, &b, &third, "openid").await;
    let info = flows::userinfo(&server, &token).await;
    assert_eq!(info, json!({ "sub": id }));
    let (status, me) = get_json(&server, "/api/v1/me", &token).await;
    assert_eq!(status, 200);
    assert_eq!(me["id"], json!(id));
    assert_eq!(me["identities"], json!([]), "{me}");
    let profile = me["profile"].as_object().expect("profile");
    assert!(profile.is_empty(), "the profile leaked: {me}");
    let (status, p) = get_json(&server, "/api/v1/me/profile", &token).await;
    assert_eq!((status, p), (200, json!({})));
    // And it cannot write.
    let (status, _) = patch_profile(&server, &token, json!({ "given_name": "Mallory" })).await;
    assert_eq!(status, 403);

    // `openid email` consented: the email claim and the email identity, nothing of `profile`.
    let token = flows::access_token(&server, &b, &third, "openid email").await;
    let (_, me) = get_json(&server, "/api/v1/me", &token).await;
    assert_eq!(me["profile"]["email"], "vera@example.com", "{me}");
    assert!(me["profile"].get("given_name").is_none(), "{me}");
    let kinds: Vec<&str> = me["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .filter_map(|i| i["type"].as_str())
        .collect();
    assert_eq!(kinds, ["email"]);
    let info = flows::userinfo(&server, &token).await;
    let mut shown = me["profile"].clone();
    shown["sub"] = json!(id);
    assert_eq!(
        info, shown,
        "the self-service API shows what UserInfo shows"
    );

    // `profile profile:write` consented: writes within the granted scopes only; a PUT clears
    // nothing outside them.
    let token = flows::access_token(&server, &b, &third, "openid profile profile:write").await;
    let (status, body) = patch_profile(&server, &token, json!({ "given_name": "Vee" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["given_name"], "Vee");
    assert!(body.get("email").is_none(), "{body}");
    let (status, _) = patch_profile(&server, &token, json!({ "email": "vera@example.com" })).await;
    assert_eq!(status, 403, "email is outside the granted scopes");
    let (status, body) = put_profile(&server, &token, json!({ "family_name": "Lind" })).await;
    assert_eq!(status, 200, "{body}");
    let stored = admin_user(&server, &key, &id).await;
    assert_eq!(stored["profile"]["email"], "vera@example.com", "{stored}");
    assert!(stored["profile"].get("given_name").is_none(), "{stored}");

    // A first-party token keeps the end user's view.
    let first = flows::register(&server, false).await;
    let token = flows::access_token(&server, &b, &first, "openid").await;
    let (_, me) = get_json(&server, "/api/v1/me", &token).await;
    assert_eq!(me["profile"]["email"], "vera@example.com");
    assert_eq!(me["identities"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn public_avatar_urls_redirect_only_to_images_tessera_serves_or_listed_hosts() {
    let server = TestServer::start_with(|c| {
        c.images.redirect_hosts = vec!["cdn.example.com".into()];
    })
    .await;
    let key = admin_key(&server).await;
    let (_, id) = user(&server, "otto@example.com").await;
    let avatar = |query: &'static str| {
        let url = server.url(&format!("/api/v1/users/{id}/avatar{query}"));
        async move {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client")
                .get(url)
                .send()
                .await
                .expect("avatar")
        }
    };
    // The generated default is Tessera's own.
    let resp = avatar("").await;
    assert_eq!(resp.status(), 302);
    assert!(
        location(&resp).starts_with(&format!("{}/avatars/", server.base)),
        "{}",
        location(&resp)
    );
    let port = server.base.rsplit(':').next().expect("port").to_owned();
    for evil in [
        "https://evil.example/phish.png".to_owned(),
        format!("http://127.0.0.1.evil.example:{port}/images/x"),
        format!("http://evil.example:{port}/avatars/x"),
        "https://cdn.example.com.evil.example/a.png".to_owned(),
        format!("https://127.0.0.1:{port}/images/x"),
    ] {
        admin_patch(&server, &key, &id, json!({ "picture": evil })).await;
        let resp = avatar("?x=y").await;
        assert_eq!(resp.status(), 404, "{evil} → {:?}", resp.headers());
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        assert!(resp.headers().get("location").is_none());
    }
    admin_patch(
        &server,
        &key,
        &id,
        json!({ "picture": "https://cdn.example.com/u/otto.png" }),
    )
    .await;
    let resp = avatar("?size=64").await;
    assert_eq!(resp.status(), 302);
    assert_eq!(
        location(&resp),
        "https://cdn.example.com/u/otto.png?size=64"
    );
}

/// Reads the code of the newest message, waiting for it to arrive.
async fn next_code(inbox: &common::peers::Inbox, count: usize) -> String {
    inbox.wait_for(count).await;
    inbox.last_code()
}

#[tokio::test]
async fn an_unverified_pre_registration_gives_the_attacker_no_way_in_after_the_owner_resets() {
    let (smtp, inbox) = smtp_server();
    let server = TestServer::start_with(|c| {
        c.verification.email.required = true;
        c.smtp.url = smtp.clone();
    })
    .await;
    let key = admin_key(&server).await;
    // The attacker registers the victim's address and never verifies it.
    let (attacker, id) = user(&server, "victim@example.com").await;
    inbox.wait_for(1).await;
    let page = attacker
        .get(server.url("/verify-email"))
        .send()
        .await
        .expect("code page")
        .text()
        .await
        .expect("html");
    let token = hidden_field(&page, "csrf_token");

    // Every way to add a login ID, link a provider or change the account leads to the code page.
    let gated = |resp: &reqwest::Response| {
        resp.status() == 303 && location(resp).starts_with("/verify-email")
    };
    let resp = attacker
        .get(server.url("/identities/add?type=email"))
        .send()
        .await
        .expect("add form");
    assert!(gated(&resp), "{} {}", resp.status(), location(&resp));
    for (path, form) in [
        (
            "/identities/add",
            vec![("kind", "email"), ("value", "attacker@example.com")],
        ),
        (
            "/identities/confirm",
            vec![
                ("kind", "email"),
                ("value", "attacker@example.com"),
                ("code", "123456"),
            ],
        ),
        ("/settings/upstream/corp/link", vec![]),
        ("/settings/profile", vec![("given_name", "Mallory")]),
        ("/settings/password", vec![("current_password", PASSWORD)]),
        ("/settings/sessions/revoke-others", vec![]),
        ("/settings/avatar/regenerate", vec![]),
        ("/settings/apps/some-client/revoke", vec![]),
        (
            "/settings/sessions/00000000-0000-0000-0000-000000000000/revoke",
            vec![],
        ),
        (
            "/identities/00000000-0000-0000-0000-000000000000/remove",
            vec![],
        ),
        (
            "/settings/upstream/00000000-0000-0000-0000-000000000000/unlink",
            vec![],
        ),
    ] {
        let mut fields = vec![("csrf_token", token.as_str())];
        fields.extend(form);
        let resp = attacker
            .post(server.url(path))
            .form(&fields)
            .send()
            .await
            .expect("post");
        assert!(
            gated(&resp),
            "{path}: {} {}",
            resp.status(),
            location(&resp)
        );
    }
    let resp = attacker
        .get(server.url("/settings"))
        .send()
        .await
        .expect("settings");
    assert!(gated(&resp), "{} {}", resp.status(), location(&resp));
    for path in [
        "/settings/avatar",
        "/settings/cover",
        "/settings/images/photo",
    ] {
        let form = reqwest::multipart::Form::new()
            .text("csrf_token", token.clone())
            .part(
                "avatar",
                reqwest::multipart::Part::bytes(vec![0u8; 8]).file_name("a.png"),
            );
        let resp = attacker
            .post(server.url(path))
            .multipart(form)
            .send()
            .await
            .expect("upload");
        assert!(
            gated(&resp),
            "{path}: {} {}",
            resp.status(),
            location(&resp)
        );
    }
    assert_eq!(inbox.count(), 1, "no code went to the attacker's address");
    let user = admin_user(&server, &key, &id).await;
    assert_eq!(
        user["identities"].as_array().map(Vec::len),
        Some(1),
        "{user}"
    );

    // The owner resets the password by a code sent to their address.
    let owner = browser();
    let csrf = csrf_token(&owner, &server.url("/reset-password")).await;
    let resp = owner
        .post(server.url("/reset-password"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", "victim@example.com"),
        ])
        .send()
        .await
        .expect("reset");
    assert_eq!(resp.status(), 200);
    let code = next_code(&inbox, 2).await;
    let csrf = csrf_token(
        &owner,
        &server.url("/reset-password/code?email=victim%40example.com"),
    )
    .await;
    let resp = owner
        .post(server.url("/reset-password/code"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", "victim@example.com"),
            ("code", code.as_str()),
            ("password", "the owner's own password"),
        ])
        .send()
        .await
        .expect("reset code");
    assert_eq!(resp.status(), 303);
    // Proving the address by the reset code verified it; the attacker's session is over and the
    // attacker's password is gone.
    let user = admin_user(&server, &key, &id).await;
    assert_eq!(user["identities"][0]["verified"], true, "{user}");
    assert_eq!(signed_in_as(&server, &attacker).await, None);
    assert_eq!(
        log_in(&server, &browser(), "victim@example.com", PASSWORD)
            .await
            .status(),
        401
    );
    let owner = browser();
    assert_eq!(
        log_in(
            &server,
            &owner,
            "victim@example.com",
            "the owner's own password"
        )
        .await
        .status(),
        303
    );
    assert_eq!(
        signed_in_as(&server, &owner).await.as_deref(),
        Some("victim@example.com"),
        "the owner goes straight in: nothing left to verify"
    );
}

#[tokio::test]
async fn fifty_parallel_wrong_guesses_evaluate_at_most_max_attempts() {
    let (smtp, inbox) = smtp_server();
    let server = TestServer::start_with(|c| {
        c.verification.email.required = true;
        c.smtp.url = smtp.clone();
        // The per-address lock would stop a flood too; this test is about the code's own counter.
        c.brute_force.max_failures = 1000;
        c.brute_force.ip_failures_per_hour = 1000;
    })
    .await;
    let (b, _) = user(&server, "guess@example.com").await;
    let code = next_code(&inbox, 1).await;
    let page = b
        .get(server.url("/verify-email"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let token = hidden_field(&page, "csrf_token");
    let guesses: Vec<String> = (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .filter(|g| *g != code)
        .take(50)
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for guess in guesses {
        let (b, url, token) = (b.clone(), server.url("/verify-email"), token.clone());
        tasks.spawn(async move {
            b.post(url)
                .form(&[("csrf_token", token.as_str()), ("code", guess.as_str())])
                .send()
                .await
                .expect("guess")
                .text()
                .await
                .expect("html")
        });
    }
    let mut compared = 0;
    while let Some(page) = tasks.join_next().await {
        let page = page.expect("task");
        if page.contains("That code is not right") {
            compared += 1;
        }
    }
    assert!(compared <= 5, "{compared} guesses were compared");
    let stored =
        store::verification_codes::latest(server.db(), "verify_email", "guess@example.com")
            .await
            .expect("code")
            .expect("stored");
    assert_eq!(stored.attempts, 5, "every attempt is used, none beyond");
    // The right code is refused now: the attempts are gone.
    let resp = b
        .post(server.url("/verify-email"))
        .form(&[("csrf_token", token.as_str()), ("code", code.as_str())])
        .send()
        .await
        .expect("right code");
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .expect("html")
            .contains("Too many wrong tries")
    );
}

#[tokio::test]
async fn a_code_dies_with_the_sign_in_that_approved_it() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let client = flows::register(&server, false).await;
    let (b, id) = user(&server, "cody@example.com").await;
    let code_for = |b: reqwest::Client| {
        let url = server.url(&flows::authorize_path(&client.0, "openid", &[]));
        async move {
            let resp = b.get(url).send().await.expect("authorize");
            flows::code_from(&resp)
        }
    };
    // Signed out before the app redeemed the code: the code is void.
    let code = code_for(b.clone()).await;
    let csrf = csrf_token(&b, &server.url("/logout")).await;
    let resp = b
        .post(server.url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 303);
    let tokens = flows::exchange(&server, &client.0, Some(&client.1), &code).await;
    assert_eq!(tokens["error"], "invalid_grant", "{tokens}");

    // Disabled by an admin before the app redeemed the code: refused, and not usable later.
    let b = browser();
    assert_eq!(
        log_in(&server, &b, "cody@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let code = code_for(b.clone()).await;
    let (status, _, _) = call(
        &server,
        Some(&key),
        Method::POST,
        &format!("/users/{id}/disable"),
        None,
    )
    .await;
    assert!(status < 300, "{status}");
    let tokens = flows::exchange(&server, &client.0, Some(&client.1), &code).await;
    assert_eq!(tokens["error"], "invalid_grant", "{tokens}");
    let (status, _, _) = call(
        &server,
        Some(&key),
        Method::POST,
        &format!("/users/{id}/enable"),
        None,
    )
    .await;
    assert!(status < 300, "{status}");
    let tokens = flows::exchange(&server, &client.0, Some(&client.1), &code).await;
    assert_eq!(tokens["error"], "invalid_grant", "{tokens}");

    // An untouched flow still works.
    let b = browser();
    assert_eq!(
        log_in(&server, &b, "cody@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let code = code_for(b).await;
    let tokens = flows::exchange(&server, &client.0, Some(&client.1), &code).await;
    assert!(tokens["access_token"].is_string(), "{tokens}");
}

/// The CSRF token of the scheme before SPEC §8: a plain hash of the cookie value, which anyone
/// who plants the cookie can compute.
fn unkeyed_token(cookie: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"tessera csrf v1\0");
    h.update(cookie.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
}

#[tokio::test]
async fn csrf_tokens_need_the_server_secret_are_bound_to_the_browser_and_renewed_at_sign_in() {
    let server = TestServer::start().await;
    user(&server, "cara@example.com").await;
    // A planted cookie with a token computed from it: refused.
    let planted = "A".repeat(43);
    let resp = reqwest::Client::new()
        .post(server.url("/signup"))
        .header("cookie", format!("tessera_csrf={planted}"))
        .form(&[
            ("csrf_token", unkeyed_token(&planted).as_str()),
            ("email", "planted@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("forged");
    assert_eq!(resp.status(), 403);
    // (A token of another browser is refused: tests/accounts.rs.)
    // The token of the signed-out form does not work once signed in.
    let b = browser();
    let before = csrf_token(&b, &server.url("/login")).await;
    let resp = b
        .post(server.url("/login"))
        .form(&[
            ("csrf_token", before.as_str()),
            ("login_id", "cara@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303);
    let resp = b
        .post(server.url("/settings/sessions/revoke-others"))
        .form(&[("csrf_token", before.as_str())])
        .send()
        .await
        .expect("old token");
    assert_eq!(resp.status(), 403);
    let after = csrf_token(&b, &server.url("/settings")).await;
    assert_ne!(before, after);
    // The key is a server secret in the database: a second process accepts the same token.
    let stored = store::server_secrets::get_or_insert(
        server.db(),
        "csrf",
        "not used: one exists",
        server.clock_now(),
    )
    .await
    .expect("secret");
    assert_ne!(stored, "not used: one exists");
    let second = TestServer::start_sharing(&server).await;
    let resp = b
        .post(second.url("/settings/sessions/revoke-others"))
        .form(&[("csrf_token", after.as_str())])
        .send()
        .await
        .expect("second server");
    assert_eq!(resp.status(), 303, "{}", location(&resp));
}

#[tokio::test]
async fn a_write_naming_a_hidden_attribute_is_refused_whatever_its_value() {
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let (status, body, _) = call(
        &server,
        Some(&key),
        Method::POST,
        "/profile-schema/custom",
        Some(json!({ "name": "salary", "type": "integer" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (b, id) = user(&server, "hugo@example.com").await;
    admin_patch(
        &server,
        &key,
        &id,
        json!({ "middle_name": "Quentin", "custom_attributes": { "salary": 100 } }),
    )
    .await;
    let client = flows::register(&server, false).await;
    let token = flows::access_token(&server, &b, &client, "openid profile:write").await;
    for body in [
        json!({ "custom_attributes": { "salary": 100 } }),
        json!({ "custom_attributes": { "salary": 99 } }),
        json!({ "custom_attributes": { "salary": null } }),
        json!({ "middle_name": "Quentin" }),
        json!({ "middle_name": "Quincy" }),
    ] {
        let (status, problem) = patch_profile(&server, &token, body.clone()).await;
        assert_eq!(status, 403, "{body} → {problem}");
    }
    let (status, problem) = put_profile(
        &server,
        &token,
        json!({ "custom_attributes": { "salary": 100 } }),
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    let stored = admin_user(&server, &key, &id).await;
    assert_eq!(stored["profile"]["custom_attributes"]["salary"], 100);
    assert_eq!(stored["profile"]["middle_name"], "Quentin");
}

/// Signs in through the login form with an `X-Forwarded-For` header on both requests.
async fn log_in_from(server: &TestServer, b: &reqwest::Client, ip: &str, password: &str) -> u16 {
    let page = b
        .get(server.url("/login"))
        .header("x-forwarded-for", ip)
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let token = hidden_field(&page, "csrf_token");
    b.post(server.url("/login"))
        .header("x-forwarded-for", ip)
        .form(&[
            ("csrf_token", token.as_str()),
            ("login_id", "pia@example.com"),
            ("password", password),
        ])
        .send()
        .await
        .expect("login")
        .status()
        .as_u16()
}

async fn audit_ips(server: &TestServer, key: &str, kind: &str) -> Vec<String> {
    let (_, events, _) = call(
        server,
        Some(key),
        Method::GET,
        &format!("/events?type={kind}&limit=100"),
        None,
    )
    .await;
    events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["ip"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn forwarded_addresses_count_only_when_a_trusted_proxy_sends_them() {
    // Behind a trusted proxy: each client has its own address, so one attacker's failures do not
    // lock out everyone else behind the same proxy.
    let server = TestServer::start_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
        c.brute_force.ip_failures_per_hour = 3;
        c.brute_force.max_failures = 100;
    })
    .await;
    let key = admin_key(&server).await;
    user(&server, "pia@example.com").await;
    let attacker = browser();
    for _ in 0..3 {
        assert_eq!(
            log_in_from(&server, &attacker, "203.0.113.66, 198.51.100.9", "wrong").await,
            401
        );
    }
    assert_eq!(
        log_in_from(&server, &attacker, "198.51.100.9", PASSWORD).await,
        429,
        "the attacker's own address is locked"
    );
    let honest = browser();
    assert_eq!(
        log_in_from(&server, &honest, "198.51.100.10", PASSWORD).await,
        303,
        "another client behind the same proxy is not"
    );
    let failed = audit_ips(&server, &key, "login.failed").await;
    assert!(
        !failed.is_empty() && failed.iter().all(|ip| ip == "198.51.100.9"),
        "{failed:?}"
    );
    // The proxy writes X-Forwarded-For; a client's own Forwarded header is not believed.
    let page = attacker
        .get(server.url("/login"))
        .header("forwarded", "for=192.0.2.200")
        .header("x-forwarded-for", "198.51.100.11")
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let token = hidden_field(&page, "csrf_token");
    let resp = attacker
        .post(server.url("/login"))
        .header("forwarded", "for=192.0.2.200")
        .header("x-forwarded-for", "198.51.100.11")
        .form(&[
            ("csrf_token", token.as_str()),
            ("login_id", "pia@example.com"),
            ("password", "wrong"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 401);
    let failed = audit_ips(&server, &key, "login.failed").await;
    assert_eq!(failed.first().map(String::as_str), Some("198.51.100.11"));
    assert!(!failed.iter().any(|ip| ip == "192.0.2.200"), "{failed:?}");
    let (_, sessions, _) = call(
        &server,
        Some(&key),
        Method::GET,
        "/events?type=login.succeeded",
        None,
    )
    .await;
    let last_ip = sessions["items"][0]["ip"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(last_ip, "198.51.100.10");

    // Without trusted proxies the header is the client's word and is ignored.
    let direct = TestServer::start_with(|c| c.brute_force.ip_failures_per_hour = 3).await;
    let key = admin_key(&direct).await;
    user(&direct, "pia@example.com").await;
    let b = browser();
    for spoofed in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_eq!(log_in_from(&direct, &b, spoofed, "wrong").await, 401);
    }
    assert_eq!(
        log_in_from(&direct, &browser(), "203.0.113.4", PASSWORD).await,
        429,
        "a forged header does not buy new addresses"
    );
    let failed = audit_ips(&direct, &key, "login.failed").await;
    assert!(failed.iter().all(|ip| ip == "127.0.0.1"), "{failed:?}");
}

async fn bad_token_request(
    server: &TestServer,
    client_id: &str,
    ip: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(server.url("/oauth2/token"))
        .basic_auth(client_id, Some("not the secret"));
    if let Some(ip) = ip {
        req = req.header("x-forwarded-for", ip);
    }
    req.form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
}

#[tokio::test]
async fn refused_token_requests_are_limited_per_address_and_audited_once_a_minute() {
    let server = TestServer::start_with(|c| {
        c.limits.token_failures_per_ip_per_hour = 5;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let key = admin_key(&server).await;
    let (status, created, _) = call(
        &server,
        Some(&key),
        Method::POST,
        "/clients",
        Some(json!({ "name": "svc", "redirect_uris": [], "grant_types": ["client_credentials"] })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let client_id = created["client_id"].as_str().expect("id").to_owned();
    let secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    for _ in 0..5 {
        let resp = bad_token_request(&server, &client_id, Some("198.51.100.20")).await;
        assert_eq!(resp.status(), 401);
    }
    // Locked: even the right secret is refused from that address, in RFC 6749 JSON.
    let resp = reqwest::Client::new()
        .post(server.url("/oauth2/token"))
        .basic_auth(&client_id, Some(&secret))
        .header("x-forwarded-for", "198.51.100.20")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), 429);
    let retry: i64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry > 3000, "{retry}");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    // Another address is served.
    let resp = reqwest::Client::new()
        .post(server.url("/oauth2/token"))
        .basic_auth(&client_id, Some(&secret))
        .header("x-forwarded-for", "198.51.100.21")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), 200);

    // Five refusals in a minute made one audit event, with their count.
    let events = |server: &TestServer| {
        let key = key.clone();
        let server_url = server.url("/admin/api/v1/events?type=token.failed");
        async move {
            let v: Value = reqwest::Client::new()
                .get(server_url)
                .bearer_auth(key)
                .send()
                .await
                .expect("events")
                .json()
                .await
                .expect("json");
            v["items"].as_array().cloned().unwrap_or_default()
        }
    };
    let first = events(&server).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["detail"]["count"], 1);
    assert_eq!(first[0]["ip"], "198.51.100.20");
    server.clock.advance(chrono::Duration::seconds(61));
    let resp = bad_token_request(&server, &client_id, Some("198.51.100.22")).await;
    assert_eq!(resp.status(), 401);
    for _ in 0..3 {
        bad_token_request(&server, &client_id, Some("198.51.100.22")).await;
    }
    let all = events(&server).await;
    assert_eq!(all.len(), 2, "one more event for the new address: {all:?}");
    // An app that authenticates and forwards bad codes (or revoked refresh tokens) is refused
    // each time but never locked out: only failed client authentications count.
    for _ in 0..8 {
        let resp = reqwest::Client::new()
            .post(server.url("/oauth2/token"))
            .basic_auth(&client_id, Some(&secret))
            .header("x-forwarded-for", "198.51.100.30")
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "made-up"),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(resp.status(), 400);
    }
    let resp = reqwest::Client::new()
        .post(server.url("/oauth2/token"))
        .basic_auth(&client_id, Some(&secret))
        .header("x-forwarded-for", "198.51.100.30")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), 200, "the app's own requests still work");
}

#[tokio::test]
async fn sign_ups_per_address_and_codes_per_account_are_limited() {
    let (smtp, inbox) = smtp_server();
    let server = TestServer::start_with(|c| {
        c.limits.signups_per_ip_per_hour = 2;
        c.limits.codes_per_account_per_day = 2;
        c.verification.email.required = true;
        c.smtp.url = smtp.clone();
    })
    .await;
    let (b, _) = user(&server, "one@example.com").await;
    user(&server, "two@example.com").await;
    let third = browser();
    let resp = sign_up(&server, &third, "three@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    assert!(
        store::accounts::find_login_candidate(
            server.db(),
            store::accounts::IdentityKind::Email,
            "three@example.com"
        )
        .await
        .expect("lookup")
        .is_none()
    );
    // Codes for one account: the sign-up's, one resend, then no more today.
    inbox.wait_for(2).await;
    let resend = |b: reqwest::Client| {
        let server_url = server.url("/verify-email/resend");
        let page_url = server.url("/verify-email");
        async move {
            let token = csrf_token(&b, &page_url).await;
            b.post(server_url)
                .form(&[("csrf_token", token.as_str())])
                .send()
                .await
                .expect("resend")
        }
    };
    // Password resets anyone may ask for do not use up the account's own codes. (Each reset's
    // email goes out in the background: wait for it before the clock moves on.)
    for sent in 3..6 {
        server.clock.advance(chrono::Duration::seconds(61));
        let stranger = browser();
        let csrf = csrf_token(&stranger, &server.url("/reset-password")).await;
        let resp = stranger
            .post(server.url("/reset-password"))
            .form(&[("csrf_token", csrf.as_str()), ("email", "one@example.com")])
            .send()
            .await
            .expect("reset");
        assert_eq!(resp.status(), 200);
        inbox.wait_for(sent).await;
    }
    server.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(resend(b.clone()).await.status(), 200);
    server.clock.advance(chrono::Duration::seconds(61));
    let resp = resend(b.clone()).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.text().await.expect("html").contains("Too many codes"));
    assert_eq!(inbox.count(), 6);
}

#[tokio::test]
async fn pages_send_security_headers_and_metrics_need_the_token() {
    let server = TestServer::start_with(|c| {
        c.server.metrics_token = "a-long-metrics-token".into();
    })
    .await;
    let resp = browser()
        .get(server.url("/login"))
        .send()
        .await
        .expect("login");
    assert_eq!(
        resp.headers()
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok()),
        Some("no-referrer")
    );
    assert!(resp.headers().get("strict-transport-security").is_none());
    let metrics = |token: Option<&'static str>| {
        let url = server.url("/metrics");
        async move {
            let mut req = reqwest::Client::new().get(url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            req.send().await.expect("metrics").status().as_u16()
        }
    };
    assert_eq!(metrics(None).await, 401);
    assert_eq!(metrics(Some("a-long-metrics-tokeX")).await, 401);
    assert_eq!(metrics(Some("a-long-metrics-token")).await, 200);

    let https = TestServer::start_with(|c| c.server.issuer = "https://id.example".into()).await;
    let resp = browser()
        .get(https.url("/login"))
        .send()
        .await
        .expect("login");
    assert_eq!(
        resp.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000")
    );
    let cookies: Vec<&str> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cookies
            .iter()
            .all(|c| c.starts_with("__Host-") && c.contains("Secure") && c.contains("Path=/")),
        "{cookies:?}"
    );
    assert!(!cookies.is_empty());
    // An open metrics endpoint when no token is configured.
    let open = TestServer::start().await;
    let status = reqwest::Client::new()
        .get(open.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .status();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn self_service_writes_wait_for_the_verification_gate_too() {
    let (smtp, _inbox) = smtp_server();
    let server = TestServer::start_with(|c| {
        c.verification.email.required = true;
        c.smtp.url = smtp.clone();
    })
    .await;
    let key = admin_key(&server).await;
    let (b, id) = user(&server, "gale@example.com").await;
    let verified = |value: bool| {
        let (server, key, id) = (&server, key.clone(), id.clone());
        async move {
            let (status, body, _) = call(
                server,
                Some(&key),
                Method::PUT,
                &format!("/users/{id}/verified/email_verified"),
                Some(json!({ "verified": value })),
            )
            .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    verified(true).await;
    let client = flows::register(&server, false).await;
    let token = flows::access_token(&server, &b, &client, "openid profile profile:write").await;
    let (status, _) = patch_profile(&server, &token, json!({ "given_name": "Gale" })).await;
    assert_eq!(status, 200);
    // The address is no longer verified: reads go on, writes wait.
    verified(false).await;
    let (status, problem) =
        patch_profile(&server, &token, json!({ "given_name": "Mallory" })).await;
    assert_eq!(status, 403, "{problem}");
    let (status, _) = get_json(&server, "/api/v1/me", &token).await;
    assert_eq!(status, 200);
    let upload = reqwest::Client::new()
        .post(server.url("/api/v1/me/cover"))
        .bearer_auth(&token)
        .multipart(reqwest::multipart::Form::new().part(
            "cover",
            reqwest::multipart::Part::bytes(vec![0u8; 16]).file_name("c.png"),
        ))
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status(), 403);
    let stored = admin_user(&server, &key, &id).await;
    assert_eq!(stored["profile"]["given_name"], "Gale");
}
