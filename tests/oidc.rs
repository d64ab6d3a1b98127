//! End-to-end OpenID Connect flows against a listening server, with the `openidconnect` crate as
//! the relying party and a cookie-keeping HTTP client as the browser.

mod common;

use common::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    RefreshToken, Scope, TokenResponse,
};
use store::audit::Actor;

use common::flows::{token_post, userinfo_status};
use common::rp::{
    PASSWORD, REDIRECT, Registered, discover, exchange, query_param, rp_http, start_flow,
};

async fn register(
    server: &TestServer,
    public: bool,
    third_party: bool,
    grants: &[&str],
) -> Registered {
    let registered = oidc::clients::register_client(
        server.db(),
        server.clock.as_ref(),
        oidc::clients::ClientRegistration {
            name: "Test RP".into(),
            redirect_uris: vec![REDIRECT.into()],
            public,
            third_party,
            grant_types: grants.iter().map(|g| g.to_string()).collect(),
            post_logout_redirect_uris: vec!["http://127.0.0.1:1/bye".into()],
            ..Default::default()
        },
        Actor::Cli,
    )
    .await
    .expect("register client");
    Registered {
        client_id: registered.client.client_id,
        secret: registered.client_secret,
    }
}

async fn signed_up_browser(server: &TestServer, email: &str) -> reqwest::Client {
    let b = browser();
    assert_eq!(sign_up(server, &b, email, PASSWORD).await.status(), 303);
    b
}

#[tokio::test]
async fn code_flow_with_pkce_id_token_userinfo_and_refresh_rotation() {
    let server = TestServer::start().await;
    let reg = register(&server, false, false, &[]).await;
    let rp = discover(&server, &reg).await;
    let http = rp_http();
    // The user is not signed in: the flow goes through the login page and comes back.
    let b = browser();
    assert_eq!(
        sign_up(&server, &b, "ola@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let b = browser();
    let flow = start_flow(&server, &rp, &b, "ola@example.com").await;

    let tokens = rp
        .exchange_code(AuthorizationCode::new(flow.code.clone()))
        .expect("token endpoint")
        .set_pkce_verifier(flow.verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("id_token");
    let verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &flow.nonce)
        .expect("valid ID token");
    assert_eq!(claims.issuer().as_str(), server.base);
    assert!(claims.auth_time().is_some());
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&verifier).expect("key"),
    )
    .expect("hash");
    assert_eq!(&actual, expected);
    let raw: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            id_token.to_string().split('.').nth(1).unwrap_or_default(),
        )
        .expect("b64"),
    )
    .expect("json");
    assert!(raw["sid"].is_string(), "sid in the ID token: {raw}");

    // The access token is an RFC 9068 JWT.
    let at = tokens.access_token().secret().clone();
    let header = jsonwebtoken_header(&at);
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].is_string());

    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), None)
        .expect("userinfo endpoint")
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.email().map(|e| e.as_str()), Some("ola@example.com"));
    assert_eq!(
        info.email_verified(),
        Some(false),
        "not verified until a code proves it"
    );

    // Refresh rotates: the new token works, the old one is refused and revokes the grant.
    let refresh = tokens.refresh_token().expect("refresh token").clone();
    let refreshed = rp
        .exchange_refresh_token(&refresh)
        .expect("endpoint")
        .request_async(&http)
        .await
        .expect("refresh");
    let rotated = refreshed.refresh_token().expect("rotated").clone();
    assert_ne!(rotated.secret(), refresh.secret());
    assert_eq!(
        userinfo_status(&server, refreshed.access_token().secret()).await,
        200
    );
    let reuse = rp
        .exchange_refresh_token(&refresh)
        .expect("endpoint")
        .request_async(&http)
        .await;
    assert!(reuse.is_err(), "a used refresh token is refused");
    // Reuse revoked the whole grant: the rotated token and every access token die with it.
    let (status, body) = token_post(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rotated.secret()),
        ],
        Some((&reg.client_id, reg.secret.as_deref().unwrap_or(""))),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo_status(&server, refreshed.access_token().secret()).await,
        401
    );
    assert_eq!(userinfo_status(&server, &at).await, 401);
}

fn jsonwebtoken_header(jwt: &str) -> serde_json::Value {
    let part = jwt.split('.').next().unwrap_or_default();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, part)
        .expect("b64");
    serde_json::from_slice(&bytes).expect("header json")
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_it_issued() {
    let server = TestServer::start().await;
    let reg = register(&server, false, false, &[]).await;
    let rp = discover(&server, &reg).await;
    let b = signed_up_browser(&server, "pat@example.com").await;
    let flow = start_flow(&server, &rp, &b, "pat@example.com").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", flow.code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", flow.verifier.secret().as_str()),
    ];
    let basic = Some((reg.client_id.as_str(), reg.secret.as_deref().unwrap_or("")));
    let (status, first) = token_post(&server, &form, basic).await;
    assert_eq!(status, 200, "{first}");
    let at = first["access_token"].as_str().expect("at").to_owned();
    assert_eq!(userinfo_status(&server, &at).await, 200);
    let (status, second) = token_post(&server, &form, basic).await;
    assert_eq!(
        (status, second["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        userinfo_status(&server, &at).await,
        401,
        "the replay revoked the first tokens"
    );
    let rt = first["refresh_token"].as_str().expect("rt");
    let (status, _) = token_post(
        &server,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        basic,
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn token_endpoint_refuses_bad_verifiers_redirects_and_clients() {
    let server = TestServer::start().await;
    let reg = register(&server, false, false, &[]).await;
    let rp = discover(&server, &reg).await;
    let b = signed_up_browser(&server, "quin@example.com").await;
    let secret = reg.secret.clone().unwrap_or_default();
    let basic = Some((reg.client_id.as_str(), secret.as_str()));

    let flow = start_flow(&server, &rp, &b, "quin@example.com").await;
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("grant_type", "authorization_code"),
            ("code", &flow.code),
            ("redirect_uri", REDIRECT),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", &flow.code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "x".repeat(50).leak()),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", &flow.code),
            ("redirect_uri", "http://127.0.0.1:1/other"),
            ("code_verifier", flow.verifier.secret()),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", "nonsense"),
            ("redirect_uri", REDIRECT),
        ],
    ];
    for form in &cases {
        let (status, body) = token_post(&server, form, basic).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{form:?}: {body}"
        );
    }
    // Bad client credentials are 401 with a Basic challenge.
    let resp = reqwest::Client::new()
        .post(server.url("/oauth2/token"))
        .basic_auth(&reg.client_id, Some("wrong"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("www-authenticate").is_some());
    assert_eq!(
        resp.json::<serde_json::Value>().await.expect("json")["error"],
        "invalid_client"
    );
    // Malformed requests are RFC 6749 errors, never 5xx.
    for (form, error) in [
        (vec![("code", "x")], "invalid_request"),
        (vec![("grant_type", "password")], "unsupported_grant_type"),
        (
            vec![("grant_type", "client_credentials")],
            "unauthorized_client",
        ),
    ] {
        let (status, body) = token_post(&server, &form, basic).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{form:?}"
        );
    }
    let resp = reqwest::Client::new()
        .post(server.url("/oauth2/token"))
        .header("content-type", "application/json")
        .body("{\"grant_type\":\"authorization_code\"}")
        .send()
        .await
        .expect("json body");
    assert_eq!(resp.status(), 400);
    // The genuine exchange still works after all that (the failures did not consume the code).
    let (status, body) = token_post(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &flow.code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", flow.verifier.secret()),
        ],
        basic,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn authorization_errors_pages_and_redirects() {
    let server = TestServer::start().await;
    let public = register(&server, true, false, &[]).await;
    let b = signed_up_browser(&server, "ray@example.com").await;
    let authorize = |q: &str| server.url(&format!("/oauth2/authorize?{q}"));

    // An unregistered redirect_uri or client is a page, never a redirect.
    for q in [
        format!(
            "response_type=code&client_id={}&redirect_uri=https://evil.example/cb&scope=openid",
            public.client_id
        ),
        "response_type=code&client_id=unknown&redirect_uri=http://127.0.0.1:1/callback".to_owned(),
        "response_type=code".to_owned(),
    ] {
        let resp = b.get(authorize(&q)).send().await.expect("authorize");
        assert_eq!(resp.status(), 400, "{q}");
        assert!(resp.headers().get("location").is_none());
    }
    // A public client without PKCE gets invalid_request at its redirect URI.
    let resp = b
        .get(authorize(&format!(
            "response_type=code&client_id={}&redirect_uri={REDIRECT}&scope=openid&state=s1",
            public.client_id
        )))
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), 302);
    let loc = url::Url::parse(&location(&resp)).expect("url");
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s1"));
    // plain PKCE is refused too.
    let resp = b
        .get(authorize(&format!("response_type=code&client_id={}&redirect_uri={REDIRECT}&scope=openid&code_challenge={}&code_challenge_method=plain", public.client_id, "a".repeat(43))))
        .send()
        .await
        .expect("authorize");
    assert_eq!(
        query_param(&url::Url::parse(&location(&resp)).expect("url"), "error").as_deref(),
        Some("invalid_request")
    );
    // Unsupported response types.
    let resp = b
        .get(authorize(&format!(
            "response_type=token&client_id={}&redirect_uri={REDIRECT}",
            public.client_id
        )))
        .send()
        .await
        .expect("authorize");
    assert_eq!(
        query_param(&url::Url::parse(&location(&resp)).expect("url"), "error").as_deref(),
        Some("unsupported_response_type")
    );

    // prompt=none without a session: login_required, sent back to the client.
    let anonymous = browser();
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let resp = anonymous
        .get(authorize(&format!("response_type=code&client_id={}&redirect_uri={REDIRECT}&scope=openid&prompt=none&state=z&code_challenge={challenge}&code_challenge_method=S256", public.client_id)))
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), 302);
    let loc = url::Url::parse(&location(&resp)).expect("url");
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("login_required")
    );
    assert_eq!(query_param(&loc, "state").as_deref(), Some("z"));

    // prompt=login with a session goes to the login form again.
    let resp = b
        .get(authorize(&format!("response_type=code&client_id={}&redirect_uri={REDIRECT}&scope=openid&prompt=login&code_challenge={challenge}&code_challenge_method=S256", public.client_id)))
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), 302);
    let loc = location(&resp);
    assert!(
        loc.starts_with("/login?") && loc.contains("prompt=login"),
        "{loc}"
    );
    assert!(
        !loc.contains("prompt%3Dlogin"),
        "the return path drops prompt=login: {loc}"
    );
}

#[tokio::test]
async fn public_client_with_pkce_and_no_secret() {
    let server = TestServer::start().await;
    let reg = register(&server, true, false, &[]).await;
    let rp = discover(&server, &reg).await;
    let b = signed_up_browser(&server, "sam@example.com").await;
    let flow = start_flow(&server, &rp, &b, "sam@example.com").await;
    let tokens = exchange(&rp, &flow).await;
    tokens
        .id_token()
        .expect("id token")
        .claims(&rp.id_token_verifier(), &flow.nonce)
        .expect("valid");
}

#[tokio::test]
async fn third_party_clients_ask_for_consent_once() {
    let server = TestServer::start().await;
    let reg = register(&server, false, true, &[]).await;
    let rp = discover(&server, &reg).await;
    let b = signed_up_browser(&server, "tia@example.com").await;
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, _) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let page = b.get(auth_url.as_str()).send().await.expect("authorize");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("consent page");
    assert!(
        html.contains("Allow Test RP to use your account?"),
        "{html}"
    );
    assert!(html.contains("data-scope=\"email\""));
    let request = hidden_field(&html, "request");
    let token = hidden_field(&html, "csrf_token");

    // Denying sends access_denied back.
    let resp = b
        .post(server.url("/oauth2/consent"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("request", request.as_str()),
            ("decision", "deny"),
        ])
        .send()
        .await
        .expect("deny");
    let loc = url::Url::parse(&location(&resp)).expect("url");
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    // A forged consent post is refused.
    let resp = b
        .post(server.url("/oauth2/consent"))
        .form(&[
            ("csrf_token", "forged"),
            ("request", request.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .expect("forged");
    assert_eq!(resp.status(), 403);
    // Allowing gives a code, and is remembered.
    let resp = b
        .post(server.url("/oauth2/consent"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("request", request.as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .expect("allow");
    let loc = url::Url::parse(&location(&resp)).expect("url");
    assert!(query_param(&loc, "code").is_some(), "{loc}");
    let again = b
        .get(auth_url.as_str())
        .send()
        .await
        .expect("authorize again");
    assert_eq!(again.status(), 302, "consent is remembered");
    // prompt=none with consent granted works; prompt=consent asks again.
    let resp = b
        .get(format!("{auth_url}&prompt=consent"))
        .send()
        .await
        .expect("prompt consent");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn client_credentials_introspection_and_revocation() {
    let server = TestServer::start().await;
    let m2m = oidc::clients::register_client(
        server.db(),
        server.clock.as_ref(),
        oidc::clients::ClientRegistration {
            name: "Batch".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["api:read".into(), "api:write".into()],
            ..Default::default()
        },
        Actor::Cli,
    )
    .await
    .expect("register");
    let id = m2m.client.client_id.clone();
    let secret = m2m.client_secret.clone().unwrap_or_default();
    // client_secret_post this time.
    let (status, body) = token_post(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "api:read"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "api:read");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let at = body["access_token"].as_str().expect("at").to_owned();
    let (status, body) = token_post(
        &server,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    let introspect = |token: String| {
        let url = server.url("/oauth2/introspect");
        let (id, secret) = (id.clone(), secret.clone());
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .expect("introspect")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let info = introspect(at.clone()).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], id.as_str());
    assert_eq!(info["scope"], "api:read");
    // UserInfo is for users, not machines.
    assert_eq!(userinfo_status(&server, &at).await, 403);

    let resp = reqwest::Client::new()
        .post(server.url("/oauth2/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), 200);
    assert_eq!(introspect(at.clone()).await["active"], false);
    assert_eq!(introspect("garbage".into()).await["active"], false);
    // Unknown tokens revoke "successfully" (RFC 7009).
    let resp = reqwest::Client::new()
        .post(server.url("/oauth2/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", "unknown")])
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn revoked_tokens_die_at_once_and_rotated_keys_keep_old_tokens_valid() {
    let server = TestServer::start().await;
    let reg = register(&server, false, false, &[]).await;
    let rp = discover(&server, &reg).await;
    let http = rp_http();
    let b = signed_up_browser(&server, "uma@example.com").await;
    let flow = start_flow(&server, &rp, &b, "uma@example.com").await;
    let tokens = exchange(&rp, &flow).await;
    let at = tokens.access_token().secret().clone();
    let old_kid = jsonwebtoken_header(&at)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Rotate the keys (as `tessera keys rotate` does from another process).
    let settings = server.config.provider_settings().expect("settings");
    let new_kids = oidc::provider::rotate_keys(server.db(), server.clock.as_ref(), &settings)
        .await
        .expect("rotate");
    // The running server still accepts the old token, and learns the new keys.
    assert_eq!(userinfo_status(&server, &at).await, 200);
    server.clock.advance(chrono::Duration::seconds(6));
    let refreshed = rp
        .exchange_refresh_token(tokens.refresh_token().expect("rt"))
        .expect("endpoint")
        .request_async(&http)
        .await
        .expect("refresh after rotation");
    let jwks: serde_json::Value = reqwest::get(server.url("/oauth2/jwks"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()),
        "the old key stays published: {kids:?}"
    );
    let _ = new_kids;
    assert_eq!(
        userinfo_status(&server, refreshed.access_token().secret()).await,
        200
    );

    // Revoking the access token ends it immediately; the refresh token revokes the grant.
    let secret = reg.secret.clone().unwrap_or_default();
    let revoke = |token: String| {
        let url = server.url("/oauth2/revoke");
        let (id, secret) = (reg.client_id.clone(), secret.clone());
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .expect("revoke")
                .status()
        }
    };
    let at2 = refreshed.access_token().secret().clone();
    assert_eq!(revoke(at.clone()).await, 200);
    assert_eq!(userinfo_status(&server, &at).await, 401);
    assert_eq!(
        userinfo_status(&server, &at2).await,
        200,
        "other tokens live on"
    );
    let rt = refreshed.refresh_token().expect("rt").secret().clone();
    assert_eq!(revoke(rt.clone()).await, 200);
    assert_eq!(
        userinfo_status(&server, &at2).await,
        401,
        "revoking the refresh token ends the grant"
    );
    let again = rp
        .exchange_refresh_token(&RefreshToken::new(rt))
        .expect("endpoint")
        .request_async(&http)
        .await;
    assert!(again.is_err());

    // UserInfo: tokens in the form body work; bad tokens get WWW-Authenticate.
    let resp = reqwest::Client::new()
        .get(server.url("/oauth2/userinfo"))
        .bearer_auth("not.a.token")
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), 401);
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("invalid_token"),
        "{challenge}"
    );
    let resp = reqwest::Client::new()
        .get(server.url("/oauth2/userinfo"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn logout_ends_the_refresh_tokens_of_its_session() {
    let server = TestServer::start().await;
    let reg = register(&server, false, false, &[]).await;
    let rp = discover(&server, &reg).await;
    let b = signed_up_browser(&server, "val@example.com").await;
    let flow = start_flow(&server, &rp, &b, "val@example.com").await;
    let tokens = exchange(&rp, &flow).await;
    let home = b
        .get(server.url("/settings"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("body");
    let token = hidden_field(&home, "csrf_token");
    b.post(server.url("/logout"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(
        userinfo_status(&server, tokens.access_token().secret()).await,
        401
    );
    let refresh = rp
        .exchange_refresh_token(tokens.refresh_token().expect("rt"))
        .expect("endpoint")
        .request_async(&rp_http())
        .await;
    assert!(refresh.is_err());
}

#[tokio::test]
async fn rp_initiated_logout_with_back_channel_notification() {
    let server = TestServer::start().await;
    let (bc_url, received) = common::peers::http_collector("/backchannel").await;
    let registered = oidc::clients::register_client(
        server.db(),
        server.clock.as_ref(),
        oidc::clients::ClientRegistration {
            name: "Logout RP".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec!["http://127.0.0.1:1/bye".into()],
            backchannel_logout_uri: Some(bc_url),
            ..Default::default()
        },
        Actor::Cli,
    )
    .await
    .expect("register");
    let reg = Registered {
        client_id: registered.client.client_id,
        secret: registered.client_secret,
    };
    let rp = discover(&server, &reg).await;
    let b = signed_up_browser(&server, "wes@example.com").await;
    let flow = start_flow(&server, &rp, &b, "wes@example.com").await;
    let tokens = exchange(&rp, &flow).await;
    let id_token = tokens.id_token().expect("id token").to_string();
    let sid = {
        let part = id_token.split('.').nth(1).unwrap_or_default();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, part)
                .expect("b64"),
        )
        .expect("json");
        claims["sid"].as_str().unwrap_or_default().to_owned()
    };

    // An unregistered post-logout URI is refused with a page; the session stays.
    let resp = b
        .get(server.url("/oauth2/logout"))
        .query(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ])
        .send()
        .await
        .expect("end session");
    assert_eq!(resp.status(), 400);
    assert!(signed_in_as(&server, &b).await.is_some());

    // Without a hint the user is asked to confirm.
    let resp = b
        .get(server.url("/oauth2/logout"))
        .send()
        .await
        .expect("end session");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("Sign out of Tessera?")
    );
    assert!(signed_in_as(&server, &b).await.is_some());

    // With the ID token as hint: signed out, sent back with state, and the client is told.
    let resp = b
        .get(server.url("/oauth2/logout"))
        .query(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "http://127.0.0.1:1/bye"),
            ("state", "st4te"),
        ])
        .send()
        .await
        .expect("end session");
    assert_eq!(resp.status(), 302);
    assert_eq!(location(&resp), "http://127.0.0.1:1/bye?state=st4te");
    assert_eq!(signed_in_as(&server, &b).await, None);
    assert_eq!(
        userinfo_status(&server, tokens.access_token().secret()).await,
        401
    );

    let body = common::peers::first_body(&received).await;
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .expect("logout_token");
    assert_eq!(jsonwebtoken_header(&token)["typ"], "logout+jwt");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).unwrap_or_default(),
        )
        .expect("b64"),
    )
    .expect("json");
    assert_eq!(claims["aud"], reg.client_id.as_str());
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["iss"], server.base.as_str());
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
}

#[tokio::test]
async fn two_servers_on_one_database_act_as_one() {
    let a = TestServer::start().await;
    let b = TestServer::start_sharing(&a).await;
    let reg = register(&a, false, false, &[]).await;
    let rp = discover(&a, &reg).await;
    let user = signed_up_browser(&a, "xan@example.com").await;

    // The session made on A is good on B (same cookie, other process).
    let home = user
        .get(b.url("/settings"))
        .send()
        .await
        .expect("home on B");
    assert_eq!(home.status(), 200);

    let flow = start_flow(&a, &rp, &user, "xan@example.com").await;
    let tokens = exchange(&rp, &flow).await;
    // B shares A's keys: it accepts A's access token and refreshes A's refresh token.
    let resp = reqwest::Client::new()
        .get(b.url("/oauth2/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .expect("userinfo on B");
    assert_eq!(resp.status(), 200);
    let secret = reg.secret.clone().unwrap_or_default();
    let refresh = |base: String, rt: String| {
        let (id, secret) = (reg.client_id.clone(), secret.clone());
        async move {
            let resp = reqwest::Client::new()
                .post(format!("{base}/oauth2/token"))
                .basic_auth(id, Some(secret))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                ])
                .send()
                .await
                .expect("refresh");
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.expect("json"),
            )
        }
    };
    let rt = tokens.refresh_token().expect("rt").secret().clone();
    let (status, on_b) = refresh(b.base.clone(), rt.clone()).await;
    assert_eq!(status, 200, "{on_b}");
    // Reuse detection holds across processes: the same token on A revokes the grant.
    let (status, _) = refresh(a.base.clone(), rt).await;
    assert_eq!(status, 400);
    let rotated = on_b["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, _) = refresh(b.base.clone(), rotated).await;
    assert_eq!(status, 400, "the grant is revoked for both servers");

    // A key rotation made through one server's database reaches the other's signing.
    let settings = a.config.provider_settings().expect("settings");
    let new_kids = oidc::provider::rotate_keys(a.db(), a.clock.as_ref(), &settings)
        .await
        .expect("rotate");
    let jwks: serde_json::Value = reqwest::get(b.url("/oauth2/jwks"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let before: Vec<String> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect();
    assert!(
        !new_kids.iter().all(|k| before.contains(k)),
        "B has not reloaded yet"
    );
    // A token B has never seen signed by the new key makes B reload (rate-limited by B's clock).
    let fresh = TestServer::start_sharing(&a).await;
    let m2m = oidc::clients::register_client(
        a.db(),
        a.clock.as_ref(),
        oidc::clients::ClientRegistration {
            name: "m2m".into(),
            grant_types: vec!["client_credentials".into()],
            ..Default::default()
        },
        Actor::Cli,
    )
    .await
    .expect("register");
    let resp: serde_json::Value = reqwest::Client::new()
        .post(fresh.url("/oauth2/token"))
        .basic_auth(&m2m.client.client_id, m2m.client_secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token on the fresh server")
        .json()
        .await
        .expect("json");
    let at = resp["access_token"].as_str().expect("at").to_owned();
    let kid = jsonwebtoken_header(&at)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        new_kids.contains(&kid),
        "a server started after the rotation signs with the new key"
    );
    b.clock.advance(chrono::Duration::seconds(10));
    let info = reqwest::Client::new()
        .post(b.url("/oauth2/introspect"))
        .basic_auth(&m2m.client.client_id, m2m.client_secret.as_deref())
        .form(&[("token", at.as_str())])
        .send()
        .await
        .expect("introspect on B")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    assert_eq!(
        info["active"], true,
        "B learnt the new key on meeting its kid: {info}"
    );
}

#[tokio::test]
async fn max_age_prompt_create_login_hint_form_userinfo_cors_and_audit() {
    let server = TestServer::start().await;
    let reg = register(&server, false, false, &[]).await;
    let b = signed_up_browser(&server, "yul@example.com").await;
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let base = format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={REDIRECT}&scope=openid&code_challenge={challenge}&code_challenge_method=S256",
        reg.client_id
    );

    // max_age: a sign-in older than max_age sends the user to sign in again.
    let resp = b
        .get(server.url(&format!("{base}&max_age=60")))
        .send()
        .await
        .expect("authorize");
    assert!(
        location(&resp).starts_with(REDIRECT),
        "a fresh sign-in satisfies max_age"
    );
    server.clock.advance(chrono::Duration::seconds(120));
    let resp = b
        .get(server.url(&format!("{base}&max_age=60")))
        .send()
        .await
        .expect("authorize");
    let loc = location(&resp);
    assert!(
        loc.starts_with("/login?") && loc.contains("prompt=login"),
        "{loc}"
    );
    assert!(
        !loc.contains("max_age"),
        "the return path drops max_age: {loc}"
    );
    let resp = b
        .get(server.url(&format!("{base}&max_age=60&prompt=none")))
        .send()
        .await
        .expect("authorize");
    assert!(location(&resp).contains("error=login_required"));

    // prompt=create goes to the sign-up page; login_hint fills the login form.
    let anonymous = browser();
    let resp = anonymous
        .get(server.url(&format!("{base}&prompt=create")))
        .send()
        .await
        .expect("authorize");
    assert!(
        location(&resp).starts_with("/signup?"),
        "{}",
        location(&resp)
    );
    let resp = anonymous
        .get(server.url(&format!("{base}&login_hint=yul%40example.com")))
        .send()
        .await
        .expect("authorize");
    let login_page = anonymous
        .get(server.url(&location(&resp)))
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("html");
    assert!(
        login_page.contains("value=\"yul@example.com\""),
        "login_hint prefills the form"
    );

    // UserInfo with the token in a form body; CORS headers for browser clients.
    let resp = b.get(server.url(&base)).send().await.expect("authorize");
    let code = query_param(&url::Url::parse(&location(&resp)).expect("url"), "code").expect("code");
    let (status, tokens) = token_post(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            ),
        ],
        Some((&reg.client_id, reg.secret.as_deref().unwrap_or(""))),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let at = tokens["access_token"].as_str().expect("at");
    let resp = reqwest::Client::new()
        .post(server.url("/oauth2/userinfo"))
        .header("origin", "https://spa.example")
        .form(&[("access_token", at)])
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );
    let resp = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, server.url("/oauth2/token"))
        .header("origin", "https://spa.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(resp.status().is_success());
    assert!(resp.headers().get("access-control-allow-methods").is_some());
    // Both header and body: refused.
    let resp = reqwest::Client::new()
        .post(server.url("/oauth2/userinfo"))
        .bearer_auth(at)
        .form(&[("access_token", at)])
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), 400);

    // Token failures and refresh-token reuse are in the audit log.
    let rt = tokens["refresh_token"].as_str().expect("rt");
    let basic = Some((reg.client_id.as_str(), reg.secret.as_deref().unwrap_or("")));
    assert_eq!(
        token_post(
            &server,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            basic
        )
        .await
        .0,
        200
    );
    assert_eq!(
        token_post(
            &server,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            basic
        )
        .await
        .0,
        400
    );
    let (status, _) = token_post(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("redirect_uri", REDIRECT),
        ],
        basic,
    )
    .await;
    assert_eq!(status, 400);
    let events = store::audit::latest(server.db(), 20).await.expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"refresh_token.reused"), "{kinds:?}");
    let failure = events
        .iter()
        .find(|e| e.kind == "token.failed")
        .expect("token failure");
    assert_eq!(failure.detail["error"], "invalid_grant");
    assert!(
        !failure
            .detail
            .to_string()
            .contains(reg.secret.as_deref().unwrap_or("-")),
        "no secrets in the log"
    );

    // The reuse revoked the grant, and with it the access tokens already checked.
    assert_eq!(userinfo_status(&server, at).await, 401);
}

#[tokio::test]
async fn checked_tokens_still_expire() {
    let server = TestServer::start().await;
    let reg = register(&server, false, false, &[]).await;
    let rp = discover(&server, &reg).await;
    let b = signed_up_browser(&server, "zed@example.com").await;
    let flow = start_flow(&server, &rp, &b, "zed@example.com").await;
    let tokens = exchange(&rp, &flow).await;
    let at = tokens.access_token().secret().clone();
    assert_eq!(userinfo_status(&server, &at).await, 200);
    assert_eq!(
        userinfo_status(&server, &at).await,
        200,
        "served from the checked-token cache"
    );
    server.clock.advance(chrono::Duration::seconds(601));
    assert_eq!(userinfo_status(&server, &at).await, 401);
    // A token that differs in one character of its signature is checked, and refused.
    let mut forged = at.clone();
    let last = forged.pop().unwrap_or('A');
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(userinfo_status(&server, &forged).await, 401);
}
