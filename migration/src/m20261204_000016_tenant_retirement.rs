//! - `tenants.deleted_at`: a deleted tenant's row stays, marked, until a housekeeping sweep has
//!   removed anything a request still in flight wrote into it after the deletion; only then does
//!   the row go and the id become free again. Until then the tenant does not exist for anyone.
//! - `mfa_factors (tenant_id, kind, secret)` unique: a passkey's credential id (its `secret`) is
//!   found by an index when it signs in, and can be registered only once per tenant (two
//!   registrations racing cannot both land). Duplicates a race may have left are removed first,
//!   keeping the oldest.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    DeletedAt,
}

const FACTOR_SECRETS: &str = "mfa_factors_tenant_kind_secret";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(ColumnDef::new(Tenants::DeletedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "DELETE FROM mfa_factors WHERE secret IS NOT NULL AND EXISTS (\
                   SELECT 1 FROM mfa_factors o WHERE o.tenant_id = mfa_factors.tenant_id \
                   AND o.kind = mfa_factors.kind AND o.secret = mfa_factors.secret \
                   AND (o.created_at < mfa_factors.created_at \
                        OR (o.created_at = mfa_factors.created_at AND o.id < mfa_factors.id)))",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(FACTOR_SECRETS)
                    .table(Alias::new("mfa_factors"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("kind"))
                    .col(Alias::new("secret"))
                    .unique()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(FACTOR_SECRETS)
                    .table(Alias::new("mfa_factors"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .drop_column(Tenants::DeletedAt)
                    .to_owned(),
            )
            .await
    }
}
