//! The OpenID Connect provider: clients (relying parties) and, later, codes, tokens and keys.

pub mod clients;
