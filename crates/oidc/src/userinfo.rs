//! The UserInfo response: `sub`, then the profile as the bearer may see it — for a first-party
//! client every attribute the bearer can read, for a third-party client only the claims of the
//! granted scopes (and custom attributes whose definition names a granted scope).

use crate::bearer::{self, BearerError};
use crate::provider::Provider;
use profile::{Audience, Party, ProfileService};
use store::{Clock, Db};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserInfoError {
    #[error(transparent)]
    Token(#[from] BearerError),
    #[error("the access token does not carry the openid scope for a user")]
    InsufficientScope,
}

/// The claims for the bearer of `token`.
pub async fn userinfo(
    provider: &Provider,
    profiles: &ProfileService,
    db: &Db,
    clock: &dyn Clock,
    token: &str,
) -> Result<serde_json::Value, UserInfoError> {
    let verified = bearer::verify_access_token(provider, db, clock, token).await?;
    // Tokens from client_credentials name no user.
    let Some(user_id) = verified.user_id() else {
        return Err(UserInfoError::InsufficientScope);
    };
    if !verified.claims.has_scope("openid") {
        return Err(UserInfoError::InsufficientScope);
    }
    let scopes: Vec<&str> = verified.claims.scope.split(' ').collect();
    let audience = if verified.third_party {
        Audience::ThirdParty { scopes: &scopes }
    } else {
        Audience::Party(Party::Bearer)
    };
    let claims = profiles
        .view(db, user_id, audience)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "loading a profile for UserInfo failed");
            BearerError::Internal
        })?
        .ok_or(BearerError::Revoked)?;
    let mut out = serde_json::Map::with_capacity(claims.len() + 1);
    out.insert("sub".into(), verified.claims.sub.clone().into());
    out.extend(claims);
    Ok(serde_json::Value::Object(out))
}
