//! Tessera's server-rendered pages: sign-up, sign-in, sign-out and the account page.
//!
//! Handlers are thin: they read the form, call `auth`, and render an askama template from the
//! workspace's `templates/` directory. Every form carries a CSRF token (see [`csrf`]).

pub mod api;
pub mod csrf;
pub mod identities;
pub mod images;
pub mod oauth;
mod pages;
pub mod render;
pub mod reset;
pub mod session_cookie;
pub mod settings;
pub mod settings_form;
pub mod settings_images;
pub mod signed_in;
pub mod upstream;
pub mod verification;

use actix_web::web;
use auth::{PasswordHasher, PasswordPolicy, SessionPolicy};
use profile::{Clock, Db};
use std::sync::Arc;

/// What the pages need, shared by every worker.
#[derive(Debug, Clone)]
pub struct WebState {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasher,
    pub password_policy: PasswordPolicy,
    pub session_policy: SessionPolicy,
    pub brute_force: auth::brute_force::BruteForcePolicy,
    /// Cookies get the `Secure` attribute (the issuer is https).
    pub secure_cookies: bool,
    pub provider: Arc<oidc::Provider>,
    pub profiles: Arc<profile::ProfileService>,
    /// New profiles get a generated nickname.
    pub generate_nickname: bool,
    pub mailer: auth::delivery::Mailer,
    pub sms: auth::delivery::SmsSender,
    pub code_policy: auth::codes::CodePolicy,
    /// New users prove their email address before anything else continues.
    pub require_email_verification: bool,
    /// Upstream OpenID providers people can sign in with.
    pub upstreams: Arc<oidc::upstream::Upstreams>,
    /// The key of every form's CSRF token (a server secret kept in the database).
    pub csrf_key: csrf::CsrfKey,
    /// The names of Tessera's cookies (`__Host-` prefixed on https).
    pub cookies: session_cookie::CookieNames,
    /// Sign-ups per client address (`[limits]`).
    pub rate_limits: auth::rate_limits::RateLimits,
}

/// The stylesheet, compiled in so the binary runs from any directory.
const STYLESHEET: &str = include_str!("../../../static/style.css");

async fn stylesheet() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

/// Registers the pages' routes. The caller provides `web::Data<WebState>`.
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
        .route("/", web::get().to(pages::home))
        .route("/login", web::get().to(pages::login_form))
        .route("/login", web::post().to(pages::login))
        .route("/login/upstream/{id}", web::get().to(upstream::login))
        .route(
            "/login/upstream/{id}/callback",
            web::get().to(upstream::callback),
        )
        .route(
            "/settings/upstream/{id}/link",
            web::post().to(upstream::link),
        )
        .route(
            "/settings/upstream/{id}/unlink",
            web::post().to(upstream::unlink),
        )
        .route("/signup", web::get().to(pages::signup_form))
        .route("/signup", web::post().to(pages::signup))
        .route("/reset-password", web::get().to(reset::request_form))
        .route("/reset-password", web::post().to(reset::request))
        .route("/reset-password/code", web::get().to(reset::code_form))
        .route("/reset-password/code", web::post().to(reset::reset))
        .route("/settings", web::get().to(settings::show))
        .route("/settings/profile", web::post().to(settings::save_profile))
        .route(
            "/settings/password",
            web::post().to(settings::change_password),
        )
        .route(
            "/settings/apps/{client_id}/revoke",
            web::post().to(settings::revoke_app),
        )
        .route("/settings/avatar", web::post().to(settings_images::avatar))
        .route("/settings/cover", web::post().to(settings_images::cover))
        .route(
            "/settings/images/{attribute}",
            web::post().to(settings_images::attribute),
        )
        .route(
            "/settings/avatar/regenerate",
            web::post().to(settings::regenerate_avatar),
        )
        .route(
            "/settings/sessions/revoke-others",
            web::post().to(settings::revoke_other_sessions),
        )
        .route(
            "/settings/sessions/{id}/revoke",
            web::post().to(settings::revoke_session),
        )
        .route("/identities/add", web::get().to(identities::add_form))
        .route("/identities/add", web::post().to(identities::add))
        .route("/identities/confirm", web::post().to(identities::confirm))
        .route(
            "/identities/{id}/remove",
            web::post().to(identities::remove),
        )
        .route("/verify-email", web::get().to(verification::verify_form))
        .route("/verify-email", web::post().to(verification::verify))
        .route("/verify-email/resend", web::post().to(verification::resend))
        .route("/logout", web::get().to(pages::logout_form))
        .route("/logout", web::post().to(pages::logout))
        .route("/api/v1/me", web::get().to(api::me))
        .route("/api/v1/me/profile", web::get().to(api::get_profile))
        .route("/api/v1/me/profile", web::put().to(api::put_profile))
        .route("/api/v1/me/profile", web::patch().to(api::patch_profile))
        .route("/api/v1/me/avatar", web::post().to(images::upload_avatar))
        .route("/api/v1/me/cover", web::post().to(images::upload_cover))
        .route(
            "/api/v1/me/images/{attribute}",
            web::post().to(images::upload_attribute),
        )
        .route(
            "/api/v1/users/{selector}/avatar",
            web::get().to(images::public_avatar),
        )
        .route(
            "/api/v1/users/{selector}/cover",
            web::get().to(images::public_cover),
        )
        .route("/images/{id}", web::get().to(images::serve))
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
