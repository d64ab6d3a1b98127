//! Schema migrations for Tessera, applied on start-up and by `tessera migrate`.
//!
//! Every schema change is a new file; an applied migration is never edited. Timestamps are stored as
//! Unix milliseconds (`BIGINT`) so that ordering and range checks behave the same on SQLite and
//! PostgreSQL; secrets are stored only as hashes.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_initial;
mod m20261122_000002_oauth_grants;
mod m20261122_000003_profile_schema;
mod m20261122_000004_verification_and_throttling;
mod m20261122_000005_images;
mod m20261122_000006_profile_search;
mod m20261122_000007_upstream;
mod m20261201_000008_identities_in_order;
mod m20261202_000009_security;
mod m20261202_000010_sweep_indexes;
mod m20261202_000011_tenants;
mod m20261202_000012_mfa;
mod m20261203_000013_annotations;
mod m20261203_000014_groups;
mod m20261203_000015_scim_indexes;
mod m20261204_000016_tenant_retirement;
mod m20261204_000017_webhooks;
mod m20261204_000018_display_name_index;
mod m20261204_000019_search_by_user;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial::Migration),
            Box::new(m20261122_000002_oauth_grants::Migration),
            Box::new(m20261122_000003_profile_schema::Migration),
            Box::new(m20261122_000004_verification_and_throttling::Migration),
            Box::new(m20261122_000005_images::Migration),
            Box::new(m20261122_000006_profile_search::Migration),
            Box::new(m20261122_000007_upstream::Migration),
            Box::new(m20261201_000008_identities_in_order::Migration),
            Box::new(m20261202_000009_security::Migration),
            Box::new(m20261202_000010_sweep_indexes::Migration),
            Box::new(m20261202_000011_tenants::Migration),
            Box::new(m20261202_000012_mfa::Migration),
            Box::new(m20261203_000013_annotations::Migration),
            Box::new(m20261203_000014_groups::Migration),
            Box::new(m20261203_000015_scim_indexes::Migration),
            Box::new(m20261204_000016_tenant_retirement::Migration),
            Box::new(m20261204_000017_webhooks::Migration),
            Box::new(m20261204_000018_display_name_index::Migration),
            Box::new(m20261204_000019_search_by_user::Migration),
        ]
    }
}
