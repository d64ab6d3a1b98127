//! The `openidconnect` crate as the relying party: its HTTP client, discovery, and the code flow
//! with PKCE through a cookie-keeping browser that signs in when asked.

use super::{Site, hidden_field, location};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope,
};
use std::future::Future;
use std::pin::Pin;

pub const PASSWORD: &str = "correct horse battery";
pub const REDIRECT: &str = "http://127.0.0.1:1/callback";

pub type HttpFuture =
    Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, reqwest::Error>> + Send>>;

/// The relying party's HTTP client, as the closure `openidconnect` wants.
pub fn rp_http() -> impl Fn(openidconnect::HttpRequest) -> HttpFuture {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    move |req: openidconnect::HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let resp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut out = http::Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                out = out.header(k, v);
            }
            let body = resp.bytes().await?.to_vec();
            Ok(out.body(body).unwrap_or_default())
        })
    }
}

pub struct Registered {
    pub client_id: String,
    pub secret: Option<String>,
}

pub type Rp = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

pub async fn discover(server: &(impl Site + ?Sized), reg: &Registered) -> Rp {
    let http = rp_http();
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.url("")).expect("issuer"),
        &http,
    )
    .await
    .expect("discovery");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(reg.client_id.clone()),
        reg.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("redirect"))
}

/// Follows the browser through the authorization endpoint (signing in when asked) until it is
/// sent back to the client; returns the callback URL.
pub async fn browse_to_callback(
    server: &(impl Site + ?Sized),
    browser: &reqwest::Client,
    start: &str,
    email: &str,
) -> url::Url {
    let mut next = start.to_owned();
    for _ in 0..10 {
        let resp = browser.get(&next).send().await.expect("browse");
        if resp.status().is_redirection() {
            let loc = location(&resp);
            if loc.starts_with(REDIRECT) || loc.starts_with("http://127.0.0.1:1/") {
                return url::Url::parse(&loc).expect("callback");
            }
            next = if loc.starts_with('/') {
                server.url(&loc)
            } else {
                loc
            };
            continue;
        }
        let html = resp.text().await.expect("page");
        assert!(
            html.contains("name=\"login_id\""),
            "expected the login form, got:\n{html}"
        );
        let token = hidden_field(&html, "csrf_token");
        let return_to = hidden_field(&html, "return_to");
        let resp = browser
            .post(server.url("/login"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("login_id", email),
                ("password", PASSWORD),
                ("return_to", return_to.as_str()),
            ])
            .send()
            .await
            .expect("login");
        assert_eq!(resp.status(), 303, "login failed");
        next = server.url(&location(&resp));
    }
    panic!("too many redirects");
}

pub fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub struct Flow {
    pub code: String,
    pub verifier: PkceCodeVerifier,
    pub nonce: Nonce,
}

pub async fn start_flow(
    server: &(impl Site + ?Sized),
    rp: &Rp,
    browser: &reqwest::Client,
    email: &str,
) -> Flow {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let callback = browse_to_callback(server, browser, auth_url.as_str(), email).await;
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query_param(&callback, "iss").as_deref(),
        Some(server.url("").as_str())
    );
    let code = query_param(&callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));
    Flow {
        code,
        verifier,
        nonce,
    }
}

/// Redeems a flow's code with its PKCE verifier.
pub async fn exchange(rp: &Rp, flow: &Flow) -> openidconnect::core::CoreTokenResponse {
    rp.exchange_code(AuthorizationCode::new(flow.code.clone()))
        .expect("token endpoint")
        .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.secret().clone()))
        .request_async(&rp_http())
        .await
        .expect("code exchange")
}
