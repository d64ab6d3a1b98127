//! The settings page over HTTP: profile edits with field errors, read-only and hidden attributes
//! refused, CSRF, password change, sessions.

mod common;

use common::*;
use serde_json::json;
use store::audit::Actor;

const PASSWORD: &str = "correct horse battery";

async fn setup() -> (TestServer, reqwest::Client, store::Uuid) {
    let server = TestServer::start().await;
    server
        .profiles()
        .replace_schema(
            server.db(),
            server.clock.as_ref(),
            &json!({
                "standard": { "middle_name": { "end_user": "readonly", "bearer": "readonly" },
                              "address": { "end_user": "readwrite", "bearer": "readonly" } },
                "custom": [
                    { "name": "job_title", "type": "string", "maximum": 20, "end_user": "readwrite", "bearer": "readonly" },
                    { "name": "newsletter", "type": "boolean", "end_user": "readwrite", "bearer": "readonly" },
                    { "name": "shirt", "type": "enum", "enum": ["s", "m", "l"], "end_user": "readwrite", "bearer": "readonly" },
                    { "name": "team", "type": "string", "end_user": "readonly", "bearer": "readonly" },
                    { "name": "salary", "type": "integer" }
                ]
            }),
            Actor::Cli,
        )
        .await
        .expect("schema");
    let b = browser();
    assert_eq!(
        sign_up(&server, &b, "tom@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let user = store::accounts::find_login_candidate(
        server.db(),
        store::accounts::IdentityKind::Email,
        "tom@example.com",
    )
    .await
    .expect("q")
    .expect("user")
    .user_id;
    server
        .profiles()
        .change(
            server.db(),
            server.clock.as_ref(),
            user,
            profile::Audience::Party(profile::Party::Admin),
            profile::Change::Patch(&json!({ "middle_name": "Q", "custom_attributes": { "team": "red", "salary": 10 } })),
            profile::Author::new(Actor::Cli),
        )
        .await
        .expect("admin values");
    (server, b, user)
}

async fn settings_page(server: &TestServer, b: &reqwest::Client) -> String {
    let resp = b
        .get(server.url("/settings"))
        .send()
        .await
        .expect("settings");
    assert_eq!(resp.status(), 200);
    resp.text().await.expect("html")
}

async fn admin_view(server: &TestServer, user: store::Uuid) -> serde_json::Value {
    serde_json::Value::Object(
        server
            .profiles()
            .view(
                server.db(),
                user,
                profile::Audience::Party(profile::Party::Admin),
            )
            .await
            .expect("view")
            .expect("profile"),
    )
}

#[tokio::test]
async fn the_profile_form_shows_what_the_end_user_may_see_and_saves_what_they_may_write() {
    let (server, b, user) = setup().await;
    let html = settings_page(&server, &b).await;
    // Labels from the definition or the title-cased name; inputs that fit the type.
    assert!(
        html.contains("<label for=\"custom_attributes-job_title\">Job Title</label>"),
        "{html}"
    );
    assert!(html.contains("type=\"checkbox\" id=\"custom_attributes-newsletter\""));
    assert!(html.contains("<select id=\"custom_attributes-shirt\""));
    assert!(html.contains("<select id=\"zoneinfo\"") && html.contains("Europe/Paris"));
    assert!(html.contains("name=\"address.locality\""));
    assert!(html.contains("type=\"date\"") && html.contains("name=\"birthdate\""));
    // Read-only: shown, not an input. Hidden: nowhere in the HTML.
    assert!(html.contains("id=\"middle_name\">Q"));
    assert!(!html.contains("name=\"middle_name\""));
    assert!(html.contains("id=\"custom_attributes-team\">red"));
    assert!(!html.contains("salary") && !html.contains("Salary"));

    let token = hidden_field(&html, "csrf_token");
    let resp = b
        .post(server.url("/settings/profile"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("given_name", "Tom"),
            ("family_name", "Thumb"),
            ("birthdate", "1990-04-01"),
            ("zoneinfo", "Europe/Paris"),
            ("locale", "fr"),
            ("address.locality", "Lyon"),
            ("custom_attributes.job_title", "Engineer"),
            ("custom_attributes.newsletter", "on"),
            ("custom_attributes.shirt", "m"),
        ])
        .send()
        .await
        .expect("save");
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/settings?saved=profile#profile");
    let view = admin_view(&server, user).await;
    assert_eq!(view["given_name"], "Tom");
    assert_eq!(view["address"], json!({ "locality": "Lyon" }));
    assert_eq!(view["custom_attributes"]["job_title"], "Engineer");
    assert_eq!(view["custom_attributes"]["newsletter"], true);
    assert_eq!(view["custom_attributes"]["salary"], 10, "untouched");
    let html = b
        .get(server.url("/settings?saved=profile"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Your profile was saved."));
    assert!(html.contains("value=\"Tom\""));

    // The changes show up in UserInfo for a relying app.
    let app = oidc::clients::register_client(
        server.db(),
        server.clock.as_ref(),
        oidc::clients::ClientRegistration {
            name: "App".into(),
            redirect_uris: vec![common::flows::REDIRECT.into()],
            ..Default::default()
        },
        Actor::Cli,
    )
    .await
    .expect("client");
    let tokens = common::flows::tokens_for(
        &server,
        &b,
        &app.client.client_id,
        app.client_secret.as_deref(),
        "openid",
    )
    .await;
    let info = common::flows::userinfo(&server, tokens["access_token"].as_str().expect("at")).await;
    assert_eq!(info["given_name"], "Tom");
    assert_eq!(info["zoneinfo"], "Europe/Paris");
    assert_eq!(info["custom_attributes"]["job_title"], "Engineer");
    assert_eq!(info["custom_attributes"]["newsletter"], true);
}

#[tokio::test]
async fn bad_values_come_back_next_to_their_field_with_what_was_typed() {
    let (server, b, user) = setup().await;
    let token = hidden_field(&settings_page(&server, &b).await, "csrf_token");
    let resp = b
        .post(server.url("/settings/profile"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("given_name", "Tommy"),
            ("birthdate", "1990-02-31"),
            (
                "custom_attributes.job_title",
                "A very long job title indeed",
            ),
        ])
        .send()
        .await
        .expect("save");
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.expect("html");
    assert!(html.contains("id=\"birthdate-error\""), "{html}");
    assert!(html.contains("id=\"custom_attributes-job_title-error\""));
    assert!(
        html.contains("value=\"1990-02-31\"") && html.contains("value=\"Tommy\""),
        "what was typed is kept"
    );
    assert!(
        admin_view(&server, user).await.get("given_name").is_none(),
        "nothing was saved"
    );
}

#[tokio::test]
async fn read_only_hidden_and_unprotected_posts_are_refused_and_change_nothing() {
    let (server, b, user) = setup().await;
    let before = admin_view(&server, user).await;
    let token = hidden_field(&settings_page(&server, &b).await, "csrf_token");
    for extra in [
        ("middle_name", "X"),
        ("custom_attributes.team", "blue"),
        ("custom_attributes.salary", "99999"),
    ] {
        let resp = b
            .post(server.url("/settings/profile"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("given_name", "Sneaky"),
                extra,
            ])
            .send()
            .await
            .expect("save");
        assert_eq!(resp.status(), 403, "{extra:?}");
        assert!(
            resp.text()
                .await
                .expect("html")
                .contains("You may not change")
        );
    }
    let resp = b
        .post(server.url("/settings/profile"))
        .form(&[("given_name", "No token")])
        .send()
        .await
        .expect("save");
    assert_eq!(resp.status(), 403);
    assert_eq!(admin_view(&server, user).await, before);
}

#[tokio::test]
async fn password_change_and_sessions() {
    let (server, b, _) = setup().await;
    let phone = browser();
    assert_eq!(
        log_in(&server, &phone, "tom@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let tablet = browser();
    assert_eq!(
        log_in(&server, &tablet, "tom@example.com", PASSWORD)
            .await
            .status(),
        303
    );

    let html = settings_page(&server, &b).await;
    assert!(html.contains("this browser"));
    assert_eq!(
        html.matches("/revoke\"").count(),
        2,
        "two other sessions can be signed out"
    );
    let token = hidden_field(&html, "csrf_token");
    // Revoke one other session: its next request is refused.
    let start = html.find("/settings/sessions/").expect("a session") + "/settings/sessions/".len();
    let id = &html[start..start + 36];
    let resp = b
        .post(server.url(&format!("/settings/sessions/{id}/revoke")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), 303);
    let alive = [
        signed_in_as(&server, &phone).await.is_some(),
        signed_in_as(&server, &tablet).await.is_some(),
    ];
    assert_eq!(
        alive.iter().filter(|a| **a).count(),
        1,
        "exactly one was signed out"
    );

    // Changing the password needs the current one, and ends the other sessions.
    let resp = b
        .post(server.url("/settings/password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", "wrong"),
            ("new_password", "a new password 1"),
        ])
        .send()
        .await
        .expect("pw");
    assert_eq!(resp.status(), 422);
    assert!(
        resp.text()
            .await
            .expect("html")
            .contains("This is not your current password.")
    );
    let resp = b
        .post(server.url("/settings/password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", PASSWORD),
            ("new_password", "short"),
        ])
        .send()
        .await
        .expect("pw");
    assert_eq!(resp.status(), 422);
    let resp = b
        .post(server.url("/settings/password"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current_password", PASSWORD),
            ("new_password", "a new password 1"),
        ])
        .send()
        .await
        .expect("pw");
    assert_eq!(resp.status(), 303);
    assert!(
        signed_in_as(&server, &b).await.is_some(),
        "this browser stays signed in"
    );
    assert_eq!(signed_in_as(&server, &phone).await, None);
    assert_eq!(signed_in_as(&server, &tablet).await, None);
    assert_eq!(
        log_in(&server, &browser(), "tom@example.com", "a new password 1")
            .await
            .status(),
        303
    );

    // Sign out everywhere else.
    let html = settings_page(&server, &b).await;
    let token = hidden_field(&html, "csrf_token");
    let resp = b
        .post(server.url("/settings/sessions/revoke-others"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("others");
    assert_eq!(resp.status(), 303);
    let html = settings_page(&server, &b).await;
    assert_eq!(html.matches("/revoke\"").count(), 0);
}

#[tokio::test]
async fn the_generated_avatar_is_shown_not_stored_and_can_be_regenerated() {
    let (server, b, user) = setup().await;
    let html = settings_page(&server, &b).await;
    let before = admin_view(&server, user).await["picture"]
        .as_str()
        .expect("picture")
        .to_owned();
    assert!(
        html.contains(&format!("src=\"{before}\"")),
        "the avatar is shown"
    );
    assert!(
        !html.contains(&format!("value=\"{before}\"")),
        "but not as a value to save"
    );
    // Saving the form keeps the picture a generated default.
    let token = hidden_field(&html, "csrf_token");
    let resp = b
        .post(server.url("/settings/profile"))
        .form(&[("csrf_token", token.as_str()), ("given_name", "Tom")])
        .send()
        .await
        .expect("save");
    assert_eq!(resp.status(), 303);
    let stored = store::accounts::find_profile(server.db(), user)
        .await
        .expect("q")
        .expect("p");
    assert!(stored.standard_attributes.get("picture").is_none());
    let resp = b
        .post(server.url("/settings/avatar/regenerate"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("regenerate");
    assert_eq!(resp.status(), 303);
    let after = admin_view(&server, user).await["picture"]
        .as_str()
        .expect("picture")
        .to_owned();
    assert_ne!(before, after);
    let html = settings_page(&server, &b).await;
    assert!(html.contains("You have a new avatar.") || html.contains(&after));
}

#[tokio::test]
async fn connected_apps_are_listed_and_revoking_one_ends_its_access() {
    let (server, b, _) = setup().await;
    let app = oidc::clients::register_client(
        server.db(),
        server.clock.as_ref(),
        oidc::clients::ClientRegistration {
            name: "Photo Printer".into(),
            redirect_uris: vec![common::flows::REDIRECT.into()],
            third_party: true,
            ..Default::default()
        },
        Actor::Cli,
    )
    .await
    .expect("client");
    let path = common::flows::authorize_path(&app.client.client_id, "openid email", &[]);
    let consent = b
        .get(server.url(&path))
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("html");
    let resp = b
        .post(server.url("/oauth2/consent"))
        .form(&[
            ("csrf_token", hidden_field(&consent, "csrf_token").as_str()),
            ("request", hidden_field(&consent, "request").as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .expect("allow");
    let code = common::flows::code_from(&resp);
    let tokens = common::flows::exchange(
        &server,
        &app.client.client_id,
        app.client_secret.as_deref(),
        &code,
    )
    .await;
    let at = tokens["access_token"].as_str().expect("at").to_owned();
    common::flows::userinfo(&server, &at).await;

    let html = settings_page(&server, &b).await;
    assert!(
        html.contains("Photo Printer") && html.contains("openid, email"),
        "{html}"
    );
    let token = hidden_field(&html, "csrf_token");
    let resp = b
        .post(server.url(&format!("/settings/apps/{}/revoke", app.client.client_id)))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(location(&resp), "/settings?saved=app#apps");
    let html = settings_page(&server, &b).await;
    assert!(!html.contains("Photo Printer"));
    let resp = reqwest::Client::new()
        .get(server.url("/oauth2/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), 401, "the app's tokens stopped working");
    let again = b.get(server.url(&path)).send().await.expect("authorize");
    assert_eq!(again.status(), 200, "the consent page comes back");
    // A forged revoke does nothing.
    let resp = b
        .post(server.url(&format!("/settings/apps/{}/revoke", app.client.client_id)))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .expect("forged");
    assert_eq!(resp.status(), 403);
}
