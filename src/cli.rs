//! The command line: `tessera [serve]`, `migrate`, `tenant create|list|delete`, `user create`,
//! `client create|list|delete`, `admin-key create|list|revoke`, `keys rotate`,
//! `schema export|import`. Every command takes `--config FILE`, prints JSON with `--json`, and
//! acts in the tenant `--tenant ID` names (`default` when absent).

use crate::config::Config;
use crate::server::{self, AppState, StartError};
use clap::{Args, Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use store::audit::Actor;
use store::{Clock, SystemClock};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Tessera, an OpenID Connect identity server"
)]
pub struct Cli {
    /// Configuration file (TOML), read after config/tessera.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// The tenant the command acts in.
    #[arg(long, global = true, value_name = "ID", default_value = store::DEFAULT_TENANT)]
    pub tenant: String,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the Admin API's OpenAPI 3.1 document.
    Openapi,
    /// Manage tenants (isolated identity realms served under /t/{id}).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage OAuth clients (relying parties).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage groups (the `groups` claim).
    #[command(subcommand)]
    Group(GroupCommand),
    /// Manage Admin API keys.
    #[command(subcommand, name = "admin-key")]
    AdminKey(AdminKeyCommand),
    /// Manage token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Export or import the profile schema (JSON).
    #[command(subcommand)]
    Schema(SchemaCommand),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; it is served at {issuer}/t/{id} at once.
    Create {
        #[arg(value_name = "ID")]
        id: String,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the tenants.
    List,
    /// Delete a tenant and everything in it (refused for `default`).
    Delete {
        #[arg(value_name = "ID")]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Print the profile schema as JSON.
    Export,
    /// Apply a profile schema document; refused whole on any error.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new signing key active; old keys stay in the JWKS until their tokens expire.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user with an email login ID; prints the user id.
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
        /// Mark the email address as verified.
        #[arg(long)]
        verified: bool,
    },
    /// Import users from a JSON Lines file (`-` for standard input): one user a line, as
    /// `POST /users` takes it plus `groups` and `password_hash`; each line applied or refused
    /// alone; prints a report.
    Import {
        #[arg(value_name = "FILE")]
        file: String,
    },
    /// Write every user as JSON Lines (the import format, with Tessera's own hashes) to FILE, or
    /// to standard output.
    Export {
        #[arg(value_name = "FILE")]
        file: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group; prints its id.
    Create {
        #[arg(value_name = "NAME")]
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Add a user (by id) to the group of this name.
    Add {
        #[arg(value_name = "NAME")]
        name: String,
        #[arg(value_name = "USER_ID")]
        user_id: String,
    },
    /// Remove a user (by id) from the group of this name.
    Remove {
        #[arg(value_name = "NAME")]
        name: String,
        #[arg(value_name = "USER_ID")]
        user_id: String,
    },
    /// List the groups.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints client_id and, for confidential clients, the secret (once).
    Create(ClientCreate),
    /// List registered clients.
    List,
    /// Delete a client by client_id.
    Delete {
        #[arg(value_name = "ID")]
        client_id: String,
    },
}

#[derive(Debug, Args)]
pub struct ClientCreate {
    #[arg(long)]
    name: String,
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required).
    #[arg(long)]
    public: bool,
    /// A third-party client (users are asked for consent).
    #[arg(long)]
    third_party: bool,
    /// Codes only for sessions that proved a second factor (others are asked for one).
    #[arg(long)]
    require_mfa: bool,
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    #[arg(long, value_name = "URI")]
    backchannel_logout_uri: Option<String>,
    /// Grant types (default: authorization_code and refresh_token).
    #[arg(long = "grant", value_name = "GRANT")]
    grants: Vec<String>,
    /// Scopes the client may request (default: all).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum AdminKeyCommand {
    /// Create an Admin API key; prints it once.
    Create {
        #[arg(long)]
        name: String,
        /// A system key: manages tenants (/admin/api/v1/tenants) and acts in every tenant.
        #[arg(long)]
        system: bool,
    },
    /// List the Admin API keys (never the keys themselves).
    List,
    /// Revoke an Admin API key by id; it stops working at once.
    Revoke { id: String },
}

async fn group(
    config: &Config,
    tenant: &str,
    clock: &dyn Clock,
    out: &Output,
    command: GroupCommand,
) -> Result<(), StartError> {
    let db = open_tenant(config, tenant).await?;
    let failed = |e: &dyn std::fmt::Display| StartError::Other(e.to_string());
    let named = |name: &str, found: Option<auth::groups::Group>| {
        found.ok_or_else(|| StartError::Other(format!("no group named {name:?}")))
    };
    let user = |raw: &str| {
        profile::Uuid::parse_str(raw)
            .map_err(|_| StartError::Other(format!("{raw:?} is not a user id")))
    };
    let result = match command {
        GroupCommand::Create { name, description } => {
            let new = auth::groups::NewGroup {
                name: &name,
                description: description.as_deref(),
                ..Default::default()
            };
            let g = auth::groups::create(&db, clock, new, Actor::Cli)
                .await
                .map_err(|e| failed(&e))?;
            out.print(
                serde_json::json!({ "id": g.id, "name": g.name }),
                &g.id.to_string(),
            );
            Ok(())
        }
        GroupCommand::Add { name, user_id } => {
            let g = named(
                &name,
                auth::groups::find_by_name(&db, &name)
                    .await
                    .map_err(|e| failed(&e))?,
            )?;
            let added = auth::groups::add_member(&db, clock, g.id, user(&user_id)?, Actor::Cli)
                .await
                .map_err(|e| failed(&e))?;
            out.print(
                serde_json::json!({ "group": g.name, "user_id": user_id, "added": added }),
                if added { "Added." } else { "Already a member." },
            );
            Ok(())
        }
        GroupCommand::Remove { name, user_id } => {
            let g = named(
                &name,
                auth::groups::find_by_name(&db, &name)
                    .await
                    .map_err(|e| failed(&e))?,
            )?;
            let removed =
                auth::groups::remove_member(&db, clock, g.id, user(&user_id)?, Actor::Cli)
                    .await
                    .map_err(|e| failed(&e))?;
            if removed {
                out.print(
                    serde_json::json!({ "group": g.name, "user_id": user_id, "removed": true }),
                    "Removed.",
                );
                Ok(())
            } else {
                Err(StartError::Other(format!(
                    "{user_id} is not a member of {name:?}"
                )))
            }
        }
        GroupCommand::List => {
            let mut all = Vec::new();
            let mut after = None;
            loop {
                let page = auth::groups::list(&db, after, 200)
                    .await
                    .map_err(|e| failed(&e))?;
                after = page.last().map(|g| g.id);
                let done = page.len() < 200;
                all.extend(page);
                if done {
                    break;
                }
            }
            let json: Vec<_> = all
                .iter()
                .map(|g| serde_json::json!({ "id": g.id, "name": g.name, "description": g.description }))
                .collect();
            let text = if all.is_empty() {
                "No groups.".to_owned()
            } else {
                all.iter()
                    .map(|g| format!("{}\t{}", g.id, g.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            out.print(serde_json::Value::Array(json), &text);
            Ok(())
        }
    };
    db.close().await;
    result
}

/// Runs a command to completion.
pub async fn run(cli: Cli) -> Result<(), StartError> {
    let config = Config::load(cli.config.as_deref())?;
    crate::telemetry::init_logging(&config.log.level);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let out = Output { json: cli.json };
    let tenant = cli.tenant.as_str();
    let command = cli.command.unwrap_or(Command::Serve);
    if tenant != store::DEFAULT_TENANT
        && matches!(
            command,
            Command::Serve | Command::Migrate | Command::Openapi | Command::Tenant(_)
        )
    {
        return Err(StartError::Other(
            "--tenant does not apply to this command (it serves or manages every tenant)".into(),
        ));
    }
    // The issuer of the tenant the command acts in.
    let issuer = oidc::tenants::issuer_of(&config.server.issuer, tenant);
    match command {
        Command::Serve => serve(&config, clock).await,
        Command::Openapi => {
            println!("{}", admin_api::openapi::json());
            Ok(())
        }
        Command::Migrate => {
            let db = server::open_database(&config).await?;
            db.close().await;
            out.print(
                serde_json::json!({ "migrated": true }),
                "Migrations applied.",
            );
            Ok(())
        }
        Command::User(UserCommand::Create {
            email,
            password_stdin,
            verified,
        }) => {
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let db = open_tenant(&config, tenant).await?;
            let hasher = auth::PasswordHasher::new(config.argon2_params())
                .map_err(|e| StartError::Other(e.to_string()))?;
            let input = auth::accounts::SignUp {
                email,
                password,
                email_verified: verified,
                ip: None,
                actor: Actor::Cli,
                initial_profile: profile::NewProfile::generated(config.profile.generate_nickname),
            };
            let id = auth::accounts::sign_up(
                &db,
                clock.as_ref(),
                &hasher,
                &config.password_policy(),
                input,
            )
            .await
            .map_err(|e| StartError::Other(e.to_string()))?;
            db.close().await;
            out.print(serde_json::json!({ "id": id }), &id.to_string());
            Ok(())
        }
        Command::User(UserCommand::Import { file }) => {
            use std::io::BufRead;
            let db = open_tenant(&config, tenant).await?;
            let profiles = profile::ProfileService::start(&db, &issuer)
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            let hasher = auth::PasswordHasher::new(config.argon2_params())
                .map_err(|e| StartError::Other(e.to_string()))?;
            let reader: Box<dyn BufRead> = if file == "-" {
                Box::new(std::io::BufReader::new(std::io::stdin()))
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(&file)
                        .map_err(|e| StartError::Other(format!("{file}: {e}")))?,
                ))
            };
            let lines = reader
                .lines()
                .map(|l| l.map_err(|e| format!("unreadable: {e}")));
            let report = auth::import::import(
                &db,
                clock.as_ref(),
                &profiles,
                &hasher,
                &config.password_policy(),
                lines,
                Actor::Cli,
                auth::import::PlainPasswords(None),
            )
            .await
            .map_err(|e| StartError::Other(e.to_string()))?;
            db.close().await;
            let refused: Vec<serde_json::Value> = report
                .refused
                .iter()
                .map(|r| serde_json::json!({ "line": r.line, "error": r.error }))
                .collect();
            let mut text = format!(
                "{} users imported, {} lines refused.",
                report.created,
                report.refused.len()
            );
            for r in &report.refused {
                text.push_str(&format!("\nline {}: {}", r.line, r.error));
            }
            out.print(
                serde_json::json!({ "created": report.created, "refused": refused }),
                &text,
            );
            Ok(())
        }
        Command::User(UserCommand::Export { file }) => {
            use std::io::Write;
            let db = open_tenant(&config, tenant).await?;
            let profiles = profile::ProfileService::start(&db, &issuer)
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            let mut sink: Box<dyn Write> = match &file {
                Some(f) if f != "-" => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(f).map_err(|e| StartError::Other(format!("{f}: {e}")))?,
                )),
                _ => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            let n = auth::import::export(&db, &profiles, |line| writeln!(sink, "{line}"))
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            sink.flush()
                .map_err(|e| StartError::Other(format!("writing: {e}")))?;
            db.close().await;
            if file.as_deref().is_some_and(|f| f != "-") {
                out.print(
                    serde_json::json!({ "exported": n }),
                    &format!("{n} users exported."),
                );
            }
            Ok(())
        }
        Command::Client(ClientCommand::Create(c)) => {
            let db = open_tenant(&config, tenant).await?;
            let registration = oidc::clients::ClientRegistration {
                name: c.name,
                redirect_uris: c.redirect_uris,
                public: c.public,
                third_party: c.third_party,
                require_mfa: c.require_mfa,
                post_logout_redirect_uris: c.post_logout_redirect_uris,
                backchannel_logout_uri: c.backchannel_logout_uri,
                grant_types: c.grants,
                scopes: c.scopes,
            };
            let registered =
                oidc::clients::register_client(&db, clock.as_ref(), registration, Actor::Cli)
                    .await
                    .map_err(|e| StartError::Other(e.to_string()))?;
            db.close().await;
            let id = &registered.client.client_id;
            let text = match &registered.client_secret {
                Some(secret) => format!(
                    "client_id: {id}\nclient_secret: {secret}\n(The secret is shown only now; store it safely.)"
                ),
                None => format!("client_id: {id}\n(public client: no secret)"),
            };
            let mut json = serde_json::json!({ "client_id": id });
            if let Some(secret) = &registered.client_secret {
                json["client_secret"] = serde_json::json!(secret);
            }
            out.print(json, &text);
            Ok(())
        }
        Command::Group(command) => group(&config, tenant, clock.as_ref(), &out, command).await,
        Command::Client(ClientCommand::List) => {
            let db = open_tenant(&config, tenant).await?;
            let clients = oidc::clients::list_clients(&db)
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            db.close().await;
            let json: Vec<_> = clients
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "client_id": c.client_id,
                        "name": c.name,
                        "public": c.is_public,
                        "third_party": c.third_party,
                        "require_mfa": c.require_mfa,
                        "redirect_uris": c.redirect_uris,
                        "post_logout_redirect_uris": c.post_logout_redirect_uris,
                        "backchannel_logout_uri": c.backchannel_logout_uri,
                        "grant_types": c.grant_types,
                        "scopes": c.scopes,
                        "created_at": c.created_at.to_rfc3339(),
                    })
                })
                .collect();
            let text = if clients.is_empty() {
                "No clients.".to_owned()
            } else {
                clients
                    .iter()
                    .map(|c| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            c.client_id,
                            c.name,
                            if c.is_public {
                                "public"
                            } else {
                                "confidential"
                            },
                            c.redirect_uris.join(" ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            out.print(serde_json::Value::Array(json), &text);
            Ok(())
        }
        Command::Client(ClientCommand::Delete { client_id }) => {
            let db = open_tenant(&config, tenant).await?;
            let deleted = oidc::clients::delete_client(&db, clock.as_ref(), &client_id, Actor::Cli)
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            db.close().await;
            if !deleted {
                return Err(StartError::Other(format!(
                    "no client with client_id {client_id:?}"
                )));
            }
            out.print(
                serde_json::json!({ "deleted": true, "client_id": client_id }),
                &format!("Deleted client {client_id}."),
            );
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate) => {
            let db = open_tenant(&config, tenant).await?;
            let settings = oidc::ProviderSettings {
                issuer: issuer.clone(),
                ..config.provider_settings()?
            };
            oidc::provider::ensure_active_keys(&db, clock.as_ref(), &settings)
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            let kids = oidc::provider::rotate_keys(&db, clock.as_ref(), &settings)
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            db.close().await;
            out.print(
                serde_json::json!({ "active_kids": kids }),
                &format!("New signing keys are active: {}", kids.join(", ")),
            );
            Ok(())
        }
        Command::Schema(SchemaCommand::Export) => {
            let db = open_tenant(&config, tenant).await?;
            let profiles = profile::ProfileService::start(&db, &issuer)
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            let schema = profiles
                .schema(&db)
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            db.close().await;
            let doc = schema.to_document();
            let pretty = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string());
            out.print(doc, &pretty);
            Ok(())
        }
        Command::Schema(SchemaCommand::Import { file }) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| StartError::Other(format!("cannot read {}: {e}", file.display())))?;
            let doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| StartError::Other(format!("{} is not JSON: {e}", file.display())))?;
            let db = open_tenant(&config, tenant).await?;
            let profiles = profile::ProfileService::start(&db, &issuer)
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            let result = profiles
                .replace_schema(&db, clock.as_ref(), &doc, Actor::Cli)
                .await;
            db.close().await;
            let schema = result.map_err(|e| StartError::Other(format!("schema refused: {e}")))?;
            out.print(
                schema.to_document(),
                &format!(
                    "Profile schema imported: {} custom attribute(s).",
                    schema.custom.len()
                ),
            );
            Ok(())
        }
        Command::AdminKey(AdminKeyCommand::Create { name, system }) => {
            if system && tenant != store::DEFAULT_TENANT {
                return Err(StartError::Other(
                    "a system key belongs to no tenant: leave out --tenant".into(),
                ));
            }
            let db = open_tenant(&config, tenant).await?;
            let key =
                auth::admin_keys::create_admin_key(&db, clock.as_ref(), &name, system, Actor::Cli)
                    .await
                    .map_err(|e| StartError::Other(e.to_string()))?;
            db.close().await;
            out.print(
                serde_json::json!({
                    "id": key.id,
                    "name": key.name,
                    "key": key.key,
                    "tenant": tenant,
                    "system": system,
                }),
                &format!(
                    "{}\n(The key is shown only now; store it safely. Id: {})",
                    key.key, key.id
                ),
            );
            Ok(())
        }
        Command::AdminKey(AdminKeyCommand::List) => {
            let db = open_tenant(&config, tenant).await?;
            let keys = auth::admin_keys::list(&db)
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            db.close().await;
            let json: Vec<_> = keys
                .iter()
                .map(|k| {
                    serde_json::json!({
                        "id": k.id,
                        "name": k.name,
                        "created_at": k.created_at.to_rfc3339(),
                        "last_used_at": k.last_used_at.map(|t| t.to_rfc3339()),
                        "revoked": k.revoked_at.is_some(),
                        "system": k.system,
                    })
                })
                .collect();
            let text: Vec<_> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}  {}  created {}{}",
                        k.id,
                        k.name,
                        k.created_at.format("%Y-%m-%d"),
                        if k.revoked_at.is_some() {
                            "  (revoked)"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            out.print(serde_json::Value::Array(json), &text.join("\n"));
            Ok(())
        }
        Command::Tenant(TenantCommand::Create { id, name }) => {
            let db = server::open_database(&config).await?;
            let created = oidc::tenants::create(
                &db,
                clock.as_ref(),
                &id,
                oidc::tenants::TenantChange {
                    name: name.as_deref(),
                    settings: None,
                },
                config.password.max_length,
                Actor::Cli,
            )
            .await;
            db.close().await;
            let t = created.map_err(|e| StartError::Other(e.to_string()))?;
            let issuer = oidc::tenants::issuer_of(&config.server.issuer, &t.id);
            out.print(
                serde_json::json!({ "id": t.id, "name": t.name, "issuer": issuer }),
                &format!("Tenant {} created; its issuer is {issuer}", t.id),
            );
            Ok(())
        }
        Command::Tenant(TenantCommand::List) => {
            let db = server::open_database(&config).await?;
            let mut all = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = oidc::tenants::list(&db, after.as_deref(), 500)
                    .await
                    .map_err(|e| StartError::Other(e.to_string()))?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.clone());
                all.extend(page);
            }
            db.close().await;
            let issuer_of = |id: &str| oidc::tenants::issuer_of(&config.server.issuer, id);
            let json: Vec<_> = all
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "id": t.id,
                        "name": t.name,
                        "issuer": issuer_of(&t.id),
                        "created_at": t.created_at.to_rfc3339(),
                    })
                })
                .collect();
            let text: Vec<_> = all
                .iter()
                .map(|t| format!("{}\t{}\t{}", t.id, t.name, issuer_of(&t.id)))
                .collect();
            out.print(serde_json::Value::Array(json), &text.join("\n"));
            Ok(())
        }
        Command::Tenant(TenantCommand::Delete { id }) => {
            let db = server::open_database(&config).await?;
            let deleted = oidc::tenants::delete(&db, clock.as_ref(), &id, Actor::Cli).await;
            db.close().await;
            match deleted.map_err(|e| StartError::Other(e.to_string()))? {
                oidc::tenants::Deletion::Deleted => {
                    out.print(
                        serde_json::json!({ "deleted": true, "id": id }),
                        &format!("Tenant {id} and everything in it deleted."),
                    );
                    Ok(())
                }
                oidc::tenants::Deletion::NotFound => {
                    Err(StartError::Other(format!("no tenant {id:?}")))
                }
                oidc::tenants::Deletion::Default => Err(StartError::Other(
                    "the default tenant cannot be deleted".into(),
                )),
            }
        }
        Command::AdminKey(AdminKeyCommand::Revoke { id }) => {
            let id = store::Uuid::parse_str(&id)
                .map_err(|_| StartError::Other(format!("{id:?} is not an admin key id")))?;
            let db = open_tenant(&config, tenant).await?;
            let revoked = auth::admin_keys::revoke(&db, clock.as_ref(), id, Actor::Cli)
                .await
                .map_err(|e| StartError::Other(e.to_string()))?;
            db.close().await;
            if !revoked {
                return Err(StartError::Other(format!("no live admin key with id {id}")));
            }
            out.print(
                serde_json::json!({ "id": id, "revoked": true }),
                &format!("Admin key {id} revoked."),
            );
            Ok(())
        }
    }
}

/// Opens the database scoped to `tenant`, which must exist.
async fn open_tenant(config: &Config, tenant: &str) -> Result<store::Db, StartError> {
    let db = server::open_database(config).await?;
    if tenant == store::DEFAULT_TENANT {
        return Ok(db);
    }
    let found = oidc::tenants::find(&db, tenant)
        .await
        .map_err(|e| StartError::Other(e.to_string()))?;
    if found.is_none() {
        db.close().await;
        return Err(StartError::Other(format!(
            "no tenant {tenant:?} (tessera tenant create {tenant})"
        )));
    }
    Ok(db.in_tenant(tenant))
}

struct Output {
    json: bool,
}

impl Output {
    fn print(&self, json: serde_json::Value, text: &str) {
        if self.json {
            println!("{json}");
        } else {
            println!("{text}");
        }
    }
}

fn read_password() -> Result<String, StartError> {
    let mut input = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut input)
        .map_err(|e| StartError::Other(format!("cannot read the password from stdin: {e}")))?;
    let password = input.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        return Err(StartError::Other("no password on stdin".into()));
    }
    Ok(password)
}

async fn serve(config: &Config, clock: Arc<dyn Clock>) -> Result<(), StartError> {
    let db = server::open_database(config).await?;
    tracing::info!(backend = db.backend_name(), "database ready");
    let state = AppState::new(config, db, clock).await?;
    let running = server::start(config, state, None)?;
    tracing::info!(
        listen = %running.addr,
        issuer = %config.server.issuer,
        "Tessera is serving"
    );
    running
        .server
        .await
        .map_err(|e| StartError::Other(e.to_string()))
}
