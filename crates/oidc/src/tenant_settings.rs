//! What a tenant may set differently from the server's configuration (SPEC §11): whether new
//! users must verify their email address, the minimum password length, and which login IDs
//! people may use besides their email address. Its display name is the tenant's `name`.
//!
//! A setting left unset is the server's. Two places set them, the later winning:
//! `[[tenant]]` entries of the configuration file (which also hold the tenant's upstream
//! providers), then the tenant's own stored settings (`PATCH /admin/api/v1/tenants/{id}`), so an
//! operator's file gives defaults a SaaS back office can change at run time.

use crate::services::Services;
use auth::login_id::EnabledLoginIds;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The login IDs a tenant can turn on or off (`email` is always on: every account has one).
pub const LOGIN_ID_KINDS: [&str; 3] = ["email", "phone", "username"];

/// A tenant's own settings; `None` is "as the server is configured".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verification_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_min_length: Option<usize>,
    /// Of [`LOGIN_ID_KINDS`], with `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_ids: Option<Vec<String>>,
    /// `optional` or `required` (as `mfa.policy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_policy: Option<String>,
}

/// A refused setting: its JSON pointer (`/password_min_length`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub pointer: String,
    pub message: String,
}

fn refused(pointer: &str, message: impl Into<String>) -> SettingError {
    SettingError {
        pointer: pointer.to_owned(),
        message: message.into(),
    }
}

impl TenantSettings {
    /// Checks every setting against what the server allows (`max_password_length` is the
    /// server's `password.max_length`).
    pub fn validate(&self, max_password_length: usize) -> Result<(), SettingError> {
        if let Some(n) = self.password_min_length
            && !(8..=max_password_length.min(256)).contains(&n)
        {
            return Err(refused(
                "/password_min_length",
                format!(
                    "must be from 8 to {} characters",
                    max_password_length.min(256)
                ),
            ));
        }
        if let Some(kinds) = &self.login_ids {
            for (i, k) in kinds.iter().enumerate() {
                if !LOGIN_ID_KINDS.contains(&k.as_str()) {
                    return Err(refused(
                        &format!("/login_ids/{i}"),
                        "must be \"email\", \"phone\" or \"username\"",
                    ));
                }
                if kinds[..i].contains(k) {
                    return Err(refused(&format!("/login_ids/{i}"), "is listed twice"));
                }
            }
            if !kinds.iter().any(|k| k == "email") {
                return Err(refused(
                    "/login_ids",
                    "must include \"email\" (every account has an email address)",
                ));
            }
        }
        if let Some(p) = &self.mfa_policy
            && !matches!(p.as_str(), "optional" | "required")
        {
            return Err(refused(
                "/mfa_policy",
                "must be \"optional\" or \"required\"",
            ));
        }
        Ok(())
    }

    /// Reads settings sent to the Admin API (a JSON object), checked.
    pub fn from_json(value: &Value, max_password_length: usize) -> Result<Self, SettingError> {
        let Some(object) = value.as_object() else {
            return Err(refused("", "settings must be a JSON object"));
        };
        for (key, v) in object {
            let ok = match key.as_str() {
                "email_verification_required" => v.is_boolean() || v.is_null(),
                "password_min_length" => v.is_u64() || v.is_null(),
                "login_ids" => {
                    v.is_null() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
                }
                "mfa_policy" => v.is_string() || v.is_null(),
                _ => return Err(refused(&format!("/{key}"), "is not a tenant setting")),
            };
            if !ok {
                let expected = match key.as_str() {
                    "email_verification_required" => "must be true, false or null",
                    "password_min_length" => "must be a whole number or null",
                    "mfa_policy" => "must be \"optional\", \"required\" or null",
                    _ => "must be an array of strings or null",
                };
                return Err(refused(&format!("/{key}"), expected));
            }
        }
        let settings: TenantSettings = serde_json::from_value(value.clone())
            .map_err(|e| refused("", format!("settings: {e}")))?;
        settings.validate(max_password_length)?;
        Ok(settings)
    }

    /// The stored form (what [`TenantSettings::from_stored`] reads back).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Default::default()))
    }

    /// Reads stored settings. Stored settings were checked when written; anything unreadable
    /// (written by a later version, say) is ignored with a warning rather than failing the
    /// tenant.
    pub fn from_stored(tenant: &str, value: &Value) -> Self {
        match serde_json::from_value::<TenantSettings>(value.clone()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(tenant, error = %e, "ignoring unreadable tenant settings");
                Self::default()
            }
        }
    }

    /// These settings, with the unset ones taken from `fallback`.
    pub fn or(&self, fallback: &TenantSettings) -> TenantSettings {
        TenantSettings {
            email_verification_required: self
                .email_verification_required
                .or(fallback.email_verification_required),
            password_min_length: self.password_min_length.or(fallback.password_min_length),
            login_ids: self
                .login_ids
                .clone()
                .or_else(|| fallback.login_ids.clone()),
            mfa_policy: self
                .mfa_policy
                .clone()
                .or_else(|| fallback.mfa_policy.clone()),
        }
    }

    /// `base` (the server's services for the tenant) with these settings applied.
    pub fn apply(&self, base: &Services) -> Services {
        let mut services = base.clone();
        if let Some(required) = self.email_verification_required {
            services.require_email_verification = required;
        }
        if let Some(min) = self.password_min_length {
            services.password_policy.min_length = min.min(services.password_policy.max_length);
        }
        if let Some(policy) = &self.mfa_policy {
            services.require_second_factor = policy == "required";
        }
        if let Some(kinds) = &self.login_ids {
            let on = |k: &str| kinds.iter().any(|x| x == k);
            services.login_ids = EnabledLoginIds {
                phone: on("phone"),
                username: on("username"),
            };
        }
        services
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_from_the_admin_api_are_checked_field_by_field() {
        let ok = TenantSettings::from_json(
            &json!({
                "email_verification_required": false,
                "password_min_length": 12,
                "login_ids": ["email", "username"],
            }),
            256,
        )
        .expect("valid");
        assert_eq!(ok.password_min_length, Some(12));
        assert_eq!(TenantSettings::from_stored("t", &ok.to_json()), ok);
        assert_eq!(
            TenantSettings::from_json(&json!({}), 256),
            Ok(TenantSettings::default())
        );
        let pointer = |v: Value| {
            TenantSettings::from_json(&v, 64)
                .expect_err("refused")
                .pointer
        };
        assert_eq!(
            pointer(json!({ "password_min_length": 7 })),
            "/password_min_length"
        );
        assert_eq!(
            pointer(json!({ "password_min_length": 65 })),
            "/password_min_length"
        );
        assert_eq!(
            pointer(json!({ "password_min_length": -1 })),
            "/password_min_length"
        );
        assert_eq!(
            pointer(json!({ "password_min_length": "9" })),
            "/password_min_length"
        );
        assert_eq!(
            pointer(json!({ "email_verification_required": "yes" })),
            "/email_verification_required"
        );
        assert_eq!(pointer(json!({ "login_ids": ["phone"] })), "/login_ids");
        assert_eq!(
            pointer(json!({ "login_ids": ["email", "fax"] })),
            "/login_ids/1"
        );
        assert_eq!(
            pointer(json!({ "login_ids": ["email", "email"] })),
            "/login_ids/1"
        );
        assert_eq!(pointer(json!({ "login_ids": "email" })), "/login_ids");
        assert_eq!(pointer(json!({ "theme": "dark" })), "/theme");
        assert_eq!(pointer(json!({ "mfa_policy": "always" })), "/mfa_policy");
        assert_eq!(pointer(json!({ "mfa_policy": true })), "/mfa_policy");
        assert_eq!(pointer(json!(["email"])), "");
    }

    #[test]
    fn stored_settings_win_over_the_configuration_file() {
        let file = TenantSettings {
            email_verification_required: Some(true),
            password_min_length: Some(10),
            login_ids: None,
            mfa_policy: None,
        };
        let stored = TenantSettings {
            password_min_length: Some(14),
            ..Default::default()
        };
        let both = stored.or(&file);
        assert_eq!(both.email_verification_required, Some(true));
        assert_eq!(both.password_min_length, Some(14));
        assert_eq!(both.login_ids, None);
        let unreadable = TenantSettings::from_stored("t", &json!({ "theme": 1 }));
        assert_eq!(unreadable, TenantSettings::default());
    }
}
