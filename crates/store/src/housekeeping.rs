//! Removing rows whose purpose is over, so that tables of short-lived things do not grow with
//! every request an attacker (or a busy day) makes: counters past their windows, codes long
//! expired, revocations of tokens that have expired anyway, sessions past their lifetime, pending
//! upstream sign-ins, second-factor challenges and passkey ceremonies; and deleted tenants once
//! their retirement is over (`tenants::sweep_deleted`). Each is one indexed `DELETE`; several processes may sweep at once.

use crate::entity::{
    authorization_codes, mfa_challenges, revoked_access_tokens, sessions, throttles,
    upstream_logins, verification_codes, webauthn_ceremonies,
};
use crate::{Db, StoreError, to_millis};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

/// How long a row is kept after its last use: longer than any window that counts it (brute-force
/// counters and the per-account code limit look back a day).
const KEEP: Duration = Duration::hours(25);

/// Rows removed by one sweep, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub throttles: u64,
    pub verification_codes: u64,
    pub authorization_codes: u64,
    pub revoked_access_tokens: u64,
    pub sessions: u64,
    pub upstream_logins: u64,
    /// Sign-ins that never gave their second factor, and passkey ceremonies never finished.
    pub mfa_challenges: u64,
    pub webauthn_ceremonies: u64,
    /// Deleted tenants whose retirement is over: removed with anything written after deletion.
    pub tenants: u64,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.throttles
            + self.verification_codes
            + self.authorization_codes
            + self.revoked_access_tokens
            + self.sessions
            + self.upstream_logins
            + self.mfa_challenges
            + self.webauthn_ceremonies
            + self.tenants
    }
}

/// Deletes what is over at `now`.
pub async fn sweep(db: &Db, now: DateTime<Utc>) -> Result<Swept, StoreError> {
    let now_ms = to_millis(now);
    let old_ms = to_millis(now - KEEP);
    let throttles = throttles::Entity::delete_many()
        .filter(throttles::Column::UpdatedAt.lt(old_ms))
        .filter(
            Condition::any()
                .add(throttles::Column::LockedUntil.is_null())
                .add(throttles::Column::LockedUntil.lt(now_ms)),
        )
        .exec(&db.write)
        .await?
        .rows_affected;
    let verification_codes = verification_codes::Entity::delete_many()
        .filter(verification_codes::Column::CreatedAt.lt(old_ms))
        .filter(verification_codes::Column::ExpiresAt.lt(now_ms))
        .exec(&db.write)
        .await?
        .rows_affected;
    // Kept a day past expiry: a used code presented again within that time still revokes what
    // it issued (replay detection).
    let authorization_codes = authorization_codes::Entity::delete_many()
        .filter(authorization_codes::Column::ExpiresAt.lt(old_ms))
        .exec(&db.write)
        .await?
        .rows_affected;
    let revoked_access_tokens = revoked_access_tokens::Entity::delete_many()
        .filter(revoked_access_tokens::Column::ExpiresAt.lt(now_ms))
        .exec(&db.write)
        .await?
        .rows_affected;
    let sessions = sessions::Entity::delete_many()
        .filter(sessions::Column::ExpiresAt.lt(now_ms))
        .exec(&db.write)
        .await?
        .rows_affected;
    let upstream_logins = upstream_logins::Entity::delete_many()
        .filter(upstream_logins::Column::ExpiresAt.lt(old_ms))
        .exec(&db.write)
        .await?
        .rows_affected;
    let mfa_challenges = mfa_challenges::Entity::delete_many()
        .filter(mfa_challenges::Column::ExpiresAt.lt(now_ms))
        .exec(&db.write)
        .await?
        .rows_affected;
    let webauthn_ceremonies = webauthn_ceremonies::Entity::delete_many()
        .filter(webauthn_ceremonies::Column::ExpiresAt.lt(now_ms))
        .exec(&db.write)
        .await?
        .rows_affected;
    let tenants = crate::tenants::sweep_deleted(db, now).await?;
    Ok(Swept {
        tenants,
        mfa_challenges,
        webauthn_ceremonies,
        throttles,
        verification_codes,
        authorization_codes,
        revoked_access_tokens,
        sessions,
        upstream_logins,
    })
}
