//! A user's profile as JSON for one party, and changes to it.
//!
//! Profile JSON has the standard attributes at the top level and custom attributes under
//! `custom_attributes` (by name). Stored values are keyed by standard name and by custom
//! definition id, so renaming a definition keeps its values.
//!
//! A write (`PUT` replaces every attribute the party may write; `PATCH` is a JSON merge patch) is
//! checked whole before anything is applied: an attribute the party may not write is a
//! [`ProfileError::Forbidden`] naming it; bad values are [`ProfileError::Invalid`] with a JSON
//! pointer each.

use crate::access::{Access, Level, Party};
use crate::rich_text;
use crate::schema::{AttributeType, CustomAttribute, ProfileSchema};
use crate::standard::{self, Format, STANDARD_ATTRIBUTES};
use crate::validate;
use serde_json::{Map, Value};
use store::Uuid;
use store::accounts::IdentityKind;

/// What is stored for one user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredValues {
    /// Standard attributes by name (for identity-coupled ones: the chosen login ID).
    pub standard: Map<String, Value>,
    /// Custom attributes by definition id.
    pub custom: Map<String, Value>,
    /// Annotations: `{"type", "value"}` objects ([`crate::annotations`]).
    pub annotations: Vec<Value>,
}

/// One of the user's login IDs, as the profile sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginId {
    pub kind: IdentityKind,
    pub value: String,
    pub verified: bool,
}

/// Everything needed to show a profile.
#[derive(Debug, Clone)]
pub struct ProfileFacts<'a> {
    pub values: &'a StoredValues,
    pub login_ids: &'a [LoginId],
    pub updated_at: i64,
    /// The generated avatar's URL, used while `picture` is unset.
    pub default_picture: Option<String>,
}

fn coupled_kind(format: Format) -> Option<IdentityKind> {
    match format {
        Format::CoupledEmail => Some(IdentityKind::Email),
        Format::CoupledPhone => Some(IdentityKind::Phone),
        Format::CoupledUsername => Some(IdentityKind::Username),
        _ => None,
    }
}

/// The login ID a coupled attribute shows: the chosen one while it is still the user's, else
/// the first of that kind (verified ones first).
fn coupled_value<'a>(
    facts: &'a ProfileFacts<'_>,
    name: &str,
    kind: IdentityKind,
) -> Option<&'a LoginId> {
    let chosen = facts.values.standard.get(name).and_then(Value::as_str);
    let mut of_kind = facts.login_ids.iter().filter(|l| l.kind == kind);
    if let Some(c) = chosen
        && let Some(found) = facts
            .login_ids
            .iter()
            .find(|l| l.kind == kind && l.value == c)
    {
        return Some(found);
    }
    let verified = facts
        .login_ids
        .iter()
        .find(|l| l.kind == kind && l.verified);
    verified.or_else(|| of_kind.next())
}

/// Which attributes a reader gets.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// A party sees what its access levels allow.
    Party(Party),
    /// A third-party client: what the bearer may read, narrowed to the granted scopes.
    ThirdParty { scopes: &'a [&'a str] },
}

impl Audience<'_> {
    fn party(&self) -> Party {
        match self {
            Audience::Party(p) => *p,
            Audience::ThirdParty { .. } => Party::Bearer,
        }
    }

    fn scope_allows(&self, scope: Option<&str>) -> bool {
        match self {
            Audience::Party(_) => true,
            Audience::ThirdParty { scopes } => scope.is_some_and(|s| scopes.contains(&s)),
        }
    }

    /// Whether this reader sees an attribute with `access` in `scope`.
    pub fn can_read(&self, access: Access, scope: Option<&str>) -> bool {
        access.level(self.party()).can_read() && self.scope_allows(scope)
    }

    /// What this reader may do with the user's annotations: a party what the schema gives it, a
    /// third-party client nothing.
    pub fn annotations_level(&self, schema: &ProfileSchema) -> Level {
        match self {
            Audience::Party(p) => schema.annotations.level(*p),
            Audience::ThirdParty { .. } => Level::Hidden,
        }
    }

    /// Whether this writer may change an attribute with `access` in `scope`. A third-party client
    /// writes for the end user, with the end user's rights, but only within its granted scopes.
    pub fn can_write(&self, access: Access, scope: Option<&str>) -> bool {
        match self {
            Audience::Party(p) => access.level(*p).can_write(),
            Audience::ThirdParty { .. } => access.end_user.can_write() && self.scope_allows(scope),
        }
    }
}

/// Whether `audience` sees the user's login IDs of `kind` (the self-service API's `identities`):
/// a party sees them all; a third-party client only emails and phone numbers, and only when it
/// sees the claim they back (`email` with the `email` scope, `phone_number` with `phone`).
pub fn shows_login_ids(schema: &ProfileSchema, audience: Audience<'_>, kind: IdentityKind) -> bool {
    if let Audience::Party(_) = audience {
        return true;
    }
    let claim = match kind {
        IdentityKind::Email => "email",
        IdentityKind::Phone => "phone_number",
        _ => return false,
    };
    standard::find(claim).is_some_and(|attr| {
        let access = schema
            .standard
            .get(attr.name)
            .copied()
            .unwrap_or(attr.default_access);
        audience.can_read(access, Some(attr.scope))
    })
}

/// The profile JSON for `audience`.
pub fn render(
    schema: &ProfileSchema,
    facts: &ProfileFacts<'_>,
    audience: Audience<'_>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for attr in STANDARD_ATTRIBUTES {
        let access = schema
            .standard
            .get(attr.name)
            .copied()
            .unwrap_or(attr.default_access);
        if !audience.can_read(access, Some(attr.scope)) {
            continue;
        }
        if let Some(kind) = coupled_kind(attr.format) {
            if let Some(login) = coupled_value(facts, attr.name, kind) {
                out.insert(attr.name.into(), login.value.clone().into());
                match kind {
                    IdentityKind::Email => {
                        out.insert("email_verified".into(), login.verified.into());
                    }
                    IdentityKind::Phone => {
                        out.insert("phone_number_verified".into(), login.verified.into());
                    }
                    _ => {}
                }
            }
            continue;
        }
        match facts.values.standard.get(attr.name) {
            Some(v) if !v.is_null() => {
                out.insert(attr.name.into(), v.clone());
            }
            _ if attr.name == "picture" => {
                if let Some(p) = &facts.default_picture {
                    out.insert("picture".into(), p.clone().into());
                }
            }
            _ => {}
        }
    }
    if audience.scope_allows(Some("profile")) {
        out.insert("updated_at".into(), facts.updated_at.into());
    }
    let mut custom = Map::new();
    let mut id = uuid::Uuid::encode_buffer();
    for def in &schema.custom {
        if !audience.can_read(def.access, def.scope.as_deref()) {
            continue;
        }
        if let Some(v) = facts
            .values
            .custom
            .get(&*def.id.hyphenated().encode_lower(&mut id))
        {
            custom.insert(def.name.clone(), v.clone());
        }
    }
    if !custom.is_empty() || matches!(audience, Audience::Party(_)) {
        out.insert("custom_attributes".into(), Value::Object(custom));
    }
    out
}

/// The user's annotations for `audience`, when it may read them.
pub fn annotations_for(
    schema: &ProfileSchema,
    values: &StoredValues,
    audience: Audience<'_>,
) -> Option<Value> {
    audience
        .annotations_level(schema)
        .can_read()
        .then(|| Value::Array(values.annotations.clone()))
}

/// Mentioned names resolved to user ids (lower-cased names), for the `text` attributes a write
/// sets. The caller looks the names of [`mentioned_names`] up in the store.
#[derive(Debug, Clone, Default)]
pub struct Mentions(std::collections::HashMap<String, String>);

impl Mentions {
    pub fn new(resolved: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(
            resolved
                .into_iter()
                .map(|(name, id)| (name.to_lowercase(), id))
                .collect(),
        )
    }

    pub fn resolve(&self, name: &str) -> Option<String> {
        self.0.get(&name.to_lowercase()).cloned()
    }
}

/// The names mentioned (`@name`, lower-cased, each once) in the `text` attributes a write sets:
/// the names to resolve before [`apply_with`].
pub fn mentioned_names(schema: &ProfileSchema, change: Change<'_>) -> Vec<String> {
    let body = match change {
        Change::Put(b) | Change::Patch(b) => b,
    };
    let Some(custom) = body.get("custom_attributes").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    for def in schema
        .custom
        .iter()
        .filter(|d| d.kind == AttributeType::Text)
    {
        let Some(value) = custom.get(&def.name) else {
            continue;
        };
        let Ok((text, _)) = rich_text::read_input(value, def.text_maximum()) else {
            continue;
        };
        for name in rich_text::mention_names(&text) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The party may not write this attribute (403); nothing was applied.
    #[error("you may not change {attribute}")]
    Forbidden { attribute: String },
    /// Bad values (422): `(JSON pointer, message)` for each; nothing was applied.
    #[error("invalid profile: {}", .0.iter().map(|(p, m)| format!("{p} {m}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(String, String)>),
}

/// A change to apply.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Replace every attribute the party may write; those left out are cleared.
    Put(&'a Value),
    /// RFC 7396 merge patch: `null` clears.
    Patch(&'a Value),
}

/// The outcome of an accepted write.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub values: StoredValues,
    /// Attribute names that changed (custom ones as `custom_attributes.NAME`).
    pub changed: Vec<String>,
    /// The caller asked for a new generated avatar.
    pub regenerate_avatar: bool,
}

/// A `text` attribute's value as stored: the processed text (SPEC §10). Refusals point below the
/// attribute when the writer sent an object (`…/text`, `…/entities/links/0`).
fn check_text(
    def: &CustomAttribute,
    v: &Value,
    mentions: &Mentions,
) -> Result<Value, (String, String)> {
    let under = |inner: String| if v.is_object() { inner } else { String::new() };
    let (text, links) =
        rich_text::read_input(v, def.text_maximum()).map_err(|r| (under(r.pointer), r.message))?;
    if let Some(min) = def.minimum
        && (text.chars().count() as f64) < min
    {
        return Err((
            under("/text".into()),
            format!("must be at least {min} characters"),
        ));
    }
    let processed = rich_text::process(&text, &links, |name| mentions.resolve(name))
        .map_err(|e| (e.pointer(), e.to_string()))?;
    serde_json::to_value(processed).map_err(|e| (String::new(), e.to_string()))
}

fn check_value(def: &CustomAttribute, v: &Value) -> Result<Value, String> {
    let length_limits = |len: usize| -> Result<(), String> {
        if let Some(min) = def.minimum
            && (len as f64) < min
        {
            return Err(format!("must be at least {min} characters"));
        }
        if let Some(max) = def.maximum
            && (len as f64) > max
        {
            return Err(format!("must be at most {max} characters"));
        }
        Ok(())
    };
    let range = |n: f64| -> Result<(), String> {
        if let Some(min) = def.minimum
            && n < min
        {
            return Err(format!("must be at least {min}"));
        }
        if let Some(max) = def.maximum
            && n > max
        {
            return Err(format!("must be at most {max}"));
        }
        Ok(())
    };
    match def.kind {
        AttributeType::String => {
            let s = validate::plain_text(v)?;
            length_limits(s.as_str().map_or(0, |s| s.chars().count()))?;
            Ok(s)
        }
        AttributeType::Number => {
            let n = v
                .as_f64()
                .filter(|f| f.is_finite())
                .ok_or("must be a number")?;
            range(n)?;
            Ok(v.clone())
        }
        AttributeType::Integer => {
            let n = v.as_i64().ok_or("must be a whole number")?;
            range(n as f64)?;
            Ok(v.clone())
        }
        AttributeType::Boolean => v
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| "must be true or false".into()),
        AttributeType::Enum => match v.as_str() {
            Some(s) if def.enum_values.iter().any(|e| e == s) => Ok(v.clone()),
            _ => Err(format!("must be one of: {}", def.enum_values.join(", "))),
        },
        AttributeType::Email => validate::email(v),
        AttributeType::PhoneNumber => validate::phone_number(v),
        AttributeType::Url | AttributeType::Image => validate::http_url(v),
        AttributeType::CountryCode => validate::country_code(v),
        AttributeType::Date => validate::date(v),
        AttributeType::Text => check_text(def, v, &Mentions::default()).map_err(|(_, m)| m),
    }
}

fn check_standard(
    name: &str,
    format: Format,
    v: &Value,
    login_ids: &[LoginId],
) -> Result<Value, Vec<(String, String)>> {
    let one = |r: Result<Value, String>| r.map_err(|m| vec![(format!("/{name}"), m)]);
    match format {
        Format::Text => one(validate::plain_text(v)),
        Format::Url => one(validate::http_url(v)),
        Format::Gender => one(validate::gender(v)),
        Format::Birthdate => one(validate::birthdate(v)),
        Format::Zoneinfo => one(validate::zoneinfo(v)),
        Format::Locale => one(validate::locale(v)),
        Format::Address => validate::address(v).map_err(|errs| {
            errs.into_iter()
                .map(|(p, m)| (format!("/address{p}"), m))
                .collect()
        }),
        Format::CoupledEmail | Format::CoupledPhone | Format::CoupledUsername => {
            let kind = coupled_kind(format).unwrap_or(IdentityKind::Email);
            let normalised = match format {
                Format::CoupledEmail => validate::email(v),
                Format::CoupledPhone => validate::phone_number(v),
                _ => v
                    .as_str()
                    .map(|s| Value::String(s.trim().to_lowercase()))
                    .ok_or_else(|| "must be a string".to_owned()),
            };
            let normalised = one(normalised)?;
            let ok = login_ids
                .iter()
                .any(|l| l.kind == kind && Some(l.value.as_str()) == normalised.as_str());
            if ok {
                Ok(normalised)
            } else {
                Err(vec![(
                    format!("/{name}"),
                    "must be one of your own login IDs (add it as an identity first)".into(),
                )])
            }
        }
    }
}

/// Checks and applies a write by `writer`. Nothing changes unless everything is acceptable.
///
/// A write that names an attribute the writer cannot read is refused with
/// [`ProfileError::Forbidden`] whatever the value: otherwise "unchanged" (200) versus "you may
/// not change it" (403) would tell a guesser when they had guessed a hidden value.
pub fn apply(
    schema: &ProfileSchema,
    current: &StoredValues,
    login_ids: &[LoginId],
    writer: Audience<'_>,
    change: Change<'_>,
) -> Result<Applied, ProfileError> {
    apply_with(
        schema,
        current,
        login_ids,
        writer,
        change,
        &Mentions::default(),
    )
}

/// [`apply`], with the mentions of the write's `text` attributes resolved.
pub fn apply_with(
    schema: &ProfileSchema,
    current: &StoredValues,
    login_ids: &[LoginId],
    writer: Audience<'_>,
    change: Change<'_>,
    mentions: &Mentions,
) -> Result<Applied, ProfileError> {
    let (body, is_put) = match change {
        Change::Put(b) => (b, true),
        Change::Patch(b) => (b, false),
    };
    let Some(body) = body.as_object() else {
        return Err(ProfileError::Invalid(vec![(
            String::new(),
            "must be a JSON object".into(),
        )]));
    };
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut next = current.clone();
    let mut changed = Vec::new();
    let mut regenerate_avatar = false;

    // Keys that are not attributes.
    for (key, value) in body {
        match key.as_str() {
            "custom_attributes" | "annotations" => {}
            "regenerate_avatar" => match value {
                Value::Bool(b) => regenerate_avatar = *b,
                Value::Null => {}
                _ => errors.push(("/regenerate_avatar".into(), "must be true or false".into())),
            },
            // Read-only facts a client may send back from a GET; they are not written, but must
            // at least have their type.
            "sub" if value.is_string() || value.is_null() => {}
            "updated_at" if value.is_i64() || value.is_u64() || value.is_null() => {}
            "email_verified" | "phone_number_verified" if value.is_boolean() || value.is_null() => {
            }
            "sub" | "updated_at" | "email_verified" | "phone_number_verified" => errors.push((
                format!("/{key}"),
                "is set by Tessera and cannot be written; send it back as read or leave it out"
                    .into(),
            )),
            k => match standard::find(k) {
                Some(attr) => {
                    let access = schema
                        .standard
                        .get(attr.name)
                        .copied()
                        .unwrap_or(attr.default_access);
                    if !writer.can_read(access, Some(attr.scope)) {
                        return Err(ProfileError::Forbidden {
                            attribute: attr.name.into(),
                        });
                    }
                }
                None => errors.push((format!("/{k}"), "is not a profile attribute".into())),
            },
        }
    }
    if regenerate_avatar {
        let picture = standard::find("picture");
        let access = schema
            .standard
            .get("picture")
            .copied()
            .unwrap_or(crate::access::Access::HIDDEN);
        if !writer.can_write(access, picture.map(|p| p.scope)) {
            return Err(ProfileError::Forbidden {
                attribute: "picture".into(),
            });
        }
    }
    // Standard attributes.
    for attr in STANDARD_ATTRIBUTES {
        let access = schema
            .standard
            .get(attr.name)
            .copied()
            .unwrap_or(attr.default_access);
        let writable = writer.can_write(access, Some(attr.scope));
        let old = current
            .standard
            .get(attr.name)
            .cloned()
            .filter(|v| !v.is_null());
        let new_value: Option<Value> = match (body.get(attr.name), is_put) {
            (Some(Value::Null), _) => None,
            (Some(v), false) if attr.format == Format::Address => {
                // Merge patch into the address object.
                let mut merged = old.clone().unwrap_or(Value::Object(Map::new()));
                json_patch::merge(&mut merged, v);
                Some(merged).filter(|m| m.as_object().is_none_or(|o| !o.is_empty()))
            }
            (Some(v), _) => Some(v.clone()),
            (None, true) if writable => None,
            (None, _) => old.clone(),
        };
        if new_value == old {
            continue;
        }
        if !writable {
            return Err(ProfileError::Forbidden {
                attribute: attr.name.into(),
            });
        }
        match new_value {
            None => {
                next.standard.remove(attr.name);
                changed.push(attr.name.to_owned());
            }
            Some(v) => match check_standard(attr.name, attr.format, &v, login_ids) {
                Ok(normalised) => {
                    if Some(&normalised) != old.as_ref() {
                        changed.push(attr.name.to_owned());
                    }
                    next.standard.insert(attr.name.into(), normalised);
                }
                Err(mut e) => errors.append(&mut e),
            },
        }
    }

    // Custom attributes, by name.
    let custom_body = match body.get("custom_attributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => {
            errors.push(("/custom_attributes".into(), "must be an object".into()));
            Map::new()
        }
    };
    for key in custom_body.keys() {
        match schema.find_custom(key) {
            None => errors.push((
                format!("/custom_attributes/{key}"),
                "is not a profile attribute".into(),
            )),
            Some(def) if !writer.can_read(def.access, def.scope.as_deref()) => {
                return Err(ProfileError::Forbidden {
                    attribute: format!("custom_attributes.{}", def.name),
                });
            }
            Some(_) => {}
        }
    }
    for def in &schema.custom {
        let id = def.id.to_string();
        let writable = writer.can_write(def.access, def.scope.as_deref());
        let old = current.custom.get(&id).cloned().filter(|v| !v.is_null());
        let new_value = match (custom_body.get(&def.name), is_put) {
            (Some(Value::Null), _) => None,
            (Some(v), _) => Some(v.clone()),
            (None, true) if writable => None,
            (None, _) => old.clone(),
        };
        if new_value == old {
            continue;
        }
        if !writable {
            return Err(ProfileError::Forbidden {
                attribute: format!("custom_attributes.{}", def.name),
            });
        }
        let pointer = format!("/custom_attributes/{}", def.name);
        match new_value {
            None => {
                next.custom.remove(&id);
                changed.push(format!("custom_attributes.{}", def.name));
            }
            Some(v) => {
                let checked = match def.kind {
                    AttributeType::Text => check_text(def, &v, mentions)
                        .map_err(|(inner, m)| (format!("{pointer}{inner}"), m)),
                    _ => check_value(def, &v).map_err(|m| (pointer, m)),
                };
                match checked {
                    Ok(normalised) => {
                        if Some(&normalised) != old.as_ref() {
                            changed.push(format!("custom_attributes.{}", def.name));
                        }
                        next.custom.insert(id, normalised);
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
    }

    // Annotations: only the listed types change, whatever the method.
    if let Some(listed) = body.get("annotations").filter(|v| !v.is_null()) {
        let level = writer.annotations_level(schema);
        if !level.can_read() {
            return Err(ProfileError::Forbidden {
                attribute: "annotations".into(),
            });
        }
        let applied = crate::annotations::apply(&current.annotations, listed);
        let unchanged = applied
            .as_ref()
            .is_ok_and(|list| *list == current.annotations);
        if !unchanged && !level.can_write() {
            return Err(ProfileError::Forbidden {
                attribute: "annotations".into(),
            });
        }
        match applied {
            Ok(list) if !unchanged => {
                next.annotations = list;
                changed.push("annotations".into());
            }
            Ok(_) => {}
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(ProfileError::Invalid(errors));
    }
    Ok(Applied {
        values: next,
        changed,
        regenerate_avatar,
    })
}

/// A definition id as stored.
pub fn custom_key(id: Uuid) -> String {
    id.to_string()
}
