//! Passwords imported as foreign hashes (SPEC §13) sign in once with the old hash, which is then
//! replaced by Argon2id with the current parameters; a wrong password never matches. The hashes
//! were made by Python (hashlib, the `bcrypt` and `argon2-cffi` packages), independently of the
//! code under test. Runs on SQLite and (with `TESSERA_TEST_DATABASE_URL`) PostgreSQL.

use auth::accounts::{LoginAttempt, authenticate};
use auth::brute_force::BruteForcePolicy;
use auth::{Argon2Params, PasswordHasher};
use store::accounts::{IdentityKind, NewAccount, NewIdentity};
use store::audit::{Actor, NewEvent};
use store::testing::TestDatabase;
use store::{Clock, ManualClock, Uuid};

const PASSWORD: &str = "correct horse battery";
const VECTORS: [(&str, &str); 9] = [
    (
        "pbkdf2-phc",
        "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0MTIzNA$wheZis4WMGFy+7bhdev/G/YeD76DK1WUFiU5ngBGWLk",
    ),
    (
        "pbkdf2-passlib",
        "$pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0MTIzNA$wheZis4WMGFy.7bhdev/G/YeD76DK1WUFiU5ngBGWLk",
    ),
    (
        "scrypt",
        "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0MTIzNA$muQK1ETLjw6mJQBAf4Gt+N1mN8zU7SEaIoo+ASVQ2Hk",
    ),
    (
        "scrypt-crypt",
        "$7$86..../....SodiumChloride$3dyMxy7MDs6uwYMIC6AtJxPU7um1Iy3.w.BBrB.2rr2",
    ),
    (
        "bcrypt-2b",
        "$2b$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS",
    ),
    (
        "bcrypt-2y",
        "$2y$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS",
    ),
    (
        "bcrypt-2a",
        "$2a$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS",
    ),
    (
        "argon2i",
        "$argon2i$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$wfB0UDJ/dt+zyy1AX5QBwptsDRwMkQasPbnPtj7P+QQ",
    ),
    (
        "argon2id-other-cost",
        "$argon2id$v=19$m=2048,t=1,p=2$c2FsdHNhbHRzYWx0MTIzNA$KHfCJ9rTRk1/FDpwe9lOcWYC/vx/hwGDFxxo/3+4I4k",
    ),
];

fn attempt(email: &str, password: &str) -> LoginAttempt {
    LoginAttempt {
        login_id: email.to_owned(),
        password: password.to_owned(),
        ip: Some("192.0.2.4".into()),
        enabled: Default::default(),
    }
}

#[tokio::test]
async fn an_imported_hash_signs_in_once_then_argon2id_takes_over() {
    let t = TestDatabase::create().await.expect("db");
    let clock = ManualClock::starting_now();
    let hasher = PasswordHasher::new(Argon2Params {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    })
    .expect("hasher");
    let policy = BruteForcePolicy::default();
    let current = hasher.hash(PASSWORD).expect("hash");
    assert!(!hasher.needs_rehash(&current));
    for (name, hash) in VECTORS {
        let email = format!("{name}@example.com");
        let user_id = Uuid::now_v7();
        store::accounts::create_account(
            &t.db,
            NewAccount {
                user_id,
                identities: vec![NewIdentity {
                    kind: IdentityKind::Email,
                    value: email.clone(),
                    verified: true,
                }],
                password_hash: Some(hash.to_owned()),
                standard_attributes: serde_json::json!({}),
                custom_attributes: serde_json::json!({}),
                avatar_seed: "seed".into(),
                external_id: None,
                disabled: false,
            },
            clock.now(),
            NewEvent::new("user.imported", Actor::Cli).user(user_id),
        )
        .await
        .expect("account");
        assert!(hasher.needs_rehash(hash), "{name}");
        assert!(
            authenticate(
                &t.db,
                &clock,
                &hasher,
                &policy,
                attempt(&email, "wrong password")
            )
            .await
            .is_err(),
            "{name}: a wrong password"
        );
        assert_eq!(
            store::accounts::password_hash(&t.db, user_id)
                .await
                .expect("q")
                .as_deref(),
            Some(hash),
            "{name}: a failed sign-in changes nothing"
        );
        let id = authenticate(&t.db, &clock, &hasher, &policy, attempt(&email, PASSWORD))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(id, user_id);
        let now = store::accounts::password_hash(&t.db, user_id)
            .await
            .expect("q")
            .expect("a hash");
        assert!(now.starts_with("$argon2id$"), "{name}: {now}");
        assert!(!hasher.needs_rehash(&now), "{name}: the current parameters");
        assert!(hasher.verify(PASSWORD, &now));
        // The new hash signs in; the old one is gone.
        authenticate(&t.db, &clock, &hasher, &policy, attempt(&email, PASSWORD))
            .await
            .unwrap_or_else(|e| panic!("{name} again: {e:?}"));
        assert_ne!(now, hash);
    }
}
