//! Images: avatar, cover and image-attribute uploads (self-service API, settings page, Admin API),
//! serving, the public 302 URLs, and every refusal leaving the old image in place.

mod common;

use common::flows::{access_token, register};
use common::*;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::io::Cursor;
use store::audit::Actor;

const PASSWORD: &str = "correct horse battery";

/// A `width`×`height` picture: left half red, right half blue.
fn halves(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    }))
}

fn encoded(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format)
        .expect("encode");
    out
}

/// A JPEG carrying an EXIF segment with a GPS marker, as a phone camera writes.
fn jpeg_with_exif(img: &DynamicImage) -> Vec<u8> {
    let jpeg = encoded(img, ImageFormat::Jpeg);
    let payload = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude=48.8584N;TESSERA-SECRET-LOCATION";
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    app1.extend_from_slice(payload);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A signed-in user with a username, a first-party client and a `profile:write` token.
struct Person {
    browser: reqwest::Client,
    id: store::Uuid,
    token: String,
}

async fn person(server: &TestServer, username: &str) -> Person {
    let browser = browser();
    let email = format!("{username}@example.com");
    assert_eq!(
        sign_up(server, &browser, &email, PASSWORD).await.status(),
        303
    );
    let id = user_of(server, &email).await;
    store::accounts::add_identity(
        server.db(),
        id,
        store::accounts::NewIdentity {
            kind: store::accounts::IdentityKind::Username,
            value: username.to_owned(),
            verified: false,
        },
        None,
        server.clock_now(),
        store::audit::NewEvent::new("identity.added", Actor::Cli),
    )
    .await
    .expect("username");
    let client = register(server, false).await;
    let token = access_token(server, &browser, &client, "openid profile:write").await;
    Person { browser, id, token }
}

async fn upload(
    server: &TestServer,
    path: &str,
    token: &str,
    field: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let form = Form::new().part(field.to_owned(), Part::bytes(bytes).file_name("upload"));
    let resp = reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn fetch(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("get image")
}

async fn me(server: &TestServer, token: &str) -> Value {
    reqwest::Client::new()
        .get(server.url("/api/v1/me/profile"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json")
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn redirect(server: &TestServer, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = no_redirects().get(server.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("redirect");
    (resp.status().as_u16(), location(&resp))
}

#[tokio::test]
async fn avatars_in_every_format_are_cropped_resized_and_stripped() {
    let server = TestServer::start().await;
    let p = person(&server, "ada_images").await;
    let wide = halves(300, 100);
    let uploads = [
        ("png", encoded(&wide, ImageFormat::Png)),
        ("jpeg", jpeg_with_exif(&wide)),
        ("webp", encoded(&wide, ImageFormat::WebP)),
        (
            "gif",
            encoded(&DynamicImage::ImageRgba8(wide.to_rgba8()), ImageFormat::Gif),
        ),
    ];
    for (format, bytes) in uploads {
        let (status, body) = upload(&server, "/api/v1/me/avatar", &p.token, "avatar", bytes).await;
        assert_eq!(status, 200, "{format}: {body}");
        let url = body["url"].as_str().expect("url").to_owned();
        assert!(url.starts_with(&server.url("/images/")), "{url}");
        assert_eq!(me(&server, &p.token).await["picture"], url, "{format}");

        let resp = fetch(&url).await;
        assert_eq!(resp.status(), 200);
        let headers = resp.headers().clone();
        let content_type = headers["content-type"].to_str().unwrap().to_owned();
        assert!(
            content_type == "image/jpeg" || content_type == "image/png",
            "{content_type}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(
            headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age=31536000")
        );
        let etag = headers["etag"].to_str().unwrap().to_owned();
        assert!(
            etag.starts_with('"') && etag.len() == 66,
            "strong etag {etag}"
        );
        let bytes = resp.bytes().await.expect("bytes");
        assert!(!contains(&bytes, b"Exif"), "{format}: EXIF kept");
        assert!(
            !contains(&bytes, b"TESSERA-SECRET-LOCATION"),
            "{format}: GPS kept"
        );
        let small = image::load_from_memory(&bytes).expect("decodes").to_rgb8();
        assert_eq!(small.dimensions(), (200, 200), "{format}");
        // The centre square of 300×100 is half red, half blue.
        let (left, right) = (small.get_pixel(30, 100), small.get_pixel(170, 100));
        assert!(left[0] > 180 && left[2] < 80, "{format}: left {left:?}");
        assert!(right[2] > 180 && right[0] < 80, "{format}: right {right:?}");

        let large = fetch(&format!("{url}?size=512")).await;
        let large = image::load_from_memory(&large.bytes().await.unwrap()).expect("decodes");
        assert_eq!((large.width(), large.height()), (512, 512), "{format}");

        // A cached copy is revalidated without the bytes.
        let again = reqwest::Client::new()
            .get(&url)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
    }
    // UserInfo says the same.
    let info = common::flows::userinfo(&server, &p.token).await;
    assert!(
        info["picture"]
            .as_str()
            .unwrap()
            .starts_with(&server.url("/images/"))
    );
    assert_eq!(
        fetch(&server.url(&format!("/images/{}", "0".repeat(64))))
            .await
            .status(),
        404
    );
    assert_eq!(
        fetch(&server.url("/images/..%2f..%2fetc")).await.status(),
        404
    );
}

#[tokio::test]
async fn public_urls_redirect_by_id_username_and_me() {
    let server = TestServer::start().await;
    let p = person(&server, "grace_public").await;

    // Before any upload: the generated avatar, and no cover.
    let (status, generated) =
        redirect(&server, &format!("/api/v1/users/{}/avatar", p.id), None).await;
    assert_eq!(status, 302);
    assert!(
        generated.contains("/avatars/") && generated.ends_with(".svg"),
        "{generated}"
    );
    let (status, _) = redirect(&server, &format!("/api/v1/users/{}/cover", p.id), None).await;
    assert_eq!(status, 404);

    let (_, body) = upload(
        &server,
        "/api/v1/me/avatar",
        &p.token,
        "avatar",
        encoded(&halves(64, 64), ImageFormat::Png),
    )
    .await;
    let avatar = body["url"].as_str().unwrap().to_owned();
    let (status, body) = upload(
        &server,
        "/api/v1/me/cover",
        &p.token,
        "cover",
        encoded(&halves(1200, 400), ImageFormat::Png),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let cover = body["url"].as_str().unwrap().to_owned();
    let decoded = image::load_from_memory(&fetch(&cover).await.bytes().await.unwrap()).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (1200, 400));

    for selector in [
        p.id.to_string(),
        "@grace_public".into(),
        "@Grace_Public".into(),
    ] {
        let (status, to) =
            redirect(&server, &format!("/api/v1/users/{selector}/avatar"), None).await;
        assert_eq!((status, to.as_str()), (302, avatar.as_str()), "{selector}");
        let (status, to) =
            redirect(&server, &format!("/api/v1/users/{selector}/cover"), None).await;
        assert_eq!((status, to.as_str()), (302, cover.as_str()), "{selector}");
    }
    // Query parameters pass through.
    let (_, to) = redirect(
        &server,
        &format!("/api/v1/users/{}/avatar?size=512", p.id),
        None,
    )
    .await;
    assert_eq!(to, format!("{avatar}?size=512"));
    let big = fetch(&to).await.bytes().await.unwrap();
    assert_eq!(image::load_from_memory(&big).unwrap().width(), 512);

    // `me` needs a bearer token.
    let (status, to) = redirect(&server, "/api/v1/users/me/avatar", Some(&p.token)).await;
    assert_eq!((status, to.as_str()), (302, avatar.as_str()));
    let (status, _) = redirect(&server, "/api/v1/users/me/avatar", None).await;
    assert_eq!(status, 401);

    // Unknown users.
    for selector in [
        store::Uuid::new_v4().to_string(),
        "@nobody_here".into(),
        "@".into(),
        "not-a-user".into(),
    ] {
        let (status, _) =
            redirect(&server, &format!("/api/v1/users/{selector}/avatar"), None).await;
        assert_eq!(status, 404, "{selector}");
    }

    // A cover narrower than 960 px is refused and the old one stays.
    let (status, body) = upload(
        &server,
        "/api/v1/me/cover",
        &p.token,
        "cover",
        encoded(&halves(800, 400), ImageFormat::Png),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["pointer"], "/cover");
    let (_, to) = redirect(&server, &format!("/api/v1/users/{}/cover", p.id), None).await;
    assert_eq!(to, cover);

    // A picture hidden from UserInfo is not published either.
    set_schema(&server, &json!({ "standard": { "picture": { "end_user": "hidden", "bearer": "hidden" } }, "custom": [] })).await;
    let (status, _) = redirect(&server, &format!("/api/v1/users/{}/avatar", p.id), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn refused_uploads_leave_the_old_picture() {
    let server = TestServer::start().await;
    let p = person(&server, "linus_refusals").await;
    let (_, body) = upload(
        &server,
        "/api/v1/me/avatar",
        &p.token,
        "avatar",
        encoded(&halves(80, 80), ImageFormat::Png),
    )
    .await;
    let old = body["url"].as_str().unwrap().to_owned();

    let png = encoded(&halves(400, 400), ImageFormat::Png);
    let mut bomb = encoded(&halves(1, 1), ImageFormat::Png);
    bomb[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let crc = png_crc(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    // Noise does not compress: just over 1 MB.
    let mut seed = 7u32;
    let oversized: Vec<u8> = (0..1024 * 1024 + 10)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) as u8
        })
        .collect();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("over 1 MB", oversized, 413),
        ("text", b"<svg onload=alert(1)></svg>".to_vec(), 422),
        ("truncated", png[..png.len() / 2].to_vec(), 422),
        ("decompression bomb", bomb, 422),
        ("empty", Vec::new(), 422),
    ];
    for (what, bytes, expected) in cases {
        let (status, body) = upload(&server, "/api/v1/me/avatar", &p.token, "avatar", bytes).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {body}"
        );
        assert_eq!(me(&server, &p.token).await["picture"], old, "{what}");
    }
    // The wrong field, not multipart at all, no write scope.
    let (status, body) = upload(
        &server,
        "/api/v1/me/avatar",
        &p.token,
        "picture",
        encoded(&halves(50, 50), ImageFormat::Png),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["pointer"].as_str()),
        (422, Some("/avatar"))
    );
    let resp = reqwest::Client::new()
        .post(server.url("/api/v1/me/avatar"))
        .bearer_auth(&p.token)
        .json(&json!({ "avatar": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let client = register(&server, false).await;
    let reader = access_token(&server, &p.browser, &client, "openid").await;
    let (status, _) = upload(
        &server,
        "/api/v1/me/avatar",
        &reader,
        "avatar",
        encoded(&halves(50, 50), ImageFormat::Png),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = upload(&server, "/api/v1/me/avatar", "junk", "avatar", vec![1]).await;
    assert_eq!(status, 401);

    // A picture the end user may not write.
    set_schema(&server, &json!({ "standard": { "picture": { "end_user": "readonly", "bearer": "readonly" } }, "custom": [] })).await;
    let (status, body) = upload(
        &server,
        "/api/v1/me/avatar",
        &p.token,
        "avatar",
        encoded(&halves(50, 50), ImageFormat::Png),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(me(&server, &p.token).await["picture"], old);
    // The old image is still served.
    assert_eq!(fetch(&old).await.status(), 200);
}

fn png_crc(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[tokio::test]
async fn image_attributes_and_admin_uploads() {
    let server = TestServer::start().await;
    set_schema(&server, &json!({ "custom": [
                { "name": "badge", "type": "image", "label": "Badge", "end_user": "readwrite", "bearer": "readonly" },
                { "name": "department", "type": "string", "end_user": "readwrite", "bearer": "readonly" },
                { "name": "secret_scan", "type": "image" }
            ] })).await;
    let p = person(&server, "ida_attributes").await;
    let (status, body) = upload(
        &server,
        "/api/v1/me/images/badge",
        &p.token,
        "image",
        encoded(&halves(2048, 1024), ImageFormat::Png),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap().to_owned();
    assert_eq!(
        me(&server, &p.token).await["custom_attributes"]["badge"],
        url
    );
    let full = image::load_from_memory(&fetch(&url).await.bytes().await.unwrap()).unwrap();
    assert_eq!((full.width(), full.height()), (1024, 512));
    let thumb = image::load_from_memory(
        &fetch(&format!("{url}?size=256"))
            .await
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!((thumb.width(), thumb.height()), (256, 128));

    let png = encoded(&halves(40, 40), ImageFormat::Png);
    for (path, expected) in [
        ("/api/v1/me/images/department", 404),
        ("/api/v1/me/images/nothing", 404),
        ("/api/v1/me/images/secret_scan", 403),
    ] {
        let (status, body) = upload(&server, path, &p.token, "image", png.clone()).await;
        assert_eq!(status, expected, "{path}: {body}");
    }

    // The admin may write what the end user may not, with the admin key only.
    let key = auth::admin_keys::create_admin_key(
        server.db(),
        server.clock.as_ref(),
        "tests",
        false,
        Actor::Cli,
    )
    .await
    .expect("key")
    .key;
    let (status, body) = upload(
        &server,
        &format!("/admin/api/v1/users/{}/images/secret_scan", p.id),
        &key,
        "image",
        png.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = upload(
        &server,
        &format!("/admin/api/v1/users/{}/avatar", p.id),
        &key,
        "avatar",
        encoded(&halves(300, 300), ImageFormat::Jpeg),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let avatar = body["url"].as_str().unwrap().to_owned();
    assert_eq!(me(&server, &p.token).await["picture"], avatar);
    let (status, _) = upload(
        &server,
        &format!("/admin/api/v1/users/{}/avatar", p.id),
        &p.token,
        "avatar",
        png.clone(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = upload(
        &server,
        &format!("/admin/api/v1/users/{}/avatar", store::Uuid::new_v4()),
        &key,
        "avatar",
        png.clone(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = upload(
        &server,
        "/admin/api/v1/users/junk/avatar",
        &key,
        "avatar",
        png,
    )
    .await;
    assert_eq!(status, 404);

    // Deleting the user deletes their images.
    let resp = reqwest::Client::new()
        .delete(server.url(&format!("/admin/api/v1/users/{}", p.id)))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(fetch(&avatar).await.status(), 404);
    assert_eq!(fetch(&url).await.status(), 404);
}

#[tokio::test]
async fn settings_page_uploads_avatar_and_cover_and_shows_errors_in_place() {
    let server = TestServer::start().await;
    let b = browser();
    assert_eq!(
        sign_up(&server, &b, "mia@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let token = csrf_token(&b, &server.url("/settings")).await;
    let post = |path: &str, token: &str, field: &str, bytes: Vec<u8>| {
        let form = Form::new()
            .text("csrf_token", token.to_owned())
            .part(field.to_owned(), Part::bytes(bytes).file_name("photo.png"));
        b.post(server.url(path)).multipart(form).send()
    };
    let resp = post(
        "/settings/avatar",
        &token,
        "avatar",
        encoded(&halves(120, 90), ImageFormat::Png),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/settings?saved=avatar#images");
    let html = b
        .get(server.url("/settings?saved=avatar"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("You have a new avatar."));
    assert!(
        html.contains(&format!("src=\"{}", server.url("/images/"))),
        "uploaded picture shown"
    );

    let resp = post(
        "/settings/cover",
        &token,
        "cover",
        encoded(&halves(640, 200), ImageFormat::Png),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("id=\"cover-error\""),
        "error next to the cover form"
    );
    assert!(html.contains("at least 960 px wide"));

    let resp = post(
        "/settings/avatar",
        &token,
        "avatar",
        b"GIF89a not really".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("id=\"avatar-error\""));

    // No or a wrong CSRF token: refused, nothing stored.
    let before = picture_of(&server, "mia@example.com").await;
    let resp = post(
        "/settings/avatar",
        "forged",
        "avatar",
        encoded(&halves(50, 50), ImageFormat::Png),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 403);
    let after = picture_of(&server, "mia@example.com").await;
    assert_eq!(before, after);

    let resp = post(
        "/settings/cover",
        &token,
        "cover",
        encoded(&halves(1000, 300), ImageFormat::Jpeg),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 303);
    let html = b
        .get(server.url("/settings"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("class=\"cover\""));
}

/// Replaces the profile schema (as `tessera schema import` would).
async fn set_schema(server: &TestServer, doc: &Value) {
    server
        .profiles()
        .replace_schema(server.db(), server.clock.as_ref(), doc, Actor::Cli)
        .await
        .expect("schema");
}

/// The stored `picture` of the user with this email.
async fn picture_of(server: &TestServer, email: &str) -> Value {
    server
        .profiles()
        .view(
            server.db(),
            user_of(server, email).await,
            profile::Audience::Party(profile::Party::Admin),
        )
        .await
        .unwrap()
        .unwrap()["picture"]
        .clone()
}

async fn user_of(server: &TestServer, email: &str) -> store::Uuid {
    store::accounts::find_login_candidate(server.db(), store::accounts::IdentityKind::Email, email)
        .await
        .unwrap()
        .unwrap()
        .user_id
}

#[tokio::test]
async fn a_large_image_is_processed_while_other_requests_are_answered() {
    // One worker, so every request shares its runtime. That decoding never runs on the runtime
    // itself is checked deterministically in `profile::images` (a single-threaded runtime keeps
    // running other tasks while an image decodes).
    let server = TestServer::start_with(|c| c.server.workers = 1).await;
    let p = person(&server, "big_picture").await;
    // 6000×5000 pixels of smooth gradient compress well under 1 MB but take a while to decode
    // and resize.
    let big = DynamicImage::ImageRgb8(RgbImage::from_fn(6000, 5000, |x, y| {
        Rgb([(x / 24) as u8, (y / 20) as u8, 128])
    }));
    let bytes = encoded(&big, ImageFormat::Png);
    assert!(bytes.len() < 1024 * 1024, "{} bytes", bytes.len());
    let upload = tokio::spawn({
        let url = server.url("/api/v1/me/avatar");
        let token = p.token.clone();
        async move {
            let form = Form::new().part("avatar", Part::bytes(bytes).file_name("big.png"));
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    let probe = reqwest::Client::new();
    let mut answered_meanwhile = 0;
    while !upload.is_finished() {
        let resp = probe
            .get(server.url("/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(resp.status(), 200);
        if !upload.is_finished() {
            answered_meanwhile += 1;
        }
    }
    assert_eq!(upload.await.unwrap().unwrap(), 200);
    assert!(
        answered_meanwhile >= 1,
        "only {answered_meanwhile} requests were answered while the image was decoded"
    );
}
