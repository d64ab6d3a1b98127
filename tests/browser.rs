//! Real pages in headless Chromium, driven through WebDriver (chromedriver).

mod common;

use common::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use thirtyfour::prelude::*;

/// A chromedriver process on a free port, killed on drop.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_chromedriver() -> ChromeDriver {
    let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {binary} (the test command installs chromium-driver): {e}")
        });
    let url = format!("http://127.0.0.1:{port}");
    let driver = ChromeDriver { child, url };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on port {port}");
}

async fn start_browser(driver: &ChromeDriver, profile: &std::path::Path) -> WebDriver {
    let mut caps = DesiredCapabilities::chrome();
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    caps.set_binary(&binary).expect("binary");
    for arg in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--window-size=1000,800",
    ] {
        caps.add_arg(arg).expect("arg");
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.display()))
        .expect("profile");
    WebDriver::new(driver.url.as_str(), caps)
        .await
        .expect("start chromium")
}

/// The element, waiting (polling) for it to appear after a navigation.
async fn wait_for(browser: &WebDriver, by: By) -> WebDriverResult<WebElement> {
    browser.query(by).first().await
}

/// Ends a browser test: a last screenshot, the screenshots copied to
/// `$TESSERA_KEEP_SCREENSHOTS` when it is set (to look at them), the browser closed.
async fn close_browser(browser: WebDriver, shots: &std::path::Path) {
    let _ = browser.screenshot(&shots.join("last.png")).await;
    if let Ok(keep) = std::env::var("TESSERA_KEEP_SCREENSHOTS") {
        let _ = std::fs::create_dir_all(&keep);
        for entry in std::fs::read_dir(shots).into_iter().flatten().flatten() {
            let _ = std::fs::copy(
                entry.path(),
                std::path::Path::new(&keep).join(entry.file_name()),
            );
        }
    }
    let _ = browser.quit().await;
}

/// Waits (up to 10 s) until the browser's URL contains `part`: the next page has loaded.
async fn wait_url(browser: &WebDriver, part: &str) -> WebDriverResult<()> {
    for _ in 0..100 {
        if browser.current_url().await?.as_str().contains(part) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the browser never reached a URL containing {part}");
}

async fn fill(browser: &WebDriver, id: &str, text: &str) {
    let input = wait_for(browser, By::Id(id)).await.expect(id);
    input.clear().await.expect("clear");
    input.send_keys(text).await.expect("type");
}

#[tokio::test]
async fn sign_up_and_sign_in_in_a_real_browser() {
    let server = TestServer::start().await;
    let driver = start_chromedriver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let browser = start_browser(&driver, &dir.path().join("profile")).await;
    let shots = dir.path().join("screenshots");
    std::fs::create_dir_all(&shots).expect("dir");

    let result = async {
        // Sign up through the page.
        browser.goto(server.url("/signup")).await?;
        assert_eq!(browser.title().await?, "Create an account · Tessera");
        browser.screenshot(&shots.join("signup.png")).await?;
        fill(&browser, "email", "Lena@Example.com").await;
        fill(&browser, "password", "short").await;
        wait_for(&browser, By::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        let error = wait_for(&browser, By::Id("password-error"))
            .await?
            .text()
            .await?;
        assert!(error.contains("at least 8"), "{error}");
        // What the user typed is still there.
        let kept = wait_for(&browser, By::Id("email"))
            .await?
            .prop("value")
            .await?;
        assert_eq!(kept.as_deref(), Some("Lena@Example.com"));
        browser.screenshot(&shots.join("signup-error.png")).await?;
        fill(&browser, "password", "a long enough password").await;
        wait_for(&browser, By::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        let who = wait_for(&browser, By::Id("signed-in-as"))
            .await?
            .text()
            .await?;
        assert_eq!(who, "lena@example.com");
        browser.screenshot(&shots.join("settings.png")).await?;

        // Sign out, then sign in through the login page.
        wait_for(&browser, By::Css("form[action='/logout'] button"))
            .await?
            .click()
            .await?;
        let notice = wait_for(&browser, By::Css(".notice")).await?.text().await?;
        assert_eq!(notice, "You have signed out.");
        fill(&browser, "login_id", "lena@example.com").await;
        fill(&browser, "password", "a wrong password").await;
        wait_for(&browser, By::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        let error = wait_for(&browser, By::Css(".error-summary"))
            .await?
            .text()
            .await?;
        assert_eq!(error, "The login ID or password is incorrect.");
        browser.screenshot(&shots.join("login-error.png")).await?;
        fill(&browser, "password", "a long enough password").await;
        wait_for(&browser, By::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        let who = wait_for(&browser, By::Id("signed-in-as"))
            .await?
            .text()
            .await?;
        assert_eq!(who, "lena@example.com");

        // The session cookie is not readable by scripts.
        let visible: serde_json::Value = browser
            .execute("return document.cookie;", vec![])
            .await?
            .json()
            .clone();
        assert!(
            !visible.to_string().contains("tessera_session"),
            "{visible}"
        );
        Ok::<(), WebDriverError>(())
    }
    .await;
    close_browser(browser, &shots).await;
    result.expect("browser flow");
    for name in [
        "signup.png",
        "signup-error.png",
        "settings.png",
        "login-error.png",
    ] {
        let len = std::fs::metadata(shots.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 1000, "screenshot {name} was saved");
    }
}

#[tokio::test]
async fn the_settings_page_in_a_real_browser() {
    let server = TestServer::start().await;
    server
        .profiles()
        .replace_schema(
            server.db(),
            server.clock.as_ref(),
            &serde_json::json!({
                "standard": { "middle_name": { "end_user": "readonly", "bearer": "readonly" } },
                "custom": [
                    { "name": "job_title", "type": "string", "maximum": 20, "end_user": "readwrite", "bearer": "readonly" },
                    { "name": "team", "type": "string", "end_user": "readonly", "bearer": "readonly" }
                ]
            }),
            store::audit::Actor::Cli,
        )
        .await
        .expect("schema");
    // Another session of the same user, to revoke from the page.
    let other = browser();
    assert_eq!(
        sign_up(&server, &other, "vic@example.com", "a long enough password")
            .await
            .status(),
        303
    );

    let driver = start_chromedriver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let browser = start_browser(&driver, &dir.path().join("profile")).await;
    let shots = dir.path().join("screenshots");
    std::fs::create_dir_all(&shots).expect("dir");
    let result = async {
        browser.goto(server.url("/login")).await?;
        fill(&browser, "login_id", "vic@example.com").await;
        fill(&browser, "password", "a long enough password").await;
        wait_for(&browser, By::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        wait_for(&browser, By::Id("signed-in-as")).await?;
        assert_eq!(browser.title().await?, "Settings · Tessera");

        // A bad value comes back next to its field, with what was typed.
        fill(&browser, "given_name", "Victoria").await;
        fill(
            &browser,
            "custom_attributes-job_title",
            "A job title that is far too long",
        )
        .await;
        wait_for(
            &browser,
            By::Css("form[action='/settings/profile'] button[type=submit]"),
        )
        .await?
        .click()
        .await?;
        wait_url(&browser, "/settings/profile").await?;
        let error = wait_for(&browser, By::Id("custom_attributes-job_title-error"))
            .await?
            .text()
            .await?;
        assert!(error.contains("at most 20"), "{error}");
        let kept = wait_for(&browser, By::Id("given_name"))
            .await?
            .prop("value")
            .await?;
        assert_eq!(kept.as_deref(), Some("Victoria"));
        browser
            .screenshot(&shots.join("settings-error.png"))
            .await?;

        // Fixed, it saves.
        fill(&browser, "custom_attributes-job_title", "Engineer").await;
        wait_for(
            &browser,
            By::Css("form[action='/settings/profile'] button[type=submit]"),
        )
        .await?
        .click()
        .await?;
        wait_url(&browser, "saved=profile").await?;
        let notice = wait_for(&browser, By::Css(".notice")).await?.text().await?;
        assert_eq!(notice, "Your profile was saved.");
        // Read-only attributes are text, not inputs.
        let team = wait_for(&browser, By::Id("custom_attributes-team")).await?;
        assert_eq!(team.tag_name().await?, "p");

        // Sign out the other session from the page.
        wait_for(&browser, By::Css("form[action$='/revoke'] button"))
            .await?
            .click()
            .await?;
        wait_url(&browser, "saved=sessions").await?;
        let notice = wait_for(&browser, By::Css(".notice")).await?.text().await?;
        assert_eq!(notice, "The session was signed out.");

        // Change the password.
        fill(&browser, "current_password", "a long enough password").await;
        fill(&browser, "new_password", "an even longer password").await;
        wait_for(
            &browser,
            By::Css("form[action='/settings/password'] button"),
        )
        .await?
        .click()
        .await?;
        wait_url(&browser, "saved=password").await?;
        let notice = wait_for(&browser, By::Css(".notice")).await?.text().await?;
        assert!(notice.starts_with("Your password was changed."), "{notice}");
        browser
            .screenshot(&shots.join("settings-saved.png"))
            .await?;

        // Upload a picture from the file input; the page shows the cropped image.
        let photo = dir.path().join("photo.png");
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(300, 200, |x, _| {
            image::Rgb(if x < 150 { [200, 40, 40] } else { [40, 40, 200] })
        }))
        .save(&photo)
        .expect("photo");
        wait_for(&browser, By::Id("avatar"))
            .await?
            .send_keys(photo.display().to_string())
            .await?;
        wait_for(&browser, By::Css("form[action='/settings/avatar'] button"))
            .await?
            .click()
            .await?;
        wait_url(&browser, "saved=avatar").await?;
        let img = wait_for(&browser, By::Css("img.avatar")).await?;
        let src = img.attr("src").await?.unwrap_or_default();
        assert!(src.starts_with(&server.url("/images/")), "{src}");
        let mut natural = serde_json::Value::Null;
        for _ in 0..50 {
            natural = browser
                .execute(
                    "const i = document.querySelector('img.avatar'); return i.complete ? i.naturalWidth : -1;",
                    vec![],
                )
                .await?
                .json()
                .clone();
            if natural != serde_json::json!(-1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(natural, serde_json::json!(200), "the uploaded avatar loads");
        browser
            .screenshot(&shots.join("settings-avatar.png"))
            .await?;

        // At 360 px wide the page fits: nothing scrolls sideways.
        browser.set_window_rect(0, 0, 360, 800).await?;
        browser.goto(server.url("/settings")).await?;
        wait_for(&browser, By::Id("signed-in-as")).await?;
        let fits = browser
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await?
            .json()
            .clone();
        browser.screenshot(&shots.join("settings-360.png")).await?;
        assert_eq!(
            fits,
            serde_json::json!(true),
            "the page scrolls sideways at 360 px"
        );
        Ok::<(), WebDriverError>(())
    }
    .await;
    close_browser(browser, &shots).await;
    result.expect("settings in the browser");
    assert_eq!(
        signed_in_as(&server, &other).await,
        None,
        "the revoked session's next request is refused"
    );
    assert_eq!(
        log_in(
            &server,
            &browser_client(),
            "vic@example.com",
            "an even longer password"
        )
        .await
        .status(),
        303
    );
}

fn browser_client() -> reqwest::Client {
    common::browser()
}

/// Two-step verification in a real browser on a 360 px wide screen: adding an authenticator app
/// from the settings page (QR code shown), then signing in with its code at `/login/mfa`.
#[tokio::test]
async fn two_step_verification_in_a_real_browser_at_360_px() {
    let server = TestServer::start().await;
    let driver = start_chromedriver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let browser = start_browser(&driver, &dir.path().join("profile")).await;
    let shots = dir.path().join("screenshots");
    std::fs::create_dir_all(&shots).expect("dir");
    let code_now = |secret: &str| {
        auth::mfa::totp_code(secret, server.clock_now().timestamp() as u64).expect("code")
    };
    let fits = |b: &WebDriver| {
        let b = b.clone();
        async move {
            let width: serde_json::Value = b
                .execute("return document.documentElement.scrollWidth;", vec![])
                .await?
                .json()
                .clone();
            Ok::<bool, WebDriverError>(width.as_i64().is_some_and(|w| w <= 360))
        }
    };

    let result = async {
        browser.set_window_rect(0, 0, 360, 800).await?;
        browser.goto(server.url("/signup")).await?;
        fill(&browser, "email", "tom@example.com").await;
        fill(&browser, "password", "a long enough password").await;
        wait_for(&browser, By::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        wait_for(&browser, By::Id("signed-in-as")).await?;
        wait_for(
            &browser,
            By::Css("form[action='/settings/mfa/totp'] button"),
        )
        .await?
        .click()
        .await?;
        let secret = wait_for(&browser, By::Id("totp-secret"))
            .await?
            .text()
            .await?;
        assert!(
            browser.find(By::Css("figure.qr svg")).await.is_ok(),
            "a QR code"
        );
        assert!(fits(&browser).await?, "the enrolment page fits 360 px");
        browser.screenshot(&shots.join("mfa-enrol.png")).await?;
        fill(&browser, "code", &code_now(&secret)).await;
        wait_for(&browser, By::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        let notice = wait_for(&browser, By::Css(".notice")).await?.text().await?;
        assert_eq!(notice, "Two-step verification is on.");
        browser.screenshot(&shots.join("mfa-settings.png")).await?;

        wait_for(&browser, By::Css("form[action='/logout'] button"))
            .await?
            .click()
            .await?;
        fill(&browser, "login_id", "tom@example.com").await;
        fill(&browser, "password", "a long enough password").await;
        wait_for(&browser, By::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        wait_url(&browser, "/login/mfa").await?;
        assert!(fits(&browser).await?, "the code page fits 360 px");
        browser.screenshot(&shots.join("mfa-login.png")).await?;
        server.clock.advance(chrono::Duration::seconds(30));
        fill(&browser, "code", &code_now(&secret)).await;
        wait_for(&browser, By::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        let who = wait_for(&browser, By::Id("signed-in-as"))
            .await?
            .text()
            .await?;
        assert_eq!(who, "tom@example.com");
        Ok::<(), WebDriverError>(())
    }
    .await;
    close_browser(browser, &shots).await;
    result.expect("browser flow");
}

/// A virtual authenticator of chromedriver (WebDriver's WebAuthn extension).
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl thirtyfour::common::command::FormatRequestData for AddVirtualAuthenticator {
    fn format_request(&self, session: &thirtyfour::SessionId) -> thirtyfour::RequestData {
        thirtyfour::RequestData::new(
            http::Method::POST,
            format!("session/{session}/webauthn/authenticator"),
        )
        .add_body(serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
        }))
    }
}

/// Passkeys in a real browser, with chromedriver's virtual authenticator: added from the settings
/// page, then used password-less from the login page and as the second step after a password.
/// WebAuthn refuses IP addresses, so this server's issuer is `http://localhost:PORT`.
#[tokio::test]
async fn passkeys_in_a_real_browser() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = TestServer::start_on(listener, |c| {
        c.server.issuer = format!("http://localhost:{port}");
    })
    .await;
    let site = |path: &str| format!("http://localhost:{port}{path}");
    let driver = start_chromedriver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let browser = start_browser(&driver, &dir.path().join("profile")).await;
    let shots = dir.path().join("screenshots");
    std::fs::create_dir_all(&shots).expect("dir");

    let result = async {
        browser.goto(site("/signup")).await?;
        browser.handle().cmd(AddVirtualAuthenticator).await?;
        fill(&browser, "email", "pia@example.com").await;
        fill(&browser, "password", "a long enough password").await;
        wait_for(&browser, By::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        wait_for(&browser, By::Id("signed-in-as")).await?;
        fill(&browser, "passkey-name", "Test laptop").await;
        wait_for(&browser, By::Css("#passkey-add button"))
            .await?
            .click()
            .await?;
        let notice = wait_for(&browser, By::Css(".notice")).await?.text().await?;
        assert_eq!(notice, "The passkey was added.");
        browser.screenshot(&shots.join("passkey-added.png")).await?;

        // Password-less.
        wait_for(&browser, By::Css("form[action='/logout'] button"))
            .await?
            .click()
            .await?;
        wait_for(&browser, By::Css("#passkey-login button"))
            .await?
            .click()
            .await?;
        let who = wait_for(&browser, By::Id("signed-in-as"))
            .await?
            .text()
            .await?;
        assert_eq!(who, "pia@example.com");

        // As the second step after the password.
        wait_for(&browser, By::Css("form[action='/logout'] button"))
            .await?
            .click()
            .await?;
        fill(&browser, "login_id", "pia@example.com").await;
        fill(&browser, "password", "a long enough password").await;
        wait_for(
            &browser,
            By::Css("form[action='/login'] button[type=submit]"),
        )
        .await?
        .click()
        .await?;
        wait_url(&browser, "/login/mfa").await?;
        browser
            .screenshot(&shots.join("passkey-second-step.png"))
            .await?;
        wait_for(&browser, By::Css("#passkey-second-step button"))
            .await?
            .click()
            .await?;
        let who = wait_for(&browser, By::Id("signed-in-as"))
            .await?
            .text()
            .await?;
        assert_eq!(who, "pia@example.com");

        // The sessions say how they were made.
        let pia = store::accounts::find_login_candidate(
            server.db(),
            store::accounts::IdentityKind::Email,
            "pia@example.com",
        )
        .await
        .expect("lookup")
        .expect("pia")
        .user_id;
        let amrs: Vec<String> = store::sessions::list_for_user(server.db(), pia)
            .await
            .expect("sessions")
            .into_iter()
            .map(|s| s.amr)
            .collect();
        assert!(amrs.iter().any(|a| a == "pwd hwk user mfa"), "{amrs:?}");

        // A disabled account's passkey signs nobody in.
        wait_for(&browser, By::Css("form[action='/logout'] button"))
            .await?
            .click()
            .await?;
        auth::users::set_disabled(
            server.db(),
            server.clock.as_ref(),
            pia,
            true,
            store::audit::Actor::Cli,
        )
        .await
        .expect("disable");
        wait_for(&browser, By::Css("#passkey-login button"))
            .await?
            .click()
            .await?;
        let mut status = String::new();
        for _ in 0..50 {
            status = wait_for(&browser, By::Css("#passkey-login .passkey-status"))
                .await?
                .text()
                .await?;
            if !status.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, "This account is disabled.");
        auth::users::set_disabled(
            server.db(),
            server.clock.as_ref(),
            pia,
            false,
            store::audit::Actor::Cli,
        )
        .await
        .expect("enable");
        Ok::<(), WebDriverError>(())
    }
    .await;
    close_browser(browser, &shots).await;
    result.expect("browser flow");

    let user = store::accounts::find_login_candidate(
        server.db(),
        store::accounts::IdentityKind::Email,
        "pia@example.com",
    )
    .await
    .expect("lookup")
    .expect("pia")
    .user_id;
    let factors = auth::mfa::list(server.db(), user).await.expect("factors");
    assert_eq!(factors.len(), 1);
    assert_eq!(factors[0].kind, "passkey");
    assert_eq!(factors[0].name, "Test laptop");
    assert!(
        factors[0].last_used_at.is_some(),
        "the counter was recorded"
    );
}

#[tokio::test]
async fn a_rich_text_description_on_the_settings_page_in_a_real_browser() {
    let server = TestServer::start().await;
    server
        .profiles()
        .replace_schema(
            server.db(),
            server.clock.as_ref(),
            &serde_json::json!({
                "custom": [
                    { "name": "description", "type": "text", "label": "About you",
                      "end_user": "readwrite", "bearer": "readonly" }
                ]
            }),
            store::audit::Actor::Cli,
        )
        .await
        .expect("schema");
    let alice = store::Uuid::now_v7();
    store::accounts::create_account(
        server.db(),
        store::accounts::NewAccount {
            user_id: alice,
            identities: vec![store::accounts::NewIdentity {
                kind: store::accounts::IdentityKind::Username,
                value: "alice".into(),
                verified: false,
            }],
            password_hash: None,
            standard_attributes: serde_json::json!({}),
            custom_attributes: serde_json::json!({}),
            avatar_seed: "seed".into(),
            external_id: None,
            disabled: false,
        },
        server.clock_now(),
        store::audit::NewEvent::new("user.created", store::audit::Actor::Cli).user(alice),
    )
    .await
    .expect("alice");
    assert_eq!(
        sign_up(
            &server,
            &browser(),
            "dee@example.com",
            "a long enough password"
        )
        .await
        .status(),
        303
    );

    let driver = start_chromedriver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let browser = start_browser(&driver, &dir.path().join("profile")).await;
    let shots = dir.path().join("screenshots");
    std::fs::create_dir_all(&shots).expect("dir");
    let save = "form[action='/settings/profile'] button[type=submit]";
    let result = async {
        browser.goto(server.url("/login")).await?;
        fill(&browser, "login_id", "dee@example.com").await;
        fill(&browser, "password", "a long enough password").await;
        wait_for(&browser, By::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        wait_for(&browser, By::Id("signed-in-as")).await?;
        let area = wait_for(&browser, By::Id("custom_attributes-description")).await?;
        assert_eq!(area.tag_name().await?, "textarea");
        assert_eq!(
            area.attr("name").await?.as_deref(),
            Some("custom_attributes.description")
        );

        // Too long: the message is next to the field and what was typed stays.
        fill(&browser, "custom_attributes-description", &"x".repeat(300)).await;
        wait_for(&browser, By::Css(save)).await?.click().await?;
        wait_url(&browser, "/settings/profile").await?;
        let error = wait_for(&browser, By::Id("custom_attributes-description-error"))
            .await?
            .text()
            .await?;
        assert!(error.contains("256"), "{error}");
        let area = wait_for(&browser, By::Id("custom_attributes-description")).await?;
        assert_eq!(area.attr("aria-invalid").await?.as_deref(), Some("true"));

        // A mention, a hashtag, a link, a line break and some would-be markup.
        fill(
            &browser,
            "custom_attributes-description",
            "Builder of @alice's #rust tools <b>bold</b>\nsee https://example.com.",
        )
        .await;
        wait_for(&browser, By::Css(save)).await?.click().await?;
        wait_url(&browser, "saved=profile").await?;
        let shown = wait_for(&browser, By::Id("custom_attributes-description-html")).await?;
        let mention = shown.find(By::Css("[itemprop=mention]")).await?;
        assert_eq!(mention.text().await?, "@alice");
        assert_eq!(
            mention.attr("data-mention-id").await?,
            Some(alice.to_string())
        );
        let hashtag = shown.find(By::Css("[itemprop=hashtag]")).await?;
        assert_eq!(hashtag.text().await?, "#rust");
        let link = shown.find(By::Css("a")).await?;
        assert_eq!(link.text().await?, "https://example.com");
        assert_eq!(
            link.attr("href").await?.as_deref(),
            Some("https://example.com/")
        );
        assert_eq!(link.attr("rel").await?.as_deref(), Some("nofollow"));
        assert!(
            shown.find_all(By::Css("b")).await?.is_empty(),
            "typed markup stays text"
        );
        assert_eq!(shown.find_all(By::Css("br")).await?.len(), 1);
        let text = shown.text().await?;
        assert!(text.contains("<b>bold</b>"), "{text}");
        let area = wait_for(&browser, By::Id("custom_attributes-description")).await?;
        assert_eq!(
            area.prop("value").await?.as_deref(),
            Some("Builder of @alice's #rust tools <b>bold</b>\nsee https://example.com.")
        );
        area.scroll_into_view().await?;
        browser
            .screenshot(&shots.join("settings-rich-text.png"))
            .await?;

        // At 360 px the textarea and what apps show still fit.
        browser.set_window_rect(0, 0, 360, 800).await?;
        browser.goto(server.url("/settings")).await?;
        wait_for(&browser, By::Id("custom_attributes-description-html"))
            .await?
            .scroll_into_view()
            .await?;
        let fits = browser
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await?
            .json()
            .clone();
        browser
            .screenshot(&shots.join("settings-rich-text-360.png"))
            .await?;
        assert_eq!(fits, serde_json::json!(true), "scrolls sideways at 360 px");
        Ok::<(), WebDriverError>(())
    }
    .await;
    close_browser(browser, &shots).await;
    result.expect("rich text in the browser");
}
