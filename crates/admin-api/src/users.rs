//! User routes: `POST /users`, `GET|DELETE /users/{id}`, `PUT|PATCH /users/{id}/profile`,
//! `POST /users/{id}/disable|enable`. The admin has full access to every attribute, under the same
//! validation as everyone else.

use crate::body::invalid;
use crate::model;
use crate::{AdminKeyId, AdminState, authenticate};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth::accounts::CreateError;
use auth::passwords::SetPasswordError;
use auth::users::{IdentityKind, NewIdentity};
use http_kit::Problem;
use http_kit::json_no_store;
use http_kit::{change_problem, parse_json_body};
use profile::Actor;
use profile::Uuid;
use profile::{Audience, Change, Party};
use serde_json::{Value, json};

pub(crate) fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such user")
}

pub(crate) fn user_id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| not_found())
}

/// An identity as the Admin API shows it.
pub(crate) fn identity_json(i: &auth::users::Identity) -> Value {
    crate::model::to_json(&model::Identity::from(i))
}

/// The user resource (SPEC §6) from rows already read.
pub(crate) fn user_resource(
    user: &auth::users::User,
    identities: &[&auth::users::Identity],
    groups: Vec<String>,
    profile: serde_json::Map<String, Value>,
) -> Value {
    crate::model::to_json(&model::User {
        id: user.id,
        created_at: user.created_at.to_rfc3339(),
        last_login_at: user.last_login_at.map(|t| t.to_rfc3339()),
        disabled: user.disabled,
        identities: identities
            .iter()
            .map(|i| model::Identity::from(*i))
            .collect(),
        groups,
        profile,
    })
}

/// The user resource (SPEC §6), with the annotations when the request asks for them.
async fn user_json(state: &AdminState, req: &HttpRequest, id: Uuid) -> Result<Value, Problem> {
    let user = auth::users::find(&state.db, id)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    let identities = auth::users::identities(&state.db, id)
        .await
        .map_err(Problem::internal)?;
    let profile = state
        .profiles
        .view_with(
            &state.db,
            id,
            Audience::Party(Party::Admin),
            http_kit::wants_annotations(req),
        )
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    let groups = auth::groups::names(&state.db, id)
        .await
        .map_err(Problem::internal)?;
    Ok(user_resource(
        &user,
        &identities.iter().collect::<Vec<_>>(),
        groups,
        profile,
    ))
}

/// `GET /users/{id}`.
#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "users",
    summary = "Read a user",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("include_annotations" = Option<u8>, Query, description = "1: the profile carries its `annotations` (also `include_user_annotations=1`)"),
    ),
    responses(
        (status = 200, description = "The user", body = crate::model::User),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn get(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let id = user_id(&path.into_inner())?;
    Ok(json_no_store(
        StatusCode::OK,
        &user_json(&state, &req, id).await?,
    ))
}

/// Reads `identities` of a create request into normalised login IDs.
fn identities_from(body: &Value) -> Result<Vec<NewIdentity>, Problem> {
    let Some(list) = body
        .get("identities")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    else {
        return Err(invalid("/identities", "at least one identity is required"));
    };
    let mut out: Vec<NewIdentity> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let pointer = format!("/identities/{i}");
        let identity = identity_from(item, &pointer)?;
        if out
            .iter()
            .any(|o| o.kind == identity.kind && o.value == identity.value)
        {
            return Err(invalid(&format!("{pointer}/value"), "is given twice"));
        }
        out.push(identity);
    }
    Ok(out)
}

/// Reads one identity (`{"type", "value", "verified"}`) into a normalised login ID; `pointer`
/// locates it in the request for errors.
pub(crate) fn identity_from(item: &Value, pointer: &str) -> Result<NewIdentity, Problem> {
    auth::import::identity_from_json(item).map_err(|(field, message)| {
        let at = if field.is_empty() {
            pointer.to_owned()
        } else {
            format!("{pointer}/{field}")
        };
        invalid(&at, message)
    })
}

/// `POST /users`: identities, optional password and profile, in one transaction.
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    summary = "Create a user with identities, password and profile",
    request_body(content = crate::model::NewUser, content_type = "application/json"),
    responses(
        (status = 201, description = "The user", body = crate::model::User),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E409, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn create(
    state: AdminState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let body = parse_json_body(&req, &body)?;
    if !body.is_object() {
        return Err(invalid("", "the body must be a JSON object"));
    }
    let identities = identities_from(&body)?;
    let password = match body.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(auth::accounts::NewPassword {
            password: p.clone(),
            policy: &state.password_policy,
            hasher: &state.hasher,
        }),
        Some(_) => return Err(invalid("/password", "must be a string")),
    };
    let new = auth::accounts::AdminAccount {
        identities,
        password,
        profile: body.get("profile"),
        generate_nickname: state.generate_nickname,
        admin_key: key.0,
        provisioning: auth::accounts::Provisioning::default(),
    };
    match auth::accounts::create_by_admin(&state.db, state.clock.as_ref(), &state.profiles, new)
        .await
    {
        Ok(id) => Ok(json_no_store(
            StatusCode::CREATED,
            &user_json(&state, &req, id).await?,
        )),
        Err(CreateError::Taken) => Err(Problem::new(
            StatusCode::CONFLICT,
            "Conflict",
            "a login ID is already taken",
        )
        .with_errors(vec![(
            "/identities".into(),
            "is already taken by another account".into(),
        )])),
        Err(CreateError::Password(e)) => Err(invalid("/password", e.to_string())),
        Err(CreateError::Profile(e)) => Err(prefix_pointers(change_problem(e), "/profile")),
        Err(CreateError::Internal(e)) => Err(Problem::internal(e)),
    }
}

fn prefix_pointers(mut p: Problem, prefix: &str) -> Problem {
    for (pointer, _) in p.errors.iter_mut() {
        *pointer = format!("{prefix}{pointer}");
    }
    p
}

async fn write_profile(
    state: &AdminState,
    req: &HttpRequest,
    raw_id: &str,
    body: &[u8],
    put: bool,
) -> Result<HttpResponse, Problem> {
    let key: AdminKeyId = authenticate(state, req).await?;
    let id = user_id(raw_id)?;
    let doc = parse_json_body(req, body)?;
    let change = if put {
        Change::Put(&doc)
    } else {
        Change::Patch(&doc)
    };
    let profile = state
        .profiles
        .change(
            &state.db,
            state.clock.as_ref(),
            id,
            Audience::Party(Party::Admin),
            change,
            profile::Author::new(Actor::AdminKey(key.0)),
        )
        .await
        .map_err(change_problem)?;
    Ok(json_no_store(StatusCode::OK, &Value::Object(profile)))
}

/// `PUT /users/{id}/profile`: replaces every attribute (missing ones are cleared).
#[utoipa::path(
    put,
    path = "/users/{id}/profile",
    tag = "users",
    summary = "Replace the profile (attributes left out are cleared)",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    request_body(content = crate::model::Profile, content_type = "application/json"),
    responses(
        (status = 200, description = "The profile", body = crate::model::Profile),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E409, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn put_profile(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    write_profile(&state, &req, &path.into_inner(), &body, true).await
}

/// `PATCH /users/{id}/profile`: JSON merge patch.
#[utoipa::path(
    patch,
    path = "/users/{id}/profile",
    tag = "users",
    summary = "Change the profile with a JSON merge patch (null clears)",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    request_body(content = crate::model::Profile, content_type = "application/json"),
    responses(
        (status = 200, description = "The profile", body = crate::model::Profile),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E409, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn patch_profile(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    write_profile(&state, &req, &path.into_inner(), &body, false).await
}

async fn set_disabled(
    state: &AdminState,
    req: &HttpRequest,
    raw_id: &str,
    disabled: bool,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(state, req).await?;
    let id = user_id(raw_id)?;
    if !auth::users::set_disabled(
        &state.db,
        state.clock.as_ref(),
        id,
        disabled,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(Problem::internal)?
    {
        return Err(not_found());
    }
    Ok(json_no_store(
        StatusCode::OK,
        &user_json(state, req, id).await?,
    ))
}

/// `POST /users/{id}/disable`: the user cannot sign in; sessions and tokens stop working.
#[utoipa::path(
    post,
    path = "/users/{id}/disable",
    tag = "users",
    summary = "Disable a user: no sign-in; sessions and tokens stop working",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    responses(
        (status = 200, description = "The user", body = crate::model::User),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn disable(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    set_disabled(&state, &req, &path.into_inner(), true).await
}

/// `POST /users/{id}/enable`.
#[utoipa::path(
    post,
    path = "/users/{id}/enable",
    tag = "users",
    summary = "Enable a user",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    responses(
        (status = 200, description = "The user", body = crate::model::User),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn enable(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    set_disabled(&state, &req, &path.into_inner(), false).await
}

/// `DELETE /users/{id}`: the profile, identities, sessions, tokens and consents go with the user.
#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "users",
    summary = "Delete a user with profile, identities, sessions, tokens, consents and images",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn delete(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let id = user_id(&path.into_inner())?;
    if !auth::users::delete(&state.db, state.clock.as_ref(), id, Actor::AdminKey(key.0))
        .await
        .map_err(Problem::internal)?
    {
        return Err(not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /users/{id}/password` with `{"password"}`: sets it and ends the user's sessions.
#[utoipa::path(
    put,
    path = "/users/{id}/password",
    tag = "users",
    summary = "Set the password (the user's sessions end)",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    request_body(content = crate::model::PasswordBody, content_type = "application/json"),
    responses(
        (status = 204, description = "Set"),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn set_password(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let id = user_id(&path.into_inner())?;
    let body = parse_json_body(&req, &body)?;
    let Some(password) = body.get("password").and_then(Value::as_str) else {
        return Err(invalid("/password", "must be a string"));
    };
    match auth::passwords::set_by_admin(
        &state.db,
        state.clock.as_ref(),
        &state.hasher,
        &state.password_policy,
        id,
        password.to_owned(),
        key.0,
    )
    .await
    {
        Ok(()) => {}
        Err(SetPasswordError::Policy(e)) => return Err(invalid("/password", e.to_string())),
        Err(SetPasswordError::NoSuchUser) => return Err(not_found()),
        Err(e) => return Err(Problem::internal(e)),
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /users/{id}/verified/{claim}` with `{"verified": bool}` for `email_verified` or
/// `phone_number_verified`: marks the user's email or phone identities.
#[utoipa::path(
    put,
    path = "/users/{id}/verified/{claim}",
    tag = "users",
    summary = "Mark the email or phone number verified or not",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("claim" = String, Path, description = "`email_verified` or `phone_number_verified`"),
    ),
    request_body(content = crate::model::VerifiedBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The user", body = crate::model::User),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn set_verified(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let (raw_id, claim) = path.into_inner();
    let id = user_id(&raw_id)?;
    let kind = match claim.as_str() {
        "email_verified" => IdentityKind::Email,
        "phone_number_verified" => IdentityKind::Phone,
        _ => {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "Not Found",
                "the claim must be email_verified or phone_number_verified",
            ));
        }
    };
    let body = parse_json_body(&req, &body)?;
    let Some(verified) = body.get("verified").and_then(Value::as_bool) else {
        return Err(invalid("/verified", "must be true or false"));
    };
    if !auth::users::set_verified(
        &state.db,
        state.clock.as_ref(),
        id,
        kind,
        verified,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(Problem::internal)?
    {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("the user has no {} login ID", kind.as_str()),
        ));
    }
    Ok(json_no_store(
        StatusCode::OK,
        &user_json(&state, &req, id).await?,
    ))
}

/// `GET /users/{id}/identities`.
#[utoipa::path(
    get,
    path = "/users/{id}/identities",
    tag = "identities",
    summary = "List a user's identities",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    responses(
        (status = 200, description = "The identities", body = crate::model::IdentityPage),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn identities(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let id = user_id(&path.into_inner())?;
    let user = user_json(&state, &req, id).await?;
    Ok(json_no_store(
        StatusCode::OK,
        &json!({ "items": user["identities"], "next_cursor": null }),
    ))
}

/// `POST /users/{id}/identities` with `{"type", "value", "verified"}`: adds a login ID (409 when
/// another account has it).
#[utoipa::path(
    post,
    path = "/users/{id}/identities",
    tag = "identities",
    summary = "Add a login ID",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    request_body(content = crate::model::NewIdentity, content_type = "application/json"),
    responses(
        (status = 201, description = "The identity", body = crate::model::Identity),
        crate::model::errors::E401, crate::model::errors::E400, crate::model::errors::E404, crate::model::errors::E409, crate::model::errors::E413, crate::model::errors::E415, crate::model::errors::E422,
    ),
    security(("admin_key" = []))
)]
pub async fn add_identity(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let id = user_id(&path.into_inner())?;
    let body = parse_json_body(&req, &body)?;
    let identity = identity_from(&body, "")?;
    auth::users::find(&state.db, id)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    let identity_id = match auth::users::add_identity(
        &state.db,
        state.clock.as_ref(),
        id,
        identity,
        Actor::AdminKey(key.0),
    )
    .await
    {
        Ok(identity_id) => identity_id,
        Err(auth::users::AddIdentityError::Taken) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "Conflict",
                "this login ID is already taken",
            )
            .with_errors(vec![(
                "/value".into(),
                "is already taken by an account".into(),
            )]));
        }
        Err(e) => return Err(Problem::internal(e)),
    };
    let identities = auth::users::identities(&state.db, id)
        .await
        .map_err(Problem::internal)?;
    let added = identities
        .iter()
        .find(|i| i.id == identity_id)
        .ok_or_else(not_found)?;
    Ok(json_no_store(StatusCode::CREATED, &identity_json(added)))
}

/// `DELETE /users/{id}/identities/{identity_id}`: never the last one (409).
#[utoipa::path(
    delete,
    path = "/users/{id}/identities/{identity_id}",
    tag = "identities",
    summary = "Remove a login ID (never the last)",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("identity_id" = String, Path, description = "The identity's id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        crate::model::errors::E401, crate::model::errors::E404, crate::model::errors::E409,
    ),
    security(("admin_key" = []))
)]
pub async fn remove_identity(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let (raw_user, raw_identity) = path.into_inner();
    let id = user_id(&raw_user)?;
    let identity = Uuid::parse_str(&raw_identity)
        .map_err(|_| Problem::new(StatusCode::NOT_FOUND, "Not Found", "no such identity"))?;
    match auth::users::remove_identity(
        &state.db,
        state.clock.as_ref(),
        id,
        identity,
        Actor::AdminKey(key.0),
    )
    .await
    .map_err(Problem::internal)?
    {
        auth::users::RemoveIdentity::Removed => Ok(HttpResponse::NoContent().finish()),
        auth::users::RemoveIdentity::NotFound => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            "no such identity",
        )),
        auth::users::RemoveIdentity::Last => Err(Problem::new(
            StatusCode::CONFLICT,
            "Conflict",
            "this is the user's last login ID",
        )),
    }
}

fn session_json(s: &auth::sessions::Session) -> Value {
    crate::model::to_json(&model::Session::from(s))
}

/// `GET /users/{id}/sessions`.
#[utoipa::path(
    get,
    path = "/users/{id}/sessions",
    tag = "sessions",
    summary = "List a user's sessions",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    responses(
        (status = 200, description = "The sessions", body = crate::model::SessionPage),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn sessions(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let id = user_id(&path.into_inner())?;
    if auth::users::find(&state.db, id)
        .await
        .map_err(Problem::internal)?
        .is_none()
    {
        return Err(not_found());
    }
    let sessions = auth::sessions::list(&state.db, id)
        .await
        .map_err(Problem::internal)?;
    Ok(json_no_store(
        StatusCode::OK,
        &json!({ "items": sessions.iter().map(session_json).collect::<Vec<_>>(), "next_cursor": null }),
    ))
}

async fn end(
    state: &AdminState,
    key: crate::AdminKeyId,
    session: &auth::sessions::Session,
) -> Result<(), Problem> {
    // Clients that asked for back-channel logout hear of it, as when the user signs out.
    oidc::logout::end_session(
        &state.provider,
        &state.db,
        state.clock.as_ref(),
        session,
        oidc::logout::Ending::Revoked {
            by: Actor::AdminKey(key.0),
        },
    )
    .await
    .map_err(Problem::internal)?;
    Ok(())
}

/// `DELETE /users/{id}/sessions`: ends every session of the user (and what was issued under them).
#[utoipa::path(
    delete,
    path = "/users/{id}/sessions",
    tag = "sessions",
    summary = "End every session of a user",
    params(
        ("id" = String, Path, description = "The user's id"),
    ),
    responses(
        (status = 204, description = "Ended"),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn revoke_sessions(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let id = user_id(&path.into_inner())?;
    if auth::users::find(&state.db, id)
        .await
        .map_err(Problem::internal)?
        .is_none()
    {
        return Err(not_found());
    }
    for s in auth::sessions::list(&state.db, id)
        .await
        .map_err(Problem::internal)?
    {
        end(&state, key, &s).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /users/{id}/sessions/{session_id}`.
#[utoipa::path(
    delete,
    path = "/users/{id}/sessions/{session_id}",
    tag = "sessions",
    summary = "End one session",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("session_id" = String, Path, description = "The session's id"),
    ),
    responses(
        (status = 204, description = "Ended"),
        crate::model::errors::E401, crate::model::errors::E404,
    ),
    security(("admin_key" = []))
)]
pub async fn revoke_session(
    state: AdminState,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let key = authenticate(&state, &req).await?;
    let (raw_user, raw_session) = path.into_inner();
    let id = user_id(&raw_user)?;
    let sessions = auth::sessions::list(&state.db, id)
        .await
        .map_err(Problem::internal)?;
    let Some(session) = sessions.iter().find(|s| s.id.to_string() == raw_session) else {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            "no such session",
        ));
    };
    end(&state, key, session).await?;
    Ok(HttpResponse::NoContent().finish())
}
