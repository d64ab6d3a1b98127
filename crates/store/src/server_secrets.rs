//! Secrets the server generates once and every process shares (the CSRF key). A secret is
//! inserted by the first process that needs it and never changed: two processes starting at once
//! both try to insert, one wins, and both read the winner's value.

use crate::entity::server_secrets;
use crate::{Db, StoreError, to_millis};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, EntityTrait};

/// The stored secret `name`; `candidate` is stored first when there is none yet.
pub async fn get_or_insert(
    db: &Db,
    name: &str,
    candidate: &str,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    server_secrets::Entity::insert(server_secrets::ActiveModel {
        name: Set(name.to_owned()),
        value: Set(candidate.to_owned()),
        created_at: Set(to_millis(now)),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(&db.write)
    .await?;
    server_secrets::Entity::find_by_id(name.to_owned())
        .one(&db.write)
        .await?
        .map(|s| s.value)
        .ok_or(StoreError::NotFound)
}
