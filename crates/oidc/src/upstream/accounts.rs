//! What a verified upstream answer does to accounts: sign in the user who has that upstream
//! identity (issuer + `sub`), create one, or link it to the signed-in user.
//!
//! A new account gets an `oidc` identity and, unless population is `none`, login IDs and a
//! profile from the claims: the email address when the provider says `email_verified: true`
//! (never another account's: that user is told to sign in and link instead), the phone number
//! when `phone_number_verified: true`, the preferred username when free, and every other standard
//! claim that passes the profile's checks (invalid ones are dropped and logged).

use super::{Population, UpstreamError, Verified};
use profile::document::LoginId;
use serde_json::{Map, Value};
use store::accounts::{self, IdentityKind, NewIdentity};
use store::audit::{Actor, NewEvent};
use store::{Clock, Db, StoreError, Uuid};

/// What the sign-in came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sign `user_id` in (`created`: the account was just made).
    SignIn { user_id: Uuid, created: bool },
    /// The upstream identity is now (or already was) linked to `user_id`, who stays signed in.
    Linked { user_id: Uuid, already: bool },
}

/// Account creation settings.
#[derive(Debug, Clone, Copy)]
pub struct SignUpSettings {
    /// New profiles get a generated nickname when the provider gives none.
    pub generate_nickname: bool,
}

fn claim_true(claims: &Map<String, Value>, name: &str) -> bool {
    match claims.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

fn claim_str<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// The email address a provider vouches for, normalised.
fn verified_email(claims: &Map<String, Value>) -> Option<String> {
    if !claim_true(claims, "email_verified") {
        return None;
    }
    auth::login_id::normalise_email(claim_str(claims, "email")?).ok()
}

/// Signs in, creates or links, after [`super::Upstreams::verify`].
pub async fn complete(
    db: &Db,
    clock: &dyn Clock,
    profiles: &profile::ProfileService,
    verified: &Verified,
    current_user: Option<Uuid>,
    settings: SignUpSettings,
    ip: Option<String>,
) -> Result<Outcome, UpstreamError> {
    let up = &verified.upstream;
    let value = accounts::oidc_identity_value(&up.issuer, &verified.subject);
    let owner = accounts::find_login_candidate(db, IdentityKind::Oidc, &value).await?;
    if let Some(link_user) = verified.pending.link_user_id {
        if current_user != Some(link_user) {
            return Err(UpstreamError::NotSignedIn);
        }
        return match owner {
            Some(o) if o.user_id == link_user => Ok(Outcome::Linked {
                user_id: link_user,
                already: true,
            }),
            Some(_) => Err(UpstreamError::LinkedElsewhere),
            None => {
                let event = NewEvent::new("identity.added", Actor::User(link_user))
                    .user(link_user)
                    .ip(ip)
                    .detail(serde_json::json!({ "type": "oidc", "upstream": up.id, "issuer": up.issuer }));
                match accounts::add_identity(
                    db,
                    link_user,
                    NewIdentity {
                        kind: IdentityKind::Oidc,
                        value,
                        verified: true,
                    },
                    None,
                    clock.now(),
                    event,
                )
                .await
                {
                    Ok(_) => Ok(Outcome::Linked {
                        user_id: link_user,
                        already: false,
                    }),
                    Err(StoreError::Conflict(_)) => Err(UpstreamError::LinkedElsewhere),
                    Err(e) => Err(e.into()),
                }
            }
        };
    }
    if let Some(o) = owner {
        if o.disabled {
            return Err(UpstreamError::Disabled);
        }
        if up.population == Population::EveryLogin {
            refresh(db, clock, profiles, verified, o.user_id, ip).await?;
        }
        return Ok(Outcome::SignIn {
            user_id: o.user_id,
            created: false,
        });
    }
    sign_up(db, clock, profiles, verified, value, settings, ip).await
}

async fn refresh(
    db: &Db,
    clock: &dyn Clock,
    profiles: &profile::ProfileService,
    verified: &Verified,
    user_id: Uuid,
    ip: Option<String>,
) -> Result<(), UpstreamError> {
    let by = profile::Author {
        actor: Actor::User(user_id),
        ip,
    };
    let mut result = profiles
        .refresh_from_claims(db, clock, user_id, &verified.claims, by.clone())
        .await;
    if matches!(result, Err(profile::ChangeError::Conflict)) {
        result = profiles
            .refresh_from_claims(db, clock, user_id, &verified.claims, by)
            .await;
    }
    match result {
        Ok(dropped) => {
            log_dropped(&verified.upstream.id, &dropped);
            Ok(())
        }
        // The sign-in itself is fine; a failed refresh is logged, not fatal.
        Err(e) => {
            tracing::warn!(upstream = %verified.upstream.id, error = %e, "profile refresh from upstream failed");
            Ok(())
        }
    }
}

fn log_dropped(upstream: &str, dropped: &[(String, String)]) {
    for (pointer, message) in dropped {
        tracing::info!(upstream, claim = %pointer, reason = %message, "dropped an invalid claim from an upstream provider");
    }
}

async fn free(db: &Db, kind: IdentityKind, value: &str) -> Result<bool, UpstreamError> {
    Ok(accounts::find_login_candidate(db, kind, value)
        .await?
        .is_none())
}

async fn sign_up(
    db: &Db,
    clock: &dyn Clock,
    profiles: &profile::ProfileService,
    verified: &Verified,
    value: String,
    settings: SignUpSettings,
    ip: Option<String>,
) -> Result<Outcome, UpstreamError> {
    let up = &verified.upstream;
    let claims = &verified.claims;
    let mut identities = vec![NewIdentity {
        kind: IdentityKind::Oidc,
        value: value.clone(),
        verified: true,
    }];
    // A verified email of an existing account: that person signs in and links instead.
    let email = verified_email(claims);
    if let Some(email) = &email
        && !free(db, IdentityKind::Email, email).await?
    {
        return Err(UpstreamError::EmailTaken {
            email: email.clone(),
        });
    }
    let populate = up.population != Population::None;
    if populate {
        if let Some(email) = email {
            identities.push(NewIdentity {
                kind: IdentityKind::Email,
                value: email,
                verified: true,
            });
        }
        if claim_true(claims, "phone_number_verified")
            && let Some(phone) = claims.get("phone_number")
            && let Ok(Value::String(phone)) = profile::validate::phone_number(phone)
            && free(db, IdentityKind::Phone, &phone).await?
        {
            identities.push(NewIdentity {
                kind: IdentityKind::Phone,
                value: phone,
                verified: true,
            });
        }
        if let Some(name) = claim_str(claims, "preferred_username")
            && let Ok(name) = auth::login_id::normalise_username(name)
            && free(db, IdentityKind::Username, &name).await?
        {
            identities.push(NewIdentity {
                kind: IdentityKind::Username,
                value: name,
                verified: false,
            });
        }
    }
    let base = profile::NewProfile::generated(settings.generate_nickname);
    let (standard, dropped) = if populate {
        let login_ids: Vec<LoginId> = identities
            .iter()
            .map(|i| LoginId {
                kind: i.kind,
                value: i.value.clone(),
                verified: i.verified,
            })
            .collect();
        let (values, dropped) = profiles
            .values_from_claims(db, &login_ids, &base.standard_attributes, claims)
            .await
            .map_err(|e| match e {
                profile::service::ServiceError::Store(s) => UpstreamError::from(s),
                other => UpstreamError::Protocol(other.to_string()),
            })?;
        (Value::Object(values.standard), dropped)
    } else {
        (base.standard_attributes, Vec::new())
    };
    log_dropped(&up.id, &dropped);
    let mut detail = serde_json::Map::new();
    detail.insert("upstream".into(), up.id.clone().into());
    detail.insert(
        "dropped_claims".into(),
        dropped
            .iter()
            .map(|(p, _)| Value::from(p.clone()))
            .collect(),
    );
    let new = auth::accounts::NewAccount {
        identities,
        password: None,
        standard_attributes: standard,
        custom_attributes: serde_json::json!({}),
        avatar_seed: base.avatar_seed,
        provisioning: auth::accounts::Provisioning::default(),
        event: "user.signed_up",
        actor: Actor::Anonymous,
        ip,
        detail,
    };
    match auth::accounts::create(db, clock, new).await {
        Ok(user_id) => Ok(Outcome::SignIn {
            user_id,
            created: true,
        }),
        // Someone got there first (the same person in two tabs, or a login ID just taken).
        Err(auth::accounts::CreateError::Taken) => {
            match accounts::find_login_candidate(db, IdentityKind::Oidc, &value).await? {
                Some(o) if !o.disabled => Ok(Outcome::SignIn {
                    user_id: o.user_id,
                    created: false,
                }),
                _ => Err(UpstreamError::Protocol(
                    "a login ID from the provider was taken at the same moment; try again".into(),
                )),
            }
        }
        Err(auth::accounts::CreateError::Internal(e)) => Err(e.into()),
        Err(
            e
            @ (auth::accounts::CreateError::Password(_) | auth::accounts::CreateError::Profile(_)),
        ) => Err(UpstreamError::Protocol(e.to_string())),
    }
}
