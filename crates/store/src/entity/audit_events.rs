use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// The tenant the row belongs to (`tenants.id`).
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub occurred_at: i64,
    pub kind: String,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub user_id: Option<Uuid>,
    pub ip: Option<String>,
    pub detail: Json,
    /// When the event was handed to the webhooks (NULL: not yet; the outbox).
    pub fanned_out_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
