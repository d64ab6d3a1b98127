//! Registering, listing and deleting OAuth clients.
//!
//! A confidential client gets a random secret, shown once and stored as a hash; a public client
//! (`--public`) has none and must use PKCE.

use auth::{InternalError, secrets};
use store::audit::{Actor, NewEvent};
pub use store::clients::Client;
use store::{Clock, Db, StoreError, Uuid};

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// The grant types Tessera supports.
pub const SUPPORTED_GRANTS: [&str; 3] = [
    GRANT_AUTHORIZATION_CODE,
    GRANT_REFRESH_TOKEN,
    GRANT_CLIENT_CREDENTIALS,
];

/// What an admin asks for when registering a client.
#[derive(Debug, Clone, Default)]
pub struct ClientRegistration {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub third_party: bool,
    /// Codes only for sessions that proved a second factor.
    pub require_mfa: bool,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    /// Empty means the default: `authorization_code` and `refresh_token`.
    pub grant_types: Vec<String>,
    /// Scopes the client may ask for; empty means every supported scope.
    pub scopes: Vec<String>,
}

/// A client just registered, with its secret (confidential clients) shown this once.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client: Client,
    pub client_secret: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("name must be 1 to 256 characters")]
    InvalidName,
    #[error("{field} {uri:?} is not an absolute URI without a fragment")]
    InvalidUri { field: &'static str, uri: String },
    #[error(
        "grant type {0:?} is not supported (supported: authorization_code, refresh_token, client_credentials)"
    )]
    UnsupportedGrant(String),
    #[error("the authorization_code grant needs at least one redirect URI")]
    MissingRedirectUri,
    #[error("a public client cannot use the client_credentials grant")]
    PublicClientCredentials,
    #[error("scope {0:?} is not a valid scope token")]
    InvalidScope(String),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Whether `uri` is acceptable as a redirect or logout URI: absolute, no fragment, and not a
/// scheme that runs code in the browser.
fn check_uri(field: &'static str, uri: &str) -> Result<(), ClientError> {
    let invalid = || ClientError::InvalidUri {
        field,
        uri: uri.to_owned(),
    };
    let parsed = url::Url::parse(uri).map_err(|_| invalid())?;
    if parsed.fragment().is_some()
        || uri.len() > 2048
        || matches!(parsed.scheme(), "javascript" | "data" | "vbscript" | "file")
        || (matches!(parsed.scheme(), "http" | "https") && parsed.host().is_none())
    {
        return Err(invalid());
    }
    Ok(())
}

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn dedup(values: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Validates and stores a new client.
pub async fn register_client(
    db: &Db,
    clock: &dyn Clock,
    registration: ClientRegistration,
    actor: Actor,
) -> Result<RegisteredClient, ClientError> {
    let name = registration.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(ClientError::InvalidName);
    }
    let redirect_uris = dedup(registration.redirect_uris);
    for uri in &redirect_uris {
        check_uri("redirect URI", uri)?;
    }
    let post_logout_redirect_uris = dedup(registration.post_logout_redirect_uris);
    for uri in &post_logout_redirect_uris {
        check_uri("post-logout redirect URI", uri)?;
    }
    if let Some(uri) = &registration.backchannel_logout_uri {
        check_uri("back-channel logout URI", uri)?;
    }
    let grant_types = if registration.grant_types.is_empty() {
        vec![
            GRANT_AUTHORIZATION_CODE.to_owned(),
            GRANT_REFRESH_TOKEN.to_owned(),
        ]
    } else {
        dedup(registration.grant_types)
    };
    for grant in &grant_types {
        if !SUPPORTED_GRANTS.contains(&grant.as_str()) {
            return Err(ClientError::UnsupportedGrant(grant.clone()));
        }
    }
    if grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE) && redirect_uris.is_empty() {
        return Err(ClientError::MissingRedirectUri);
    }
    if registration.public && grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) {
        return Err(ClientError::PublicClientCredentials);
    }
    let scopes = dedup(registration.scopes);
    if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
        return Err(ClientError::InvalidScope(bad.clone()));
    }

    let client_secret = (!registration.public).then(secrets::generate_secret);
    let now = clock.now();
    let client = Client {
        id: Uuid::now_v7(),
        client_id: secrets::generate_identifier(),
        name,
        secret_hash: client_secret.as_deref().map(secrets::hash_secret),
        is_public: registration.public,
        third_party: registration.third_party,
        require_mfa: registration.require_mfa,
        redirect_uris,
        post_logout_redirect_uris,
        backchannel_logout_uri: registration.backchannel_logout_uri,
        grant_types,
        scopes,
        created_at: now,
        updated_at: now,
    };
    let event = NewEvent::new("client.created", actor).detail(serde_json::json!({
        "client_id": client.client_id,
        "name": client.name,
    }));
    store::clients::insert_client(db, &client, now, event)
        .await
        .map_err(InternalError)?;
    Ok(RegisteredClient {
        client,
        client_secret,
    })
}

/// Checks a changed client the way a registration is checked (name, URIs, grants, scopes).
pub fn check_client(client: &Client) -> Result<(), ClientError> {
    let name = client.name.trim();
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(ClientError::InvalidName);
    }
    for uri in &client.redirect_uris {
        check_uri("redirect URI", uri)?;
    }
    for uri in &client.post_logout_redirect_uris {
        check_uri("post-logout redirect URI", uri)?;
    }
    if let Some(uri) = &client.backchannel_logout_uri {
        check_uri("back-channel logout URI", uri)?;
    }
    for grant in &client.grant_types {
        if !SUPPORTED_GRANTS.contains(&grant.as_str()) {
            return Err(ClientError::UnsupportedGrant(grant.clone()));
        }
    }
    if client
        .grant_types
        .iter()
        .any(|g| g == GRANT_AUTHORIZATION_CODE)
        && client.redirect_uris.is_empty()
    {
        return Err(ClientError::MissingRedirectUri);
    }
    if client.is_public
        && client
            .grant_types
            .iter()
            .any(|g| g == GRANT_CLIENT_CREDENTIALS)
    {
        return Err(ClientError::PublicClientCredentials);
    }
    if let Some(bad) = client.scopes.iter().find(|s| !is_scope_token(s)) {
        return Err(ClientError::InvalidScope(bad.clone()));
    }
    Ok(())
}

/// A new secret for a confidential client: returned once, stored hashed; the old one stops working.
pub async fn rotate_secret(
    db: &Db,
    clock: &dyn Clock,
    client_id: &str,
    actor: Actor,
) -> Result<Option<String>, InternalError> {
    let Some(mut client) = store::clients::find_by_client_id(db, client_id).await? else {
        return Ok(None);
    };
    if client.is_public {
        return Ok(None);
    }
    let secret = secrets::generate_secret();
    client.secret_hash = Some(secrets::hash_secret(&secret));
    let event = NewEvent::new("client.secret_rotated", actor)
        .detail(serde_json::json!({ "client_id": client_id }));
    store::clients::update_client(db, &client, clock.now(), event).await?;
    Ok(Some(secret))
}

pub async fn list_clients(db: &Db) -> Result<Vec<Client>, InternalError> {
    Ok(store::clients::list_clients(db).await?)
}

/// One page of clients in id order, after the client with id `after`.
pub async fn list_page(
    db: &Db,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Client>, InternalError> {
    Ok(store::clients::list_clients_page(db, after, limit).await?)
}

/// A client by its `client_id`.
pub async fn find(db: &Db, client_id: &str) -> Result<Option<Client>, InternalError> {
    Ok(store::clients::find_by_client_id(db, client_id).await?)
}

/// Stores a changed client after checking it (the same rules as registration); returns it as
/// stored. Token endpoints of this process forget their cached copy at once.
pub async fn update(
    provider: &crate::Provider,
    db: &Db,
    clock: &dyn Clock,
    client: &Client,
    actor: Actor,
) -> Result<Option<Client>, UpdateError> {
    check_client(client).map_err(UpdateError::Invalid)?;
    let event = NewEvent::new("client.updated", actor)
        .detail(serde_json::json!({ "client_id": client.client_id }));
    store::clients::update_client(db, client, clock.now(), event)
        .await
        .map_err(InternalError)?;
    provider.clients.forget(&client.client_id);
    Ok(find(db, &client.client_id).await?)
}

/// Why a client was not changed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Invalid(ClientError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Deletes a client by its `client_id`; `false` when there is none.
pub async fn delete_client(
    db: &Db,
    clock: &dyn Clock,
    client_id: &str,
    actor: Actor,
) -> Result<bool, InternalError> {
    let event = NewEvent::new("client.deleted", actor)
        .detail(serde_json::json!({ "client_id": client_id }));
    match store::clients::delete_client(db, client_id, clock.now(), event).await {
        Ok(found) => Ok(found),
        Err(StoreError::NotFound) => Ok(false),
        Err(e) => Err(InternalError(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::ManualClock;
    use store::testing::TestDatabase;

    fn reg() -> ClientRegistration {
        ClientRegistration {
            name: "App".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            ..Default::default()
        }
    }

    #[test]
    fn uris_and_scopes_are_checked() {
        assert!(check_uri("r", "https://app.example/cb?x=1").is_ok());
        assert!(check_uri("r", "com.example.app:/callback").is_ok());
        assert!(check_uri("r", "http://127.0.0.1:9000/cb").is_ok());
        for bad in [
            "",
            "/relative",
            "https://a.example/cb#frag",
            "javascript:alert(1)",
            "not a uri",
        ] {
            assert!(check_uri("r", bad).is_err(), "{bad}");
        }
        assert!(is_scope_token("profile:write"));
        assert!(!is_scope_token("a b") && !is_scope_token("a\"b") && !is_scope_token(""));
    }

    #[tokio::test]
    async fn confidential_and_public_clients() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let conf = register_client(&t.db, &clock, reg(), Actor::Cli)
            .await
            .expect("register");
        let secret = conf
            .client_secret
            .clone()
            .expect("confidential clients get a secret");
        let stored = store::clients::find_by_client_id(&t.db, &conf.client.client_id)
            .await
            .expect("query")
            .expect("stored");
        assert_ne!(stored.secret_hash.as_deref(), Some(secret.as_str()));
        assert!(secrets::secret_matches(
            &secret,
            stored.secret_hash.as_deref().unwrap_or("")
        ));
        assert_eq!(stored.grant_types, ["authorization_code", "refresh_token"]);
        assert!(!stored.is_public && !stored.third_party);

        let public = register_client(
            &t.db,
            &clock,
            ClientRegistration {
                public: true,
                third_party: true,
                ..reg()
            },
            Actor::Cli,
        )
        .await
        .expect("public");
        assert!(public.client_secret.is_none() && public.client.secret_hash.is_none());

        let listed = list_clients(&t.db).await.expect("list");
        assert_eq!(listed.len(), 2);
        assert!(
            delete_client(&t.db, &clock, &conf.client.client_id, Actor::Cli)
                .await
                .expect("delete")
        );
        assert!(
            !delete_client(&t.db, &clock, &conf.client.client_id, Actor::Cli)
                .await
                .expect("again")
        );
        assert_eq!(list_clients(&t.db).await.expect("list").len(), 1);
    }

    #[tokio::test]
    async fn bad_registrations_are_refused_and_nothing_is_stored() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let cases = [
            ClientRegistration {
                name: " ".into(),
                ..reg()
            },
            ClientRegistration {
                redirect_uris: vec![],
                ..reg()
            },
            ClientRegistration {
                redirect_uris: vec!["https://x.example/#f".into()],
                ..reg()
            },
            ClientRegistration {
                grant_types: vec!["password".into()],
                ..reg()
            },
            ClientRegistration {
                public: true,
                grant_types: vec!["client_credentials".into()],
                ..reg()
            },
            ClientRegistration {
                scopes: vec!["bad scope".into()],
                ..reg()
            },
            ClientRegistration {
                post_logout_redirect_uris: vec!["nope".into()],
                ..reg()
            },
        ];
        for case in cases {
            let err = register_client(&t.db, &clock, case.clone(), Actor::Cli).await;
            assert!(err.is_err(), "{case:?} was accepted");
        }
        // A machine client needs no redirect URI.
        let m2m = ClientRegistration {
            redirect_uris: vec![],
            grant_types: vec!["client_credentials".into()],
            ..reg()
        };
        assert!(
            register_client(&t.db, &clock, m2m, Actor::Cli)
                .await
                .is_ok()
        );
        assert_eq!(list_clients(&t.db).await.expect("list").len(), 1);
    }
}
