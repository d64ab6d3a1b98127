//! Webhooks (SPEC §13) against a real server and a real HTTP receiver on loopback: signed
//! deliveries from the outbox, a receiver answering 500 then 200 gets the event again, a user's
//! events arrive in order, `exclude_actor`, the delivery log, private addresses refused unless
//! allowed, and bad input refused.

mod common;

use common::admin::{admin_key, call};
use common::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

/// What the receiver got: the `Tessera-Signature` header and the body, per request.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// An HTTP receiver on loopback answering the statuses of `script` in turn (then 200).
async fn receiver(script: Vec<u16>) -> (String, Received) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let received: Received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    let script = Arc::new(Mutex::new(script.into_iter()));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (seen, script) = (seen.clone(), script.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                while let Ok(n) = socket.read(&mut chunk).await {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let header = |name: &str| {
                        text[..end].lines().find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.trim()
                                .eq_ignore_ascii_case(name)
                                .then(|| v.trim().to_owned())
                        })
                    };
                    let len: usize = header("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                    let status = script.lock().ok().and_then(|mut s| s.next()).unwrap_or(200);
                    if let Ok(mut r) = seen.lock() {
                        r.push((header("tessera-signature").unwrap_or_default(), body));
                    }
                    let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                    let _ = socket.write_all(reply.as_bytes()).await;
                    return;
                }
            });
        }
    });
    (url, received)
}

/// Waits (up to 10 s) until `n` requests have arrived; returns them.
async fn wait_for(received: &Received, n: usize) -> Vec<(String, String)> {
    for _ in 0..200 {
        let got = received.lock().map(|r| r.clone()).unwrap_or_default();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "only {:?} of {n} deliveries arrived",
        received.lock().map(|r| r.len())
    );
}

/// Checks `Tessera-Signature: t=…,v1=…` against the body with `secret`.
fn signed_by(header: &str, body: &str, secret: &str) -> bool {
    let Some((t, v1)) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
    else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex == v1
}

const SECRET: &str = "a-shared-secret-of-the-receiver";

#[tokio::test]
async fn profile_changes_arrive_signed_in_order_and_again_after_a_failure() {
    let server = TestServer::start_with(|c| {
        c.webhooks.allow_private = true;
        c.webhooks.poll_interval_ms = 50;
    })
    .await;
    let key = admin_key(&server).await;
    let k = Some(key.as_str());
    // The first delivery is answered 500: it comes again, and nothing of that user overtakes it.
    let (url, received) = receiver(vec![500]).await;
    let (status, hook, _) = call(
        &server,
        k,
        Method::POST,
        "/webhooks",
        Some(
            json!({ "url": url, "events": ["profile.updated", "user.disabled"], "secret": SECRET }),
        ),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    assert_eq!(hook["secret"], SECRET, "shown in the answer that made it");
    let id = hook["id"].as_str().expect("id").to_owned();
    let (_, shown, _) = call(&server, k, Method::GET, &format!("/webhooks/{id}"), None).await;
    assert!(shown.get("secret").is_none(), "never shown again: {shown}");

    let (status, user, _) = call(
        &server,
        k,
        Method::POST,
        "/users",
        Some(json!({ "identities": [{ "type": "email", "value": "ivy@example.com" }] })),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let uid = user["id"].as_str().expect("id").to_owned();
    for name in ["Ivy", "Ivana"] {
        let (status, body, _) = call(
            &server,
            k,
            Method::PATCH,
            &format!("/users/{uid}/profile"),
            Some(json!({ "given_name": name })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, _) = call(
        &server,
        k,
        Method::POST,
        &format!("/users/{uid}/disable"),
        None,
    )
    .await;
    assert!(status == 200 || status == 204, "{status}");

    // The first attempt (500) arrives; the rest wait behind it until the retry is due.
    let got = wait_for(&received, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        received.lock().map(|r| r.len()).unwrap_or(0),
        1,
        "order per user"
    );
    server.clock.advance(chrono::Duration::seconds(20));
    let got_all = wait_for(&received, 4).await;
    assert_eq!(got[0].1, got_all[1].1, "the failed event again, first");
    let events: Vec<Value> = got_all[1..]
        .iter()
        .map(|(sig, body)| {
            assert!(signed_by(sig, body, SECRET), "signed: {sig}");
            assert!(!signed_by(sig, body, "another secret"));
            serde_json::from_str(body).expect("json")
        })
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        ["profile.updated", "profile.updated", "user.disabled"]
    );
    assert_eq!(
        events[0]["data"]["values"]["given_name"], "Ivy",
        "{}",
        events[0]
    );
    assert_eq!(events[1]["data"]["values"]["given_name"], "Ivana");
    for e in &events {
        assert_eq!(e["user_id"], uid.as_str());
        assert_eq!(e["tenant"], "default");
        assert_eq!(e["actor"]["type"], "admin_key");
        assert!(e["id"].is_string() && e["occurred_at"].is_string());
    }

    // The log shows the attempts.
    let (status, log, _) = call(
        &server,
        k,
        Method::GET,
        &format!("/webhooks/{id}/deliveries"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let items = log["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "{log}");
    let first = items.last().expect("oldest");
    assert_eq!(first["status"], "delivered");
    let codes: Vec<Value> = first["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, [json!(500), json!(200)]);

    // An app is not told of its own changes: a webhook excluding this key gets nothing of them.
    let (quiet_url, quiet) = receiver(vec![]).await;
    let me = call(&server, k, Method::GET, "/admin-keys", None).await.1["items"][0]["id"]
        .as_str()
        .expect("key id")
        .to_owned();
    let (status, _, _) = call(
        &server,
        k,
        Method::POST,
        "/webhooks",
        Some(json!({ "url": quiet_url, "events": ["*"], "exclude_actor": me })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, _) = call(
        &server,
        k,
        Method::PATCH,
        &format!("/users/{uid}/profile"),
        Some(json!({ "family_name": "Quill" })),
    )
    .await;
    assert_eq!(status, 200);
    wait_for(&received, 5).await;
    assert_eq!(
        quiet.lock().map(|r| r.len()).unwrap_or(0),
        0,
        "its own change"
    );
    // A sign-up is not the key's doing: it is sent.
    assert_eq!(
        sign_up(
            &server,
            &browser(),
            "max@example.com",
            "correct horse battery"
        )
        .await
        .status(),
        303
    );
    let got = wait_for(&quiet, 1).await;
    assert!(
        got.iter().any(|(_, b)| b.contains("\"user.signed_up\"")),
        "{got:?}"
    );
}

#[tokio::test]
async fn private_addresses_bad_input_and_other_tenants_are_refused() {
    // Without allow_private, a receiver on loopback is never called.
    let server = TestServer::start_with(|c| c.webhooks.poll_interval_ms = 50).await;
    let key = admin_key(&server).await;
    let k = Some(key.as_str());
    let (url, received) = receiver(vec![]).await;
    let (status, hook, _) = call(
        &server,
        k,
        Method::POST,
        "/webhooks",
        Some(json!({ "url": url, "events": ["*"] })),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"].as_str().expect("a generated secret");
    assert!(
        secret.starts_with("whsec_") && secret.len() > 30,
        "{secret}"
    );
    let id = hook["id"].as_str().expect("id").to_owned();
    let localhost = url.replace("127.0.0.1", "localhost");
    let (status, _, _) = call(
        &server,
        k,
        Method::POST,
        "/webhooks",
        Some(json!({ "url": localhost, "events": ["*"] })),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        sign_up(
            &server,
            &browser(),
            "zed@example.com",
            "correct horse battery"
        )
        .await
        .status(),
        303
    );
    let mut errors = Vec::new();
    for _ in 0..100 {
        let (_, log, _) = call(
            &server,
            k,
            Method::GET,
            &format!("/webhooks/{id}/deliveries"),
            None,
        )
        .await;
        errors = log["items"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|d| d["attempts"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a["error"].as_str().map(str::to_owned))
            .collect();
        if !errors.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(errors.iter().any(|e| e.contains("private")), "{errors:?}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        received.lock().map(|r| r.len()).unwrap_or(0),
        0,
        "never reached"
    );

    // Bad input: a clear 422 naming the field, nothing stored.
    for (body, pointer) in [
        (
            json!({ "url": "ftp://example.com/x", "events": ["*"] }),
            "/url",
        ),
        (
            json!({ "url": "https://u:p@example.com/x", "events": ["*"] }),
            "/url",
        ),
        (
            json!({ "url": "https://example.com/x", "events": [] }),
            "/events",
        ),
        (
            json!({ "url": "https://example.com/x", "events": ["Not A Type"] }),
            "/events",
        ),
        (json!({ "url": "https://example.com/x" }), "/events"),
        (json!({ "events": ["*"] }), "/url"),
        (
            json!({ "url": "https://example.com/x", "events": ["*"], "secret": "short" }),
            "/secret",
        ),
        (
            json!({ "url": "https://example.com/x", "events": ["*"], "exclude_actor": "nope" }),
            "/exclude_actor",
        ),
        (
            json!({ "url": "https://example.com/x", "events": ["*"], "color": "red" }),
            "/color",
        ),
    ] {
        let (status, problem, _) =
            call(&server, k, Method::POST, "/webhooks", Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(
            problem["errors"][0]["pointer"], pointer,
            "{body}: {problem}"
        );
    }
    let (_, list, _) = call(&server, k, Method::GET, "/webhooks", None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    assert!(
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|w| w.get("secret").is_none()),
        "secrets are never listed"
    );
    // A PATCH with "secret": null makes (and shows) a new secret; a webhook goes with DELETE.
    let (status, patched, _) = call(
        &server,
        k,
        Method::PATCH,
        &format!("/webhooks/{id}"),
        Some(json!({ "secret": null, "events": ["user.deleted"] })),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_ne!(patched["secret"], secret);
    assert_eq!(patched["events"], json!(["user.deleted"]));
    for (method, path) in [
        (Method::GET, format!("/webhooks/{}", uuid::Uuid::now_v7())),
        (Method::DELETE, "/webhooks/not-an-id".to_owned()),
        (
            Method::GET,
            format!("/webhooks/{}/deliveries", uuid::Uuid::now_v7()),
        ),
    ] {
        let (status, _, _) = call(&server, k, method, &path, None).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _, _) = call(&server, k, Method::DELETE, &format!("/webhooks/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _, _) = call(&server, None, Method::GET, "/webhooks", None).await;
    assert_eq!(status, 401);
}

/// A `tessera serve` process on `db_url`, listening on `port`.
fn serve(db_url: &str, port: u16, dir: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("serve")
        .current_dir(dir)
        .env("DATABASE_URL", db_url)
        .env("TESSERA__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "TESSERA__SERVER__ISSUER",
            format!("http://127.0.0.1:{port}"),
        )
        .env("TESSERA__WEBHOOKS__ALLOW_PRIVATE", "true")
        .env("TESSERA__WEBHOOKS__POLL_INTERVAL_MS", "50")
        .env("TESSERA__PASSWORD__ARGON2_MEMORY_KIB", "1024")
        .env("TESSERA__PASSWORD__ARGON2_ITERATIONS", "1")
        .env("TESSERA__LOG__LEVEL", "error")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn tessera serve")
}

async fn wait_ready(base: &str) {
    for _ in 0..200 {
        if reqwest::get(format!("{base}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the server did not start");
}

/// The server is killed with SIGKILL while profile changes stream in; after a restart, every
/// change that was answered 2xx reaches the receiver (at least once), none missing.
#[tokio::test]
async fn every_committed_change_is_delivered_across_a_kill() {
    let (db_url, _db_dir) = store::testing::TestDatabase::create_empty()
        .await
        .expect("db");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["admin-key", "create", "--name", "crash", "--json"])
        .current_dir(dir.path())
        .env("DATABASE_URL", &db_url)
        .output()
        .expect("admin-key create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key: Value = serde_json::from_slice(&out.stdout).expect("json");
    let key = key["key"].as_str().expect("key").to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let admin = |method: Method, path: &str| {
        reqwest::Client::new()
            .request(method, format!("{base}/admin/api/v1{path}"))
            .bearer_auth(&key)
    };
    let mut server = serve(&db_url, port, dir.path());
    wait_ready(&base).await;
    let (url, received) = receiver(vec![]).await;
    let hook = admin(Method::POST, "/webhooks")
        .json(&json!({ "url": url, "events": ["profile.updated"], "secret": SECRET }))
        .send()
        .await
        .expect("webhook");
    assert_eq!(hook.status(), 201);
    let user: Value = admin(Method::POST, "/users")
        .json(&json!({ "identities": [{ "type": "email", "value": "kit@example.com" }] }))
        .send()
        .await
        .expect("user")
        .json()
        .await
        .expect("json");
    let uid = user["id"].as_str().expect("id").to_owned();

    // Changes stream in; the server is killed in the middle of them.
    let mut committed = Vec::new();
    for i in 0.. {
        if i == 40 {
            server.kill().expect("SIGKILL");
            let _ = server.wait();
        }
        let name = format!("n{i}");
        let answer = admin(Method::PATCH, &format!("/users/{uid}/profile"))
            .json(&json!({ "given_name": name }))
            .timeout(std::time::Duration::from_secs(2))
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => committed.push(name),
            _ if i >= 40 => break,
            Ok(r) => panic!("{i}: {}", r.status()),
            Err(e) => panic!("{i}: {e}"),
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(committed.len(), 40);

    // After a restart, every committed change arrives.
    let mut server = serve(&db_url, port, dir.path());
    wait_ready(&base).await;
    // (What the killed process had leased comes again once its lease of 15 s is over.)
    let mut missing = committed.clone();
    for _ in 0..600 {
        let names: Vec<String> = received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
            .iter()
            .filter_map(|(_, b)| serde_json::from_str::<Value>(b).ok())
            .filter_map(|e| {
                e["data"]["values"]["given_name"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        missing.retain(|n| !names.contains(n));
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
}

/// Two processes on one PostgreSQL database share the deliveries: each event reaches the
/// receiver once. (On SQLite one process delivers; the test runs on PostgreSQL only.)
#[tokio::test]
async fn two_processes_on_postgres_deliver_each_event_once() {
    let (db_url, _db_dir) = store::testing::TestDatabase::create_empty()
        .await
        .expect("db");
    if !db_url.starts_with("postgres") {
        eprintln!("two_processes_on_postgres_deliver_each_event_once: PostgreSQL only, skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["admin-key", "create", "--name", "pair", "--json"])
        .current_dir(dir.path())
        .env("DATABASE_URL", &db_url)
        .output()
        .expect("admin-key create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key: Value = serde_json::from_slice(&out.stdout).expect("json");
    let key = key["key"].as_str().expect("key").to_owned();
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .expect("bind")
                .local_addr()
                .expect("addr")
                .port()
        })
        .collect();
    let mut servers: Vec<_> = ports
        .iter()
        .map(|p| serve(&db_url, *p, dir.path()))
        .collect();
    for p in &ports {
        wait_ready(&format!("http://127.0.0.1:{p}")).await;
    }
    let admin = |port: u16, method: Method, path: &str| {
        reqwest::Client::new()
            .request(
                method,
                format!("http://127.0.0.1:{port}/admin/api/v1{path}"),
            )
            .bearer_auth(&key)
    };
    let (url, received) = receiver(vec![]).await;
    let hook = admin(ports[0], Method::POST, "/webhooks")
        .json(&json!({ "url": url, "events": ["user.created"], "secret": SECRET }))
        .send()
        .await
        .expect("webhook");
    assert_eq!(hook.status(), 201);
    for i in 0..40 {
        let r = admin(ports[i % 2], Method::POST, "/users")
            .json(&json!({ "identities": [{ "type": "email", "value": format!("u{i}@example.com") }] }))
            .send()
            .await
            .expect("user");
        assert_eq!(r.status(), 201);
    }
    let got = wait_for(&received, 40).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let got = received.lock().map(|r| r.clone()).unwrap_or(got);
    let mut ids: Vec<String> = got
        .iter()
        .filter_map(|(_, b)| serde_json::from_str::<Value>(b).ok())
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    for s in &mut servers {
        let _ = s.kill();
        let _ = s.wait();
    }
    assert_eq!((ids.len(), all), (40, 40), "each event once");
}
