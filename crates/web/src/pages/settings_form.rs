//! The profile part of the settings page: which fields to show for the end user, with inputs that
//! fit each attribute's type, and reading the posted form back into a profile document.
//!
//! Field names follow the attributes: `given_name`, `address.locality`,
//! `custom_attributes.department`.

use profile::IdentityKind;
use profile::schema::{AttributeType, ProfileSchema};
use profile::standard::{ADDRESS_FIELDS, Format, STANDARD_ATTRIBUTES};
use profile::{Level, Party};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// One input (or read-only line) on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub id: String,
    pub label: String,
    /// `text`, `email`, `url`, `tel`, `date`, `number`, `checkbox`, `select` or `textarea`.
    pub input: &'static str,
    pub step: &'static str,
    pub value: String,
    pub checked: bool,
    pub options: Vec<(String, String)>,
    pub readonly: bool,
    pub error: Option<String>,
    /// A rich-text attribute's HTML as Tessera built it from the saved text (escaped text and
    /// entities only, so safe to show as markup).
    pub html: Option<String>,
}

const LOCALES: [(&str, &str); 24] = [
    ("en", "English"),
    ("en-GB", "English (United Kingdom)"),
    ("en-US", "English (United States)"),
    ("fr", "Français"),
    ("fr-CA", "Français (Canada)"),
    ("de", "Deutsch"),
    ("es", "Español"),
    ("it", "Italiano"),
    ("pt", "Português"),
    ("pt-BR", "Português (Brasil)"),
    ("nl", "Nederlands"),
    ("sv", "Svenska"),
    ("da", "Dansk"),
    ("nb", "Norsk bokmål"),
    ("fi", "Suomi"),
    ("pl", "Polski"),
    ("cs", "Čeština"),
    ("tr", "Türkçe"),
    ("ru", "Русский"),
    ("uk", "Українська"),
    ("ar", "العربية"),
    ("ja", "日本語"),
    ("ko", "한국어"),
    ("zh-Hans", "中文（简体）"),
];

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn with_current(mut options: Vec<(String, String)>, current: &str) -> Vec<(String, String)> {
    if !current.is_empty() && !options.iter().any(|(v, _)| v == current) {
        options.insert(0, (current.to_owned(), current.to_owned()));
    }
    options.insert(0, (String::new(), "—".to_owned()));
    options
}

fn field(name: &str, label: &str, input: &'static str, value: String, readonly: bool) -> Field {
    Field {
        id: name.replace('.', "-"),
        name: name.to_owned(),
        label: label.to_owned(),
        input,
        step: "",
        value,
        checked: false,
        options: Vec::new(),
        readonly,
        error: None,
        html: None,
    }
}

/// The fields for the end user, in schema order, from `profile` (their current view) — or, when
/// re-rendering after an error, from what they typed (`typed`).
pub fn fields(
    schema: &ProfileSchema,
    profile: &Map<String, Value>,
    login_ids: &[(IdentityKind, String, bool)],
    typed: Option<&HashMap<String, String>>,
) -> Vec<Field> {
    let mut out = Vec::new();
    let shown = |name: &str, current: String| -> String {
        match typed {
            Some(t) => t.get(name).cloned().unwrap_or_default(),
            None => current,
        }
    };
    for attr in STANDARD_ATTRIBUTES {
        let access = schema
            .standard
            .get(attr.name)
            .copied()
            .unwrap_or(attr.default_access);
        let level = access.level(Party::EndUser);
        if !level.can_read() {
            continue;
        }
        let readonly = level != Level::Readwrite;
        let current = text(profile.get(attr.name));
        if attr.format == Format::Address {
            let address = profile.get("address").and_then(Value::as_object);
            for part in ADDRESS_FIELDS {
                let name = format!("address.{part}");
                let label = format!("Address: {}", part.replace('_', " "));
                let value = shown(&name, text(address.and_then(|a| a.get(part))));
                out.push(field(&name, &label, "text", value, readonly));
            }
            continue;
        }
        let value = shown(attr.name, current.clone());
        let mut f = match attr.format {
            Format::CoupledEmail | Format::CoupledPhone | Format::CoupledUsername => {
                let kind = match attr.format {
                    Format::CoupledEmail => IdentityKind::Email,
                    Format::CoupledPhone => IdentityKind::Phone,
                    _ => IdentityKind::Username,
                };
                // The profile shows a verified address or number (usernames need no proof).
                let own: Vec<(String, String)> = login_ids
                    .iter()
                    .filter(|(k, _, verified)| {
                        *k == kind && (*verified || kind == IdentityKind::Username)
                    })
                    .map(|(_, v, _)| (v.clone(), v.clone()))
                    .collect();
                if own.is_empty() {
                    continue;
                }
                let mut f = field(attr.name, attr.label, "select", value, readonly);
                f.options = own;
                f
            }
            Format::Url => field(attr.name, attr.label, "url", value, readonly),
            Format::Birthdate => field(attr.name, attr.label, "date", value, readonly),
            Format::Gender => {
                let mut f = field(attr.name, attr.label, "select", value.clone(), readonly);
                f.options = with_current(
                    vec![
                        ("female".into(), "Female".into()),
                        ("male".into(), "Male".into()),
                    ],
                    &value,
                );
                f
            }
            Format::Zoneinfo => {
                let mut f = field(attr.name, attr.label, "select", value.clone(), readonly);
                f.options = with_current(
                    chrono_tz::TZ_VARIANTS
                        .iter()
                        .map(|z| (z.name().to_owned(), z.name().to_owned()))
                        .collect(),
                    &value,
                );
                f
            }
            Format::Locale => {
                let mut f = field(attr.name, attr.label, "select", value.clone(), readonly);
                f.options = with_current(
                    LOCALES
                        .iter()
                        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
                        .collect(),
                    &value,
                );
                f
            }
            _ => field(attr.name, attr.label, "text", value, readonly),
        };
        if readonly {
            f.input = "text";
        }
        out.push(f);
    }
    let custom = profile.get("custom_attributes").and_then(Value::as_object);
    for def in &schema.custom {
        let level = def.access.level(Party::EndUser);
        if !level.can_read() {
            continue;
        }
        let readonly = level != Level::Readwrite;
        let name = format!("custom_attributes.{}", def.name);
        let stored = custom.and_then(|c| c.get(&def.name));
        let current = match def.kind {
            AttributeType::Text => text(stored.and_then(|v| v.get("text"))),
            _ => text(stored),
        };
        let value = shown(&name, current.clone());
        let label = def.display_label();
        let mut f = match def.kind {
            AttributeType::Boolean => {
                let mut f = field(&name, &label, "checkbox", String::new(), readonly);
                f.checked = match typed {
                    Some(t) => t.contains_key(&name),
                    None => current == "true",
                };
                f.value = if f.checked { "Yes".into() } else { "No".into() };
                f
            }
            AttributeType::Enum => {
                let mut f = field(&name, &label, "select", value.clone(), readonly);
                f.options = with_current(
                    def.enum_values
                        .iter()
                        .map(|v| (v.clone(), v.clone()))
                        .collect(),
                    &value,
                );
                f
            }
            AttributeType::CountryCode => {
                let mut f = field(&name, &label, "select", value.clone(), readonly);
                let mut countries: Vec<(String, String)> = isocountry::CountryCode::iter()
                    .map(|c| (c.alpha2().to_owned(), c.name().to_owned()))
                    .collect();
                countries.sort_by(|a, b| a.1.cmp(&b.1));
                f.options = with_current(countries, &value);
                f
            }
            AttributeType::Number => {
                let mut f = field(&name, &label, "number", value, readonly);
                f.step = "any";
                f
            }
            AttributeType::Integer => {
                let mut f = field(&name, &label, "number", value, readonly);
                f.step = "1";
                f
            }
            AttributeType::Email => field(&name, &label, "email", value, readonly),
            AttributeType::PhoneNumber => field(&name, &label, "tel", value, readonly),
            AttributeType::Url | AttributeType::Image => {
                field(&name, &label, "url", value, readonly)
            }
            AttributeType::Date => field(&name, &label, "date", value, readonly),
            AttributeType::String => field(&name, &label, "text", value, readonly),
            AttributeType::Text => {
                let mut f = field(&name, &label, "textarea", value, readonly);
                f.html = stored
                    .and_then(|v| v.get("html"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                f
            }
        };
        if readonly && !matches!(f.input, "checkbox" | "textarea") {
            f.input = "text";
        }
        out.push(f);
    }
    out
}

/// Reads the posted form into a profile document to `PUT` as the end user: every attribute the
/// end user may write comes from the form (empty clears); anything else that was posted is passed
/// on too, so that the profile rules refuse it.
pub fn document(schema: &ProfileSchema, form: &HashMap<String, String>) -> Value {
    let mut doc = Map::new();
    let mut address = Map::new();
    let mut custom = Map::new();
    let blank_to_null = |s: &str| {
        let t = s.trim();
        if t.is_empty() {
            Value::Null
        } else {
            Value::String(t.to_owned())
        }
    };
    for attr in STANDARD_ATTRIBUTES {
        let writable = schema
            .standard
            .get(attr.name)
            .copied()
            .unwrap_or(attr.default_access)
            .level(Party::EndUser)
            .can_write();
        if attr.format == Format::Address {
            for part in ADDRESS_FIELDS {
                if let Some(v) = form.get(&format!("address.{part}")) {
                    address.insert(part.to_owned(), blank_to_null(v));
                }
            }
            if writable || !address.is_empty() {
                let any = address.values().any(|v| !v.is_null());
                doc.insert(
                    "address".into(),
                    if any {
                        Value::Object(address.clone())
                    } else {
                        Value::Null
                    },
                );
            }
            continue;
        }
        match form.get(attr.name) {
            Some(v) => {
                doc.insert(attr.name.into(), blank_to_null(v));
            }
            None if writable => {
                // Not on the form (for example a coupled attribute with no login ID): unchanged.
            }
            None => {}
        }
    }
    for def in &schema.custom {
        let name = format!("custom_attributes.{}", def.name);
        let writable = def.access.level(Party::EndUser).can_write();
        let posted = form.get(&name);
        let value = match def.kind {
            AttributeType::Boolean if writable => Some(Value::Bool(posted.is_some())),
            AttributeType::Boolean => posted.map(|_| Value::Bool(true)),
            AttributeType::Number => posted.map(|v| match v.trim().parse::<f64>() {
                Ok(n) => serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
                // Empty clears; anything else is passed on for the rules to refuse.
                Err(_) => blank_to_null(v),
            }),
            AttributeType::Integer => posted.map(|v| match v.trim().parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => blank_to_null(v),
            }),
            // Multi-line: kept as typed (browsers send CRLF line breaks), blank clears.
            AttributeType::Text => posted.map(|v| {
                let v = v.replace("\r\n", "\n");
                if v.trim().is_empty() {
                    Value::Null
                } else {
                    Value::String(v)
                }
            }),
            _ => posted.map(|v| blank_to_null(v)),
        };
        if let Some(v) = value {
            custom.insert(def.name.clone(), v);
        }
    }
    doc.insert("custom_attributes".into(), Value::Object(custom));
    Value::Object(doc)
}

/// The form field a JSON pointer from the profile rules points at.
pub fn field_for_pointer(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}
