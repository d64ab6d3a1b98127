//! The authorization code flow driven by hand (for tests that need raw responses): a PKCE pair,
//! the code for a signed-in browser, the token exchange, UserInfo.

use super::{Site, location};
use serde_json::Value;

pub const REDIRECT: &str = "http://127.0.0.1:1/callback";
/// RFC 7636 appendix B: a verifier and its S256 challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// `/oauth2/authorize?…` for `client_id` with PKCE and `scope` (plus `extra` parameters).
pub fn authorize_path(client_id: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("/oauth2/authorize?{}", q.finish())
}

/// The `code` in a redirect to the client.
pub fn code_from(resp: &reqwest::Response) -> String {
    let callback = url::Url::parse(&location(resp)).expect("a redirect to the client");
    callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {callback}"))
}

/// Exchanges a code with `client_secret_basic`; returns the token response.
pub async fn exchange(
    server: &(impl Site + ?Sized),
    client_id: &str,
    secret: Option<&str>,
    code: &str,
) -> Value {
    reqwest::Client::new()
        .post(server.url("/oauth2/token"))
        .basic_auth(client_id, secret)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json")
}

/// UserInfo for an access token (expects 200).
pub async fn userinfo(server: &(impl Site + ?Sized), access_token: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(server.url("/oauth2/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

/// A whole flow for a signed-in browser (no consent page): the token response.
pub async fn tokens_for(
    server: &(impl Site + ?Sized),
    browser: &reqwest::Client,
    client_id: &str,
    secret: Option<&str>,
    scope: &str,
) -> Value {
    let resp = browser
        .get(server.url(&authorize_path(client_id, scope, &[])))
        .send()
        .await
        .expect("authorize");
    let code = code_from(&resp);
    exchange(server, client_id, secret, &code).await
}

/// Registers a client (first- or third-party) with `REDIRECT`: (client id, secret).
pub async fn register(server: &(impl Site + ?Sized), third_party: bool) -> (String, String) {
    let r = oidc::clients::register_client(
        server.db(),
        server.clock(),
        oidc::clients::ClientRegistration {
            name: "App".into(),
            redirect_uris: vec![REDIRECT.into()],
            third_party,
            ..Default::default()
        },
        store::audit::Actor::Cli,
    )
    .await
    .expect("client");
    (r.client.client_id, r.client_secret.unwrap_or_default())
}

/// A code flow for a signed-in browser (consenting if asked); returns the access token.
pub async fn access_token(
    server: &(impl Site + ?Sized),
    b: &reqwest::Client,
    client: &(String, String),
    scope: &str,
) -> String {
    let path = authorize_path(&client.0, scope, &[]);
    let mut resp = b.get(server.url(&path)).send().await.expect("authorize");
    if resp.status() == 200 {
        let html = resp.text().await.expect("consent");
        let token = super::hidden_field(&html, "csrf_token");
        let request = super::hidden_field(&html, "request");
        resp = b
            .post(server.url("/oauth2/consent"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("request", request.as_str()),
                ("decision", "allow"),
            ])
            .send()
            .await
            .expect("consent");
    }
    let code = code_from(&resp);
    let tokens = exchange(server, &client.0, Some(&client.1), &code).await;
    tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// UserInfo's status for a bearer token.
pub async fn userinfo_status(server: &(impl Site + ?Sized), token: &str) -> u16 {
    reqwest::Client::new()
        .get(server.url("/oauth2/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .expect("userinfo")
        .status()
        .as_u16()
}

/// POSTs a form to the token endpoint (with `client_secret_basic` when given); every answer
/// must be `Cache-Control: no-store`.
pub async fn token_post(
    server: &(impl Site + ?Sized),
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(server.url("/oauth2/token"))
        .form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await.expect("token");
    let status = resp.status().as_u16();
    let cache = resp
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(cache, "no-store");
    (status, resp.json().await.expect("json"))
}

/// The claims of a JWT, unverified (tests read what the server put in).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("claims")
}
