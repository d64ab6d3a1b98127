//! The profile service: the schema cached in memory, and reading and changing profiles.
//!
//! Every schema change bumps a version number in the database. A process compares its cached
//! version with the database at most once a second, so a change made through one server reaches
//! the others within a second, without a query per request; the process that made the change
//! sees it at once.

use crate::access::{Access, Level, Party};
use crate::document::{
    self, Applied, Audience, Change, LoginId, ProfileError, ProfileFacts, StoredValues,
};
use crate::schema::{AttributeType, CustomAttribute, ProfileSchema, SchemaError};
use crate::standard;
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use store::audit::{Actor, NewEvent};
use store::profile_schema::{StoredCustomAttribute, StoredSchema};
use store::{Clock, Db, StoreError, Uuid};

/// How stale a process's schema may be.
const SCHEMA_CHECK_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored schema is invalid: {0}")]
    CorruptSchema(String),
}

/// Why a schema change was refused.
#[derive(Debug, thiserror::Error)]
pub enum SchemaChangeError {
    #[error(transparent)]
    Invalid(#[from] SchemaError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Why a profile change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Refused(#[from] ProfileError),
    #[error("the user does not exist")]
    NoSuchUser,
    #[error("the profile was changed at the same time; try again")]
    Conflict,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for ChangeError {
    fn from(e: StoreError) -> Self {
        ChangeError::Service(e.into())
    }
}

/// Who makes a change, for the audit log.
#[derive(Debug, Clone)]
pub struct Author {
    pub actor: Actor,
    pub ip: Option<String>,
}

impl Author {
    pub fn new(actor: Actor) -> Self {
        Self { actor, ip: None }
    }
}

/// A profile as loaded: values, login IDs and bookkeeping.
#[derive(Debug, Clone)]
pub struct LoadedProfile {
    pub user_id: Uuid,
    pub values: StoredValues,
    pub login_ids: Vec<LoginId>,
    pub avatar_seed: String,
    /// The cover image's URL, if one was uploaded.
    pub cover: Option<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl LoadedProfile {
    /// From rows already read (UserInfo reads them in the same query as the token check).
    pub fn from_stored(
        user_id: Uuid,
        stored: store::accounts::StoredProfile,
        identities: Vec<store::accounts::Identity>,
    ) -> Self {
        Self {
            user_id,
            values: StoredValues {
                standard: object(stored.standard_attributes),
                custom: object(stored.custom_attributes),
                annotations: crate::annotations::stored_list(&stored.annotations),
            },
            login_ids: identities
                .into_iter()
                .map(|i| LoginId {
                    kind: i.kind,
                    value: i.value,
                    verified: i.verified_at.is_some(),
                })
                .collect(),
            avatar_seed: stored.avatar_seed,
            cover: stored.cover,
            updated_at: stored.updated_at,
        }
    }
}

/// Shared by every request.
#[derive(Debug)]
pub struct ProfileService {
    pub(crate) issuer: String,
    /// Hosts besides Tessera that the public avatar and cover URLs may redirect to.
    pub(crate) redirect_hosts: Vec<String>,
    /// Bounds how many uploads are decoded at once (each may take tens of MB while it runs).
    pub(crate) decoding: tokio::sync::Semaphore,
    schema: RwLock<Arc<ProfileSchema>>,
    version: AtomicI64,
    checked: RwLock<Instant>,
}

fn level(s: &str) -> Result<Level, ServiceError> {
    Level::parse(s).ok_or_else(|| ServiceError::CorruptSchema(format!("level {s:?}")))
}

fn from_stored(stored: &StoredSchema) -> Result<ProfileSchema, ServiceError> {
    let mut schema = ProfileSchema::default();
    for (name, end_user, bearer) in &stored.standard {
        if name == ANNOTATIONS {
            schema.annotations = Access {
                end_user: level(end_user)?,
                bearer: level(bearer)?,
            };
        } else if let Some(attr) = standard::find(name) {
            schema.standard.insert(
                attr.name,
                Access {
                    end_user: level(end_user)?,
                    bearer: level(bearer)?,
                },
            );
        }
    }
    for c in &stored.custom {
        schema.custom.push(CustomAttribute {
            id: c.id,
            name: c.name.clone(),
            kind: AttributeType::parse(&c.kind)
                .ok_or_else(|| ServiceError::CorruptSchema(format!("type {:?}", c.kind)))?,
            label: c.label.clone(),
            minimum: c.minimum,
            maximum: c.maximum,
            enum_values: c.enum_values.clone(),
            access: Access {
                end_user: level(&c.end_user)?,
                bearer: level(&c.bearer)?,
            },
            scope: c.scope.clone(),
        });
    }
    Ok(schema)
}

/// The access row that holds the annotations' levels, beside the standard attributes' rows.
const ANNOTATIONS: &str = "annotations";

fn to_stored(schema: &ProfileSchema) -> StoredSchema {
    StoredSchema {
        version: 0,
        standard: schema
            .standard
            .iter()
            .map(|(n, a)| (*n, a))
            .chain(std::iter::once((ANNOTATIONS, &schema.annotations)))
            .map(|(n, a)| {
                (
                    n.to_owned(),
                    a.end_user.as_str().to_owned(),
                    a.bearer.as_str().to_owned(),
                )
            })
            .collect(),
        custom: schema
            .custom
            .iter()
            .map(|c| StoredCustomAttribute {
                id: c.id,
                name: c.name.clone(),
                kind: c.kind.as_str().to_owned(),
                label: c.label.clone(),
                minimum: c.minimum,
                maximum: c.maximum,
                enum_values: c.enum_values.clone(),
                end_user: c.access.end_user.as_str().to_owned(),
                bearer: c.access.bearer.as_str().to_owned(),
                scope: c.scope.clone(),
            })
            .collect(),
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl ProfileService {
    /// Loads the schema.
    pub async fn start(db: &Db, issuer: &str) -> Result<Self, ServiceError> {
        let stored = store::profile_schema::load_schema(db).await?;
        Ok(Self {
            issuer: issuer.to_owned(),
            redirect_hosts: Vec::new(),
            decoding: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            schema: RwLock::new(Arc::new(from_stored(&stored)?)),
            version: AtomicI64::new(stored.version),
            checked: RwLock::new(Instant::now()),
        })
    }

    /// Lets the public avatar and cover URLs redirect to pictures on these hosts too
    /// (`images.redirect_hosts`); by default only to images Tessera serves.
    pub fn with_redirect_hosts(mut self, hosts: Vec<String>) -> Self {
        self.redirect_hosts = hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect();
        self
    }

    fn cached(&self) -> Arc<ProfileSchema> {
        match self.schema.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn install(&self, schema: ProfileSchema, version: i64) -> Arc<ProfileSchema> {
        let schema = Arc::new(schema);
        match self.schema.write() {
            Ok(mut g) => *g = schema.clone(),
            Err(p) => *p.into_inner() = schema.clone(),
        }
        self.version.store(version, Ordering::SeqCst);
        schema
    }

    /// The current schema (at most a second behind changes made by other processes).
    pub async fn schema(&self, db: &Db) -> Result<Arc<ProfileSchema>, ServiceError> {
        let due = match self.checked.read() {
            Ok(t) => t.elapsed() >= SCHEMA_CHECK_INTERVAL,
            Err(_) => true,
        };
        if !due {
            return Ok(self.cached());
        }
        if let Ok(mut t) = self.checked.write() {
            *t = Instant::now();
        }
        let version = store::profile_schema::schema_version(db).await?;
        if version == self.version.load(Ordering::SeqCst) {
            return Ok(self.cached());
        }
        let stored = store::profile_schema::load_schema(db).await?;
        Ok(self.install(from_stored(&stored)?, stored.version))
    }

    /// Applies a schema document (import, Admin API) in one transaction.
    pub async fn replace_schema(
        &self,
        db: &Db,
        clock: &dyn Clock,
        doc: &Value,
        actor: Actor,
    ) -> Result<Arc<ProfileSchema>, SchemaChangeError> {
        let stored = store::profile_schema::load_schema(db)
            .await
            .map_err(ServiceError::from)?;
        let current = from_stored(&stored)?;
        let next = current.apply_document(doc)?;
        if next == current {
            // Nothing to save, nothing to record.
            return Ok(self.install(next, stored.version));
        }
        let event = NewEvent::new("profile_schema.updated", actor).detail(serde_json::json!({
            "custom": next.custom.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        }));
        let version = store::profile_schema::save_schema(db, &to_stored(&next), clock.now(), event)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(what) => SchemaChangeError::Invalid(SchemaError {
                    attribute: String::new(),
                    pointer: "/custom".into(),
                    message: format!("{what} is already taken"),
                    conflict: true,
                }),
                other => SchemaChangeError::Service(other.into()),
            })?;
        Ok(self.install(next, version))
    }

    /// The generated avatar's URL for a user.
    pub fn avatar_url(&self, user_id: Uuid, seed: &str) -> String {
        // Built by hand: UserInfo renders it on every request, and `format!` costs more.
        let mut id = Uuid::encode_buffer();
        let id = user_id.hyphenated().encode_lower(&mut id);
        let mut url = String::with_capacity(self.issuer.len() + id.len() + seed.len() + 14);
        url.push_str(&self.issuer);
        url.push_str("/avatars/");
        url.push_str(id);
        url.push('/');
        url.push_str(seed);
        url.push_str(".svg");
        url
    }

    pub async fn load(
        &self,
        db: &Db,
        user_id: Uuid,
    ) -> Result<Option<LoadedProfile>, ServiceError> {
        let Some(stored) = store::accounts::find_profile(db, user_id).await? else {
            return Ok(None);
        };
        let identities = store::accounts::list_identities(db, user_id).await?;
        Ok(Some(LoadedProfile::from_stored(
            user_id, stored, identities,
        )))
    }

    /// The profiles of several users with their login IDs, in two queries (user search).
    pub async fn load_many(
        &self,
        db: &Db,
        user_ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, LoadedProfile>, ServiceError> {
        let identities = store::accounts::identities_of(db, user_ids).await?;
        let profiles = store::accounts::profiles_of(db, user_ids).await?;
        Ok(profiles
            .into_iter()
            .map(|(id, stored)| {
                let own = identities
                    .iter()
                    .filter(|i| i.user_id == id)
                    .cloned()
                    .collect();
                (id, LoadedProfile::from_stored(id, stored, own))
            })
            .collect())
    }

    /// The profile JSON of a loaded profile for `audience`.
    pub fn render(
        &self,
        schema: &ProfileSchema,
        p: &LoadedProfile,
        audience: Audience<'_>,
    ) -> Map<String, Value> {
        let facts = ProfileFacts {
            values: &p.values,
            login_ids: &p.login_ids,
            updated_at: p.updated_at.timestamp(),
            default_picture: Some(self.avatar_url(p.user_id, &p.avatar_seed)),
        };
        document::render(schema, &facts, audience)
    }

    /// [`Self::render`] with the user's `annotations`, when `audience` may read them (asked for
    /// with `include_annotations=1`; always for first-party UserInfo).
    pub fn render_annotated(
        &self,
        schema: &ProfileSchema,
        p: &LoadedProfile,
        audience: Audience<'_>,
    ) -> Map<String, Value> {
        let mut out = self.render(schema, p, audience);
        if let Some(a) = document::annotations_for(schema, &p.values, audience) {
            out.insert("annotations".into(), a);
        }
        out
    }

    /// The profile JSON of the profile and identities a UserInfo read returned, for `audience`
    /// (the stored shape stays the profile crate's business), with the annotations when the
    /// audience may read them.
    pub fn render_userinfo(
        &self,
        schema: &ProfileSchema,
        user_id: Uuid,
        bundle: store::userinfo::UserInfoBundle,
        audience: Audience<'_>,
    ) -> Map<String, Value> {
        let loaded = LoadedProfile::from_stored(user_id, bundle.profile, bundle.identities);
        // Annotations go to first-party clients (a third party's audience never reads them).
        self.render_annotated(schema, &loaded, audience)
    }

    /// Loads and renders in one go.
    pub async fn view(
        &self,
        db: &Db,
        user_id: Uuid,
        audience: Audience<'_>,
    ) -> Result<Option<Map<String, Value>>, ServiceError> {
        self.view_with(db, user_id, audience, false).await
    }

    /// [`Self::view`], with the annotations too when `annotations` (and `audience` may read them).
    pub async fn view_with(
        &self,
        db: &Db,
        user_id: Uuid,
        audience: Audience<'_>,
        annotations: bool,
    ) -> Result<Option<Map<String, Value>>, ServiceError> {
        let schema = self.schema(db).await?;
        Ok(self.load(db, user_id).await?.map(|p| {
            if annotations {
                self.render_annotated(&schema, &p, audience)
            } else {
                self.render(&schema, &p, audience)
            }
        }))
    }

    /// A user's stored values in the shape an admin write takes (standard attributes, and custom
    /// ones by name under `custom_attributes`), for export; `{}` for no such user.
    pub async fn admin_export(&self, db: &Db, user_id: Uuid) -> Result<Value, ServiceError> {
        let schema = self.schema(db).await?;
        let Some(p) = self.load(db, user_id).await? else {
            return Ok(Value::Object(Map::new()));
        };
        let mut out = p.values.standard.clone();
        let mut custom = Map::new();
        for def in &schema.custom {
            if let Some(v) = p.values.custom.get(&def.id.to_string()) {
                custom.insert(def.name.clone(), v.clone());
            }
        }
        if !custom.is_empty() {
            out.insert("custom_attributes".into(), Value::Object(custom));
        }
        Ok(Value::Object(out))
    }

    /// Checks and applies a change by `writer`, recording which attributes changed (values only
    /// for attributes the bearer may read). Returns the profile as `writer` sees it afterwards.
    pub async fn change(
        &self,
        db: &Db,
        clock: &dyn Clock,
        user_id: Uuid,
        writer: Audience<'_>,
        change: Change<'_>,
        by: Author,
    ) -> Result<Map<String, Value>, ChangeError> {
        let (schema, current, applied) = self.apply(db, user_id, writer, change).await?;
        self.commit(db, clock, &schema, &current, applied, Extra::default(), by)
            .await?;
        let after = self
            .load(db, user_id)
            .await?
            .ok_or(ChangeError::NoSuchUser)?;
        let lists_annotations = match change {
            Change::Put(b) | Change::Patch(b) => b.get("annotations").is_some(),
        };
        Ok(if lists_annotations {
            self.render_annotated(&schema, &after, writer)
        } else {
            self.render(&schema, &after, writer)
        })
    }

    /// The mentions in the `text` attributes `change` sets, resolved in one query.
    async fn mentions(
        &self,
        db: &Db,
        schema: &ProfileSchema,
        change: Change<'_>,
    ) -> Result<document::Mentions, ServiceError> {
        let names = document::mentioned_names(schema, change);
        if names.is_empty() {
            return Ok(document::Mentions::default());
        }
        Ok(crate::rich_text::resolve_names(db, &names).await?)
    }

    /// Checks a change as [`ProfileService::change`] does, without storing it: the write to
    /// make in the caller's transaction (`store::accounts::provision`), or `None` when nothing
    /// would change.
    pub async fn prepare_change(
        &self,
        db: &Db,
        user_id: Uuid,
        writer: Audience<'_>,
        change: Change<'_>,
        by: Author,
    ) -> Result<Option<store::accounts::ProfileSave>, ChangeError> {
        let (schema, current, applied) = self.apply(db, user_id, writer, change).await?;
        Ok(prepare(&schema, &current, applied, Extra::default(), by))
    }

    /// The user's profile as read, and `change` by `writer` applied to it (checked, not stored).
    async fn apply(
        &self,
        db: &Db,
        user_id: Uuid,
        writer: Audience<'_>,
        change: Change<'_>,
    ) -> Result<(Arc<ProfileSchema>, LoadedProfile, Applied), ChangeError> {
        let schema = self.schema(db).await?;
        let current = self
            .load(db, user_id)
            .await?
            .ok_or(ChangeError::NoSuchUser)?;
        let mentions = self.mentions(db, &schema, change).await?;
        let applied = document::apply_with(
            &schema,
            &current.values,
            &current.login_ids,
            writer,
            change,
            &mentions,
        )?;
        Ok((schema, current, applied))
    }

    /// Stores an accepted change (with what comes along with it) in one transaction, unless
    /// nothing changed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn commit(
        &self,
        db: &Db,
        clock: &dyn Clock,
        schema: &ProfileSchema,
        current: &LoadedProfile,
        applied: Applied,
        extra: Extra,
        by: Author,
    ) -> Result<(), ChangeError> {
        let Some(save) = prepare(schema, current, applied, extra, by) else {
            return Ok(());
        };
        let saved = store::accounts::save_profile(
            db,
            current.user_id,
            save.write,
            save.expected_updated_at,
            clock.now(),
            save.event,
        )
        .await?;
        if !saved {
            return Err(ChangeError::Conflict);
        }
        Ok(())
    }
}

/// The write an accepted change makes (with what comes along with it), unless nothing changed.
fn prepare(
    schema: &ProfileSchema,
    current: &LoadedProfile,
    applied: Applied,
    extra: Extra,
    by: Author,
) -> Option<store::accounts::ProfileSave> {
    let Applied {
        values,
        mut changed,
        regenerate_avatar,
    } = applied;
    let cover_changed = extra.cover.as_ref().is_some_and(|c| *c != current.cover);
    if cover_changed {
        changed.push("cover".into());
    }
    if changed.is_empty() && !regenerate_avatar && extra.image.is_none() {
        return None;
    }
    let seed = if regenerate_avatar {
        crate::generated::avatar_seed()
    } else {
        current.avatar_seed.clone()
    };
    let mut detail = change_detail(schema, &values, &changed, regenerate_avatar);
    if let (Some(image), Some(obj)) = (&extra.image, detail.as_object_mut()) {
        obj.insert("image".into(), Value::String(image.id.clone()));
    }
    let event = NewEvent::new("profile.updated", by.actor)
        .user(current.user_id)
        .ip(by.ip)
        .detail(detail);
    Some(store::accounts::ProfileSave {
        write: store::accounts::ProfileWrite {
            standard_attributes: Value::Object(values.standard),
            custom_attributes: Value::Object(values.custom),
            annotations: Value::Array(values.annotations),
            avatar_seed: seed,
            cover: extra.cover.unwrap_or_else(|| current.cover.clone()),
            image: extra.image,
        },
        expected_updated_at: current.updated_at,
        event,
    })
}

/// What a profile write carries besides attribute values.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    /// A new cover URL (`Some(None)` removes it).
    pub cover: Option<Option<String>>,
    /// An uploaded image to store with the change.
    pub image: Option<store::images::NewImage>,
}

/// The audit detail of a change: the attributes changed, with the new values of those the bearer
/// may read (a hidden attribute's value stays out of the log).
fn change_detail(
    schema: &ProfileSchema,
    values: &StoredValues,
    changed: &[String],
    avatar: bool,
) -> Value {
    let mut shown = Map::new();
    for name in changed {
        let (visible, value) = match name.strip_prefix("custom_attributes.") {
            Some(custom) => match schema.find_custom(custom) {
                Some(def) => (
                    def.access.bearer.can_read(),
                    values.custom.get(&def.id.to_string()),
                ),
                None => (false, None),
            },
            None => (
                schema
                    .standard
                    .get(name.as_str())
                    .is_some_and(|a| a.bearer.can_read()),
                values.standard.get(name),
            ),
        };
        if visible {
            shown.insert(name.clone(), value.cloned().unwrap_or(Value::Null));
        }
    }
    serde_json::json!({ "attributes": changed, "values": shown, "regenerated_avatar": avatar })
}

impl ProfileService {
    /// Checks the profile of a user about to be created (by an admin): the values to store, or
    /// why not. `login_ids` are the identities the account will have.
    pub async fn initial_values(
        &self,
        db: &Db,
        login_ids: &[LoginId],
        profile: Option<&Value>,
    ) -> Result<StoredValues, ChangeError> {
        let schema = self.schema(db).await?;
        let Some(profile) = profile else {
            return Ok(StoredValues::default());
        };
        let mentions = self.mentions(db, &schema, Change::Put(profile)).await?;
        let applied = document::apply_with(
            &schema,
            &StoredValues::default(),
            login_ids,
            Audience::Party(Party::Admin),
            Change::Put(profile),
            &mentions,
        )?;
        Ok(applied.values)
    }
}

impl ProfileService {
    /// The first values of a profile created from an upstream provider's claims: `base` (the
    /// generated defaults) overlaid with every valid claim. Returns the values and the claims
    /// dropped as invalid.
    pub async fn values_from_claims(
        &self,
        db: &Db,
        login_ids: &[LoginId],
        base: &Value,
        claims: &Map<String, Value>,
    ) -> Result<(StoredValues, Vec<(String, String)>), ServiceError> {
        let schema = self.schema(db).await?;
        let start = StoredValues {
            standard: object(base.clone()),
            custom: Map::new(),
            annotations: Vec::new(),
        };
        let out = crate::population::populate(&schema, &start, login_ids, claims);
        Ok((out.values, out.dropped))
    }

    /// Refreshes a profile from an upstream provider's claims (invalid ones dropped), recording the
    /// change. Returns the claims dropped as invalid.
    pub async fn refresh_from_claims(
        &self,
        db: &Db,
        clock: &dyn Clock,
        user_id: Uuid,
        claims: &Map<String, Value>,
        by: Author,
    ) -> Result<Vec<(String, String)>, ChangeError> {
        let schema = self.schema(db).await?;
        let current = self
            .load(db, user_id)
            .await?
            .ok_or(ChangeError::NoSuchUser)?;
        let out = crate::population::populate(&schema, &current.values, &current.login_ids, claims);
        let applied = Applied {
            values: out.values,
            changed: out.changed,
            regenerate_avatar: false,
        };
        self.commit(db, clock, &schema, &current, applied, Extra::default(), by)
            .await?;
        Ok(out.dropped)
    }
}
