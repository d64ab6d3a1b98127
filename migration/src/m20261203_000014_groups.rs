//! Groups (SPEC §12): named sets of users that apps authorise from (the `groups` claim), and the
//! SCIM identifiers a directory keeps for its users and groups.
//!
//! - `groups`: unique names per tenant; `external_id` is the provisioning client's id (SCIM
//!   `externalId`).
//! - `group_members`: one row per (group, user), removed with either (foreign keys cascade); the
//!   index on `(tenant_id, user_id)` answers "the groups of this user" (UserInfo, tokens).
//! - `users.external_id`: SCIM `externalId` of a user, indexed for `externalId eq "…"` filters.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Groups {
    Table,
    TenantId,
    Id,
    Name,
    Description,
    ExternalId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GroupMembers {
    Table,
    TenantId,
    GroupId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    ExternalId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Groups::Table)
                    .col(ColumnDef::new(Groups::TenantId).string_len(63).not_null())
                    .col(ColumnDef::new(Groups::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Groups::Name).string_len(256).not_null())
                    .col(ColumnDef::new(Groups::Description).text().null())
                    .col(ColumnDef::new(Groups::ExternalId).string_len(256).null())
                    .col(ColumnDef::new(Groups::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Groups::UpdatedAt).big_integer().not_null())
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("groups_tenant_name")
                    .table(Groups::Table)
                    .col(Groups::TenantId)
                    .col(Groups::Name)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("groups_tenant_external_id")
                    .table(Groups::Table)
                    .col(Groups::TenantId)
                    .col(Groups::ExternalId)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GroupMembers::Table)
                    .col(
                        ColumnDef::new(GroupMembers::TenantId)
                            .string_len(63)
                            .not_null(),
                    )
                    .col(ColumnDef::new(GroupMembers::GroupId).uuid().not_null())
                    .col(ColumnDef::new(GroupMembers::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(GroupMembers::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(GroupMembers::GroupId)
                            .col(GroupMembers::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(GroupMembers::Table)
                            .from_col(GroupMembers::GroupId)
                            .to_tbl(Groups::Table)
                            .to_col(Groups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(GroupMembers::Table)
                            .from_col(GroupMembers::UserId)
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
                    .name("group_members_user")
                    .table(GroupMembers::Table)
                    .col(GroupMembers::TenantId)
                    .col(GroupMembers::UserId)
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(ColumnDef::new(Users::ExternalId).string_len(256).null())
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("users_tenant_external_id")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(Users::ExternalId)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("users_tenant_external_id")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::ExternalId)
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(GroupMembers::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Groups::Table).to_owned())
            .await
    }
}
