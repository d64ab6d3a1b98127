//! The self-service API, for apps acting for the user with a bearer access token:
//! `GET /api/v1/me`, `GET|PUT|PATCH /api/v1/me/profile`, the uploads and public image URLs
//! ([`images`]). A first-party client sees and writes as the end user; a third-party client sees
//! exactly what UserInfo gives it (its granted scopes) and writes only within them; writes need
//! the `profile:write` scope and an account past the verification gate. Errors are problem+json.

pub mod images;
pub mod text_processor;

use crate::WebState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth::verification::Gate;
use http_kit::Problem;
use http_kit::json_no_store;
use http_kit::{change_problem, parse_json_body};
use oidc::bearer::{self, BearerError, VerifiedToken};
use oidc::userinfo::Surface;
use profile::Actor;
use profile::Uuid;
use profile::{Audience, Change};

const WRITE_SCOPE: &str = "profile:write";

/// The request's bearer access token, checked: a user's or a client's own.
pub(crate) async fn any_token(
    state: &WebState,
    req: &HttpRequest,
) -> Result<VerifiedToken, Problem> {
    let token = http_kit::authorization(req).bearer().ok_or_else(|| {
        Problem::bearer(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "a bearer access token is required",
        )
    })?;
    let verified =
        bearer::verify_access_token(&state.provider, &state.db, state.clock.as_ref(), token)
            .await
            .map_err(|e| match e {
                BearerError::Internal => Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable",
                    "the token could not be checked",
                ),
                e => Problem::bearer(StatusCode::UNAUTHORIZED, "invalid_token", e.to_string()),
            })?;
    Ok(verified)
}

/// The user behind the request's bearer token.
pub(crate) async fn authenticate(
    state: &WebState,
    req: &HttpRequest,
) -> Result<(VerifiedToken, Uuid), Problem> {
    let verified = any_token(state, req).await?;
    let user_id = verified.user_id().ok_or_else(|| {
        Problem::bearer(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "this token acts for a client, not a user",
        )
    })?;
    Ok((verified, user_id))
}

/// The user a bearer token acts for, and the token.
pub(crate) struct TokenUser {
    pub user_id: Uuid,
    pub token: VerifiedToken,
}

impl TokenUser {
    pub fn scopes(&self) -> Vec<&str> {
        self.token.claims.scope.split(' ').collect()
    }

    /// What this token sees and may write: the end user's view for a first-party client, exactly
    /// the claims of the granted scopes for a third-party one (the same rule as UserInfo).
    pub fn audience<'a>(&self, scopes: &'a [&'a str]) -> Audience<'a> {
        oidc::userinfo::token_audience(Surface::SelfService, self.token.third_party, scopes)
    }
}

/// The user behind the request's bearer token, whatever its scopes.
pub(crate) async fn token_user(state: &WebState, req: &HttpRequest) -> Result<TokenUser, Problem> {
    let (token, user_id) = authenticate(state, req).await?;
    Ok(TokenUser { user_id, token })
}

/// The user behind a bearer token that may change the profile: the `profile:write` scope (which
/// a third-party client gets only through the consent page that names it), and an account past
/// the verification gate.
pub(crate) async fn authenticate_writer(
    state: &WebState,
    req: &HttpRequest,
) -> Result<TokenUser, Problem> {
    let writer = token_user(state, req).await?;
    if !writer.token.claims.has_scope(WRITE_SCOPE) {
        return Err(Problem::bearer(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "changing the profile needs the profile:write scope",
        ));
    }
    match crate::signed_in::gate(state, writer.user_id).await {
        Ok(Gate::Open) => Ok(writer),
        Ok(Gate::VerifyEmail { .. }) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "the account must verify its email address before its profile can change",
        )),
        Ok(Gate::AddSecondFactor) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "the account must add a second factor before its profile can change",
        )),
        Err(e) => Err(Problem::internal(e)),
    }
}

fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "Not Found",
        "the user no longer exists",
    )
}

/// The profile as the token may see it, with the schema it was rendered under.
async fn token_profile(
    state: &WebState,
    user: &TokenUser,
    with_annotations: bool,
) -> Result<
    (
        serde_json::Map<String, serde_json::Value>,
        Vec<auth::users::Identity>,
    ),
    Problem,
> {
    let schema = state
        .profiles
        .schema(&state.db)
        .await
        .map_err(Problem::internal)?;
    let loaded = state
        .profiles
        .load(&state.db, user.user_id)
        .await
        .map_err(Problem::internal)?
        .ok_or_else(not_found)?;
    let scopes = user.scopes();
    let audience = user.audience(&scopes);
    let profile = if with_annotations {
        state.profiles.render_annotated(&schema, &loaded, audience)
    } else {
        state.profiles.render(&schema, &loaded, audience)
    };
    let identities = auth::users::identities(&state.db, user.user_id)
        .await
        .map_err(Problem::internal)?
        .into_iter()
        .filter(|i| profile::document::shows_login_ids(&schema, audience, i.kind))
        .collect();
    Ok((profile, identities))
}

/// `GET /api/v1/me`: the user's id, identities and profile — as the end user sees them for a
/// first-party client, exactly what UserInfo gives for a third-party one; the annotations with
/// `include_annotations=1` (first-party clients only).
pub async fn me(state: WebState, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let user = token_user(&state, &req).await?;
    let (profile, identities) =
        token_profile(&state, &user, http_kit::wants_annotations(&req)).await?;
    Ok(json_no_store(
        StatusCode::OK,
        &serde_json::json!({
            "id": user.user_id,
            "identities": identities.iter().map(|i| serde_json::json!({
                "id": i.id,
                "type": i.kind.as_str(),
                "value": i.value,
                "verified": i.verified_at.is_some(),
            })).collect::<Vec<_>>(),
            "profile": profile,
        }),
    ))
}

/// `GET /api/v1/me/profile`.
pub async fn get_profile(state: WebState, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let user = token_user(&state, &req).await?;
    let (profile, _) = token_profile(&state, &user, http_kit::wants_annotations(&req)).await?;
    Ok(json_no_store(
        StatusCode::OK,
        &serde_json::Value::Object(profile),
    ))
}

async fn write_profile(
    state: &WebState,
    req: &HttpRequest,
    body: &[u8],
    put: bool,
) -> Result<HttpResponse, Problem> {
    let writer = authenticate_writer(state, req).await?;
    let user_id = writer.user_id;
    let scopes = writer.scopes();
    let doc = parse_json_body(req, body)?;
    let change = if put {
        Change::Put(&doc)
    } else {
        Change::Patch(&doc)
    };
    let author = profile::Author {
        actor: Actor::User(user_id),
        ip: crate::session_cookie::client_ip(req),
    };
    let profile = state
        .profiles
        .change(
            &state.db,
            state.clock.as_ref(),
            user_id,
            writer.audience(&scopes),
            change,
            author,
        )
        .await
        .map_err(change_problem)?;
    Ok(json_no_store(
        StatusCode::OK,
        &serde_json::Value::Object(profile),
    ))
}

/// `PUT /api/v1/me/profile`: replaces every attribute the end user may write.
pub async fn put_profile(
    state: WebState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    write_profile(&state, &req, &body, true).await
}

/// `PATCH /api/v1/me/profile`: JSON merge patch.
pub async fn patch_profile(
    state: WebState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    write_profile(&state, &req, &body, false).await
}

/// `GET /avatars/{user_id}/{seed}.svg`: the generated avatar. A URL never changes its image.
pub async fn avatar(state: WebState, path: web::Path<(String, String)>) -> HttpResponse {
    let (user_id, file) = path.into_inner();
    let seed = file.strip_suffix(".svg").unwrap_or("");
    if Uuid::parse_str(&user_id).is_err() || !profile::generated::is_avatar_seed(seed) {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
        .insert_header(("Content-Security-Policy", "default-src 'none'"))
        .body(profile::generated::avatar_svg(
            &state.services.tenant.id,
            &user_id,
            seed,
        ))
}
