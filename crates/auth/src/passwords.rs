//! Password hashing (Argon2id) and the password policy.

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};

/// Argon2id cost parameters. The defaults are OWASP's minimum: m = 19 MiB, t = 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("Use at least {0} characters.")]
    TooShort(usize),
    #[error("Use at most {0} characters.")]
    TooLong(usize),
}

/// What a new password must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 256,
        }
    }
}

impl PasswordPolicy {
    /// Checks a new password. Length counts characters, not bytes.
    pub fn check(&self, password: &str) -> Result<(), PasswordError> {
        let len = password.chars().count();
        if len < self.min_length {
            Err(PasswordError::TooShort(self.min_length))
        } else if len > self.max_length {
            Err(PasswordError::TooLong(self.max_length))
        } else {
            Ok(())
        }
    }
}

/// Hashes and verifies passwords with Argon2id.
///
/// Hashing is deliberately slow (tens of milliseconds): callers on an async runtime run it on a
/// blocking thread.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    /// The threads that run Argon2, one per core. Each run holds `memory_kib` of memory; on the
    /// async runtime's blocking pool a burst of logins spreads over many threads, and each
    /// thread's allocator arena keeps its share (hundreds of megabytes). A fixed set of threads
    /// bounds memory to cores × `memory_kib` and queues the rest.
    pool: std::sync::Arc<HashPool>,
    /// A hash of a random password, verified against when the login ID is unknown so that an
    /// unknown login ID takes as long as a wrong password.
    decoy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

/// The Argon2 parameters are out of range.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid Argon2 parameters: {0}")]
pub struct InvalidParams(String);

impl PasswordHasher {
    pub fn new(params: Argon2Params) -> Result<Self, InvalidParams> {
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| InvalidParams(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        let decoy = crate::secrets::generate_secret();
        let decoy_hash = argon2
            .hash_password(decoy.as_bytes())
            .map_err(|e| InvalidParams(e.to_string()))?
            .to_string();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            argon2,
            decoy_hash,
            pool: std::sync::Arc::new(HashPool::new(cores)),
        })
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, InvalidParams> {
        self.argon2
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| InvalidParams(e.to_string()))
    }

    /// Whether `password` matches `stored`: an Argon2 PHC string, or a hash imported from
    /// another system (`foreign_hashes`). A malformed stored hash never matches.
    pub fn verify(&self, password: &str, stored: &str) -> bool {
        match crate::foreign_hashes::kind_of(stored) {
            Some(crate::foreign_hashes::HashKind::Argon2) => self
                .argon2
                .verify_password(password.as_bytes(), stored)
                .is_ok(),
            Some(_) => crate::foreign_hashes::verify(password, stored),
            None => false,
        }
    }

    /// Whether a stored hash is to be replaced at the next successful sign-in: anything but
    /// Argon2id with the current parameters (an imported hash, or older parameters).
    pub fn needs_rehash(&self, stored: &str) -> bool {
        // `$argon2id$v=19$m=…,t=…,p=…$salt$hash`: the first four fields name algorithm and cost.
        !stored
            .split('$')
            .take(4)
            .eq(self.decoy_hash.split('$').take(4))
    }

    /// Spends the time of one verification and fails; for unknown login IDs.
    pub fn verify_decoy(&self, password: &str) -> bool {
        let _ = self.verify(password, &self.decoy_hash);
        false
    }
}

impl PasswordHasher {
    /// [`PasswordHasher::hash`] on a blocking thread, off the async runtime.
    pub async fn hash_blocking(&self, password: String) -> Result<String, InvalidParams> {
        let hasher = self.clone();
        self.pool
            .run(move || hasher.hash(&password))
            .await
            .ok_or_else(|| InvalidParams("the hashing threads are gone".into()))?
    }

    /// Verifies on a blocking thread; with no stored hash, verifies against the decoy so that the
    /// answer takes the same time.
    pub async fn verify_blocking(&self, password: String, stored: Option<String>) -> bool {
        let hasher = self.clone();
        self.pool
            .run(move || match stored {
                Some(hash) => hasher.verify(&password, &hash),
                None => hasher.verify_decoy(&password),
            })
            .await
            .unwrap_or(false)
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads for CPU- and memory-heavy password work.
struct HashPool {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl HashPool {
    fn new(threads: usize) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            // Every hasher is gone.
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self {
            jobs: std::sync::Mutex::new(tx),
        }
    }

    /// Runs `f` on a pool thread; `None` if the pool is gone.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        self.jobs.lock().ok()?.send(job).ok()?;
        result.await.ok()
    }
}

/// Why a password was not set.
#[derive(Debug, thiserror::Error)]
pub enum SetPasswordError {
    /// The current password (asked for a change from the settings page) is not right.
    #[error("This is not your current password.")]
    WrongCurrentPassword,
    /// The new password breaks the policy.
    #[error(transparent)]
    Policy(#[from] PasswordError),
    /// No such user.
    #[error("no such user")]
    NoSuchUser,
    /// The code that was to prove the reset was refused.
    #[error(transparent)]
    Code(#[from] crate::verification::ConfirmError),
    #[error(transparent)]
    Internal(#[from] crate::InternalError),
}

fn hash_failed(e: InvalidParams) -> SetPasswordError {
    SetPasswordError::Internal(crate::InternalError(store::StoreError::Corrupt(e.0)))
}

/// The user changes their password from a signed-in session: the current password is checked,
/// then the new one set; every other session ends (with its tokens), in one transaction with the
/// audit event.
#[allow(clippy::too_many_arguments)]
pub async fn change(
    db: &store::Db,
    clock: &dyn store::Clock,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    session: &store::sessions::Session,
    current: String,
    new: String,
    ip: Option<String>,
) -> Result<(), SetPasswordError> {
    let stored = store::accounts::password_hash(db, session.user_id)
        .await
        .map_err(crate::InternalError)?;
    if !hasher.verify_blocking(current, stored).await {
        return Err(SetPasswordError::WrongCurrentPassword);
    }
    policy.check(&new)?;
    let hash = hasher.hash_blocking(new).await.map_err(hash_failed)?;
    let event = store::audit::NewEvent::new(
        "password.changed",
        store::audit::Actor::User(session.user_id),
    )
    .user(session.user_id)
    .ip(ip);
    store::accounts::reset_password(
        db,
        session.user_id,
        &hash,
        Some(session.id),
        None,
        clock.now(),
        event,
    )
    .await
    .map_err(crate::InternalError)?;
    Ok(())
}

/// A password reset proven by a code sent to `email` (SPEC §3, §8). The new password is checked
/// first (a refused password does not use the code up), then the code; the password is set, the
/// address marked verified (the code proves it), the code used up and every session of the user
/// ended — except `keep`, the session of this very browser when it is the same user's — in one
/// transaction with the audit event. Returns the user.
#[allow(clippy::too_many_arguments)]
pub async fn reset_with_code(
    db: &store::Db,
    clock: &dyn store::Clock,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    codes: &crate::codes::CodePolicy,
    brute: &crate::brute_force::BruteForcePolicy,
    email: &str,
    typed: &str,
    new: String,
    keep: Option<&store::sessions::Session>,
    ip: Option<&str>,
) -> Result<store::Uuid, SetPasswordError> {
    use crate::verification::{Attempt, ConfirmError, confirm};
    policy.check(&new)?;
    let attempt = Attempt {
        purpose: crate::codes::Purpose::ResetPassword,
        target: email,
        typed,
        user_id: None,
        ip,
    };
    let proof = confirm(db, clock, codes, brute, &attempt).await?;
    let Some(user_id) = proof.user_id else {
        return Err(ConfirmError::Code(crate::codes::CheckError::NoCode).into());
    };
    let hash = hasher.hash_blocking(new).await.map_err(hash_failed)?;
    let keep = keep.filter(|s| s.user_id == user_id).map(|s| s.id);
    let event = store::audit::NewEvent::new("password.reset", store::audit::Actor::User(user_id))
        .user(user_id)
        .ip(ip.map(str::to_owned))
        .detail(serde_json::json!({ "via": "email_code" }));
    store::accounts::reset_password(
        db,
        user_id,
        &hash,
        keep,
        Some((email, &proof.spend)),
        clock.now(),
        event,
    )
    .await
    .map_err(crate::verification::spent_or)?;
    // The address is proven: its sign-in lock (if a guesser caused one) goes too.
    let login = crate::brute_force::Subject::LoginId {
        kind: store::accounts::IdentityKind::Email,
        value: email,
    };
    crate::brute_force::record_success(db, &login).await?;
    Ok(user_id)
}

/// An admin sets a user's password: the policy holds for admins too; every session of the user
/// ends.
pub async fn set_by_admin(
    db: &store::Db,
    clock: &dyn store::Clock,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    user_id: store::Uuid,
    password: String,
    admin_key: store::Uuid,
) -> Result<(), SetPasswordError> {
    policy.check(&password)?;
    if store::accounts::find_user(db, user_id)
        .await
        .map_err(crate::InternalError)?
        .is_none()
    {
        return Err(SetPasswordError::NoSuchUser);
    }
    let hash = hasher.hash_blocking(password).await.map_err(hash_failed)?;
    let event =
        store::audit::NewEvent::new("password.set", store::audit::Actor::AdminKey(admin_key))
            .user(user_id);
    store::accounts::reset_password(db, user_id, &hash, None, None, clock.now(), event)
        .await
        .map_err(crate::InternalError)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .expect("params")
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let h = cheap();
        let a = h.hash("correct horse").expect("hash");
        let b = h.hash("correct horse").expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_ne!(a, b, "each hash has its own salt");
        assert!(h.verify("correct horse", &a));
        assert!(!h.verify("wrong horse", &a));
        assert!(!h.verify("correct horse", "not a hash"));
        assert!(!h.verify_decoy("anything"));
    }

    #[test]
    fn default_params_meet_owasp() {
        let p = Argon2Params::default();
        assert!(p.memory_kib >= 19 * 1024 && p.iterations >= 2 && p.parallelism >= 1);
        assert!(PasswordHasher::new(p).is_ok());
        assert!(
            PasswordHasher::new(Argon2Params {
                memory_kib: 1,
                iterations: 1,
                parallelism: 1
            })
            .is_err()
        );
    }

    #[test]
    fn policy_counts_characters() {
        let p = PasswordPolicy::default();
        assert_eq!(p.check("short"), Err(PasswordError::TooShort(8)));
        assert_eq!(p.check("ééééééé"), Err(PasswordError::TooShort(8)));
        assert!(p.check("éééééééé").is_ok());
        assert_eq!(p.check(&"x".repeat(257)), Err(PasswordError::TooLong(256)));
        assert!(p.check(&"x".repeat(256)).is_ok());
    }
}
