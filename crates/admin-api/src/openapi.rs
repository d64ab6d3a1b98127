//! The OpenAPI 3.1 document of the Admin API, generated from the handlers' annotations and the
//! types in [`crate::model`], served at `/admin/api/v1/openapi.json`. A test compares it with the
//! route table the API is served from ([`crate::routes`]), so neither can drift from the other.

use crate::{
    clients, events, factors, groups, images, import, keys, schema, tenants, user_search, users,
    webhooks,
};
use actix_web::HttpResponse;
use std::sync::OnceLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct AdminKeyAuth;

impl Modify for AdminKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some("An Admin API key from `tessera admin-key create`.".into());
        components.add_security_scheme("admin_key", SecurityScheme::Http(scheme));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera Admin API",
        version = "1",
        description = "Manage users, profiles, identities, sessions, clients, the profile schema, \
            admin keys and the audit log. Authenticate with `Authorization: Bearer <admin key>`. \
            Errors are `application/problem+json`; lists answer `{\"items\": [...], \
            \"next_cursor\": ...}` and take `limit` and `cursor`."
    ),
    servers((url = "/admin/api/v1")),
    paths(
        user_search::list,
        users::create,
        users::get,
        users::delete,
        users::put_profile,
        users::patch_profile,
        users::disable,
        users::enable,
        users::set_password,
        users::set_verified,
        users::identities,
        users::add_identity,
        users::remove_identity,
        factors::list,
        factors::remove,
        users::sessions,
        users::revoke_sessions,
        users::revoke_session,
        images::avatar,
        images::cover,
        images::attribute,
        clients::list,
        clients::create,
        clients::get,
        clients::patch,
        clients::delete,
        clients::rotate_secret,
        events::list,
        keys::list,
        keys::revoke,
        schema::get,
        schema::patch_standard,
        groups::list,
        groups::create,
        groups::get,
        groups::patch,
        groups::delete,
        groups::members,
        groups::add_member,
        groups::remove_member,
        import::import,
        webhooks::list,
        webhooks::create,
        webhooks::get,
        webhooks::patch,
        webhooks::delete,
        webhooks::deliveries,
        schema::patch_annotations,
        schema::create_custom,
        schema::patch_custom,
        schema::delete_custom,
        tenants::list,
        tenants::create,
        tenants::get,
        tenants::patch,
        tenants::delete,
        document,
    ),
    components(schemas(crate::model::ProblemDoc)),
    modifiers(&AdminKeyAuth),
    tags(
        (name = "users", description = "Users and their profiles"),
        (name = "identities", description = "Login IDs"),
        (name = "sessions", description = "Signed-in sessions"),
        (name = "factors", description = "Second factors (authenticator apps, recovery codes, passkeys)"),
        (name = "images", description = "Avatar, cover and image attribute uploads"),
        (name = "clients", description = "OAuth clients"),
        (name = "groups", description = "Groups and their members (the groups claim)"),
        (name = "webhooks", description = "Webhooks: signed deliveries of audit events"),
        (name = "profile-schema", description = "Standard attribute access and custom attributes"),
        (name = "events", description = "The audit log"),
        (name = "admin-keys", description = "Admin API keys"),
        (name = "tenants", description = "Tenants (system keys only, at the root Admin API)"),
        (name = "meta", description = "This document")
    )
)]
pub struct AdminApiDoc;

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        AdminApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|_| "{}".into())
    })
}

/// `GET /openapi.json`: this document (no key needed).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    summary = "The OpenAPI 3.1 document of this API",
    responses((status = 200, description = "The document", content_type = "application/json"))
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(json())
}
