//! SCIM Groups: `displayName` is the group's name, `members` its users (by id, with their
//! `$ref` and `type`), `externalId` stored. Writes go through `auth::groups`.

use super::filter::{CompValue, CompareOp, Filter};
use super::{
    GROUP_SCHEMA, ScimError, ScimResult, authenticate, base_url, check_if_match, invalid_filter,
    list_response, listing, project, query_map, read_body, resource_response, version_of,
};
use crate::AdminState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth::groups::{
    Compare, DirectoryGroup, Group, GroupError, GroupFilter, GroupOrder, Members, NewGroup,
    TextMatch,
};
use profile::{Actor, Uuid};
use serde_json::{Value, json};

/// The most members a group resource lists.
const MAX_MEMBERS_SHOWN: u64 = auth::groups::MAX_MEMBERS_PER_REQUEST as u64;

async fn members_of(state: &AdminState, id: Uuid) -> Result<Vec<Uuid>, ScimError> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = auth::groups::members(&state.db, id, after, 1000)
            .await
            .map_err(ScimError::internal)?;
        after = page.last().copied();
        let done = page.len() < 1000 || all.len() as u64 >= MAX_MEMBERS_SHOWN;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// The group as SCIM serves it.
pub async fn resource(state: &AdminState, g: &Group) -> Result<Value, ScimError> {
    let base = base_url(state);
    let members: Vec<Value> = members_of(state, g.id)
        .await?
        .into_iter()
        .map(|u| json!({ "value": u.to_string(), "$ref": format!("{base}/Users/{u}"), "type": "User" }))
        .collect();
    let mut r = json!({
        "schemas": [GROUP_SCHEMA],
        "id": g.id.to_string(),
        "displayName": g.name,
    });
    if let Some(x) = &g.external_id {
        r["externalId"] = json!(x);
    }
    if !members.is_empty() {
        r["members"] = Value::Array(members);
    }
    let version = version_of(&r);
    r["meta"] = json!({
        "resourceType": "Group",
        "created": g.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "lastModified": g.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "location": format!("{base}/Groups/{}", g.id),
        "version": version,
    });
    Ok(r)
}

fn group_error(e: GroupError) -> ScimError {
    match e {
        GroupError::NameTaken => ScimError::new(
            StatusCode::CONFLICT,
            Some("uniqueness"),
            "a group with this displayName exists",
        ),
        GroupError::NoSuchGroup => ScimError::not_found("no such group"),
        GroupError::NoSuchUser => {
            ScimError::bad("invalidValue", "a member is not a user of this tenant")
        }
        GroupError::Internal(e) => ScimError::internal(e),
        other => ScimError::bad("invalidValue", other.to_string()),
    }
}

/// What a group resource asks for.
struct Wanted {
    name: String,
    external_id: Option<String>,
    members: Vec<Uuid>,
}

fn wanted(body: &Value) -> Result<Wanted, ScimError> {
    let name = match body.get("displayName") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(ScimError::bad(
                "invalidValue",
                "displayName is required (a string)",
            ));
        }
    };
    let external_id = match body.get("externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(ScimError::bad(
                "invalidValue",
                "externalId must be a string",
            ));
        }
    };
    let mut members = Vec::new();
    match body.get("members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for m in list {
                if let Some(t) = m.get("type").and_then(Value::as_str)
                    && !t.eq_ignore_ascii_case("User")
                {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "members are users (groups in groups are not supported)",
                    ));
                }
                let id = m
                    .get("value")
                    .and_then(Value::as_str)
                    .and_then(|v| Uuid::parse_str(v).ok())
                    .ok_or_else(|| {
                        ScimError::bad("invalidValue", "a member's value is a user id")
                    })?;
                if !members.contains(&id) {
                    members.push(id);
                }
            }
        }
        Some(_) => return Err(ScimError::bad("invalidValue", "members must be a list")),
    }
    Ok(Wanted {
        name,
        external_id,
        members,
    })
}

fn group_id(raw: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(raw).map_err(|_| ScimError::not_found("no such group"))
}

async fn find(state: &AdminState, id: Uuid) -> Result<Group, ScimError> {
    auth::groups::find(&state.db, id)
        .await
        .map_err(ScimError::internal)?
        .ok_or_else(|| ScimError::not_found("no such group"))
}

fn text_match(op: CompareOp) -> Option<TextMatch> {
    match op {
        CompareOp::Eq => Some(TextMatch::Exact),
        CompareOp::Sw => Some(TextMatch::Prefix),
        CompareOp::Co => Some(TextMatch::Contains),
        CompareOp::Ew => Some(TextMatch::Suffix),
        _ => None,
    }
}

/// A SCIM filter as an indexed group query; anything else is `invalidFilter`.
fn to_group_filter(f: &Filter) -> Result<GroupFilter, ScimError> {
    Ok(match f {
        Filter::And(a, b) => {
            GroupFilter::And(Box::new(to_group_filter(a)?), Box::new(to_group_filter(b)?))
        }
        Filter::Or(a, b) => {
            GroupFilter::Or(Box::new(to_group_filter(a)?), Box::new(to_group_filter(b)?))
        }
        Filter::Not(a) => GroupFilter::Not(Box::new(to_group_filter(a)?)),
        Filter::Present(p) if p.is("externalId", None) => GroupFilter::HasExternalId,
        Filter::Present(p) if p.is("displayName", None) || p.is("id", None) => {
            GroupFilter::Not(Box::new(GroupFilter::Nothing))
        }
        Filter::ValuePath { path, filter } if path.is("members", None) => match filter.as_ref() {
            Filter::Compare {
                path: p,
                op: CompareOp::Eq,
                value: CompValue::Str(v),
            } if p.is("value", None) => member(v),
            _ => return Err(invalid_filter("members[…] takes value eq \"user id\"")),
        },
        Filter::Compare { path, op, value } => {
            let text = match value {
                CompValue::Str(s) => s.clone(),
                _ => return Err(invalid_filter(format!("{path} compares with a string"))),
            };
            if path.is("members", Some("value")) && *op == CompareOp::Eq {
                member(&text)
            } else if path.is("id", None) && *op == CompareOp::Eq {
                Uuid::parse_str(&text).map_or(GroupFilter::Nothing, GroupFilter::Id)
            } else if path.is("displayName", None) {
                GroupFilter::Name(
                    text_match(*op)
                        .ok_or_else(|| invalid_filter("displayName takes eq, sw, co or ew"))?,
                    text,
                )
            } else if path.is("externalId", None) {
                GroupFilter::ExternalId(
                    text_match(*op)
                        .ok_or_else(|| invalid_filter("externalId takes eq, sw, co or ew"))?,
                    text,
                )
            } else if path.is("meta", Some("lastModified")) {
                let at = chrono::DateTime::parse_from_rfc3339(&text)
                    .map_err(|_| {
                        invalid_filter("meta.lastModified compares with an RFC 3339 time")
                    })?
                    .timestamp_millis();
                let cmp = match op {
                    CompareOp::Gt => Compare::Gt,
                    CompareOp::Ge => Compare::Ge,
                    CompareOp::Lt => Compare::Lt,
                    CompareOp::Le => Compare::Le,
                    CompareOp::Eq => Compare::Eq,
                    _ => {
                        return Err(invalid_filter(
                            "meta.lastModified takes eq, gt, ge, lt or le",
                        ));
                    }
                };
                GroupFilter::UpdatedAt(cmp, at)
            } else {
                return Err(invalid_filter(format!(
                    "{path} cannot be searched (displayName, externalId, members.value, id, meta.lastModified can)"
                )));
            }
        }
        other => return Err(invalid_filter(format!("unsupported filter {other:?}"))),
    })
}

fn member(v: &str) -> GroupFilter {
    Uuid::parse_str(v).map_or(GroupFilter::Nothing, GroupFilter::HasMember)
}

/// `GET /Groups?filter=&startIndex=&count=&attributes=&excludedAttributes=`.
pub async fn list(state: AdminState, req: HttpRequest) -> ScimResult {
    authenticate(&state, &req).await?;
    let query = query_map(&req);
    let listing = listing(
        &query,
        |key| match key {
            "id" | "meta.created" => Some(GroupOrder::Created),
            "displayname" => Some(GroupOrder::Name),
            "meta.lastmodified" => Some(GroupOrder::LastModified),
            _ => None,
        },
        "displayName, meta.created, meta.lastModified",
    )?;
    let parsed = match &listing.filter {
        Some(f) => Some(to_group_filter(f)?),
        None => None,
    };
    let (total, found) = auth::groups::filter(
        &state.db,
        parsed.as_ref(),
        listing.order,
        listing.offset(),
        listing.count,
    )
    .await
    .map_err(ScimError::internal)?;
    let mut resources = Vec::with_capacity(found.len());
    for g in &found {
        resources.push(project(resource(&state, g).await?, &query));
    }
    Ok(list_response(total, listing.start, resources))
}

/// `GET /Groups/{id}`.
pub async fn get(state: AdminState, req: HttpRequest, path: web::Path<String>) -> ScimResult {
    authenticate(&state, &req).await?;
    let g = find(&state, group_id(&path.into_inner())?).await?;
    let r = resource(&state, &g).await?;
    Ok(resource_response(
        StatusCode::OK,
        &project(r, &query_map(&req)),
    ))
}

/// `POST /Groups`.
pub async fn create(state: AdminState, req: HttpRequest, body: web::Bytes) -> ScimResult {
    let key = authenticate(&state, &req).await?;
    let body = read_body(&req, &body)?;
    let w = wanted(&body)?;
    let g = auth::groups::create(
        &state.db,
        state.clock.as_ref(),
        NewGroup {
            name: &w.name,
            description: None,
            external_id: w.external_id.as_deref(),
            members: &w.members,
        },
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(group_error)?;
    Ok(resource_response(
        StatusCode::CREATED,
        &resource(&state, &g).await?,
    ))
}

/// Makes the group what `w` states with `members` (one use case, one transaction).
async fn write(
    state: &AdminState,
    key: crate::AdminKeyId,
    id: Uuid,
    w: Wanted,
    members: Members,
) -> ScimResult {
    let g = auth::groups::provision(
        &state.db,
        state.clock.as_ref(),
        id,
        DirectoryGroup {
            name: &w.name,
            external_id: w.external_id.as_deref(),
            members,
        },
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(group_error)?;
    Ok(resource_response(
        StatusCode::OK,
        &resource(state, &g).await?,
    ))
}

/// `PUT /Groups/{id}`: replaces the name, external id and members.
pub async fn replace(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> ScimResult {
    let key = authenticate(&state, &req).await?;
    let id = group_id(&path.into_inner())?;
    let body = read_body(&req, &body)?;
    let current = resource(&state, &find(&state, id).await?).await?;
    check_if_match(&req, &current)?;
    let w = wanted(&body)?;
    let members = Members::Replace(w.members.clone());
    write(&state, key, id, w, members).await
}

/// `PATCH /Groups/{id}`.
pub async fn patch(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> ScimResult {
    let key = authenticate(&state, &req).await?;
    let id = group_id(&path.into_inner())?;
    let body = read_body(&req, &body)?;
    let current = resource(&state, &find(&state, id).await?).await?;
    check_if_match(&req, &current)?;
    let patched = super::patch::apply(&current, &body, GROUP_SCHEMA, &[])?;
    // Only what the patch changed: parallel patches each add or remove their own members.
    let before = wanted(&current)?;
    let w = wanted(&patched)?;
    let was: std::collections::HashSet<Uuid> = before.members.iter().copied().collect();
    let is: std::collections::HashSet<Uuid> = w.members.iter().copied().collect();
    let members = Members::Change {
        add: w
            .members
            .iter()
            .filter(|m| !was.contains(m))
            .copied()
            .collect(),
        remove: before
            .members
            .iter()
            .filter(|m| !is.contains(m))
            .copied()
            .collect(),
    };
    write(&state, key, id, w, members).await
}

/// `DELETE /Groups/{id}`.
pub async fn delete(state: AdminState, req: HttpRequest, path: web::Path<String>) -> ScimResult {
    let key = authenticate(&state, &req).await?;
    let id = group_id(&path.into_inner())?;
    if req
        .headers()
        .contains_key(actix_web::http::header::IF_MATCH)
    {
        let current = resource(&state, &find(&state, id).await?).await?;
        check_if_match(&req, &current)?;
    }
    let found = auth::groups::delete(&state.db, state.clock.as_ref(), id, Actor::AdminKey(key.0))
        .await
        .map_err(ScimError::internal)?;
    if !found {
        return Err(ScimError::not_found("no such group"));
    }
    Ok(HttpResponse::NoContent().finish())
}
