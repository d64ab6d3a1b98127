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

/// Where a token is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/oauth2/userinfo`: first-party clients see what the bearer may read.
    UserInfo,
    /// The self-service API (`/api/v1/me…`): first-party clients act as the end user.
    SelfService,
}

/// Which profile the bearer of a token sees (and, on the self-service API, may write). The one
/// rule for every surface: a third-party client gets exactly the claims of its granted scopes —
/// on the self-service API too, so it cannot read there what UserInfo would not give it.
pub fn token_audience<'a>(
    surface: Surface,
    third_party: bool,
    scopes: &'a [&'a str],
) -> Audience<'a> {
    match (third_party, surface) {
        (true, _) => Audience::ThirdParty { scopes },
        (false, Surface::UserInfo) => Audience::Party(Party::Bearer),
        (false, Surface::SelfService) => Audience::Party(Party::EndUser),
    }
}

/// The scope that releases the `groups` claim to third-party clients.
pub const GROUPS_SCOPE: &str = "groups";

/// Whether a token's client sees the user's `groups` (UserInfo and the ID token alike): a
/// first-party client always (`openid` alone), a third party with the `groups` scope.
pub fn sees_groups(third_party: bool, scopes: &[&str]) -> bool {
    !third_party || scopes.contains(&GROUPS_SCOPE)
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
    let bundle = store::userinfo::read(db, &claims.jti, &claims.client_id, grant_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or(BearerError::Revoked)?;
    let schema = profiles.schema(db).await.map_err(|e| internal(&e))?;
    let scopes: Vec<&str> = claims.scope.split(' ').collect();
    let audience = token_audience(Surface::UserInfo, bundle.third_party, &scopes);
    let groups = sees_groups(bundle.third_party, &scopes).then(|| bundle.groups.clone());
    let rendered = profiles.render_userinfo(&schema, user_id, bundle, audience);
    let mut out = serde_json::Map::with_capacity(rendered.len() + 2);
    out.insert("sub".into(), claims.sub.clone().into());
    out.extend(rendered);
    if let Some(groups) = groups {
        out.insert("groups".into(), groups.into());
    }
    Ok(serde_json::Value::Object(out))
}
