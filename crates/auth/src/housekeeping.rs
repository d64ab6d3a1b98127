//! The housekeeping sweep: every few minutes each server process removes the rows whose purpose
//! is over (see `store::housekeeping`). Idempotent, so several processes on one database may all
//! run it.

use std::sync::Arc;
use std::time::Duration;
use store::{Clock, Db};

/// How often a process sweeps.
pub const EVERY: Duration = Duration::from_secs(600);

/// Runs one sweep now; returns the rows removed.
pub async fn sweep(db: &Db, clock: &dyn Clock) -> Result<u64, crate::InternalError> {
    let swept = store::housekeeping::sweep(db, clock.now()).await?;
    if swept.total() > 0 {
        tracing::info!(?swept, "housekeeping removed rows that are over");
    }
    Ok(swept.total())
}

/// Sweeps every `every`, the first time one interval after start, for as long as the runtime runs.
pub fn spawn(db: Db, clock: Arc<dyn Clock>, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            ticks.tick().await;
            if let Err(e) = sweep(&db, clock.as_ref()).await {
                tracing::warn!(error = %e, "housekeeping sweep failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{CodePolicy, Purpose};
    use crate::rate_limits::{RateLimits, count_sign_up};
    use store::ManualClock;
    use store::testing::TestDatabase;

    #[tokio::test]
    async fn rows_whose_windows_are_over_go_and_live_ones_stay() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let limits = RateLimits::default();
        count_sign_up(&t.db, &clock, &limits, Some("192.0.2.1"))
            .await
            .expect("count");
        crate::codes::issue(
            &t.db,
            &clock,
            &CodePolicy::default(),
            Purpose::VerifyEmail,
            "old@example.com",
            None,
            None,
        )
        .await
        .expect("code");
        assert_eq!(
            sweep(&t.db, &clock).await.expect("sweep"),
            0,
            "all still live"
        );
        clock.advance(chrono::Duration::hours(26));
        count_sign_up(&t.db, &clock, &limits, Some("192.0.2.2"))
            .await
            .expect("a fresh counter");
        assert_eq!(sweep(&t.db, &clock).await.expect("sweep"), 2);
        assert_eq!(
            store::throttles::failures(&t.db, "signup:ip:192.0.2.2")
                .await
                .expect("q"),
            1,
            "the fresh counter stays"
        );
        assert!(
            store::verification_codes::latest(&t.db, "verify_email", "old@example.com")
                .await
                .expect("q")
                .is_none()
        );
    }
}
