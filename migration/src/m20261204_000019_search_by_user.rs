//! `profile_search (tenant_id, user_id)`: a user's index rows are rewritten on every profile and
//! login ID change by `DELETE … WHERE tenant_id = ? AND user_id = ?`. With only `(user_id)` and
//! `(tenant_id, field, value)` to choose from, PostgreSQL's generic plan for that prepared
//! statement took the tenant's index and read every row of the tenant: each write cost time in
//! proportion to the number of users (measured: an import slowed to a crawl by 40,000 users).
//! The two-column index replaces `(user_id)`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("profile_search_tenant_user")
                    .table(Alias::new("profile_search"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("user_id"))
                    .take(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("profile_search_user")
                    .table(Alias::new("profile_search"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("profile_search_user")
                    .table(Alias::new("profile_search"))
                    .col(Alias::new("user_id"))
                    .take(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("profile_search_tenant_user")
                    .table(Alias::new("profile_search"))
                    .to_owned(),
            )
            .await
    }
}
