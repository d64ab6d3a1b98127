//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636).

use crate::OAuthError;
use crate::provider::Provider;
use crate::tokens::{self, AccessTokenSubject, IdTokenFacts, TokenResponse};
use auth::secrets;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use store::clients::Client;
use store::oauth::{CodeRedemption, NewRefreshToken};
use store::{Clock, Db, Uuid};

use super::TokenRequest;

pub(super) async fn exchange(
    provider: &Provider,
    profiles: &profile::ProfileService,
    db: &Db,
    clock: &dyn Clock,
    client: &Client,
    req: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let now = clock.now();
    let code = req
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 128)
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let stored = store::oauth::find_authorization_code(db, &secrets::hash_secret(code))
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the code is invalid"))?;
    if stored.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if req.redirect_uri.as_deref() != Some(stored.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&stored.code_challenge, req.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) => {
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if !(43..=128).contains(&verifier.len())
                || !secrets::constant_time_eq(&computed, challenge)
            {
                return Err(OAuthError::invalid_grant(
                    "the PKCE code_verifier does not match",
                ));
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant("code_verifier is missing"));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier was sent but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    // A used code is refused below (and revokes its grant) even after it expired.
    if stored.used {
        let _ =
            store::oauth::redeem_authorization_code(db, &stored, Uuid::now_v7(), None, now).await?;
        return Err(OAuthError::invalid_grant("the code has already been used"));
    }
    if now >= stored.expires_at {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }

    let refresh_token = client
        .grant_types
        .iter()
        .any(|g| g == crate::clients::GRANT_REFRESH_TOKEN)
        .then(secrets::generate_secret);
    let new_refresh = refresh_token.as_deref().map(|rt| NewRefreshToken {
        token_hash: secrets::hash_secret(rt),
        expires_at: now + provider.settings.refresh_token_ttl,
    });
    let grant = match store::oauth::redeem_authorization_code(
        db,
        &stored,
        Uuid::now_v7(),
        new_refresh,
        now,
    )
    .await?
    {
        CodeRedemption::Redeemed(grant) => *grant,
        CodeRedemption::Replayed => {
            record_replay(db, client, &stored, now).await?;
            return Err(OAuthError::invalid_grant("the code has already been used"));
        }
        CodeRedemption::ApprovalEnded => {
            return Err(OAuthError::invalid_grant(
                "the sign-in that approved this code has ended",
            ));
        }
    };
    let (access_token, expires_in) = tokens::mint_access_token(
        provider,
        now,
        AccessTokenSubject {
            sub: grant.user_id.to_string(),
            client_id: &client.client_id,
            scope: &grant.scope,
            auth_time: Some(grant.auth_time),
            session_id: grant.session_id,
            grant_id: Some(grant.id),
        },
    )?;
    let id_token = if grant.scope.split(' ').any(|s| s == "openid") {
        let mut claims = requested_id_token_claims(profiles, db, client, &grant).await?;
        // Unlike profile claims, the groups are always in the ID token: apps authorise from it.
        let scopes: Vec<&str> = grant.scope.split(' ').collect();
        if crate::userinfo::sees_groups(client.third_party, &scopes) {
            let names = auth::groups::names(db, grant.user_id)
                .await
                .map_err(OAuthError::server_error)?;
            claims.insert("groups".into(), names.into());
        }
        Some(tokens::mint_id_token(
            provider,
            now,
            IdTokenFacts {
                user_id: grant.user_id,
                client_id: &client.client_id,
                nonce: stored.nonce.as_deref(),
                auth_time: grant.auth_time,
                amr: &grant.amr,
                session_id: grant.session_id,
                access_token: Some(&access_token),
                claims,
            },
        )?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token,
        id_token,
        scope: grant.scope,
    })
}

/// The user claims an ID token carries: only those asked for with the `claims` request
/// parameter (`{"id_token": {"email": null, …}}`), and only as the client may see them (the same
/// rules as UserInfo). Relying parties otherwise read claims from UserInfo.
async fn requested_id_token_claims(
    profiles: &profile::ProfileService,
    db: &Db,
    client: &Client,
    grant: &store::oauth::Grant,
) -> Result<serde_json::Map<String, serde_json::Value>, OAuthError> {
    let Some(requested) = grant
        .claims
        .as_ref()
        .and_then(|c| c.get("id_token"))
        .and_then(|c| c.as_object())
        .filter(|c| !c.is_empty())
    else {
        return Ok(serde_json::Map::new());
    };
    let scopes: Vec<&str> = grant.scope.split(' ').collect();
    let audience = if client.third_party {
        profile::Audience::ThirdParty { scopes: &scopes }
    } else {
        profile::Audience::Party(profile::Party::Bearer)
    };
    let view = profiles
        .view(db, grant.user_id, audience)
        .await
        .map_err(OAuthError::server_error)?
        .unwrap_or_default();
    Ok(view
        .into_iter()
        .filter(|(name, _)| requested.contains_key(name))
        .collect())
}

/// A replayed code revoked what it had issued: worth an audit event of its own.
async fn record_replay(
    db: &Db,
    client: &Client,
    code: &store::oauth::AuthorizationCode,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), OAuthError> {
    let event = store::audit::NewEvent::new(
        "authorization_code.replayed",
        store::audit::Actor::Anonymous,
    )
    .user(code.user_id)
    .detail(serde_json::json!({ "client_id": client.client_id }));
    store::audit::record(db, event, now).await?;
    Ok(())
}
