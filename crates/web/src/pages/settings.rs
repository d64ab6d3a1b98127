//! `/settings`: the end user's profile, login IDs, password and sessions on one page.

use crate::WebState;
use crate::csrf::{Csrf, CsrfForm};
use crate::pages::settings_form::{self, Field};
use crate::render::{PageError, page, see_other};
use crate::session_cookie::client_ip;
use crate::signed_in::SignedIn;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use auth::passwords::SetPasswordError;
use auth::sessions::Session;
use profile::Actor;
use profile::IdentityKind;
use profile::{Audience, Change, ChangeError, Party, ProfileError};
use serde::Deserialize;
use std::collections::HashMap;

struct IdentityRow {
    id: String,
    kind: &'static str,
    value: String,
    verified: bool,
}

struct UpstreamLinkRow {
    id: String,
    name: String,
    subject: String,
}

struct AppRow {
    client_id: String,
    name: String,
    scopes: String,
    granted: String,
}

struct ImageRow {
    name: String,
    label: String,
    url: Option<String>,
    error: Option<String>,
}

struct SessionRow {
    id: String,
    device: String,
    ip: String,
    last_used: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    csrf_token: String,
    display_name: String,
    notice: Option<String>,
    error: Option<String>,
    fields: Vec<Field>,
    identities: Vec<IdentityRow>,
    sessions: Vec<SessionRow>,
    current_password_error: Option<String>,
    new_password_error: Option<String>,
    min_length: usize,
    /// The tenant lets people add a phone number.
    phone_enabled: bool,
    factors: Vec<FactorRow>,
    has_recovery_codes: bool,
    mfa_error: Option<String>,
    picture: Option<String>,
    picture_is_generated: bool,
    can_upload_avatar: bool,
    avatar_error: Option<String>,
    cover: Option<String>,
    cover_error: Option<String>,
    image_rows: Vec<ImageRow>,
    apps: Vec<AppRow>,
    upstream_links: Vec<UpstreamLinkRow>,
    /// Upstream providers the user can link: (id, name).
    upstream_available: Vec<(String, String)>,
}

/// A second factor as the settings page lists it.
struct FactorRow {
    id: String,
    name: String,
    detail: String,
}

impl FactorRow {
    fn of(f: &auth::mfa::FactorInfo) -> Self {
        let used = match f.last_used_at {
            Some(t) => format!("last used {}", t.format("%Y-%m-%d")),
            None => "never used".to_owned(),
        };
        let detail = match f.remaining {
            Some(n) => format!("{n} of {} left, {used}", auth::mfa::RECOVERY_CODE_COUNT),
            None => format!("added {}, {used}", f.created_at.format("%Y-%m-%d")),
        };
        Self {
            id: f.id.to_string(),
            name: f.name.clone(),
            detail,
        }
    }
}

/// What to show besides the stored values.
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) notice: Option<String>,
    pub(crate) error: Option<String>,
    /// A refused upload: the form it came from (`avatar`, `cover`, or an attribute name) and why.
    pub(crate) upload_error: Option<(String, String)>,
    pub(crate) typed: Option<HashMap<String, String>>,
    pub(crate) field_errors: Vec<(String, String)>,
    pub(crate) current_password_error: Option<String>,
    /// A refused change of second factors.
    pub(crate) mfa_error: Option<String>,
    pub(crate) new_password_error: Option<String>,
}

/// A short description of the browser behind a session.
fn device(user_agent: Option<&str>) -> String {
    let ua = user_agent.unwrap_or("");
    let browser = ["Firefox", "Edg", "Chrome", "Safari"]
        .into_iter()
        .find(|b| ua.contains(b))
        .map(|b| if b == "Edg" { "Edge" } else { b });
    let os = ["Android", "iPhone", "iPad", "Windows", "Mac OS", "Linux"]
        .into_iter()
        .find(|o| ua.contains(o))
        .map(|o| if o == "Mac OS" { "macOS" } else { o });
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        _ if ua.is_empty() => "Unknown device".to_owned(),
        _ => ua.chars().take(60).collect(),
    }
}

pub(crate) async fn render(
    state: &WebState,
    req: &HttpRequest,
    session: &Session,
    status: StatusCode,
    extras: Extras,
) -> Result<HttpResponse, PageError> {
    let schema = state.profiles.schema(&state.db).await?;
    let loaded = state
        .profiles
        .load(&state.db, session.user_id)
        .await?
        .ok_or_else(|| PageError::Internal("profile missing".into()))?;
    let mut view = state
        .profiles
        .render(&schema, &loaded, Audience::Party(Party::EndUser));
    // The generated avatar is a default, not a value: keep it out of the picture input (saving
    // the form would otherwise store it) and show it as the image instead.
    let generated = state
        .profiles
        .avatar_url(session.user_id, &loaded.avatar_seed);
    let picture = view
        .get("picture")
        .and_then(|p| p.as_str())
        .map(str::to_owned);
    let picture_is_generated = picture.as_deref() == Some(generated.as_str());
    if picture_is_generated {
        view.remove("picture");
    }
    let identities = auth::users::identities(&state.db, session.user_id).await?;
    let login_ids: Vec<_> = identities
        .iter()
        .map(|i| (i.kind, i.value.clone(), i.verified_at.is_some()))
        .collect();
    let mut fields = settings_form::fields(&schema, &view, &login_ids, extras.typed.as_ref());
    for (pointer, message) in &extras.field_errors {
        let name = settings_form::field_for_pointer(pointer);
        if let Some(f) = fields.iter_mut().find(|f| f.name == name) {
            f.error = Some(message.clone());
        }
    }
    let sessions = auth::sessions::list(&state.db, session.user_id).await?;
    let factors = auth::mfa::list(&state.db, session.user_id)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let (upstream_links, upstream_available) = upstream_rows(state, &identities);
    let display_name = identities
        .iter()
        .find(|i| i.kind != IdentityKind::Oidc)
        .map(|i| i.value.clone())
        .or_else(|| {
            upstream_links
                .first()
                .map(|l| format!("{} ({})", l.subject, l.name))
        })
        .unwrap_or_else(|| session.user_id.to_string());
    let upload_error = |target: &str| {
        extras
            .upload_error
            .as_ref()
            .filter(|(t, _)| t == target)
            .map(|(_, m)| m.clone())
    };
    let custom_values = view.get("custom_attributes").and_then(|v| v.as_object());
    let image_rows = schema
        .custom
        .iter()
        .filter(|d| d.kind == profile::AttributeType::Image && d.access.end_user.can_write())
        .map(|d| ImageRow {
            name: d.name.clone(),
            label: d.display_label(),
            url: custom_values
                .and_then(|c| c.get(&d.name))
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            error: upload_error(&d.name),
        })
        .collect();
    let can_upload_avatar = schema
        .standard
        .get("picture")
        .is_some_and(|a| a.end_user.can_write());
    let csrf = Csrf::for_request(state, req);
    let tpl = SettingsPage {
        csrf_token: csrf.form_token(),
        display_name,
        notice: extras.notice,
        error: extras.error,
        fields,
        identities: identities
            .iter()
            .filter(|i| i.kind != IdentityKind::Oidc)
            .map(|i| IdentityRow {
                id: i.id.to_string(),
                kind: i.kind.as_str(),
                value: i.value.clone(),
                verified: i.verified_at.is_some(),
            })
            .collect(),
        sessions: sessions
            .iter()
            .map(|s| SessionRow {
                id: s.id.to_string(),
                device: device(s.user_agent.as_deref()),
                ip: s.ip.clone().unwrap_or_else(|| "unknown address".into()),
                last_used: s.last_used_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                current: s.id == session.id,
            })
            .collect(),
        current_password_error: extras.current_password_error,
        new_password_error: extras.new_password_error,
        min_length: state.password_policy.min_length,
        phone_enabled: state.login_ids.phone,
        has_recovery_codes: factors.iter().any(|f| f.kind == auth::mfa::RECOVERY_CODES),
        factors: factors.iter().map(FactorRow::of).collect(),
        mfa_error: extras.mfa_error,
        picture,
        picture_is_generated,
        can_upload_avatar,
        avatar_error: upload_error("avatar"),
        cover: loaded.cover.clone(),
        cover_error: upload_error("cover"),
        image_rows,
        apps: oidc::consents::connected_apps(&state.db, session.user_id)
            .await?
            .into_iter()
            .map(|a| AppRow {
                client_id: a.client_id,
                name: a.name,
                scopes: a.scope.replace(' ', ", "),
                granted: a.granted_at.format("%Y-%m-%d").to_string(),
            })
            .collect(),
        upstream_links,
        upstream_available,
    };
    Ok(page(status, &tpl, Some(&csrf), state))
}

/// The user's links to upstream providers, and the configured providers not linked yet.
fn upstream_rows(
    state: &WebState,
    identities: &[auth::users::Identity],
) -> (Vec<UpstreamLinkRow>, Vec<(String, String)>) {
    let links: Vec<(UpstreamLinkRow, Option<String>)> = identities
        .iter()
        .filter(|i| i.kind == IdentityKind::Oidc)
        .map(|i| {
            let (issuer, subject) =
                auth::users::parse_oidc_identity(&i.value).unwrap_or((&i.value, ""));
            let upstream = state.upstreams.by_issuer(issuer);
            (
                UpstreamLinkRow {
                    id: i.id.to_string(),
                    name: upstream.map_or_else(|| issuer.to_owned(), |u| u.name.clone()),
                    subject: subject.to_owned(),
                },
                upstream.map(|u| u.id.clone()),
            )
        })
        .collect();
    let available = state
        .upstreams
        .settings()
        .filter(|u| {
            !links
                .iter()
                .any(|(_, id)| id.as_deref() == Some(u.id.as_str()))
        })
        .map(|u| (u.id.clone(), u.name.clone()))
        .collect();
    (links.into_iter().map(|(row, _)| row).collect(), available)
}

#[derive(Debug, Deserialize)]
pub struct SettingsQuery {
    saved: Option<String>,
    error: Option<String>,
}

/// `GET /settings`.
pub async fn show(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    query: web::Query<SettingsQuery>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let notice = match query.saved.as_deref() {
        Some("profile") => Some("Your profile was saved.".to_owned()),
        Some("password") => {
            Some("Your password was changed. Your other sessions were signed out.".to_owned())
        }
        Some("sessions") => Some("The session was signed out.".to_owned()),
        Some("avatar") => Some("You have a new avatar.".to_owned()),
        Some("cover") => Some("You have a new cover image.".to_owned()),
        Some("image") => Some("The image was saved.".to_owned()),
        Some("app") => Some("The app can no longer use your account.".to_owned()),
        Some("identity_added") => Some("The login ID was added.".to_owned()),
        Some("identity_removed") => Some("The login ID was removed.".to_owned()),
        Some("upstream_linked") => Some("The provider account was linked.".to_owned()),
        Some("upstream_already") => {
            Some("That provider account was already linked to yours.".to_owned())
        }
        Some("upstream_unlinked") => Some("The provider account was unlinked.".to_owned()),
        Some("mfa") => Some("Two-step verification is on.".to_owned()),
        Some("mfa_removed") => Some("The verification step was removed.".to_owned()),
        Some("passkey") => Some("The passkey was added.".to_owned()),
        _ => None,
    };
    let error = match query.error.as_deref() {
        Some("last_identity") => {
            Some("You cannot remove your last login ID: you could not sign in any more.".to_owned())
        }
        Some("identity_not_found") => Some("That login ID was not found.".to_owned()),
        Some("mfa_required") => Some(
            "The app you are signing in to needs two-step verification: add an authenticator app below, then sign in to the app again."
                .to_owned(),
        ),
        Some("last_sign_in") => Some(
            "You cannot unlink this provider: it is your last way to sign in. Set a password or link another provider first."
                .to_owned(),
        ),
        _ => None,
    };
    let extras = Extras {
        notice,
        error,
        ..Extras::default()
    };
    render(&state, &req, &session, StatusCode::OK, extras).await
}

/// `POST /settings/profile`: saves every attribute the user may edit; refuses the whole form if
/// anything is wrong, keeping what they typed.
pub async fn save_profile(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    form: CsrfForm<HashMap<String, String>>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let schema = state.profiles.schema(&state.db).await?;
    let posted = form.into_inner();
    let doc = settings_form::document(&schema, &posted);
    let author = profile::Author {
        actor: Actor::User(session.user_id),
        ip: client_ip(&req),
    };
    match state
        .profiles
        .change(
            &state.db,
            state.clock.as_ref(),
            session.user_id,
            Audience::Party(Party::EndUser),
            Change::Put(&doc),
            author,
        )
        .await
    {
        Ok(_) => Ok(see_other("/settings?saved=profile#profile")),
        Err(ChangeError::Refused(ProfileError::Invalid(errors))) => {
            let extras = Extras {
                error: Some("Some values need your attention; nothing was saved.".into()),
                typed: Some(posted),
                field_errors: errors,
                ..Extras::default()
            };
            render(
                &state,
                &req,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                extras,
            )
            .await
        }
        Err(ChangeError::Refused(ProfileError::Forbidden { attribute })) => {
            let extras = Extras {
                error: Some(format!(
                    "You may not change {attribute}; nothing was saved."
                )),
                ..Extras::default()
            };
            render(&state, &req, &session, StatusCode::FORBIDDEN, extras).await
        }
        Err(ChangeError::Conflict) => {
            let extras = Extras {
                error: Some(
                    "Your profile was changed elsewhere at the same time. Check it and save again."
                        .into(),
                ),
                typed: Some(posted),
                ..Extras::default()
            };
            render(&state, &req, &session, StatusCode::CONFLICT, extras).await
        }
        Err(e) => Err(PageError::Internal(e.to_string())),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// `POST /settings/password`: needs the current password; ends the other sessions.
pub async fn change_password(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    form: CsrfForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let changed = auth::passwords::change(
        &state.db,
        state.clock.as_ref(),
        &state.hasher,
        &state.password_policy,
        &session,
        form.current_password.clone(),
        form.new_password.clone(),
        client_ip(&req),
    )
    .await;
    let extras = match changed {
        Ok(()) => return Ok(see_other("/settings?saved=password#password")),
        Err(e @ SetPasswordError::WrongCurrentPassword) => Extras {
            current_password_error: Some(e.to_string()),
            ..Extras::default()
        },
        Err(SetPasswordError::Policy(e)) => Extras {
            new_password_error: Some(e.to_string()),
            ..Extras::default()
        },
        Err(e) => return Err(PageError::Internal(e.to_string())),
    };
    render(
        &state,
        &req,
        &session,
        StatusCode::UNPROCESSABLE_ENTITY,
        extras,
    )
    .await
}

/// `POST /settings/sessions/{id}/revoke`: signs out one of the user's other sessions.
pub async fn revoke_session(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    path: web::Path<String>,
    _form: CsrfForm<crate::csrf::NoFields>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let target = path.into_inner();
    let sessions = auth::sessions::list(&state.db, session.user_id).await?;
    if let Some(other) = sessions
        .iter()
        .find(|s| s.id.to_string() == target && s.id != session.id)
    {
        crate::session_cookie::sign_out(&state, other, client_ip(&req)).await?;
    }
    Ok(see_other("/settings?saved=sessions#sessions"))
}

/// `POST /settings/sessions/revoke-others`: signs out everywhere but here.
pub async fn revoke_other_sessions(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    _form: CsrfForm<crate::csrf::NoFields>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    for other in auth::sessions::list(&state.db, session.user_id).await? {
        if other.id != session.id {
            crate::session_cookie::sign_out(&state, &other, client_ip(&req)).await?;
        }
    }
    Ok(see_other("/settings?saved=sessions#sessions"))
}

/// `POST /settings/avatar/regenerate`: a new generated avatar.
pub async fn regenerate_avatar(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    _form: CsrfForm<crate::csrf::NoFields>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    let author = profile::Author {
        actor: Actor::User(session.user_id),
        ip: client_ip(&req),
    };
    let body = serde_json::json!({ "regenerate_avatar": true });
    match state
        .profiles
        .change(
            &state.db,
            state.clock.as_ref(),
            session.user_id,
            Audience::Party(Party::EndUser),
            Change::Patch(&body),
            author,
        )
        .await
    {
        Ok(_) => Ok(see_other("/settings?saved=avatar#profile")),
        Err(ChangeError::Refused(ProfileError::Forbidden { .. })) => {
            let extras = Extras {
                error: Some("Your picture cannot be changed here.".into()),
                ..Extras::default()
            };
            render(&state, &req, &session, StatusCode::FORBIDDEN, extras).await
        }
        Err(e) => Err(PageError::Internal(e.to_string())),
    }
}

/// `POST /settings/apps/{client_id}/revoke`: withdraws a third-party app's access.
pub async fn revoke_app(
    state: WebState,
    req: HttpRequest,
    signed_in: SignedIn,
    path: web::Path<String>,
    _form: CsrfForm<crate::csrf::NoFields>,
) -> Result<HttpResponse, PageError> {
    let session = signed_in.0;
    oidc::consents::revoke(
        &state.db,
        state.clock.as_ref(),
        session.user_id,
        &path.into_inner(),
        client_ip(&req),
    )
    .await?;
    Ok(see_other("/settings?saved=app#apps"))
}
