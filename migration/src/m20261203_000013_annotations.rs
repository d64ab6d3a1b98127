//! Annotations (SPEC §10, after App.net): typed metadata objects apps keep on a user, stored with
//! the profile they belong to (`profiles.annotations`, a JSON array of `{"type", "value"}`), so
//! they are read and written with it: one row, the same optimistic check, the same audit event.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Profiles {
    Table,
    Annotations,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Profiles::Table)
                    .add_column(
                        ColumnDef::new(Profiles::Annotations)
                            .json_binary()
                            .not_null()
                            .default("[]"),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Profiles::Table)
                    .drop_column(Profiles::Annotations)
                    .take(),
            )
            .await
    }
}
