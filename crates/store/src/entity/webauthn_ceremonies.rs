use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webauthn_ceremonies")]
pub struct Model {
    /// The tenant the row belongs to (`tenants.id`).
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// The user it is for (none for a password-less sign-in, until the passkey names one).
    pub user_id: Option<Uuid>,
    /// `register`, `authenticate` or `discover`.
    pub purpose: String,
    /// The server's half of the ceremony (JSON).
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
