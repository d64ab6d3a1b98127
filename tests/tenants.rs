//! Tenants (SPEC §11) against a real server: the system Admin API, routing under `/t/{id}`, and
//! isolation. Every credential of one tenant — session cookie, access token, refresh token,
//! authorization code, client secret, admin key, verification code — is tried against another
//! tenant (and the root) and must be refused there while it still works at home.

mod common;

use common::admin::{admin_key, call};
use common::flows::{self, REDIRECT};
use common::peers::smtp_server;
use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use store::audit::Actor;

const PASSWORD: &str = "correct horse battery";

async fn system_key(server: &TestServer) -> String {
    auth::admin_keys::create_admin_key(
        server.db(),
        server.clock.as_ref(),
        "system",
        true,
        Actor::Cli,
    )
    .await
    .expect("system key")
    .key
}

/// Creates tenant `id` through the system Admin API.
async fn create_tenant(server: &TestServer, key: &str, id: &str) -> TenantSite {
    let (status, body, _) = call(
        server,
        Some(key),
        Method::POST,
        "/tenants",
        Some(json!({ "id": id, "name": format!("{id} Inc.") })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let site = server.tenant(id);
    assert_eq!(body["issuer"], site.base.as_str());
    site
}

async fn get_json(url: &str) -> (u16, Value) {
    let resp = reqwest::get(url).await.expect("GET");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The value of cookie `name` in a response's `Set-Cookie` headers, with its attributes.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<(String, String)> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            let (pair, attributes) = c.split_once(';').unwrap_or((c, ""));
            let (n, v) = pair.split_once('=')?;
            (n == name).then(|| (v.to_owned(), attributes.to_owned()))
        })
}

/// GET `url` with exactly the cookie header given (no jar): whether `/settings` answers 200.
async fn settings_with_cookies(url: &str, cookies: &str) -> u16 {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(url)
        .header("cookie", cookies)
        .send()
        .await
        .expect("GET /settings")
        .status()
        .as_u16()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[tokio::test]
async fn the_system_admin_api_creates_lists_and_deletes_tenants() {
    let server = TestServer::start().await;
    let system = system_key(&server).await;
    let tenant_key = admin_key(&server).await;

    // Who may call it: a system key only; the routes are not served inside a tenant.
    let (status, _, _) = call(&server, None, Method::GET, "/tenants", None).await;
    assert_eq!(status, 401);
    let (status, _, _) = call(&server, Some(&tenant_key), Method::GET, "/tenants", None).await;
    assert_eq!(status, 403);
    let (status, _, _) = call(
        &server,
        Some(&tenant_key),
        Method::POST,
        "/tenants",
        Some(json!({ "id": "acme" })),
    )
    .await;
    assert_eq!(status, 403, "a tenant key cannot create tenants");

    let acme = create_tenant(&server, &system, "acme").await;
    let (status, _, _) = call(&acme, Some(&system), Method::GET, "/tenants", None).await;
    assert_eq!(status, 404, "the system API lives at the root only");

    // Bad ids are refused with the field named; taken ids (and `default`) conflict.
    for bad in [
        json!("Acme"),
        json!("a"),
        json!("1abc"),
        json!("a_b"),
        json!(7),
    ] {
        let (status, body, _) = call(
            &server,
            Some(&system),
            Method::POST,
            "/tenants",
            Some(json!({ "id": bad })),
        )
        .await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["errors"][0]["pointer"], "/id");
    }
    let long = format!("a{}", "b".repeat(63));
    let (status, _, _) = call(
        &server,
        Some(&system),
        Method::POST,
        "/tenants",
        Some(json!({ "id": long })),
    )
    .await;
    assert_eq!(status, 422, "64 characters is one too many");
    for taken in ["acme", "default"] {
        let (status, _, _) = call(
            &server,
            Some(&system),
            Method::POST,
            "/tenants",
            Some(json!({ "id": taken })),
        )
        .await;
        assert_eq!(status, 409, "{taken}");
    }

    // Read and list.
    let (status, body, _) = call(&server, Some(&system), Method::GET, "/tenants/acme", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "acme Inc.");
    assert_eq!(body["issuer"], acme.base.as_str());
    let (status, _, _) = call(&server, Some(&system), Method::GET, "/tenants/nope", None).await;
    assert_eq!(status, 404);
    create_tenant(&server, &system, "globex").await;
    let (_, page, _) = call(
        &server,
        Some(&system),
        Method::GET,
        "/tenants?limit=2",
        None,
    )
    .await;
    let ids = |p: &Value| -> Vec<String> {
        p["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|t| t["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(ids(&page), ["acme", "default"]);
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let (_, page, _) = call(
        &server,
        Some(&system),
        Method::GET,
        &format!("/tenants?limit=2&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(ids(&page), ["globex"]);
    assert_eq!(page["next_cursor"], Value::Null);
    let (_, page, _) = call(
        &server,
        Some(&system),
        Method::GET,
        &format!("/tenants?cursor={}", "%27%3B--"),
        None,
    )
    .await;
    assert_eq!(page["status"], 400, "a hostile cursor is a clear error");

    // A tenant is served at once, under its own issuer.
    let (status, discovery) = get_json(&acme.url("/.well-known/openid-configuration")).await;
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], acme.base.as_str());
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ] {
        let url = discovery[endpoint].as_str().expect(endpoint);
        assert!(
            url.starts_with(&format!("{}/", acme.base)),
            "{endpoint}: {url}"
        );
    }
    let (_, root_jwks) = get_json(&server.url("/oauth2/jwks")).await;
    let (status, acme_jwks) = get_json(discovery["jwks_uri"].as_str().expect("jwks")).await;
    assert_eq!(status, 200);
    assert!(!kids(&acme_jwks).is_empty());
    assert!(
        kids(&acme_jwks)
            .iter()
            .all(|k| !kids(&root_jwks).contains(k)),
        "a tenant signs with its own keys"
    );

    // Generated avatars are seeded by the tenant too: one user id and seed, two images.
    let avatar = |url: String| async move {
        let resp = reqwest::get(url).await.expect("avatar");
        assert_eq!(resp.status(), 200);
        resp.text().await.expect("svg")
    };
    let path = format!("/avatars/{}/0123456789abcdef.svg", uuid::Uuid::now_v7());
    let (root_avatar, acme_avatar) = (
        avatar(server.url(&path)).await,
        avatar(acme.url(&path)).await,
    );
    assert!(acme_avatar.starts_with("<svg"));
    assert_ne!(root_avatar, acme_avatar);

    // Unknown, malformed and `default` tenants are 404, on every route.
    for path in [
        "/t/nope/.well-known/openid-configuration",
        "/t/nope/login",
        "/t/default/login",
        "/t/ACME/login",
        "/t/acme%2F../login",
        "/t",
        "/t/",
    ] {
        let resp = reqwest::get(server.url(path)).await.expect("GET");
        assert_eq!(resp.status(), 404, "{path}");
    }
    let (status, _, _) = call(
        &server.tenant("nope"),
        Some(&system),
        Method::GET,
        "/users",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Deleting: never `default`; a deleted tenant is gone at once.
    let (status, _, _) = call(
        &server,
        Some(&system),
        Method::DELETE,
        "/tenants/default",
        None,
    )
    .await;
    assert_eq!(status, 409);
    let (status, _, _) = call(
        &server,
        Some(&tenant_key),
        Method::DELETE,
        "/tenants/acme",
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = call(
        &server,
        Some(&system),
        Method::DELETE,
        "/tenants/acme",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = call(
        &server,
        Some(&system),
        Method::DELETE,
        "/tenants/acme",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get_json(&acme.url("/.well-known/openid-configuration")).await;
    assert_eq!(status, 404);
    let (status, _) = get_json(&server.url("/.well-known/openid-configuration")).await;
    assert_eq!(status, 200, "the root is untouched");
}

#[tokio::test]
async fn every_credential_of_one_tenant_is_refused_by_another() {
    let server = TestServer::start().await;
    let system = system_key(&server).await;
    let acme = create_tenant(&server, &system, "acme").await;
    let globex = create_tenant(&server, &system, "globex").await;
    const EMAIL: &str = "ann@example.com";

    // The same email signs up in the root and in both tenants: three users. One browser does it
    // all, so it holds (and sends) every tenant's cookies at once.
    let b = browser();
    let mut user_ids = Vec::new();
    for site in [&server as &dyn Site, &acme, &globex] {
        let resp = sign_up(site, &b, EMAIL, PASSWORD).await;
        assert_eq!(resp.status(), 303, "sign-up at {}", site.url(""));
        assert_eq!(
            signed_in_as(site, &b).await.as_deref(),
            Some(EMAIL),
            "{}",
            site.url("")
        );
        let (_, users, _) = call(site, Some(&system), Method::GET, "/users", None).await;
        let items = users["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "one user per tenant: {users}");
        user_ids.push(items[0]["id"].as_str().expect("id").to_owned());
    }
    user_ids.sort();
    user_ids.dedup();
    assert_eq!(user_ids.len(), 3, "three different users");

    // Session cookies: a browser signed in to acme only is signed in nowhere else.
    let only_acme = browser();
    let resp = sign_up(&acme, &only_acme, "bob@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    let (session, attributes) =
        set_cookie(&resp, "tessera_session.t.acme").expect("acme's session cookie");
    assert!(attributes.contains("Path=/t/acme"), "{attributes}");
    assert!(attributes.contains("HttpOnly"), "{attributes}");
    assert_eq!(signed_in_as(&globex, &only_acme).await, None);
    assert_eq!(signed_in_as(&server, &only_acme).await, None);
    // A planted cookie: acme's session sent under every name another tenant or the root reads.
    let planted = format!(
        "tessera_session={session}; tessera_session.t.globex={session}; tessera_session.t.acme={session}"
    );
    assert_eq!(
        settings_with_cookies(&acme.url("/settings"), &planted).await,
        200
    );
    assert_ne!(
        settings_with_cookies(&globex.url("/settings"), &planted).await,
        200
    );
    assert_ne!(
        settings_with_cookies(&server.url("/settings"), &planted).await,
        200
    );
    // The root's session cookie value is refused by a tenant too.
    let root_b = browser();
    let resp = sign_up(&server, &root_b, "cy@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    let (root_session, _) = set_cookie(&resp, "tessera_session").expect("root session cookie");
    assert_eq!(
        settings_with_cookies(
            &server.url("/settings"),
            &format!("tessera_session={root_session}")
        )
        .await,
        200
    );
    assert_ne!(
        settings_with_cookies(
            &acme.url("/settings"),
            &format!("tessera_session={root_session}; tessera_session.t.acme={root_session}")
        )
        .await,
        200
    );

    // OAuth: a client of acme, and one of globex with the same redirect URI.
    let acme_client = flows::register(&acme, false).await;
    let globex_client = flows::register(&globex, false).await;
    let tokens = flows::tokens_for(
        &acme,
        &only_acme,
        &acme_client.0,
        Some(&acme_client.1),
        "openid email",
    )
    .await;
    let access = tokens["access_token"].as_str().expect("access token");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    let id_token = tokens["id_token"].as_str().expect("id token");
    assert_eq!(flows::jwt_claims(id_token)["iss"], acme.base.as_str());
    assert_eq!(flows::jwt_claims(access)["iss"], acme.base.as_str());

    // The access token: UserInfo answers at home only.
    assert_eq!(
        flows::userinfo(&acme, access).await["email"],
        "bob@example.com"
    );
    assert_eq!(flows::userinfo_status(&globex, access).await, 401);
    assert_eq!(flows::userinfo_status(&server, access).await, 401);

    // The client secret: unknown outside its tenant.
    let acme_basic = (acme_client.0.as_str(), acme_client.1.as_str());
    let globex_basic = (globex_client.0.as_str(), globex_client.1.as_str());
    let refresh_form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    for site in [&globex as &dyn Site, &server] {
        let (status, body) = flows::token_post(site, &refresh_form, Some(acme_basic)).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_client");
    }
    // The refresh token, with a client that is valid where it is sent.
    let (status, body) = flows::token_post(&globex, &refresh_form, Some(globex_basic)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");

    // An authorization code of acme, redeemed at globex by globex's client, is invalid; the
    // refusal does not burn it at home.
    let resp = only_acme
        .get(acme.url(&flows::authorize_path(&acme_client.0, "openid", &[])))
        .send()
        .await
        .expect("authorize");
    let callback = url::Url::parse(&location(&resp)).expect("callback");
    assert!(
        callback
            .query_pairs()
            .any(|(k, v)| k == "iss" && v == acme.base.as_str()),
        "{callback}"
    );
    let code = flows::code_from(&resp);
    let code_form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", flows::VERIFIER),
    ];
    let (status, body) = flows::token_post(&globex, &code_form, Some(globex_basic)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) = flows::token_post(&acme, &code_form, Some(acme_basic)).await;
    assert_eq!(status, 200, "{body}");
    // The refresh token still works at home.
    let (status, body) = flows::token_post(&acme, &refresh_form, Some(acme_basic)).await;
    assert_eq!(status, 200, "{body}");

    // Admin keys: a tenant key acts in its tenant only; the system key everywhere.
    let acme_key = admin_key(&acme).await;
    let (status, _, _) = call(&acme, Some(&acme_key), Method::GET, "/users", None).await;
    assert_eq!(status, 200);
    for site in [&globex as &dyn Site, &server] {
        let (status, _, _) = call(site, Some(&acme_key), Method::GET, "/users", None).await;
        assert_eq!(status, 401);
    }
    let root_key = admin_key(&server).await;
    let (status, _, _) = call(&acme, Some(&root_key), Method::GET, "/users", None).await;
    assert_eq!(status, 401, "a root tenant key is not a system key");

    // Search and audit of acme never show globex or the root.
    let (_, found, _) = call(
        &acme,
        Some(&acme_key),
        Method::GET,
        &format!("/users?email={EMAIL}"),
        None,
    )
    .await;
    let found = found["items"].as_array().expect("items").clone();
    assert_eq!(found.len(), 1);
    let acme_ann = found[0]["id"].as_str().expect("id").to_owned();
    let (_, all, _) = call(
        &acme,
        Some(&acme_key),
        Method::GET,
        "/users?q=example",
        None,
    )
    .await;
    let acme_users: Vec<String> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(acme_users.len(), 2, "ann and bob of acme: {all}");
    assert!(acme_users.contains(&acme_ann));
    let (_, events, _) = call(
        &acme,
        Some(&acme_key),
        Method::GET,
        "/events?limit=200",
        None,
    )
    .await;
    let events = events["items"].as_array().expect("items");
    assert!(events.iter().any(|e| e["type"] == "user.signed_up"));
    for e in events {
        if let Some(user) = e["user_id"].as_str() {
            assert!(acme_users.iter().any(|u| u == user), "foreign event {e}");
        }
    }
    let (_, root_events, _) = call(
        &server,
        Some(&system),
        Method::GET,
        "/events?limit=200",
        None,
    )
    .await;
    for e in root_events["items"].as_array().expect("items") {
        if let Some(user) = e["user_id"].as_str() {
            assert!(
                !acme_users.iter().any(|u| u == user),
                "acme's event at the root: {e}"
            );
        }
    }
    // One tenant's user id does not address a user of another.
    let (status, _, _) = call(
        &globex,
        Some(&system),
        Method::GET,
        &format!("/users/{acme_ann}"),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Deleting acme ends all of it: its sessions, tokens and keys; the others are untouched.
    let (status, _, _) = call(
        &server,
        Some(&system),
        Method::DELETE,
        "/tenants/acme",
        None,
    )
    .await;
    assert_eq!(status, 204);
    // The id stays retired until the sweep has removed anything still written into the old acme.
    let (status, _, _) = call(
        &server,
        Some(&system),
        Method::POST,
        "/tenants",
        Some(json!({ "id": "acme" })),
    )
    .await;
    assert_eq!(status, 409, "retired");
    server
        .clock
        .advance(store::tenants::RETIREMENT + chrono::Duration::seconds(1));
    auth::housekeeping::sweep(server.db(), server.clock.as_ref())
        .await
        .expect("sweep");
    create_tenant(&server, &system, "acme").await;
    let (_, users, _) = call(&acme, Some(&system), Method::GET, "/users", None).await;
    assert_eq!(users["items"], json!([]), "a new acme starts empty");
    assert_eq!(signed_in_as(&acme, &only_acme).await, None);
    assert_eq!(flows::userinfo_status(&acme, access).await, 401);
    let (status, _) = flows::token_post(&acme, &refresh_form, Some(acme_basic)).await;
    assert_eq!(status, 401);
    let (status, _, _) = call(&acme, Some(&acme_key), Method::GET, "/users", None).await;
    assert_eq!(status, 401);
    assert_eq!(signed_in_as(&globex, &b).await.as_deref(), Some(EMAIL));
    assert_eq!(signed_in_as(&server, &b).await.as_deref(), Some(EMAIL));
}

#[tokio::test]
async fn a_verification_code_of_one_tenant_is_refused_by_another() {
    let (smtp, inbox) = smtp_server();
    let server = TestServer::start_with(|c| {
        c.verification.email.required = true;
        c.smtp.url = smtp.clone();
    })
    .await;
    let system = system_key(&server).await;
    let acme = create_tenant(&server, &system, "acme").await;
    let globex = create_tenant(&server, &system, "globex").await;

    // The same address signs up in both; each tenant mails its own code, under its own name.
    let (in_acme, in_globex) = (browser(), browser());
    let resp = sign_up(&acme, &in_acme, "mia@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert!(
        location(&resp).starts_with("/t/acme/verify-email"),
        "{}",
        location(&resp)
    );
    inbox.wait_for(1).await;
    let acme_code = inbox.last_code();
    let resp = sign_up(&globex, &in_globex, "mia@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    inbox.wait_for(2).await;
    let globex_code = inbox.last_code();
    let mails = inbox.messages.lock().expect("inbox").clone();
    assert!(
        mails[0].contains("Your acme Inc. verification code"),
        "{}",
        mails[0]
    );
    assert!(
        mails[1].contains("Your globex Inc. verification code"),
        "{}",
        mails[1]
    );

    let submit = |site: &TenantSite, b: &reqwest::Client, code: String| {
        let (b, url) = (b.clone(), site.url("/verify-email"));
        async move {
            let token = csrf_token(&b, &url).await;
            b.post(&url)
                .form(&[("csrf_token", token.as_str()), ("code", code.as_str())])
                .send()
                .await
                .expect("POST /verify-email")
                .status()
                .as_u16()
        }
    };
    // Acme's code typed at globex: refused (unless the two random codes happen to be equal).
    if acme_code != globex_code {
        assert_eq!(submit(&globex, &in_globex, acme_code.clone()).await, 422);
    }
    let verified = |site: &TenantSite| {
        let (site_base, system) = (site.base.clone(), system.clone());
        async move {
            let resp = reqwest::Client::new()
                .get(format!(
                    "{site_base}/admin/api/v1/users?email=mia@example.com"
                ))
                .bearer_auth(system)
                .send()
                .await
                .expect("users");
            let users: Value = resp.json().await.expect("json");
            users["items"][0]["identities"][0]["verified"].clone()
        }
    };
    assert_eq!(verified(&globex).await, false);
    assert_eq!(verified(&acme).await, false);
    assert_eq!(submit(&globex, &in_globex, globex_code).await, 303);
    assert_eq!(verified(&globex).await, true);
    assert_eq!(
        verified(&acme).await,
        false,
        "globex's code verified globex only"
    );
    assert_eq!(submit(&acme, &in_acme, acme_code).await, 303);
    assert_eq!(verified(&acme).await, true);
}

/// Two tenants signed in to at the same time by two relying parties: each validates its ID token
/// against its own tenant's discovery and keys, and neither accepts the other's.
#[tokio::test]
async fn two_tenants_serve_relying_parties_at_the_same_time() {
    use common::rp;
    use openidconnect::{OAuth2TokenResponse, TokenResponse};
    let server = TestServer::start().await;
    let system = system_key(&server).await;
    let acme = create_tenant(&server, &system, "acme").await;
    let globex = create_tenant(&server, &system, "globex").await;

    let run = |site: TenantSite, email: &'static str| async move {
        let b = browser();
        assert_eq!(sign_up(&site, &b, email, rp::PASSWORD).await.status(), 303);
        let (client_id, secret) = flows::register(&site, false).await;
        let reg = rp::Registered {
            client_id,
            secret: Some(secret),
        };
        let client = rp::discover(&site, &reg).await;
        let flow = rp::start_flow(&site, &client, &b, email).await;
        let tokens = rp::exchange(&client, &flow).await;
        let id_token = tokens.id_token().expect("an ID token").clone();
        let claims = id_token
            .claims(&client.id_token_verifier(), &flow.nonce)
            .expect("a valid ID token")
            .clone();
        assert_eq!(claims.issuer().as_str(), site.base);
        let info: openidconnect::core::CoreUserInfoClaims = client
            .user_info(tokens.access_token().clone(), None)
            .expect("userinfo endpoint")
            .request_async(&rp::rp_http())
            .await
            .expect("userinfo");
        assert_eq!(info.email().map(|e| e.as_str()), Some(email));
        (site, client, id_token, flow.nonce)
    };
    let ((acme, acme_rp, acme_id, acme_nonce), (globex, globex_rp, globex_id, globex_nonce)) = tokio::join!(
        run(acme, "ann@acme.example"),
        run(globex, "gus@globex.example")
    );
    assert!(
        acme_id
            .claims(&globex_rp.id_token_verifier(), &acme_nonce)
            .is_err(),
        "globex's relying party refuses acme's ID token"
    );
    assert!(
        globex_id
            .claims(&acme_rp.id_token_verifier(), &globex_nonce)
            .is_err(),
        "acme's relying party refuses globex's ID token"
    );
    drop((acme, globex));
}

/// Per-tenant settings (display name, email verification, password policy, login IDs) through
/// the system Admin API, seen by the tenant's pages at once and by no other tenant.
#[tokio::test]
async fn tenant_settings_change_its_pages_and_no_others() {
    let server = TestServer::start_with(|c| c.server.name = "Example ID".into()).await;
    let system = system_key(&server).await;
    let acme = create_tenant(&server, &system, "acme").await;
    let globex = create_tenant(&server, &system, "globex").await;

    // Settings are checked field by field; a refused change changes nothing.
    for (bad, pointer) in [
        (
            json!({ "settings": { "password_min_length": 4 } }),
            "/settings/password_min_length",
        ),
        (
            json!({ "settings": { "login_ids": ["username"] } }),
            "/settings/login_ids",
        ),
        (
            json!({ "settings": { "login_ids": ["email", "fax"] } }),
            "/settings/login_ids/1",
        ),
        (
            json!({ "settings": { "theme": "dark" } }),
            "/settings/theme",
        ),
        (json!({ "settings": "strict" }), "/settings"),
        (json!({ "name": "" }), "/name"),
        (json!({ "id": "other" }), "/id"),
    ] {
        let (status, body, _) = call(
            &server,
            Some(&system),
            Method::PATCH,
            "/tenants/acme",
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["errors"][0]["pointer"], pointer, "{bad}");
    }
    let (status, _, _) = call(
        &server,
        Some(&system),
        Method::PATCH,
        "/tenants/default",
        Some(json!({ "name": "Root" })),
    )
    .await;
    assert_eq!(
        status, 409,
        "the default tenant is the configuration file's"
    );
    let (status, _, _) = call(
        &server,
        Some(&system),
        Method::PATCH,
        "/tenants/nope",
        Some(json!({ "name": "Nope" })),
    )
    .await;
    assert_eq!(status, 404);
    let tenant_key = admin_key(&acme).await;
    let (status, _, _) = call(
        &server,
        Some(&tenant_key),
        Method::PATCH,
        "/tenants/acme",
        Some(json!({ "name": "Mine" })),
    )
    .await;
    assert_eq!(status, 401, "acme's own key is not even known at the root");

    let (status, body, _) = call(
        &server,
        Some(&system),
        Method::PATCH,
        "/tenants/acme",
        Some(json!({
            "name": "Acme Corp",
            "settings": {
                "email_verification_required": true,
                "password_min_length": 12,
                "login_ids": ["email"],
            },
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Acme Corp");
    assert_eq!(body["settings"]["password_min_length"], 12);

    // The display name: acme's pages carry it; globex and the root keep theirs.
    let title = |url: String| async move {
        let html = reqwest::get(url)
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        let start = html.find("<title>").expect("title") + 7;
        html[start..start + html[start..].find("</title>").expect("end")].to_owned()
    };
    assert!(title(acme.url("/login")).await.ends_with("· Acme Corp"));
    assert!(title(globex.url("/login")).await.ends_with("· globex Inc."));
    assert!(title(server.url("/login")).await.ends_with("· Example ID"));

    // The password policy: 10 characters is too short at acme only.
    let b = browser();
    let resp = sign_up(&acme, &b, "ann@example.com", "ten chars!").await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.expect("html").contains("at least 12"));
    let g = browser();
    assert_eq!(
        sign_up(&globex, &g, "ann@example.com", "ten chars!")
            .await
            .status(),
        303
    );

    // Email verification: required at acme, not at globex (the server's setting here).
    let resp = sign_up(&acme, &b, "ann@example.com", "twelve chars!").await;
    assert_eq!(resp.status(), 303);
    assert!(
        location(&resp).starts_with("/t/acme/verify-email"),
        "{}",
        location(&resp)
    );
    assert_eq!(
        signed_in_as(&globex, &g).await.as_deref(),
        Some("ann@example.com")
    );

    // Login IDs: usernames sign in at globex, not at acme (the same answer as a wrong password).
    for site in [&acme, &globex] {
        let (status, body, _) = call(
            site,
            Some(&system),
            Method::POST,
            "/users",
            Some(json!({
                "identities": [
                    { "type": "email", "value": "una@example.com", "verified": true },
                    { "type": "username", "value": "una" },
                ],
                "password": "a long password",
            })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let una = browser();
    assert_eq!(
        log_in(&globex, &una, "una", "a long password")
            .await
            .status(),
        303
    );
    let resp = log_in(&acme, &una, "una", "a long password").await;
    assert_eq!(resp.status(), 401);
    let refused = resp.text().await.expect("html");
    let resp = log_in(&acme, &una, "una", "a wrong password").await;
    assert_eq!(resp.status(), 401);
    let wrong = resp.text().await.expect("html");
    let message = |html: &str| html.contains("The login ID or password is incorrect.");
    assert!(message(&refused) && message(&wrong));
    assert_eq!(
        log_in(&acme, &una, "una@example.com", "a long password")
            .await
            .status(),
        303
    );
    // Phone numbers cannot be added at acme.
    let settings = una
        .get(acme.url("/settings"))
        .send()
        .await
        .expect("settings")
        .text()
        .await
        .expect("html");
    assert!(!settings.contains("type=phone"), "no phone link at acme");
    let token = csrf_token(&una, &acme.url("/identities/add?type=phone")).await;
    let resp = una
        .post(acme.url("/identities/add"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("kind", "phone"),
            ("value", "+33612345678"),
        ])
        .send()
        .await
        .expect("add phone");
    assert_eq!(resp.status(), 422);

    // Settings replace the stored ones whole: clearing them brings the server's back.
    let (status, body, _) = call(
        &server,
        Some(&system),
        Method::PATCH,
        "/tenants/acme",
        Some(json!({ "settings": {} })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Acme Corp", "the name is kept");
    assert_eq!(
        log_in(&acme, &browser(), "una", "a long password")
            .await
            .status(),
        303
    );
}

/// `[[tenant]]` in the configuration: created at start-up, with its settings and upstreams; the
/// stored settings win over the file's.
#[tokio::test]
async fn configured_tenants_are_created_with_their_settings_and_upstreams() {
    let server = TestServer::start_with(|c| {
        c.tenant = vec![tessera::config::TenantConfig {
            id: "initech".into(),
            name: "Initech".into(),
            password_min_length: Some(16),
            upstream: vec![tessera::config::UpstreamConfig {
                id: "corp".into(),
                issuer: "https://id.initech.example".into(),
                client_id: "tessera".into(),
                ..Default::default()
            }],
            ..Default::default()
        }];
    })
    .await;
    let system = system_key(&server).await;
    let initech = server.tenant("initech");
    let (status, body, _) = call(
        &server,
        Some(&system),
        Method::GET,
        "/tenants/initech",
        None,
    )
    .await;
    assert_eq!(status, 200, "created at start-up");
    assert_eq!(body["name"], "Initech");
    let login = reqwest::get(initech.url("/login"))
        .await
        .expect("login")
        .text()
        .await
        .expect("html");
    assert!(login.contains("/t/initech/login/upstream/corp"), "{login}");
    let root_login = reqwest::get(server.url("/login"))
        .await
        .expect("login")
        .text()
        .await
        .expect("html");
    assert!(
        !root_login.contains("upstream/corp"),
        "the root has no such upstream"
    );

    let b = browser();
    let resp = sign_up(&initech, &b, "ann@example.com", "fifteen chars!!").await;
    assert_eq!(resp.status(), 422, "the file's password_min_length");
    let (status, _, _) = call(
        &server,
        Some(&system),
        Method::PATCH,
        "/tenants/initech",
        Some(json!({ "settings": { "password_min_length": 10 } })),
    )
    .await;
    assert_eq!(status, 200);
    let resp = sign_up(&initech, &b, "ann@example.com", "fifteen chars!!").await;
    assert_eq!(resp.status(), 303, "the stored setting wins");
}

/// All the `Set-Cookie` pairs of a response, as one `Cookie` header value.
fn cookie_header(resp: &reqwest::Response) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Signs up at `site` with no cookie jar (the cookies are `Secure`: a jar would not send them
/// over the test's plain http); returns the session cookie's name, value and attributes.
async fn sign_up_by_hand(site: &str, email: &str) -> (String, String, String) {
    let b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = b.get(format!("{site}/signup")).send().await.expect("GET");
    let cookies = cookie_header(&page);
    let token = hidden_field(&page.text().await.expect("html"), "csrf_token");
    let resp = b
        .post(format!("{site}/signup"))
        .header("cookie", cookies)
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 303);
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            let (pair, attributes) = c.split_once(';').unwrap_or((c, ""));
            let (n, v) = pair.split_once('=')?;
            (n.starts_with("__Host-tessera_session") && !v.is_empty())
                .then(|| (n.to_owned(), v.to_owned(), attributes.to_owned()))
        })
        .expect("a session cookie")
}

/// With an https issuer the cookies are `__Host-` (so `Path=/`, one jar for every tenant): a
/// tenant's cookies carry the tenant in their name, and each tenant reads only its own, whatever
/// the browser sends.
#[tokio::test]
async fn on_https_each_tenant_reads_only_cookies_of_its_own_name() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = TestServer::start_on(listener, |c| {
        c.server.issuer = format!("https://localhost:{port}");
    })
    .await;
    let system = system_key(&server).await;
    for id in ["acme", "globex"] {
        let (status, body, _) = call(
            &server,
            Some(&system),
            Method::POST,
            "/tenants",
            Some(json!({ "id": id })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["issuer"], format!("https://localhost:{port}/t/{id}"));
    }
    let (acme, globex) = (server.tenant("acme"), server.tenant("globex"));

    let (acme_name, acme_session, attributes) =
        sign_up_by_hand(&acme.url(""), "ann@example.com").await;
    assert_eq!(acme_name, "__Host-tessera_session.t.acme");
    for a in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(attributes.contains(a), "{a} in {attributes}");
    }
    assert!(!attributes.contains("Domain"), "{attributes}");
    let (root_name, root_session, _) = sign_up_by_hand(&server.url(""), "cy@example.com").await;
    assert_eq!(root_name, "__Host-tessera_session");

    // Each reads its own cookie.
    assert_eq!(
        settings_with_cookies(
            &acme.url("/settings"),
            &format!("{acme_name}={acme_session}")
        )
        .await,
        200
    );
    assert_eq!(
        settings_with_cookies(
            &server.url("/settings"),
            &format!("{root_name}={root_session}")
        )
        .await,
        200
    );
    // Every session value under every name: a site reads only the one named for it, so acme's
    // session is refused by globex and the root, and the root's by acme.
    for (value, owner) in [(&acme_session, "acme"), (&root_session, "root")] {
        let planted = format!(
            "__Host-tessera_session={value}; __Host-tessera_session.t.acme={value}; \
             __Host-tessera_session.t.globex={value}; tessera_session={value}"
        );
        for (site, name) in [
            (server.url("/settings"), "root"),
            (acme.url("/settings"), "acme"),
            (globex.url("/settings"), "globex"),
        ] {
            let status = settings_with_cookies(&site, &planted).await;
            assert_eq!(
                status == 200,
                name == owner,
                "{owner}'s session at {name}: {status}"
            );
        }
    }
}
