//! Webhooks from a durable outbox (SPEC §13).
//!
//! - The audit log is the outbox: `audit_events.fanned_out_at` is NULL for an event not yet
//!   handed to the webhooks (every event is written in the transaction of the change it
//!   describes, so a committed change always has its pending event). Events from before this
//!   migration are marked as handed out. A partial index finds the pending ones.
//! - `webhooks`: a tenant's subscriptions: the URL, the event types (JSON list, `*` for all), an
//!   admin key whose own changes are not sent (`exclude_actor`), the signing secret (encrypted
//!   under a server secret: it must be read back to sign), and `config_key` for those declared in
//!   `[[webhook]]`.
//! - `webhook_deliveries`: one per (webhook, event): pending until delivered or given up (after
//!   24 hours), with the next attempt's time, a lease (`leased_until`) so that of several
//!   processes exactly one sends it, the event's time (`seq`) and id (UUID v7: its order), so
//!   that a user's events go out in order.
//! - `webhook_attempts`: each attempt's answer, for `GET /webhooks/{id}/deliveries`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    FannedOutAt,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    TenantId,
    Id,
    Url,
    Events,
    ExcludeActor,
    Secret,
    ConfigKey,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    TenantId,
    Id,
    WebhookId,
    EventId,
    UserId,
    Seq,
    Status,
    Attempts,
    NextAttemptAt,
    LeasedUntil,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    TenantId,
    Id,
    DeliveryId,
    At,
    StatusCode,
    Error,
    DurationMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(
                        ColumnDef::new(AuditEvents::FannedOutAt)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared("UPDATE audit_events SET fanned_out_at = 0")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX audit_events_pending ON audit_events (occurred_at, id) \
             WHERE fanned_out_at IS NULL",
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .col(ColumnDef::new(Webhooks::TenantId).string_len(63).not_null())
                    .col(ColumnDef::new(Webhooks::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Webhooks::Url).text().not_null())
                    .col(ColumnDef::new(Webhooks::Events).text().not_null())
                    .col(ColumnDef::new(Webhooks::ExcludeActor).uuid().null())
                    .col(ColumnDef::new(Webhooks::Secret).text().not_null())
                    .col(ColumnDef::new(Webhooks::ConfigKey).text().null())
                    .col(ColumnDef::new(Webhooks::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Webhooks::UpdatedAt).big_integer().not_null())
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhooks_tenant")
                    .table(Webhooks::Table)
                    .col(Webhooks::TenantId)
                    .col(Webhooks::Id)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhooks_config_key")
                    .table(Webhooks::Table)
                    .col(Webhooks::TenantId)
                    .col(Webhooks::ConfigKey)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(
                        ColumnDef::new(WebhookDeliveries::TenantId)
                            .string_len(63)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::WebhookId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookDeliveries::EventId).uuid().not_null())
                    .col(ColumnDef::new(WebhookDeliveries::UserId).uuid().null())
                    .col(
                        ColumnDef::new(WebhookDeliveries::Seq)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::Attempts)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::NextAttemptAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::LeasedUntil)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookDeliveries::DeliveredAt)
                            .big_integer()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(WebhookDeliveries::Table)
                            .from_col(WebhookDeliveries::WebhookId)
                            .to_tbl(Webhooks::Table)
                            .to_col(Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        // One delivery per webhook and event, even if two processes fan the same event out.
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_event")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WebhookId)
                    .col(WebhookDeliveries::EventId)
                    .unique()
                    .take(),
            )
            .await?;
        // Due deliveries, and a user's earlier pending ones (order per user).
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_due")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_user")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WebhookId)
                    .col(WebhookDeliveries::UserId)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::EventId)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .col(
                        ColumnDef::new(WebhookAttempts::TenantId)
                            .string_len(63)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookAttempts::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(WebhookAttempts::DeliveryId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookAttempts::At).big_integer().not_null())
                    .col(ColumnDef::new(WebhookAttempts::StatusCode).integer().null())
                    .col(ColumnDef::new(WebhookAttempts::Error).text().null())
                    .col(
                        ColumnDef::new(WebhookAttempts::DurationMs)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(WebhookAttempts::Table)
                            .from_col(WebhookAttempts::DeliveryId)
                            .to_tbl(WebhookDeliveries::Table)
                            .to_col(WebhookDeliveries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_attempts_delivery")
                    .table(WebhookAttempts::Table)
                    .col(WebhookAttempts::DeliveryId)
                    .col(WebhookAttempts::At)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["webhook_attempts", "webhook_deliveries", "webhooks"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX audit_events_pending")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::FannedOutAt)
                    .to_owned(),
            )
            .await
    }
}
