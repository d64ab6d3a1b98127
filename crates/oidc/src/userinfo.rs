//! The UserInfo response: `sub` and the user's claims the token's scopes allow.

use crate::bearer::{self, BearerError};
use crate::provider::Provider;
use store::accounts::IdentityKind;
use store::{Clock, Db, Uuid};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserInfoError {
    #[error(transparent)]
    Token(#[from] BearerError),
    #[error("the access token does not carry the openid scope")]
    InsufficientScope,
}

/// The claims for the bearer of `token`.
pub async fn userinfo(
    provider: &Provider,
    db: &Db,
    clock: &dyn Clock,
    token: &str,
) -> Result<serde_json::Value, UserInfoError> {
    let claims = bearer::verify_access_token(provider, db, clock, token).await?;
    // Tokens from client_credentials name no user.
    if claims.gid.is_none() || !claims.has_scope("openid") {
        return Err(UserInfoError::InsufficientScope);
    }
    let user_id = Uuid::parse_str(&claims.sub).map_err(|_| BearerError::Malformed)?;
    let identities = store::accounts::list_identities(db, user_id)
        .await
        .map_err(|_| BearerError::Internal)?;
    let mut out = serde_json::Map::new();
    out.insert("sub".into(), claims.sub.clone().into());
    let first = |kind| identities.iter().find(|i| i.kind == kind);
    if claims.has_scope("email")
        && let Some(email) = first(IdentityKind::Email)
    {
        out.insert("email".into(), email.value.clone().into());
        out.insert("email_verified".into(), email.verified_at.is_some().into());
    }
    if claims.has_scope("phone")
        && let Some(phone) = first(IdentityKind::Phone)
    {
        out.insert("phone_number".into(), phone.value.clone().into());
        out.insert(
            "phone_number_verified".into(),
            phone.verified_at.is_some().into(),
        );
    }
    if claims.has_scope("profile")
        && let Some(username) = first(IdentityKind::Username)
    {
        out.insert("preferred_username".into(), username.value.clone().into());
    }
    Ok(serde_json::Value::Object(out))
}
