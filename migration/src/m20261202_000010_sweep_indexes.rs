//! Indexes for the housekeeping sweep (`store::housekeeping`): each table of short-lived rows is
//! cleaned by one range `DELETE` on the column that says the row is over, which without an index
//! would scan the table every few minutes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str, &str); 5] = [
    ("throttles_updated_at", "throttles", "updated_at"),
    (
        "verification_codes_expires_at",
        "verification_codes",
        "expires_at",
    ),
    (
        "authorization_codes_expires_at",
        "authorization_codes",
        "expires_at",
    ),
    (
        "revoked_access_tokens_expires_at",
        "revoked_access_tokens",
        "expires_at",
    ),
    ("sessions_expires_at", "sessions", "expires_at"),
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
