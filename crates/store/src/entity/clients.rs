use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    /// The tenant the row belongs to (`tenants.id`).
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub is_public: bool,
    pub third_party: bool,
    pub redirect_uris: Json,
    pub post_logout_redirect_uris: Json,
    pub backchannel_logout_uri: Option<String>,
    pub grant_types: Json,
    pub scopes: Json,
    /// Codes only for sessions that proved a second factor.
    pub require_mfa: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
