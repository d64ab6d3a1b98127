//! A load generator for Tessera's hot paths: discovery, JWKS, UserInfo, token refresh,
//! client_credentials and password login. Each scenario runs with N concurrent connections for a
//! fixed time and reports requests/s and p50/p99 latency. `bench/run.sh` starts the server and
//! prepares a user and a client; this program does the rest.
//!
//! Refresh tokens rotate on every use (and a reused one revokes its grant), so each connection
//! of the refresh scenario owns its own grant and carries its token forward.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
struct Args {
    /// The server, e.g. http://127.0.0.1:8080
    #[arg(long)]
    base: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    /// The client's registered redirect URI.
    #[arg(long)]
    redirect_uri: String,
    #[arg(long)]
    email: String,
    #[arg(long)]
    password: String,
    /// Connection counts to run each scenario with.
    #[arg(long, value_delimiter = ',', default_value = "32,256")]
    connections: Vec<usize>,
    /// Seconds per scenario and connection count.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Scenarios to run (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// A signed-in browser: a cookie jar with a session.
async fn signed_in(args: &Args) -> Result<reqwest::Client, Error> {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let html = browser
        .get(format!("{}/login", args.base))
        .send()
        .await?
        .text()
        .await?;
    let csrf = hidden(&html, "csrf_token").ok_or("no CSRF token on /login")?;
    let resp = browser
        .post(format!("{}/login", args.base))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("login_id", &args.email),
            ("password", &args.password),
        ])
        .send()
        .await?;
    if resp.status() != 303 {
        return Err(format!("login failed: {}", resp.status()).into());
    }
    Ok(browser)
}

/// One authorization code flow with PKCE for the signed-in browser; returns (access, refresh).
async fn grant(
    args: &Args,
    browser: &reqwest::Client,
    http: &reqwest::Client,
) -> Result<(String, String), Error> {
    let verifier = URL_SAFE_NO_PAD.encode(rand_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&format!("{}/oauth2/authorize", args.base))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &args.client_id)
        .append_pair("redirect_uri", &args.redirect_uri)
        .append_pair("scope", "openid email profile")
        .append_pair("state", "bench")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let resp = browser.get(url.as_str()).send().await?;
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or("authorize did not redirect")?;
    let callback = url::Url::parse(location)?;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| format!("no code in {location}"))?;
    let tokens: serde_json::Value = http
        .post(format!("{}/oauth2/token", args.base))
        .basic_auth(&args.client_id, Some(&args.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", args.redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await?
        .json()
        .await?;
    let access = tokens["access_token"]
        .as_str()
        .ok_or("no access token")?
        .to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .ok_or("no refresh token")?
        .to_owned();
    Ok((access, refresh))
}

/// A unique PKCE verifier seed (not security-relevant in a benchmark): time, process and a counter.
fn rand_bytes() -> [u8; 32] {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(
        format!("{now}:{}:{n}", std::process::id()).as_bytes(),
    ));
    out
}

#[derive(Clone)]
enum Scenario {
    Discovery,
    Jwks,
    UserInfo(Arc<Vec<String>>),
    Refresh(Arc<Vec<String>>),
    ClientCredentials,
    Login {
        csrf_cookie: String,
        csrf_token: String,
    },
}

impl Scenario {
    fn name(&self) -> &'static str {
        match self {
            Scenario::Discovery => "discovery",
            Scenario::Jwks => "jwks",
            Scenario::UserInfo(_) => "userinfo",
            Scenario::Refresh(_) => "refresh",
            Scenario::ClientCredentials => "client_credentials",
            Scenario::Login { .. } => "login",
        }
    }
}

struct Outcome {
    latencies_us: Vec<u32>,
    errors: u64,
}

async fn worker(
    args: Arc<Args>,
    http: reqwest::Client,
    scenario: Scenario,
    index: usize,
    until: Instant,
) -> Outcome {
    let mut latencies_us = Vec::with_capacity(4096);
    let mut errors = 0;
    let mut refresh = match &scenario {
        Scenario::Refresh(tokens) => tokens.get(index).cloned(),
        _ => None,
    };
    while Instant::now() < until {
        let started = Instant::now();
        let result = match &scenario {
            Scenario::Discovery => {
                http.get(format!("{}/.well-known/openid-configuration", args.base))
                    .send()
                    .await
            }
            Scenario::Jwks => http.get(format!("{}/oauth2/jwks", args.base)).send().await,
            Scenario::UserInfo(tokens) => {
                http.get(format!("{}/oauth2/userinfo", args.base))
                    .bearer_auth(&tokens[index % tokens.len()])
                    .send()
                    .await
            }
            Scenario::Refresh(_) => {
                let Some(current) = refresh.clone() else {
                    break;
                };
                http.post(format!("{}/oauth2/token", args.base))
                    .basic_auth(&args.client_id, Some(&args.client_secret))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", current.as_str()),
                    ])
                    .send()
                    .await
            }
            Scenario::ClientCredentials => {
                http.post(format!("{}/oauth2/token", args.base))
                    .basic_auth(&args.client_id, Some(&args.client_secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
            }
            Scenario::Login {
                csrf_cookie,
                csrf_token,
            } => {
                http.post(format!("{}/login", args.base))
                    .header("cookie", format!("tessera_csrf={csrf_cookie}"))
                    .form(&[
                        ("csrf_token", csrf_token.as_str()),
                        ("login_id", &args.email),
                        ("password", &args.password),
                    ])
                    .send()
                    .await
            }
        };
        let ok = match result {
            Ok(resp) => {
                let good = resp.status().is_success() || resp.status() == 303;
                if let (Scenario::Refresh(_), true) = (&scenario, good) {
                    match resp.json::<serde_json::Value>().await {
                        Ok(v) => refresh = v["refresh_token"].as_str().map(str::to_owned),
                        Err(_) => refresh = None,
                    }
                } else {
                    let _ = resp.bytes().await;
                }
                good
            }
            Err(_) => false,
        };
        let elapsed = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        if ok {
            latencies_us.push(elapsed);
        } else {
            errors += 1;
            if matches!(scenario, Scenario::Refresh(_)) {
                break;
            }
        }
    }
    Outcome {
        latencies_us,
        errors,
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Arc::new(Args::parse());
    let max_conns = args.connections.iter().copied().max().unwrap_or(32);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(max_conns)
        .build()?;
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);

    eprintln!("preparing: signing in and creating {max_conns} grants…");
    let browser = signed_in(&args).await?;
    let mut access = Vec::new();
    for _ in 0..max_conns.min(64) {
        access.push(grant(&args, &browser, &http).await?.0);
    }
    let access = Arc::new(access);
    let login_page = http.get(format!("{}/login", args.base)).send().await?;
    let csrf_cookie = login_page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix("tessera_csrf=")
                .map(|v| v.split(';').next().unwrap_or("").to_owned())
        })
        .ok_or("no CSRF cookie")?;
    let csrf_token = hidden(&login_page.text().await?, "csrf_token").ok_or("no CSRF token")?;

    println!("| scenario | connections | requests/s | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut scenarios = vec![
        Scenario::Discovery,
        Scenario::Jwks,
        Scenario::UserInfo(access.clone()),
        Scenario::ClientCredentials,
        Scenario::Refresh(Arc::new(Vec::new())),
        Scenario::Login {
            csrf_cookie,
            csrf_token,
        },
    ];
    scenarios.retain(|s| wanted(s.name()));
    for scenario in scenarios {
        for &conns in &args.connections {
            let scenario = match scenario {
                Scenario::Refresh(_) => {
                    let mut tokens = Vec::with_capacity(conns);
                    for _ in 0..conns {
                        tokens.push(grant(&args, &browser, &http).await?.1);
                    }
                    Scenario::Refresh(Arc::new(tokens))
                }
                ref other => other.clone(),
            };
            let started = Instant::now();
            let until = started + Duration::from_secs(args.seconds);
            let mut tasks = Vec::with_capacity(conns);
            for i in 0..conns {
                tasks.push(tokio::spawn(worker(
                    args.clone(),
                    http.clone(),
                    scenario.clone(),
                    i,
                    until,
                )));
            }
            let mut all = Vec::new();
            let mut errors = 0;
            for t in tasks {
                let o = t.await?;
                all.extend(o.latencies_us);
                errors += o.errors;
            }
            let elapsed = started.elapsed().as_secs_f64();
            all.sort_unstable();
            println!(
                "| {} | {} | {:.0} | {:.2} | {:.2} | {} |",
                scenario.name(),
                conns,
                all.len() as f64 / elapsed,
                percentile(&all, 0.50),
                percentile(&all, 0.99),
                errors
            );
        }
    }
    Ok(())
}
