//! SCIM 2.0 (RFC 7643, 7644) at `/scim/v2`: provisioning of users and groups by a directory,
//! authenticated by an admin key. Every write goes through the same domain use cases as the
//! Admin API.

pub mod filter;
