//! Security hardening (SPEC §8):
//! - `server_secrets`: secrets the server generates once and every process shares (the CSRF key).
//!   A row is never updated: the first process to start inserts it, the others read it.
//! - `verification_codes(user_id, created_at)`: the codes-per-account-per-day limit counts an
//!   account's codes with an index range instead of a scan.
//! - `authorization_codes(session_id)`: ending a session voids its unredeemed codes by index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ServerSecrets {
    Table,
    Name,
    Value,
    CreatedAt,
}

#[derive(DeriveIden)]
enum VerificationCodes {
    Table,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    SessionId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ServerSecrets::Table)
                    .col(
                        ColumnDef::new(ServerSecrets::Name)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ServerSecrets::Value).string().not_null())
                    .col(
                        ColumnDef::new(ServerSecrets::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("verification_codes_user")
                    .table(VerificationCodes::Table)
                    .col(VerificationCodes::UserId)
                    .col(VerificationCodes::CreatedAt)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("authorization_codes_session")
                    .table(AuthorizationCodes::Table)
                    .col(AuthorizationCodes::SessionId)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("authorization_codes_session")
                    .table(AuthorizationCodes::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("verification_codes_user")
                    .table(VerificationCodes::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ServerSecrets::Table).to_owned())
            .await
    }
}
