//! Indexes for SCIM's time filters (`meta.lastModified`, `meta.created`), so that they are range
//! scans of an index rather than scans of a tenant's users: `profiles (tenant_id, updated_at)`,
//! `users (tenant_id, created_at)`, `groups (tenant_id, updated_at)`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str, &str); 3] = [
    ("profiles_tenant_updated", "profiles", "updated_at"),
    ("users_tenant_created", "users", "created_at"),
    ("groups_tenant_updated", "groups", "updated_at"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, column) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Alias::new(table))
                        .col(Alias::new("tenant_id"))
                        .col(Alias::new(column))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
