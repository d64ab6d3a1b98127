//! Upgrading a database from before tenants: migration `m20261202_000011_tenants` must turn it into
//! the `default` tenant with nothing lost. Run on SQLite and (with `TESSERA_TEST_DATABASE_URL`) on
//! PostgreSQL.
//!
//! Every other store test starts from a fully migrated, empty database, so none of them exercises
//! what an operator upgrading a running server gets: migration 000011 adding `tenant_id` to tables
//! that already hold rows, moving unique indexes from global to per tenant, and rebuilding three
//! tables with the tenant in their primary key (a copy, a drop and a rename: the one place where a
//! mistake silently loses data). So this test:
//!
//! 1. migrates an empty database to version 10 (the last one before tenants);
//! 2. fills every table that exists at version 10 — the test lists them and checks the list
//!    against the database's catalogue, so a table it forgot fails it — with realistic rows,
//!    written with raw SQL in foreign-key order, in the shapes the store itself writes (UUIDs bound
//!    as UUIDs, JSON as JSON, times as Unix milliseconds, secrets as base64url SHA-256 hashes as
//!    `auth::secrets::hash_secret` computes them);
//! 3. applies the remaining migrations;
//! 4. checks that every row is still there, that every tenant-scoped row belongs to `default` (on a
//!    NOT NULL `tenant_id`, without a column default on PostgreSQL), that the `default` tenant
//!    exists, and that the store's public API, on a handle of the default tenant, reads every kind
//!    of row back and decodes it;
//! 5. creates a second tenant and checks that it sees none of those rows, and that login IDs,
//!    client ids and custom attribute names are unique per tenant: the same ones can be used again
//!    in the new tenant, but still not twice in `default`.

use crate::accounts::{self, IdentityKind, NewAccount, NewIdentity};
use crate::audit::{Actor, NewEvent};
use crate::clients::{self, Client};
use crate::profile_schema::{self, StoredCustomAttribute, StoredSchema};
use crate::testing::TestDatabase;
use crate::{Clock, DEFAULT_TENANT, Db, DbSettings, ManualClock, StoreError, to_millis};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use uuid::Uuid;

/// The migrations before tenants.
const BEFORE_TENANTS: u32 = 10;

/// Every table at version 10, parents before children.
const V10_TABLES: [&str; 23] = [
    "users",
    "profiles",
    "identities",
    "password_credentials",
    "sessions",
    "clients",
    "signing_keys",
    "admin_keys",
    "audit_events",
    "grants",
    "authorization_codes",
    "refresh_tokens",
    "revoked_access_tokens",
    "consents",
    "standard_attribute_access",
    "custom_attributes",
    "profile_schema_version",
    "verification_codes",
    "throttles",
    "images",
    "profile_search",
    "upstream_logins",
    "server_secrets",
];

/// The one table of version 10 that stays server-wide (the CSRF key).
const SERVER_WIDE: &str = "server_secrets";
/// The table of derived data (the user search index), rebuilt at start-up.
const DERIVED: &str = "profile_search";

// Secrets as the server stores them: base64url (no padding) SHA-256 of the secret.
/// SHA-256 of the session cookie value `sess_Yq3XfKz9vT1bN0cW`.
const SESSION_HASH: &str = "y5aTlY-YEd-FTj2zSwitlCScYcPljFVda2nyaJTgANU";
/// SHA-256 of the refresh token `rt_8mPqL2sVx0aD7eRk`.
const REFRESH_HASH: &str = "-PDwm2E-QCLof3nHa5pLo6e3urZH-sBTJjgIYotfwjE";
/// SHA-256 of the authorization code `code_Hn4Tz1wQe6uBvY0p`.
const CODE_HASH: &str = "czoShvdGheS6PgnZcpBof9yULwNJeqG41z1UCo1P0QY";
/// SHA-256 of the Admin API key `tk_admin_Jx7cM2nR9sL4`.
const ADMIN_KEY_HASH: &str = "epzinXCqJ1tT3W1BdHuZTdt_4nRTipQSDki7mhkk8Ig";
/// SHA-256 of the client secret `cs_Wg5Yb8tNq1vZ3kP6`.
const CLIENT_SECRET_HASH: &str = "144ZnC3exTzkf2B1ZcKkfX7oTXxlV_rqzYzW1kVFLrw";
/// SHA-256 of the upstream `state` `state_Rb2Lm8Qx4Tc7`.
const STATE_HASH: &str = "ExoG-_VR1wjgIUhCuB0G9Ab3POuEQ02Mr0FEEp_t9KE";
/// SHA-256 of the browser binding cookie `browser_Ua9Pd3Kv6Ns1`.
const BROWSER_HASH: &str = "gstsZkQaY1GVFydX3yU5h_B8MKLZE05WCsKeW8lyaJI";
/// SHA-256 of `verify_email\0ada@example.org\0482913` (`auth::codes::hash_code`).
const VERIFICATION_HASH: &str = "7Ew7k4k5ICohtjJ0P4IuwReQ6w8tNYraG2_RM9VcN5c";

/// The cover image: a content-addressed id and two renditions with their hex SHA-256 digests.
const IMAGE_ID: &str = "b43ab775885f01dd14da9ed4b744188b0a27843ca18fec401417af60a05592dd";
const COVER_600: &[u8] = b"\x89PNG\r\n\x1a\ncover-600";
const COVER_600_DIGEST: &str = "f71c72ce890c45d4b74343135d8651bf1b88f3a3d0f51557fab72d8899996d9d";
const COVER_1200: &[u8] = b"\x89PNG\r\n\x1a\ncover-1200";
const COVER_1200_DIGEST: &str = "b6f48caee8e9eb914b9cccb17453c38b3bcad9644e55ee86030a654ce06a134f";

const ADA_EMAIL: &str = "ada@example.org";
const CLIENT_ID: &str = "photos";
const LIVE_JTI: &str = "01JF3Q2W8ZK4T6M9X1B5C7D0EA";
const REVOKED_JTI: &str = "01JF3Q2W8ZK4T6M9X1B5C7D0EB";
const LOGIN_THROTTLE: &str = "login:email:ada@example.org";
const IP_THROTTLE: &str = "ip:192.0.2.10";
const CSRF_SECRET: &str = "k3Jq9vX2pL7sN1wB4yT8mC5rZ0aF6hD2";

/// Removes the SQLite test directory when the test ends (declared first, so dropped last).
struct RemoveDir(Option<PathBuf>);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The ids of what [`fill_version_10`] wrote.
struct Fixture {
    ada: Uuid,
    bob: Uuid,
    session: Uuid,
    grant: Uuid,
    department: Uuid,
    admin_key: Uuid,
    signing_kid: String,
}

/// `INSERT INTO table (columns) VALUES (placeholders)` with bound values, in the backend's
/// placeholder syntax (`?` on SQLite, `$n` on PostgreSQL).
async fn insert(conn: &DatabaseConnection, table: &str, row: Vec<(&str, Value)>) {
    let backend = conn.get_database_backend();
    let columns: Vec<String> = row.iter().map(|(c, _)| format!("\"{c}\"")).collect();
    let placeholders: Vec<String> = (1..=row.len())
        .map(|i| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        })
        .collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        placeholders.join(", ")
    );
    let values: Vec<Value> = row.into_iter().map(|(_, v)| v).collect();
    conn.execute_raw(Statement::from_sql_and_values(backend, &sql, values))
        .await
        .unwrap_or_else(|e| panic!("insert into {table}: {e}"));
}

fn v(x: impl Into<Value>) -> Value {
    x.into()
}

fn null_millis() -> Value {
    Option::<i64>::None.into()
}

/// A single `n` column of a query (`SELECT COUNT(*) AS n …`).
async fn number(conn: &impl ConnectionTrait, sql: &str) -> i64 {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get::<i64>("", "n")
        .unwrap_or_else(|e| panic!("{sql}: column n: {e}"))
}

/// Rows per table of `tables`.
async fn counts(conn: &impl ConnectionTrait, tables: &[&str]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for table in tables {
        let n = number(conn, &format!("SELECT COUNT(*) AS n FROM {table}")).await;
        out.insert((*table).to_owned(), n);
    }
    out
}

/// The database's own tables (not sea-orm-migration's bookkeeping), from its catalogue.
async fn catalogue(conn: &impl ConnectionTrait) -> BTreeSet<String> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    conn.query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("list the tables")
        .iter()
        .map(|r| r.try_get::<String>("", "name").expect("table name"))
        .filter(|name| name != "seaql_migrations")
        .collect()
}

/// Writes realistic rows into every table of version 10 with raw SQL, parents first: two users
/// (Ada, active with a password, a session, a grant, tokens, a consent, a cover image, a pending
/// verification code and upstream sign-in; Bob, disabled, username only), a confidential
/// third-party client, a signing key, an Admin API key, audit events, a customised profile schema,
/// throttle counters and the CSRF secret.
async fn fill_version_10(conn: &DatabaseConnection, clock: &ManualClock) -> Fixture {
    let now = to_millis(clock.now());
    let minute = 60_000;
    let day = 24 * 60 * minute;
    let ada = Uuid::now_v7();
    let bob = Uuid::now_v7();
    let session = Uuid::now_v7();
    let client_row = Uuid::now_v7();
    let grant = Uuid::now_v7();
    let department = Uuid::now_v7();
    let admin_key = Uuid::now_v7();
    let signing_kid = "k-2026-12-01-es256".to_owned();
    let cover = format!("https://id.example.org/images/{IMAGE_ID}");

    for (user, created, disabled) in [
        (ada, now - 30 * day, None),
        (bob, now - 20 * day, Some(now - day)),
    ] {
        insert(
            conn,
            "users",
            vec![
                ("id", v(user)),
                ("created_at", v(created)),
                ("last_login_at", v(Some(now - minute))),
                ("disabled_at", v(disabled)),
            ],
        )
        .await;
    }
    insert(
        conn,
        "profiles",
        vec![
            ("user_id", v(ada)),
            (
                "standard",
                v(serde_json::json!({
                    "name": "Ada Lovelace",
                    "given_name": "Ada",
                    "family_name": "Lovelace",
                    "locale": "en-GB",
                })),
            ),
            (
                "custom",
                v(serde_json::json!({ department.to_string(): "R&D" })),
            ),
            ("avatar_seed", v("9c1f4e2a7b3d8e60")),
            ("updated_at", v(now - day)),
            ("cover", v(Some(cover.clone()))),
        ],
    )
    .await;
    insert(
        conn,
        "profiles",
        vec![
            ("user_id", v(bob)),
            ("standard", v(serde_json::json!({ "nickname": "Bob" }))),
            ("custom", v(serde_json::json!({}))),
            ("avatar_seed", v("51d0aa93c6e2f774")),
            ("updated_at", v(now - 20 * day)),
            ("cover", v(Option::<String>::None)),
        ],
    )
    .await;
    for (user, kind, value, verified, created) in [
        (
            ada,
            "email",
            ADA_EMAIL,
            Some(now - 30 * day),
            now - 30 * day,
        ),
        (ada, "username", "ada_l", None, now - 29 * day),
        (bob, "username", "bob", None, now - 20 * day),
    ] {
        insert(
            conn,
            "identities",
            vec![
                ("id", v(Uuid::now_v7())),
                ("user_id", v(user)),
                ("kind", v(kind)),
                ("value", v(value)),
                ("verified_at", v(verified)),
                ("created_at", v(created)),
            ],
        )
        .await;
    }
    insert(
        conn,
        "password_credentials",
        vec![
            ("user_id", v(ada)),
            (
                "hash",
                v("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$Wb1tVh8nJ0kqXx7m3QeE2w"),
            ),
            ("created_at", v(now - 30 * day)),
            ("updated_at", v(now - 30 * day)),
        ],
    )
    .await;
    insert(
        conn,
        "sessions",
        vec![
            ("id", v(session)),
            ("user_id", v(ada)),
            ("token_hash", v(SESSION_HASH)),
            ("created_at", v(now - minute)),
            ("last_used_at", v(now)),
            ("expires_at", v(now + 14 * day)),
            ("auth_time", v(now - minute)),
            ("ip", v(Some("192.0.2.10"))),
            (
                "user_agent",
                v(Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")),
            ),
        ],
    )
    .await;
    insert(
        conn,
        "clients",
        vec![
            ("id", v(client_row)),
            ("client_id", v(CLIENT_ID)),
            ("name", v("Photos")),
            ("secret_hash", v(Some(CLIENT_SECRET_HASH))),
            ("is_public", v(false)),
            ("third_party", v(true)),
            (
                "redirect_uris",
                v(serde_json::json!(["https://photos.example.net/callback"])),
            ),
            (
                "post_logout_redirect_uris",
                v(serde_json::json!(["https://photos.example.net/"])),
            ),
            (
                "backchannel_logout_uri",
                v(Some("https://photos.example.net/logout")),
            ),
            (
                "grant_types",
                v(serde_json::json!(["authorization_code", "refresh_token"])),
            ),
            (
                "scopes",
                v(serde_json::json!([
                    "openid",
                    "profile",
                    "email",
                    "offline_access"
                ])),
            ),
            ("created_at", v(now - 25 * day)),
            ("updated_at", v(now - 25 * day)),
        ],
    )
    .await;
    insert(
        conn,
        "signing_keys",
        vec![
            ("kid", v(signing_kid.as_str())),
            ("alg", v("ES256")),
            (
                "private_key",
                v("MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgd2lsbC1uZXZlci1iZS11c2Vk"),
            ),
            (
                "public_jwk",
                v(serde_json::json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                    "kid": signing_kid,
                    "alg": "ES256",
                    "use": "sig",
                })),
            ),
            ("created_at", v(now - 25 * day)),
            ("retired_at", null_millis()),
            ("expires_at", null_millis()),
        ],
    )
    .await;
    insert(
        conn,
        "admin_keys",
        vec![
            ("id", v(admin_key)),
            ("name", v("provisioning")),
            ("key_hash", v(ADMIN_KEY_HASH)),
            ("created_at", v(now - 25 * day)),
            ("last_used_at", v(Some(now - day))),
            ("revoked_at", null_millis()),
        ],
    )
    .await;
    for (kind, actor_type, actor_id, user, detail) in [
        (
            "client.created",
            "cli",
            None,
            None,
            serde_json::json!({ "client_id": CLIENT_ID }),
        ),
        (
            "user.signed_up",
            "user",
            Some(ada.to_string()),
            Some(ada),
            serde_json::json!({}),
        ),
        (
            "login.succeeded",
            "user",
            Some(ada.to_string()),
            Some(ada),
            serde_json::json!({ "method": "password" }),
        ),
    ] {
        insert(
            conn,
            "audit_events",
            vec![
                ("id", v(Uuid::now_v7())),
                ("occurred_at", v(now - minute)),
                ("kind", v(kind)),
                ("actor_type", v(actor_type)),
                ("actor_id", v(actor_id)),
                ("user_id", v(user)),
                ("ip", v(Some("192.0.2.10"))),
                ("detail", v(detail)),
            ],
        )
        .await;
    }
    insert(
        conn,
        "grants",
        vec![
            ("id", v(grant)),
            ("user_id", v(ada)),
            ("client_id", v(CLIENT_ID)),
            ("session_id", v(Some(session))),
            ("scope", v("openid profile email offline_access")),
            (
                "claims",
                v(Some(serde_json::json!({ "userinfo": { "email": null } }))),
            ),
            ("auth_time", v(now - minute)),
            ("created_at", v(now - minute)),
            ("revoked_at", null_millis()),
        ],
    )
    .await;
    // A code approved in the session and not redeemed yet.
    insert(
        conn,
        "authorization_codes",
        vec![
            ("code_hash", v(CODE_HASH)),
            ("client_id", v(CLIENT_ID)),
            ("user_id", v(ada)),
            ("session_id", v(Some(session))),
            ("redirect_uri", v("https://photos.example.net/callback")),
            ("scope", v("openid profile")),
            ("claims", v(Option::<serde_json::Value>::None)),
            ("nonce", v(Some("n-0S6_WzA2Mj"))),
            (
                "code_challenge",
                v(Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")),
            ),
            ("auth_time", v(now - minute)),
            ("created_at", v(now)),
            ("expires_at", v(now + minute)),
            ("used_at", null_millis()),
            ("grant_id", v(Option::<Uuid>::None)),
        ],
    )
    .await;
    insert(
        conn,
        "refresh_tokens",
        vec![
            ("token_hash", v(REFRESH_HASH)),
            ("grant_id", v(grant)),
            ("created_at", v(now - minute)),
            ("expires_at", v(now + 30 * day)),
            ("used_at", null_millis()),
        ],
    )
    .await;
    insert(
        conn,
        "revoked_access_tokens",
        vec![
            ("jti", v(REVOKED_JTI)),
            ("expires_at", v(now + 10 * minute)),
        ],
    )
    .await;
    insert(
        conn,
        "consents",
        vec![
            ("user_id", v(ada)),
            ("client_id", v(CLIENT_ID)),
            ("scope", v("openid profile email offline_access")),
            ("granted_at", v(now - minute)),
        ],
    )
    .await;
    for (name, end_user, bearer) in [
        ("nickname", "readonly", "readonly"),
        ("address", "readwrite", "readonly"),
    ] {
        insert(
            conn,
            "standard_attribute_access",
            vec![
                ("name", v(name)),
                ("end_user", v(end_user)),
                ("bearer", v(bearer)),
                ("updated_at", v(now - 25 * day)),
            ],
        )
        .await;
    }
    insert(
        conn,
        "custom_attributes",
        vec![
            ("id", v(department)),
            ("name", v("department")),
            ("kind", v("enum")),
            ("label", v(Some("Department"))),
            ("minimum", v(Option::<f64>::None)),
            ("maximum", v(Option::<f64>::None)),
            ("enum_values", v(serde_json::json!(["R&D", "Sales"]))),
            ("position", v(0i32)),
            ("end_user", v("readwrite")),
            ("bearer", v("readonly")),
            ("scope", v(Some("custom:department"))),
            ("created_at", v(now - 25 * day)),
            ("updated_at", v(now - 25 * day)),
        ],
    )
    .await;
    // Migration 000003 inserted the version row (id 1, version 0); three schema saves since.
    conn.execute_unprepared("UPDATE profile_schema_version SET version = 3 WHERE id = 1")
        .await
        .expect("bump the schema version");
    insert(
        conn,
        "verification_codes",
        vec![
            ("id", v(Uuid::now_v7())),
            ("purpose", v("verify_email")),
            ("target", v(ADA_EMAIL)),
            ("user_id", v(Some(ada))),
            ("code_hash", v(VERIFICATION_HASH)),
            ("created_at", v(now - minute)),
            ("expires_at", v(now + 4 * minute)),
            ("attempts", v(1i32)),
            ("consumed_at", null_millis()),
            ("ip", v(Some("192.0.2.10"))),
        ],
    )
    .await;
    for (key, failures, locked_until) in [
        (LOGIN_THROTTLE, 3i32, None),
        (IP_THROTTLE, 12i32, Some(now + 15 * minute)),
    ] {
        insert(
            conn,
            "throttles",
            vec![
                ("key", v(key)),
                ("failures", v(failures)),
                ("window_start", v(now - 5 * minute)),
                ("locked_until", v(locked_until)),
                ("updated_at", v(now - minute)),
            ],
        )
        .await;
    }
    for (size, width, height, digest, bytes) in [
        (600i32, 600i32, 200i32, COVER_600_DIGEST, COVER_600),
        (1200, 1200, 400, COVER_1200_DIGEST, COVER_1200),
    ] {
        insert(
            conn,
            "images",
            vec![
                ("id", v(IMAGE_ID)),
                ("size", v(size)),
                ("is_default", v(size == 1200)),
                ("owner", v(ada)),
                ("purpose", v("cover")),
                ("content_type", v("image/png")),
                ("width", v(width)),
                ("height", v(height)),
                ("digest", v(digest)),
                ("data", v(bytes.to_vec())),
                ("created_at", v(now - day)),
            ],
        )
        .await;
    }
    // Ada's search index, as `search::reindex` writes it; Bob's username.
    let attr = crate::search::attribute_field(department);
    for (user, field, value) in [
        (ada, "q", "ada"),
        (ada, "q", "lovelace"),
        (ada, "q", ADA_EMAIL),
        (ada, "q", "example.org"),
        (ada, "q", "ada_l"),
        (ada, attr.as_str(), "r&d"),
        (bob, "q", "bob"),
    ] {
        insert(
            conn,
            "profile_search",
            vec![
                ("user_id", v(user)),
                ("field", v(field)),
                ("value", v(value)),
            ],
        )
        .await;
    }
    // Ada linking an upstream account, under way.
    insert(
        conn,
        "upstream_logins",
        vec![
            ("state_hash", v(STATE_HASH)),
            ("upstream_id", v("corporate")),
            ("browser_hash", v(BROWSER_HASH)),
            ("nonce", v("upstream-nonce-5Kq8")),
            (
                "pkce_verifier",
                v("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            ),
            ("return_to", v(Some("/account"))),
            ("link_user_id", v(Some(ada))),
            ("created_at", v(now - minute)),
            ("expires_at", v(now + 9 * minute)),
            ("consumed_at", null_millis()),
        ],
    )
    .await;
    insert(
        conn,
        "server_secrets",
        vec![
            ("name", v("csrf")),
            ("value", v(CSRF_SECRET)),
            ("created_at", v(now - 30 * day)),
        ],
    )
    .await;

    Fixture {
        ada,
        bob,
        session,
        grant,
        department,
        admin_key,
        signing_kid,
    }
}

fn account(email: &str) -> NewAccount {
    NewAccount {
        user_id: Uuid::now_v7(),
        identities: vec![NewIdentity {
            kind: IdentityKind::Email,
            value: email.to_owned(),
            verified: false,
        }],
        password_hash: Some("$argon2id$stub".into()),
        standard_attributes: serde_json::json!({ "given_name": "Ada" }),
        custom_attributes: serde_json::json!({}),
        avatar_seed: "seed".into(),
        external_id: None,
        disabled: false,
    }
}

fn photos_client(clock: &ManualClock, name: &str) -> Client {
    Client {
        id: Uuid::now_v7(),
        client_id: CLIENT_ID.into(),
        name: name.into(),
        secret_hash: None,
        is_public: true,
        third_party: false,
        require_mfa: false,
        redirect_uris: vec!["https://photos.acme.example/cb".into()],
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        grant_types: vec!["authorization_code".into()],
        scopes: vec![],
        created_at: clock.now(),
        updated_at: clock.now(),
    }
}

#[tokio::test]
async fn an_existing_database_becomes_the_default_tenant_with_nothing_lost() {
    let (url, dir) = TestDatabase::create_empty().await.expect("empty database");
    let _dir = RemoveDir(dir);
    let clock = ManualClock::starting_now();

    // 1–2. A database as a server before tenants left it, with a row in every table.
    let conn = Database::connect(url.as_str()).await.expect("connect");
    Migrator::up(&conn, Some(BEFORE_TENANTS))
        .await
        .expect("migrate to version 10");
    let v10_tables: BTreeSet<String> = V10_TABLES.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(
        catalogue(&conn).await,
        v10_tables,
        "the fixture covers exactly the tables of version 10"
    );
    let fx = fill_version_10(&conn, &clock).await;
    let before = counts(&conn, &V10_TABLES).await;
    for (table, n) in &before {
        assert!(*n > 0, "{table} has rows before the upgrade");
    }

    // 3. The upgrade.
    Migrator::up(&conn, None)
        .await
        .expect("apply the tenants migration and any after it");
    assert!(
        Migrator::get_pending_migrations(&conn)
            .await
            .expect("pending migrations")
            .is_empty(),
        "fully migrated"
    );

    // 4a. Nothing lost, everything in `default`.
    let mut expected_tables = v10_tables.clone();
    // `tenants`, and the tables of later migrations (000012: two-step verification; 000014:
    // groups).
    expected_tables.extend(
        [
            "tenants",
            "mfa_factors",
            "mfa_challenges",
            "webauthn_ceremonies",
            "groups",
            "group_members",
            "webhooks",
            "webhook_deliveries",
            "webhook_attempts",
        ]
        .map(str::to_owned),
    );
    assert_eq!(
        catalogue(&conn).await,
        expected_tables,
        "the upgrade adds the tenants table and drops none (rebuilt tables keep their names)"
    );
    // The search index is derived data: migration 000018 empties it and start-up rebuilds it
    // (checked below, through the store).
    let mut after = counts(&conn, &V10_TABLES).await;
    assert_eq!(after.insert(DERIVED.to_owned(), before[DERIVED]), Some(0));
    assert_eq!(after, before, "every row survives the upgrade");
    for table in V10_TABLES
        .iter()
        .filter(|t| **t != SERVER_WIDE && **t != DERIVED)
    {
        let in_default = number(
            &conn,
            &format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = '{DEFAULT_TENANT}'"),
        )
        .await;
        assert_eq!(
            in_default, before[*table],
            "every row of {table} belongs to the default tenant"
        );
    }
    let tenants = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT id, name, settings FROM tenants",
        ))
        .await
        .expect("read tenants");
    let tenants: Vec<(String, String, String)> = tenants
        .iter()
        .map(|r| {
            (
                r.try_get("", "id").expect("id"),
                r.try_get("", "name").expect("name"),
                r.try_get("", "settings").expect("settings"),
            )
        })
        .collect();
    assert_eq!(
        tenants,
        [(
            DEFAULT_TENANT.to_owned(),
            "Default".to_owned(),
            "{}".to_owned()
        )],
        "the upgrade creates exactly the default tenant"
    );
    check_tenant_columns(&conn).await;
    conn.close().await.expect("close the migration connection");

    // 4b. The store reads it all back through a handle of the default tenant.
    let db = Db::connect(&url, &DbSettings { max_connections: 4 })
        .await
        .expect("connect the store");
    assert_eq!(db.tenant(), DEFAULT_TENANT);
    db.migrate()
        .await
        .expect("start-up rebuilds the search index");
    assert_eq!(
        number(
            &db.write,
            &format!("SELECT COUNT(*) AS n FROM {DERIVED} WHERE tenant_id = '{DEFAULT_TENANT}' AND field <> 'display'")
        )
        .await,
        before[DERIVED],
        "the rebuilt index holds what it held"
    );
    reads_everything_back(&db, &fx, &clock).await;

    // 5. A second tenant sees none of it, and reuses its login IDs, client ids and names.
    let acme_tenant = crate::tenants::create(
        &db,
        "acme",
        "Acme",
        &serde_json::json!({}),
        clock.now(),
        NewEvent::new("tenant.created", Actor::Cli),
    )
    .await
    .expect("create tenant acme");
    assert_eq!(acme_tenant.id, "acme");
    let acme = db.in_tenant("acme");
    sees_nothing_of_default(&acme, &fx, &clock).await;
    unique_per_tenant(&db, &acme, &fx, &clock).await;

    // Using the pending upstream sign-in: another tenant cannot, its own tenant can, once.
    assert!(
        !crate::upstream_logins::consume(&acme, STATE_HASH, clock.now())
            .await
            .expect("consume in acme"),
        "acme cannot use default's upstream sign-in"
    );
    assert!(
        crate::upstream_logins::consume(&db, STATE_HASH, clock.now())
            .await
            .expect("consume in default"),
        "the upgraded upstream sign-in is usable in default"
    );
    db.close().await;
}

/// Every scoped table has a NOT NULL `tenant_id`; on PostgreSQL without a default, so that an
/// insert that forgets its tenant fails instead of landing in `default`.
async fn check_tenant_columns(conn: &DatabaseConnection) {
    let backend = conn.get_database_backend();
    for table in V10_TABLES.iter().filter(|t| **t != SERVER_WIDE) {
        let (not_null, has_default) = match backend {
            DbBackend::Postgres => {
                let sql = format!(
                    "SELECT is_nullable::text AS nullable, column_default::text AS dflt \
                     FROM information_schema.columns WHERE table_schema = current_schema() \
                     AND table_name = '{table}' AND column_name = 'tenant_id'"
                );
                let row = conn
                    .query_one_raw(Statement::from_string(backend, &sql))
                    .await
                    .expect("tenant_id column")
                    .unwrap_or_else(|| panic!("{table} has a tenant_id column"));
                let nullable: String = row.try_get("", "nullable").expect("is_nullable");
                let dflt: Option<String> = row.try_get("", "dflt").expect("column_default");
                (nullable == "NO", dflt.is_some())
            }
            _ => {
                let n = number(
                    conn,
                    &format!(
                        "SELECT COUNT(*) AS n FROM pragma_table_info('{table}') \
                         WHERE name = 'tenant_id' AND \"notnull\" = 1"
                    ),
                )
                .await;
                // SQLite cannot drop a column default; the store always names the tenant.
                (n == 1, false)
            }
        };
        assert!(not_null, "{table}.tenant_id exists and is NOT NULL");
        assert!(
            !has_default,
            "{table}.tenant_id has no default on PostgreSQL"
        );
    }
}

/// The default tenant's handle reads back every kind of row written before the upgrade.
async fn reads_everything_back(db: &Db, fx: &Fixture, clock: &ManualClock) {
    use crate::{
        admin_keys, audit, images, oauth, search, server_secrets, sessions, signing_keys,
        throttles, upstream_logins, verification_codes,
    };
    let default = crate::tenants::find(db, DEFAULT_TENANT)
        .await
        .expect("find tenant")
        .expect("the default tenant exists");
    assert_eq!(default.name, "Default");
    assert_eq!(default.settings, serde_json::json!({}));

    // Users, identities, passwords, profiles.
    let ada = accounts::find_login_candidate(db, IdentityKind::Email, ADA_EMAIL)
        .await
        .expect("login lookup")
        .expect("Ada signs in with her email after the upgrade");
    assert_eq!(ada.user_id, fx.ada);
    assert!(!ada.disabled);
    assert!(
        ada.password_hash
            .as_deref()
            .is_some_and(|h| h.starts_with("$argon2id$")),
        "her password survives: {:?}",
        ada.password_hash
    );
    let bob = accounts::find_login_candidate(db, IdentityKind::Username, "bob")
        .await
        .expect("login lookup")
        .expect("Bob's username is found");
    assert_eq!(bob.user_id, fx.bob);
    assert!(bob.disabled, "Bob stays disabled");
    assert_eq!(bob.password_hash, None);
    assert_eq!(accounts::count_users(db).await.expect("count users"), 2);
    let ada_ids = accounts::list_identities(db, fx.ada)
        .await
        .expect("identities");
    let ada_ids: Vec<(IdentityKind, &str, bool)> = ada_ids
        .iter()
        .map(|i| (i.kind, i.value.as_str(), i.verified_at.is_some()))
        .collect();
    assert_eq!(
        ada_ids,
        [
            (IdentityKind::Email, ADA_EMAIL, true),
            (IdentityKind::Username, "ada_l", false)
        ],
        "Ada's login IDs, in order, verification kept"
    );
    let profile = accounts::find_profile(db, fx.ada)
        .await
        .expect("profile")
        .expect("Ada's profile");
    assert_eq!(profile.standard_attributes["name"], "Ada Lovelace");
    assert_eq!(
        profile.custom_attributes[fx.department.to_string()],
        "R&D",
        "custom attribute values keyed by definition id"
    );
    assert_eq!(
        profile.cover.as_deref(),
        Some(format!("https://id.example.org/images/{IMAGE_ID}").as_str())
    );

    // Sessions.
    let (session, disabled) = sessions::find_by_token_hash(db, SESSION_HASH)
        .await
        .expect("session lookup")
        .expect("Ada's session is found by its hash");
    assert_eq!(
        (session.id, session.user_id, disabled),
        (fx.session, fx.ada, false)
    );
    assert_eq!(session.ip.as_deref(), Some("192.0.2.10"));
    assert!(session.expires_at > clock.now(), "still live");
    assert_eq!(
        sessions::list_for_user(db, fx.ada)
            .await
            .expect("sessions")
            .len(),
        1
    );

    // Clients, keys.
    let client = clients::find_by_client_id(db, CLIENT_ID)
        .await
        .expect("client lookup")
        .expect("the client is found by client_id");
    assert_eq!(client.name, "Photos");
    assert_eq!(client.secret_hash.as_deref(), Some(CLIENT_SECRET_HASH));
    assert!(!client.is_public && client.third_party);
    assert_eq!(
        client.redirect_uris,
        ["https://photos.example.net/callback"]
    );
    assert_eq!(client.grant_types, ["authorization_code", "refresh_token"]);
    assert_eq!(
        client.backchannel_logout_uri.as_deref(),
        Some("https://photos.example.net/logout")
    );
    let keys = signing_keys::live_keys(db, clock.now())
        .await
        .expect("signing keys");
    assert_eq!(keys.len(), 1, "the signing key still signs");
    assert_eq!(keys[0].kid, fx.signing_kid);
    assert_eq!(keys[0].public_jwk["kid"], fx.signing_kid.as_str());
    let key = admin_keys::find_live_key(db, ADMIN_KEY_HASH)
        .await
        .expect("admin key lookup")
        .expect("the Admin API key still works");
    assert_eq!(key.id, fx.admin_key);
    assert!(
        !key.system,
        "an existing key is the default tenant's, not a system key"
    );
    assert_eq!(
        admin_keys::find_key_hash(db, fx.admin_key)
            .await
            .expect("key hash")
            .as_deref(),
        Some(ADMIN_KEY_HASH)
    );
    let listed = admin_keys::list_admin_keys(db).await.expect("admin keys");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "provisioning");

    // The audit log.
    let events = audit::latest(db, 10).await.expect("audit log");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["login.succeeded", "user.signed_up", "client.created"],
        "newest first"
    );
    assert_eq!(events[0].detail["method"], "password");
    assert_eq!(
        audit::list(db, Some(fx.ada), None, None, 10)
            .await
            .expect("Ada's events")
            .len(),
        2
    );

    // OAuth state.
    let grant = oauth::find_grant(db, fx.grant)
        .await
        .expect("grant lookup")
        .expect("the grant survives");
    assert_eq!(grant.user_id, fx.ada);
    assert_eq!(grant.session_id, Some(fx.session));
    assert!(!grant.revoked);
    assert_eq!(
        grant.claims,
        Some(serde_json::json!({ "userinfo": { "email": null } }))
    );
    let code = oauth::find_authorization_code(db, CODE_HASH)
        .await
        .expect("code lookup")
        .expect("the pending code survives");
    assert_eq!((code.user_id, code.session_id), (fx.ada, Some(fx.session)));
    assert!(!code.used);
    let refresh = oauth::find_refresh_token(db, REFRESH_HASH)
        .await
        .expect("refresh token lookup")
        .expect("the refresh token is found by its hash");
    assert_eq!(refresh.grant.id, fx.grant);
    assert!(!refresh.used && !refresh.user_disabled);
    assert_eq!(
        oauth::active_token_client(db, LIVE_JTI, CLIENT_ID, Some(fx.grant))
            .await
            .expect("token check"),
        Some(true),
        "an access token of the grant is live (third-party client)"
    );
    assert_eq!(
        oauth::active_token_client(db, REVOKED_JTI, CLIENT_ID, Some(fx.grant))
            .await
            .expect("token check"),
        None,
        "the revoked access token stays revoked"
    );
    let bundle = crate::userinfo::read(db, LIVE_JTI, CLIENT_ID, fx.grant)
        .await
        .expect("userinfo read")
        .expect("UserInfo answers for the live token");
    assert!(bundle.third_party);
    assert_eq!(bundle.profile.standard_attributes["given_name"], "Ada");
    assert_eq!(bundle.identities.len(), 2);
    assert_eq!(
        oauth::find_consent(db, fx.ada, CLIENT_ID)
            .await
            .expect("consent lookup")
            .as_deref(),
        Some("openid profile email offline_access")
    );
    let apps = oauth::connected_apps(db, fx.ada)
        .await
        .expect("connected apps");
    assert_eq!(apps.len(), 1);
    assert_eq!(
        (apps[0].client_id.as_str(), apps[0].name.as_str()),
        (CLIENT_ID, "Photos")
    );
    let targets = oauth::backchannel_targets(db, fx.session)
        .await
        .expect("backchannel targets");
    assert_eq!(
        targets,
        [(
            CLIENT_ID.to_owned(),
            "https://photos.example.net/logout".to_owned(),
            fx.ada
        )]
    );

    // The profile schema.
    let schema = profile_schema::load_schema(db).await.expect("schema");
    assert_eq!(schema.version, 3, "the schema version is carried over");
    let mut standard = schema.standard.clone();
    standard.sort();
    assert_eq!(
        standard,
        [
            (
                "address".to_owned(),
                "readwrite".to_owned(),
                "readonly".to_owned()
            ),
            (
                "nickname".to_owned(),
                "readonly".to_owned(),
                "readonly".to_owned()
            ),
        ],
        "standard attribute access levels are carried over"
    );
    assert_eq!(schema.custom.len(), 1);
    let department = &schema.custom[0];
    assert_eq!(
        (
            department.id,
            department.name.as_str(),
            department.kind.as_str()
        ),
        (fx.department, "department", "enum")
    );
    assert_eq!(department.enum_values, ["R&D", "Sales"]);
    assert_eq!(department.scope.as_deref(), Some("custom:department"));

    // One-time codes, counters, images, search, upstream sign-ins, server secrets.
    let pending = verification_codes::latest(db, "verify_email", ADA_EMAIL)
        .await
        .expect("code lookup")
        .expect("the verification code survives");
    assert_eq!(pending.code_hash, VERIFICATION_HASH);
    assert_eq!(
        (pending.user_id, pending.attempts, pending.consumed),
        (Some(fx.ada), 1, false)
    );
    let mut counters = throttles::load(db, &[LOGIN_THROTTLE.into(), IP_THROTTLE.into()])
        .await
        .expect("throttles");
    counters.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(counters.len(), 2, "both counters survive the table rebuild");
    assert_eq!(counters[0].0, IP_THROTTLE);
    assert_eq!(counters[0].1.failures, 12);
    assert!(
        counters[0].1.locked_until.is_some_and(|t| t > clock.now()),
        "the locked address stays locked"
    );
    assert_eq!(
        throttles::failures(db, LOGIN_THROTTLE)
            .await
            .expect("failures"),
        3
    );
    let renditions = images::renditions(db, IMAGE_ID).await.expect("renditions");
    let sizes: Vec<(u32, bool)> = renditions.iter().map(|r| (r.size, r.is_default)).collect();
    assert_eq!(sizes, [(600, false), (1200, true)]);
    assert_eq!(
        images::rendition_bytes(db, IMAGE_ID, 1200)
            .await
            .expect("image bytes")
            .as_deref(),
        Some(COVER_1200),
        "image bytes survive"
    );
    let found = search::search_users(
        db,
        &search::UserQuery {
            words: vec!["love".into()],
            attributes: vec![(fx.department, "R&D".into())],
            limit: 10,
            ..search::UserQuery::default()
        },
    )
    .await
    .expect("search");
    assert_eq!(
        found.iter().map(|u| u.id).collect::<Vec<_>>(),
        [fx.ada],
        "the search index is carried over"
    );
    let upstream = upstream_logins::find(db, STATE_HASH)
        .await
        .expect("upstream lookup")
        .expect("the pending upstream sign-in survives");
    assert_eq!(upstream.link_user_id, Some(fx.ada));
    assert!(!upstream.consumed);
    assert_eq!(
        server_secrets::get_or_insert(db, "csrf", "a-new-candidate", clock.now())
            .await
            .expect("server secret"),
        CSRF_SECRET,
        "the CSRF key is kept (sessions' CSRF tokens stay valid)"
    );
}

/// A new tenant's handle finds none of the default tenant's rows.
async fn sees_nothing_of_default(acme: &Db, fx: &Fixture, clock: &ManualClock) {
    use crate::{
        admin_keys, audit, images, oauth, search, sessions, signing_keys, throttles,
        verification_codes,
    };
    assert_eq!(acme.tenant(), "acme");
    assert!(
        accounts::find_login_candidate(acme, IdentityKind::Email, ADA_EMAIL)
            .await
            .expect("login lookup")
            .is_none(),
        "acme does not know Ada's email"
    );
    assert!(
        accounts::find_login_candidate(acme, IdentityKind::Username, "bob")
            .await
            .expect("login lookup")
            .is_none()
    );
    assert_eq!(accounts::count_users(acme).await.expect("count"), 0);
    assert!(
        accounts::find_user(acme, fx.ada)
            .await
            .expect("user")
            .is_none()
    );
    assert!(
        accounts::find_profile(acme, fx.ada)
            .await
            .expect("profile")
            .is_none()
    );
    assert!(
        accounts::list_identities(acme, fx.ada)
            .await
            .expect("identities")
            .is_empty()
    );
    assert!(
        accounts::password_hash(acme, fx.ada)
            .await
            .expect("password")
            .is_none()
    );
    assert!(
        sessions::find_by_token_hash(acme, SESSION_HASH)
            .await
            .expect("session lookup")
            .is_none(),
        "default's session cookie means nothing in acme"
    );
    assert!(
        sessions::list_for_user(acme, fx.ada)
            .await
            .expect("sessions")
            .is_empty()
    );
    assert!(
        clients::find_by_client_id(acme, CLIENT_ID)
            .await
            .expect("client lookup")
            .is_none()
    );
    assert!(
        clients::list_clients(acme)
            .await
            .expect("clients")
            .is_empty()
    );
    assert!(
        signing_keys::live_keys(acme, clock.now())
            .await
            .expect("keys")
            .is_empty(),
        "acme does not sign with default's key"
    );
    assert!(
        admin_keys::find_live_key(acme, ADMIN_KEY_HASH)
            .await
            .expect("admin key lookup")
            .is_none(),
        "default's (non-system) admin key does not work in acme"
    );
    assert!(
        admin_keys::find_key_hash(acme, fx.admin_key)
            .await
            .expect("key hash")
            .is_none()
    );
    assert!(
        admin_keys::list_admin_keys(acme)
            .await
            .expect("admin keys")
            .is_empty()
    );
    assert!(
        audit::latest(acme, 10).await.expect("audit").is_empty(),
        "acme's audit log starts empty (its creation is recorded in default)"
    );
    assert!(
        oauth::find_authorization_code(acme, CODE_HASH)
            .await
            .expect("code lookup")
            .is_none()
    );
    assert_eq!(
        oauth::find_consent(acme, fx.ada, CLIENT_ID)
            .await
            .expect("consent lookup"),
        None
    );
    assert!(
        crate::upstream_logins::find(acme, STATE_HASH)
            .await
            .expect("upstream lookup")
            .is_none()
    );
    assert!(
        oauth::find_grant(acme, fx.grant)
            .await
            .expect("grant")
            .is_none()
    );
    assert!(
        oauth::find_refresh_token(acme, REFRESH_HASH)
            .await
            .expect("refresh lookup")
            .is_none()
    );
    assert_eq!(
        oauth::active_token_client(acme, LIVE_JTI, CLIENT_ID, Some(fx.grant))
            .await
            .expect("token check"),
        None
    );
    assert_eq!(
        crate::userinfo::read(acme, LIVE_JTI, CLIENT_ID, fx.grant)
            .await
            .expect("userinfo"),
        None
    );
    assert!(
        oauth::connected_apps(acme, fx.ada)
            .await
            .expect("apps")
            .is_empty()
    );
    assert!(
        oauth::backchannel_targets(acme, fx.session)
            .await
            .expect("targets")
            .is_empty()
    );
    assert_eq!(
        profile_schema::load_schema(acme).await.expect("schema"),
        StoredSchema::default(),
        "acme starts with an empty schema at version 0"
    );
    assert!(
        verification_codes::latest(acme, "verify_email", ADA_EMAIL)
            .await
            .expect("code lookup")
            .is_none()
    );
    assert!(
        throttles::load(acme, &[LOGIN_THROTTLE.into(), IP_THROTTLE.into()])
            .await
            .expect("throttles")
            .is_empty(),
        "default's counters do not lock anyone out of acme"
    );
    assert!(
        images::renditions(acme, IMAGE_ID)
            .await
            .expect("renditions")
            .is_empty()
    );
    assert!(
        images::rendition_bytes(acme, IMAGE_ID, 1200)
            .await
            .expect("bytes")
            .is_none()
    );
    assert!(
        search::search_users(
            acme,
            &search::UserQuery {
                words: vec!["ada".into()],
                limit: 10,
                ..search::UserQuery::default()
            },
        )
        .await
        .expect("search")
        .is_empty()
    );
}

/// Login IDs, client ids and attribute names are unique per tenant: free in acme, taken in default.
async fn unique_per_tenant(db: &Db, acme: &Db, fx: &Fixture, clock: &ManualClock) {
    let acme_ada = account(ADA_EMAIL);
    let acme_ada_id = acme_ada.user_id;
    accounts::create_account(
        acme,
        acme_ada,
        clock.now(),
        NewEvent::new("user.signed_up", Actor::User(acme_ada_id)).user(acme_ada_id),
    )
    .await
    .expect("acme can have its own account with default's email");
    let in_acme = accounts::find_login_candidate(acme, IdentityKind::Email, ADA_EMAIL)
        .await
        .expect("login lookup")
        .expect("found in acme");
    assert_eq!(in_acme.user_id, acme_ada_id);
    let in_default = accounts::find_login_candidate(db, IdentityKind::Email, ADA_EMAIL)
        .await
        .expect("login lookup")
        .expect("found in default");
    assert_eq!(in_default.user_id, fx.ada, "default's Ada is untouched");
    let again = account(ADA_EMAIL);
    let again_id = again.user_id;
    let err = accounts::create_account(
        db,
        again,
        clock.now(),
        NewEvent::new("user.signed_up", Actor::User(again_id)).user(again_id),
    )
    .await
    .expect_err("the email is still taken in default");
    assert!(matches!(err, StoreError::Conflict("login ID")), "{err:?}");

    clients::insert_client(
        acme,
        &photos_client(clock, "Acme Photos"),
        clock.now(),
        NewEvent::new("client.created", Actor::Cli),
    )
    .await
    .expect("acme can register its own client_id photos");
    let err = clients::insert_client(
        db,
        &photos_client(clock, "Duplicate"),
        clock.now(),
        NewEvent::new("client.created", Actor::Cli),
    )
    .await
    .expect_err("client_id photos is still taken in default");
    assert!(matches!(err, StoreError::Conflict("client_id")), "{err:?}");
    assert_eq!(
        clients::find_by_client_id(db, CLIENT_ID)
            .await
            .expect("client lookup")
            .map(|c| c.name)
            .as_deref(),
        Some("Photos")
    );

    let acme_schema = StoredSchema {
        version: 0,
        standard: vec![],
        custom: vec![StoredCustomAttribute {
            id: Uuid::now_v7(),
            name: "department".into(),
            kind: "string".into(),
            label: None,
            minimum: None,
            maximum: None,
            enum_values: vec![],
            end_user: "readwrite".into(),
            bearer: "readonly".into(),
            scope: None,
        }],
    };
    let version = profile_schema::save_schema(
        acme,
        &acme_schema,
        clock.now(),
        NewEvent::new("schema.updated", Actor::Cli),
    )
    .await
    .expect("acme can define its own attribute named department");
    assert_eq!(version, 1, "acme's schema has its own version");
    let default_schema = profile_schema::load_schema(db).await.expect("schema");
    assert_eq!(
        default_schema.version, 3,
        "default's schema version is untouched"
    );
    assert_eq!(default_schema.custom.len(), 1);
    assert_eq!(default_schema.custom[0].id, fx.department);
    assert_eq!(default_schema.custom[0].kind, "enum");

    // An attribute id of default's, given to acme: refused whole, never skipped or taken over.
    let mut taken = acme_schema.clone();
    taken.custom.push(profile_schema::StoredCustomAttribute {
        id: fx.department,
        name: "team".into(),
        ..acme_schema.custom[0].clone()
    });
    let refused = profile_schema::save_schema(
        acme,
        &taken,
        clock.now(),
        NewEvent::new("schema.updated", Actor::Cli),
    )
    .await;
    assert!(
        matches!(refused, Err(crate::StoreError::Conflict("attribute id"))),
        "{refused:?}"
    );
    assert_eq!(
        profile_schema::load_schema(acme).await.expect("schema"),
        profile_schema::StoredSchema {
            version: 1,
            ..acme_schema.clone()
        },
        "acme's schema is unchanged"
    );
    assert_eq!(
        profile_schema::load_schema(db)
            .await
            .expect("schema")
            .custom[0]
            .name,
        "department",
        "default's attribute is untouched"
    );
}

/// The tables of the fully migrated database that carry a `tenant_id` column.
async fn tables_with_tenant_column(conn: &impl ConnectionTrait) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for table in catalogue(conn).await {
        let sql = match conn.get_database_backend() {
            DbBackend::Postgres => format!(
                "SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_schema = \
                 current_schema() AND table_name = '{table}' AND column_name = 'tenant_id'"
            ),
            _ => format!(
                "SELECT COUNT(*) AS n FROM pragma_table_info('{table}') WHERE name = 'tenant_id'"
            ),
        };
        if number(conn, &sql).await == 1 {
            out.insert(table);
        }
    }
    out
}

/// Deleting a tenant empties every table of it, whatever table a later migration adds (the list
/// deleted from is checked against the catalogue); its id stays retired, the tenant invisible,
/// until the sweep has also removed what a request still in flight wrote into it afterwards.
#[tokio::test]
async fn deleting_a_tenant_empties_every_table_of_it_and_retires_its_id() {
    let (url, dir) = TestDatabase::create_empty().await.expect("empty database");
    let _dir = RemoveDir(dir);
    let clock = ManualClock::starting_now();
    let conn = Database::connect(url.as_str()).await.expect("connect");
    Migrator::up(&conn, Some(BEFORE_TENANTS))
        .await
        .expect("migrate to version 10");
    let fx = fill_version_10(&conn, &clock).await;
    Migrator::up(&conn, None).await.expect("migrate");
    let scoped = tables_with_tenant_column(&conn).await;
    assert_eq!(
        scoped,
        crate::tenants::TENANT_TABLES
            .iter()
            .map(|t| (*t).to_owned())
            .collect::<BTreeSet<_>>(),
        "deleting a tenant covers exactly the tables that hold tenants' rows"
    );
    // Everything the fixture wrote becomes tenant `gone`'s; then rows in the later tables too.
    let backend = conn.get_database_backend();
    conn.execute_raw(Statement::from_string(
        backend,
        format!(
            "INSERT INTO tenants (id, name, settings, created_at, updated_at) \
             VALUES ('gone', 'Gone', '{{}}', {now}, {now})",
            now = to_millis(clock.now())
        ),
    ))
    .await
    .expect("tenant gone");
    for table in &scoped {
        conn.execute_raw(Statement::from_string(
            backend,
            format!("UPDATE {table} SET tenant_id = 'gone'"),
        ))
        .await
        .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    conn.close().await.expect("close");
    let db = Db::connect(&url, &DbSettings { max_connections: 4 })
        .await
        .expect("connect the store");
    let gone = db.in_tenant("gone");
    crate::groups::create_group(
        &gone,
        crate::groups::NewGroup {
            name: "staff".into(),
            description: None,
            external_id: None,
        },
        &[fx.ada],
        clock.now(),
        NewEvent::new("group.created", Actor::Cli),
    )
    .await
    .expect("group");
    crate::mfa::insert_factor(
        &gone,
        crate::mfa::NewFactor {
            id: Uuid::now_v7(),
            user_id: fx.ada,
            kind: "passkey".into(),
            name: "Key".into(),
            secret: Some("credential-id".into()),
            data: serde_json::json!({}),
            confirmed: true,
        },
        false,
        clock.now(),
        None,
    )
    .await
    .expect("factor");
    let in_gone = |db: Db| async move {
        let mut n = BTreeMap::new();
        for table in crate::tenants::TENANT_TABLES {
            let rows = number(
                &db.write,
                &format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = 'gone'"),
            )
            .await;
            if rows > 0 {
                n.insert(table, rows);
            }
        }
        n
    };
    let before = in_gone(db.clone()).await;
    assert!(
        before.len() >= 20,
        "most tables hold rows of gone: {before:?}"
    );

    assert_eq!(
        crate::tenants::delete(
            &db,
            "gone",
            clock.now(),
            NewEvent::new("tenant.deleted", Actor::Cli)
        )
        .await
        .expect("delete"),
        crate::tenants::Deletion::Deleted
    );
    assert_eq!(
        in_gone(db.clone()).await,
        BTreeMap::new(),
        "nothing of gone is left"
    );
    assert_eq!(crate::tenants::find(&db, "gone").await.expect("find"), None);
    assert!(
        crate::tenants::list(&db, None, 100)
            .await
            .expect("list")
            .iter()
            .all(|t| t.id != "gone")
    );
    assert_eq!(
        crate::tenants::delete(
            &db,
            "gone",
            clock.now(),
            NewEvent::new("tenant.deleted", Actor::Cli)
        )
        .await
        .expect("delete again"),
        crate::tenants::Deletion::NotFound
    );
    // A request still in flight writes into the deleted tenant: invisible, and the id is retired.
    let late = account("late@example.org");
    let late_id = late.user_id;
    accounts::create_account(
        &gone,
        late,
        clock.now(),
        NewEvent::new("user.signed_up", Actor::User(late_id)).user(late_id),
    )
    .await
    .expect("a straggler");
    let no_settings = serde_json::json!({});
    let again = || {
        crate::tenants::create(
            &db,
            "gone",
            "Gone again",
            &no_settings,
            clock.now(),
            NewEvent::new("tenant.created", Actor::Cli),
        )
    };
    assert!(
        matches!(again().await, Err(StoreError::Conflict(_))),
        "retired"
    );
    // Before the retirement is over the sweep leaves it; after, it takes the stragglers and the id.
    assert_eq!(
        crate::tenants::sweep_deleted(&db, clock.now())
            .await
            .expect("sweep"),
        0
    );
    clock.advance(crate::tenants::RETIREMENT + chrono::Duration::seconds(1));
    assert_eq!(
        crate::tenants::sweep_deleted(&db, clock.now())
            .await
            .expect("sweep"),
        1
    );
    assert_eq!(
        in_gone(db.clone()).await,
        BTreeMap::new(),
        "the straggler is gone too"
    );
    let fresh = again().await.expect("the id is free again");
    assert_eq!(fresh.name, "Gone again");
    assert!(
        accounts::find_login_candidate(&gone, IdentityKind::Email, "late@example.org")
            .await
            .expect("lookup")
            .is_none(),
        "the new tenant inherits nothing"
    );
    db.close().await;
}
