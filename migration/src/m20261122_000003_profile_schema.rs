//! The profile schema: access levels of standard attributes, custom attribute definitions, and a
//! version number that every schema change bumps (each server process compares it with the
//! version of its cached schema).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StandardAttributeAccess {
    Table,
    Name,
    EndUser,
    Bearer,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CustomAttributes {
    Table,
    Id,
    Name,
    Kind,
    Label,
    Minimum,
    Maximum,
    EnumValues,
    Position,
    EndUser,
    Bearer,
    Scope,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProfileSchemaVersion {
    Table,
    Id,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StandardAttributeAccess::Table)
                    .col(
                        ColumnDef::new(StandardAttributeAccess::Name)
                            .string_len(32)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(StandardAttributeAccess::EndUser)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StandardAttributeAccess::Bearer)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StandardAttributeAccess::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CustomAttributes::Table)
                    .col(
                        ColumnDef::new(CustomAttributes::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CustomAttributes::Name)
                            .string_len(80)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomAttributes::Kind)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomAttributes::Label)
                            .string_len(256)
                            .null(),
                    )
                    .col(ColumnDef::new(CustomAttributes::Minimum).double().null())
                    .col(ColumnDef::new(CustomAttributes::Maximum).double().null())
                    .col(
                        ColumnDef::new(CustomAttributes::EnumValues)
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomAttributes::Position)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomAttributes::EndUser)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomAttributes::Bearer)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomAttributes::Scope)
                            .string_len(128)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(CustomAttributes::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomAttributes::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("custom_attributes_name")
                    .table(CustomAttributes::Table)
                    .col(CustomAttributes::Name)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProfileSchemaVersion::Table)
                    .col(
                        ColumnDef::new(ProfileSchemaVersion::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ProfileSchemaVersion::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .take(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(ProfileSchemaVersion::Table)
                    .columns([ProfileSchemaVersion::Id, ProfileSchemaVersion::Version])
                    .values_panic([1.into(), 0.into()])
                    .take(),
            )
            .await?;
        Ok(())
    }
}
