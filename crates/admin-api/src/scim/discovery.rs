//! SCIM discovery (RFC 7644 §4): `ServiceProviderConfig`, `ResourceTypes`, `Schemas`. The
//! schemas advertise exactly what Tessera maps (RFC 7643 §7), so a client never sends an attribute
//! that would be dropped; the extension schema lists the tenant's custom attributes, typed per the
//! profile schema.

use super::{
    GROUP_SCHEMA, PROFILE_EXTENSION, ScimError, ScimResult, USER_SCHEMA, authenticate, base_url,
    scim_json,
};
use crate::AdminState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use profile::schema::{AttributeType, ProfileSchema};
use serde_json::{Value, json};

/// An example number clients may use (`canonicalValues`): phone numbers must be E.164 (SPEC §3).
pub const EXAMPLE_PHONE: &str = "+14155550100";

fn attr(name: &str, kind: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
        "description": name,
    })
}

fn with(mut a: Value, key: &str, v: Value) -> Value {
    a[key] = v;
    a
}

fn complex(name: &str, multi: bool, subs: Vec<Value>) -> Value {
    with(
        with(attr(name, "complex"), "multiValued", json!(multi)),
        "subAttributes",
        Value::Array(subs),
    )
}

fn meta(resource_type: &str, location: String) -> Value {
    json!({ "resourceType": resource_type, "location": location })
}

fn user_schema(base: &str) -> Value {
    let read_only = |a: Value| with(a, "mutability", json!("readOnly"));
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A Tessera account",
        "attributes": [
            with(
                with(attr("userName", "string"), "required", json!(true)),
                "uniqueness",
                json!("server"),
            ),
            complex("name", false, vec![attr("familyName", "string"), attr("givenName", "string")]),
            attr("displayName", "string"),
            // Required so that it is always stated; a request without it means true.
            with(attr("active", "boolean"), "required", json!(true)),
            complex("emails", true, vec![attr("value", "string")]),
            complex(
                "phoneNumbers",
                true,
                vec![with(
                    with(attr("value", "string"), "canonicalValues", json!([EXAMPLE_PHONE])),
                    "description",
                    json!("E.164, such as +14155550100"),
                )],
            ),
            read_only(complex(
                "groups",
                true,
                vec![
                    read_only(attr("value", "string")),
                    read_only(with(attr("$ref", "reference"), "referenceTypes", json!(["Group"]))),
                    read_only(attr("display", "string")),
                    read_only(with(attr("type", "string"), "canonicalValues", json!(["direct"]))),
                ],
            )),
        ],
        "meta": meta("Schema", format!("{base}/Schemas/{USER_SCHEMA}")),
    })
}

fn group_schema(base: &str) -> Value {
    let immutable = |a: Value| with(a, "mutability", json!("immutable"));
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "A Tessera group",
        "attributes": [
            with(
                with(attr("displayName", "string"), "required", json!(true)),
                "uniqueness",
                json!("server"),
            ),
            complex(
                "members",
                true,
                vec![
                    immutable(attr("value", "string")),
                    immutable(with(attr("$ref", "reference"), "referenceTypes", json!(["User", "Group"]))),
                    immutable(with(attr("type", "string"), "canonicalValues", json!(["User", "Group"]))),
                ],
            ),
        ],
        "meta": meta("Schema", format!("{base}/Schemas/{GROUP_SCHEMA}")),
    })
}

/// The SCIM type of a custom attribute.
pub fn scim_type(kind: AttributeType) -> &'static str {
    match kind {
        AttributeType::Boolean => "boolean",
        AttributeType::Integer => "integer",
        AttributeType::Number => "decimal",
        AttributeType::Url | AttributeType::Image => "reference",
        _ => "string",
    }
}

fn extension_schema(base: &str, schema: &ProfileSchema) -> Value {
    let attributes: Vec<Value> = schema
        .custom
        .iter()
        .map(|def| {
            let mut a = attr(&def.name, scim_type(def.kind));
            a["description"] = json!(def.display_label());
            if matches!(def.kind, AttributeType::Url | AttributeType::Image) {
                a["referenceTypes"] = json!(["external"]);
            }
            if def.kind == AttributeType::Enum {
                a["canonicalValues"] = json!(def.enum_values);
            }
            a
        })
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": PROFILE_EXTENSION,
        "name": "TesseraProfile",
        "description": "The custom attributes of the tenant's profile schema",
        "attributes": attributes,
        "meta": meta("Schema", format!("{base}/Schemas/{PROFILE_EXTENSION}")),
    })
}

async fn all_schemas(state: &AdminState) -> Result<Vec<Value>, ScimError> {
    let base = base_url(state);
    let schema = state
        .profiles
        .schema(&state.db)
        .await
        .map_err(ScimError::internal)?;
    Ok(vec![
        user_schema(&base),
        group_schema(&base),
        extension_schema(&base, &schema),
    ])
}

fn resource_types_of(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "Accounts",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{ "schema": PROFILE_EXTENSION, "required": false }],
            "meta": meta("ResourceType", format!("{base}/ResourceTypes/User")),
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Groups",
            "schema": GROUP_SCHEMA,
            "meta": meta("ResourceType", format!("{base}/ResourceTypes/Group")),
        }),
    ]
}

fn listing(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [super::LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// `GET /ServiceProviderConfig`.
pub async fn service_provider_config(state: AdminState, req: HttpRequest) -> ScimResult {
    authenticate(&state, &req).await?;
    let base = base_url(&state);
    Ok(scim_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://github.com/tessera-id/tessera#scim",
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": super::MAX_COUNT },
            "changePassword": { "supported": false },
            "sort": { "supported": true },
            "etag": { "supported": true },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Admin key",
                "description": "Authorization: Bearer <admin key> (tessera admin-key create)",
                "primary": true,
            }],
            "meta": meta("ServiceProviderConfig", format!("{base}/ServiceProviderConfig")),
        }),
    ))
}

/// `GET /ResourceTypes`.
pub async fn resource_types(state: AdminState, req: HttpRequest) -> ScimResult {
    authenticate(&state, &req).await?;
    Ok(scim_json(
        StatusCode::OK,
        &listing(resource_types_of(&base_url(&state))),
    ))
}

/// `GET /ResourceTypes/{name}`.
pub async fn resource_type(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> ScimResult {
    authenticate(&state, &req).await?;
    let name = path.into_inner();
    resource_types_of(&base_url(&state))
        .into_iter()
        .find(|t| t["id"] == name.as_str())
        .map(|t| scim_json(StatusCode::OK, &t))
        .ok_or_else(|| ScimError::not_found("no such resource type"))
}

/// `GET /Schemas`.
pub async fn schemas(state: AdminState, req: HttpRequest) -> ScimResult {
    authenticate(&state, &req).await?;
    Ok(scim_json(
        StatusCode::OK,
        &listing(all_schemas(&state).await?),
    ))
}

/// `GET /Schemas/{id}`.
pub async fn schema(state: AdminState, req: HttpRequest, path: web::Path<String>) -> ScimResult {
    authenticate(&state, &req).await?;
    let id = path.into_inner();
    all_schemas(&state)
        .await?
        .into_iter()
        .find(|s| s["id"] == id.as_str())
        .map(|s| scim_json(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found("no such schema"))
}

/// Any other method on a discovery endpoint.
pub async fn not_allowed() -> ScimResult {
    Err(ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        "discovery endpoints are read-only",
    ))
}

/// `POST /.search`: not offered (filters go on `GET`).
pub async fn search_not_implemented() -> ScimResult {
    Err(ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "POST .search is not supported; filter with GET",
    ))
}
