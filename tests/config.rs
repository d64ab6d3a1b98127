//! Configuration: defaults, files, `--config`, environment overrides, and the one-line error that
//! names a bad key.

use std::process::Command;
use tessera::config::{Config, ConfigError};

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn no_env() -> figment::providers::Env {
    figment::providers::Env::prefixed("TESSERA_TEST_UNUSED_PREFIX__").split("__")
}

fn load(file: Option<&std::path::Path>) -> Result<Config, ConfigError> {
    Config::load_from(
        file,
        std::path::Path::new("/nonexistent/tessera.toml"),
        no_env(),
    )
}

#[test]
fn defaults_match_the_spec() {
    let c = load(None).expect("defaults");
    assert_eq!(c.server.listen, "127.0.0.1:8080");
    assert_eq!(c.server.issuer, "http://127.0.0.1:8080");
    assert_eq!(c.database.url, "sqlite://data/tessera.db?mode=rwc");
    assert_eq!(c.password.min_length, 8);
    assert_eq!(c.password.max_length, 256);
    assert!(c.password.argon2_memory_kib >= 19 * 1024 && c.password.argon2_iterations >= 2);
    assert!(!c.secure_cookies());
}

#[test]
fn the_example_config_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/tessera.example.toml");
    let c = load(Some(std::path::Path::new(example))).expect("example config loads");
    assert_eq!(c, Config::default(), "the example documents the defaults");
}

#[test]
fn files_overlay_defaults_and_later_files_win() {
    let dir = tempfile::tempdir().expect("dir");
    let base = write(
        dir.path(),
        "base.toml",
        "[server]\nlisten = \"127.0.0.1:9000\"\nissuer = \"https://id.example\"\n[session]\nidle_timeout_seconds = 60\n",
    );
    let over = write(
        dir.path(),
        "over.toml",
        "[server]\nlisten = \"0.0.0.0:9001\"\n",
    );
    let c = Config::load_from(Some(&over), &base, no_env()).expect("load");
    assert_eq!(c.server.listen, "0.0.0.0:9001");
    assert_eq!(c.server.issuer, "https://id.example");
    assert_eq!(c.session.idle_timeout_seconds, 60);
    assert_eq!(
        c.session.lifetime_seconds,
        Config::default().session.lifetime_seconds
    );
    assert!(c.secure_cookies());
}

#[test]
fn trusted_proxies_come_from_the_environment_too() {
    let env = figment::providers::Env::prefixed("TESSERA_TEST_PROXIES__").split("__");
    // SAFETY: set before any thread of this test reads the environment; the prefix is unique.
    unsafe {
        std::env::set_var(
            "TESSERA_TEST_PROXIES__SERVER__TRUSTED_PROXIES",
            "[\"10.0.0.0/8\", \"192.0.2.7\"]",
        );
    }
    let c = Config::load_from(None, std::path::Path::new("/nonexistent/tessera.toml"), env)
        .expect("config");
    assert_eq!(c.server.trusted_proxies, ["10.0.0.0/8", "192.0.2.7"]);
    assert!(!c.trusted_proxies().expect("parsed").is_empty());
}

#[test]
fn unknown_keys_and_bad_values_name_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let cases = [
        ("[server]\nbogus = 1\n", "server.bogus", "unknown key"),
        ("[nonsense]\nx = 1\n", "nonsense", "unknown key"),
        ("[server]\nlisten = 5\n", "server.listen", "expected"),
        (
            "[server]\nlisten = \"localhost\"\n",
            "server.listen",
            "address",
        ),
        ("[server]\nissuer = \"ftp://x\"\n", "server.issuer", "http"),
        (
            "[server]\nissuer = \"https://x.example/\"\n",
            "server.issuer",
            "trailing slash",
        ),
        (
            "[database]\nurl = \"mysql://x\"\n",
            "database.url",
            "sqlite",
        ),
        (
            "[session]\nlifetime_seconds = -1\n",
            "session.lifetime_seconds",
            "expected",
        ),
        (
            "[session]\nidle_timeout_seconds = 0\n",
            "session.idle_timeout_seconds",
            "at least 1",
        ),
        (
            "[password]\nmin_length = 0\n",
            "password.min_length",
            "between",
        ),
        (
            "[password]\nmin_length = 10\nmax_length = 9\n",
            "password.max_length",
            "at least",
        ),
        (
            "[password]\nargon2_memory_kib = 1\n",
            "password.argon2_memory_kib",
            "Argon2",
        ),
        ("[log]\nlevel = \"[[[\"\n", "log.level", "filter"),
        (
            "[server]\ntrusted_proxies = [\"10.0.0.1\", \"ten\"]\n",
            "server.trusted_proxies[1]",
            "CIDR",
        ),
        (
            "[server]\nforwarded_header = \"via\"\n",
            "server.forwarded_header",
            "x-forwarded-for",
        ),
        (
            "[server]\nmetrics_token = \"short\"\n",
            "server.metrics_token",
            "16 characters",
        ),
        (
            "[limits]\nsignups_per_ip_per_hour = 0\n",
            "limits.signups_per_ip_per_hour",
            "at least 1",
        ),
        (
            "[images]\nredirect_hosts = [\"https://cdn.example\"]\n",
            "images.redirect_hosts[0]",
            "host name",
        ),
        ("[server]\nname = \" \"\n", "server.name", "1 to 200"),
        ("[mfa]\npolicy = \"always\"\n", "mfa.policy", "required"),
        (
            "[[tenant]]\nid = \"default\"\n",
            "tenant[0].id",
            "other than default",
        ),
        ("[[tenant]]\nid = \"Acme\"\n", "tenant[0].id", "tenant id"),
        (
            "[[tenant]]\nid = \"acme\"\n[[tenant]]\nid = \"acme\"\n",
            "tenant[1].id",
            "twice",
        ),
        (
            "[[tenant]]\nid = \"acme\"\npassword_min_length = 3\n",
            "tenant[0].password_min_length",
            "from 8",
        ),
        (
            "[[tenant]]\nid = \"acme\"\nlogin_ids = [\"email\", \"fax\"]\n",
            "tenant[0].login_ids.1",
            "username",
        ),
        (
            "[[tenant]]\nid = \"acme\"\n[[tenant.upstream]]\nid = \"corp\"\n",
            "tenant[0].upstream[0].issuer",
            "required",
        ),
    ];
    for (i, (text, key, words)) in cases.iter().enumerate() {
        let file = write(dir.path(), &format!("c{i}.toml"), text);
        let err = load(Some(&file)).expect_err(text);
        assert_eq!(&err.key, key, "{text}");
        let line = err.to_string();
        assert!(line.contains(key) && line.contains(words), "{text}: {line}");
        assert!(!line.contains('\n'), "one line: {line}");
    }
    let err = load(Some(std::path::Path::new("/nonexistent/x.toml"))).expect_err("missing file");
    assert_eq!(err.key, "--config");
}

fn run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args).current_dir(dir.path());
    cmd.env_remove("DATABASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run");
    let _ = std::fs::remove_dir_all(dir.path());
    out
}

#[test]
fn environment_overrides_and_start_up_errors() {
    // A bad value in the environment stops start-up with one line naming the key.
    let out = run(&["migrate"], &[("TESSERA__SERVER__LISTEN", "nowhere")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("server.listen"), "{err}");

    let out = run(&["migrate"], &[("TESSERA__SERVER__NOPE", "1")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.nope"));

    // A good one is used: DATABASE_URL wins over database.url.
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("sub/env.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let out = run(
        &["migrate", "--json"],
        &[
            (
                "TESSERA__DATABASE__URL",
                "sqlite:///nonexistent/dir/never.db",
            ),
            ("DATABASE_URL", &url),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists(), "the database directory and file are created");

    // --config names a file; an unknown key in it is reported with the file.
    let file = write(dir.path(), "bad.toml", "[database]\nurl2 = \"x\"\n");
    let out = run(
        &["migrate", "--config", file.to_str().unwrap_or_default()],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("database.url2") && err.contains("bad.toml"),
        "{err}"
    );
}

#[test]
fn tenants_take_settings_and_upstreams_from_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    let file = write(
        dir.path(),
        "t.toml",
        r#"
[[tenant]]
id = "acme"
name = "Acme Corp"
password_min_length = 12
login_ids = ["email"]

[[tenant.upstream]]
id = "corp"
issuer = "https://id.acme.example"
client_id = "tessera"

[[tenant]]
id = "globex"
"#,
    );
    let c = load(Some(&file)).expect("valid");
    let tenants = c.configured_tenants().expect("tenants");
    let acme = &tenants["acme"];
    assert_eq!(acme.name.as_deref(), Some("Acme Corp"));
    assert_eq!(acme.settings.password_min_length, Some(12));
    assert_eq!(acme.settings.login_ids, Some(vec!["email".to_owned()]));
    assert_eq!(acme.upstreams.len(), 1);
    assert_eq!(acme.upstreams[0].issuer, "https://id.acme.example");
    let globex = &tenants["globex"];
    assert_eq!(globex.name, None);
    assert_eq!(globex.settings, Default::default());
    assert!(globex.upstreams.is_empty());
    assert!(
        c.upstream.is_empty(),
        "a tenant's upstreams are not the root's"
    );
}
