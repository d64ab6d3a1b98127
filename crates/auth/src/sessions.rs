//! Browser sessions: a random token in the `tessera_session` cookie, its hash in the database.
//!
//! A session ends at the first of: its absolute lifetime, an idle period longer than the idle
//! timeout, the user being disabled, logout, or revocation. `last_used_at` is written at most once a
//! minute so that browsing does not turn every page view into a database write.

use crate::{InternalError, secrets};
use chrono::Duration;
use store::audit::{Actor, NewEvent};
use store::sessions::NewSession;

pub use store::sessions::Session;
use store::{Clock, Db, Uuid};

/// How often `last_used_at` is refreshed at most.
const TOUCH_INTERVAL: Duration = Duration::seconds(60);
/// Longer cookie values are not tokens Tessera issued; they are refused without a lookup.
const MAX_TOKEN_LEN: usize = 128;

/// Session lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub lifetime: Duration,
    pub idle_timeout: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            lifetime: Duration::days(14),
            idle_timeout: Duration::days(3),
        }
    }
}

/// The secret a browser holds. Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

/// A session just started, with the token to hand to the browser.
#[derive(Debug, Clone)]
pub struct StartedSession {
    pub token: SessionToken,
    pub session: Session,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Starts a session for `user_id` after a successful sign-in that used the RFC 8176 methods
/// `amr` (`pwd`; `pwd otp mfa` after a second factor).
pub async fn start_session(
    db: &Db,
    clock: &dyn Clock,
    policy: &SessionPolicy,
    user_id: Uuid,
    ip: Option<String>,
    user_agent: Option<String>,
    amr: &str,
) -> Result<StartedSession, SessionError> {
    let now = clock.now();
    let token = secrets::generate_secret();
    let user_agent = user_agent.map(|ua| ua.chars().take(512).collect::<String>());
    let new = NewSession {
        id: Uuid::now_v7(),
        user_id,
        token_hash: secrets::hash_secret(&token),
        expires_at: now + policy.lifetime,
        ip: ip.clone(),
        user_agent,
        amr: amr.to_owned(),
        second_factor: amr.split_whitespace().any(|m| m == "mfa"),
    };
    let event = NewEvent::new("login.succeeded", Actor::User(user_id))
        .user(user_id)
        .ip(ip)
        .detail(serde_json::json!({ "session_id": new.id, "amr": amr }));
    let session = store::sessions::start_session(db, new, now, event)
        .await
        .map_err(InternalError)?;
    Ok(StartedSession {
        token: SessionToken(token),
        session,
    })
}

/// The live session a cookie value names, or `None` when it is unknown, expired, idle too long,
/// or its user is disabled. Expired sessions are deleted on sight.
pub async fn resolve_session(
    db: &Db,
    clock: &dyn Clock,
    policy: &SessionPolicy,
    token: &str,
) -> Result<Option<Session>, SessionError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    let Some((session, user_disabled)) =
        store::sessions::find_by_token_hash(db, &secrets::hash_secret(token))
            .await
            .map_err(InternalError)?
    else {
        return Ok(None);
    };
    let now = clock.now();
    if now >= session.expires_at || now - session.last_used_at >= policy.idle_timeout {
        store::sessions::delete_expired(db, session.id)
            .await
            .map_err(InternalError)?;
        return Ok(None);
    }
    if user_disabled {
        return Ok(None);
    }
    if now - session.last_used_at >= TOUCH_INTERVAL {
        store::sessions::touch(db, session.id, now)
            .await
            .map_err(InternalError)?;
    }
    Ok(Some(session))
}

/// Ends a session (logout).
pub async fn end_session(
    db: &Db,
    clock: &dyn Clock,
    session: &Session,
    ip: Option<String>,
) -> Result<(), SessionError> {
    let event = NewEvent::new("logout", Actor::User(session.user_id))
        .user(session.user_id)
        .ip(ip)
        .detail(serde_json::json!({ "session_id": session.id }));
    store::sessions::end_session(db, session.id, clock.now(), event)
        .await
        .map_err(InternalError)?;
    Ok(())
}

/// The user's sessions, most recently used first.
pub async fn list(db: &Db, user_id: Uuid) -> Result<Vec<Session>, InternalError> {
    Ok(store::sessions::list_for_user(db, user_id).await?)
}
