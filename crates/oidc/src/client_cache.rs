//! Registered clients kept in memory for a few seconds, so the token endpoint does not read the
//! same client row on every request.
//!
//! A change made through this process (Admin API update, secret rotation, deletion) drops the
//! entry at once; a change made by another process (`tessera client delete`, a second server)
//! reaches this one within [`TTL`]. Tokens themselves are never cached here: refresh tokens,
//! grants and users are checked in the database on every use, so a revoked grant or a disabled
//! user stops working at once whatever this cache holds. Unknown client ids are not cached (random
//! ids could otherwise fill it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::clients::Client;
use store::{Db, StoreError};

/// How long a client read from the database is used without reading it again.
pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; past that the stale ones go, and if none were, all of them.
const LIMIT: usize = 1_000;

#[derive(Debug, Default)]
pub struct ClientCache {
    entries: Mutex<HashMap<String, (Instant, Arc<Client>)>>,
}

impl ClientCache {
    /// The client with `client_id`, from memory when read less than [`TTL`] ago.
    pub async fn find(&self, db: &Db, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        let now = Instant::now();
        if let Ok(entries) = self.entries.lock()
            && let Some((read_at, client)) = entries.get(client_id)
            && now.duration_since(*read_at) < TTL
        {
            return Ok(Some(client.clone()));
        }
        let Some(client) = store::clients::find_by_client_id(db, client_id).await? else {
            self.forget(client_id);
            return Ok(None);
        };
        let client = Arc::new(client);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= LIMIT {
                entries.retain(|_, (read_at, _)| now.duration_since(*read_at) < TTL);
                if entries.len() >= LIMIT {
                    entries.clear();
                }
            }
            entries.insert(client_id.to_owned(), (now, client.clone()));
        }
        Ok(Some(client))
    }

    /// Drops a client changed or deleted by this process.
    pub fn forget(&self, client_id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(client_id);
        }
    }
}
