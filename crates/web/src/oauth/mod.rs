//! The OAuth 2.0 / OpenID Connect endpoints: parse, call `oidc`, answer (RFC 6749 JSON errors on
//! the back-channel endpoints, pages for errors the browser sees).

use crate::WebState;
use crate::csrf::{Csrf, CsrfForm};
use crate::render::{PageError, page};
use crate::session_cookie::current_session;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use askama::Template;
use oidc::OAuthError;
use oidc::authorize::{self, AuthorizationRequest, AuthorizeOutcome};
use oidc::client_auth::Method;
use oidc::grants::{self, TokenRequest};
use oidc::revocation::{self, TokenParams};
use oidc::userinfo::{self, UserInfoError};
use serde::Deserialize;

fn cors(builder: &mut HttpResponseBuilder) {
    use actix_web::http::header::{self, HeaderValue};
    // Names and values known at compile time: nothing to parse per response.
    builder
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type"),
        ))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        ))
        .insert_header((
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        ));
}

/// `OPTIONS` on the endpoints browsers call directly.
pub async fn preflight() -> HttpResponse {
    let mut b = HttpResponse::NoContent();
    cors(&mut b);
    b.finish()
}

fn json_response(
    status: StatusCode,
    body: impl actix_web::body::MessageBody + 'static,
    cache: &'static str,
) -> HttpResponse {
    use actix_web::http::header::{self, HeaderValue};
    let mut b = HttpResponseBuilder::new(status);
    cors(&mut b);
    b.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    ))
    .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(cache)))
    .body(body)
}

pub async fn discovery(state: WebState) -> HttpResponse {
    json_response(
        StatusCode::OK,
        state.provider.discovery_json().to_owned(),
        "public, max-age=3600",
    )
}

pub async fn jwks(state: WebState) -> HttpResponse {
    json_response(
        StatusCode::OK,
        state.provider.keys().jwks_json().to_owned(),
        "public, max-age=300",
    )
}

/// An RFC 6749 error response; a failed client authentication is 401, with `WWW-Authenticate`
/// when the client used HTTP Basic.
fn oauth_error(error: &OAuthError, method: Method) -> HttpResponse {
    use oidc::ErrorCode;
    let status = match error.code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut b = HttpResponseBuilder::new(status);
    cors(&mut b);
    if status == StatusCode::UNAUTHORIZED && method == Method::Basic {
        b.insert_header(("WWW-Authenticate", "Basic realm=\"tessera\""));
    }
    b.content_type("application/json")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Pragma", "no-cache"))
        .body(error.to_json().to_string())
}

fn authorization_header(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
}

/// Parses a form body; duplicated or malformed parameters are `invalid_request`.
fn parse_form<T: for<'de> Deserialize<'de>>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, OAuthError> {
    if !is_form(req) {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    serde_urlencoded::from_bytes(body)
        .map_err(|e| OAuthError::invalid_request(format!("malformed parameters: {e}")))
}

pub async fn token(state: WebState, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let params: TokenRequest = match parse_form(&req, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error(&e, Method::None),
    };
    let ip = http_kit::client_ip(&req);
    match grants::exchange(
        &state.provider,
        &state.profiles,
        &state.db,
        state.clock.as_ref(),
        params,
        authorization_header(&req),
        ip.as_deref(),
    )
    .await
    {
        Ok(tokens) => match serde_json::to_string(&tokens) {
            Ok(body) => {
                let mut resp = json_response(StatusCode::OK, body, "no-store");
                resp.headers_mut()
                    .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                resp
            }
            Err(e) => oauth_error(&OAuthError::server_error(e), Method::None),
        },
        Err(e) => {
            let mut resp = oauth_error(&e.error, e.method);
            if let Some(secs) = e.retry_after {
                *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            resp
        }
    }
}

pub async fn revoke(state: WebState, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let params: TokenParams = match parse_form(&req, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error(&e, Method::None),
    };
    match revocation::revoke(
        &state.provider,
        &state.db,
        state.clock.as_ref(),
        params,
        authorization_header(&req),
    )
    .await
    {
        Ok(()) => json_response(StatusCode::OK, "{}", "no-store"),
        Err((e, method)) => oauth_error(&e, method),
    }
}

pub async fn introspect(state: WebState, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let params: TokenParams = match parse_form(&req, &body) {
        Ok(p) => p,
        Err(e) => return oauth_error(&e, Method::None),
    };
    match revocation::introspect(
        &state.provider,
        &state.db,
        state.clock.as_ref(),
        params,
        authorization_header(&req),
    )
    .await
    {
        Ok(v) => json_response(StatusCode::OK, v.to_string(), "no-store"),
        Err((e, method)) => oauth_error(&e, method),
    }
}

#[derive(Deserialize)]
struct AccessTokenForm {
    access_token: Option<String>,
}

fn bearer_error(status: StatusCode, code: &str, description: &str) -> HttpResponse {
    let mut b = HttpResponseBuilder::new(status);
    cors(&mut b);
    let challenge = if code.is_empty() {
        "Bearer realm=\"tessera\"".to_owned()
    } else {
        format!("Bearer realm=\"tessera\", error=\"{code}\", error_description=\"{description}\"")
    };
    b.insert_header(("WWW-Authenticate", challenge))
        .insert_header(("Cache-Control", "no-store"))
        .content_type("application/json")
        .body(serde_json::json!({ "error": if code.is_empty() { "invalid_token" } else { code }, "error_description": description }).to_string())
}

/// `GET`/`POST /oauth2/userinfo`: the token in `Authorization: Bearer` or (POST) the form field
/// `access_token`, not both.
pub async fn userinfo(state: WebState, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let from_header = match http_kit::authorization(&req) {
        http_kit::Authorization::Bearer(token) => Some(token.to_owned()),
        http_kit::Authorization::Missing => None,
        http_kit::Authorization::Other => {
            return bearer_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "use the Bearer scheme",
            );
        }
    };
    let from_body = if !body.is_empty() && is_form(&req) {
        match serde_urlencoded::from_bytes::<AccessTokenForm>(&body) {
            Ok(f) => f.access_token,
            Err(_) => {
                return bearer_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "malformed form body",
                );
            }
        }
    } else {
        None
    };
    let token = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return bearer_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "send the token in one place only",
            );
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            return bearer_error(StatusCode::UNAUTHORIZED, "", "an access token is required");
        }
    };
    match userinfo::userinfo(
        &state.provider,
        &state.profiles,
        &state.db,
        state.clock.as_ref(),
        &token,
    )
    .await
    {
        // Straight into bytes: `to_string` goes through `fmt::Write`, which costs more.
        Ok(claims) => match serde_json::to_vec(&claims) {
            Ok(body) => json_response(StatusCode::OK, body, "no-store"),
            Err(_) => oauth_error(
                &OAuthError::server_error("could not write the claims"),
                Method::None,
            ),
        },
        Err(UserInfoError::InsufficientScope) => bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the token does not carry the openid scope for a user",
        ),
        Err(UserInfoError::Token(oidc::bearer::BearerError::Internal)) => oauth_error(
            &OAuthError::server_error("token check failed"),
            Method::None,
        ),
        Err(UserInfoError::Token(e)) => {
            bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", &e.to_string())
        }
    }
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    csrf_token: String,
    client_name: String,
    scopes: Vec<(String, String)>,
    request: String,
}

fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Sign you in with your Tessera account".into(),
        "profile" => "Your name, nickname, picture and other profile details".into(),
        "email" => "Your email address".into(),
        "phone" => "Your phone number".into(),
        "address" => "Your postal address".into(),
        "offline_access" => "Stay connected when you are not using it".into(),
        "profile:write" => "Change your profile".into(),
        "groups" => "The groups you belong to".into(),
        other => format!("Access “{other}”"),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct AuthorizeErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    back_href: &'a str,
    back_label: &'a str,
}

/// The path and query of this authorization request with `prompt=login|create` and `max_age`
/// removed: where the user comes back to after signing in, so the request is not asked again.
fn return_path(query: &str) -> String {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "max_age")
        .filter_map(|(k, v)| {
            if k == "prompt" {
                let rest: Vec<&str> = v
                    .split(' ')
                    .filter(|p| !p.is_empty() && *p != "login" && *p != "create")
                    .collect();
                (!rest.is_empty()).then(|| (k.into_owned(), rest.join(" ")))
            } else {
                Some((k.into_owned(), v.into_owned()))
            }
        })
        .collect();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("/oauth2/authorize?{q}")
}

async fn run_authorize(
    state: &WebState,
    req: &HttpRequest,
    query: &str,
    consent: Option<bool>,
) -> Result<HttpResponse, PageError> {
    let params = match serde_urlencoded::from_str::<AuthorizationRequest>(query) {
        Ok(p) => p,
        Err(e) => {
            let message = format!("The authorization request is malformed: {e}.");
            let tpl = AuthorizeErrorPage {
                title: "This sign-in request cannot be completed",
                message: &message,
                back_href: "/",
                back_label: "Go to your account",
            };
            return Ok(page(StatusCode::BAD_REQUEST, &tpl, None, state));
        }
    };
    let session = current_session(state, req).await?;
    // A user who still has to prove their email address (or add a second factor the policy
    // asks for) does that first, then comes back.
    if let Some(s) = &session
        && let Some(to) = crate::signed_in::gate_page(
            &crate::signed_in::gate(state, s.user_id).await?,
            &format!("/oauth2/authorize?{query}"),
        )
    {
        return Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, to))
            .insert_header(("Cache-Control", "no-store"))
            .finish());
    }
    let outcome = match consent {
        Some(false) => authorize::deny(&state.provider, &state.db, &params).await,
        _ => {
            authorize::authorize(
                &state.provider,
                &state.db,
                state.clock.as_ref(),
                &params,
                session.as_ref(),
                false,
                consent == Some(true),
            )
            .await
        }
    };
    Ok(match outcome {
        AuthorizeOutcome::Redirect { location } => HttpResponse::Found()
            .insert_header((header::LOCATION, location))
            .insert_header(("Cache-Control", "no-store"))
            .finish(),
        AuthorizeOutcome::ErrorPage { message } => {
            let tpl = AuthorizeErrorPage {
                title: "This sign-in request cannot be completed",
                message: &message,
                back_href: "/",
                back_label: "Go to your account",
            };
            page(StatusCode::BAD_REQUEST, &tpl, None, state)
        }
        AuthorizeOutcome::Login { signup, login_hint } => {
            let mut target = url::form_urlencoded::Serializer::new(String::new());
            target.append_pair("return_to", &return_path(query));
            if let Some(hint) = login_hint.filter(|h| h.len() <= 320) {
                target.append_pair("login_hint", &hint);
            }
            if session.is_some() {
                target.append_pair("prompt", "login");
            }
            let path = if signup { "/signup" } else { "/login" };
            HttpResponse::Found()
                .insert_header((header::LOCATION, format!("{path}?{}", target.finish())))
                .insert_header(("Cache-Control", "no-store"))
                .finish()
        }
        AuthorizeOutcome::SecondFactor => {
            let mut target = url::form_urlencoded::Serializer::new(String::new());
            target.append_pair("return_to", &return_path(query));
            HttpResponse::Found()
                .insert_header((header::LOCATION, format!("/login/mfa?{}", target.finish())))
                .insert_header(("Cache-Control", "no-store"))
                .finish()
        }
        AuthorizeOutcome::Consent {
            client_name,
            scopes,
        } => {
            let csrf = Csrf::for_request(state, req);
            let tpl = ConsentPage {
                csrf_token: csrf.form_token(),
                client_name,
                scopes: scopes
                    .iter()
                    .map(|s| (s.clone(), describe_scope(s)))
                    .collect(),
                request: query.to_owned(),
            };
            page(StatusCode::OK, &tpl, Some(&csrf), state)
        }
    })
}

/// `GET /oauth2/authorize`.
pub async fn authorize_get(state: WebState, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let query = req.query_string().to_owned();
    run_authorize(&state, &req, &query, None).await
}

/// `POST /oauth2/authorize` (form-encoded parameters, OpenID Connect Core §3.1.2.1).
pub async fn authorize_post(
    state: WebState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let query = String::from_utf8_lossy(&body).into_owned();
    run_authorize(&state, &req, &query, None).await
}

#[derive(Debug, Default, Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    decision: String,
}

/// `POST /oauth2/consent`: the user's answer to the consent page.
pub async fn consent(
    state: WebState,
    req: HttpRequest,
    form: CsrfForm<ConsentForm>,
) -> Result<HttpResponse, PageError> {
    let allow = form.decision == "allow";
    run_authorize(&state, &req, &form.request, Some(allow)).await
}

#[cfg(test)]
mod tests {
    use super::return_path;

    #[test]
    fn the_return_path_drops_satisfied_prompts() {
        assert_eq!(
            return_path("client_id=a&prompt=login&max_age=0&state=s"),
            "/oauth2/authorize?client_id=a&state=s"
        );
        assert_eq!(
            return_path("prompt=login+consent&x=1"),
            "/oauth2/authorize?prompt=consent&x=1"
        );
    }
}

#[derive(Template)]
#[template(path = "end_session.html")]
struct EndSessionPage {
    csrf_token: String,
    id_token_hint: String,
    post_logout_redirect_uri: String,
    state: String,
    client_id: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct EndSessionConfirm {
    #[serde(flatten)]
    request: oidc::logout::EndSessionRequest,
}

async fn end_session(
    state: &WebState,
    req: &HttpRequest,
    params: oidc::logout::EndSessionRequest,
    confirmed: bool,
) -> Result<HttpResponse, PageError> {
    let plan = match oidc::logout::check_end_session(
        &state.provider,
        &state.db,
        state.clock.as_ref(),
        &params,
    )
    .await
    {
        Ok(plan) => plan,
        Err(message) => {
            let tpl = AuthorizeErrorPage {
                title: "Sign-out request not accepted",
                message: &message,
                back_href: "/",
                back_label: "Go to your account",
            };
            return Ok(page(StatusCode::BAD_REQUEST, &tpl, None, state));
        }
    };
    let session = current_session(state, req).await?;
    if let Some(session) = &session {
        if !confirmed && plan.hinted_user != Some(session.user_id) {
            // Not sure the request comes from the user's own app: ask first.
            let csrf = Csrf::for_request(state, req);
            let tpl = EndSessionPage {
                csrf_token: csrf.form_token(),
                id_token_hint: params.id_token_hint.clone().unwrap_or_default(),
                post_logout_redirect_uri: params
                    .post_logout_redirect_uri
                    .clone()
                    .unwrap_or_default(),
                state: params.state.clone().unwrap_or_default(),
                client_id: params.client_id.clone().unwrap_or_default(),
            };
            return Ok(page(StatusCode::OK, &tpl, Some(&csrf), state));
        }
        crate::session_cookie::sign_out(state, session, crate::session_cookie::client_ip(req))
            .await?;
    }
    let location = plan
        .redirect
        .unwrap_or_else(|| "/login?signed_out=1".to_owned());
    let mut resp = HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header(("Cache-Control", "no-store"))
        .finish();
    if session.is_some() {
        resp.add_cookie(&crate::session_cookie::removal_cookie(state))?;
    }
    Ok(resp)
}

fn empty_to_none(p: &mut oidc::logout::EndSessionRequest) {
    for field in [
        &mut p.id_token_hint,
        &mut p.post_logout_redirect_uri,
        &mut p.state,
        &mut p.client_id,
    ] {
        if field.as_deref() == Some("") {
            *field = None;
        }
    }
}

/// `GET`/`POST /oauth2/logout`: RP-initiated logout.
pub async fn end_session_request(
    state: WebState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let raw = if req.method() == actix_web::http::Method::POST {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        req.query_string().to_owned()
    };
    let mut params: oidc::logout::EndSessionRequest = match serde_urlencoded::from_str(&raw) {
        Ok(p) => p,
        Err(_) => {
            let tpl = AuthorizeErrorPage {
                title: "Sign-out request not accepted",
                message: "The sign-out request is malformed.",
                back_href: "/",
                back_label: "Go to your account",
            };
            return Ok(page(StatusCode::BAD_REQUEST, &tpl, None, &state));
        }
    };
    empty_to_none(&mut params);
    end_session(&state, &req, params, false).await
}

/// `POST /oauth2/logout/confirm`: the user confirmed signing out.
pub async fn end_session_confirm(
    state: WebState,
    req: HttpRequest,
    form: CsrfForm<EndSessionConfirm>,
) -> Result<HttpResponse, PageError> {
    let mut params = form.into_inner().request;
    empty_to_none(&mut params);
    end_session(&state, &req, params, true).await
}
