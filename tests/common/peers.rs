//! Real peers on loopback for tests: an SMTP server that keeps what it receives, and an HTTP
//! listener that keeps request bodies (SMS webhook, back-channel logout).

use mailin_embedded::{Handler, Response, Server, response};
use std::sync::{Arc, Mutex};

/// What the test SMTP server received, one string per message.
#[derive(Clone, Default)]
pub struct Inbox {
    pub messages: Arc<Mutex<Vec<String>>>,
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

impl Inbox {
    pub fn count(&self) -> usize {
        self.messages.lock().map_or(0, |m| m.len())
    }

    /// The six-digit code in the newest message.
    pub fn last_code(&self) -> String {
        let messages = self.messages.lock().expect("inbox");
        let text = messages.last().expect("a message arrived");
        six_digits_in(text).unwrap_or_else(|| panic!("no code in {text}"))
    }

    /// Waits (up to 5 s) until `count` messages have arrived.
    pub async fn wait_for(&self, count: usize) {
        for _ in 0..100 {
            if self.count() >= count {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no email arrived");
    }
}

/// The first run of exactly six digits in `text`.
pub fn six_digits_in(text: &str) -> Option<String> {
    let chars: Vec<char> = format!(" {text} ").chars().collect();
    chars.windows(8).find_map(|w| {
        let inner: String = w[1..7].iter().collect();
        (!w[0].is_ascii_digit()
            && !w[7].is_ascii_digit()
            && inner.chars().all(|c| c.is_ascii_digit()))
        .then_some(inner)
    })
}

/// Starts an SMTP server on a free loopback port; returns its `smtp://` URL and inbox.
pub fn smtp_server() -> (String, Inbox) {
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

/// Bodies an HTTP listener received.
pub type Bodies = Arc<Mutex<Vec<String>>>;

/// An HTTP listener on loopback that answers 200 to every request and keeps each body.
pub async fn http_collector(path: &str) -> (String, Bodies) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}{path}", listener.local_addr().expect("addr"));
    let bodies: Bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = socket.read(&mut chunk).await {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        if let Ok(mut b) = seen.lock() {
                            b.push(
                                String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned(),
                            );
                        }
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                            .await;
                        return;
                    }
                }
            });
        }
    });
    (url, bodies)
}

/// Waits (up to 10 s) for the first body.
pub async fn first_body(bodies: &Bodies) -> String {
    for _ in 0..200 {
        if let Some(b) = bodies.lock().ok().and_then(|b| b.first().cloned()) {
            return b;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("nothing arrived");
}
