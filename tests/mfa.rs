//! Two-step verification (SPEC §9) against a real server: an authenticator app added from the
//! settings page with a code computed from its secret, recovery codes, the `/login/mfa` step with
//! replayed, wrong and raced codes, the lock, and the re-authentication rule for changes.

mod common;

use common::*;

const PASSWORD: &str = "correct horse battery";
const EMAIL: &str = "mia@example.com";

/// The text of element `id` (its first text run).
fn text_of(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in\n{html}"));
    let open = html[start..].find('>').expect("tag end") + start + 1;
    let end = html[open..].find('<').expect("text end") + open;
    html[open..end].to_owned()
}

/// The TOTP code an app shows now (on the server's clock), `steps` steps from now.
fn code_at(server: &TestServer, secret: &str, steps: i64) -> String {
    let t = server.clock_now().timestamp() + steps * 30;
    auth::mfa::totp_code(secret, t as u64).expect("code")
}

async fn post_form(
    server: &TestServer,
    b: &reqwest::Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let token = csrf_token(b, &server.url(page)).await;
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    b.post(server.url(action))
        .form(&form)
        .send()
        .await
        .expect("POST")
}

/// Adds an authenticator app from the settings page; returns its secret.
async fn add_app(server: &TestServer, b: &reqwest::Client) -> String {
    add_app_from(server, b, "/settings").await
}

/// Adds an authenticator app with the forms of `page`; returns its secret.
async fn add_app_from(server: &TestServer, b: &reqwest::Client, page: &str) -> String {
    let resp = post_form(server, b, page, "/settings/mfa/totp", &[]).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("html");
    assert!(html.contains("<svg"), "an inline QR code");
    let secret = text_of(&html, "totp-secret");
    let factor_id = hidden_field(&html, "factor_id");
    let wrong = if code_at(server, &secret, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let resp = post_form(
        server,
        b,
        page,
        "/settings/mfa/totp/confirm",
        &[("factor_id", &factor_id), ("code", wrong)],
    )
    .await;
    assert_eq!(resp.status(), 422, "a wrong first code does not turn it on");
    let code = code_at(server, &secret, 0);
    let resp = post_form(
        server,
        b,
        page,
        "/settings/mfa/totp/confirm",
        &[("factor_id", &factor_id), ("code", &code)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/settings?saved=mfa#mfa");
    secret
}

/// Signs in with the password; returns the browser, at the second step.
async fn password_step(server: &TestServer) -> reqwest::Client {
    let b = browser();
    let resp = log_in(server, &b, EMAIL, PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login/mfa");
    assert_eq!(
        signed_in_as(server, &b).await,
        None,
        "no session before the second step"
    );
    b
}

async fn second_step(server: &TestServer, b: &reqwest::Client, code: &str) -> reqwest::Response {
    post_form(server, b, "/login/mfa", "/login/mfa", &[("code", code)]).await
}

#[tokio::test]
async fn an_authenticator_app_and_recovery_codes_guard_the_sign_in() {
    let server = TestServer::start().await;
    let b = browser();
    assert_eq!(sign_up(&server, &b, EMAIL, PASSWORD).await.status(), 303);
    let secret = add_app(&server, &b).await;
    let settings = b
        .get(server.url("/settings"))
        .send()
        .await
        .expect("settings")
        .text()
        .await
        .expect("html");
    assert!(settings.contains("Authenticator app"));
    let resp = post_form(
        &server,
        &b,
        "/settings",
        "/settings/mfa/recovery-codes",
        &[],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("html");
    let codes: Vec<String> = html
        .split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find('<').expect("end")].to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{html}");

    // The password alone no longer signs in. The code that confirmed the app is spent.
    let m = password_step(&server).await;
    let resp = second_step(&server, &m, &code_at(&server, &secret, 0)).await;
    assert_eq!(resp.status(), 401, "a code is accepted once");
    server.clock.advance(chrono::Duration::seconds(30));
    let resp = second_step(&server, &m, &code_at(&server, &secret, 0)).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");
    assert_eq!(signed_in_as(&server, &m).await.as_deref(), Some(EMAIL));
    // The challenge is over: the page sends a signed-in browser's replay to nothing.
    let again = browser();
    assert_eq!(log_in(&server, &again, EMAIL, PASSWORD).await.status(), 303);
    let resp = second_step(&server, &again, &code_at(&server, &secret, 0)).await;
    assert_eq!(
        resp.status(),
        401,
        "the same step again, in another sign-in"
    );

    // A recovery code signs in once, typed loosely.
    let r = password_step(&server).await;
    let loose = codes[0].to_uppercase().replace('-', " ");
    assert_eq!(second_step(&server, &r, &loose).await.status(), 303);
    assert_eq!(signed_in_as(&server, &r).await.as_deref(), Some(EMAIL));
    let mails: Vec<String> = std::fs::read_dir(&server.config.smtp.file_dir)
        .map(|d| {
            d.flatten()
                .filter_map(|f| std::fs::read_to_string(f.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        mails.iter().any(
            |m| m.contains("A recovery code was used on your Tessera account") && m.contains(EMAIL)
        ),
        "the owner is told by email"
    );
    let r2 = password_step(&server).await;
    assert_eq!(
        second_step(&server, &r2, &codes[0]).await.status(),
        401,
        "used up"
    );
    // New codes replace the whole old set: an unused old one stops working, a new one works.
    let resp = post_form(
        &server,
        &b,
        "/settings",
        "/settings/mfa/recovery-codes",
        &[],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("html");
    let fresh: Vec<String> = html
        .split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find('<').expect("end")].to_owned())
        .collect();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    let old = password_step(&server).await;
    assert_eq!(
        second_step(&server, &old, &codes[1]).await.status(),
        401,
        "the old set is gone"
    );
    assert_eq!(second_step(&server, &old, &fresh[0]).await.status(), 303);
    let events = store::audit::latest(server.db(), 50).await.expect("events");
    assert!(events.iter().any(|e| e.kind == "mfa.recovery_used"));
    assert!(events.iter().any(|e| e.kind == "mfa.failed"));
    assert!(events.iter().any(|e| e.kind == "mfa.enrolled"));

    // Fifty requests racing with one good code on one challenge: one session.
    let race = password_step(&server).await;
    server.clock.advance(chrono::Duration::seconds(30));
    let code = code_at(&server, &secret, 0);
    let token = csrf_token(&race, &server.url("/login/mfa")).await;
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (race, url, token, code) = (
            race.clone(),
            server.url("/login/mfa"),
            token.clone(),
            code.clone(),
        );
        attempts.spawn(async move {
            race.post(url)
                .form(&[("csrf_token", token.as_str()), ("code", code.as_str())])
                .send()
                .await
                .expect("POST")
        });
    }
    let answers = attempts.join_all().await;
    let sessions = answers
        .iter()
        .filter(|r| {
            r.headers().get_all("set-cookie").iter().any(|c| {
                c.to_str().is_ok_and(|c| {
                    c.starts_with("tessera_session=") && !c.starts_with("tessera_session=;")
                })
            })
        })
        .count();
    assert_eq!(sessions, 1, "one code, one challenge: one session");

    // Thirty wrong codes at once, a day later (the counters forgotten): each is counted before
    // it is compared, so only those below the lock (10) are compared at all, and then even the
    // right code waits.
    server.clock.advance(chrono::Duration::hours(25));
    let failed =
        |events: &[store::audit::Event]| events.iter().filter(|e| e.kind == "mfa.failed").count();
    let before = failed(
        &store::audit::latest(server.db(), 500)
            .await
            .expect("events"),
    );
    let l = password_step(&server).await;
    let wrong = (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| (-1..=1).all(|s| *c != code_at(&server, &secret, s)))
        .expect("a wrong code");
    let token = csrf_token(&l, &server.url("/login/mfa")).await;
    let mut guesses = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let (l, url, token, wrong) = (
            l.clone(),
            server.url("/login/mfa"),
            token.clone(),
            wrong.clone(),
        );
        guesses.spawn(async move {
            l.post(url)
                .form(&[("csrf_token", token.as_str()), ("code", wrong.as_str())])
                .send()
                .await
                .expect("POST")
                .status()
                .as_u16()
        });
    }
    let statuses = guesses.join_all().await;
    let wrong_answers = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(wrong_answers + locked, 30, "{statuses:?}");
    // The tenth compared guess is answered with the lock it causes.
    assert_eq!(wrong_answers, 9, "{statuses:?}");
    let after = failed(
        &store::audit::latest(server.db(), 500)
            .await
            .expect("events"),
    );
    assert_eq!(
        after - before,
        10,
        "only the guesses below the lock were compared"
    );
    server.clock.advance(chrono::Duration::seconds(30));
    let right = second_step(&server, &l, &code_at(&server, &secret, 0)).await;
    assert_eq!(right.status(), 429, "locked: even the right code waits");
    assert!(right.headers().contains_key("retry-after"));
    server.clock.advance(chrono::Duration::minutes(2));
    let right = second_step(&server, &l, &code_at(&server, &secret, 0)).await;
    assert_eq!(right.status(), 303, "the lock is over");
}

#[tokio::test]
async fn changing_factors_needs_a_recent_sign_in_or_the_password() {
    let server = TestServer::start().await;
    let b = browser();
    assert_eq!(sign_up(&server, &b, EMAIL, PASSWORD).await.status(), 303);
    let _secret = add_app(&server, &b).await;
    server.clock.advance(chrono::Duration::minutes(6));
    for password in ["", "not my password"] {
        let resp = post_form(
            &server,
            &b,
            "/settings",
            "/settings/mfa/recovery-codes",
            &[("current_password", password)],
        )
        .await;
        assert_eq!(resp.status(), 403, "{password:?}");
        assert!(
            resp.text()
                .await
                .expect("html")
                .contains("id=\"mfa-error\"")
        );
    }
    let resp = post_form(
        &server,
        &b,
        "/settings",
        "/settings/mfa/recovery-codes",
        &[("current_password", PASSWORD)],
    )
    .await;
    assert_eq!(resp.status(), 200);

    // Removing the app (with the password) lets the password sign in alone again... but the
    // recovery codes are a factor too: remove both.
    let factors = auth::mfa::list(server.db(), user_id(&server).await)
        .await
        .expect("factors");
    assert_eq!(factors.len(), 2);
    for f in &factors {
        let resp = post_form(
            &server,
            &b,
            "/settings",
            &format!("/settings/mfa/{}/remove", f.id),
            &[("current_password", "wrong")],
        )
        .await;
        assert_eq!(resp.status(), 403);
        let resp = post_form(
            &server,
            &b,
            "/settings",
            &format!("/settings/mfa/{}/remove", f.id),
            &[("current_password", PASSWORD)],
        )
        .await;
        assert_eq!(resp.status(), 303);
    }
    let fresh = browser();
    let resp = log_in(&server, &fresh, EMAIL, PASSWORD).await;
    assert_eq!(location(&resp), "/");
    assert_eq!(signed_in_as(&server, &fresh).await.as_deref(), Some(EMAIL));

    // Another user cannot remove Mia's factors: the id is looked up among the user's own.
    let _ = add_app(&server, &fresh).await;
    let mias = auth::mfa::list(server.db(), user_id(&server).await)
        .await
        .expect("factors");
    let eve = browser();
    assert_eq!(
        sign_up(&server, &eve, "eve@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let resp = post_form(
        &server,
        &eve,
        "/settings",
        &format!("/settings/mfa/{}/remove", mias[0].id),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        auth::mfa::list(server.db(), user_id(&server).await)
            .await
            .expect("factors")
            .len(),
        1,
        "Mia's app is still there"
    );
}

async fn user_id(server: &TestServer) -> store::Uuid {
    store::accounts::find_login_candidate(server.db(), store::accounts::IdentityKind::Email, EMAIL)
        .await
        .expect("lookup")
        .expect("mia")
        .user_id
}

/// A client registered with `require_mfa`, and `acr_values`, get codes only for sessions that
/// proved a second factor; the ID token says how the user signed in (`acr`, `amr`), checked by
/// the `openidconnect` relying party.
#[tokio::test]
async fn relying_parties_demand_and_verify_a_second_factor() {
    use common::rp;
    use openidconnect::TokenResponse;
    let server = TestServer::start().await;
    let registered = oidc::clients::register_client(
        server.db(),
        server.clock.as_ref(),
        oidc::clients::ClientRegistration {
            name: "Bank".into(),
            redirect_uris: vec![rp::REDIRECT.into()],
            require_mfa: true,
            ..Default::default()
        },
        store::audit::Actor::Cli,
    )
    .await
    .expect("client");
    let (plain_id, plain_secret) = common::flows::register(&server, false).await;

    // Discovery lists the classes.
    let discovery: serde_json::Value =
        reqwest::get(server.url("/.well-known/openid-configuration"))
            .await
            .expect("discovery")
            .json()
            .await
            .expect("json");
    assert_eq!(
        discovery["acr_values_supported"],
        serde_json::json!(["urn:tessera:acr:pwd", "urn:tessera:acr:mfa"])
    );

    // Without a second factor: the plain client's ID token says pwd; the bank sends the user to
    // the second step, which sends someone without a factor to add one; prompt=none fails.
    let b = browser();
    assert_eq!(
        sign_up(&server, &b, EMAIL, rp::PASSWORD).await.status(),
        303
    );
    let tokens =
        common::flows::tokens_for(&server, &b, &plain_id, Some(&plain_secret), "openid").await;
    let claims = common::flows::jwt_claims(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(claims["acr"], "urn:tessera:acr:pwd");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    let bank = &registered.client.client_id;
    let resp = b
        .get(server.url(&common::flows::authorize_path(bank, "openid", &[])))
        .send()
        .await
        .expect("authorize");
    let to_mfa = location(&resp);
    assert!(to_mfa.starts_with("/login/mfa?return_to="), "{to_mfa}");
    let resp = b.get(server.url(&to_mfa)).send().await.expect("mfa page");
    assert_eq!(location(&resp), "/settings?error=mfa_required#mfa");
    let resp = b
        .get(server.url(&common::flows::authorize_path(
            bank,
            "openid",
            &[("prompt", "none")],
        )))
        .send()
        .await
        .expect("authorize");
    assert!(
        location(&resp).contains("error=interaction_required"),
        "{}",
        location(&resp)
    );
    let resp = b
        .get(server.url(&common::flows::authorize_path(
            &plain_id,
            "openid",
            &[("acr_values", "urn:tessera:acr:mfa")],
        )))
        .send()
        .await
        .expect("authorize");
    assert!(
        location(&resp).starts_with("/login/mfa?"),
        "acr_values asks the same"
    );

    // With an authenticator app: a step-up on the same session, then the bank's relying party
    // validates an ID token whose amr names the second factor.
    let secret = add_app(&server, &b).await;
    server.clock.advance(chrono::Duration::seconds(30));
    let resp = b.get(server.url(&to_mfa)).send().await.expect("mfa page");
    assert_eq!(resp.status(), 200);
    let return_to = hidden_field(&resp.text().await.expect("html"), "return_to");
    let token = csrf_token(&b, &server.url("/login/mfa")).await;
    let resp = b
        .post(server.url("/login/mfa"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("code", code_at(&server, &secret, 0).as_str()),
            ("return_to", return_to.as_str()),
        ])
        .send()
        .await
        .expect("step up");
    assert_eq!(resp.status(), 303);
    assert!(
        location(&resp).starts_with("/oauth2/authorize?"),
        "{}",
        location(&resp)
    );

    let reg = rp::Registered {
        client_id: bank.clone(),
        secret: registered.client_secret.clone(),
    };
    let client = rp::discover(&server, &reg).await;
    let flow = rp::start_flow(&server, &client, &b, EMAIL).await;
    let tokens = rp::exchange(&client, &flow).await;
    let id_token = tokens.id_token().expect("id token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &flow.nonce)
        .expect("valid ID token");
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:tessera:acr:mfa")
    );
    let amr: Vec<&str> = claims
        .auth_method_refs()
        .expect("amr")
        .iter()
        .map(|m| m.as_str())
        .collect();
    assert_eq!(amr, ["pwd", "otp", "mfa"]);

    // A fresh sign-in with the second factor satisfies the bank at once.
    server.clock.advance(chrono::Duration::seconds(30));
    let fresh = password_step(&server).await;
    assert_eq!(
        second_step(&server, &fresh, &code_at(&server, &secret, 0))
            .await
            .status(),
        303
    );
    let resp = fresh
        .get(server.url(&common::flows::authorize_path(bank, "openid", &[])))
        .send()
        .await
        .expect("authorize");
    assert!(
        location(&resp).starts_with(rp::REDIRECT),
        "{}",
        location(&resp)
    );
}

/// The Admin API lists and removes a user's factors: a user who lost the phone and the codes is
/// let back in with the password alone.
#[tokio::test]
async fn admins_list_and_remove_factors() {
    use common::admin::{admin_key, call};
    use reqwest::Method;
    let server = TestServer::start().await;
    let key = admin_key(&server).await;
    let b = browser();
    assert_eq!(sign_up(&server, &b, EMAIL, PASSWORD).await.status(), 303);
    let _secret = add_app(&server, &b).await;
    let resp = post_form(
        &server,
        &b,
        "/settings",
        "/settings/mfa/recovery-codes",
        &[],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mia = user_id(&server).await;

    let (status, _, _) = call(
        &server,
        None,
        Method::GET,
        &format!("/users/{mia}/factors"),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (status, body, _) = call(
        &server,
        Some(&key),
        Method::GET,
        &format!("/users/{mia}/factors"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().expect("items").clone();
    let types: Vec<&str> = items
        .iter()
        .map(|f| f["type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, ["totp", "recovery_codes"]);
    assert!(
        items
            .iter()
            .all(|f| f["created_at"].is_string() && f.get("secret").is_none())
    );
    assert!(
        !body.to_string().contains("hash"),
        "no secret or hash leaves the server"
    );

    let eve = browser();
    assert_eq!(
        sign_up(&server, &eve, "eve@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let eve_id = store::accounts::find_login_candidate(
        server.db(),
        store::accounts::IdentityKind::Email,
        "eve@example.com",
    )
    .await
    .expect("lookup")
    .expect("eve")
    .user_id;
    for (user, factor) in [
        (
            eve_id.to_string(),
            items[0]["id"].as_str().expect("id").to_owned(),
        ),
        (mia.to_string(), "not-a-uuid".to_owned()),
        (mia.to_string(), store::Uuid::now_v7().to_string()),
        (
            "nobody".to_owned(),
            items[0]["id"].as_str().expect("id").to_owned(),
        ),
    ] {
        let (status, _, _) = call(
            &server,
            Some(&key),
            Method::DELETE,
            &format!("/users/{user}/factors/{factor}"),
            None,
        )
        .await;
        assert_eq!(status, 404, "{user} {factor}");
    }
    for f in &items {
        let id = f["id"].as_str().expect("id");
        let path = format!("/users/{mia}/factors/{id}");
        let (status, _, _) = call(&server, Some(&key), Method::DELETE, &path, None).await;
        assert_eq!(status, 204);
        let (status, _, _) = call(&server, Some(&key), Method::DELETE, &path, None).await;
        assert_eq!(status, 404, "gone");
    }
    let events = store::audit::latest(server.db(), 50).await.expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.kind == "mfa.removed" && e.actor_type == "admin_key")
    );
    let back = browser();
    let resp = log_in(&server, &back, EMAIL, PASSWORD).await;
    assert_eq!(location(&resp), "/", "the password alone again");
}

/// `mfa.policy = "required"`: a user without a second factor adds one right after signing in;
/// pages and authorization requests wait until then.
#[tokio::test]
async fn a_required_policy_makes_everyone_add_a_second_factor_first() {
    let server = TestServer::start_with(|c| c.mfa.policy = "required".into()).await;
    let (client_id, _) = common::flows::register(&server, false).await;
    let b = browser();
    assert_eq!(sign_up(&server, &b, EMAIL, PASSWORD).await.status(), 303);
    let resp = b
        .get(server.url("/settings"))
        .send()
        .await
        .expect("settings");
    assert_eq!(location(&resp), "/login/mfa/setup?return_to=%2Fsettings");
    let resp = b
        .get(server.url(&common::flows::authorize_path(&client_id, "openid", &[])))
        .send()
        .await
        .expect("authorize");
    assert!(
        location(&resp).starts_with("/login/mfa/setup?return_to=%2Foauth2%2Fauthorize"),
        "{}",
        location(&resp)
    );
    let page = b
        .get(server.url("/login/mfa/setup"))
        .send()
        .await
        .expect("setup")
        .text()
        .await
        .expect("html");
    assert!(page.contains("action=\"/settings/mfa/totp\""));
    let _secret = add_app_from(&server, &b, "/login/mfa/setup").await;
    let resp = b
        .get(server.url("/settings"))
        .send()
        .await
        .expect("settings");
    assert_eq!(
        resp.status(),
        200,
        "the gate is open once a factor is there"
    );
    let resp = b
        .get(server.url(&common::flows::authorize_path(&client_id, "openid", &[])))
        .send()
        .await
        .expect("authorize");
    assert!(
        location(&resp).starts_with(common::flows::REDIRECT),
        "{}",
        location(&resp)
    );
}

/// Creates a tenant through the system Admin API.
async fn create_tenant(server: &TestServer, body: serde_json::Value) {
    let system = auth::admin_keys::create_admin_key(
        server.db(),
        server.clock.as_ref(),
        "system",
        true,
        store::audit::Actor::Cli,
    )
    .await
    .expect("key")
    .key;
    let (status, answer, _) = common::admin::call(
        server,
        Some(&system),
        reqwest::Method::POST,
        "/tenants",
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
}

/// A tenant can require a second factor while the server does not.
#[tokio::test]
async fn a_tenant_can_require_a_second_factor() {
    let server = TestServer::start().await;
    create_tenant(
        &server,
        serde_json::json!({ "id": "vault", "settings": { "mfa_policy": "required" } }),
    )
    .await;
    let vault = server.tenant("vault");
    let b = browser();
    assert_eq!(sign_up(&vault, &b, EMAIL, PASSWORD).await.status(), 303);
    let resp = b
        .get(vault.url("/settings"))
        .send()
        .await
        .expect("settings");
    assert_eq!(
        location(&resp),
        "/t/vault/login/mfa/setup?return_to=%2Fsettings"
    );
    let root = browser();
    assert_eq!(sign_up(&server, &root, EMAIL, PASSWORD).await.status(), 303);
    let resp = root
        .get(server.url("/settings"))
        .send()
        .await
        .expect("settings");
    assert_eq!(resp.status(), 200, "the root's policy is optional");
}

/// The passkey endpoints, attacked without a browser: no CSRF header, no ceremony, a forged
/// answer, no sign-in; an IP-address issuer has no passkeys.
#[tokio::test]
async fn passkey_endpoints_refuse_forged_and_stray_requests() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = TestServer::start_on(listener, |c| {
        c.server.issuer = format!("http://localhost:{port}");
    })
    .await;
    let b = browser();
    let token = csrf_token(&b, &server.url("/login")).await;
    let post = |path: &str, csrf: Option<&str>, body: serde_json::Value| {
        let mut req = b
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        async move {
            let resp = req.send().await.expect("POST");
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }
    };
    // No CSRF header, a wrong one: refused before anything else.
    for csrf in [None, Some("forged")] {
        let (status, body) = post("/login/passkey/start", csrf, serde_json::json!({})).await;
        assert_eq!(status, 403, "{body}");
    }
    // A start hands out options and a ceremony cookie.
    let (status, body) = post("/login/passkey/start", Some(&token), serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    let options: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(options["options"]["publicKey"]["challenge"].is_string());
    assert_eq!(options["options"]["publicKey"]["rpId"], "localhost");
    // A forged answer: refused, and the ceremony is spent.
    let forged = serde_json::json!({
        "credential": {
            "id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {
                "authenticatorData": "AAAA", "clientDataJSON": "AAAA",
                "signature": "AAAA", "userHandle": "AAAAAAAAAAAAAAAAAAAAAA"
            }
        }
    });
    let (status, _) = post("/login/passkey/finish", Some(&token), forged.clone()).await;
    assert_eq!(status, 401);
    let (status, _) = post("/login/passkey/finish", Some(&token), forged.clone()).await;
    assert_eq!(status, 400, "no ceremony any more");
    let (status, _) = post(
        "/login/passkey/finish",
        Some(&token),
        serde_json::json!("x"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(signed_in_as(&server, &b).await, None);
    // Second step and adding need a sign-in (or a waiting challenge).
    let (status, _) = post(
        "/login/mfa/passkey/start",
        Some(&token),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 401);
    let resp = b
        .post(server.url("/settings/mfa/passkey/start"))
        .header("x-csrf-token", &token)
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 303, "to the sign-in page");
    // Signed in long ago, adding a passkey needs the password.
    assert_eq!(sign_up(&server, &b, EMAIL, PASSWORD).await.status(), 303);
    server.clock.advance(chrono::Duration::minutes(6));
    let token = csrf_token(&b, &server.url("/settings")).await;
    let (status, _) = post(
        "/settings/mfa/passkey/start",
        Some(&token),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = post(
        "/settings/mfa/passkey/start",
        Some(&token),
        serde_json::json!({ "current_password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Without passkeys there is no passkey second step.
    let (status, _) = post(
        "/login/mfa/passkey/start",
        Some(&token),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, 401);

    // An issuer that is an IP address cannot have passkeys: a clear answer, not a 500.
    let ip = TestServer::start().await;
    let c = browser();
    let token = csrf_token(&c, &ip.url("/login")).await;
    let resp = c
        .post(ip.url("/login/passkey/start"))
        .header("x-csrf-token", &token)
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 503);
}

/// `prompt=login` and `max_age` run the whole sign-in again for a user with a second factor: the
/// password and then the code, and only then a code for the client, whose ID token tells of the
/// new sign-in (`auth_time`, `amr`).
#[tokio::test]
async fn prompt_login_and_max_age_ask_for_the_second_factor_again() {
    let server = TestServer::start().await;
    let (client_id, secret_key) = common::flows::register(&server, false).await;
    let b = browser();
    assert_eq!(sign_up(&server, &b, EMAIL, PASSWORD).await.status(), 303);
    let secret = add_app(&server, &b).await;
    for extra in [("prompt", "login"), ("max_age", "5")] {
        server.clock.advance(chrono::Duration::seconds(60));
        let asked = server.clock_now().timestamp();
        let path = common::flows::authorize_path(&client_id, "openid", &[extra]);
        let resp = b.get(server.url(&path)).send().await.expect("authorize");
        let to_login = location(&resp);
        assert!(to_login.starts_with("/login?"), "{extra:?}: {to_login}");
        let return_to = url::Url::parse(&server.url(&to_login))
            .expect("url")
            .query_pairs()
            .find(|(k, _)| k == "return_to")
            .map(|(_, v)| v.into_owned())
            .expect("return_to");
        // The password alone gives no code: the second step comes first.
        let token = csrf_token(&b, &server.url(&to_login)).await;
        let resp = b
            .post(server.url("/login"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("login_id", EMAIL),
                ("password", PASSWORD),
                ("return_to", return_to.as_str()),
            ])
            .send()
            .await
            .expect("password");
        assert_eq!(resp.status(), 303);
        let to_mfa = location(&resp);
        assert!(to_mfa.starts_with("/login/mfa"), "{extra:?}: {to_mfa}");
        let resp = b.get(server.url(&to_mfa)).send().await.expect("mfa page");
        let html = resp.text().await.expect("html");
        let back = hidden_field(&html, "return_to");
        let token = csrf_token(&b, &server.url("/login/mfa")).await;
        let resp = b
            .post(server.url("/login/mfa"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("code", code_at(&server, &secret, 0).as_str()),
                ("return_to", back.as_str()),
            ])
            .send()
            .await
            .expect("code");
        assert_eq!(resp.status(), 303);
        let again = location(&resp);
        assert!(again.starts_with("/oauth2/authorize?"), "{again}");
        let resp = b.get(server.url(&again)).send().await.expect("authorize");
        let code = common::flows::code_from(&resp);
        let tokens = common::flows::exchange(&server, &client_id, Some(&secret_key), &code).await;
        let claims = common::flows::jwt_claims(tokens["id_token"].as_str().expect("id token"));
        assert!(
            claims["auth_time"].as_i64().expect("auth_time") >= asked,
            "{extra:?}: a new sign-in"
        );
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    }
}

/// A second-step challenge of one tenant means nothing to another: on http the root's challenge
/// cookie (`Path=/`) reaches `/t/acme` too, and acme neither signs anyone in with it nor spends
/// it.
#[tokio::test]
async fn a_challenge_of_one_tenant_is_refused_by_another() {
    let server = TestServer::start().await;
    create_tenant(&server, serde_json::json!({ "id": "acme" })).await;
    let acme = server.tenant("acme");
    let b = browser();
    assert_eq!(sign_up(&server, &b, EMAIL, PASSWORD).await.status(), 303);
    let secret = add_app(&server, &b).await;
    // The same address in acme, with the same password.
    assert_eq!(
        sign_up(&acme, &browser(), EMAIL, PASSWORD).await.status(),
        303
    );

    server.clock.advance(chrono::Duration::seconds(30));
    let l = password_step(&server).await;
    let code = code_at(&server, &secret, 0);
    // acme has no challenge for this browser: its second-step page sends it to the sign-in.
    let resp = l.get(acme.url("/login/mfa")).send().await.expect("GET");
    assert_eq!(location(&resp), "/t/acme/login");
    let token = csrf_token(&l, &acme.url("/login")).await;
    let resp = l
        .post(acme.url("/login/mfa"))
        .form(&[("csrf_token", token.as_str()), ("code", code.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(
        location(&resp),
        "/t/acme/login",
        "no sign-in in acme with the root's challenge"
    );
    assert_eq!(signed_in_as(&acme, &l).await, None);
    assert_eq!(signed_in_as(&server, &l).await, None);
    // The root's challenge and the code's step are untouched.
    let resp = second_step(&server, &l, &code).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");
    assert_eq!(signed_in_as(&server, &l).await.as_deref(), Some(EMAIL));
}
