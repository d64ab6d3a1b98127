//! Tessera's public HTTP face, in three folders by audience:
//!
//! - [`pages`]: what people see in a browser (sign-up, sign-in, codes, reset, settings, upstream
//!   sign-in), server-rendered from askama templates in the workspace's `templates/`;
//! - [`oauth`]: the OpenID Connect endpoints relying apps call (discovery, JWKS, authorize with its
//!   consent page, token, UserInfo, revocation, introspection, logout);
//! - [`api`]: the self-service API apps call for the user with a bearer token (`/api/v1/me…`),
//!   the public avatar and cover URLs and stored images.
//!
//! Beside them, what the browser faces share: the session cookie ([`session_cookie`]), CSRF tokens
//! ([`csrf`]), the signed-in extractor with the verification gate ([`signed_in`]) and page
//! rendering ([`render`]). Handlers are thin: they parse, call the domain crates (`auth`,
//! `profile`, `oidc`; never `store`) and render. What the Admin API shares with this crate lives in
//! `http-kit`.

pub mod api;
pub mod csrf;
pub mod oauth;
pub mod pages;
pub mod render;
pub mod session_cookie;
pub mod signed_in;

use actix_web::web;
use std::sync::Arc;

/// What the pages need: the services of the request's tenant (through `Deref`, so `state.db`,
/// `state.profiles`, … are the tenant's) and what only the browser faces use.
///
/// The application holds the `default` tenant's as `web::Data<WebState>`; handlers take
/// `WebState` itself, which is that one with the services of the tenant the request is for
/// (put in the request's extensions by the tenant routing in `src/tenancy.rs`).
#[derive(Debug, Clone)]
pub struct WebState {
    pub services: Arc<oidc::Services>,
    /// Cookies get the `Secure` attribute (the issuer is https).
    pub secure_cookies: bool,
    /// The key of every form's CSRF token (a server secret kept in the database).
    pub csrf_key: csrf::CsrfKey,
    /// The names of Tessera's cookies (`__Host-` prefixed on https).
    pub cookies: session_cookie::CookieNames,
}

impl WebState {
    /// The state for `req`: its tenant's services, or `None` when the application has no
    /// `WebState`.
    pub fn of(req: &actix_web::HttpRequest) -> Option<WebState> {
        let mut state = req.app_data::<web::Data<WebState>>()?.get_ref().clone();
        if let Some(services) = actix_web::HttpMessage::extensions(req).get::<Arc<oidc::Services>>()
        {
            state.services = services.clone();
        }
        Some(state)
    }
}

impl actix_web::FromRequest for WebState {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(WebState::of(req).ok_or_else(|| {
            actix_web::error::ErrorInternalServerError("the web state is not configured")
        }))
    }
}

impl std::ops::Deref for WebState {
    type Target = oidc::Services;
    fn deref(&self) -> &oidc::Services {
        &self.services
    }
}

/// The stylesheet, compiled in so the binary runs from any directory.
const STYLESHEET: &str = include_str!("../../../static/style.css");

const PASSKEYS_SCRIPT: &str = include_str!("../../../static/passkeys.js");

async fn passkeys_script() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(PASSKEYS_SCRIPT)
}

async fn stylesheet() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

/// Registers the pages' routes. The caller provides `web::Data<WebState>` (the `default`
/// tenant's).
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Routes are tried in order and every pattern with a parameter costs a regex match: the hot
    // OpenID Connect endpoints (all static paths) come first.
    cfg.route("/oauth2/userinfo", web::get().to(oauth::userinfo))
        .route("/oauth2/token", web::post().to(oauth::token))
        .route(
            "/.well-known/openid-configuration",
            web::get().to(oauth::discovery),
        )
        .route("/oauth2/jwks", web::get().to(oauth::jwks))
        .route("/oauth2/userinfo", web::post().to(oauth::userinfo))
        .route("/oauth2/authorize", web::get().to(oauth::authorize_get))
        .route("/oauth2/authorize", web::post().to(oauth::authorize_post))
        .route("/oauth2/consent", web::post().to(oauth::consent))
        .route("/oauth2/revoke", web::post().to(oauth::revoke))
        .route("/oauth2/introspect", web::post().to(oauth::introspect))
        .route("/static/style.css", web::get().to(stylesheet))
        .route("/static/passkeys.js", web::get().to(passkeys_script))
        .route("/", web::get().to(pages::sign_in::home))
        .route("/login", web::get().to(pages::sign_in::login_form))
        .route("/login", web::post().to(pages::sign_in::login))
        .route("/login/mfa", web::get().to(pages::mfa::form))
        .route("/login/mfa", web::post().to(pages::mfa::verify))
        .route("/login/mfa/setup", web::get().to(pages::mfa::setup))
        .route(
            "/login/mfa/passkey/start",
            web::post().to(pages::passkeys::start_second_step),
        )
        .route(
            "/login/mfa/passkey/finish",
            web::post().to(pages::passkeys::finish_second_step),
        )
        .route(
            "/login/passkey/start",
            web::post().to(pages::passkeys::start_passwordless),
        )
        .route(
            "/login/passkey/finish",
            web::post().to(pages::passkeys::finish_passwordless),
        )
        .route(
            "/settings/mfa/passkey/start",
            web::post().to(pages::passkeys::start_adding),
        )
        .route(
            "/settings/mfa/passkey/finish",
            web::post().to(pages::passkeys::finish_adding),
        )
        .route("/settings/mfa/totp", web::post().to(pages::mfa::start_totp))
        .route(
            "/settings/mfa/totp/confirm",
            web::post().to(pages::mfa::confirm_totp),
        )
        .route(
            "/settings/mfa/recovery-codes",
            web::post().to(pages::mfa::recovery_codes),
        )
        .route(
            "/settings/mfa/{id}/remove",
            web::post().to(pages::mfa::remove),
        )
        .route(
            "/login/upstream/{id}",
            web::get().to(pages::upstream::login),
        )
        .route(
            "/login/upstream/{id}/callback",
            web::get().to(pages::upstream::callback),
        )
        .route(
            "/settings/upstream/{id}/link",
            web::post().to(pages::upstream::link),
        )
        .route(
            "/settings/upstream/{id}/unlink",
            web::post().to(pages::upstream::unlink),
        )
        .route("/signup", web::get().to(pages::sign_in::signup_form))
        .route("/signup", web::post().to(pages::sign_in::signup))
        .route("/reset-password", web::get().to(pages::reset::request_form))
        .route("/reset-password", web::post().to(pages::reset::request))
        .route(
            "/reset-password/code",
            web::get().to(pages::reset::code_form),
        )
        .route("/reset-password/code", web::post().to(pages::reset::reset))
        .route("/settings", web::get().to(pages::settings::show))
        .route(
            "/settings/profile",
            web::post().to(pages::settings::save_profile),
        )
        .route(
            "/settings/password",
            web::post().to(pages::settings::change_password),
        )
        .route(
            "/settings/apps/{client_id}/revoke",
            web::post().to(pages::settings::revoke_app),
        )
        .route(
            "/settings/avatar",
            web::post().to(pages::settings_images::avatar),
        )
        .route(
            "/settings/cover",
            web::post().to(pages::settings_images::cover),
        )
        .route(
            "/settings/images/{attribute}",
            web::post().to(pages::settings_images::attribute),
        )
        .route(
            "/settings/avatar/regenerate",
            web::post().to(pages::settings::regenerate_avatar),
        )
        .route(
            "/settings/sessions/revoke-others",
            web::post().to(pages::settings::revoke_other_sessions),
        )
        .route(
            "/settings/sessions/{id}/revoke",
            web::post().to(pages::settings::revoke_session),
        )
        .route(
            "/identities/add",
            web::get().to(pages::identities::add_form),
        )
        .route("/identities/add", web::post().to(pages::identities::add))
        .route(
            "/identities/confirm",
            web::post().to(pages::identities::confirm),
        )
        .route(
            "/identities/{id}/remove",
            web::post().to(pages::identities::remove),
        )
        .route(
            "/verify-email",
            web::get().to(pages::verification::verify_form),
        )
        .route("/verify-email", web::post().to(pages::verification::verify))
        .route(
            "/verify-email/resend",
            web::post().to(pages::verification::resend),
        )
        .route("/logout", web::get().to(pages::sign_in::logout_form))
        .route("/logout", web::post().to(pages::sign_in::logout))
        .route("/api/v1/me", web::get().to(api::me))
        .route("/api/v1/me/profile", web::get().to(api::get_profile))
        .route("/api/v1/me/profile", web::put().to(api::put_profile))
        .route("/api/v1/me/profile", web::patch().to(api::patch_profile))
        .route(
            "/api/v1/text-processor",
            web::post().to(api::text_processor::process),
        )
        .route(
            "/api/v1/me/avatar",
            web::post().to(api::images::upload_avatar),
        )
        .route(
            "/api/v1/me/cover",
            web::post().to(api::images::upload_cover),
        )
        .route(
            "/api/v1/me/images/{attribute}",
            web::post().to(api::images::upload_attribute),
        )
        .route(
            "/api/v1/users/{selector}/avatar",
            web::get().to(api::images::public_avatar),
        )
        .route(
            "/api/v1/users/{selector}/cover",
            web::get().to(api::images::public_cover),
        )
        .route("/images/{id}", web::get().to(api::images::serve))
        .route("/avatars/{user_id}/{file}", web::get().to(api::avatar))
        .route("/oauth2/logout", web::get().to(oauth::end_session_request))
        .route("/oauth2/logout", web::post().to(oauth::end_session_request))
        .route(
            "/oauth2/logout/confirm",
            web::post().to(oauth::end_session_confirm),
        );
    for path in [
        "/.well-known/openid-configuration",
        "/oauth2/jwks",
        "/oauth2/token",
        "/oauth2/userinfo",
        "/oauth2/revoke",
    ] {
        cfg.route(
            path,
            web::method(actix_web::http::Method::OPTIONS).to(oauth::preflight),
        );
    }
}
