//! Email verification end to end: a real SMTP server on loopback receives the code, the user types
//! it, and UserInfo says `email_verified: true` only then.

mod common;

use common::flows::{self, REDIRECT};
use common::peers::{self, smtp_server};
use common::*;
use store::audit::Actor;

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn sign_up_receive_a_real_email_verify_and_userinfo_says_verified() {
    let (smtp, inbox) = smtp_server();
    let server = TestServer::start_with(|c| {
        c.verification.email.required = true;
        c.smtp.url = smtp.clone();
    })
    .await;
    let client = oidc::clients::register_client(
        server.db(),
        server.clock.as_ref(),
        oidc::clients::ClientRegistration {
            name: "App".into(),
            redirect_uris: vec![REDIRECT.into()],
            ..Default::default()
        },
        Actor::Cli,
    )
    .await
    .expect("client");
    let b = browser();
    let resp = sign_up(&server, &b, "Mia@Example.com", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert!(
        location(&resp).starts_with("/verify-email"),
        "{}",
        location(&resp)
    );
    assert_eq!(inbox.messages.lock().expect("inbox").len(), 1);
    let code = inbox.last_code();

    // Until verified: the account page and authorization requests go to the code page.
    let home = b.get(server.url("/settings")).send().await.expect("home");
    assert_eq!(location(&home), "/verify-email?return_to=%2Fsettings");
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let authorize = format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={REDIRECT}&scope=openid%20email&code_challenge={challenge}&code_challenge_method=S256",
        registered_id(&client)
    );
    let resp = b
        .get(server.url(&authorize))
        .send()
        .await
        .expect("authorize");
    let to_verify = location(&resp);
    assert!(
        to_verify.starts_with("/verify-email?return_to="),
        "{to_verify}"
    );

    // A wrong code is refused with the tries left; the right one verifies and continues.
    let page = b
        .get(server.url(&to_verify))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("mia@example.com"));
    let token = hidden_field(&page, "csrf_token");
    let return_to = hidden_field(&page, "return_to");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let resp = b
        .post(server.url("/verify-email"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("code", wrong),
            ("return_to", return_to.as_str()),
        ])
        .send()
        .await
        .expect("wrong code");
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.expect("html").contains("4 tries left"));
    let resp = b
        .post(server.url("/verify-email"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("code", code.as_str()),
            ("return_to", return_to.as_str()),
        ])
        .send()
        .await
        .expect("code");
    assert_eq!(resp.status(), 303);
    assert_eq!(
        location(&resp),
        return_to,
        "back to the authorization request"
    );

    // The authorization request goes on, and UserInfo says the address is verified.
    let resp = b
        .get(server.url(&location(&resp)))
        .send()
        .await
        .expect("authorize");
    let code = flows::code_from(&resp);
    let tokens = flows::exchange(
        &server,
        &registered_id(&client),
        client.client_secret.as_deref(),
        &code,
    )
    .await;
    let info = flows::userinfo(&server, tokens["access_token"].as_str().expect("at")).await;
    assert_eq!(info["email"], "mia@example.com");
    assert_eq!(info["email_verified"], true);
    let kinds: Vec<String> = store::audit::latest(server.db(), 30)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for k in ["code.sent", "code.failed", "code.verified"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
}

fn registered_id(c: &oidc::clients::RegisteredClient) -> String {
    c.client.client_id.clone()
}

#[tokio::test]
async fn an_smtp_outage_is_told_to_the_user_and_nothing_is_lost() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let server = TestServer::start_with(|c| {
        c.verification.email.required = true;
        c.smtp.url = format!("smtp://127.0.0.1:{port}");
        c.verification.resend_cooldown_seconds = 60;
    })
    .await;
    let b = browser();
    let resp = sign_up(&server, &b, "noa@example.com", PASSWORD).await;
    assert_eq!(
        resp.status(),
        303,
        "the account is created even though the email could not go"
    );
    let page = b
        .get(server.url(&location(&resp)))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("We could not send the email just now"),
        "{page}"
    );
    assert_eq!(
        store::accounts::count_users(server.db())
            .await
            .expect("count"),
        1
    );
    let events = store::audit::latest(server.db(), 10).await.expect("events");
    assert!(events.iter().any(|e| e.kind == "code.send_failed"));
    // Asking again too soon says when; the cooldown counts from the code that was stored.
    let token = hidden_field(&page, "csrf_token");
    let resp = b
        .post(server.url("/verify-email/resend"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("resend");
    assert_eq!(resp.status(), 429);
    assert!(
        resp.text()
            .await
            .expect("html")
            .contains("You can ask for a new one in")
    );
}

#[tokio::test]
async fn password_reset_by_emailed_code_ends_the_other_sessions() {
    let (smtp, inbox) = smtp_server();
    let server = TestServer::start_with(|c| c.smtp.url = smtp.clone()).await;
    let laptop = browser();
    assert_eq!(
        sign_up(&server, &laptop, "ola@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let phone = browser();
    assert_eq!(
        log_in(&server, &phone, "ola@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    assert!(
        signed_in_as(&server, &laptop).await.is_some()
            && signed_in_as(&server, &phone).await.is_some()
    );

    // Unknown and known addresses get the same answer; only the known one gets mail.
    let stranger = browser();
    let page_for = |email: &'static str| {
        let b = stranger.clone();
        let url = server.url("/reset-password");
        async move {
            let token = csrf_token(&b, &url).await;
            let resp = b
                .post(&url)
                .form(&[("csrf_token", token.as_str()), ("email", email)])
                .send()
                .await
                .expect("reset");
            (resp.status().as_u16(), resp.text().await.expect("html"))
        }
    };
    let (status, unknown) = page_for("nobody@example.com").await;
    assert_eq!(status, 200);
    let (status, known) = page_for("OLA@example.com").await;
    assert_eq!(status, 200);
    let strip = |html: &str, email: &str| {
        html.replace(email, "EMAIL")
            .split("csrf_token")
            .next()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(
        strip(&unknown, "nobody@example.com"),
        strip(&known, "ola@example.com"),
        "no account enumeration"
    );
    inbox.wait_for(1).await;
    assert_eq!(inbox.messages.lock().expect("inbox").len(), 1);
    let code = inbox.last_code();
    assert!(inbox.messages.lock().expect("inbox")[0].contains("password reset"));

    let token = hidden_field(&known, "csrf_token");
    // A weak password is refused without using up the code.
    let resp = stranger
        .post(server.url("/reset-password/code"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "ola@example.com"),
            ("code", code.as_str()),
            ("password", "short"),
        ])
        .send()
        .await
        .expect("weak");
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.expect("html").contains("at least 8"));
    let resp = stranger
        .post(server.url("/reset-password/code"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "ola@example.com"),
            ("code", "000000"),
            ("password", "a brand new password"),
        ])
        .send()
        .await
        .expect("wrong code");
    assert_eq!(resp.status(), 422, "a wrong code");
    let resp = stranger
        .post(server.url("/reset-password/code"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "ola@example.com"),
            ("code", code.as_str()),
            ("password", "a brand new password"),
        ])
        .send()
        .await
        .expect("reset");
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login?password_reset=1");

    // Every session of the account ended; the old password is gone, the new one works.
    assert_eq!(signed_in_as(&server, &laptop).await, None);
    assert_eq!(signed_in_as(&server, &phone).await, None);
    assert_eq!(
        log_in(&server, &browser(), "ola@example.com", PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        log_in(
            &server,
            &browser(),
            "ola@example.com",
            "a brand new password"
        )
        .await
        .status(),
        303
    );
    // The code worked once.
    let resp = stranger
        .post(server.url("/reset-password/code"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "ola@example.com"),
            ("code", code.as_str()),
            ("password", "yet another password"),
        ])
        .send()
        .await
        .expect("again");
    assert_eq!(resp.status(), 422);
    let kinds: Vec<String> = store::audit::latest(server.db(), 30)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == "password.reset"), "{kinds:?}");
}

#[tokio::test]
async fn code_limits_hold_across_two_server_processes() {
    let (smtp, inbox) = smtp_server();
    let a = TestServer::start_with(|c| {
        c.smtp.url = smtp.clone();
        c.verification.email.required = true;
    })
    .await;
    let b = TestServer::start_sharing(&a).await;
    let user = browser();
    assert_eq!(
        sign_up(&a, &user, "pia@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    assert_eq!(inbox.messages.lock().expect("inbox").len(), 1);
    // Asking the other process for a new code within the cooldown is refused there too.
    let page = user
        .get(b.url("/verify-email"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let token = hidden_field(&page, "csrf_token");
    let resp = user
        .post(b.url("/verify-email/resend"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("resend");
    assert_eq!(resp.status(), 429);
    assert_eq!(inbox.messages.lock().expect("inbox").len(), 1);
}

async fn post_form(b: &reqwest::Client, url: String, form: &[(&str, &str)]) -> reqwest::Response {
    b.post(url).form(form).send().await.expect("post")
}

#[tokio::test]
async fn a_phone_number_is_added_only_after_its_code_and_shows_verified_in_userinfo() {
    let (sms_url, sms) = peers::http_collector("/sms").await;
    let (smtp, inbox) = smtp_server();
    let server = TestServer::start_with(|c| {
        c.sms.sender = "webhook".into();
        c.sms.webhook_url = sms_url.clone();
        c.smtp.url = smtp.clone();
    })
    .await;
    let b = browser();
    assert_eq!(
        sign_up(&server, &b, "ray@example.com", PASSWORD)
            .await
            .status(),
        303
    );

    let page = b
        .get(server.url("/identities/add?type=phone"))
        .send()
        .await
        .expect("form")
        .text()
        .await
        .expect("html");
    let token = hidden_field(&page, "csrf_token");
    // A malformed number is refused next to the field.
    let resp = post_form(
        &b,
        server.url("/identities/add"),
        &[
            ("csrf_token", token.as_str()),
            ("kind", "phone"),
            ("value", "0612"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let resp = post_form(
        &b,
        server.url("/identities/add"),
        &[
            ("csrf_token", token.as_str()),
            ("kind", "phone"),
            ("value", "+33 6 12 34 56 78"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("html");
    assert!(html.contains("+33612345678"), "normalised to E.164");
    let body: serde_json::Value =
        serde_json::from_str(sms.lock().expect("sms").last().expect("an SMS was sent"))
            .expect("json");
    assert_eq!(body["to"], "+33612345678");
    let text = body["body"].as_str().expect("body");
    let code: String = text
        .split_whitespace()
        .find(|w| {
            w.trim_end_matches('.').len() == 6
                && w.trim_end_matches('.').chars().all(|c| c.is_ascii_digit())
        })
        .expect("code")
        .trim_end_matches('.')
        .to_owned();
    // Not added before the code.
    let user = store::accounts::find_login_candidate(
        server.db(),
        store::accounts::IdentityKind::Email,
        "ray@example.com",
    )
    .await
    .expect("q")
    .expect("user");
    assert_eq!(
        store::accounts::list_identities(server.db(), user.user_id)
            .await
            .expect("ids")
            .len(),
        1
    );
    let resp = post_form(
        &b,
        server.url("/identities/confirm"),
        &[
            ("csrf_token", token.as_str()),
            ("kind", "phone"),
            ("value", "+33612345678"),
            ("code", code.as_str()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303, "{:?}", resp.text().await);
    let ids = store::accounts::list_identities(server.db(), user.user_id)
        .await
        .expect("ids");
    assert_eq!(ids.len(), 2);
    assert!(
        ids.iter()
            .any(|i| i.value == "+33612345678" && i.verified_at.is_some())
    );

    // An email address the same way, over SMTP.
    let resp = post_form(
        &b,
        server.url("/identities/add"),
        &[
            ("csrf_token", token.as_str()),
            ("kind", "email"),
            ("value", "Ray@Work.example"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let code = inbox.last_code();
    let resp = post_form(
        &b,
        server.url("/identities/confirm"),
        &[
            ("csrf_token", token.as_str()),
            ("kind", "email"),
            ("value", "ray@work.example"),
            ("code", code.as_str()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    // Another account's login ID cannot be added.
    let other = browser();
    assert_eq!(
        sign_up(&server, &other, "sue@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let resp = post_form(
        &b,
        server.url("/identities/add"),
        &[
            ("csrf_token", token.as_str()),
            ("kind", "email"),
            ("value", "sue@example.com"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 409);

    // UserInfo: the phone number, verified.
    let client = oidc::clients::register_client(
        server.db(),
        server.clock.as_ref(),
        oidc::clients::ClientRegistration {
            name: "App".into(),
            redirect_uris: vec![REDIRECT.into()],
            ..Default::default()
        },
        Actor::Cli,
    )
    .await
    .expect("client");
    let info = flows::tokens_for(
        &server,
        &b,
        &client.client.client_id,
        client.client_secret.as_deref(),
        "openid",
    )
    .await;
    let info = flows::userinfo(&server, info["access_token"].as_str().expect("at")).await;
    assert_eq!(info["phone_number"], "+33612345678");
    assert_eq!(info["phone_number_verified"], true);

    // Removing: one of several is fine; the last one never.
    let ids = store::accounts::list_identities(server.db(), user.user_id)
        .await
        .expect("ids");
    for id in ids.iter().skip(1) {
        let resp = post_form(
            &b,
            server.url(&format!("/identities/{}/remove", id.id)),
            &[("csrf_token", token.as_str())],
        )
        .await;
        assert_eq!(
            location(&resp),
            "/settings?saved=identity_removed#login-ids"
        );
    }
    let last = &ids[0];
    let resp = post_form(
        &b,
        server.url(&format!("/identities/{}/remove", last.id)),
        &[("csrf_token", token.as_str())],
    )
    .await;
    assert_eq!(location(&resp), "/settings?error=last_identity#login-ids");
    let page = b
        .get(server.url("/settings?error=last_identity#login-ids"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("html");
    assert!(page.contains("You cannot remove your last login ID"));
    assert_eq!(
        store::accounts::list_identities(server.db(), user.user_id)
            .await
            .expect("ids")
            .len(),
        1
    );
    // Without a CSRF token, or someone else's identity: refused.
    let resp = b
        .post(server.url(&format!("/identities/{}/remove", last.id)))
        .form(&[("x", "y")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 403);
    let sue = store::accounts::find_login_candidate(
        server.db(),
        store::accounts::IdentityKind::Email,
        "sue@example.com",
    )
    .await
    .expect("q")
    .expect("sue");
    let sue_ids = store::accounts::list_identities(server.db(), sue.user_id)
        .await
        .expect("ids");
    let resp = post_form(
        &b,
        server.url(&format!("/identities/{}/remove", sue_ids[0].id)),
        &[("csrf_token", token.as_str())],
    )
    .await;
    assert_eq!(
        location(&resp),
        "/settings?error=identity_not_found#login-ids"
    );
}

#[tokio::test]
async fn repeated_wrong_codes_lock_code_entry_and_say_so() {
    let (smtp, _inbox) = smtp_server();
    let server = TestServer::start_with(|c| {
        c.verification.email.required = true;
        c.smtp.url = smtp.clone();
        c.brute_force.max_failures = 3;
    })
    .await;
    let b = browser();
    assert_eq!(
        sign_up(&server, &b, "ugo@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let page = b
        .get(server.url("/verify-email"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let token = hidden_field(&page, "csrf_token");
    for _ in 0..3 {
        let resp = post_form(
            &b,
            server.url("/verify-email"),
            &[("csrf_token", token.as_str()), ("code", "999999")],
        )
        .await;
        assert_eq!(resp.status(), 422);
    }
    let resp = post_form(
        &b,
        server.url("/verify-email"),
        &[("csrf_token", token.as_str()), ("code", "999999")],
    )
    .await;
    assert_eq!(resp.status(), 429);
    assert!(
        resp.text()
            .await
            .expect("html")
            .contains("Too many wrong codes. Try again in")
    );
    let kinds: Vec<String> = store::audit::latest(server.db(), 20)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == "code.locked"), "{kinds:?}");
}
