//! Sign-up, sign-in, sign-out and sessions through the real pages of a listening server.

mod common;

use common::*;
use store::accounts::IdentityKind;

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn sign_up_then_sign_out_then_sign_in() {
    let server = TestServer::start().await;
    let client = browser();

    let resp = sign_up(&server, &client, "Alice@Example.com", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("tessera_session="))
        .expect("session cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain-http issuer: {cookie}");
    assert_eq!(
        signed_in_as(&server, &client).await.as_deref(),
        Some("alice@example.com")
    );

    // The session is stored hashed: the cookie value is nowhere in the database.
    let token = cookie["tessera_session=".len()..]
        .split(';')
        .next()
        .unwrap_or_default();
    let candidate = store::accounts::find_login_candidate(
        server.db(),
        IdentityKind::Email,
        "alice@example.com",
    )
    .await
    .expect("query")
    .expect("account");
    let sessions = store::sessions::list_for_user(server.db(), candidate.user_id)
        .await
        .expect("sessions");
    assert_eq!(sessions.len(), 1);
    assert!(
        store::sessions::find_by_token_hash(server.db(), token)
            .await
            .expect("q")
            .is_none()
    );
    assert_eq!(sessions[0].user_agent.as_deref(), Some("tessera-tests/1.0"));
    assert_eq!(sessions[0].ip.as_deref(), Some("127.0.0.1"));
    // And the password is an Argon2id hash.
    assert!(
        candidate
            .password_hash
            .as_deref()
            .unwrap_or("")
            .starts_with("$argon2id$")
    );

    // Sign out (needs the CSRF token from the account page).
    let home = client
        .get(server.url("/settings"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("body");
    let token = hidden_field(&home, "csrf_token");
    let resp = client
        .post(server.url("/logout"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login?signed_out=1");
    assert_eq!(signed_in_as(&server, &client).await, None);
    assert!(
        store::sessions::list_for_user(server.db(), candidate.user_id)
            .await
            .expect("s")
            .is_empty()
    );

    // Sign in again with a differently-cased login ID.
    let resp = log_in(&server, &client, "ALICE@example.COM", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        signed_in_as(&server, &client).await.as_deref(),
        Some("alice@example.com")
    );

    let events = store::audit::latest(server.db(), 10).await.expect("events");
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "login.succeeded",
            "logout",
            "login.succeeded",
            "user.signed_up"
        ]
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let server = TestServer::start().await;
    let client = browser();
    assert_eq!(
        sign_up(&server, &client, "bob@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let other = browser();

    let wrong = log_in(&server, &other, "bob@example.com", "not the password").await;
    assert_eq!(wrong.status(), 401);
    let wrong = wrong.text().await.expect("body");
    let unknown = log_in(&server, &other, "nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status(), 401);
    let unknown = unknown.text().await.expect("body");
    let message = "The login ID or password is incorrect.";
    assert!(wrong.contains(message) && unknown.contains(message));
    // The login ID typed is kept, the password is not.
    assert!(wrong.contains("value=\"bob@example.com\""));
    assert!(!wrong.contains("not the password"));
    // Garbage that cannot be a login ID gets the same answer too.
    let garbage = log_in(&server, &other, "x", PASSWORD).await;
    assert_eq!(garbage.status(), 401);
    assert!(garbage.text().await.expect("body").contains(message));
    assert_eq!(signed_in_as(&server, &other).await, None);

    let failures = store::audit::latest(server.db(), 10)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.kind == "login.failed")
        .count();
    assert_eq!(failures, 3);
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_refused() {
    let server = TestServer::start().await;
    let client = browser();
    assert_eq!(
        sign_up(&server, &client, "carol@example.com", PASSWORD)
            .await
            .status(),
        303
    );

    // No token at all, with the cookie set.
    let fresh = browser();
    let _ = csrf_token(&fresh, &server.url("/login")).await;
    let resp = fresh
        .post(server.url("/login"))
        .form(&[("login_id", "carol@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 403);
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("This form has expired")
    );

    // A token from another browser (cookie mismatch).
    let attacker = browser();
    let token = csrf_token(&attacker, &server.url("/login")).await;
    let victim = browser();
    let resp = victim
        .post(server.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("login_id", "carol@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 403);
    assert_eq!(signed_in_as(&server, &victim).await, None);

    // Sign-up and logout are protected the same way.
    let resp = fresh
        .post(server.url("/signup"))
        .form(&[
            ("csrf_token", "forged"),
            ("email", "dave@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 403);
    assert_eq!(
        store::accounts::count_users(server.db())
            .await
            .expect("count"),
        1
    );
    let resp = client
        .post(server.url("/logout"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 403);
    assert!(
        signed_in_as(&server, &client).await.is_some(),
        "a forged logout must not sign out"
    );
}

#[tokio::test]
async fn sign_up_refuses_duplicates_bad_emails_and_weak_passwords() {
    let server = TestServer::start().await;
    assert_eq!(
        sign_up(&server, &browser(), "erin@example.com", PASSWORD)
            .await
            .status(),
        303
    );

    // The same address in another case and in full-width Unicode letters.
    for dup in ["ERIN@example.com", "\u{ff45}rin@example.com"] {
        let resp = sign_up(&server, &browser(), dup, PASSWORD).await;
        assert_eq!(resp.status(), 422, "{dup}");
        let html = resp.text().await.expect("body");
        assert!(
            html.contains("An account with this email address already exists."),
            "{html}"
        );
    }

    let resp = sign_up(&server, &browser(), "not-an-email", PASSWORD).await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.expect("body");
    assert!(html.contains("id=\"email-error\""));
    assert!(
        html.contains("value=\"not-an-email\""),
        "what the user typed is kept"
    );

    let resp = sign_up(&server, &browser(), "frank@example.com", "short").await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.expect("body");
    assert!(html.contains("id=\"password-error\"") && html.contains("at least 8"));

    let long = "p".repeat(257);
    let resp = sign_up(&server, &browser(), "frank@example.com", &long).await;
    assert_eq!(resp.status(), 422);

    // Hostile input is escaped, never reflected as markup.
    let resp = sign_up(&server, &browser(), "<script>alert(1)</script>", PASSWORD).await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.expect("body");
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));

    assert_eq!(
        store::accounts::count_users(server.db())
            .await
            .expect("count"),
        1
    );
}

#[tokio::test]
async fn sessions_expire_after_their_lifetime_and_when_idle() {
    let server = TestServer::start_with(|c| {
        c.session.lifetime_seconds = 8 * 3600;
        c.session.idle_timeout_seconds = 3600;
    })
    .await;
    let client = browser();
    assert_eq!(
        sign_up(&server, &client, "gina@example.com", PASSWORD)
            .await
            .status(),
        303
    );

    // Activity keeps an idle timeout at bay: 50 minutes, a request, 50 more minutes.
    server.clock.advance(chrono::Duration::minutes(50));
    assert!(signed_in_as(&server, &client).await.is_some());
    server.clock.advance(chrono::Duration::minutes(50));
    assert!(signed_in_as(&server, &client).await.is_some());

    // More than the idle timeout without a request ends it.
    server.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(signed_in_as(&server, &client).await, None);

    // The absolute lifetime ends a session however busy it is.
    assert_eq!(
        log_in(&server, &client, "gina@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    for _ in 0..8 {
        server.clock.advance(chrono::Duration::minutes(55));
        assert!(signed_in_as(&server, &client).await.is_some());
    }
    server.clock.advance(chrono::Duration::minutes(45));
    assert_eq!(signed_in_as(&server, &client).await, None);
}

#[tokio::test]
async fn sign_in_returns_to_a_local_page_only() {
    let server = TestServer::start().await;
    let client = browser();
    assert_eq!(
        sign_up(&server, &client, "hank@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let home = client
        .get(server.url("/settings"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("b");
    let token = hidden_field(&home, "csrf_token");
    client
        .post(server.url("/logout"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("out");

    let page = client
        .get(server.url("/login?return_to=%2Fsomewhere%3Fa%3D1"))
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("body");
    assert_eq!(hidden_field(&page, "return_to"), "/somewhere?a=1");
    for (target, expected) in [
        ("/somewhere?a=1", "/somewhere?a=1"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
    ] {
        // The CSRF token is renewed at sign-in: each sign-in takes the form anew.
        let token = csrf_token(&client, &server.url("/login?prompt=login")).await;
        let resp = client
            .post(server.url("/login"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("login_id", "hank@example.com"),
                ("password", PASSWORD),
                ("return_to", target),
            ])
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), 303);
        assert_eq!(location(&resp), expected, "{target}");
    }
}

#[tokio::test]
async fn health_readiness_metrics_and_bad_requests() {
    let server = TestServer::start().await;
    let client = browser();
    assert_eq!(
        client
            .get(server.url("/healthz"))
            .send()
            .await
            .expect("h")
            .status(),
        200
    );
    assert_eq!(
        client
            .get(server.url("/readyz"))
            .send()
            .await
            .expect("r")
            .status(),
        200
    );
    let _ = client
        .get(server.url("/login"))
        .send()
        .await
        .expect("login");
    let _ = client
        .get(server.url("/no/such/page"))
        .send()
        .await
        .expect("404");
    let metrics = client.get(server.url("/metrics")).send().await.expect("m");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("body");
    assert!(
        text.contains("http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket{method=\"GET\",route=\"/login\""));
    assert!(text.contains("route=\"(unmatched)\",status=\"404\""));

    // Oversized and malformed bodies are refused cleanly, never with a 5xx.
    let big = "x".repeat(200 * 1024);
    let resp = client
        .post(server.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("login_id={big}"))
        .send()
        .await
        .expect("big");
    assert_eq!(resp.status(), 413);
    let resp = client
        .post(server.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', 0x80])
        .send()
        .await
        .expect("bad");
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let resp = client
        .post(server.url("/login"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("json");
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let resp = client
        .get(server.url("/"))
        .header("cookie", format!("tessera_session={}", "A".repeat(5000)))
        .send()
        .await
        .expect("huge cookie");
    assert!(resp.status().as_u16() < 500, "{}", resp.status());
}

#[tokio::test]
async fn cookies_are_secure_when_the_issuer_is_https() {
    let server = TestServer::start_with(|c| c.server.issuer = "https://id.example".into()).await;
    let client = browser();
    let resp = client
        .get(server.url("/signup"))
        .send()
        .await
        .expect("signup page");
    let csrf_cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-tessera_csrf="))
        .expect("csrf cookie")
        .to_owned();
    assert!(
        csrf_cookie.contains("Secure")
            && csrf_cookie.contains("HttpOnly")
            && csrf_cookie.contains("Path=/")
            && !csrf_cookie.contains("Domain"),
        "{csrf_cookie}"
    );
    let html = resp.text().await.expect("body");
    let token = hidden_field(&html, "csrf_token");
    // reqwest keeps Secure cookies away from http URLs, so send the CSRF cookie by hand.
    let value = csrf_cookie["__Host-tessera_csrf=".len()..]
        .split(';')
        .next()
        .unwrap_or_default();
    let resp = browser()
        .post(server.url("/signup"))
        .header("cookie", format!("__Host-tessera_csrf={value}"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "ivan@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("signup");
    assert_eq!(resp.status(), 303);
    let session_cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-tessera_session="))
        .expect("session cookie")
        .to_owned();
    assert!(
        session_cookie.contains("Secure") && session_cookie.contains("Path=/"),
        "{session_cookie}"
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_login_id_with_a_clear_429() {
    let server = TestServer::start_with(|c| c.brute_force.max_failures = 3).await;
    let owner = browser();
    assert_eq!(
        sign_up(&server, &owner, "kai@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let attacker = browser();
    for _ in 0..3 {
        assert_eq!(
            log_in(&server, &attacker, "kai@example.com", "guess")
                .await
                .status(),
            401
        );
    }
    // Locked now, even with the right password, from any browser.
    let resp = log_in(&server, &browser(), "KAI@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 429);
    let retry: i64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("Too many failed attempts. Try again in 1 minute.")
    );
    // An unknown login ID locks the same way (a lock reveals nothing about accounts).
    for _ in 0..3 {
        log_in(&server, &attacker, "ghost@example.com", "guess").await;
    }
    assert_eq!(
        log_in(&server, &attacker, "ghost@example.com", "guess")
            .await
            .status(),
        429
    );
    // The lock ends; the right password works and clears the count.
    server.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        log_in(&server, &browser(), "kai@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    assert_eq!(
        store::throttles::failures(server.db(), "login:email:kai@example.com")
            .await
            .expect("q"),
        0
    );
    let kinds: Vec<String> = store::audit::latest(server.db(), 30)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == "login.locked"), "{kinds:?}");
}

#[tokio::test]
async fn locks_hold_across_two_server_processes() {
    let a = TestServer::start_with(|c| c.brute_force.max_failures = 2).await;
    let b = TestServer::start_sharing(&a).await;
    assert_eq!(
        sign_up(&a, &browser(), "lia@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let client = browser();
    assert_eq!(
        log_in(&a, &client, "lia@example.com", "wrong")
            .await
            .status(),
        401
    );
    // The second failure lands on the other process.
    let token = csrf_token(&client, &b.url("/login")).await;
    let resp = client
        .post(b.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("login_id", "lia@example.com"),
            ("password", "wrong"),
        ])
        .send()
        .await
        .expect("login on B");
    assert_eq!(resp.status(), 401);
    assert_eq!(
        log_in(&a, &browser(), "lia@example.com", PASSWORD)
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn parallel_password_guesses_cannot_outrun_the_lock() {
    let server = TestServer::start_with(|c| c.brute_force.max_failures = 4).await;
    assert_eq!(
        sign_up(&server, &browser(), "noa@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (url, page) = (server.url("/login"), server.url("/login"));
        guesses.spawn(async move {
            let b = browser();
            let token = csrf_token(&b, &page).await;
            b.post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("login_id", "noa@example.com"),
                    ("password", format!("guess {i}").as_str()),
                ])
                .send()
                .await
                .expect("POST")
                .status()
                .as_u16()
        });
    }
    let statuses = guesses.join_all().await;
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    // Each guess is counted before its password is compared: only the four below the lock were
    // compared (each audited), however many arrived at once.
    let compared = store::audit::latest(server.db(), 100)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.kind == "login.failed")
        .count();
    assert_eq!(compared, 4, "{statuses:?}");
    assert_eq!(
        log_in(&server, &browser(), "noa@example.com", PASSWORD)
            .await
            .status(),
        429,
        "locked, even for the right password"
    );
}
