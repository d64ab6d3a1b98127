//! The preparation half of Tessera's load benchmark: signs in through the real login form, runs
//! the authorization code flow with PKCE and prints what the load tool (wrk, driven by
//! `bench/run.sh` with the scripts in `bench/wrk/`) needs: access tokens, refresh tokens, or a
//! CSRF pair for the login form, one value a line.
//!
//! Refresh tokens rotate on every use (and a reused one revokes its grant), so the refresh
//! scenario needs one grant per connection; each run gets fresh ones.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use sha2::{Digest, Sha256};

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    what: What,
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
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Access tokens of COUNT grants of the signed-in user, one a line.
    AccessTokens {
        #[arg(long)]
        count: usize,
    },
    /// Refresh tokens of COUNT fresh grants, one a line.
    RefreshTokens {
        #[arg(long)]
        count: usize,
    },
    /// The login form's CSRF cookie value, then its hidden token: two lines.
    LoginForm,
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

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut out = String::new();
    match args.what {
        What::AccessTokens { count } | What::RefreshTokens { count } => {
            let browser = signed_in(&args).await?;
            for _ in 0..count {
                let (access, refresh) = grant(&args, &browser, &http).await?;
                let token = match args.what {
                    What::AccessTokens { .. } => access,
                    _ => refresh,
                };
                out.push_str(&token);
                out.push('\n');
            }
        }
        What::LoginForm => {
            let page = http.get(format!("{}/login", args.base)).send().await?;
            let cookie = page
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|c| {
                    c.strip_prefix("tessera_csrf=")
                        .map(|v| v.split(';').next().unwrap_or("").to_owned())
                })
                .ok_or("no CSRF cookie")?;
            let token = hidden(&page.text().await?, "csrf_token").ok_or("no CSRF token")?;
            out = format!("{cookie}\n{token}\n");
        }
    }
    print!("{out}");
    Ok(())
}
