//! A user's identities in the order they were added, straight from an index: UserInfo (and every
//! page that lists login IDs) reads them `ORDER BY created_at, id`, which with an index on
//! `user_id` alone needed a sort per request. The new index also serves every lookup by `user_id`,
//! so it replaces the old one.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Identities {
    Table,
    Id,
    UserId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("identities_user_created")
                    .table(Identities::Table)
                    .col(Identities::UserId)
                    .col(Identities::CreatedAt)
                    .col(Identities::Id)
                    .take(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("identities_user")
                    .table(Identities::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
            .drop_index(
                Index::drop()
                    .name("identities_user_created")
                    .table(Identities::Table)
                    .to_owned(),
            )
            .await
    }
}
