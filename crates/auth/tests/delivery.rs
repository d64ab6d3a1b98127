//! Delivery against real peers on loopback: an SMTP server (mailin-embedded) and an HTTP listener
//! for the SMS webhook.

use auth::codes::Purpose;
use auth::delivery::{Mailer, SmsSender, code_email};
use mailin_embedded::{Handler, Response, Server, response};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

/// Collects every message the SMTP server receives.
#[derive(Clone, Default)]
struct Inbox {
    messages: Arc<Mutex<Vec<String>>>,
    current: Arc<Mutex<Vec<u8>>>,
}

impl Handler for Inbox {
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Ok(mut c) = self.current.lock() {
            c.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let (Ok(mut c), Ok(mut all)) = (self.current.lock(), self.messages.lock()) {
            all.push(String::from_utf8_lossy(&c).into_owned());
            c.clear();
        }
        response::OK
    }
}

/// Starts an SMTP server on a free loopback port; returns its URL and inbox.
fn smtp_server() -> (String, Inbox) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let inbox = Inbox::default();
    let mut server = Server::new(inbox.clone());
    server.with_name("test.smtp").with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (format!("smtp://127.0.0.1:{port}"), inbox)
}

#[tokio::test]
async fn a_code_email_arrives_over_smtp_with_text_and_html() {
    let (url, inbox) = smtp_server();
    let mailer = Mailer::new(
        Some(&url),
        "Tessera <no-reply@tessera.test>",
        std::path::Path::new("/nonexistent"),
    )
    .expect("mailer");
    let email = code_email(
        "ann@example.com",
        "Tessera",
        Purpose::VerifyEmail,
        "123456",
        5,
    )
    .expect("email");
    mailer.send(&email).await.expect("sent");
    let messages = inbox.messages.lock().expect("inbox").clone();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert!(m.contains("Subject: Your Tessera verification code"), "{m}");
    assert!(m.contains("To: ann@example.com"));
    assert!(
        m.contains("multipart/alternative") && m.contains("text/plain") && m.contains("text/html")
    );
    assert!(m.contains("123456"));
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_an_error_not_a_silent_drop() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mailer = Mailer::new(
        Some(&format!("smtp://127.0.0.1:{port}")),
        "no-reply@tessera.test",
        std::path::Path::new("/nonexistent"),
    )
    .expect("mailer");
    let email = code_email(
        "ann@example.com",
        "Tessera",
        Purpose::ResetPassword,
        "654321",
        5,
    )
    .expect("email");
    assert!(mailer.send(&email).await.is_err());
    assert!(Mailer::new(Some("not a url"), "x@y.z", std::path::Path::new("/tmp")).is_err());
    assert!(Mailer::new(None, "not an address", std::path::Path::new("/tmp")).is_err());
}

#[tokio::test]
async fn without_smtp_emails_are_written_as_eml_files() {
    let dir = tempfile::tempdir().expect("dir");
    let mail_dir = dir.path().join("mail");
    let mailer = Mailer::new(None, "no-reply@tessera.test", &mail_dir).expect("mailer");
    mailer
        .send(
            &code_email("bob@example.com", "Acme", Purpose::VerifyEmail, "777777", 5)
                .expect("email"),
        )
        .await
        .expect("written");
    let files: Vec<_> = std::fs::read_dir(&mail_dir)
        .expect("dir")
        .flatten()
        .collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].path().extension().is_some_and(|e| e == "eml"));
    let text = std::fs::read_to_string(files[0].path()).expect("eml");
    assert!(text.contains("777777") && text.contains("bob@example.com"));
    assert!(
        text.contains("Subject: Your Acme verification code") && text.matches("Acme").count() >= 3,
        "the message is from the tenant's display name"
    );
}

/// A one-request HTTP listener answering `status`; returns its URL and the request body.
fn http_listener(status: u16, requests: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/sms", listener.local_addr().expect("addr"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for _ in 0..requests {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = s.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len = text[..i]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= i + 4 + len {
                        if let Ok(mut b) = seen.lock() {
                            b.push(String::from_utf8_lossy(&buf[i + 4..i + 4 + len]).into_owned());
                        }
                        break;
                    }
                }
            }
            let _ = s.write_all(
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (url, bodies)
}

#[tokio::test]
async fn the_sms_webhook_gets_a_json_post_and_failures_are_retried_then_reported() {
    let (url, bodies) = http_listener(200, 1);
    let sender =
        SmsSender::new("webhook", Some(&url), std::path::Path::new("/tmp")).expect("sender");
    sender
        .send("+33612345678", "Your code is 123456")
        .await
        .expect("sent");
    let got = bodies.lock().expect("bodies").clone();
    let json: serde_json::Value = serde_json::from_str(&got[0]).expect("json");
    assert_eq!(
        json,
        serde_json::json!({ "to": "+33612345678", "body": "Your code is 123456" })
    );

    let (url, bodies) = http_listener(503, 3);
    let sender =
        SmsSender::new("webhook", Some(&url), std::path::Path::new("/tmp")).expect("sender");
    assert!(sender.send("+33612345678", "x").await.is_err());
    assert_eq!(bodies.lock().expect("bodies").len(), 3, "three tries");

    assert!(SmsSender::new("pigeon", None, std::path::Path::new("/tmp")).is_err());
    assert!(SmsSender::new("webhook", None, std::path::Path::new("/tmp")).is_err());
    let dir = tempfile::tempdir().expect("dir");
    let files = SmsSender::new("file", None, dir.path()).expect("file sender");
    files.send("+15550100", "hello").await.expect("written");
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
}
