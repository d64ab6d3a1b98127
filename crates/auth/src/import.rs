//! Import and export of users as JSON Lines (SPEC §13): one user a line, in the shape of the
//! Admin API's `POST /users` (`identities` with an optional `verified`, `password`, `profile`)
//! plus `groups` (names; missing groups are made), `password_hash` (a foreign hash, see
//! `foreign_hashes`: it signs in once and is then replaced by Argon2id), and optionally `id`,
//! `disabled` and `external_id` (what export writes, so that an export imported into an empty
//! server gives the same users).
//!
//! Every line is checked like an admin write (login IDs normalised, the profile validated by the
//! profile schema, the password by the policy) and applied or refused on its own; the report
//! names each refused line and why. Accepted lines are written in batches (one transaction per
//! batch, each user in a savepoint of its own), so a million users take minutes, not hours.

use crate::InternalError;
use crate::accounts::NewPassword;
use crate::passwords::{PasswordHasher, PasswordPolicy};
use serde_json::{Map, Value, json};
use store::accounts::{IdentityKind, ImportedAccount, NewAccount, NewIdentity};
use store::audit::{Actor, NewEvent};
use store::{Clock, Db, StoreError, Uuid};

/// Lines written per transaction.
pub const BATCH: usize = 500;
/// The longest line read, in bytes.
pub const MAX_LINE: usize = 256 * 1024;

/// How many lines of one import may give a plain `password`: each costs an Argon2 hash, so an
/// import over HTTP is bounded in CPU (`Some(n)`); the CLI reads any number (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainPasswords(pub Option<usize>);

/// A line that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// 1-based.
    pub line: usize,
    pub error: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub created: u64,
    pub refused: Vec<Refused>,
}

/// Reads one login ID (`{"type", "value", "verified"?}`) into a normalised one; the error names
/// the field (`type`, `value`, `verified`) and why. The Admin API reads identities with it too.
pub fn identity_from_json(item: &Value) -> Result<NewIdentity, (&'static str, String)> {
    if !item.is_object() {
        return Err(("", "must be an object with type and value".into()));
    }
    let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
    let raw = item
        .get("value")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (kind, value) = match kind {
        "email" => (
            IdentityKind::Email,
            crate::login_id::normalise_email(raw).map_err(|e| ("value", e.to_string()))?,
        ),
        "username" => (
            IdentityKind::Username,
            crate::login_id::normalise_username(raw).map_err(|e| ("value", e.to_string()))?,
        ),
        "phone" => (
            IdentityKind::Phone,
            profile::validate::phone_number(&json!(raw))
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .map_err(|m| ("value", format!("the phone number {m}")))?,
        ),
        _ => return Err(("type", "must be email, phone or username".into())),
    };
    let verified = match item.get("verified") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(("verified", "must be a boolean".into())),
    };
    Ok(NewIdentity {
        kind,
        value,
        verified,
    })
}

const FIELDS: [&str; 8] = [
    "id",
    "identities",
    "password",
    "password_hash",
    "profile",
    "groups",
    "disabled",
    "external_id",
];

/// Checks one line; the account to write and its groups, or why not.
async fn check_line(
    db: &Db,
    profiles: &profile::ProfileService,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    text: &str,
    actor: &Actor,
    plain: &mut PlainBudget,
) -> Result<ImportedAccount, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let o = v.as_object().ok_or("a line is a JSON object")?;
    if let Some(k) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!("{k}: unknown field"));
    }
    let user_id = match o.get("id") {
        None | Some(Value::Null) => Uuid::now_v7(),
        Some(Value::String(s)) => Uuid::parse_str(s).map_err(|_| "id: not a UUID".to_owned())?,
        Some(_) => return Err("id: not a UUID".into()),
    };
    let list = o
        .get("identities")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or("identities: at least one is required")?;
    let mut identities: Vec<NewIdentity> = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let id = identity_from_json(item).map_err(|(f, m)| format!("identities/{i}/{f}: {m}"))?;
        if identities
            .iter()
            .any(|o| o.kind == id.kind && o.value == id.value)
        {
            return Err(format!("identities/{i}/value: is given twice"));
        }
        identities.push(id);
    }
    let password_hash = match (o.get("password_hash"), o.get("password")) {
        (Some(Value::String(_)), Some(Value::String(_))) => {
            return Err("password and password_hash: give one".into());
        }
        (Some(Value::String(h)), _) => {
            if !crate::foreign_hashes::is_valid(h) {
                return Err("password_hash: not a hash Tessera reads (argon2, bcrypt, PBKDF2-SHA256, scrypt) within the cost limits".into());
            }
            Some(h.clone())
        }
        (Some(Value::Null) | None, Some(Value::String(p))) => {
            plain.spend()?;
            let new = NewPassword {
                password: p.clone(),
                policy,
                hasher,
            };
            crate::accounts::hash_new_password(Some(new))
                .await
                .map_err(|e| format!("password: {e}"))?
        }
        (Some(Value::Null) | None, Some(Value::Null) | None) => None,
        _ => return Err("password, password_hash: strings".into()),
    };
    let login_ids: Vec<profile::document::LoginId> = identities
        .iter()
        .map(|i| profile::document::LoginId {
            kind: i.kind,
            value: i.value.clone(),
            verified: i.verified,
        })
        .collect();
    let values = profiles
        .initial_values(db, &login_ids, o.get("profile").filter(|p| !p.is_null()))
        .await
        .map_err(|e| format!("profile: {e}"))?;
    let mut groups = Vec::new();
    match o.get("groups") {
        None | Some(Value::Null) => {}
        Some(Value::Array(names)) => {
            for (i, n) in names.iter().enumerate() {
                let name = n
                    .as_str()
                    .ok_or_else(|| format!("groups/{i}: a group name"))?;
                let name =
                    crate::groups::normalise_name(name).map_err(|e| format!("groups/{i}: {e}"))?;
                if !groups.contains(&name) {
                    groups.push(name);
                }
            }
        }
        Some(_) => return Err("groups: a list of names".into()),
    }
    let disabled = match o.get("disabled") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("disabled: true or false".into()),
    };
    let external_id = match o.get("external_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s))
            if !s.is_empty() && s.chars().count() <= 256 && !s.chars().any(char::is_control) =>
        {
            Some(s.clone())
        }
        Some(_) => return Err("external_id: 1 to 256 characters".into()),
    };
    let event = NewEvent::new("user.imported", actor.clone())
        .user(user_id)
        .detail(json!({
            "identities": identities.iter().map(|i| i.kind.as_str()).collect::<Vec<_>>(),
            "password_hash": password_hash.as_deref().and_then(crate::foreign_hashes::kind_of).map(|k| format!("{k:?}")),
        }));
    let defaults = profile::NewProfile::generated(false);
    Ok(ImportedAccount {
        account: NewAccount {
            user_id,
            identities,
            password_hash,
            standard_attributes: Value::Object(values.standard),
            custom_attributes: Value::Object(values.custom),
            avatar_seed: defaults.avatar_seed,
            external_id,
            disabled,
        },
        groups,
        event,
    })
}

/// What is left of [`PlainPasswords`] in one import.
struct PlainBudget {
    limit: Option<usize>,
    used: usize,
}

impl PlainBudget {
    fn spend(&mut self) -> Result<(), String> {
        match self.limit {
            Some(limit) if self.used >= limit => Err(format!(
                "password: at most {limit} plain passwords in one request; give password_hash, or import with tessera user import"
            )),
            _ => {
                self.used += 1;
                Ok(())
            }
        }
    }
}

/// Imports `lines` (numbered from 1); each applied or refused alone.
#[allow(clippy::too_many_arguments)]
pub async fn import<I>(
    db: &Db,
    clock: &dyn Clock,
    profiles: &profile::ProfileService,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    lines: I,
    actor: Actor,
    plain_passwords: PlainPasswords,
) -> Result<Report, InternalError>
where
    I: IntoIterator<Item = Result<String, String>>,
{
    let mut report = Report::default();
    let mut plain = PlainBudget {
        limit: plain_passwords.0,
        used: 0,
    };
    let mut batch: Vec<(usize, ImportedAccount)> = Vec::new();
    for (n, line) in lines.into_iter().enumerate() {
        let line_no = n + 1;
        let text = match line {
            Ok(t) => t,
            Err(e) => {
                report.refused.push(Refused {
                    line: line_no,
                    error: e,
                });
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        if text.len() > MAX_LINE {
            report.refused.push(Refused {
                line: line_no,
                error: format!("longer than {MAX_LINE} bytes"),
            });
            continue;
        }
        match check_line(db, profiles, hasher, policy, &text, &actor, &mut plain).await {
            Ok(account) => batch.push((line_no, account)),
            Err(error) => report.refused.push(Refused {
                line: line_no,
                error,
            }),
        }
        if batch.len() >= BATCH {
            write_batch(db, clock, std::mem::take(&mut batch), &mut report).await?;
        }
    }
    write_batch(db, clock, batch, &mut report).await?;
    report.refused.sort_by_key(|r| r.line);
    Ok(report)
}

async fn write_batch(
    db: &Db,
    clock: &dyn Clock,
    batch: Vec<(usize, ImportedAccount)>,
    report: &mut Report,
) -> Result<(), InternalError> {
    if batch.is_empty() {
        return Ok(());
    }
    let (numbers, accounts): (Vec<usize>, Vec<ImportedAccount>) = batch.into_iter().unzip();
    let results = store::accounts::import_accounts(db, accounts, clock.now()).await?;
    for (line, result) in numbers.into_iter().zip(results) {
        match result {
            Ok(()) => report.created += 1,
            Err(StoreError::Conflict(what)) => report.refused.push(Refused {
                line,
                error: format!("{what} is already taken"),
            }),
            Err(e) => {
                // The database's own words stay in the log, not in the report.
                tracing::warn!(line, error = %e, "an import line could not be written");
                report.refused.push(Refused {
                    line,
                    error: "the line could not be written".into(),
                });
            }
        }
    }
    Ok(())
}

/// Writes every user of `db`'s tenant as a line of the import format, page by page, to `out`
/// (called once per line); returns how many.
pub async fn export(
    db: &Db,
    profiles: &profile::ProfileService,
    mut out: impl FnMut(String) -> std::io::Result<()>,
) -> Result<u64, ExportError> {
    let mut after = None;
    let mut n = 0;
    loop {
        let users = store::accounts::users_page(db, after, 500).await?;
        let Some(last) = users.last().map(|u| u.id) else {
            return Ok(n);
        };
        let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        let identities = store::accounts::identities_of(db, &ids).await?;
        let hashes = store::accounts::password_hashes_of(db, &ids).await?;
        let groups = store::groups::groups_of(db, &ids).await?;
        for u in &users {
            let mut line = Map::new();
            line.insert("id".into(), json!(u.id));
            line.insert(
                "identities".into(),
                identities
                    .iter()
                    .filter(|i| i.user_id == u.id && i.kind != IdentityKind::Oidc)
                    .map(|i| json!({ "type": i.kind.as_str(), "value": i.value, "verified": i.verified_at.is_some() }))
                    .collect(),
            );
            if let Some((_, h)) = hashes.iter().find(|(id, _)| *id == u.id) {
                line.insert("password_hash".into(), json!(h));
            }
            let profile = profiles
                .admin_export(db, u.id)
                .await
                .map_err(|e| ExportError::Profile(e.to_string()))?;
            line.insert("profile".into(), profile);
            let names: Vec<&str> = groups
                .iter()
                .filter(|(id, _)| *id == u.id)
                .map(|(_, g)| g.name.as_str())
                .collect();
            if !names.is_empty() {
                line.insert("groups".into(), json!(names));
            }
            if u.disabled {
                line.insert("disabled".into(), json!(true));
            }
            if let Some(x) = &u.external_id {
                line.insert("external_id".into(), json!(x));
            }
            out(Value::Object(line).to_string()).map_err(ExportError::Write)?;
            n += 1;
        }
        after = Some(last);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("profile: {0}")]
    Profile(String),
    #[error("writing: {0}")]
    Write(std::io::Error),
}
