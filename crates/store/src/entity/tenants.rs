use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// The tenant's settings, a JSON object (`store::tenants::TenantSettings`).
    pub settings: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set when the tenant was deleted; the row goes once the sweep has removed stragglers.
    pub deleted_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
