//! Sign-up, sign-in, sign-out and the account page.

use crate::WebState;
use crate::csrf::{Csrf, CsrfForm};
use crate::render::{PageError, minutes, page, see_other, with_retry_after};
use crate::session_cookie::{self, client_ip, current_session};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth::accounts::{self, LoginAttempt, LoginError, SignUp, SignUpError};
use profile::Actor;
use serde::Deserialize;

/// Where to go after signing in: a local path only, never another site.
pub(crate) fn safe_return_to(raw: Option<&str>) -> Option<String> {
    let r = raw?.trim();
    let local = r.starts_with('/')
        && !r.starts_with("//")
        && !r.starts_with("/\\")
        && r.len() <= 4096
        && !r.chars().any(|c| c.is_control());
    local.then(|| r.to_owned())
}

fn return_query(return_to: &Option<String>) -> String {
    match return_to {
        Some(r) => format!(
            "?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", r)
                .finish()
        ),
        None => String::new(),
    }
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    return_to: Option<String>,
    signed_out: Option<String>,
    /// `login`: show the form even to a signed-in user (OpenID `prompt=login`, `max_age`).
    prompt: Option<String>,
    password_reset: Option<String>,
    login_hint: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    login_id: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    return_to: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf_token: String,
    return_to: String,
    return_query: String,
    login_id: String,
    error: Option<String>,
    notice: Option<String>,
    /// "Sign in with …" buttons: (link, provider name).
    upstreams: Vec<(String, String)>,
}

/// The "Sign in with …" links of the configured upstream providers: (link, provider name).
fn upstream_links(state: &WebState, query: &str) -> Vec<(String, String)> {
    state
        .upstreams
        .settings()
        .map(|u| (format!("/login/upstream/{}{query}", u.id), u.name.clone()))
        .collect()
}

impl LoginPage {
    fn new(state: &WebState, csrf: &Csrf, return_to: &Option<String>) -> Self {
        let query = return_query(return_to);
        Self {
            csrf_token: csrf.form_token(),
            return_to: return_to.clone().unwrap_or_default(),
            upstreams: upstream_links(state, &query),
            return_query: query,
            login_id: String::new(),
            error: None,
            notice: None,
        }
    }
}

pub async fn login_form(
    state: WebState,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let force = query.prompt.as_deref() == Some("login");
    if !force && current_session(&state, &req).await?.is_some() {
        return Ok(see_other(return_to.as_deref().unwrap_or("/")));
    }
    let csrf = Csrf::for_request(&state, &req);
    let mut tpl = LoginPage::new(&state, &csrf, &return_to);
    if let Some(hint) = &query.login_hint {
        tpl.login_id = hint.chars().take(320).collect();
    }
    if query.signed_out.is_some() {
        tpl.notice = Some("You have signed out.".into());
    }
    if query.password_reset.is_some() {
        tpl.notice = Some("Your password was changed. Sign in with the new one.".into());
    }
    Ok(page(StatusCode::OK, &tpl, Some(&csrf), &state))
}

pub async fn login(
    state: WebState,
    req: HttpRequest,
    form: CsrfForm<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let return_to = safe_return_to(Some(&form.return_to));
    let attempt = LoginAttempt {
        login_id: form.login_id.clone(),
        password: form.password,
        ip: client_ip(&req),
        enabled: state.login_ids,
    };
    match accounts::authenticate(
        &state.db,
        state.clock.as_ref(),
        &state.hasher,
        &state.brute_force,
        attempt,
    )
    .await
    {
        Ok(user_id) => {
            session_cookie::start_and_redirect(
                &state,
                &req,
                user_id,
                return_to.as_deref().unwrap_or("/"),
            )
            .await
        }
        Err(LoginError::Internal(e)) => Err(e.into()),
        Err(LoginError::Locked(lock)) => {
            let wait = lock.retry_after(state.clock.now());
            let csrf = Csrf::for_request(&state, &req);
            let mut tpl = LoginPage::new(&state, &csrf, &return_to);
            tpl.login_id = form.login_id.chars().take(320).collect();
            tpl.error = Some(format!(
                "Too many failed attempts. Try again in {}.",
                minutes(wait)
            ));
            let resp = page(StatusCode::TOO_MANY_REQUESTS, &tpl, Some(&csrf), &state);
            Ok(with_retry_after(resp, wait))
        }
        Err(e @ (LoginError::InvalidCredentials | LoginError::Disabled)) => {
            let status = match e {
                LoginError::Disabled => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            let csrf = Csrf::for_request(&state, &req);
            let mut tpl = LoginPage::new(&state, &csrf, &return_to);
            tpl.login_id = form.login_id.chars().take(320).collect();
            tpl.error = Some(e.to_string());
            Ok(page(status, &tpl, Some(&csrf), &state))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    return_to: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage {
    csrf_token: String,
    return_to: String,
    return_query: String,
    email: String,
    email_error: Option<String>,
    password_error: Option<String>,
    error: Option<String>,
    min_length: usize,
    max_length: usize,
    /// Signing up with an upstream provider: (link, provider name).
    upstreams: Vec<(String, String)>,
}

impl SignUpPage {
    fn new(state: &WebState, csrf: &Csrf, return_to: &Option<String>) -> Self {
        let query = return_query(return_to);
        Self {
            csrf_token: csrf.form_token(),
            return_to: return_to.clone().unwrap_or_default(),
            upstreams: upstream_links(state, &query),
            return_query: query,
            email: String::new(),
            email_error: None,
            password_error: None,
            error: None,
            min_length: state.password_policy.min_length,
            max_length: state.password_policy.max_length,
        }
    }
}

pub async fn signup_form(
    state: WebState,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    if current_session(&state, &req).await?.is_some() {
        return Ok(see_other(return_to.as_deref().unwrap_or("/")));
    }
    let csrf = Csrf::for_request(&state, &req);
    let tpl = SignUpPage::new(&state, &csrf, &return_to);
    Ok(page(StatusCode::OK, &tpl, Some(&csrf), &state))
}

pub async fn signup(
    state: WebState,
    req: HttpRequest,
    form: CsrfForm<SignUpForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let return_to = safe_return_to(Some(&form.return_to));
    match auth::rate_limits::count_sign_up(
        &state.db,
        state.clock.as_ref(),
        &state.rate_limits,
        client_ip(&req).as_deref(),
    )
    .await
    {
        Ok(()) => {}
        Err(auth::rate_limits::RateError::Limited(l)) => {
            let csrf = Csrf::for_request(&state, &req);
            let mut tpl = SignUpPage::new(&state, &csrf, &return_to);
            tpl.email = form.email.chars().take(320).collect();
            tpl.error = Some(format!(
                "Too many accounts were created from your network. Try again in {}.",
                minutes(l.retry_after)
            ));
            let resp = page(StatusCode::TOO_MANY_REQUESTS, &tpl, Some(&csrf), &state);
            return Ok(with_retry_after(resp, l.retry_after));
        }
        Err(auth::rate_limits::RateError::Internal(e)) => return Err(e.into()),
    }
    let input = SignUp {
        email: form.email.clone(),
        password: Some(form.password),
        email_verified: false,
        ip: client_ip(&req),
        actor: Actor::Anonymous,
        initial_profile: profile::NewProfile::generated(state.generate_nickname),
    };
    let user_id = match accounts::sign_up(
        &state.db,
        state.clock.as_ref(),
        &state.hasher,
        &state.password_policy,
        input,
    )
    .await
    {
        Ok(id) => id,
        Err(SignUpError::Internal(e)) => return Err(e.into()),
        Err(e) => {
            let csrf = Csrf::for_request(&state, &req);
            let mut tpl = SignUpPage::new(&state, &csrf, &return_to);
            tpl.email = form.email.chars().take(320).collect();
            let (status, message) = (StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
            match e {
                SignUpError::Password(_) => tpl.password_error = Some(message),
                SignUpError::EmailTaken => {
                    tpl.email_error = Some(format!("{message} Sign in instead."));
                }
                _ => tpl.email_error = Some(message),
            }
            tpl.error = Some("Please correct the errors below.".into());
            return Ok(page(status, &tpl, Some(&csrf), &state));
        }
    };
    let next = if state.require_email_verification {
        let email = crate::pages::sign_in::normalised(&form.email);
        let sent =
            crate::pages::verification::send_email_code(&state, user_id, &email, client_ip(&req))
                .await;
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(r) = &return_to {
            q.append_pair("return_to", r);
        }
        if sent.is_err() {
            q.append_pair("send_failed", "1");
        }
        format!("/verify-email?{}", q.finish())
    } else {
        return_to.clone().unwrap_or_else(|| "/".into())
    };
    session_cookie::start_and_redirect(&state, &req, user_id, &next).await
}

/// The stored form of an email address typed in a form.
pub(crate) fn normalised(email: &str) -> String {
    auth::login_id::normalise_email(email).unwrap_or_else(|_| email.trim().to_lowercase())
}

/// `GET /`: the account lives at `/settings`.
pub async fn home(state: WebState, req: HttpRequest) -> Result<HttpResponse, PageError> {
    Ok(match current_session(&state, &req).await? {
        Some(_) => see_other("/settings"),
        None => see_other("/login"),
    })
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    csrf_token: String,
}

pub async fn logout_form(state: WebState, req: HttpRequest) -> Result<HttpResponse, PageError> {
    if current_session(&state, &req).await?.is_none() {
        return Ok(see_other("/login"));
    }
    let csrf = Csrf::for_request(&state, &req);
    let tpl = LogoutPage {
        csrf_token: csrf.form_token(),
    };
    Ok(page(StatusCode::OK, &tpl, Some(&csrf), &state))
}

pub async fn logout(
    state: WebState,
    req: HttpRequest,
    _form: CsrfForm<crate::csrf::NoFields>,
) -> Result<HttpResponse, PageError> {
    if let Some(session) = current_session(&state, &req).await? {
        session_cookie::sign_out(&state, &session, client_ip(&req)).await?;
    }
    let mut resp = see_other("/login?signed_out=1");
    resp.add_cookie(&session_cookie::removal_cookie(&state))?;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn return_to_stays_on_this_site() {
        assert_eq!(
            safe_return_to(Some("/oauth2/authorize?x=1")).as_deref(),
            Some("/oauth2/authorize?x=1")
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(safe_return_to(Some(bad)), None, "{bad}");
        }
        assert_eq!(safe_return_to(None), None);
    }
}
