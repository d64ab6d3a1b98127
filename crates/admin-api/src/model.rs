//! The JSON shapes of the Admin API. Responses are serialised from these types, and the OpenAPI
//! document is generated from the same types, so the two cannot disagree.

use serde::Serialize;

/// A value as JSON (these types always serialise).
pub fn to_json(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// An RFC 9457 problem (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDoc {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation errors: the offending fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// One offending field: a JSON pointer into the request body (or `/name` of a query parameter).
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    pub pointer: String,
    pub message: String,
}

/// A login ID.
#[derive(Debug, Serialize, ToSchema)]
pub struct Identity {
    pub id: profile::Uuid,
    /// `email`, `phone`, `username` or `oidc`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    pub verified: bool,
    /// For `oidc` identities: the upstream provider's issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// For `oidc` identities: the user's `sub` at the upstream provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl From<&auth::users::Identity> for Identity {
    fn from(i: &auth::users::Identity) -> Self {
        let upstream = (i.kind == auth::users::IdentityKind::Oidc)
            .then(|| auth::users::parse_oidc_identity(&i.value))
            .flatten();
        Self {
            id: i.id,
            kind: i.kind.as_str().to_owned(),
            value: i.value.clone(),
            verified: i.verified_at.is_some(),
            issuer: upstream.map(|(issuer, _)| issuer.to_owned()),
            subject: upstream.map(|(_, subject)| subject.to_owned()),
        }
    }
}

/// A login ID to add: `{"type": "email", "value": "a@example.com", "verified": false}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewIdentity {
    /// `email`, `phone` (E.164) or `username`.
    #[serde(rename = "type")]
    #[schema(example = "email")]
    pub kind: String,
    pub value: String,
    /// Whether it counts as verified (default false).
    pub verified: Option<bool>,
}

/// A profile: standard attributes at the top level, custom ones under `custom_attributes`
/// (`{"given_name": "Alice", "custom_attributes": {"department": "R&D"}}`). Which attributes exist
/// is set by the profile schema; the Admin API reads and writes all of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub phone_number: Option<String>,
    pub phone_number_verified: Option<bool>,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub middle_name: Option<String>,
    pub nickname: Option<String>,
    pub profile: Option<String>,
    pub picture: Option<String>,
    pub website: Option<String>,
    pub gender: Option<String>,
    /// `YYYY-MM-DD`, `YYYY` or `--MM-DD`.
    pub birthdate: Option<String>,
    /// An IANA time-zone name.
    pub zoneinfo: Option<String>,
    /// A BCP 47 language tag.
    pub locale: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub address: Option<Value>,
    /// Unix seconds.
    pub updated_at: Option<i64>,
    /// Custom attributes by name. A `text` attribute reads as `{"text", "html", "entities":
    /// {"mentions", "hashtags", "links"}}` and is written as that object (only `text` and
    /// `entities.links` are read) or as a plain string.
    #[schema(value_type = Option<Object>)]
    pub custom_attributes: Option<Value>,
    /// The user's annotations: only with `include_annotations=1` on reads; on writes only the
    /// listed types change (a listed type without a value is removed).
    pub annotations: Option<Vec<Annotation>>,
}

/// Typed metadata an app keeps on a user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Annotation {
    /// A reverse-domain name (`^[a-z0-9]+(\.[a-z0-9-]+)+$`, at most 256 characters).
    #[serde(rename = "type")]
    pub kind: String,
    /// A JSON object of at most 8 KiB serialised; null (or left out) removes the annotation.
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: profile::Uuid,
    /// RFC 3339.
    pub created_at: String,
    pub last_login_at: Option<String>,
    pub disabled: bool,
    pub identities: Vec<Identity>,
    /// The names of the user's groups, sorted.
    pub groups: Vec<String>,
    #[schema(value_type = Profile)]
    pub profile: Map<String, Value>,
}

/// `POST /users`: identities, an optional password and an optional profile, created together.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewUser {
    pub identities: Vec<NewIdentity>,
    pub password: Option<String>,
    pub profile: Option<Profile>,
}

/// `PUT /users/{id}/password`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordBody {
    pub password: String,
}

/// `PUT /users/{id}/verified/{claim}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifiedBody {
    pub verified: bool,
}

/// A session of a user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub id: profile::Uuid,
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A second factor (SPEC §9).
#[derive(Debug, Serialize, ToSchema)]
pub struct Factor {
    pub id: profile::Uuid,
    /// `totp`, `recovery_codes` or `passkey`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<&auth::mfa::FactorInfo> for Factor {
    fn from(f: &auth::mfa::FactorInfo) -> Self {
        Self {
            id: f.id,
            kind: f.kind.clone(),
            name: f.name.clone(),
            created_at: f.created_at.to_rfc3339(),
            last_used_at: f.last_used_at.map(|t| t.to_rfc3339()),
        }
    }
}

impl From<&auth::sessions::Session> for Session {
    fn from(s: &auth::sessions::Session) -> Self {
        Self {
            id: s.id,
            created_at: s.created_at.to_rfc3339(),
            last_used_at: s.last_used_at.to_rfc3339(),
            expires_at: s.expires_at.to_rfc3339(),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
        }
    }
}

/// An OAuth client.
#[derive(Debug, Serialize, ToSchema)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub public: bool,
    pub third_party: bool,
    /// Codes only for sessions that proved a second factor (others are asked for one).
    pub require_mfa: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Only when the client is created: the secret, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<&oidc::clients::Client> for Client {
    fn from(c: &oidc::clients::Client) -> Self {
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            public: c.is_public,
            third_party: c.third_party,
            require_mfa: c.require_mfa,
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            grant_types: c.grant_types.clone(),
            scopes: c.scopes.clone(),
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
            client_secret: None,
        }
    }
}

/// `POST /clients` (and, every field optional, `PATCH /clients/{id}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientBody {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    /// A public client has no secret and must use PKCE.
    pub public: Option<bool>,
    /// Third-party clients get a consent page and only the claims of granted scopes.
    pub third_party: Option<bool>,
    /// Codes only for sessions that proved a second factor.
    pub require_mfa: Option<bool>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub backchannel_logout_uri: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
}

/// A new client secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSecret {
    pub client_id: String,
    pub client_secret: String,
}

/// Who did something.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventActor {
    /// `user`, `admin_key`, `client`, `cli` or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
}

/// An audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    pub id: profile::Uuid,
    pub occurred_at: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub actor: EventActor,
    pub user_id: Option<profile::Uuid>,
    pub ip: Option<String>,
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl From<&auth::audit::Event> for Event {
    fn from(e: &auth::audit::Event) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at.to_rfc3339(),
            kind: e.kind.clone(),
            actor: EventActor {
                kind: e.actor_type.clone(),
                id: e.actor_id.clone(),
            },
            user_id: e.user_id,
            ip: e.ip.clone(),
            detail: e.detail.clone(),
        }
    }
}

/// An Admin API key (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminKey {
    pub id: profile::Uuid,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked: bool,
    pub revoked_at: Option<String>,
}

impl From<&auth::admin_keys::AdminKeyInfo> for AdminKey {
    fn from(k: &auth::admin_keys::AdminKeyInfo) -> Self {
        Self {
            id: k.id,
            name: k.name.clone(),
            created_at: k.created_at.to_rfc3339(),
            last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
            revoked: k.revoked_at.is_some(),
            revoked_at: k.revoked_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// Access levels of one attribute: `hidden`, `readonly` or `readwrite` (the bearer never
/// `readwrite`, and sees at least what the end user sees).
#[derive(Debug, Serialize, ToSchema)]
pub struct AttributeAccess {
    pub end_user: String,
    pub bearer: String,
}

/// `PATCH /profile-schema/standard/{name}`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct StandardAttribute {
    pub name: String,
    pub access: AttributeAccess,
}

/// A custom attribute definition.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomAttribute {
    /// Assigned by Tessera, stable across renames.
    pub id: Option<profile::Uuid>,
    /// `^[a-z][a-z0-9_]*[a-z0-9]$`, not a standard or JWT claim name.
    pub name: String,
    /// `string`, `number`, `integer`, `boolean`, `enum`, `email`, `phone_number`, `url`,
    /// `country_code`, `date`, `image` or `text` (rich text with entities, at most `maximum`
    /// characters, 256 by default and 8192 at most); never changes.
    #[serde(rename = "type")]
    pub kind: String,
    pub label: Option<String>,
    /// For strings and texts, the length.
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    pub end_user: Option<String>,
    pub bearer: Option<String>,
    /// The OAuth scope that releases it to third-party clients.
    pub scope: Option<String>,
    /// Display position (0 first); only in `PATCH`.
    pub position: Option<u32>,
}

/// The profile schema document (as `tessera schema export` prints it).
#[derive(Debug, Serialize, ToSchema)]
pub struct SchemaDocument {
    /// Access of every standard attribute, by name.
    #[schema(value_type = Object)]
    pub standard: Value,
    /// Custom attributes in display order.
    pub custom: Vec<CustomAttribute>,
    /// Who may read and write annotations: `{"end_user", "bearer"}` (readwrite / readonly by
    /// default).
    pub annotations: Option<AttributeAccess>,
}

/// A multipart upload of an avatar (`avatar`), a cover (`cover`) or an image attribute (`image`).
#[derive(Debug, ToSchema)]
pub struct ImageUpload {
    /// PNG, JPEG, WebP or GIF. Avatars and image attributes under 1 MB; covers under 4 MB and at
    /// least 960 px wide.
    #[schema(value_type = String, format = Binary)]
    pub avatar: Vec<u8>,
}

/// Where the uploaded image is served.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageUrl {
    pub url: String,
}

macro_rules! page {
    ($name:ident, $item:ty) => {
        /// One page of a list; pass `next_cursor` as `cursor` for the next (null at the end).
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            pub next_cursor: Option<String>,
        }
    };
}

page!(UserPage, User);
page!(IdentityPage, Identity);
page!(FactorPage, Factor);
page!(SessionPage, Session);
page!(ClientPage, Client);
page!(GroupPage, Group);
page!(MemberPage, Member);

/// A group (SPEC §12): apps read its name in the `groups` claim.
#[derive(Debug, Serialize, ToSchema)]
pub struct Group {
    pub id: profile::Uuid,
    /// Unique in the tenant; 1 to 256 characters.
    pub name: String,
    pub description: Option<String>,
    /// The provisioning client's id for it (SCIM `externalId`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&auth::groups::Group> for Group {
    fn from(g: &auth::groups::Group) -> Self {
        Self {
            id: g.id,
            name: g.name.clone(),
            description: g.description.clone(),
            external_id: g.external_id.clone(),
            created_at: g.created_at.to_rfc3339(),
            updated_at: g.updated_at.to_rfc3339(),
        }
    }
}

/// A group to create, or the fields of one to change.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewGroup {
    pub name: Option<String>,
    /// `null` clears it.
    pub description: Option<String>,
}

/// A member of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user_id: profile::Uuid,
}
page!(EventPage, Event);
page!(AdminKeyPage, AdminKey);
page!(TenantPage, Tenant);

/// A tenant (SPEC §11): an isolated identity realm served under its own issuer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tenant {
    /// `^[a-z][a-z0-9-]{1,62}$`.
    pub id: String,
    pub name: String,
    /// Its issuer: the base URL for `default`, `{base}/t/{id}` for the others.
    pub issuer: String,
    /// Its own settings; an absent one is the server's configuration: `email_verification_required`
    /// (boolean), `password_min_length` (8 to `password.max_length`), `login_ids` (of `email`,
    /// `phone`, `username`; with `email`), `mfa_policy` (`optional` or `required`).
    #[schema(value_type = Object)]
    pub settings: Value,
    pub created_at: String,
    pub updated_at: String,
}

/// The problem+json answers of the Admin API, one type per status, for `responses(...)` in the
/// route annotations (each answer's body is a [`ProblemDoc`]).
pub mod errors {
    use std::collections::BTreeMap;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

    fn problem(status: u16, description: &str) -> BTreeMap<String, RefOr<Response>> {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ProblemDoc")))
            .build();
        let response = ResponseBuilder::new()
            .description(description)
            .content("application/problem+json", content)
            .build();
        BTreeMap::from([(status.to_string(), RefOr::T(response))])
    }

    macro_rules! problems {
        ($($name:ident = $status:literal, $description:literal;)*) => {$(
            #[doc = $description]
            pub struct $name;
            impl utoipa::IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    problem($status, $description)
                }
            }
        )*};
    }

    problems! {
        E400 = 400, "Bad request or parameter";
        E401 = 401, "Missing or invalid admin key";
        E403 = 403, "The admin key may not do this";
        E404 = 404, "Not found";
        E409 = 409, "Conflict";
        E413 = 413, "Body too large";
        E415 = 415, "Wrong content type";
        E422 = 422, "Invalid values (with pointers)";
    }
}

page!(WebhookPage, Webhook);
page!(DeliveryPage, Delivery);

/// A webhook (SPEC §13): events of the tenant POSTed, signed, to `url`. The secret is shown only
/// when it is made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: profile::Uuid,
    pub url: String,
    /// Audit event types, or `"*"` for all.
    pub events: Vec<String>,
    /// An admin key whose own changes are not sent.
    pub exclude_actor: Option<profile::Uuid>,
    /// Declared in `[[webhook]]` (the configuration wins at the next start).
    pub configured: bool,
    /// Only in the answer that made it (`POST`, or `PATCH` with `"secret": null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Webhook {
    pub fn of(w: &auth::webhooks::Webhook, secret: Option<String>) -> Self {
        Self {
            id: w.id,
            url: w.url.clone(),
            events: w.events.clone(),
            exclude_actor: w.exclude_actor,
            configured: w.config_key.is_some(),
            secret,
            created_at: w.created_at.to_rfc3339(),
            updated_at: w.updated_at.to_rfc3339(),
        }
    }
}

/// A webhook to create (`url` and `events` required), or the fields of one to change.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewWebhook {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// An admin key id; `null` clears it.
    pub exclude_actor: Option<profile::Uuid>,
    /// 16 to 256 printable characters; generated when not given (and on `PATCH` with `null`).
    pub secret: Option<String>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    pub at: String,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why there was no answer (timeout, refused address, …).
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A delivery of one event to a webhook, with its attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub id: profile::Uuid,
    pub event_id: profile::Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (given up after 24 hours).
    pub status: String,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub next_attempt_at: Option<String>,
    pub attempts: Vec<DeliveryAttempt>,
}

impl From<&auth::webhooks::DeliveryLog> for Delivery {
    fn from(d: &auth::webhooks::DeliveryLog) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type.clone(),
            status: d.status.clone(),
            created_at: d.created_at.to_rfc3339(),
            delivered_at: d.delivered_at.map(|t| t.to_rfc3339()),
            next_attempt_at: d.next_attempt_at.map(|t| t.to_rfc3339()),
            attempts: d
                .attempts
                .iter()
                .map(|(at, a)| DeliveryAttempt {
                    at: at.to_rfc3339(),
                    status_code: a.status_code,
                    error: a.error.clone(),
                    duration_ms: a.duration_ms,
                })
                .collect(),
        }
    }
}

/// A line an import refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedLine {
    /// 1-based.
    pub line: usize,
    pub error: String,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    pub created: u64,
    pub refused: Vec<RefusedLine>,
}

impl From<&auth::import::Report> for ImportReport {
    fn from(r: &auth::import::Report) -> Self {
        Self {
            created: r.created,
            refused: r
                .refused
                .iter()
                .map(|x| RefusedLine {
                    line: x.line,
                    error: x.error.clone(),
                })
                .collect(),
        }
    }
}
