//! Signing in with an upstream OpenID provider. The upstream is a second Tessera server started
//! here (listening, on its own database), reached as `localhost` so that its cookies and the
//! downstream server's (`127.0.0.1`) stay apart in the one cookie-keeping browser.

mod common;

use common::*;
use profile::{Audience, Author, Change, Party};
use serde_json::{Map, Value, json};
use store::accounts::{self, IdentityKind};
use store::audit::{Actor, NewEvent};
use store::{Clock, Uuid};
use tessera::config::UpstreamConfig;

const PASSWORD: &str = "correct horse battery";

/// The upstream provider and the Tessera that signs people in with it.
struct Pair {
    up: TestServer,
    /// The upstream's issuer (`http://localhost:PORT`).
    up_base: String,
    down: TestServer,
}

impl Pair {
    fn up_url(&self, path: &str) -> String {
        format!("{}{path}", self.up_base)
    }
}

/// Starts the upstream, registers Tessera as its client, and starts Tessera with an `[[upstream]]`
/// entry `up` whose issuer is `issuer` (the upstream's own by default).
async fn pair_with(population: &str, issuer: Option<String>) -> Pair {
    let up = TestServer::start_with(|c| {
        let port = c
            .server
            .listen
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        c.server.issuer = format!("http://localhost:{port}");
    })
    .await;
    let up_base = up.config.server.issuer.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let callback = format!("http://127.0.0.1:{port}/login/upstream/up/callback");
    let registered = oidc::clients::register_client(
        up.db(),
        up.clock.as_ref(),
        oidc::clients::ClientRegistration {
            name: "Downstream Tessera".into(),
            redirect_uris: vec![callback],
            ..Default::default()
        },
        Actor::Cli,
    )
    .await
    .expect("client");
    let entry = UpstreamConfig {
        id: "up".into(),
        name: "Upstream".into(),
        issuer: issuer.unwrap_or_else(|| up_base.clone()),
        client_id: registered.client.client_id,
        client_secret: registered.client_secret.unwrap_or_default(),
        population: population.into(),
        ..Default::default()
    };
    let down = TestServer::start_on(listener, move |c| c.upstream = vec![entry]).await;
    Pair { up, up_base, down }
}

async fn pair(population: &str) -> Pair {
    pair_with(population, None).await
}

/// Signs `email` up at the upstream (with a verified address when `verified`) and sets
/// `profile` on them; returns their id there (their `sub`).
async fn upstream_user(p: &Pair, email: &str, verified: bool, profile: Value) -> Uuid {
    let b = browser();
    let token = csrf_token(&b, &p.up_url("/signup")).await;
    let resp = b
        .post(p.up_url("/signup"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("signup");
    assert_eq!(resp.status(), 303);
    let id = accounts::find_login_candidate(p.up.db(), IdentityKind::Email, email)
        .await
        .expect("lookup")
        .expect("upstream user")
        .user_id;
    if verified {
        accounts::set_identity_verified(
            p.up.db(),
            id,
            IdentityKind::Email,
            true,
            p.up.clock.now(),
            NewEvent::new("identity.verified_set", Actor::Cli),
        )
        .await
        .expect("verify");
    }
    set_upstream_profile(p, id, profile).await;
    id
}

async fn set_upstream_profile(p: &Pair, id: Uuid, patch: Value) {
    p.up.profiles()
        .change(
            p.up.db(),
            p.up.clock.as_ref(),
            id,
            profile::Audience::Party(Party::Admin),
            Change::Patch(&patch),
            Author::new(Actor::Cli),
        )
        .await
        .expect("upstream profile");
}

/// Signs the browser in at the upstream.
async fn upstream_log_in(p: &Pair, b: &reqwest::Client, email: &str) {
    let token = csrf_token(b, &p.up_url("/login")).await;
    let resp = b
        .post(p.up_url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("login_id", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("upstream login");
    assert_eq!(resp.status(), 303, "upstream login failed");
}

/// From a response that sends the browser upstream, through the upstream's authorization
/// endpoint (the browser is signed in there): the callback URL at Tessera.
async fn through_upstream(p: &Pair, b: &reqwest::Client, resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), 302, "expected a redirect upstream");
    let authorize = location(&resp);
    assert!(
        authorize.starts_with(&p.up_url("/oauth2/authorize?")),
        "{authorize}"
    );
    let url = url::Url::parse(&authorize).expect("url");
    for param in [
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "client_id",
        "redirect_uri",
    ] {
        assert!(
            url.query_pairs().any(|(k, _)| k == param),
            "{param} missing in {authorize}"
        );
    }
    let resp = b.get(&authorize).send().await.expect("upstream authorize");
    assert_eq!(resp.status(), 302);
    let callback = location(&resp);
    assert!(
        callback.starts_with(&p.down.url("/login/upstream/up/callback?")),
        "{callback}"
    );
    callback
}

/// "Sign in with Upstream" from the start: the callback's response.
async fn sign_in_upstream(p: &Pair, b: &reqwest::Client, email: &str) -> reqwest::Response {
    upstream_log_in(p, b, email).await;
    let start = b
        .get(p.down.url("/login/upstream/up"))
        .send()
        .await
        .expect("start");
    let callback = through_upstream(p, b, start).await;
    b.get(&callback).send().await.expect("callback")
}

/// Tessera's user linked to the upstream user `sub`.
async fn linked_user(p: &Pair, sub: Uuid) -> Option<Uuid> {
    let value = accounts::oidc_identity_value(&p.up_base, &sub.to_string());
    accounts::find_login_candidate(p.down.db(), IdentityKind::Oidc, &value)
        .await
        .expect("lookup")
        .map(|c| c.user_id)
}

async fn profile_of(p: &Pair, id: Uuid) -> Map<String, Value> {
    p.down
        .profiles()
        .view(p.down.db(), id, Audience::Party(Party::Admin))
        .await
        .expect("view")
        .expect("profile")
}

async fn users(server: &TestServer) -> u64 {
    accounts::count_users(server.db()).await.expect("count")
}

async fn admin_key(server: &TestServer) -> String {
    auth::admin_keys::create_admin_key(
        server.db(),
        server.clock.as_ref(),
        "tests",
        false,
        Actor::Cli,
    )
    .await
    .expect("key")
    .key
}

#[tokio::test]
async fn the_login_and_signup_pages_offer_the_upstream() {
    let p = pair("on_signup").await;
    for (page, label) in [
        ("/login", "Sign in with Upstream"),
        ("/signup", "Sign up with Upstream"),
    ] {
        let html = browser()
            .get(p.down.url(&format!("{page}?return_to=%2Fsettings")))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("page");
        assert!(html.contains(label), "{page}: {html}");
        assert!(
            html.contains("/login/upstream/up?return_to=%2Fsettings"),
            "{page}: {html}"
        );
    }
}

#[tokio::test]
async fn first_login_creates_and_populates_and_the_second_reuses() {
    let p = pair("on_signup").await;
    let sub = upstream_user(
        &p,
        "ann@example.com",
        true,
        json!({"given_name": "Ann", "family_name": "Lee", "birthdate": "1990-02-28",
               "zoneinfo": "Europe/Paris", "locale": "fr-FR", "gender": "female"}),
    )
    .await;
    let b = browser();
    let resp = sign_in_upstream(&p, &b, "ann@example.com").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");
    assert_eq!(
        signed_in_as(&p.down, &b).await.as_deref(),
        Some("ann@example.com")
    );
    let id = linked_user(&p, sub).await.expect("user created");
    let profile = profile_of(&p, id).await;
    assert_eq!(profile["given_name"], "Ann");
    assert_eq!(profile["family_name"], "Lee");
    assert_eq!(profile["birthdate"], "1990-02-28");
    assert_eq!(profile["zoneinfo"], "Europe/Paris");
    assert_eq!(profile["locale"], "fr-FR");
    assert_eq!(profile["gender"], "female");
    assert_eq!(profile["email"], "ann@example.com");
    assert_eq!(profile["email_verified"], true);
    // The Admin API shows the link with its issuer and subject.
    let key = admin_key(&p.down).await;
    let body: Value = reqwest::Client::new()
        .get(p.down.url(&format!("/admin/api/v1/users/{id}/identities")))
        .bearer_auth(&key)
        .send()
        .await
        .expect("identities")
        .json()
        .await
        .expect("json");
    let items = body["items"].as_array().expect("items");
    let oidc = items
        .iter()
        .find(|i| i["type"] == "oidc")
        .expect("oidc identity");
    assert_eq!(oidc["issuer"], p.up_base.as_str());
    assert_eq!(oidc["subject"], sub.to_string());
    assert!(
        items.iter().any(|i| i["type"] == "email"
            && i["value"] == "ann@example.com"
            && i["verified"] == true)
    );

    // On sign-up only: a later change upstream is not copied; the second login reuses the user.
    set_upstream_profile(&p, sub, json!({"given_name": "Annie"})).await;
    let b2 = browser();
    let resp = sign_in_upstream(&p, &b2, "ann@example.com").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        signed_in_as(&p.down, &b2).await.as_deref(),
        Some("ann@example.com")
    );
    assert_eq!(users(&p.down).await, 1);
    assert_eq!(linked_user(&p, sub).await, Some(id));
    assert_eq!(profile_of(&p, id).await["given_name"], "Ann");
}

#[tokio::test]
async fn every_login_refreshes_the_profile() {
    let p = pair("every_login").await;
    let sub = upstream_user(&p, "bob@example.com", false, json!({"given_name": "Bob"})).await;
    let b = browser();
    assert_eq!(
        sign_in_upstream(&p, &b, "bob@example.com").await.status(),
        303
    );
    let id = linked_user(&p, sub).await.expect("user");
    let first = profile_of(&p, id).await;
    assert_eq!(first["given_name"], "Bob");
    // An unverified address is no login ID here.
    assert!(first.get("email").is_none(), "{first:?}");
    set_upstream_profile(&p, sub, json!({"given_name": "Robert", "locale": "en-GB"})).await;
    let b2 = browser();
    assert_eq!(
        sign_in_upstream(&p, &b2, "bob@example.com").await.status(),
        303
    );
    let after = profile_of(&p, id).await;
    assert_eq!(after["given_name"], "Robert");
    assert_eq!(after["locale"], "en-GB");
    assert_eq!(users(&p.down).await, 1);
}

#[tokio::test]
async fn population_none_copies_nothing() {
    let p = pair("none").await;
    let sub = upstream_user(&p, "cy@example.com", true, json!({"given_name": "Cy"})).await;
    let b = browser();
    assert_eq!(
        sign_in_upstream(&p, &b, "cy@example.com").await.status(),
        303
    );
    let id = linked_user(&p, sub).await.expect("user");
    let profile = profile_of(&p, id).await;
    assert!(profile.get("given_name").is_none(), "{profile:?}");
    assert!(profile.get("email").is_none(), "{profile:?}");
    let identities = accounts::list_identities(p.down.db(), id)
        .await
        .expect("ids");
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0].kind, IdentityKind::Oidc);
}

#[tokio::test]
async fn invalid_claims_are_dropped_not_fatal() {
    let p = pair("on_signup").await;
    let sub = upstream_user(&p, "dee@example.com", false, json!({"given_name": "Dee"})).await;
    // Values the upstream's own checks would refuse, written straight into its database.
    let stored = accounts::find_profile(p.up.db(), sub)
        .await
        .expect("profile")
        .expect("row");
    let mut standard = stored.standard_attributes.clone();
    let obj = standard.as_object_mut().expect("object");
    for (k, v) in [
        ("zoneinfo", "Mars/Olympus"),
        ("locale", "not a locale!"),
        ("birthdate", "yesterday"),
        ("picture", "javascript:alert(1)"),
        ("family_name", "  Kay  "),
    ] {
        obj.insert(k.into(), v.into());
    }
    let saved = accounts::save_profile(
        p.up.db(),
        sub,
        accounts::ProfileWrite {
            standard_attributes: standard,
            custom_attributes: stored.custom_attributes.clone(),
            annotations: stored.annotations.clone(),
            avatar_seed: stored.avatar_seed.clone(),
            cover: None,
            image: None,
        },
        stored.updated_at,
        p.up.clock.now(),
        NewEvent::new("profile.updated", Actor::Cli),
    )
    .await
    .expect("save");
    assert!(saved);
    let b = browser();
    assert_eq!(
        sign_in_upstream(&p, &b, "dee@example.com").await.status(),
        303
    );
    let id = linked_user(&p, sub)
        .await
        .expect("user created despite bad claims");
    let profile = profile_of(&p, id).await;
    assert_eq!(profile["given_name"], "Dee");
    assert_eq!(profile["family_name"], "Kay", "valid values are normalised");
    for dropped in ["zoneinfo", "locale", "birthdate"] {
        assert!(
            profile.get(dropped).is_none(),
            "{dropped} kept: {profile:?}"
        );
    }
    // The picture is the generated avatar, not the upstream's script URL.
    let picture = profile["picture"].as_str().expect("picture");
    assert!(picture.starts_with(&p.down.base), "{picture}");
}

#[tokio::test]
async fn forged_replayed_and_foreign_states_are_refused() {
    let p = pair("on_signup").await;
    upstream_user(&p, "eve@example.com", false, json!({})).await;
    // A state Tessera never issued.
    let b = browser();
    let resp = b
        .get(
            p.down
                .url("/login/upstream/up/callback?state=forged&code=abc"),
        )
        .send()
        .await
        .expect("forged");
    assert_eq!(resp.status(), 400);
    let html = resp.text().await.expect("page");
    assert!(html.contains("href=\"/login\""), "{html}");

    // A callback delivered to another browser.
    upstream_log_in(&p, &b, "eve@example.com").await;
    let start = b
        .get(p.down.url("/login/upstream/up"))
        .send()
        .await
        .expect("start");
    let callback = through_upstream(&p, &b, start).await;
    let other = browser();
    assert_eq!(other.get(&callback).send().await.expect("cb").status(), 400);
    assert_eq!(users(&p.down).await, 0);

    // The right browser, once; a replay is refused.
    let b = browser();
    let resp = sign_in_upstream(&p, &b, "eve@example.com").await;
    assert_eq!(resp.status(), 303);
    let start = b
        .get(p.down.url("/login/upstream/up"))
        .send()
        .await
        .expect("start");
    // Still signed in upstream from the first round trip.
    let callback = through_upstream(&p, &b, start).await;
    assert_eq!(b.get(&callback).send().await.expect("cb").status(), 303);
    let replay = b.get(&callback).send().await.expect("replay");
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.expect("page").contains("already used"));
    assert_eq!(users(&p.down).await, 1);
    // Refused sign-ins are in the audit log.
    let key = admin_key(&p.down).await;
    let events: Value = reqwest::Client::new()
        .get(p.down.url("/admin/api/v1/events?type=login.failed"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    let failures = events["items"].as_array().expect("items");
    assert!(failures.len() >= 3, "{events}");
    assert!(
        failures.iter().all(|e| e["detail"]["reason"] == "upstream"),
        "{events}"
    );
}

#[tokio::test]
async fn an_error_from_the_upstream_ends_on_a_page() {
    let p = pair("on_signup").await;
    let b = browser();
    let start = b
        .get(p.down.url("/login/upstream/up"))
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), 302);
    let authorize = url::Url::parse(&location(&start)).expect("url");
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let resp = b
        .get(p.down.url(&format!(
            "/login/upstream/up/callback?error=access_denied&state={state}"
        )))
        .send()
        .await
        .expect("callback");
    assert_eq!(resp.status(), 403);
    let html = resp.text().await.expect("page");
    assert!(
        html.contains("access_denied") && html.contains("href=\"/login\""),
        "{html}"
    );
    assert_eq!(users(&p.down).await, 0);
}

#[tokio::test]
async fn an_unreachable_upstream_ends_on_a_page() {
    let down = TestServer::start_with(|c| {
        c.upstream = vec![UpstreamConfig {
            id: "gone".into(),
            name: "Gone".into(),
            issuer: "http://127.0.0.1:1".into(),
            client_id: "x".into(),
            ..Default::default()
        }]
    })
    .await;
    let resp = browser()
        .get(down.url("/login/upstream/gone"))
        .send()
        .await
        .expect("start");
    assert_eq!(resp.status(), 502);
    let html = resp.text().await.expect("page");
    assert!(
        html.contains("Gone cannot be reached") && html.contains("href=\"/login\""),
        "{html}"
    );
    let unknown = browser()
        .get(down.url("/login/upstream/nope"))
        .send()
        .await
        .expect("unknown");
    assert_eq!(unknown.status(), 404);
}

/// A stand-in that serves the upstream's discovery document under another issuer: every
/// endpoint is the upstream's, so its ID tokens name the upstream, not this issuer.
async fn impostor_discovery(p: &Pair) -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let mut doc: Value = reqwest::get(p.up_url("/.well-known/openid-configuration"))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    doc["issuer"] = json!(base);
    let body = doc.to_string();
    let server = actix_web::HttpServer::new(move || {
        let body = body.clone();
        actix_web::App::new().route(
            "/.well-known/openid-configuration",
            actix_web::web::get().to(move || {
                let body = body.clone();
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (base, handle)
}

#[tokio::test]
async fn an_id_token_from_the_wrong_issuer_is_refused() {
    // First the upstream and a proxy, then Tessera configured with the proxy's issuer.
    let probe = pair("on_signup").await;
    let (impostor, handle) = impostor_discovery(&probe).await;
    // Tessera trusts `impostor`; the tokens come from the real upstream.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let registered = oidc::clients::register_client(
        probe.up.db(),
        probe.up.clock.as_ref(),
        oidc::clients::ClientRegistration {
            name: "Downstream".into(),
            redirect_uris: vec![format!(
                "http://127.0.0.1:{port}/login/upstream/up/callback"
            )],
            ..Default::default()
        },
        Actor::Cli,
    )
    .await
    .expect("client");
    let entry = UpstreamConfig {
        id: "up".into(),
        name: "Upstream".into(),
        issuer: impostor.clone(),
        client_id: registered.client.client_id,
        client_secret: registered.client_secret.unwrap_or_default(),
        ..Default::default()
    };
    let down = TestServer::start_on(listener, move |c| c.upstream = vec![entry]).await;
    let p = Pair {
        up: probe.up,
        up_base: probe.up_base,
        down,
    };
    upstream_user(&p, "mal@example.com", false, json!({})).await;

    for strip_iss in [false, true] {
        let b = browser();
        upstream_log_in(&p, &b, "mal@example.com").await;
        let start = b
            .get(p.down.url("/login/upstream/up"))
            .send()
            .await
            .expect("start");
        let mut callback = url::Url::parse(&through_upstream(&p, &b, start).await).expect("url");
        if strip_iss {
            // Without RFC 9207's `iss`, the ID token's own `iss` gives it away.
            let pairs: Vec<(String, String)> = callback
                .query_pairs()
                .filter(|(k, _)| k != "iss")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            callback.query_pairs_mut().clear().extend_pairs(pairs);
        }
        let resp = b.get(callback.as_str()).send().await.expect("callback");
        assert_eq!(resp.status(), 400, "strip_iss={strip_iss}");
        let html = resp.text().await.expect("page");
        let expected = if strip_iss {
            "The ID token from Upstream is not valid"
        } else {
            "The answer did not come from Upstream"
        };
        assert!(html.contains(expected), "{html}");
    }
    assert_eq!(users(&p.down).await, 0);
    handle.stop(false).await;
}

#[tokio::test]
async fn linking_and_unlinking_from_the_settings_page() {
    let p = pair("on_signup").await;
    let sub = upstream_user(&p, "fay@example.com", true, json!({"given_name": "Fay"})).await;
    // The same verified email already has an account here: no silent takeover.
    let b = browser();
    assert_eq!(
        sign_up(&p.down, &b, "fay@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let other = browser();
    let resp = sign_in_upstream(&p, &other, "fay@example.com").await;
    assert_eq!(resp.status(), 409);
    let html = resp.text().await.expect("page");
    assert!(
        html.contains("already exists") && html.contains("settings"),
        "{html}"
    );
    assert_eq!(users(&p.down).await, 1);
    assert_eq!(linked_user(&p, sub).await, None);

    // Signed in with a password, Fay links the upstream account.
    let settings = b
        .get(p.down.url("/settings"))
        .send()
        .await
        .expect("settings")
        .text()
        .await
        .expect("page");
    assert!(settings.contains("Link Upstream"), "{settings}");
    let token = hidden_field(&settings, "csrf_token");
    upstream_log_in(&p, &b, "fay@example.com").await;
    let start = b
        .post(p.down.url("/settings/upstream/up/link"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("link");
    let callback = through_upstream(&p, &b, start).await;
    let resp = b.get(&callback).send().await.expect("callback");
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/settings?saved=upstream_linked#upstream");
    let me = accounts::find_login_candidate(p.down.db(), IdentityKind::Email, "fay@example.com")
        .await
        .expect("lookup")
        .expect("fay")
        .user_id;
    assert_eq!(linked_user(&p, sub).await, Some(me));
    let settings = b
        .get(p.down.url("/settings"))
        .send()
        .await
        .expect("settings")
        .text()
        .await
        .expect("page");
    assert!(settings.contains("upstream-name\">Upstream<"), "{settings}");
    assert!(!settings.contains("Link Upstream"));

    // Now the upstream signs Fay in to the same account.
    let b2 = browser();
    assert_eq!(
        sign_in_upstream(&p, &b2, "fay@example.com").await.status(),
        303
    );
    assert_eq!(
        signed_in_as(&p.down, &b2).await.as_deref(),
        Some("fay@example.com")
    );
    assert_eq!(users(&p.down).await, 1);

    // Unlinking: Fay still has her password.
    let identity = accounts::list_identities(p.down.db(), me)
        .await
        .expect("ids")
        .into_iter()
        .find(|i| i.kind == IdentityKind::Oidc)
        .expect("link");
    let token = csrf_token(&b, &p.down.url("/settings")).await;
    let resp = b
        .post(
            p.down
                .url(&format!("/settings/upstream/{}/unlink", identity.id)),
        )
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("unlink");
    assert_eq!(
        location(&resp),
        "/settings?saved=upstream_unlinked#upstream"
    );
    assert_eq!(linked_user(&p, sub).await, None);
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_unlinked() {
    let p = pair("none").await;
    let sub = upstream_user(&p, "gus@example.com", true, json!({})).await;
    let b = browser();
    assert_eq!(
        sign_in_upstream(&p, &b, "gus@example.com").await.status(),
        303
    );
    let id = linked_user(&p, sub).await.expect("user");
    let identity = accounts::list_identities(p.down.db(), id)
        .await
        .expect("ids")[0]
        .id;
    let token = csrf_token(&b, &p.down.url("/settings")).await;
    let resp = b
        .post(p.down.url(&format!("/settings/upstream/{identity}/unlink")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("unlink");
    assert_eq!(location(&resp), "/settings?error=last_sign_in#upstream");
    assert_eq!(linked_user(&p, sub).await, Some(id));
    // Without the CSRF token nothing happens.
    let resp = b
        .post(p.down.url(&format!("/settings/upstream/{identity}/unlink")))
        .form(&[("csrf_token", "nope")])
        .send()
        .await
        .expect("unlink");
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn an_authorization_request_continues_after_an_upstream_login() {
    let p = pair("on_signup").await;
    upstream_user(
        &p,
        "hal@example.com",
        true,
        json!({"given_name": "Hal", "zoneinfo": "Asia/Tokyo"}),
    )
    .await;
    let client = flows::register(&p.down, false).await;
    let b = browser();
    let resp = b
        .get(p.down.url(&flows::authorize_path(
            &client.0,
            "openid profile email",
            &[("state", "xyz"), ("nonce", "n-1")],
        )))
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), 302);
    let login = location(&resp);
    assert!(login.starts_with("/login?"), "{login}");
    let html = b
        .get(p.down.url(&login))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let marker = "href=\"/login/upstream/up";
    let start = html.find(marker).expect("upstream button") + "href=\"".len();
    let end = html[start..].find('"').expect("end") + start;
    let href = unescape_html(&html[start..end]);
    upstream_log_in(&p, &b, "hal@example.com").await;
    let resp = b.get(p.down.url(&href)).send().await.expect("start");
    let callback = through_upstream(&p, &b, resp).await;
    let resp = b.get(&callback).send().await.expect("callback");
    assert_eq!(resp.status(), 303);
    let back = location(&resp);
    assert!(back.starts_with("/oauth2/authorize?"), "{back}");
    let resp = b
        .get(p.down.url(&back))
        .send()
        .await
        .expect("authorize again");
    let code = flows::code_from(&resp);
    assert!(location(&resp).contains("state=xyz"));
    let tokens = flows::exchange(&p.down, &client.0, Some(&client.1), &code).await;
    let info = flows::userinfo(
        &p.down,
        tokens["access_token"].as_str().expect("access token"),
    )
    .await;
    assert_eq!(info["given_name"], "Hal");
    assert_eq!(info["zoneinfo"], "Asia/Tokyo");
    assert_eq!(info["email"], "hal@example.com");
    assert_eq!(info["email_verified"], true);
}

fn load_config(toml: &str) -> Result<tessera::config::Config, tessera::config::ConfigError> {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("tessera.toml");
    std::fs::write(&file, toml).expect("write");
    tessera::config::Config::load_from(
        Some(&file),
        &dir.path().join("absent.toml"),
        figment::providers::Env::prefixed("TESSERA_UPSTREAM_TEST_UNSET__"),
    )
}

#[test]
fn upstream_entries_are_checked_at_start_up() {
    let good = "[[upstream]]\nid = \"corp\"\nname = \"Corp\"\nissuer = \"https://id.corp.example\"\nclient_id = \"tessera\"\nclient_secret = \"s\"\nscopes = [\"openid\", \"email\"]\npopulation = \"every_login\"\n";
    let config = load_config(good).expect("valid");
    let settings = config.upstream_settings().expect("settings");
    assert_eq!(settings.len(), 1);
    assert_eq!(
        settings[0].population,
        oidc::upstream::Population::EveryLogin
    );
    let defaults = load_config(
        "[[upstream]]\nid = \"corp\"\nissuer = \"https://id.corp.example\"\nclient_id = \"t\"\n",
    )
    .expect("defaults");
    let s = &defaults.upstream_settings().expect("settings")[0];
    assert_eq!(s.population, oidc::upstream::Population::OnSignup);
    assert_eq!(s.name, "corp");
    assert_eq!(s.client_secret, None);
    assert_eq!(s.scopes, ["openid", "profile", "email"]);
    let cases = [
        ("bogus = 1\n", "bogus", "unknown key"),
        ("", "upstream[0].issuer", "required"),
        ("issuer = \"ftp://x\"\n", "upstream[0].issuer", "http"),
        (
            "issuer = \"https://x.example\"\n",
            "upstream[0].client_id",
            "required",
        ),
        (
            "issuer = \"https://x.example\"\nclient_id = \"c\"\npopulation = \"always\"\n",
            "upstream[0].population",
            "on_signup",
        ),
    ];
    for (body, key, message) in cases {
        let toml = format!("[[upstream]]\nid = \"corp\"\n{body}");
        let err = load_config(&toml).expect_err(body);
        assert!(err.key.contains(key), "{body}: {err}");
        assert!(err.to_string().contains(message), "{body}: {err}");
    }
    let twice = format!("{good}{good}");
    let err = load_config(&twice).expect_err("duplicate");
    assert_eq!(err.key, "upstream[1].id");
    let no_id = load_config("[[upstream]]\nissuer = \"https://x.example\"\nclient_id = \"c\"\n")
        .expect_err("no id");
    assert_eq!(no_id.key, "upstream[0].id");
}
