use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mfa_factors")]
pub struct Model {
    /// The tenant the row belongs to (`tenants.id`).
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// `totp`, `recovery_codes` or `passkey`.
    pub kind: String,
    pub name: String,
    /// An authenticator app's shared secret (base32); never shown after enrolment.
    pub secret: Option<String>,
    /// Kind-specific JSON (recovery codes: their hashes and when each was used).
    pub data: String,
    /// The last TOTP time step accepted: a code is accepted once.
    pub last_step: Option<i64>,
    pub confirmed_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
