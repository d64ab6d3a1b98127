//! SCIM Users (SPEC §12). The mapping:
//!
//! - `userName`: the username login ID, else the email (a `userName` that is an email address
//!   becomes an email login ID); `emails[].value` / `phoneNumbers[].value`: the email and phone
//!   login IDs, never verified by SCIM (an admin says so through the Admin API). Phone numbers must
//!   be E.164, as everywhere in Tessera: others are `invalidValue` (the schema's
//!   `canonicalValues` shows the form).
//! - `name.givenName` / `name.familyName` / `displayName`: the standard `given_name`,
//!   `family_name` and `name`; the extension: the custom attributes, typed per the profile schema.
//! - `active`: not disabled (a request without it means active); `externalId`: stored.
//!
//! A PUT (and a PATCH, applied to the resource first) states the whole mapped resource: login IDs
//! are added and removed to match (other kinds, such as upstream identities, stay), mapped
//! attributes left out are cleared, others are kept. Every step is a domain use case, audited as
//! the admin key.

use super::filter::{self, CompValue, CompareOp, Filter};
use super::{
    PROFILE_EXTENSION, ScimError, ScimResult, USER_SCHEMA, authenticate, base_url, check_if_match,
    invalid_filter, list_response, listing, project, query_map, read_body, resource_response,
    version_of,
};
use crate::AdminState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth::groups::{Compare, TextMatch};
use auth::provisioning::DirectoryUser;
use auth::users::{Identity, IdentityKind, NewIdentity, User, UserFilter, UserOrder};
use profile::schema::AttributeType;
use profile::{Actor, Audience, Party, Uuid};
use serde_json::{Map, Value, json};

fn invalid(m: impl Into<String>) -> ScimError {
    ScimError::bad("invalidValue", m)
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The user as SCIM serves it.
pub async fn resource(state: &AdminState, user: &User) -> Result<Value, ScimError> {
    let identities = auth::users::identities(&state.db, user.id)
        .await
        .map_err(ScimError::internal)?;
    let profile = state
        .profiles
        .view(&state.db, user.id, Audience::Party(Party::Admin))
        .await
        .map_err(ScimError::internal)?
        .ok_or_else(|| ScimError::not_found("no such user"))?;
    let groups = auth::groups::filter(
        &state.db,
        Some(&auth::groups::GroupFilter::HasMember(user.id)),
        (auth::groups::GroupOrder::Name, false),
        0,
        1000,
    )
    .await
    .map_err(ScimError::internal)?
    .1;
    let schema = state
        .profiles
        .schema(&state.db)
        .await
        .map_err(ScimError::internal)?;
    Ok(render(state, user, &identities, &profile, &schema, &groups))
}

fn render(
    state: &AdminState,
    user: &User,
    identities: &[Identity],
    profile: &Map<String, Value>,
    schema: &profile::ProfileSchema,
    groups: &[auth::groups::Group],
) -> Value {
    let base = base_url(state);
    let of = |kind: IdentityKind| -> Vec<&Identity> {
        identities.iter().filter(|i| i.kind == kind).collect()
    };
    let user_name = of(IdentityKind::Username)
        .first()
        .or(of(IdentityKind::Email).first())
        .map(|i| i.value.clone());
    let mut r = Map::new();
    r.insert("id".into(), json!(user.id.to_string()));
    if let Some(x) = &user.external_id {
        r.insert("externalId".into(), json!(x));
    }
    if let Some(u) = user_name {
        r.insert("userName".into(), json!(u));
    }
    let mut name = Map::new();
    for (scim, ours) in [("givenName", "given_name"), ("familyName", "family_name")] {
        if let Some(v) = profile.get(ours).filter(|v| !v.is_null()) {
            name.insert(scim.into(), v.clone());
        }
    }
    if !name.is_empty() {
        r.insert("name".into(), Value::Object(name));
    }
    if let Some(v) = profile.get("name").filter(|v| !v.is_null()) {
        r.insert("displayName".into(), v.clone());
    }
    r.insert("active".into(), json!(!user.disabled));
    for (key, kind) in [
        ("emails", IdentityKind::Email),
        ("phoneNumbers", IdentityKind::Phone),
    ] {
        let values: Vec<Value> = of(kind)
            .iter()
            .map(|i| json!({ "value": i.value }))
            .collect();
        if !values.is_empty() {
            r.insert(key.into(), Value::Array(values));
        }
    }
    if !groups.is_empty() {
        r.insert(
            "groups".into(),
            Value::Array(
                groups
                    .iter()
                    .map(|g| {
                        json!({
                            "value": g.id.to_string(),
                            "$ref": format!("{base}/Groups/{}", g.id),
                            "display": g.name,
                            "type": "direct",
                        })
                    })
                    .collect(),
            ),
        );
    }
    let mut extension = Map::new();
    if let Some(custom) = profile.get("custom_attributes").and_then(Value::as_object) {
        for def in &schema.custom {
            if let Some(v) = custom.get(&def.name).filter(|v| !v.is_null()) {
                let v = match def.kind {
                    AttributeType::Text => v.get("text").cloned().unwrap_or(Value::Null),
                    _ => v.clone(),
                };
                extension.insert(def.name.clone(), v);
            }
        }
    }
    let mut schemas = vec![json!(USER_SCHEMA)];
    if !extension.is_empty() {
        schemas.push(json!(PROFILE_EXTENSION));
        r.insert(PROFILE_EXTENSION.into(), Value::Object(extension));
    }
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(schemas));
    out.extend(r);
    let mut out = Value::Object(out);
    let version = version_of(&out);
    let modified = profile
        .get("updated_at")
        .and_then(Value::as_i64)
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or(user.created_at, |t| t.max(user.created_at));
    out["meta"] = json!({
        "resourceType": "User",
        "created": ts(user.created_at),
        "lastModified": ts(modified),
        "location": format!("{base}/Users/{}", user.id),
        "version": version,
    });
    out
}

fn strings_of(body: &Value, key: &str) -> Result<Vec<String>, ScimError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i.get("value") {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => Err(invalid(format!("each of {key} has a string value"))),
            })
            .collect(),
        Some(_) => Err(invalid(format!("{key} must be a list"))),
    }
}

fn text_field(v: Option<&Value>, what: &str) -> Result<Value, ScimError> {
    match v {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Value::Null),
        Some(Value::String(s)) => Ok(json!(s)),
        Some(_) => Err(invalid(format!("{what} must be a string"))),
    }
}

/// What a user resource states.
fn wanted(body: &Value, schema: &profile::ProfileSchema) -> Result<DirectoryUser, ScimError> {
    let user_name = match body.get("userName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => return Err(invalid("userName is required")),
    };
    let mut identities: Vec<(IdentityKind, String)> = Vec::new();
    let mut push = |kind, value: String| {
        if !identities.iter().any(|(k, v)| *k == kind && *v == value) {
            identities.push((kind, value));
        }
    };
    match auth::login_id::normalise_username(&user_name) {
        Ok(u) => push(IdentityKind::Username, u),
        Err(_) => match auth::login_id::normalise_email(&user_name) {
            Ok(e) => push(IdentityKind::Email, e),
            Err(_) => {
                return Err(invalid(
                    "userName is a username (2 to 64 letters, digits, '.', '-', '_') or an email address",
                ));
            }
        },
    }
    for e in strings_of(body, "emails")? {
        let e = auth::login_id::normalise_email(&e)
            .map_err(|_| invalid(format!("{e:?} is not an email address")))?;
        push(IdentityKind::Email, e);
    }
    for p in strings_of(body, "phoneNumbers")? {
        let n = profile::validate::phone_number(&json!(p)).map_err(|_| {
            invalid(format!(
                "{p:?} is not a phone number in E.164 form (such as +14155550100)"
            ))
        })?;
        push(
            IdentityKind::Phone,
            n.as_str().map(str::to_owned).unwrap_or_default(),
        );
    }
    let active = match body.get("active") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("active must be true or false")),
    };
    let external_id = match body.get("externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 256 => Some(s.clone()),
        Some(_) => return Err(invalid("externalId is a string of 1 to 256 characters")),
    };
    let name = body.get("name").cloned().unwrap_or(Value::Null);
    if !(name.is_object() || name.is_null()) {
        return Err(invalid("name must be an object"));
    }
    let mut custom = Map::new();
    let ext = body.get(PROFILE_EXTENSION).cloned().unwrap_or(Value::Null);
    let ext = match ext {
        Value::Object(o) => o,
        Value::Null => Map::new(),
        _ => return Err(invalid("the profile extension must be an object")),
    };
    for (k, _) in ext.iter() {
        if k != "schemas" && schema.find_custom(k).is_none() {
            return Err(ScimError::bad(
                "invalidValue",
                format!("{k} is not an attribute of {PROFILE_EXTENSION}"),
            ));
        }
    }
    for def in &schema.custom {
        let v = ext
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&def.name))
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null);
        custom.insert(def.name.clone(), v);
    }
    let profile = json!({
        "given_name": text_field(name.get("givenName"), "name.givenName")?,
        "family_name": text_field(name.get("familyName"), "name.familyName")?,
        "name": text_field(body.get("displayName"), "displayName")?,
        "custom_attributes": custom,
    });
    Ok(DirectoryUser {
        identities,
        active,
        external_id,
        profile,
    })
}

fn user_id(raw: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(raw).map_err(|_| ScimError::not_found("no such user"))
}

async fn find(state: &AdminState, id: Uuid) -> Result<User, ScimError> {
    auth::users::find(&state.db, id)
        .await
        .map_err(ScimError::internal)?
        .ok_or_else(|| ScimError::not_found("no such user"))
}

fn taken() -> ScimError {
    ScimError::new(
        StatusCode::CONFLICT,
        Some("uniqueness"),
        "a login ID is already taken by another user",
    )
}

fn profile_error(e: profile::ChangeError) -> ScimError {
    match e {
        profile::ChangeError::Refused(r) => invalid(r.to_string()),
        profile::ChangeError::NoSuchUser => ScimError::not_found("no such user"),
        profile::ChangeError::Conflict => ScimError::new(
            StatusCode::CONFLICT,
            None,
            "the user was changed at the same time; try again",
        ),
        profile::ChangeError::Service(e) => ScimError::internal(e),
    }
}

/// `POST /Users`.
pub async fn create(state: AdminState, req: HttpRequest, body: web::Bytes) -> ScimResult {
    let key = authenticate(&state, &req).await?;
    let body = read_body(&req, &body)?;
    let schema = state
        .profiles
        .schema(&state.db)
        .await
        .map_err(ScimError::internal)?;
    let w = wanted(&body, &schema)?;
    // A new profile states only what was given.
    let mut first = w.profile.clone();
    if let Some(o) = first.as_object_mut() {
        o.retain(|_, v| !v.is_null());
        if let Some(Value::Object(c)) = o.get_mut("custom_attributes") {
            c.retain(|_, v| !v.is_null());
        }
    }
    let new = auth::accounts::AdminAccount {
        identities: w
            .identities
            .iter()
            .map(|(kind, value)| NewIdentity {
                kind: *kind,
                value: value.clone(),
                verified: false,
            })
            .collect(),
        password: None,
        profile: Some(&first),
        generate_nickname: state.generate_nickname,
        admin_key: key.0,
        // Stated with the account, in its transaction.
        provisioning: auth::accounts::Provisioning {
            external_id: w.external_id.clone(),
            disabled: !w.active,
        },
    };
    let id = match auth::accounts::create_by_admin(
        &state.db,
        state.clock.as_ref(),
        &state.profiles,
        new,
    )
    .await
    {
        Ok(id) => id,
        Err(auth::accounts::CreateError::Taken) => return Err(taken()),
        Err(auth::accounts::CreateError::Profile(e)) => return Err(profile_error(e)),
        Err(auth::accounts::CreateError::Password(e)) => return Err(invalid(e.to_string())),
        Err(auth::accounts::CreateError::Internal(e)) => return Err(ScimError::internal(e)),
    };
    let user = find(&state, id).await?;
    Ok(resource_response(
        StatusCode::CREATED,
        &resource(&state, &user).await?,
    ))
}

/// Makes the user what `w` states (PUT, and PATCH after applying it): one use case, one
/// transaction.
async fn write(
    state: &AdminState,
    key: crate::AdminKeyId,
    user: User,
    wanted: DirectoryUser,
    base: Option<&DirectoryUser>,
) -> ScimResult {
    use auth::provisioning::ReplaceError;
    auth::provisioning::replace_user(
        &state.db,
        &state.profiles,
        state.clock.as_ref(),
        user.id,
        wanted,
        base,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(|e| match e {
        ReplaceError::NoSuchUser => ScimError::not_found("no such user"),
        ReplaceError::Taken => taken(),
        e @ ReplaceError::NoLoginId => invalid(e.to_string()),
        ReplaceError::Profile(e) => profile_error(e),
        e @ ReplaceError::Conflict => ScimError::new(StatusCode::CONFLICT, None, e.to_string()),
        ReplaceError::Internal(e) => ScimError::internal(e),
    })?;
    let user = find(state, user.id).await?;
    Ok(resource_response(
        StatusCode::OK,
        &resource(state, &user).await?,
    ))
}

/// `PUT /Users/{id}`.
pub async fn replace(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> ScimResult {
    let key = authenticate(&state, &req).await?;
    let user = find(&state, user_id(&path.into_inner())?).await?;
    let body = read_body(&req, &body)?;
    check_if_match(&req, &resource(&state, &user).await?)?;
    let schema = state
        .profiles
        .schema(&state.db)
        .await
        .map_err(ScimError::internal)?;
    let w = wanted(&body, &schema)?;
    write(&state, key, user, w, None).await
}

/// `PATCH /Users/{id}`.
pub async fn patch(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> ScimResult {
    let key = authenticate(&state, &req).await?;
    let user = find(&state, user_id(&path.into_inner())?).await?;
    let body = read_body(&req, &body)?;
    let current = resource(&state, &user).await?;
    check_if_match(&req, &current)?;
    let patched = super::patch::apply(&current, &body, USER_SCHEMA, &[PROFILE_EXTENSION])?;
    let schema = state
        .profiles
        .schema(&state.db)
        .await
        .map_err(ScimError::internal)?;
    // Only what the patch changed is written: parallel patches do not undo each other. (A
    // resource that does not read back as a write, such as one without a userName, is replaced.)
    let base = wanted(&current, &schema).ok();
    let w = wanted(&patched, &schema)?;
    write(&state, key, user, w, base.as_ref()).await
}

/// `DELETE /Users/{id}`.
pub async fn delete(state: AdminState, req: HttpRequest, path: web::Path<String>) -> ScimResult {
    let key = authenticate(&state, &req).await?;
    let id = user_id(&path.into_inner())?;
    if req
        .headers()
        .contains_key(actix_web::http::header::IF_MATCH)
    {
        let user = find(&state, id).await?;
        check_if_match(&req, &resource(&state, &user).await?)?;
    }
    let found = auth::users::delete(&state.db, state.clock.as_ref(), id, Actor::AdminKey(key.0))
        .await
        .map_err(ScimError::internal)?;
    if !found {
        return Err(ScimError::not_found("no such user"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /Users/{id}`.
pub async fn get(state: AdminState, req: HttpRequest, path: web::Path<String>) -> ScimResult {
    authenticate(&state, &req).await?;
    let user = find(&state, user_id(&path.into_inner())?).await?;
    let r = resource(&state, &user).await?;
    Ok(resource_response(
        StatusCode::OK,
        &project(r, &query_map(&req)),
    ))
}

fn text_match(op: CompareOp, path: &filter::AttrPath) -> Result<TextMatch, ScimError> {
    match op {
        CompareOp::Eq => Ok(TextMatch::Exact),
        CompareOp::Sw => Ok(TextMatch::Prefix),
        CompareOp::Co => Ok(TextMatch::Contains),
        CompareOp::Ew => Ok(TextMatch::Suffix),
        _ => Err(invalid_filter(format!("{path} takes eq, sw, co or ew"))),
    }
}

const LOGIN_KINDS: [&str; 2] = ["username", "email"];

/// A SCIM filter as an indexed user query; anything else is `invalidFilter` (never a scan of the
/// users).
fn to_user_filter(f: &Filter, schema: &profile::ProfileSchema) -> Result<UserFilter, ScimError> {
    let both = |a: &Filter, b: &Filter| -> Result<(Box<UserFilter>, Box<UserFilter>), ScimError> {
        Ok((
            Box::new(to_user_filter(a, schema)?),
            Box::new(to_user_filter(b, schema)?),
        ))
    };
    Ok(match f {
        Filter::And(a, b) => {
            let (a, b) = both(a, b)?;
            UserFilter::And(a, b)
        }
        Filter::Or(a, b) => {
            let (a, b) = both(a, b)?;
            UserFilter::Or(a, b)
        }
        Filter::Not(a) => UserFilter::Not(Box::new(to_user_filter(a, schema)?)),
        Filter::Present(p) if p.is("externalId", None) => UserFilter::HasExternalId,
        Filter::Present(p) if p.is("emails", None) || p.is("emails", Some("value")) => {
            UserFilter::HasIdentity(vec!["email"])
        }
        Filter::Present(p) if p.is("phoneNumbers", None) || p.is("phoneNumbers", Some("value")) => {
            UserFilter::HasIdentity(vec!["phone"])
        }
        Filter::Present(p) if p.is("userName", None) || p.is("id", None) => {
            UserFilter::Not(Box::new(UserFilter::Nothing))
        }
        Filter::ValuePath { path, filter } => match filter.as_ref() {
            Filter::Compare {
                path: inner,
                op,
                value,
            } if inner.is("value", None) => {
                let flat = filter::AttrPath {
                    schema: path.schema.clone(),
                    name: path.name.clone(),
                    sub: Some("value".into()),
                };
                to_user_filter(
                    &Filter::Compare {
                        path: flat,
                        op: *op,
                        value: value.clone(),
                    },
                    schema,
                )?
            }
            _ => return Err(invalid_filter(format!("{path}[…] takes value comparisons"))),
        },
        Filter::Compare { path, op, value } => {
            if path.is("active", None) {
                return match (op, value) {
                    (CompareOp::Eq, CompValue::Bool(b)) => Ok(UserFilter::Disabled(!b)),
                    (CompareOp::Ne, CompValue::Bool(b)) => Ok(UserFilter::Disabled(*b)),
                    _ => Err(invalid_filter("active takes eq true or eq false")),
                };
            }
            if path.is("meta", Some("lastModified")) || path.is("meta", Some("created")) {
                let CompValue::Str(t) = value else {
                    return Err(invalid_filter(format!(
                        "{path} compares with an RFC 3339 time"
                    )));
                };
                let at = chrono::DateTime::parse_from_rfc3339(t)
                    .map_err(|_| invalid_filter(format!("{path} compares with an RFC 3339 time")))?
                    .timestamp_millis();
                let cmp = match op {
                    CompareOp::Eq => Compare::Eq,
                    CompareOp::Gt => Compare::Gt,
                    CompareOp::Ge => Compare::Ge,
                    CompareOp::Lt => Compare::Lt,
                    CompareOp::Le => Compare::Le,
                    _ => return Err(invalid_filter(format!("{path} takes eq, gt, ge, lt or le"))),
                };
                return Ok(if path.is("meta", Some("created")) {
                    UserFilter::CreatedAt(cmp, at)
                } else {
                    UserFilter::UpdatedAt(cmp, at)
                });
            }
            let text = match value {
                CompValue::Str(s) => s.clone(),
                CompValue::Bool(b) => b.to_string(),
                CompValue::Num(n) => n.to_string(),
                CompValue::Null => return Err(invalid_filter("compare with pr instead of null")),
            };
            let how = text_match(*op, path)?;
            if path.is("id", None) {
                return Ok(match (how, Uuid::parse_str(&text)) {
                    (TextMatch::Exact, Ok(id)) => UserFilter::Id(id),
                    (TextMatch::Exact, Err(_)) => UserFilter::Nothing,
                    _ => return Err(invalid_filter("id takes eq")),
                });
            }
            if path.is("userName", None) {
                UserFilter::Identity {
                    kinds: LOGIN_KINDS.to_vec(),
                    how,
                    value: text,
                }
            } else if path.is("emails", Some("value")) || path.is("emails", None) {
                UserFilter::Identity {
                    kinds: vec!["email"],
                    how,
                    value: text,
                }
            } else if path.is("phoneNumbers", Some("value")) || path.is("phoneNumbers", None) {
                UserFilter::Identity {
                    kinds: vec!["phone"],
                    how,
                    value: text,
                }
            } else if path.is("externalId", None) {
                UserFilter::ExternalId(how, text)
            } else if path.is("displayName", None) {
                // The whole display name is indexed (eq and sw: a range; co, ew: within the
                // tenant's display names only).
                UserFilter::Indexed {
                    field: auth::users::DISPLAY_FIELD.into(),
                    how,
                    value: text,
                }
            } else if path
                .schema
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(PROFILE_EXTENSION))
                && how == TextMatch::Exact
            {
                let def = schema
                    .custom
                    .iter()
                    .find(|d| d.name.eq_ignore_ascii_case(&path.name))
                    .filter(|d| d.kind != AttributeType::Text)
                    .ok_or_else(|| invalid_filter(format!("{path} cannot be searched")))?;
                UserFilter::Indexed {
                    field: format!("attr:{}", def.id),
                    how,
                    value: text,
                }
            } else {
                return Err(invalid_filter(format!(
                    "{path} with {op:?} cannot be answered from an index (userName, emails.value, \
                     phoneNumbers.value, externalId, active, id, meta.created, meta.lastModified, \
                     displayName, and extension attributes with eq can)"
                )));
            }
        }
        other => return Err(invalid_filter(format!("unsupported filter {other:?}"))),
    })
}

/// `GET /Users?filter=&startIndex=&count=&sortBy=&sortOrder=&attributes=&excludedAttributes=`.
pub async fn list(state: AdminState, req: HttpRequest) -> ScimResult {
    authenticate(&state, &req).await?;
    let query = query_map(&req);
    let listing = listing(
        &query,
        |key| match key {
            "id" | "meta.created" => Some(UserOrder::Created),
            "username" | "urn:ietf:params:scim:schemas:core:2.0:user:username" => {
                Some(UserOrder::LoginId)
            }
            "meta.lastmodified" => Some(UserOrder::LastModified),
            _ => None,
        },
        "userName, meta.created, meta.lastModified",
    )?;
    let schema = state
        .profiles
        .schema(&state.db)
        .await
        .map_err(ScimError::internal)?;
    let parsed = match &listing.filter {
        Some(f) => Some(to_user_filter(f, &schema)?),
        None => None,
    };
    let (total, found) = auth::users::filter(
        &state.db,
        parsed.as_ref(),
        listing.order,
        listing.offset(),
        listing.count,
    )
    .await
    .map_err(|e| match e {
        auth::users::FilterError::Unindexed => invalid_filter(
            "the filter needs a condition an index answers (userName, emails.value, \
             phoneNumbers.value, externalId, id, meta.created, meta.lastModified, displayName, \
             an extension attribute eq); active and not (…) only narrow such a condition",
        ),
        auth::users::FilterError::Internal(e) => ScimError::internal(e),
    })?;
    let mut resources = Vec::with_capacity(found.len());
    for u in &found {
        resources.push(project(resource(&state, u).await?, &query));
    }
    Ok(list_response(total, listing.start, resources))
}
