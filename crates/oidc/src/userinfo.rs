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
    let claims = bearer::check_token(provider, db, clock, token).await?;
    // Tokens from client_credentials name no user (and no grant).
    let (Some(grant_id), Ok(user_id)) = (claims.gid, store::Uuid::parse_str(&claims.sub)) else {
        return Err(UserInfoError::InsufficientScope);
    };
    if !claims.has_scope("openid") {
        return Err(UserInfoError::InsufficientScope);
    }
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "UserInfo failed");
        BearerError::Internal
    };
    // One round trip: liveness of the token, the client's party, the profile and identities.
    let bundle = store::oauth::userinfo_bundle(db, &claims.jti, &claims.client_id, grant_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or(BearerError::Revoked)?;
    let schema = profiles.schema(db).await.map_err(|e| internal(&e))?;
    let loaded =
        profile::service::LoadedProfile::from_stored(user_id, bundle.profile, bundle.identities);
    let scopes: Vec<&str> = claims.scope.split(' ').collect();
    let audience = if bundle.third_party {
        Audience::ThirdParty { scopes: &scopes }
    } else {
        Audience::Party(Party::Bearer)
    };
    let rendered = profiles.render(&schema, &loaded, audience);
    let mut out = serde_json::Map::with_capacity(rendered.len() + 1);
    out.insert("sub".into(), claims.sub.clone().into());
    out.extend(rendered);
    Ok(serde_json::Value::Object(out))
}
