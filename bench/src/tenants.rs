//! Fills a database with many tenants for the tenant benchmark (`bench/tenants.sh`): COUNT
//! tenants `t00000`, `t00001`, … with USERS users each, created through the same use cases as
//! `tessera tenant create` and `tessera user create` (no password: no Argon2 to wait for), in one
//! process. Nothing is loaded by a server: these are tenants nobody has used yet.

use clap::Parser;
use store::audit::Actor;

#[derive(Debug, Parser)]
struct Args {
    /// The database (migrated already), e.g. sqlite://data/bench.db?mode=rwc
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    #[arg(long, default_value_t = 3)]
    users: usize,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let db = store::Db::connect(
        &args.database_url,
        &store::DbSettings { max_connections: 4 },
    )
    .await?;
    let clock = store::SystemClock;
    let hasher = auth::PasswordHasher::new(auth::Argon2Params::default())?;
    let policy = auth::PasswordPolicy::default();
    let started = std::time::Instant::now();
    for n in 0..args.count {
        let id = format!("t{n:05}");
        let change = oidc::tenants::TenantChange {
            name: Some(&id),
            settings: None,
        };
        oidc::tenants::create(&db, &clock, &id, change, policy.max_length, Actor::Cli).await?;
        let tenant = db.in_tenant(&id);
        for u in 0..args.users {
            auth::accounts::sign_up(
                &tenant,
                &clock,
                &hasher,
                &policy,
                auth::accounts::SignUp {
                    email: format!("user{u}@{id}.example"),
                    password: None,
                    email_verified: true,
                    ip: None,
                    actor: Actor::Cli,
                    initial_profile: profile::NewProfile::generated(true),
                },
            )
            .await?;
        }
        if (n + 1) % 1000 == 0 {
            eprintln!(
                "{} tenants ({} users each) in {:.0?}",
                n + 1,
                args.users,
                started.elapsed()
            );
        }
    }
    db.close().await;
    Ok(())
}
