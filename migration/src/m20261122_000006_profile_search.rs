//! The search index of the Admin API's user search: one row per searchable token of a user
//! (`field = 'q'`: words of their names, their email addresses and usernames) and per custom
//! attribute value (`field = 'attr:<definition id>'`), lower-cased. Lookups are index range scans
//! on `(field, value)`, so a search stays fast at a million users.
//!
//! On PostgreSQL the value is compared byte-wise (`COLLATE "C"`), so a prefix search is a plain
//! range on the index, as it is on SQLite.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProfileSearch {
    Table,
    UserId,
    Field,
    Value,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut value = ColumnDef::new(ProfileSearch::Value);
        value.string_len(300).not_null();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            value.extra("COLLATE \"C\"");
        }
        manager
            .create_table(
                Table::create()
                    .table(ProfileSearch::Table)
                    .col(ColumnDef::new(ProfileSearch::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(ProfileSearch::Field)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(&mut value)
                    .primary_key(
                        Index::create()
                            .col(ProfileSearch::Field)
                            .col(ProfileSearch::Value)
                            .col(ProfileSearch::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(ProfileSearch::Table)
                            .from_col(ProfileSearch::UserId)
                            .to_tbl(Users::Table)
                            .to_col(Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("profile_search_user")
                    .table(ProfileSearch::Table)
                    .col(ProfileSearch::UserId)
                    .take(),
            )
            .await?;
        Ok(())
    }
}
