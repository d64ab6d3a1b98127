//! The authorization endpoint (`response_type=code`), as a linear chain of checks.
//!
//! Until the client and its `redirect_uri` are verified, errors are shown to the user as a page;
//! after that they go back to the client. The outcome tells the web layer what to do: show an
//! error, send the user to sign in (or sign up), ask for consent, or redirect with a code.

use crate::error::ErrorCode;
use crate::provider::{Provider, SCOPES_SUPPORTED};
use auth::secrets;
use serde::Deserialize;
use store::clients::Client;
use store::oauth::AuthorizationCode;
use store::sessions::Session;
use store::{Clock, Db};

/// The request parameters, as sent (all optional: missing ones are errors found below).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizationRequest {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub claims: Option<String>,
    pub response_mode: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// `urn:tessera:acr:mfa` asks for a second factor (SPEC §9).
    pub acr_values: Option<String>,
}

/// What the web layer must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// The client or redirect URI cannot be trusted: show the message, never redirect.
    ErrorPage { message: String },
    /// Send the error to the client's redirect URI (the full URL is ready).
    Redirect { location: String },
    /// The user must sign in (`signup` when `prompt=create`); come back with `prompt`/`max_age`
    /// satisfied.
    Login {
        signup: bool,
        login_hint: Option<String>,
    },
    /// A third-party client needs the user's consent to these scopes.
    Consent {
        client_name: String,
        scopes: Vec<String>,
    },
    /// The request needs a second factor the session has not proved (a step-up): prove one,
    /// then come back.
    SecondFactor,
}

/// A checked request: the client is known and the redirect URI is one of its own.
struct Checked {
    client: Client,
    redirect_uri: String,
    scope: Vec<String>,
    prompt: Vec<String>,
    max_age: Option<i64>,
}

fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return redirect_uri.to_owned(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

fn error_redirect(
    provider: &Provider,
    redirect_uri: &str,
    req: &AuthorizationRequest,
    code: ErrorCode,
    description: &str,
) -> AuthorizeOutcome {
    let mut params = vec![
        ("error", code.as_str()),
        ("error_description", description),
        ("iss", provider.settings.issuer.as_str()),
    ];
    if let Some(state) = req.state.as_deref() {
        params.push(("state", state));
    }
    AuthorizeOutcome::Redirect {
        location: redirect_with(redirect_uri, &params),
    }
}

fn page(message: impl Into<String>) -> AuthorizeOutcome {
    AuthorizeOutcome::ErrorPage {
        message: message.into(),
    }
}

/// RFC 7636: a code challenge is 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

async fn check(
    provider: &Provider,
    db: &Db,
    req: &AuthorizationRequest,
) -> Result<Checked, AuthorizeOutcome> {
    let Some(client_id) = req
        .client_id
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 128)
    else {
        return Err(page("The request names no client (client_id is missing)."));
    };
    let Some(client) = store::clients::find_by_client_id(db, client_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "looking up a client failed");
            page("The server could not complete the request. Please try again in a moment.")
        })?
    else {
        return Err(page(
            "The application that sent you here is not registered with this server.",
        ));
    };
    let Some(redirect_uri) = req.redirect_uri.as_deref() else {
        return Err(page("The request has no redirect_uri."));
    };
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(page(
            "The redirect_uri does not match any registered for this application.",
        ));
    }
    let redirect_uri = redirect_uri.to_owned();
    let fail =
        |code, description: &str| error_redirect(provider, &redirect_uri, req, code, description);

    if req.request.is_some() || req.request_uri.is_some() {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "request objects are not supported",
        ));
    }
    if req.response_mode.as_deref().is_some_and(|m| m != "query") {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "only response_mode=query is supported",
        ));
    }
    match req.response_type.as_deref() {
        Some("code") => {}
        None => return Err(fail(ErrorCode::InvalidRequest, "response_type is missing")),
        Some(_) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !client
        .grant_types
        .iter()
        .any(|g| g == crate::clients::GRANT_AUTHORIZATION_CODE)
    {
        return Err(fail(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code grant",
        ));
    }

    // Scopes: keep the ones Tessera or this client knows; a client registered for a list of
    // scopes may ask for those only.
    let requested: Vec<String> = req
        .scope
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = requested
        .iter()
        .find(|s| !client.scopes.is_empty() && *s != "openid" && !client.scopes.contains(s))
    {
        return Err(fail(
            ErrorCode::InvalidScope,
            &format!("this client may not request the scope {bad:?}"),
        ));
    }
    let mut scope: Vec<String> = Vec::new();
    for s in requested {
        let known = SCOPES_SUPPORTED.contains(&s.as_str())
            || client.scopes.contains(&s)
            || s.starts_with("custom:");
        if known && !scope.contains(&s) {
            scope.push(s);
        }
    }

    // PKCE: S256 only; required for public clients.
    match (
        req.code_challenge.as_deref(),
        req.code_challenge_method.as_deref(),
    ) {
        (None, _) if client.is_public => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "public clients must use PKCE (code_challenge with S256)",
            ));
        }
        (None, Some(_)) => {
            return Err(fail(ErrorCode::InvalidRequest, "code_challenge is missing"));
        }
        (Some(_), m) if m != Some("S256") => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            ));
        }
        (Some(c), _) if !is_pkce_value(c) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge is malformed",
            ));
        }
        _ => {}
    }

    let prompt: Vec<String> = req
        .prompt
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = prompt.iter().find(|p| {
        !matches!(
            p.as_str(),
            "none" | "login" | "consent" | "create" | "select_account"
        )
    }) {
        return Err(fail(
            ErrorCode::InvalidRequest,
            &format!("unsupported prompt {bad:?}"),
        ));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match req.max_age.as_deref() {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "max_age must be a whole number of seconds",
                ));
            }
        },
    };
    if let Some(claims) = req.claims.as_deref()
        && serde_json::from_str::<serde_json::Value>(claims)
            .map(|v| !v.is_object())
            .unwrap_or(true)
    {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "claims must be a JSON object",
        ));
    }
    if req.nonce.as_deref().is_some_and(|n| n.len() > 512)
        || req.state.as_deref().is_some_and(|s| s.len() > 2048)
    {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "state or nonce is too long",
        ));
    }
    Ok(Checked {
        client,
        redirect_uri,
        scope,
        prompt,
        max_age,
    })
}

/// Runs the authorization request for the browser's session (if any).
///
/// `fresh_login` is true when the user has just signed in for this very request (so `prompt=login`
/// and `max_age` are satisfied); `consent_given` when they just approved the consent page.
pub async fn authorize(
    provider: &Provider,
    db: &Db,
    clock: &dyn Clock,
    req: &AuthorizationRequest,
    session: Option<&Session>,
    fresh_login: bool,
    consent_given: bool,
) -> AuthorizeOutcome {
    let checked = match check(provider, db, req).await {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    let fail = |code, description: &str| {
        error_redirect(provider, &checked.redirect_uri, req, code, description)
    };
    let has = |p: &str| checked.prompt.iter().any(|x| x == p);
    let now = clock.now();

    let session = match session {
        Some(_) if !fresh_login && has("login") => {
            return AuthorizeOutcome::Login {
                signup: false,
                login_hint: req.login_hint.clone(),
            };
        }
        Some(s) => s,
        None if has("none") => {
            return fail(ErrorCode::LoginRequired, "the user is not signed in");
        }
        None => {
            return AuthorizeOutcome::Login {
                signup: has("create"),
                login_hint: req.login_hint.clone(),
            };
        }
    };
    if let Some(max_age) = checked.max_age
        && !fresh_login
        && (now - session.auth_time).num_seconds() > max_age
    {
        if has("none") {
            return fail(
                ErrorCode::LoginRequired,
                "the sign-in is older than max_age",
            );
        }
        return AuthorizeOutcome::Login {
            signup: false,
            login_hint: req.login_hint.clone(),
        };
    }

    // A second factor, when the client or the request asks for one (SPEC §9).
    let wants_mfa =
        checked.client.require_mfa || crate::acr::asks_for_mfa(req.acr_values.as_deref());
    if wants_mfa && !crate::acr::is_multi_factor(&session.amr) {
        if has("none") {
            return fail(
                ErrorCode::InteractionRequired,
                "the request needs a second factor",
            );
        }
        return AuthorizeOutcome::SecondFactor;
    }

    if checked.client.third_party && !consent_given {
        let granted = match store::oauth::find_consent(
            db,
            session.user_id,
            &checked.client.client_id,
        )
        .await
        {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "reading consent failed");
                return fail(
                    ErrorCode::ServerError,
                    "the server could not complete the request",
                );
            }
        };
        let covered = granted.is_some_and(|g| {
            let granted: Vec<&str> = g.split(' ').collect();
            checked.scope.iter().all(|s| granted.contains(&s.as_str()))
        });
        if !covered || has("consent") {
            if has("none") {
                return fail(ErrorCode::ConsentRequired, "the user has not consented");
            }
            return AuthorizeOutcome::Consent {
                client_name: checked.client.name.clone(),
                scopes: checked.scope.clone(),
            };
        }
    }
    if checked.client.third_party && consent_given {
        let scope = checked.scope.join(" ");
        if let Err(e) =
            store::oauth::save_consent(db, session.user_id, &checked.client.client_id, &scope, now)
                .await
        {
            tracing::error!(error = %e, "saving consent failed");
            return fail(
                ErrorCode::ServerError,
                "the server could not complete the request",
            );
        }
    }

    let code = secrets::generate_secret();
    let stored = AuthorizationCode {
        code_hash: secrets::hash_secret(&code),
        client_id: checked.client.client_id.clone(),
        user_id: session.user_id,
        session_id: Some(session.id),
        redirect_uri: checked.redirect_uri.clone(),
        scope: checked.scope.join(" "),
        claims: req
            .claims
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok()),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        created_at: now,
        expires_at: now + provider.settings.authorization_code_ttl,
        used: false,
    };
    if let Err(e) = store::oauth::insert_authorization_code(db, &stored).await {
        tracing::error!(error = %e, "storing an authorization code failed");
        return fail(ErrorCode::ServerError, "the server could not issue a code");
    }
    let mut params = vec![
        ("code", code.as_str()),
        ("iss", provider.settings.issuer.as_str()),
    ];
    if let Some(state) = req.state.as_deref() {
        params.push(("state", state));
    }
    AuthorizeOutcome::Redirect {
        location: redirect_with(&checked.redirect_uri, &params),
    }
}

/// The user declined the consent page: `access_denied` back to the client (when the request's
/// client and redirect URI check out; otherwise an error page).
pub async fn deny(provider: &Provider, db: &Db, req: &AuthorizationRequest) -> AuthorizeOutcome {
    match check(provider, db, req).await {
        Ok(checked) => error_redirect(
            provider,
            &checked.redirect_uri,
            req,
            ErrorCode::AccessDenied,
            "the user declined",
        ),
        Err(outcome) => outcome,
    }
}
