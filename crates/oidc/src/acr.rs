//! Authentication context classes (SPEC §9): what `acr` says and `acr_values` may ask for.

/// A password (or an upstream provider) alone.
pub const PWD: &str = "urn:tessera:acr:pwd";
/// A second factor too.
pub const MFA: &str = "urn:tessera:acr:mfa";
/// Discovery's `acr_values_supported`.
pub const SUPPORTED: [&str; 2] = [PWD, MFA];

/// The class a sign-in with RFC 8176 methods `amr` (space-separated) reached.
pub fn of_amr(amr: &str) -> &'static str {
    if is_multi_factor(amr) { MFA } else { PWD }
}

/// Whether methods `amr` include a second factor.
pub fn is_multi_factor(amr: &str) -> bool {
    amr.split_whitespace().any(|m| m == "mfa")
}

/// Whether a request's `acr_values` (space-separated, in order of preference) ask for a second
/// factor. Only `urn:tessera:acr:mfa` does: `acr_values` are voluntary, so an unknown value is
/// ignored.
pub fn asks_for_mfa(acr_values: Option<&str>) -> bool {
    acr_values.is_some_and(|v| v.split_whitespace().any(|a| a == MFA))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(of_amr("pwd"), PWD);
        assert_eq!(of_amr("pwd otp mfa"), MFA);
        assert!(asks_for_mfa(Some("urn:other urn:tessera:acr:mfa")));
        assert!(!asks_for_mfa(Some("urn:tessera:acr:pwd")));
        assert!(!asks_for_mfa(None));
    }
}
