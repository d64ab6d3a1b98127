//! The REST Admin API under `/admin/api/v1` (SPEC §6), authenticated by
//! `Authorization: Bearer <admin key>`. Errors are problem+json. The admin has full access to every
//! profile attribute; profile-schema changes follow the same rules as `tessera schema import`.
//!
//! Served so far: the profile schema, users (create, read, profile, password, verified flags,
//! identities, sessions, disable/enable, delete), clients and the audit log. User search and
//! lists and the OpenAPI document come next.

mod clients;
mod events;
mod images;
mod keys;
mod paging;
mod schema;
mod user_search;
mod users;

use ::web::problem::Problem;
use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::web as web_actix;
use std::sync::Arc;
use store::{Clock, Db, Uuid};

/// What the Admin API needs.
#[derive(Debug, Clone)]
pub struct AdminState {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub profiles: Arc<profile::ProfileService>,
    pub hasher: auth::PasswordHasher,
    pub password_policy: auth::PasswordPolicy,
    pub generate_nickname: bool,
}

/// The admin key a request authenticated with.
#[derive(Debug, Clone, Copy)]
pub struct AdminKeyId(pub Uuid);

/// Checks the bearer admin key (by its hash, compared in constant time).
pub async fn authenticate(state: &AdminState, req: &HttpRequest) -> Result<AdminKeyId, Problem> {
    let unauthorized = |detail: &str| {
        Problem::bearer(StatusCode::UNAUTHORIZED, "invalid_token", detail.to_owned())
    };
    let key = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, k)| k.trim())
        .filter(|k| !k.is_empty() && k.len() <= 256)
        .ok_or_else(|| unauthorized("an admin key is required (Authorization: Bearer …)"))?;
    let hash = auth::secrets::hash_secret(key);
    match store::admin_keys::find_live_key(&state.db, &hash).await {
        Ok(Some((id, stored))) if auth::secrets::constant_time_eq(&stored, &hash) => {
            if let Err(e) =
                store::admin_keys::touch_admin_key(&state.db, id, state.clock.now()).await
            {
                tracing::warn!(error = %e, "could not record the admin key's use");
            }
            Ok(AdminKeyId(id))
        }
        Ok(_) => Err(unauthorized("the admin key is not valid")),
        Err(e) => Err(Problem::internal(e)),
    }
}

/// Registers the Admin API under `/admin/api/v1`. The caller provides `web::Data<AdminState>`.
pub fn configure(cfg: &mut web_actix::ServiceConfig) {
    cfg.service(
        web_actix::scope("/admin/api/v1")
            .route("/users", web_actix::get().to(user_search::list))
            .route("/users", web_actix::post().to(users::create))
            .route("/users/{id}", web_actix::get().to(users::get))
            .route("/users/{id}", web_actix::delete().to(users::delete))
            .route(
                "/users/{id}/profile",
                web_actix::put().to(users::put_profile),
            )
            .route(
                "/users/{id}/profile",
                web_actix::patch().to(users::patch_profile),
            )
            .route("/users/{id}/avatar", web_actix::post().to(images::avatar))
            .route(
                "/users/{id}/identities",
                web_actix::post().to(users::add_identity),
            )
            .route("/admin-keys", web_actix::get().to(keys::list))
            .route("/admin-keys/{id}", web_actix::delete().to(keys::revoke))
            .route("/users/{id}/cover", web_actix::post().to(images::cover))
            .route(
                "/users/{id}/images/{attribute}",
                web_actix::post().to(images::attribute),
            )
            .route("/users/{id}/disable", web_actix::post().to(users::disable))
            .route("/users/{id}/enable", web_actix::post().to(users::enable))
            .route(
                "/users/{id}/password",
                web_actix::put().to(users::set_password),
            )
            .route(
                "/users/{id}/verified/{claim}",
                web_actix::put().to(users::set_verified),
            )
            .route(
                "/users/{id}/identities",
                web_actix::get().to(users::identities),
            )
            .route("/users/{id}/sessions", web_actix::get().to(users::sessions))
            .route(
                "/users/{id}/sessions",
                web_actix::delete().to(users::revoke_sessions),
            )
            .route(
                "/users/{id}/sessions/{session_id}",
                web_actix::delete().to(users::revoke_session),
            )
            .route(
                "/users/{id}/identities/{identity_id}",
                web_actix::delete().to(users::remove_identity),
            )
            .route("/clients", web_actix::get().to(clients::list))
            .route("/clients", web_actix::post().to(clients::create))
            .route("/clients/{id}", web_actix::get().to(clients::get))
            .route("/clients/{id}", web_actix::patch().to(clients::patch))
            .route("/clients/{id}", web_actix::delete().to(clients::delete))
            .route(
                "/clients/{id}/secret",
                web_actix::post().to(clients::rotate_secret),
            )
            .route("/events", web_actix::get().to(events::list))
            .route("/profile-schema", web_actix::get().to(schema::get))
            .route(
                "/profile-schema/standard/{name}",
                web_actix::patch().to(schema::patch_standard),
            )
            .route(
                "/profile-schema/custom",
                web_actix::post().to(schema::create_custom),
            )
            .route(
                "/profile-schema/custom/{name}",
                web_actix::patch().to(schema::patch_custom),
            )
            .route(
                "/profile-schema/custom/{name}",
                web_actix::delete().to(schema::delete_custom),
            ),
    );
}
