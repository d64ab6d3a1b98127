//! Multi-factor authentication (SPEC §9): a user's second factors, the sign-ins waiting for one,
//! and which methods a session (and the codes and grants it approves) authenticated with.
//!
//! - `mfa_factors`: one row per factor: an authenticator app (`totp`: its secret, the last step
//!   accepted so a code is used once), a set of recovery codes (`recovery_codes`: their hashes in
//!   `data`), or a passkey. A factor being enrolled has no `confirmed_at` and does not count.
//! - `mfa_challenges`: a password accepted for a user with a factor: the browser holds the
//!   challenge's token (stored hashed) until the second factor is given; then it is deleted and a
//!   session starts.
//! - `webauthn_ceremonies`: a passkey registration or sign-in in progress (the server's half of
//!   the challenge, single use, a few minutes), named by a token the browser holds (stored hashed).
//! - `amr` (RFC 8176 method references, space-separated) on sessions, authorization codes and
//!   grants, and `mfa_at` on sessions: when the session last proved a second factor.
//! - `clients.require_mfa`: the client gets codes only for sessions that proved a second factor.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MfaFactors {
    Table,
    TenantId,
    Id,
    UserId,
    Kind,
    Name,
    Secret,
    Data,
    LastStep,
    ConfirmedAt,
    LastUsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MfaChallenges {
    Table,
    TenantId,
    TokenHash,
    UserId,
    Amr,
    ReturnTo,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum WebauthnCeremonies {
    Table,
    TenantId,
    TokenHash,
    UserId,
    Purpose,
    State,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Amr,
    MfaAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    Amr,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    Amr,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    RequireMfa,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MfaFactors::Table)
                    .col(
                        ColumnDef::new(MfaFactors::TenantId)
                            .string_len(63)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MfaFactors::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(MfaFactors::UserId).uuid().not_null())
                    .col(ColumnDef::new(MfaFactors::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(MfaFactors::Name).string_len(128).not_null())
                    .col(ColumnDef::new(MfaFactors::Secret).text().null())
                    .col(ColumnDef::new(MfaFactors::Data).text().not_null())
                    .col(ColumnDef::new(MfaFactors::LastStep).big_integer().null())
                    .col(ColumnDef::new(MfaFactors::ConfirmedAt).big_integer().null())
                    .col(ColumnDef::new(MfaFactors::LastUsedAt).big_integer().null())
                    .col(
                        ColumnDef::new(MfaFactors::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(MfaFactors::Table)
                            .from_col(MfaFactors::UserId)
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
                    .name("mfa_factors_user")
                    .table(MfaFactors::Table)
                    .col(MfaFactors::TenantId)
                    .col(MfaFactors::UserId)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MfaChallenges::Table)
                    .col(
                        ColumnDef::new(MfaChallenges::TenantId)
                            .string_len(63)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MfaChallenges::TokenHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(MfaChallenges::UserId).uuid().not_null())
                    .col(ColumnDef::new(MfaChallenges::Amr).string_len(64).not_null())
                    .col(ColumnDef::new(MfaChallenges::ReturnTo).text().not_null())
                    .col(
                        ColumnDef::new(MfaChallenges::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MfaChallenges::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(MfaChallenges::Table)
                            .from_col(MfaChallenges::UserId)
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
                    .name("mfa_challenges_expires_at")
                    .table(MfaChallenges::Table)
                    .col(MfaChallenges::ExpiresAt)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebauthnCeremonies::Table)
                    .col(
                        ColumnDef::new(WebauthnCeremonies::TenantId)
                            .string_len(63)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebauthnCeremonies::TokenHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(WebauthnCeremonies::UserId).uuid().null())
                    .col(
                        ColumnDef::new(WebauthnCeremonies::Purpose)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebauthnCeremonies::State).text().not_null())
                    .col(
                        ColumnDef::new(WebauthnCeremonies::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebauthnCeremonies::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(WebauthnCeremonies::Table)
                            .from_col(WebauthnCeremonies::UserId)
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
                    .name("webauthn_ceremonies_expires_at")
                    .table(WebauthnCeremonies::Table)
                    .col(WebauthnCeremonies::ExpiresAt)
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(
                        ColumnDef::new(Sessions::Amr)
                            .string_len(64)
                            .not_null()
                            .default("pwd"),
                    )
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(ColumnDef::new(Sessions::MfaAt).big_integer().null())
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuthorizationCodes::Table)
                    .add_column(
                        ColumnDef::new(AuthorizationCodes::Amr)
                            .string_len(64)
                            .null(),
                    )
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Grants::Table)
                    .add_column(ColumnDef::new(Grants::Amr).string_len(64).null())
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(
                        ColumnDef::new(Clients::RequireMfa)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in [
            ("clients", "require_mfa"),
            ("grants", "amr"),
            ("authorization_codes", "amr"),
            ("sessions", "mfa_at"),
            ("sessions", "amr"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column))
                        .take(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(WebauthnCeremonies::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(MfaChallenges::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(MfaFactors::Table).to_owned())
            .await
    }
}
