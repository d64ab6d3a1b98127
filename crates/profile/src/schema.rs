//! The profile schema: the access levels of the standard attributes and the custom attribute
//! definitions, with the rules every change must follow (the Admin API and `tessera schema
//! import` apply the same ones through [`ProfileSchema::apply_document`]).
//!
//! A custom attribute has a stable id; its name, label, limits, position, access and scope can
//! change, its type never, and it is never deleted (hide it instead). An import that leaves out an
//! existing definition or changes a type is refused whole, naming the attribute.

use crate::access::{Access, AccessError, Level};
use crate::standard::{self, STANDARD_ATTRIBUTES};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use store::Uuid;

/// The type of a custom attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeType {
    String,
    Number,
    Integer,
    Boolean,
    Enum,
    Email,
    PhoneNumber,
    Url,
    CountryCode,
    Date,
    Image,
    /// Multi-line rich text (SPEC §10): stored and shown as `{"text", "html", "entities"}`.
    Text,
}

impl AttributeType {
    pub const ALL: [AttributeType; 12] = [
        AttributeType::String,
        AttributeType::Number,
        AttributeType::Integer,
        AttributeType::Boolean,
        AttributeType::Enum,
        AttributeType::Email,
        AttributeType::PhoneNumber,
        AttributeType::Url,
        AttributeType::CountryCode,
        AttributeType::Date,
        AttributeType::Image,
        AttributeType::Text,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Number => "number",
            AttributeType::Integer => "integer",
            AttributeType::Boolean => "boolean",
            AttributeType::Enum => "enum",
            AttributeType::Email => "email",
            AttributeType::PhoneNumber => "phone_number",
            AttributeType::Url => "url",
            AttributeType::CountryCode => "country_code",
            AttributeType::Date => "date",
            AttributeType::Image => "image",
            AttributeType::Text => "text",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether `minimum`/`maximum` apply: a length for strings and texts, a value for numbers.
    fn takes_limits(self) -> bool {
        matches!(
            self,
            AttributeType::String
                | AttributeType::Number
                | AttributeType::Integer
                | AttributeType::Text
        )
    }

    /// Whether the limits are lengths (whole numbers, not negative).
    fn limits_are_lengths(self) -> bool {
        matches!(self, AttributeType::String | AttributeType::Text)
    }
}

/// A custom attribute definition.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomAttribute {
    pub id: Uuid,
    pub name: String,
    pub kind: AttributeType,
    pub label: Option<String>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub enum_values: Vec<String>,
    pub access: Access,
    /// A scope that releases the attribute to third-party clients.
    pub scope: Option<String>,
}

/// The longest a `text` attribute may be when its definition gives no `maximum`.
pub const DEFAULT_TEXT_MAXIMUM: usize = 256;

impl CustomAttribute {
    /// The longest value of a `text` attribute, in code points.
    pub fn text_maximum(&self) -> usize {
        self.maximum
            .map_or(DEFAULT_TEXT_MAXIMUM, |m| m.max(0.0) as usize)
    }

    /// The label, else the name in title case (`job_title` → "Job Title").
    pub fn display_label(&self) -> String {
        match &self.label {
            Some(l) if !l.is_empty() => l.clone(),
            _ => title_case(&self.name),
        }
    }
}

pub fn title_case(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(first) => first.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSchema {
    /// Access of every standard attribute (all sixteen are present).
    pub standard: BTreeMap<&'static str, Access>,
    /// Custom attributes in display order.
    pub custom: Vec<CustomAttribute>,
    /// Who may read and write the user's annotations.
    pub annotations: Access,
}

impl Default for ProfileSchema {
    fn default() -> Self {
        Self {
            standard: STANDARD_ATTRIBUTES
                .iter()
                .map(|a| (a.name, a.default_access))
                .collect(),
            custom: Vec::new(),
            annotations: Access::EDITABLE,
        }
    }
}

/// Why a schema change was refused: the attribute, a JSON pointer into the document, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute {attribute:?}: {message}")]
pub struct SchemaError {
    pub attribute: String,
    pub pointer: String,
    pub message: String,
    /// A type change or a deletion (the Admin API answers 409), rather than a bad value (422).
    pub conflict: bool,
}

fn err(attribute: &str, pointer: String, message: impl Into<String>) -> SchemaError {
    SchemaError {
        attribute: attribute.to_owned(),
        pointer,
        message: message.into(),
        conflict: false,
    }
}

/// `^[a-z][a-z0-9_]*[a-z0-9]$`, at most 64 characters.
pub fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        && b.last().is_some_and(|c| *c != b'_')
}

fn level_of(v: Option<&Value>, default: Level) -> Result<Level, String> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(s)) => {
            Level::parse(s).ok_or_else(|| format!("{s:?} is not hidden, readonly or readwrite"))
        }
        Some(_) => Err("must be hidden, readonly or readwrite".into()),
    }
}

/// `{"end_user", "bearer"}` over `current` (a level left out keeps its value).
fn levels_from(
    current: Access,
    name: &str,
    levels: &Value,
    pointer: &str,
) -> Result<Access, SchemaError> {
    let Some(o) = levels.as_object() else {
        return Err(err(
            name,
            pointer.into(),
            "must be an object with end_user and bearer",
        ));
    };
    if let Some(k) = o.keys().find(|k| *k != "end_user" && *k != "bearer") {
        return Err(err(name, format!("{pointer}/{k}"), "unknown key"));
    }
    let end_user = level_of(o.get("end_user"), current.end_user)
        .map_err(|m| err(name, format!("{pointer}/end_user"), m))?;
    let bearer = level_of(o.get("bearer"), current.bearer)
        .map_err(|m| err(name, format!("{pointer}/bearer"), m))?;
    Access::new(end_user, bearer).map_err(|e| err(name, pointer.into(), access_message(e)))
}

fn access_message(e: AccessError) -> String {
    e.to_string()
}

fn number(v: Option<&Value>) -> Result<Option<f64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| "must be a number".into()),
    }
}

impl ProfileSchema {
    pub fn find_custom(&self, name: &str) -> Option<&CustomAttribute> {
        self.custom.iter().find(|c| c.name == name)
    }

    pub fn find_custom_by_id(&self, id: Uuid) -> Option<&CustomAttribute> {
        self.custom.iter().find(|c| c.id == id)
    }

    /// The schema document (SPEC §4).
    pub fn to_document(&self) -> Value {
        let mut standard = Map::new();
        for a in STANDARD_ATTRIBUTES {
            let access = self
                .standard
                .get(a.name)
                .copied()
                .unwrap_or(a.default_access);
            standard.insert(
                a.name.to_owned(),
                json!({ "end_user": access.end_user.as_str(), "bearer": access.bearer.as_str() }),
            );
        }
        let custom: Vec<Value> = self
            .custom
            .iter()
            .map(|c| {
                let mut o = json!({
                    "id": c.id.to_string(),
                    "name": c.name,
                    "type": c.kind.as_str(),
                    "end_user": c.access.end_user.as_str(),
                    "bearer": c.access.bearer.as_str(),
                });
                if let Some(l) = &c.label {
                    o["label"] = l.clone().into();
                }
                if let Some(m) = c.minimum {
                    o["minimum"] = json!(m);
                }
                if let Some(m) = c.maximum {
                    o["maximum"] = json!(m);
                }
                if c.kind == AttributeType::Enum {
                    o["enum"] = json!(c.enum_values);
                }
                if let Some(s) = &c.scope {
                    o["scope"] = s.clone().into();
                }
                o
            })
            .collect();
        json!({
            "standard": standard,
            "custom": custom,
            "annotations": {
                "end_user": self.annotations.end_user.as_str(),
                "bearer": self.annotations.bearer.as_str(),
            },
        })
    }

    /// Applies a whole schema document: standard access levels given are set (others keep
    /// theirs); `custom` lists every definition, in display order. Returns the new schema, or the
    /// first error: nothing is applied on refusal.
    pub fn apply_document(&self, doc: &Value) -> Result<ProfileSchema, SchemaError> {
        let Some(obj) = doc.as_object() else {
            return Err(err("", String::new(), "the schema must be a JSON object"));
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "standard" | "custom" | "annotations"))
        {
            return Err(err(k, format!("/{k}"), "unknown key"));
        }
        let mut next = self.clone();
        if let Some(levels) = obj.get("annotations") {
            next.annotations =
                levels_from(self.annotations, "annotations", levels, "/annotations")?;
        }
        if let Some(standard) = obj.get("standard") {
            let Some(standard) = standard.as_object() else {
                return Err(err("", "/standard".into(), "must be an object"));
            };
            for (name, levels) in standard {
                let Some(attr) = standard::find(name) else {
                    return Err(err(
                        name,
                        format!("/standard/{name}"),
                        "is not a standard attribute",
                    ));
                };
                let access =
                    self.standard_access_from(attr.name, levels, &format!("/standard/{name}"))?;
                next.standard.insert(attr.name, access);
            }
        }
        if let Some(custom) = obj.get("custom") {
            let Some(list) = custom.as_array() else {
                return Err(err("", "/custom".into(), "must be an array"));
            };
            let mut defs = Vec::with_capacity(list.len());
            for (i, item) in list.iter().enumerate() {
                defs.push(self.custom_from(item, &format!("/custom/{i}"))?);
            }
            for (i, d) in defs.iter().enumerate() {
                if defs[..i].iter().any(|o| o.name == d.name) {
                    return Err(err(&d.name, format!("/custom/{i}/name"), "is used twice"));
                }
                if defs[..i].iter().any(|o| o.id == d.id) {
                    return Err(err(&d.name, format!("/custom/{i}/id"), "is used twice"));
                }
            }
            if let Some(missing) = self
                .custom
                .iter()
                .find(|c| !defs.iter().any(|d| d.id == c.id))
            {
                return Err(SchemaError {
                    conflict: true,
                    ..err(
                        &missing.name,
                        "/custom".into(),
                        "is missing: custom attributes cannot be deleted (hide them instead)",
                    )
                });
            }
            next.custom = defs;
        }
        Ok(next)
    }

    fn standard_access_from(
        &self,
        name: &str,
        levels: &Value,
        pointer: &str,
    ) -> Result<Access, SchemaError> {
        let current = self.standard.get(name).copied().unwrap_or(Access::HIDDEN);
        levels_from(current, name, levels, pointer)
    }

    /// Reads one custom definition, matching an existing one by id (when given) or name.
    pub fn custom_from(&self, item: &Value, pointer: &str) -> Result<CustomAttribute, SchemaError> {
        let Some(o) = item.as_object() else {
            return Err(err("", pointer.into(), "must be an object"));
        };
        const KEYS: [&str; 10] = [
            "id", "name", "type", "label", "minimum", "maximum", "enum", "end_user", "bearer",
            "scope",
        ];
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if let Some(k) = o.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(err(&name, format!("{pointer}/{k}"), "unknown key"));
        }
        let existing = match o.get("id") {
            None | Some(Value::Null) => self.find_custom(&name),
            Some(Value::String(id)) => {
                let id = Uuid::parse_str(id)
                    .map_err(|_| err(&name, format!("{pointer}/id"), "is not a valid id"))?;
                Some(self.find_custom_by_id(id).ok_or_else(|| {
                    err(
                        &name,
                        format!("{pointer}/id"),
                        "names no existing attribute",
                    )
                })?)
            }
            Some(_) => return Err(err(&name, format!("{pointer}/id"), "must be a string")),
        };
        if !is_valid_name(&name) {
            return Err(err(
                &name,
                format!("{pointer}/name"),
                "must match ^[a-z][a-z0-9_]*[a-z0-9]$ (at most 64 characters)",
            ));
        }
        if standard::is_reserved(&name) {
            return Err(err(
                &name,
                format!("{pointer}/name"),
                "is a standard or JWT claim name",
            ));
        }
        let kind = match o.get("type") {
            Some(Value::String(t)) => AttributeType::parse(t).ok_or_else(|| {
                err(
                    &name,
                    format!("{pointer}/type"),
                    format!("{t:?} is not a supported type"),
                )
            })?,
            None if existing.is_some() => existing.map(|e| e.kind).unwrap_or(AttributeType::String),
            _ => return Err(err(&name, format!("{pointer}/type"), "is required")),
        };
        if let Some(e) = existing
            && e.kind != kind
        {
            return Err(SchemaError {
                conflict: true,
                ..err(
                    &e.name,
                    format!("{pointer}/type"),
                    format!(
                        "the type cannot change (from {} to {})",
                        e.kind.as_str(),
                        kind.as_str()
                    ),
                )
            });
        }
        let label = match o.get("label") {
            None | Some(Value::Null) => None,
            Some(Value::String(l))
                if l.chars().count() <= 128 && !l.chars().any(char::is_control) =>
            {
                Some(l.trim().to_owned()).filter(|l| !l.is_empty())
            }
            Some(_) => {
                return Err(err(
                    &name,
                    format!("{pointer}/label"),
                    "must be text of at most 128 characters",
                ));
            }
        };
        let minimum =
            number(o.get("minimum")).map_err(|m| err(&name, format!("{pointer}/minimum"), m))?;
        let maximum =
            number(o.get("maximum")).map_err(|m| err(&name, format!("{pointer}/maximum"), m))?;
        if (minimum.is_some() || maximum.is_some()) && !kind.takes_limits() {
            return Err(err(
                &name,
                format!("{pointer}/minimum"),
                "limits apply to string, text, number and integer attributes only",
            ));
        }
        if kind.limits_are_lengths() || kind == AttributeType::Integer {
            for (key, v) in [("minimum", minimum), ("maximum", maximum)] {
                if v.is_some_and(|v| v.fract() != 0.0 || (kind.limits_are_lengths() && v < 0.0)) {
                    return Err(err(
                        &name,
                        format!("{pointer}/{key}"),
                        "must be a whole number (a length for strings)",
                    ));
                }
            }
        }
        if kind == AttributeType::Text
            && maximum.is_some_and(|m| m > crate::rich_text::MAX_PROCESSED as f64)
        {
            return Err(err(
                &name,
                format!("{pointer}/maximum"),
                format!(
                    "a text is at most {} characters",
                    crate::rich_text::MAX_PROCESSED
                ),
            ));
        }
        if let (Some(lo), Some(hi)) = (
            minimum,
            maximum.or((kind == AttributeType::Text).then_some(DEFAULT_TEXT_MAXIMUM as f64)),
        ) && lo > hi
        {
            return Err(err(
                &name,
                format!("{pointer}/maximum"),
                "must not be below minimum",
            ));
        }
        let enum_values: Vec<String> = match (kind, o.get("enum")) {
            (AttributeType::Enum, Some(Value::Array(values))) => {
                let mut out: Vec<String> = Vec::new();
                for (i, v) in values.iter().enumerate() {
                    match v.as_str() {
                        Some(s)
                            if !s.is_empty()
                                && s.chars().count() <= 128
                                && !out.iter().any(|o| o == s) =>
                        {
                            out.push(s.to_owned())
                        }
                        _ => {
                            return Err(err(
                                &name,
                                format!("{pointer}/enum/{i}"),
                                "must be distinct, non-empty text",
                            ));
                        }
                    }
                }
                if out.is_empty() {
                    return Err(err(
                        &name,
                        format!("{pointer}/enum"),
                        "needs at least one value",
                    ));
                }
                out
            }
            (AttributeType::Enum, None) => match existing {
                Some(e) => e.enum_values.clone(),
                None => {
                    return Err(err(
                        &name,
                        format!("{pointer}/enum"),
                        "is required for enum attributes",
                    ));
                }
            },
            (AttributeType::Enum, Some(_)) => {
                return Err(err(
                    &name,
                    format!("{pointer}/enum"),
                    "must be an array of values",
                ));
            }
            (_, None) | (_, Some(Value::Null)) => Vec::new(),
            (_, Some(_)) => {
                return Err(err(
                    &name,
                    format!("{pointer}/enum"),
                    "applies to enum attributes only",
                ));
            }
        };
        let current = existing.map(|e| e.access).unwrap_or(Access::HIDDEN);
        let end_user = level_of(o.get("end_user"), current.end_user)
            .map_err(|m| err(&name, format!("{pointer}/end_user"), m))?;
        let bearer = level_of(o.get("bearer"), current.bearer)
            .map_err(|m| err(&name, format!("{pointer}/bearer"), m))?;
        let access = Access::new(end_user, bearer)
            .map_err(|e| err(&name, pointer.into(), access_message(e)))?;
        let scope = match o.get("scope") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if is_scope_token(s) => Some(s.clone()),
            Some(_) => {
                return Err(err(
                    &name,
                    format!("{pointer}/scope"),
                    "must be a scope token",
                ));
            }
        };
        Ok(CustomAttribute {
            id: existing.map(|e| e.id).unwrap_or_else(Uuid::now_v7),
            name,
            kind,
            label,
            minimum,
            maximum,
            enum_values,
            access,
            scope,
        })
    }
}

fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}
