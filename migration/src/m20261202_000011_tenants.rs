//! Tenants (SPEC §11): isolated identity realms.
//!
//! Adds the `tenants` table with the `default` tenant, and a `tenant_id` column to every table of
//! tenant data. Rows that exist already belong to `default`, so an existing database keeps
//! everything it holds and serves it at the root issuer exactly as before.
//!
//! What was unique across the server becomes unique per tenant: login IDs (`identities`), custom
//! attribute names and OAuth client ids get tenant-first unique indexes; the three tables keyed by
//! a name alone (`standard_attribute_access`, `profile_schema_version`, `throttles`) are rebuilt
//! with the tenant in their primary key (SQLite cannot change a primary key in place). Every table
//! gets an index that starts with `tenant_id`, so reading one tenant or deleting it never scans
//! another's rows.
//!
//! There is no foreign key to `tenants`: SQLite cannot add a column with a reference and a
//! default. Deleting a tenant deletes its rows from every table in one transaction
//! (`store::tenants::delete`). On PostgreSQL the column's default is dropped after the copy, so an
//! insert that forgets its tenant fails instead of landing in `default`.
//!
//! `server_secrets` stays server-wide: the CSRF key binds each token to its session, and sessions
//! are per tenant.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    Settings,
    CreatedAt,
    UpdatedAt,
}

/// Tables that get a plain `tenant_id` column, with the index each one gets for it.
const SCOPED: [(&str, &str, &[&str]); 19] = [
    ("users", "users_tenant", &["tenant_id", "id"]),
    ("profiles", "profiles_tenant", &["tenant_id"]),
    (
        "identities",
        "identities_tenant_kind_value",
        &["tenant_id", "kind", "value"],
    ),
    (
        "password_credentials",
        "password_credentials_tenant",
        &["tenant_id"],
    ),
    ("sessions", "sessions_tenant", &["tenant_id"]),
    (
        "clients",
        "clients_tenant_client_id",
        &["tenant_id", "client_id"],
    ),
    ("signing_keys", "signing_keys_tenant", &["tenant_id"]),
    ("admin_keys", "admin_keys_tenant", &["tenant_id"]),
    ("audit_events", "audit_events_tenant", &["tenant_id", "id"]),
    ("grants", "grants_tenant", &["tenant_id"]),
    (
        "authorization_codes",
        "authorization_codes_tenant",
        &["tenant_id"],
    ),
    ("refresh_tokens", "refresh_tokens_tenant", &["tenant_id"]),
    (
        "revoked_access_tokens",
        "revoked_access_tokens_tenant",
        &["tenant_id"],
    ),
    ("consents", "consents_tenant", &["tenant_id"]),
    (
        "custom_attributes",
        "custom_attributes_tenant_name",
        &["tenant_id", "name"],
    ),
    (
        "verification_codes",
        "verification_codes_tenant",
        &["tenant_id"],
    ),
    ("images", "images_tenant", &["tenant_id"]),
    (
        "profile_search",
        "profile_search_tenant",
        &["tenant_id", "field", "value"],
    ),
    ("upstream_logins", "upstream_logins_tenant", &["tenant_id"]),
];

/// The indexes that become unique per tenant: (old global index, table).
const UNIQUE_PER_TENANT: [(&str, &str); 3] = [
    ("identities_kind_value", "identities"),
    ("custom_attributes_name", "custom_attributes"),
    ("clients_client_id", "clients"),
];

/// Tables rebuilt with the tenant in the primary key: (table, column definitions, primary key,
/// copied columns, indexes to recreate).
/// (table, column definitions, primary key, copied columns, indexes to recreate).
type Rebuilt = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const REBUILT: [Rebuilt; 3] = [
    (
        "standard_attribute_access",
        "tenant_id VARCHAR(63) NOT NULL, name VARCHAR(32) NOT NULL, end_user VARCHAR(16) NOT NULL, \
         bearer VARCHAR(16) NOT NULL, updated_at BIGINT NOT NULL",
        "tenant_id, name",
        "name, end_user, bearer, updated_at",
        &[],
    ),
    (
        "profile_schema_version",
        "tenant_id VARCHAR(63) NOT NULL, version BIGINT NOT NULL",
        "tenant_id",
        "version",
        &[],
    ),
    (
        "throttles",
        "tenant_id VARCHAR(63) NOT NULL, \"key\" VARCHAR(600) NOT NULL, failures INTEGER NOT NULL, \
         window_start BIGINT NOT NULL, locked_until BIGINT NULL, updated_at BIGINT NOT NULL",
        "tenant_id, \"key\"",
        "\"key\", failures, window_start, locked_until, updated_at",
        &[("throttles_updated_at", "updated_at")],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(
                        ColumnDef::new(Tenants::Id)
                            .string_len(63)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Tenants::Name).string_len(200).not_null())
                    .col(ColumnDef::new(Tenants::Settings).text().not_null())
                    .col(ColumnDef::new(Tenants::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Tenants::UpdatedAt).big_integer().not_null())
                    .take(),
            )
            .await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(Tenants::Table)
                    .columns([
                        Tenants::Id,
                        Tenants::Name,
                        Tenants::Settings,
                        Tenants::CreatedAt,
                        Tenants::UpdatedAt,
                    ])
                    .values_panic([
                        "default".into(),
                        "Default".into(),
                        "{}".into(),
                        now.into(),
                        now.into(),
                    ])
                    .take(),
            )
            .await?;

        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        let db = manager.get_connection();
        for (table, _, _) in SCOPED {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ADD COLUMN tenant_id VARCHAR(63) NOT NULL DEFAULT 'default'"
            ))
            .await?;
            if postgres {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} ALTER COLUMN tenant_id DROP DEFAULT"
                ))
                .await?;
            }
        }
        // A system key manages tenants and acts in every tenant; existing keys are the default
        // tenant's own.
        db.execute_unprepared(
            "ALTER TABLE admin_keys ADD COLUMN system BOOLEAN NOT NULL DEFAULT FALSE",
        )
        .await?;
        for (index, table) in UNIQUE_PER_TENANT {
            manager
                .drop_index(
                    Index::drop()
                        .name(index)
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
        }
        for (table, index, columns) in SCOPED {
            let mut create = Index::create();
            create.name(index).table(Alias::new(table));
            for column in columns {
                create.col(Alias::new(*column));
            }
            if UNIQUE_PER_TENANT.iter().any(|(_, t)| *t == table) {
                create.unique();
            }
            manager.create_index(create).await?;
        }
        for (table, columns, key, copied, indexes) in REBUILT {
            let new = format!("{table}_by_tenant");
            db.execute_unprepared(&format!(
                "CREATE TABLE {new} ({columns}, PRIMARY KEY ({key}))"
            ))
            .await?;
            db.execute_unprepared(&format!(
                "INSERT INTO {new} (tenant_id, {copied}) SELECT 'default', {copied} FROM {table}"
            ))
            .await?;
            db.execute_unprepared(&format!("DROP TABLE {table}"))
                .await?;
            db.execute_unprepared(&format!("ALTER TABLE {new} RENAME TO {table}"))
                .await?;
            for (index, column) in indexes {
                db.execute_unprepared(&format!("CREATE INDEX {index} ON {table} ({column})"))
                    .await?;
            }
        }
        Ok(())
    }
}
