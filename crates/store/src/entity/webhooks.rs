use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    /// The tenant the row belongs to (`tenants.id`).
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub url: String,
    /// The event types sent, a JSON list (`["*"]` for all).
    pub events: String,
    /// An admin key whose own changes are not sent.
    pub exclude_actor: Option<Uuid>,
    /// The signing secret, encrypted (`webhooks::seal`).
    pub secret: String,
    /// Set for webhooks declared in `[[webhook]]` (their URL), unique per tenant.
    pub config_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
