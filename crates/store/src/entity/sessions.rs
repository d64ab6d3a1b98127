use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// The tenant the row belongs to (`tenants.id`).
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub token_hash: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub auth_time: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// RFC 8176 methods the session authenticated with, space-separated (`pwd`, `pwd otp`).
    pub amr: String,
    /// When the session last proved a second factor.
    pub mfa_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
