//! The standard attributes: the OpenID Connect standard claims, their formats, the scope that
//! releases each to third-party clients, and their default access.

use crate::access::{Access, Level};

/// What values an attribute takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Free text.
    Text,
    /// An absolute http(s) URL.
    Url,
    /// `male`, `female` or free text.
    Gender,
    /// `YYYY-MM-DD`, `YYYY` or `--MM-DD`.
    Birthdate,
    /// An IANA time-zone name.
    Zoneinfo,
    /// A BCP 47 language tag, stored in canonical form.
    Locale,
    /// An object of `formatted`, `street_address`, `locality`, `region`, `postal_code`, `country`.
    Address,
    /// One of the user's email identities.
    CoupledEmail,
    /// One of the user's phone identities.
    CoupledPhone,
    /// One of the user's username identities.
    CoupledUsername,
}

/// A standard attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandardAttribute {
    pub name: &'static str,
    pub label: &'static str,
    pub format: Format,
    /// The OpenID scope that releases it to third-party clients.
    pub scope: &'static str,
    pub default_access: Access,
}

const fn attr(
    name: &'static str,
    label: &'static str,
    format: Format,
    scope: &'static str,
    editable: bool,
) -> StandardAttribute {
    StandardAttribute {
        name,
        label,
        format,
        scope,
        default_access: if editable {
            Access {
                end_user: Level::Readwrite,
                bearer: Level::Readonly,
            }
        } else {
            Access {
                end_user: Level::Hidden,
                bearer: Level::Hidden,
            }
        },
    }
}

/// Every standard attribute, in the order the settings page shows them.
pub const STANDARD_ATTRIBUTES: [StandardAttribute; 16] = [
    attr("email", "Email", Format::CoupledEmail, "email", true),
    attr(
        "phone_number",
        "Phone number",
        Format::CoupledPhone,
        "phone",
        true,
    ),
    attr(
        "preferred_username",
        "Username",
        Format::CoupledUsername,
        "profile",
        true,
    ),
    attr("name", "Full name", Format::Text, "profile", false),
    attr("given_name", "Given name", Format::Text, "profile", true),
    attr("middle_name", "Middle name", Format::Text, "profile", false),
    attr("family_name", "Family name", Format::Text, "profile", true),
    attr("nickname", "Nickname", Format::Text, "profile", false),
    attr("picture", "Picture", Format::Url, "profile", true),
    attr("profile", "Profile page", Format::Url, "profile", false),
    attr("website", "Website", Format::Url, "profile", false),
    attr("gender", "Gender", Format::Gender, "profile", true),
    attr("birthdate", "Birthdate", Format::Birthdate, "profile", true),
    attr("zoneinfo", "Time zone", Format::Zoneinfo, "profile", true),
    attr("locale", "Language", Format::Locale, "profile", true),
    attr("address", "Address", Format::Address, "address", false),
];

/// The parts of `address`.
pub const ADDRESS_FIELDS: [&str; 6] = [
    "formatted",
    "street_address",
    "locality",
    "region",
    "postal_code",
    "country",
];

/// Claims derived from others, never written directly.
pub const DERIVED_CLAIMS: [&str; 3] = ["email_verified", "phone_number_verified", "updated_at"];

/// Names a custom attribute may not take: standard claims and registered JWT claims.
pub const RESERVED_NAMES: [&str; 22] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "azp",
    "nonce",
    "auth_time",
    "at_hash",
    "c_hash",
    "acr",
    "amr",
    "sid",
    "scope",
    "client_id",
    "email_verified",
    "phone_number_verified",
    "updated_at",
    "custom_attributes",
    "cnf",
];

pub fn find(name: &str) -> Option<&'static StandardAttribute> {
    STANDARD_ATTRIBUTES.iter().find(|a| a.name == name)
}

/// Whether `name` is a standard claim or a registered JWT claim.
pub fn is_reserved(name: &str) -> bool {
    find(name).is_some() || RESERVED_NAMES.contains(&name) || name == "address"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let editable = [
            "email",
            "phone_number",
            "preferred_username",
            "given_name",
            "family_name",
            "picture",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
        ];
        for a in STANDARD_ATTRIBUTES {
            let expected = if editable.contains(&a.name) {
                Access::EDITABLE
            } else {
                Access::HIDDEN
            };
            assert_eq!(a.default_access, expected, "{}", a.name);
            assert!(Access::new(a.default_access.end_user, a.default_access.bearer).is_ok());
        }
        assert!(is_reserved("given_name") && is_reserved("exp") && !is_reserved("department"));
    }
}
