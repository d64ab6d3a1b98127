//! Shared test support: a real, listening Tessera server on its own database, an HTTP client
//! with a cookie jar, and helpers to read forms.
#![allow(dead_code)]

pub mod admin;
pub mod flows;
pub mod peers;
pub mod rp;

use std::sync::Arc;
use store::ManualClock;
use store::testing::TestDatabase;
use tessera::config::Config;
use tessera::server::{self, AppState};

/// A server started in this process on 127.0.0.1 with a random port, its own database and a clock
/// the test moves.
pub struct TestServer {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub database: TestDatabase,
    pub config: Config,
    pub state: AppState,
    handle: actix_web::dev::ServerHandle,
}

/// Cheap Argon2 parameters keep tests fast; production defaults are tested in `auth`.
pub fn test_config(database_url: &str, port: u16) -> Config {
    let mut config = Config::default();
    config.server.listen = format!("127.0.0.1:{port}");
    config.server.issuer = format!("http://127.0.0.1:{port}");
    config.server.workers = 2;
    config.database.url = database_url.to_owned();
    config.database.max_connections = 4;
    config.password.argon2_memory_kib = 1024;
    config.password.argon2_iterations = 1;
    // Most tests are not about verification; the ones that are turn it on.
    config.verification.email.required = false;
    config.smtp.file_dir = std::env::temp_dir()
        .join(format!("tessera-mail-{}", uuid::Uuid::new_v4().simple()))
        .display()
        .to_string();
    config
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed the test configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        Self::start_on(listener, adjust).await
    }

    /// Starts a server on a listener the test bound already (so it knows the port beforehand).
    pub async fn start_on(
        listener: std::net::TcpListener,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let database = TestDatabase::create().await.expect("test database");
        let port = listener.local_addr().expect("addr").port();
        let mut config = test_config(&database.url, port);
        adjust(&mut config);
        config.validate().expect("valid test config");
        let clock = Arc::new(ManualClock::starting_now());
        let state = AppState::new(&config, database.db.clone(), clock.clone())
            .await
            .expect("state");
        let running = server::start(&config, state.clone(), Some(listener)).expect("start");
        let handle = running.handle.clone();
        tokio::spawn(running.server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            clock,
            database,
            config,
            state,
            handle,
        }
    }

    /// A second server process on the same database (as several `tessera serve` behind a load
    /// balancer), with its own port, key ring and clock.
    pub async fn start_sharing(other: &TestServer) -> SharedServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut config = other.config.clone();
        config.server.listen = format!("127.0.0.1:{port}");
        let db = store::Db::connect(
            &other.database.url,
            &store::DbSettings { max_connections: 4 },
        )
        .await
        .expect("connect");
        let clock = Arc::new(ManualClock::new(other.clock_now()));
        let state = AppState::new(&config, db, clock.clone())
            .await
            .expect("state");
        let running = server::start(&config, state, Some(listener)).expect("start");
        let handle = running.handle.clone();
        tokio::spawn(running.server);
        SharedServer {
            base: format!("http://127.0.0.1:{port}"),
            clock,
            handle,
        }
    }

    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        store::Clock::now(self.clock.as_ref())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn db(&self) -> &store::Db {
        &self.database.db
    }

    /// The server's own profile service (so schema changes are seen at once).
    pub fn profiles(&self) -> &profile::ProfileService {
        &self.state.web.profiles
    }
}

/// Where a test talks to: a server's root (the default tenant) or one tenant under `/t/{id}`.
/// The page and flow helpers take any site.
pub trait Site {
    fn url(&self, path: &str) -> String;
    /// The store, scoped to the site's tenant.
    fn db(&self) -> &store::Db;
    fn clock(&self) -> &ManualClock;
}

impl Site for TestServer {
    fn url(&self, path: &str) -> String {
        TestServer::url(self, path)
    }
    fn db(&self) -> &store::Db {
        &self.database.db
    }
    fn clock(&self) -> &ManualClock {
        self.clock.as_ref()
    }
}

/// Tenant `id` of a test server, served under `{base}/t/{id}` (see [`TestServer::tenant`]).
pub struct TenantSite {
    pub id: String,
    /// `{server base}/t/{id}`: the tenant's issuer.
    pub base: String,
    db: store::Db,
    clock: Arc<ManualClock>,
}

impl Site for TenantSite {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
    fn db(&self) -> &store::Db {
        &self.db
    }
    fn clock(&self) -> &ManualClock {
        self.clock.as_ref()
    }
}

impl TestServer {
    /// Tenant `id` of this server (it must be created before its routes answer).
    pub fn tenant(&self, id: &str) -> TenantSite {
        TenantSite {
            id: id.to_owned(),
            base: format!("{}/t/{id}", self.base),
            db: self.database.db.in_tenant(id),
            clock: self.clock.clone(),
        }
    }
}

/// A second server on another server's database.
pub struct SharedServer {
    pub base: String,
    pub clock: Arc<ManualClock>,
    handle: actix_web::dev::ServerHandle,
}

impl SharedServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for SharedServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("tessera-tests/1.0")
        .build()
        .expect("client")
}

/// The value of the hidden `name` input in `html`.
pub fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in page:\n{html}"))
        + marker.len();
    let end = html[start..].find('"').expect("end of value") + start;
    unescape_html(&html[start..end])
}

/// Undoes HTML escaping of an attribute value (askama writes numeric entities).
pub fn unescape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// GETs a page and returns its CSRF token.
pub async fn csrf_token(client: &reqwest::Client, url: &str) -> String {
    let html = client
        .get(url)
        .send()
        .await
        .expect("GET form")
        .text()
        .await
        .expect("body");
    hidden_field(&html, "csrf_token")
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Signs up through the real form; returns the response (303 on success).
pub async fn sign_up(
    server: &(impl Site + ?Sized),
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let token = csrf_token(client, &server.url("/signup")).await;
    client
        .post(server.url("/signup"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("POST /signup")
}

/// Signs in through the real form; returns the response (303 on success).
pub async fn log_in(
    server: &(impl Site + ?Sized),
    client: &reqwest::Client,
    login_id: &str,
    password: &str,
) -> reqwest::Response {
    let token = csrf_token(client, &server.url("/login")).await;
    client
        .post(server.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("login_id", login_id),
            ("password", password),
        ])
        .send()
        .await
        .expect("POST /login")
}

/// Whether the client's session is live: `/settings` shows the page instead of redirecting.
pub async fn signed_in_as(
    server: &(impl Site + ?Sized),
    client: &reqwest::Client,
) -> Option<String> {
    let resp = client
        .get(server.url("/settings"))
        .send()
        .await
        .expect("GET /settings");
    if resp.status() != 200 {
        return None;
    }
    let html = resp.text().await.expect("body");
    let start = html.find("id=\"signed-in-as\">")? + "id=\"signed-in-as\">".len();
    let end = html[start..].find('<')? + start;
    Some(html[start..end].to_owned())
}
