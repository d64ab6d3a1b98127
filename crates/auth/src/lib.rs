//! Accounts, passwords, sessions and other credentials.
//!
//! Functions here take plain values, a [`store::Db`] and a [`store::Clock`], and return typed
//! errors; they know nothing of HTTP.

pub mod accounts;
pub mod admin_keys;
pub mod audit;
pub mod brute_force;
pub mod codes;
pub mod delivery;
pub mod foreign_hashes;
pub mod groups;
pub mod housekeeping;
pub mod import;
pub mod login_id;
pub mod login_ids;
pub mod mfa;
pub mod passkeys;
pub mod passwords;
pub mod provisioning;
pub mod rate_limits;
pub mod secrets;
pub mod sessions;
pub mod users;
pub mod verification;
pub mod webhooks;

pub use accounts::{LoginError, SignUpError};
pub use passwords::{Argon2Params, PasswordError, PasswordHasher, PasswordPolicy};
pub use sessions::{SessionError, SessionPolicy, SessionToken, StartedSession};

/// The database failed; the caller can only report it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct InternalError(#[from] pub store::StoreError);

/// The key an address is limited by: an IPv4 address itself, an IPv6 address by its /64 prefix
/// (one home connection holds a whole /64, so counting its addresses one by one would hand out
/// endless fresh ones). Text that is no address is used as it is.
pub fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
        Ok(v4) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

#[cfg(test)]
mod address_tests {
    #[test]
    fn ipv6_addresses_are_limited_by_their_64_prefix() {
        use super::address_key;
        assert_eq!(address_key("192.0.2.7"), "192.0.2.7");
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:ffff::9"), "2001:db8:1:2::/64");
        assert_ne!(address_key("2001:db8:1:3::1"), "2001:db8:1:2::/64");
    }
}
