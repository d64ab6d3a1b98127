//! The user search index gains the `display` field (the whole display name, for SCIM's
//! `displayName` filters). The index is derived data: this empties it, and the start-up after
//! the migrations rebuilds it for every tenant (`store::search::rebuild_if_empty`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM profile_search")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM profile_search WHERE field = 'display'")
            .await?;
        Ok(())
    }
}
