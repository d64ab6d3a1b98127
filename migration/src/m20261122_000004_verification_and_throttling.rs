//! One-time codes (email and phone verification, password reset), stored hashed, and the
//! counters of failed attempts that brute-force protection keeps in the database so that every
//! server process sees them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum VerificationCodes {
    Table,
    Id,
    Purpose,
    Target,
    UserId,
    CodeHash,
    CreatedAt,
    ExpiresAt,
    Attempts,
    ConsumedAt,
    Ip,
}

#[derive(DeriveIden)]
enum Throttles {
    Table,
    Key,
    Failures,
    WindowStart,
    LockedUntil,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(VerificationCodes::Table)
                    .col(
                        ColumnDef::new(VerificationCodes::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(VerificationCodes::Purpose)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(VerificationCodes::Target)
                            .string_len(512)
                            .not_null(),
                    )
                    .col(ColumnDef::new(VerificationCodes::UserId).uuid().null())
                    .col(
                        ColumnDef::new(VerificationCodes::CodeHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(VerificationCodes::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(VerificationCodes::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(VerificationCodes::Attempts)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(VerificationCodes::ConsumedAt)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(VerificationCodes::Ip).string_len(64).null())
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("verification_codes_target")
                    .table(VerificationCodes::Table)
                    .col(VerificationCodes::Purpose)
                    .col(VerificationCodes::Target)
                    .col(VerificationCodes::CreatedAt)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("verification_codes_ip")
                    .table(VerificationCodes::Table)
                    .col(VerificationCodes::Ip)
                    .col(VerificationCodes::CreatedAt)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Throttles::Table)
                    .col(
                        ColumnDef::new(Throttles::Key)
                            .string_len(600)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Throttles::Failures).integer().not_null())
                    .col(
                        ColumnDef::new(Throttles::WindowStart)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Throttles::LockedUntil).big_integer().null())
                    .col(
                        ColumnDef::new(Throttles::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .take(),
            )
            .await?;
        Ok(())
    }
}
