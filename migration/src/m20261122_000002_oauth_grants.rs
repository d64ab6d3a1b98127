//! OAuth state: grants (a user's authorisation of a client), authorization codes, refresh tokens,
//! revoked access tokens, and remembered consents. Codes and refresh tokens are stored hashed.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    Id,
    UserId,
    ClientId,
    SessionId,
    Scope,
    Claims,
    AuthTime,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    CodeHash,
    ClientId,
    UserId,
    SessionId,
    RedirectUri,
    Scope,
    Claims,
    Nonce,
    CodeChallenge,
    AuthTime,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    GrantId,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    GrantId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum RevokedAccessTokens {
    Table,
    Jti,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    UserId,
    ClientId,
    Scope,
    GrantedAt,
}

fn millis<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().take()
}

fn millis_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().take()
}

fn fk_user(from: impl IntoIden, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(from)
        .from_col(column)
        .to_tbl(Users::Table)
        .to_col(Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A grant lives from code redemption (or consent) until revoked; access and refresh
        // tokens name it, so revoking it ends them all. `session_id` ties it to the browser session
        // it came from (logout ends it); client_credentials grants have no user.
        manager
            .create_table(
                Table::create()
                    .table(Grants::Table)
                    .col(ColumnDef::new(Grants::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Grants::UserId).uuid().not_null())
                    .col(ColumnDef::new(Grants::ClientId).string_len(128).not_null())
                    .col(ColumnDef::new(Grants::SessionId).uuid().null())
                    .col(ColumnDef::new(Grants::Scope).text().not_null())
                    .col(ColumnDef::new(Grants::Claims).json_binary().null())
                    .col(millis(Grants::AuthTime))
                    .col(millis(Grants::CreatedAt))
                    .col(millis_null(Grants::RevokedAt))
                    .foreign_key(&mut fk_user(Grants::Table, Grants::UserId))
                    .take(),
            )
            .await?;
        for (name, col) in [
            ("grants_user", Grants::UserId),
            ("grants_session", Grants::SessionId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Grants::Table)
                        .col(col)
                        .take(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(AuthorizationCodes::Table)
                    .col(
                        ColumnDef::new(AuthorizationCodes::CodeHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::ClientId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuthorizationCodes::UserId).uuid().not_null())
                    .col(ColumnDef::new(AuthorizationCodes::SessionId).uuid().null())
                    .col(
                        ColumnDef::new(AuthorizationCodes::RedirectUri)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuthorizationCodes::Scope).text().not_null())
                    .col(
                        ColumnDef::new(AuthorizationCodes::Claims)
                            .json_binary()
                            .null(),
                    )
                    .col(ColumnDef::new(AuthorizationCodes::Nonce).text().null())
                    .col(
                        ColumnDef::new(AuthorizationCodes::CodeChallenge)
                            .string_len(128)
                            .null(),
                    )
                    .col(millis(AuthorizationCodes::AuthTime))
                    .col(millis(AuthorizationCodes::CreatedAt))
                    .col(millis(AuthorizationCodes::ExpiresAt))
                    .col(millis_null(AuthorizationCodes::UsedAt))
                    .col(ColumnDef::new(AuthorizationCodes::GrantId).uuid().null())
                    .foreign_key(&mut fk_user(
                        AuthorizationCodes::Table,
                        AuthorizationCodes::UserId,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(
                        ColumnDef::new(RefreshTokens::TokenHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RefreshTokens::GrantId).uuid().not_null())
                    .col(millis(RefreshTokens::CreatedAt))
                    .col(millis(RefreshTokens::ExpiresAt))
                    .col(millis_null(RefreshTokens::UsedAt))
                    .foreign_key(
                        &mut ForeignKey::create()
                            .from_tbl(RefreshTokens::Table)
                            .from_col(RefreshTokens::GrantId)
                            .to_tbl(Grants::Table)
                            .to_col(Grants::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .take(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("refresh_tokens_grant")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::GrantId)
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RevokedAccessTokens::Table)
                    .col(
                        ColumnDef::new(RevokedAccessTokens::Jti)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(millis(RevokedAccessTokens::ExpiresAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .col(ColumnDef::new(Consents::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(Consents::ClientId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Consents::Scope).text().not_null())
                    .col(millis(Consents::GrantedAt))
                    .primary_key(
                        Index::create()
                            .col(Consents::UserId)
                            .col(Consents::ClientId),
                    )
                    .foreign_key(&mut fk_user(Consents::Table, Consents::UserId))
                    .take(),
            )
            .await?;
        Ok(())
    }
}
