//! Sign-ins through upstream OpenID providers that are under way: one row per authorization
//! request sent upstream, found by a hash of its `state`, bound to the browser that started it
//! (a hash of a random cookie value), single use and short-lived. Kept in the database so that
//! the callback works whichever server process receives it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UpstreamLogins {
    Table,
    StateHash,
    UpstreamId,
    BrowserHash,
    Nonce,
    PkceVerifier,
    ReturnTo,
    LinkUserId,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UpstreamLogins::Table)
                    .col(
                        ColumnDef::new(UpstreamLogins::StateHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(UpstreamLogins::UpstreamId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UpstreamLogins::BrowserHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UpstreamLogins::Nonce)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UpstreamLogins::PkceVerifier)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(UpstreamLogins::ReturnTo).text().null())
                    .col(ColumnDef::new(UpstreamLogins::LinkUserId).uuid().null())
                    .col(
                        ColumnDef::new(UpstreamLogins::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UpstreamLogins::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UpstreamLogins::ConsumedAt)
                            .big_integer()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(UpstreamLogins::Table)
                            .from_col(UpstreamLogins::LinkUserId)
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
                    .name("upstream_logins_expires_at")
                    .table(UpstreamLogins::Table)
                    .col(UpstreamLogins::ExpiresAt)
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UpstreamLogins::Table).take())
            .await
    }
}
