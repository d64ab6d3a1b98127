//! Rate limits beyond brute-force protection (SPEC §8): accounts created per client IP, refused
//! client authentications at the token endpoint per client IP, and sampling of floods for the
//! audit log. IPv6 clients are counted by their /64 ([`crate::address_key`]).
//!
//! The counters live in the database (`throttles`), so every server process enforces the same
//! limits. The token endpoint is a hot path: a request that is not refused must not pay a database
//! read for a limit that almost never applies, so each process remembers for one second what it
//! last read of an address's counter (and updates it at once when it counts a failure itself). A
//! lock set by another process is therefore seen within a second; one set here, at once.

use crate::InternalError;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;
use store::{Clock, Db};

/// The limits (`[limits]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub signups_per_ip_per_hour: u32,
    pub token_failures_per_ip_per_hour: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            signups_per_ip_per_hour: 20,
            token_failures_per_ip_per_hour: 300,
        }
    }
}

const HOUR: Duration = Duration::hours(1);
/// Refused token requests are audited at most this often per client and address.
const AUDIT_INTERVAL: Duration = Duration::minutes(1);
/// How long a process trusts what it read of an address's token counter.
const CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(1);
/// Addresses remembered at most; beyond, the memory starts again (a flood of addresses then costs
/// one read each, never unbounded memory).
const CACHE_CAP: usize = 10_000;

/// What a counter counts, and for whom: the key it is stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter<'a> {
    /// Sign-ups from one client address.
    SignUps { ip: &'a str },
    /// Refused token requests from one client address.
    TokenFailures { ip: &'a str },
    /// Refused token requests of one client from one address, for the audit log.
    TokenFailureAudit { client_id: &'a str, ip: &'a str },
}

impl Counter<'_> {
    pub fn key(&self) -> String {
        match self {
            Counter::SignUps { ip } => format!("signup:ip:{}", crate::address_key(ip)),
            Counter::TokenFailures { ip } => {
                format!("token_failure:ip:{}", crate::address_key(ip))
            }
            Counter::TokenFailureAudit { client_id, ip } => {
                format!("token_failure_audit:{ip}:{client_id}")
            }
        }
    }
}

/// Too many requests; `retry_after` whole seconds (at least one) until the next is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many requests; try again in {retry_after} seconds")]
pub struct Limited {
    pub retry_after: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum RateError {
    #[error(transparent)]
    Limited(#[from] Limited),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

fn limited(until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<(), Limited> {
    match until.filter(|u| *u > now) {
        Some(until) => Err(Limited {
            retry_after: (until - now).num_seconds().max(1),
        }),
        None => Ok(()),
    }
}

/// Counts a sign-up from `ip` and refuses it when the address is over its hourly limit. The count
/// comes first, in one atomic update, so parallel sign-ups cannot all slip under the limit.
pub async fn count_sign_up(
    db: &Db,
    clock: &dyn Clock,
    limits: &RateLimits,
    ip: Option<&str>,
) -> Result<(), RateError> {
    let Some(ip) = ip else { return Ok(()) };
    let now = clock.now();
    let limit = limits.signups_per_ip_per_hour;
    let state =
        store::throttles::record_failure(db, &Counter::SignUps { ip }.key(), now, HOUR, |n, s| {
            (n > limit).then_some(s + HOUR)
        })
        .await
        .map_err(InternalError)?;
    limited(state.locked_until, now)?;
    Ok(())
}

/// Whether a refused token request from `ip` should be written to the audit log now, and with how
/// many refusals since the last event (at most one event a minute per client and address).
pub async fn sample_token_failure(
    db: &Db,
    clock: &dyn Clock,
    client_id: &str,
    ip: &str,
) -> Result<Option<u32>, InternalError> {
    let key = Counter::TokenFailureAudit { client_id, ip }.key();
    Ok(store::throttles::count_for_report(db, &key, clock.now(), AUDIT_INTERVAL).await?)
}

/// When a process last read an address's counter, and the lock it found.
type Seen = HashMap<String, (Instant, Option<DateTime<Utc>>)>;

/// The per-address limit on refused token requests, with a one-second memory per process.
#[derive(Debug)]
pub struct TokenFailureLimiter {
    limit: u32,
    seen: Mutex<Seen>,
}

impl TokenFailureLimiter {
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            limit: limits.token_failures_per_ip_per_hour,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn remembered(&self, ip: &str) -> Option<Option<DateTime<Utc>>> {
        let seen = self.seen.lock().ok()?;
        seen.get(&crate::address_key(ip))
            .filter(|(at, _)| at.elapsed() < CACHE_FOR)
            .map(|(_, until)| *until)
    }

    fn remember(&self, ip: &str, until: Option<DateTime<Utc>>) {
        if let Ok(mut seen) = self.seen.lock() {
            let key = crate::address_key(ip);
            if seen.len() >= CACHE_CAP && !seen.contains_key(&key) {
                seen.clear();
            }
            seen.insert(key, (Instant::now(), until));
        }
    }

    /// Refuses a token request from an address that has had too many refused in the last hour.
    pub async fn check(
        &self,
        db: &Db,
        clock: &dyn Clock,
        ip: Option<&str>,
    ) -> Result<(), RateError> {
        let Some(ip) = ip else { return Ok(()) };
        let now = clock.now();
        let until = match self.remembered(ip) {
            Some(until) => until,
            None => {
                let key = Counter::TokenFailures { ip }.key();
                let until = store::throttles::load(db, std::slice::from_ref(&key))
                    .await
                    .map_err(InternalError)?
                    .into_iter()
                    .find_map(|(_, t)| t.locked_until);
                self.remember(ip, until);
                until
            }
        };
        limited(until, now)?;
        Ok(())
    }

    /// Counts a refused token request from `ip`.
    pub async fn record(
        &self,
        db: &Db,
        clock: &dyn Clock,
        ip: Option<&str>,
    ) -> Result<(), InternalError> {
        let Some(ip) = ip else { return Ok(()) };
        let now = clock.now();
        let limit = self.limit;
        let key = Counter::TokenFailures { ip }.key();
        let state = store::throttles::record_failure(db, &key, now, HOUR, |n, s| {
            (n >= limit).then_some(s + HOUR)
        })
        .await?;
        self.remember(ip, state.locked_until);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::ManualClock;
    use store::testing::TestDatabase;

    #[tokio::test]
    async fn sign_ups_per_address_are_limited_per_hour() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let limits = RateLimits {
            signups_per_ip_per_hour: 3,
            ..RateLimits::default()
        };
        for _ in 0..3 {
            count_sign_up(&t.db, &clock, &limits, Some("192.0.2.1"))
                .await
                .expect("under the limit");
        }
        match count_sign_up(&t.db, &clock, &limits, Some("192.0.2.1")).await {
            Err(RateError::Limited(l)) => assert!(l.retry_after > 3500, "{l:?}"),
            other => panic!("{other:?}"),
        }
        count_sign_up(&t.db, &clock, &limits, Some("192.0.2.2"))
            .await
            .expect("another address");
        clock.advance(Duration::hours(1));
        count_sign_up(&t.db, &clock, &limits, Some("192.0.2.1"))
            .await
            .expect("a new hour");
    }

    #[tokio::test]
    async fn refused_token_requests_lock_the_address_until_the_hour_is_over() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let limiter = TokenFailureLimiter::new(&RateLimits {
            token_failures_per_ip_per_hour: 4,
            ..RateLimits::default()
        });
        for _ in 0..4 {
            limiter
                .check(&t.db, &clock, Some("192.0.2.7"))
                .await
                .expect("not yet");
            limiter
                .record(&t.db, &clock, Some("192.0.2.7"))
                .await
                .expect("count");
        }
        assert!(matches!(
            limiter.check(&t.db, &clock, Some("192.0.2.7")).await,
            Err(RateError::Limited(_))
        ));
        // Another process (a limiter with no memory) reads the same lock from the database.
        let other = TokenFailureLimiter::new(&RateLimits::default());
        assert!(matches!(
            other.check(&t.db, &clock, Some("192.0.2.7")).await,
            Err(RateError::Limited(_))
        ));
        limiter
            .check(&t.db, &clock, Some("192.0.2.8"))
            .await
            .expect("another address");
        clock.advance(Duration::hours(1));
        let fresh = TokenFailureLimiter::new(&RateLimits::default());
        fresh
            .check(&t.db, &clock, Some("192.0.2.7"))
            .await
            .expect("the hour is over");
    }

    #[tokio::test]
    async fn floods_are_sampled_once_a_minute_with_a_count() {
        let t = TestDatabase::create().await.expect("db");
        let clock = ManualClock::starting_now();
        let sample = || sample_token_failure(&t.db, &clock, "app", "192.0.2.9");
        assert_eq!(sample().await.expect("first"), Some(1));
        for _ in 0..5 {
            assert_eq!(sample().await.expect("within the minute"), None);
        }
        clock.advance(Duration::seconds(61));
        assert_eq!(sample().await.expect("next minute"), Some(6));
        assert_eq!(
            sample_token_failure(&t.db, &clock, "other", "192.0.2.9")
                .await
                .expect("per client"),
            Some(1)
        );
    }
}
