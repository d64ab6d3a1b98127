//! Users with their profile, identities (login IDs), password credentials, sessions, OAuth clients,
//! signing keys, Admin API keys and the audit log.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    CreatedAt,
    LastLoginAt,
    DisabledAt,
}

#[derive(DeriveIden)]
enum Profiles {
    Table,
    UserId,
    Standard,
    Custom,
    AvatarSeed,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Identities {
    Table,
    Id,
    UserId,
    Kind,
    Value,
    VerifiedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PasswordCredentials {
    Table,
    UserId,
    Hash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    TokenHash,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    AuthTime,
    Ip,
    UserAgent,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    Id,
    ClientId,
    Name,
    SecretHash,
    IsPublic,
    ThirdParty,
    RedirectUris,
    PostLogoutRedirectUris,
    BackchannelLogoutUri,
    GrantTypes,
    Scopes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Alg,
    PrivateKey,
    PublicJwk,
    CreatedAt,
    RetiredAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AdminKeys {
    Table,
    Id,
    Name,
    KeyHash,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OccurredAt,
    Kind,
    ActorType,
    ActorId,
    UserId,
    Ip,
    Detail,
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
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                    .col(millis(Users::CreatedAt))
                    .col(millis_null(Users::LastLoginAt))
                    .col(millis_null(Users::DisabledAt))
                    .take(),
            )
            .await?;

        // One profile per user: the user id is the primary key, and the row goes with the user.
        manager
            .create_table(
                Table::create()
                    .table(Profiles::Table)
                    .col(
                        ColumnDef::new(Profiles::UserId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Profiles::Standard).json_binary().not_null())
                    .col(ColumnDef::new(Profiles::Custom).json_binary().not_null())
                    .col(
                        ColumnDef::new(Profiles::AvatarSeed)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(millis(Profiles::UpdatedAt))
                    .foreign_key(&mut fk_user(Profiles::Table, Profiles::UserId))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Identities::Table)
                    .col(
                        ColumnDef::new(Identities::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Identities::UserId).uuid().not_null())
                    .col(ColumnDef::new(Identities::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Identities::Value).string_len(512).not_null())
                    .col(millis_null(Identities::VerifiedAt))
                    .col(millis(Identities::CreatedAt))
                    .foreign_key(&mut fk_user(Identities::Table, Identities::UserId))
                    .take(),
            )
            .await?;
        // Login: find the identity by (kind, normalised value); a login ID belongs to one user.
        manager
            .create_index(
                Index::create()
                    .name("identities_kind_value")
                    .table(Identities::Table)
                    .col(Identities::Kind)
                    .col(Identities::Value)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("identities_user")
                    .table(Identities::Table)
                    .col(Identities::UserId)
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PasswordCredentials::Table)
                    .col(
                        ColumnDef::new(PasswordCredentials::UserId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PasswordCredentials::Hash).text().not_null())
                    .col(millis(PasswordCredentials::CreatedAt))
                    .col(millis(PasswordCredentials::UpdatedAt))
                    .foreign_key(&mut fk_user(
                        PasswordCredentials::Table,
                        PasswordCredentials::UserId,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(ColumnDef::new(Sessions::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Sessions::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(Sessions::TokenHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(millis(Sessions::CreatedAt))
                    .col(millis(Sessions::LastUsedAt))
                    .col(millis(Sessions::ExpiresAt))
                    .col(millis(Sessions::AuthTime))
                    .col(ColumnDef::new(Sessions::Ip).string_len(64).null())
                    .col(ColumnDef::new(Sessions::UserAgent).string_len(512).null())
                    .foreign_key(&mut fk_user(Sessions::Table, Sessions::UserId))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_token_hash")
                    .table(Sessions::Table)
                    .col(Sessions::TokenHash)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_user")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .col(ColumnDef::new(Clients::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Clients::ClientId).string_len(128).not_null())
                    .col(ColumnDef::new(Clients::Name).string_len(256).not_null())
                    .col(ColumnDef::new(Clients::SecretHash).string_len(64).null())
                    .col(ColumnDef::new(Clients::IsPublic).boolean().not_null())
                    .col(ColumnDef::new(Clients::ThirdParty).boolean().not_null())
                    .col(
                        ColumnDef::new(Clients::RedirectUris)
                            .json_binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Clients::PostLogoutRedirectUris)
                            .json_binary()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Clients::BackchannelLogoutUri).text().null())
                    .col(ColumnDef::new(Clients::GrantTypes).json_binary().not_null())
                    .col(ColumnDef::new(Clients::Scopes).json_binary().not_null())
                    .col(millis(Clients::CreatedAt))
                    .col(millis(Clients::UpdatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("clients_client_id")
                    .table(Clients::Table)
                    .col(Clients::ClientId)
                    .unique()
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(
                        ColumnDef::new(SigningKeys::Kid)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SigningKeys::Alg).string_len(16).not_null())
                    .col(ColumnDef::new(SigningKeys::PrivateKey).text().not_null())
                    .col(
                        ColumnDef::new(SigningKeys::PublicJwk)
                            .json_binary()
                            .not_null(),
                    )
                    .col(millis(SigningKeys::CreatedAt))
                    .col(millis_null(SigningKeys::RetiredAt))
                    .col(millis_null(SigningKeys::ExpiresAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AdminKeys::Table)
                    .col(
                        ColumnDef::new(AdminKeys::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AdminKeys::Name).string_len(256).not_null())
                    .col(ColumnDef::new(AdminKeys::KeyHash).string_len(64).not_null())
                    .col(millis(AdminKeys::CreatedAt))
                    .col(millis_null(AdminKeys::LastUsedAt))
                    .col(millis_null(AdminKeys::RevokedAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("admin_keys_key_hash")
                    .table(AdminKeys::Table)
                    .col(AdminKeys::KeyHash)
                    .unique()
                    .take(),
            )
            .await?;

        // The audit log outlives the users it names: no foreign key on user_id.
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(millis(AuditEvents::OccurredAt))
                    .col(ColumnDef::new(AuditEvents::Kind).string_len(64).not_null())
                    .col(
                        ColumnDef::new(AuditEvents::ActorType)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::ActorId).string_len(128).null())
                    .col(ColumnDef::new(AuditEvents::UserId).uuid().null())
                    .col(ColumnDef::new(AuditEvents::Ip).string_len(64).null())
                    .col(ColumnDef::new(AuditEvents::Detail).json_binary().not_null())
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_user")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::UserId)
                    .col(AuditEvents::Id)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_kind")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Kind)
                    .col(AuditEvents::Id)
                    .take(),
            )
            .await?;
        Ok(())
    }
}
