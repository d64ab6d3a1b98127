//! Login IDs as people type them, and the normalised form they are stored and compared in.
//!
//! Emails are compared after Unicode NFKC normalisation and lower-casing, so `Alice@Example.COM`
//! and `ａｌｉｃｅ@example.com` (full-width) name the same account.

use store::accounts::IdentityKind;
use unicode_normalization::UnicodeNormalization;

/// Why a login ID was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginIdError {
    #[error("Enter an email address such as name@example.com.")]
    InvalidEmail,
    #[error("Enter a username of 2 to 64 letters, digits, dots, dashes or underscores.")]
    InvalidUsername,
}

/// Which login IDs people of a tenant may use beyond their email address (which every account
/// has): a phone number they add in their settings, and a username to sign in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnabledLoginIds {
    pub phone: bool,
    pub username: bool,
}

impl Default for EnabledLoginIds {
    fn default() -> Self {
        Self {
            phone: true,
            username: true,
        }
    }
}

impl EnabledLoginIds {
    /// Whether people may sign in with or add a login ID of `kind` (upstream links are not
    /// login IDs and are always allowed).
    pub fn allows(self, kind: IdentityKind) -> bool {
        match kind {
            IdentityKind::Phone => self.phone,
            IdentityKind::Username => self.username,
            _ => true,
        }
    }
}

fn normalise(input: &str) -> String {
    input.trim().nfkc().collect::<String>().to_lowercase()
}

/// The normalised form of an email address, if it looks like one.
pub fn normalise_email(input: &str) -> Result<String, LoginIdError> {
    let email = normalise(input);
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(LoginIdError::InvalidEmail);
    };
    let domain_ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:\"".contains(c));
    if domain_ok && local_ok && email.len() <= 254 {
        Ok(email)
    } else {
        Err(LoginIdError::InvalidEmail)
    }
}

/// The normalised form of a username.
pub fn normalise_username(input: &str) -> Result<String, LoginIdError> {
    let name = normalise(input);
    let len = name.chars().count();
    if (2..=64).contains(&len)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        Ok(name)
    } else {
        Err(LoginIdError::InvalidUsername)
    }
}

/// Reads what a person typed in the login form's `login_id` field: an email address when it
/// contains `@`, else a username. `None` when it can be neither (no account can have it).
pub fn parse_login_id(input: &str) -> Option<(IdentityKind, String)> {
    if input.contains('@') {
        normalise_email(input)
            .ok()
            .map(|e| (IdentityKind::Email, e))
    } else {
        normalise_username(input)
            .ok()
            .map(|u| (IdentityKind::Username, u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalise_case_and_unicode() {
        assert_eq!(
            normalise_email("  Alice@Example.COM ").as_deref(),
            Ok("alice@example.com")
        );
        // Full-width letters fold to ASCII under NFKC.
        assert_eq!(
            normalise_email("\u{ff41}lice@example.com").as_deref(),
            Ok("alice@example.com")
        );
        // A precomposed and a decomposed é are the same address.
        assert_eq!(
            normalise_email("jos\u{e9}@example.com"),
            normalise_email("jose\u{301}@example.com")
        );
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "alice@.example.com",
            "alice@example..com",
            "al ice@example.com",
            "alice@exa mple.com",
            "a<b@example.com",
            "alice@-example.com",
        ] {
            assert_eq!(
                normalise_email(bad),
                Err(LoginIdError::InvalidEmail),
                "{bad:?}"
            );
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(normalise_email(&long_local).is_err());
    }

    #[test]
    fn login_ids_are_classified() {
        assert_eq!(
            parse_login_id("Bob@Example.com"),
            Some((IdentityKind::Email, "bob@example.com".into()))
        );
        assert_eq!(
            parse_login_id("Bob_99"),
            Some((IdentityKind::Username, "bob_99".into()))
        );
        assert_eq!(parse_login_id("x"), None);
        assert_eq!(parse_login_id("bad@"), None);
    }
}
