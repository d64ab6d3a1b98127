//! SCIM 2.0 (RFC 7643, 7644, SPEC §12) at `/scim/v2` (a tenant's at `/t/{t}/scim/v2`):
//! provisioning of users and groups by a directory, authenticated by an admin key.
//!
//! Every write goes through the same domain use cases as the Admin API (`auth::accounts`,
//! `auth::users`, `auth::groups`, `profile::ProfileService`), so the rules and the audit events
//! (naming the admin key) are the same; SCIM only maps its resources onto them. Filters are parsed
//! by [`filter`] and answered by indexed queries; an attribute that cannot be searched that way is
//! refused with `invalidFilter`. Errors are SCIM error JSON with a `scimType` where RFC 7644 names
//! one.

pub mod discovery;
pub mod filter;
pub mod groups;
pub mod patch;
pub mod users;

use crate::AdminState;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Tessera's extension schema: the custom attributes of the profile schema, typed per it.
pub const PROFILE_EXTENSION: &str = "urn:tessera:params:scim:schemas:extension:profile:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const CONTENT_TYPE: &str = "application/scim+json";

/// The most resources one list answers.
pub const MAX_COUNT: u64 = 200;

/// A SCIM error (RFC 7644 §3.12).
#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "SCIM request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "the request could not be completed",
        )
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl actix_web::ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut resp = HttpResponseBuilder::new(self.status);
        resp.content_type(CONTENT_TYPE)
            .insert_header(("Cache-Control", "no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header(("WWW-Authenticate", "Bearer realm=\"scim\""));
        }
        resp.body(body.to_string())
    }
}

pub type ScimResult = Result<HttpResponse, ScimError>;

/// A SCIM answer.
pub fn scim_json(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponseBuilder::new(status)
        .content_type(CONTENT_TYPE)
        .insert_header(("Cache-Control", "no-store"))
        .body(body.to_string())
}

/// A resource answer with its `ETag` (and `Location` when created).
pub fn resource_response(status: StatusCode, resource: &Value) -> HttpResponse {
    let mut resp = HttpResponseBuilder::new(status);
    resp.content_type(CONTENT_TYPE)
        .insert_header(("Cache-Control", "no-store"));
    if let Some(v) = resource["meta"]["version"].as_str() {
        resp.insert_header((header::ETAG, v.to_owned()));
    }
    if status == StatusCode::CREATED
        && let Some(l) = resource["meta"]["location"].as_str()
    {
        resp.insert_header((header::LOCATION, l.to_owned()));
    }
    resp.body(resource.to_string())
}

/// Checks the admin key (the same keys as the Admin API; a tenant's key only in its tenant).
pub async fn authenticate(
    state: &AdminState,
    req: &HttpRequest,
) -> Result<crate::AdminKeyId, ScimError> {
    crate::authenticate(state, req).await.map_err(|p| {
        if p.status == StatusCode::UNAUTHORIZED {
            ScimError::new(StatusCode::UNAUTHORIZED, None, p.detail)
        } else {
            ScimError::new(p.status, None, p.detail)
        }
    })
}

/// Parses a JSON body (`application/scim+json` or `application/json`).
pub fn read_body(req: &HttpRequest, body: &[u8]) -> Result<Value, ScimError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if content_type != CONTENT_TYPE && content_type != "application/json" {
        return Err(ScimError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            "send application/scim+json",
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ScimError::bad("invalidSyntax", format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ScimError::bad(
            "invalidSyntax",
            "the body must be a JSON object",
        ));
    }
    if contains_nul(&value) {
        return Err(ScimError::bad(
            "invalidValue",
            "text may not contain NUL characters",
        ));
    }
    Ok(value)
}

fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(contains_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// The base URL of this SCIM service (the tenant's issuer + `/scim/v2`).
pub fn base_url(state: &AdminState) -> String {
    format!("{}/scim/v2", state.provider.settings.issuer)
}

/// A resource version: a weak ETag over the resource as served (without its `meta`), so any
/// change to what a client can read changes it.
pub fn version_of(resource: &Value) -> String {
    use sha2::Digest;
    let mut copy = resource.clone();
    if let Some(o) = copy.as_object_mut() {
        o.remove("meta");
    }
    let digest = sha2::Sha256::digest(copy.to_string().as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

/// Refuses a write whose `If-Match` names another version (412).
pub fn check_if_match(req: &HttpRequest, current: &Value) -> Result<(), ScimError> {
    let Some(wanted) = req
        .headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(());
    };
    let version = current["meta"]["version"].as_str().unwrap_or_default();
    let strip = |v: &str| {
        v.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    };
    let ok = wanted
        .split(',')
        .any(|w| w.trim() == "*" || strip(w) == strip(version));
    if ok {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            "the resource has changed since that version",
        ))
    }
}

/// `invalidFilter`: a filter that does not parse or that no index answers.
pub fn invalid_filter(m: impl Into<String>) -> ScimError {
    ScimError::bad("invalidFilter", m)
}

/// What a list request asks for: the parsed `filter`, the page (`startIndex`, 1-based, and
/// `count`) and the order (`sortBy` in the resource's own names, `sortOrder`).
pub struct Listing<O> {
    pub filter: Option<filter::Filter>,
    pub start: u64,
    pub count: u64,
    /// The order and whether it is descending.
    pub order: (O, bool),
}

impl<O> Listing<O> {
    /// The number of resources before the page.
    pub fn offset(&self) -> u64 {
        self.start - 1
    }
}

/// Reads a list request. `sort_by` maps a lower-cased `sortBy` (`meta.created` when absent) to
/// the resource's order; `sorts` names the accepted ones for the error.
pub fn listing<O>(
    query: &std::collections::HashMap<String, String>,
    sort_by: impl Fn(&str) -> Option<O>,
    sorts: &str,
) -> Result<Listing<O>, ScimError> {
    let number = |key: &str| -> Result<Option<i64>, ScimError> {
        match query.get(key).map(|s| s.trim()) {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ScimError::bad("invalidValue", format!("{key} must be a number"))),
        }
    };
    let start = number("startIndex")?.map_or(1, |n| n.max(1) as u64);
    let count = number("count")?.map_or(100, |n| n.clamp(0, MAX_COUNT as i64) as u64);
    let filter = match query
        .get("filter")
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
    {
        Some(f) => Some(filter::parse(f).map_err(|e| invalid_filter(e.0))?),
        None => None,
    };
    let key = query
        .get("sortBy")
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "meta.created".to_owned());
    let order = sort_by(&key)
        .ok_or_else(|| ScimError::bad("invalidValue", format!("sortBy is one of {sorts}")))?;
    let descending = match query
        .get("sortOrder")
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("ascending") => false,
        Some("descending") => true,
        Some(_) => {
            return Err(ScimError::bad(
                "invalidValue",
                "sortOrder is ascending or descending",
            ));
        }
    };
    Ok(Listing {
        filter,
        start,
        count,
        order: (order, descending),
    })
}

/// A list response.
pub fn list_response(total: u64, start: u64, resources: Vec<Value>) -> HttpResponse {
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_RESPONSE],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    )
}

/// The query string as a map (the last value of a repeated key wins).
pub fn query_map(req: &HttpRequest) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

/// `attributes` / `excludedAttributes`: trims a resource to what was asked (`id`, `schemas` and
/// `meta` always stay).
pub fn project(resource: Value, query: &std::collections::HashMap<String, String>) -> Value {
    let names = |key: &str| -> Vec<String> {
        query
            .get(key)
            .map(|s| {
                s.split(',')
                    .map(|a| {
                        let a = a.trim();
                        a.rsplit_once(':')
                            .map_or(a, |(_, n)| n)
                            .to_ascii_lowercase()
                    })
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let only = names("attributes");
    let without = names("excludedAttributes");
    let Value::Object(mut o) = resource else {
        return resource;
    };
    let always = ["id", "schemas", "meta"];
    let top = |k: &str| k.to_ascii_lowercase();
    if !only.is_empty() {
        o.retain(|k, _| {
            always.contains(&k.as_str())
                || only
                    .iter()
                    .any(|a| a.split('.').next() == Some(top(k).as_str()))
        });
    }
    if !without.is_empty() {
        o.retain(|k, _| always.contains(&k.as_str()) || !without.contains(&top(k)));
    }
    Value::Object(o)
}

/// Registers SCIM under `/scim/v2` (the app holds `web::Data<AdminState>`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/scim/v2")
            .route(
                "/ServiceProviderConfig",
                web::get().to(discovery::service_provider_config),
            )
            .route("/ServiceProviderConfig", web::to(discovery::not_allowed))
            .route("/ResourceTypes", web::get().to(discovery::resource_types))
            .route("/ResourceTypes", web::to(discovery::not_allowed))
            .route(
                "/ResourceTypes/{name}",
                web::get().to(discovery::resource_type),
            )
            .route("/ResourceTypes/{name}", web::to(discovery::not_allowed))
            .route("/Schemas", web::get().to(discovery::schemas))
            .route("/Schemas", web::to(discovery::not_allowed))
            .route("/Schemas/{id}", web::get().to(discovery::schema))
            .route("/Schemas/{id}", web::to(discovery::not_allowed))
            .route(
                "/.search",
                web::post().to(discovery::search_not_implemented),
            )
            .route(
                "/Users/.search",
                web::post().to(discovery::search_not_implemented),
            )
            .route(
                "/Groups/.search",
                web::post().to(discovery::search_not_implemented),
            )
            .route("/Users", web::get().to(users::list))
            .route("/Users", web::post().to(users::create))
            .route("/Users/{id}", web::get().to(users::get))
            .route("/Users/{id}", web::put().to(users::replace))
            .route("/Users/{id}", web::patch().to(users::patch))
            .route("/Users/{id}", web::delete().to(users::delete))
            .route("/Groups", web::get().to(groups::list))
            .route("/Groups", web::post().to(groups::create))
            .route("/Groups/{id}", web::get().to(groups::get))
            .route("/Groups/{id}", web::put().to(groups::replace))
            .route("/Groups/{id}", web::patch().to(groups::patch))
            .route("/Groups/{id}", web::delete().to(groups::delete))
            .default_service(web::to(|| async {
                ScimResult::Err(ScimError::not_found("no such SCIM endpoint"))
            })),
    );
}
