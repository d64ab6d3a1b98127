//! Uploaded images (avatars, covers, image attributes), kept in the database so that every server
//! process serves the same bytes, and the profile's cover.
//!
//! An image has one row per rendition (`size`); `id` is content-addressed and `owner` ties it to
//! its user, so images go when their user does.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Images {
    Table,
    Id,
    Size,
    IsDefault,
    Owner,
    Purpose,
    ContentType,
    Width,
    Height,
    Digest,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Profiles {
    Table,
    Cover,
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
                    .table(Images::Table)
                    .col(ColumnDef::new(Images::Id).string_len(64).not_null())
                    .col(ColumnDef::new(Images::Size).integer().not_null())
                    .col(ColumnDef::new(Images::IsDefault).boolean().not_null())
                    .col(ColumnDef::new(Images::Owner).uuid().not_null())
                    .col(ColumnDef::new(Images::Purpose).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Images::ContentType)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Images::Width).integer().not_null())
                    .col(ColumnDef::new(Images::Height).integer().not_null())
                    .col(ColumnDef::new(Images::Digest).string_len(64).not_null())
                    .col(ColumnDef::new(Images::Data).blob().not_null())
                    .col(ColumnDef::new(Images::CreatedAt).big_integer().not_null())
                    .primary_key(Index::create().col(Images::Id).col(Images::Size))
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Images::Table)
                            .from_col(Images::Owner)
                            .to_tbl(Users::Table)
                            .to_col(Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        // Replacing an avatar or cover removes the owner's earlier images of that purpose.
        manager
            .create_index(
                Index::create()
                    .name("images_owner_purpose")
                    .table(Images::Table)
                    .col(Images::Owner)
                    .col(Images::Purpose)
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Profiles::Table)
                    .add_column(ColumnDef::new(Profiles::Cover).string_len(2048).null())
                    .take(),
            )
            .await?;
        Ok(())
    }
}
