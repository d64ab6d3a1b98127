//! The audit log as readers see it: who did what to whom and when, newest first. Events are
//! written by the use cases themselves, in the transaction of the change they describe.

use crate::InternalError;
use store::{Db, Uuid};

pub use store::audit::{Actor, Event};

/// Events, newest first, optionally of one user and one type, before the event `before`.
pub async fn list(
    db: &Db,
    user_id: Option<Uuid>,
    kind: Option<&str>,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Event>, InternalError> {
    Ok(store::audit::list(db, user_id, kind, before, limit).await?)
}
