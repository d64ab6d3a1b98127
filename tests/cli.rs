//! The `tessera` command line, run as a real process against a test database.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use store::accounts::IdentityKind;
use store::testing::TestDatabase;

/// Runs `tessera ARGS` with the test database, cheap Argon2 and no config file of the checkout.
fn tessera(db_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args)
        .current_dir(dir.path())
        .env("DATABASE_URL", db_url)
        .env("TESSERA__PASSWORD__ARGON2_MEMORY_KIB", "1024")
        .env("TESSERA__PASSWORD__ARGON2_ITERATIONS", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn tessera");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("wait")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "tessera failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
async fn migrate_and_user_create() {
    let (url, _dir) = TestDatabase::create_empty().await.expect("db");
    let out = json(&tessera(&url, &["migrate", "--json"], None));
    assert_eq!(out, serde_json::json!({ "migrated": true }));
    // Migrating twice is fine.
    assert!(tessera(&url, &["migrate"], None).status.success());

    let out = json(&tessera(
        &url,
        &[
            "user",
            "create",
            "--email",
            "Ivy@Example.com",
            "--password-stdin",
            "--verified",
            "--json",
        ],
        Some("a fine password\n"),
    ));
    let id = out["id"].as_str().expect("id").to_owned();
    assert_eq!(out.as_object().map(|o| o.len()), Some(1));

    let db = store::Db::connect(&url, &Default::default())
        .await
        .expect("connect");
    let candidate =
        store::accounts::find_login_candidate(&db, IdentityKind::Email, "ivy@example.com")
            .await
            .expect("query")
            .expect("user");
    assert_eq!(candidate.user_id.to_string(), id);
    let hash = candidate.password_hash.expect("password");
    assert!(hash.starts_with("$argon2id$") && !hash.contains("a fine password"));
    let identities = store::accounts::list_identities(&db, candidate.user_id)
        .await
        .expect("ids");
    assert!(
        identities[0].verified_at.is_some(),
        "--verified marks the email verified"
    );
    assert!(
        store::accounts::find_profile(&db, candidate.user_id)
            .await
            .expect("p")
            .is_some()
    );

    // Plain output is the id alone; a user without a password is allowed.
    let out = tessera(
        &url,
        &["user", "create", "--email", "jay@example.com"],
        None,
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(store::Uuid::parse_str(text.trim()).is_ok(), "{text}");

    // A duplicate (in another case) and a bad address fail with a message, and exit non-zero.
    let out = tessera(
        &url,
        &["user", "create", "--email", "IVY@example.com", "--json"],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = tessera(&url, &["user", "create", "--email", "nope", "--json"], None);
    assert!(!out.status.success());
    let out = tessera(
        &url,
        &[
            "user",
            "create",
            "--email",
            "kim@example.com",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));
    assert_eq!(store::accounts::count_users(&db).await.expect("count"), 2);
}

#[tokio::test]
async fn client_create_list_delete() {
    let (url, _dir) = TestDatabase::create_empty().await.expect("db");
    let out = json(&tessera(
        &url,
        &[
            "client",
            "create",
            "--name",
            "Web app",
            "--redirect-uri",
            "https://app.example/cb",
            "--redirect-uri",
            "http://127.0.0.1:9000/cb",
            "--post-logout-redirect-uri",
            "https://app.example/bye",
            "--json",
        ],
        None,
    ));
    let client_id = out["client_id"].as_str().expect("client_id").to_owned();
    let secret = out["client_secret"].as_str().expect("secret").to_owned();
    assert!(secret.len() >= 43);

    let out = json(&tessera(
        &url,
        &[
            "client",
            "create",
            "--name",
            "SPA",
            "--redirect-uri",
            "https://spa.example/cb",
            "--public",
            "--third-party",
            "--require-mfa",
            "--json",
        ],
        None,
    ));
    assert!(
        out.get("client_secret").is_none(),
        "public clients have no secret: {out}"
    );

    let out = json(&tessera(
        &url,
        &[
            "client",
            "create",
            "--name",
            "Batch",
            "--grant",
            "client_credentials",
            "--scope",
            "api:read",
            "--json",
        ],
        None,
    ));
    assert!(out["client_secret"].is_string());

    let list = json(&tessera(&url, &["client", "list", "--json"], None));
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["client_id"], client_id.as_str());
    assert_eq!(
        list[0]["redirect_uris"],
        serde_json::json!(["https://app.example/cb", "http://127.0.0.1:9000/cb"])
    );
    assert_eq!(
        list[0]["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(list[1]["public"], true);
    assert_eq!(list[1]["third_party"], true);
    assert_eq!(list[1]["require_mfa"], true);
    assert_eq!(list[0]["require_mfa"], false);
    assert_eq!(
        list[2]["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(list[2]["scopes"], serde_json::json!(["api:read"]));
    assert!(
        !list.iter().any(|c| c.to_string().contains(&secret)),
        "no secret in listings"
    );

    // The secret is stored hashed.
    let db = store::Db::connect(&url, &Default::default())
        .await
        .expect("connect");
    let stored = store::clients::find_by_client_id(&db, &client_id)
        .await
        .expect("q")
        .expect("client");
    assert_ne!(stored.secret_hash.as_deref(), Some(secret.as_str()));
    assert!(auth::secrets::secret_matches(
        &secret,
        stored.secret_hash.as_deref().unwrap_or("")
    ));

    // Bad registrations fail with a message.
    for args in [
        vec![
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "not a uri",
        ],
        vec!["client", "create", "--name", "X"],
        vec![
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "https://x.example/cb",
            "--grant",
            "password",
        ],
        vec![
            "client",
            "create",
            "--name",
            "X",
            "--public",
            "--grant",
            "client_credentials",
        ],
    ] {
        let out = tessera(&url, &args, None);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!out.stderr.is_empty());
    }

    let out = json(&tessera(
        &url,
        &["client", "delete", &client_id, "--json"],
        None,
    ));
    assert_eq!(out["deleted"], true);
    let out = tessera(&url, &["client", "delete", &client_id], None);
    assert!(!out.status.success(), "deleting twice fails");
    let list = json(&tessera(&url, &["client", "list", "--json"], None));
    assert_eq!(list.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn admin_key_create_list_revoke() {
    let (url, _dir) = TestDatabase::create_empty().await.expect("db");
    let out = json(&tessera(
        &url,
        &["admin-key", "create", "--name", "ops", "--json"],
        None,
    ));
    let key = out["key"].as_str().expect("key");
    assert!(key.starts_with("tsa_"));
    assert_eq!(out["name"], "ops");
    let id = store::Uuid::parse_str(out["id"].as_str().expect("id")).expect("uuid");
    let db = store::Db::connect(&url, &Default::default())
        .await
        .expect("connect");
    let hash = store::admin_keys::find_key_hash(&db, id)
        .await
        .expect("q")
        .expect("stored");
    assert_ne!(hash, key);
    assert!(auth::secrets::secret_matches(key, &hash));

    let out = tessera(&url, &["admin-key", "create", "--name", "  "], None);
    assert!(!out.status.success());

    let list = json(&tessera(&url, &["admin-key", "list", "--json"], None));
    assert_eq!(list[0]["id"], id.to_string());
    assert_eq!(list[0]["revoked"], false);
    assert!(
        !list.to_string().contains(key),
        "the key is never shown again"
    );
    let out = json(&tessera(
        &url,
        &["admin-key", "revoke", &id.to_string(), "--json"],
        None,
    ));
    assert_eq!(out["revoked"], true);
    assert!(
        store::admin_keys::find_live_key(&db, &hash)
            .await
            .expect("q")
            .is_none()
    );
    for bad in [id.to_string(), "not-an-id".to_owned()] {
        let out = tessera(&url, &["admin-key", "revoke", &bad], None);
        assert!(!out.status.success(), "{bad}");
    }
    let list = json(&tessera(&url, &["admin-key", "list", "--json"], None));
    assert_eq!(list[0]["revoked"], true);
}

#[tokio::test]
async fn keys_rotate_keeps_old_keys_published() {
    let (url, _dir) = TestDatabase::create_empty().await.expect("db");
    assert!(tessera(&url, &["migrate"], None).status.success());
    // The first rotation also creates the initial keys; the second retires them.
    let first = json(&tessera(&url, &["keys", "rotate", "--json"], None));
    let second = json(&tessera(&url, &["keys", "rotate", "--json"], None));
    let first_kids = first["active_kids"].as_array().expect("kids").clone();
    let second_kids = second["active_kids"].as_array().expect("kids").clone();
    assert_eq!(
        second_kids.len(),
        2,
        "ID token and access token keys: {second}"
    );
    assert_ne!(first_kids, second_kids);
    let db = store::Db::connect(&url, &Default::default())
        .await
        .expect("connect");
    let live = store::signing_keys::live_keys(&db, chrono::Utc::now())
        .await
        .expect("keys");
    for kid in first_kids.iter().chain(second_kids.iter()) {
        let kid = kid.as_str().unwrap_or_default();
        let key = live
            .iter()
            .find(|k| k.kid == kid)
            .unwrap_or_else(|| panic!("{kid} is still live"));
        assert!(!key.public_jwk.to_string().contains("\"d\""));
    }
    let retired: Vec<_> = live.iter().filter(|k| k.retired_at.is_some()).collect();
    assert!(
        retired.iter().all(|k| k.expires_at.is_some()),
        "retired keys expire"
    );
    assert!(live.iter().any(|k| k.alg == "RS256") && live.iter().any(|k| k.alg == "ES256"));
}

#[tokio::test]
async fn schema_export_and_import() {
    let (url, _dir) = TestDatabase::create_empty().await.expect("db");
    let dir = tempfile::tempdir().expect("dir");
    let exported = json(&tessera(&url, &["schema", "export", "--json"], None));
    assert_eq!(
        exported["standard"]["given_name"],
        serde_json::json!({ "end_user": "readwrite", "bearer": "readonly" })
    );
    assert_eq!(
        exported["standard"]["middle_name"],
        serde_json::json!({ "end_user": "hidden", "bearer": "hidden" })
    );
    assert_eq!(exported["custom"], serde_json::json!([]));

    let file = dir.path().join("schema.json");
    std::fs::write(&file, serde_json::json!({
        "custom": [
            { "name": "department", "type": "string", "label": "Department", "minimum": 1, "maximum": 64,
              "end_user": "readwrite", "bearer": "readonly", "scope": "custom:department" },
            { "name": "team", "type": "enum", "enum": ["red", "blue"], "end_user": "readonly", "bearer": "readonly" },
            { "name": "description", "type": "text", "maximum": 512, "end_user": "readwrite", "bearer": "readonly" }
        ],
        "annotations": { "end_user": "readonly", "bearer": "readonly" }
    }).to_string()).expect("write");
    let path = file.to_str().unwrap_or_default();
    let imported = json(&tessera(&url, &["schema", "import", path, "--json"], None));
    assert_eq!(imported["custom"][0]["name"], "department");
    assert_eq!(imported["custom"][2]["type"], "text");
    assert_eq!(imported["custom"][2]["maximum"], 512.0);
    assert_eq!(
        imported["annotations"],
        serde_json::json!({ "end_user": "readonly", "bearer": "readonly" })
    );
    let id = imported["custom"][0]["id"].as_str().expect("id").to_owned();

    // Export → rename → import keeps the id; the export round-trips.
    let mut doc = json(&tessera(&url, &["schema", "export", "--json"], None));
    assert_eq!(doc["custom"][0]["id"], id.as_str());
    doc["custom"][0]["name"] = serde_json::json!("division");
    std::fs::write(&file, doc.to_string()).expect("write");
    let renamed = json(&tessera(&url, &["schema", "import", path, "--json"], None));
    assert_eq!(renamed["custom"][0]["name"], "division");
    assert_eq!(renamed["custom"][0]["id"], id.as_str());

    // A type change or a missing definition is refused whole, naming the attribute.
    let mut retyped = renamed.clone();
    retyped["custom"][1]["type"] = serde_json::json!("string");
    retyped["custom"][0]["label"] = serde_json::json!("Changed too");
    std::fs::write(&file, retyped.to_string()).expect("write");
    let out = tessera(&url, &["schema", "import", path], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("team"));
    let mut missing = renamed.clone();
    missing["custom"].as_array_mut().map(|a| a.remove(0));
    std::fs::write(&file, missing.to_string()).expect("write");
    let out = tessera(&url, &["schema", "import", path], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("division"));
    std::fs::write(&file, "not json").expect("write");
    assert!(
        !tessera(&url, &["schema", "import", path], None)
            .status
            .success()
    );
    let after = json(&tessera(&url, &["schema", "export", "--json"], None));
    assert_eq!(after, renamed, "refused imports changed nothing");
}

#[tokio::test]
async fn tenant_create_list_delete_and_commands_in_a_tenant() {
    let (url, _dir) = TestDatabase::create_empty().await.expect("db");
    assert!(tessera(&url, &["migrate"], None).status.success());
    let out = json(&tessera(
        &url,
        &["tenant", "create", "acme", "--name", "Acme Corp", "--json"],
        None,
    ));
    assert_eq!(out["id"], "acme");
    assert_eq!(out["name"], "Acme Corp");
    assert!(
        out["issuer"].as_str().expect("issuer").ends_with("/t/acme"),
        "{out}"
    );
    for bad in ["acme", "default", "Bad_Id", "x"] {
        let out = tessera(&url, &["tenant", "create", bad], None);
        assert!(!out.status.success(), "{bad}");
    }
    let list = json(&tessera(&url, &["tenant", "list", "--json"], None));
    let ids: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["acme", "default"]);

    // Commands act in the tenant `--tenant` names; the same email is a new user there.
    for tenant in ["default", "acme"] {
        let out = tessera(
            &url,
            &[
                "--tenant",
                tenant,
                "user",
                "create",
                "--email",
                "ivy@example.com",
            ],
            None,
        );
        assert!(
            out.status.success(),
            "{tenant}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let client = json(&tessera(
        &url,
        &[
            "--tenant",
            "acme",
            "client",
            "create",
            "--name",
            "App",
            "--redirect-uri",
            "https://app.example/cb",
            "--json",
        ],
        None,
    ));
    let client_id = client["client_id"].as_str().expect("client id").to_owned();
    let db = store::Db::connect(&url, &Default::default())
        .await
        .expect("connect");
    let acme = db.in_tenant("acme");
    assert_eq!(store::accounts::count_users(&db).await.expect("count"), 1);
    assert_eq!(store::accounts::count_users(&acme).await.expect("count"), 1);
    assert!(
        store::clients::find_by_client_id(&acme, &client_id)
            .await
            .expect("q")
            .is_some()
    );
    assert!(
        store::clients::find_by_client_id(&db, &client_id)
            .await
            .expect("q")
            .is_none(),
        "the client is acme's only"
    );
    let listed = json(&tessera(&url, &["client", "list", "--json"], None));
    assert!(!listed.to_string().contains(&client_id));

    // `--tenant` must name a tenant, and does not apply to commands over every tenant.
    let out = tessera(
        &url,
        &[
            "--tenant",
            "nope",
            "user",
            "create",
            "--email",
            "a@b.example",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tenant"));
    for args in [
        &["--tenant", "acme", "migrate"][..],
        &["--tenant", "acme", "tenant", "list"],
        &[
            "--tenant",
            "acme",
            "admin-key",
            "create",
            "--name",
            "x",
            "--system",
        ],
    ] {
        assert!(!tessera(&url, args, None).status.success(), "{args:?}");
    }
    // A tenant admin key is created in its tenant; a system key at the root only.
    let key = json(&tessera(
        &url,
        &[
            "--tenant",
            "acme",
            "admin-key",
            "create",
            "--name",
            "ops",
            "--json",
        ],
        None,
    ));
    assert_eq!(key["tenant"], "acme");
    let system = json(&tessera(
        &url,
        &[
            "admin-key",
            "create",
            "--name",
            "root",
            "--system",
            "--json",
        ],
        None,
    ));
    assert!(system["key"].as_str().is_some());

    // Delete: refused for default and unknown ids; removes everything of acme.
    for bad in ["default", "nope"] {
        assert!(
            !tessera(&url, &["tenant", "delete", bad], None)
                .status
                .success()
        );
    }
    let out = json(&tessera(
        &url,
        &["tenant", "delete", "acme", "--json"],
        None,
    ));
    assert_eq!(out["deleted"], true);
    assert_eq!(store::accounts::count_users(&acme).await.expect("count"), 0);
    assert!(
        store::clients::find_by_client_id(&acme, &client_id)
            .await
            .expect("q")
            .is_none()
    );
    assert_eq!(store::accounts::count_users(&db).await.expect("count"), 1);
    let list = json(&tessera(&url, &["tenant", "list", "--json"], None));
    assert_eq!(list.as_array().map(|a| a.len()), Some(1));
}

#[tokio::test]
async fn group_create_add_remove_and_list() {
    let (url, _dir) = TestDatabase::create_empty().await.expect("db");
    let user = json(&tessera(
        &url,
        &["user", "create", "--email", "gus@example.com", "--json"],
        None,
    ));
    let user_id = user["id"].as_str().expect("id").to_owned();
    let created = json(&tessera(
        &url,
        &[
            "group",
            "create",
            "Site editors",
            "--description",
            "Edit",
            "--json",
        ],
        None,
    ));
    assert_eq!(created["name"], "Site editors");
    let out = tessera(&url, &["group", "create", "Site editors"], None);
    assert!(!out.status.success(), "a taken name");
    let added = json(&tessera(
        &url,
        &["group", "add", "Site editors", &user_id, "--json"],
        None,
    ));
    assert_eq!(added["added"], true);
    let again = json(&tessera(
        &url,
        &["group", "add", "Site editors", &user_id, "--json"],
        None,
    ));
    assert_eq!(again["added"], false);
    for bad in [
        vec!["group", "add", "nobody", user_id.as_str()],
        vec!["group", "add", "Site editors", "not-a-user"],
        vec![
            "group",
            "add",
            "Site editors",
            "01900000-0000-7000-8000-000000000000",
        ],
    ] {
        let out = tessera(&url, &bad, None);
        assert!(!out.status.success(), "{bad:?}");
        assert!(!out.stderr.is_empty());
    }
    let list = json(&tessera(&url, &["group", "list", "--json"], None));
    assert_eq!(list[0]["name"], "Site editors");
    let removed = json(&tessera(
        &url,
        &["group", "remove", "Site editors", &user_id, "--json"],
        None,
    ));
    assert_eq!(removed["removed"], true);
    assert!(
        !tessera(&url, &["group", "remove", "Site editors", &user_id], None)
            .status
            .success()
    );
}

/// `tessera user import` and `export`: foreign hashes, plain passwords, profiles and groups come
/// in, malformed lines are refused with their line numbers and nothing else is lost; an export
/// imported into an empty server gives the same users, profiles, groups and working passwords.
#[tokio::test]
async fn user_import_export_round_trip() {
    const BCRYPT: &str = "$2b$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS";
    const PBKDF2: &str =
        "$pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0MTIzNA$wheZis4WMGFy.7bhdev/G/YeD76DK1WUFiU5ngBGWLk";
    const OLD: &str = "correct horse battery";
    let (url, _dir) = TestDatabase::create_empty().await.expect("db");
    assert!(tessera(&url, &["migrate"], None).status.success());
    let lines = [
        serde_json::json!({ "identities": [{ "type": "email", "value": "Ann@Example.com", "verified": true }],
            "password_hash": BCRYPT, "profile": { "given_name": "Ann" }, "groups": ["staff", "ops"] }).to_string(),
        "not json".to_owned(),
        serde_json::json!({ "identities": [{ "type": "username", "value": "bo" }], "password_hash": PBKDF2,
            "groups": ["staff"] }).to_string(),
        String::new(),
        serde_json::json!({ "identities": [] }).to_string(),
        serde_json::json!({ "identities": [{ "type": "email", "value": "ann@example.com" }] }).to_string(),
        serde_json::json!({ "identities": [{ "type": "email", "value": "cy@example.com" }], "password_hash": "$md5$x" }).to_string(),
        serde_json::json!({ "identities": [{ "type": "email", "value": "dee@example.com" }], "password": "a plain password 1",
            "profile": { "birthdate": "not a date" } }).to_string(),
        serde_json::json!({ "identities": [{ "type": "email", "value": "eve@example.com" }], "password": "a plain password 1",
            "disabled": true }).to_string(),
    ];
    let file = tempfile::NamedTempFile::new().expect("file");
    std::fs::write(file.path(), lines.join("\n")).expect("write");
    let report = json(&tessera(
        &url,
        &[
            "user",
            "import",
            file.path().to_str().expect("path"),
            "--json",
        ],
        None,
    ));
    assert_eq!(report["created"], 3, "{report}");
    let refused: Vec<u64> = report["refused"]
        .as_array()
        .expect("refused")
        .iter()
        .map(|r| r["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(refused, [2, 5, 6, 7, 8], "{report}");
    assert!(
        report["refused"][2]["error"]
            .as_str()
            .expect("error")
            .contains("taken"),
        "{report}"
    );

    let db = store::Db::connect(&url, &Default::default())
        .await
        .expect("connect");
    let hasher = auth::PasswordHasher::new(auth::Argon2Params {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    })
    .expect("hasher");
    let clock = store::ManualClock::starting_now();
    let sign_in = |login: &str, password: &str| auth::accounts::LoginAttempt {
        login_id: login.to_owned(),
        password: password.to_owned(),
        ip: None,
        enabled: Default::default(),
    };
    let policy = auth::brute_force::BruteForcePolicy::default();
    let ann = auth::accounts::authenticate(
        &db,
        &clock,
        &hasher,
        &policy,
        sign_in("ann@example.com", OLD),
    )
    .await
    .expect("Ann signs in with her old password");
    let stored = store::accounts::password_hash(&db, ann)
        .await
        .expect("q")
        .expect("hash");
    assert!(stored.starts_with("$argon2id$"), "rehashed: {stored}");
    auth::accounts::authenticate(&db, &clock, &hasher, &policy, sign_in("bo", OLD))
        .await
        .expect("Bo (PBKDF2) signs in");
    let groups: Vec<String> = store::groups::groups_of(&db, &[ann])
        .await
        .expect("groups")
        .into_iter()
        .map(|(_, g)| g.name)
        .collect();
    assert_eq!(groups, ["ops", "staff"]);
    db.close().await;

    // Export, then import into an empty server: the same users, working passwords.
    let exported = tempfile::NamedTempFile::new().expect("file");
    let out = tessera(
        &url,
        &["user", "export", exported.path().to_str().expect("path")],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(exported.path()).expect("read");
    assert_eq!(text.lines().count(), 3, "{text}");
    let (copy, _copy_dir) = TestDatabase::create_empty().await.expect("db");
    assert!(tessera(&copy, &["migrate"], None).status.success());
    let report = json(&tessera(
        &copy,
        &[
            "user",
            "import",
            exported.path().to_str().expect("path"),
            "--json",
        ],
        None,
    ));
    assert_eq!(report["created"], 3, "{report}");
    assert_eq!(report["refused"], serde_json::json!([]));
    let again = tempfile::NamedTempFile::new().expect("file");
    assert!(
        tessera(
            &copy,
            &["user", "export", again.path().to_str().expect("path")],
            None
        )
        .status
        .success()
    );
    assert_eq!(
        std::fs::read_to_string(again.path()).expect("read"),
        text,
        "export → import → export is the same"
    );
    let db = store::Db::connect(&copy, &Default::default())
        .await
        .expect("connect");
    for (login, password) in [("ann@example.com", OLD), ("bo", OLD)] {
        auth::accounts::authenticate(&db, &clock, &hasher, &policy, sign_in(login, password))
            .await
            .unwrap_or_else(|e| panic!("{login}: {e:?}"));
    }
    assert!(
        auth::accounts::authenticate(
            &db,
            &clock,
            &hasher,
            &policy,
            sign_in("eve@example.com", "a plain password 1")
        )
        .await
        .is_err(),
        "Eve was imported disabled"
    );
    let user = store::accounts::find_user(&db, ann)
        .await
        .expect("q")
        .expect("same id");
    assert!(!user.disabled);
    db.close().await;
}
