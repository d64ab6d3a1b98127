//! The REST Admin API under `/admin/api/v1` (SPEC §6), authenticated by
//! `Authorization: Bearer <admin key>` (`auth::admin_keys::authenticate`). Errors are
//! problem+json (`http-kit`). The admin has full access to every profile attribute;
//! profile-schema changes follow the same rules as `tessera schema import`.
//!
//! Served: the profile schema, users (search, create, read, profile, password, verified flags,
//! identities, sessions, disable/enable, delete, images), clients, admin keys and the audit log.
//! Every route is in one table ([`routes`]) that a test compares with the OpenAPI document
//! ([`openapi`]), generated from the handlers and the response types of [`model`].
//!
//! Handlers parse, call the domain crates (`auth`, `profile`, `oidc`; never `store`) and answer;
//! the use cases write their own audit events, naming the admin key.

mod body;
mod clients;
mod events;
mod factors;
mod groups;
mod images;
mod import;
mod keys;
pub mod model;
pub mod openapi;
mod paging;
mod schema;
pub mod scim;
mod tenants;
mod user_search;
mod users;
mod webhooks;

use actix_web::HttpRequest;
use actix_web::http::{Method, StatusCode};
use actix_web::web as web_actix;
use http_kit::Problem;
use profile::Uuid;

/// What the Admin API needs: the services of the request's tenant (through `Deref`) and the
/// tenant registry (for the system API).
///
/// The application holds the `default` tenant's as `web::Data<AdminState>`; handlers take
/// `AdminState` itself, which is that one with the services of the tenant the request is for
/// (put in the request's extensions by the tenant routing in `src/tenancy.rs`).
#[derive(Debug, Clone)]
pub struct AdminState {
    pub services: std::sync::Arc<oidc::Services>,
    pub tenants: std::sync::Arc<oidc::tenants::Registry>,
}

impl actix_web::FromRequest for AdminState {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        use actix_web::HttpMessage;
        let state = req
            .app_data::<web_actix::Data<AdminState>>()
            .map(|base| {
                let mut state = base.get_ref().clone();
                if let Some(services) = req.extensions().get::<std::sync::Arc<oidc::Services>>() {
                    state.services = services.clone();
                }
                state
            })
            .ok_or_else(|| {
                actix_web::error::ErrorInternalServerError("the admin state is not configured")
            });
        std::future::ready(state)
    }
}

impl std::ops::Deref for AdminState {
    type Target = oidc::Services;
    fn deref(&self) -> &oidc::Services {
        &self.services
    }
}

/// The admin key a request authenticated with.
#[derive(Debug, Clone, Copy)]
pub struct AdminKeyId(pub Uuid);

/// Checks the bearer admin key (by its hash, compared in constant time): a key of the request's
/// tenant, or a system key.
pub async fn authenticate(state: &AdminState, req: &HttpRequest) -> Result<AdminKeyId, Problem> {
    authenticate_key(state, req).await.map(|k| AdminKeyId(k.id))
}

async fn authenticate_key(
    state: &AdminState,
    req: &HttpRequest,
) -> Result<auth::admin_keys::AuthenticatedKey, Problem> {
    let unauthorized = |detail: &str| {
        Problem::bearer(StatusCode::UNAUTHORIZED, "invalid_token", detail.to_owned())
    };
    let key = http_kit::authorization(req)
        .bearer()
        .filter(|k| k.len() <= 256)
        .ok_or_else(|| unauthorized("an admin key is required (Authorization: Bearer …)"))?;
    match auth::admin_keys::authenticate(&state.db, state.clock.as_ref(), key).await {
        Ok(key) => Ok(key),
        Err(auth::admin_keys::KeyError::Invalid) => Err(unauthorized("the admin key is not valid")),
        Err(auth::admin_keys::KeyError::Internal(e)) => Err(Problem::internal(e)),
    }
}

/// Checks that the request is for the system Admin API: at the root (the `default` tenant's
/// address), with a system key. Anywhere else the tenant routes do not exist (404); a key that
/// is not a system key gets 403.
pub async fn authenticate_system(
    state: &AdminState,
    req: &HttpRequest,
) -> Result<AdminKeyId, Problem> {
    if !state.tenant.is_default() {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            "tenants are managed at the root Admin API",
        ));
    }
    let key = authenticate_key(state, req).await?;
    if !key.system {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "managing tenants needs a system key (tessera admin-key create --system)",
        ));
    }
    Ok(AdminKeyId(key.id))
}

/// Every route of the Admin API (relative to `/admin/api/v1`): the one table it is served from,
/// which a test compares with the OpenAPI document.
pub fn routes() -> Vec<(&'static str, Method, actix_web::Route)> {
    use web_actix::{delete, get, patch, post, put};
    vec![
        ("/openapi.json", Method::GET, get().to(openapi::document)),
        ("/users", Method::GET, get().to(user_search::list)),
        ("/users", Method::POST, post().to(users::create)),
        ("/users/import", Method::POST, post().to(import::import)),
        ("/users/{id}", Method::GET, get().to(users::get)),
        ("/users/{id}", Method::DELETE, delete().to(users::delete)),
        (
            "/users/{id}/profile",
            Method::PUT,
            put().to(users::put_profile),
        ),
        (
            "/users/{id}/profile",
            Method::PATCH,
            patch().to(users::patch_profile),
        ),
        (
            "/users/{id}/disable",
            Method::POST,
            post().to(users::disable),
        ),
        ("/users/{id}/enable", Method::POST, post().to(users::enable)),
        (
            "/users/{id}/password",
            Method::PUT,
            put().to(users::set_password),
        ),
        (
            "/users/{id}/verified/{claim}",
            Method::PUT,
            put().to(users::set_verified),
        ),
        (
            "/users/{id}/identities",
            Method::GET,
            get().to(users::identities),
        ),
        (
            "/users/{id}/identities",
            Method::POST,
            post().to(users::add_identity),
        ),
        (
            "/users/{id}/identities/{identity_id}",
            Method::DELETE,
            delete().to(users::remove_identity),
        ),
        ("/users/{id}/factors", Method::GET, get().to(factors::list)),
        (
            "/users/{id}/factors/{factor_id}",
            Method::DELETE,
            delete().to(factors::remove),
        ),
        (
            "/users/{id}/sessions",
            Method::GET,
            get().to(users::sessions),
        ),
        (
            "/users/{id}/sessions",
            Method::DELETE,
            delete().to(users::revoke_sessions),
        ),
        (
            "/users/{id}/sessions/{session_id}",
            Method::DELETE,
            delete().to(users::revoke_session),
        ),
        (
            "/users/{id}/avatar",
            Method::POST,
            post().to(images::avatar),
        ),
        ("/users/{id}/cover", Method::POST, post().to(images::cover)),
        (
            "/users/{id}/images/{attribute}",
            Method::POST,
            post().to(images::attribute),
        ),
        ("/clients", Method::GET, get().to(clients::list)),
        ("/clients", Method::POST, post().to(clients::create)),
        ("/clients/{id}", Method::GET, get().to(clients::get)),
        ("/clients/{id}", Method::PATCH, patch().to(clients::patch)),
        (
            "/clients/{id}",
            Method::DELETE,
            delete().to(clients::delete),
        ),
        (
            "/clients/{id}/secret",
            Method::POST,
            post().to(clients::rotate_secret),
        ),
        ("/events", Method::GET, get().to(events::list)),
        ("/admin-keys", Method::GET, get().to(keys::list)),
        (
            "/admin-keys/{id}",
            Method::DELETE,
            delete().to(keys::revoke),
        ),
        ("/tenants", Method::GET, get().to(tenants::list)),
        ("/tenants", Method::POST, post().to(tenants::create)),
        ("/tenants/{id}", Method::GET, get().to(tenants::get)),
        ("/tenants/{id}", Method::PATCH, patch().to(tenants::patch)),
        (
            "/tenants/{id}",
            Method::DELETE,
            delete().to(tenants::delete),
        ),
        ("/groups", Method::GET, get().to(groups::list)),
        ("/groups", Method::POST, post().to(groups::create)),
        ("/groups/{id}", Method::GET, get().to(groups::get)),
        ("/groups/{id}", Method::PATCH, patch().to(groups::patch)),
        ("/groups/{id}", Method::DELETE, delete().to(groups::delete)),
        (
            "/groups/{id}/members",
            Method::GET,
            get().to(groups::members),
        ),
        (
            "/groups/{id}/members",
            Method::POST,
            post().to(groups::add_member),
        ),
        (
            "/groups/{id}/members/{user_id}",
            Method::DELETE,
            delete().to(groups::remove_member),
        ),
        ("/webhooks", Method::GET, get().to(webhooks::list)),
        ("/webhooks", Method::POST, post().to(webhooks::create)),
        ("/webhooks/{id}", Method::GET, get().to(webhooks::get)),
        ("/webhooks/{id}", Method::PATCH, patch().to(webhooks::patch)),
        (
            "/webhooks/{id}",
            Method::DELETE,
            delete().to(webhooks::delete),
        ),
        (
            "/webhooks/{id}/deliveries",
            Method::GET,
            get().to(webhooks::deliveries),
        ),
        ("/profile-schema", Method::GET, get().to(schema::get)),
        (
            "/profile-schema/standard/{name}",
            Method::PATCH,
            patch().to(schema::patch_standard),
        ),
        (
            "/profile-schema/annotations",
            Method::PATCH,
            patch().to(schema::patch_annotations),
        ),
        (
            "/profile-schema/custom",
            Method::POST,
            post().to(schema::create_custom),
        ),
        (
            "/profile-schema/custom/{name}",
            Method::PATCH,
            patch().to(schema::patch_custom),
        ),
        (
            "/profile-schema/custom/{name}",
            Method::DELETE,
            delete().to(schema::delete_custom),
        ),
    ]
}

/// The served routes as (path, method), for comparing with the OpenAPI document.
pub fn route_table() -> Vec<(&'static str, Method)> {
    routes().into_iter().map(|(p, m, _)| (p, m)).collect()
}

/// Registers the Admin API under `/admin/api/v1`. The caller provides `web::Data<AdminState>`.
pub fn configure(cfg: &mut web_actix::ServiceConfig) {
    let mut scope = web_actix::scope("/admin/api/v1");
    for (path, _, route) in routes() {
        scope = scope.route(path, route);
    }
    cfg.service(scope);
}
