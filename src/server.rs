//! Wiring: the shared state, the actix-web application, and starting the listener.

use crate::config::Config;
use crate::telemetry::{self, Metrics};
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::StatusCode;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use std::net::SocketAddr;
use std::sync::Arc;
use store::{Clock, Db, DbSettings};

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// `server.trusted_proxies`, read by `web::client_ip` for every request.
    pub trusted_proxies: http_kit::TrustedProxies,
    /// Send `Strict-Transport-Security` (the issuer is https).
    pub hsts: bool,
    /// The tenants this process serves (SPEC §11), loaded on first use.
    pub tenants: Arc<oidc::tenants::Registry>,
    pub web: web::Data<::web::WebState>,
    pub admin: web::Data<admin_api::AdminState>,
    pub metrics: web::Data<Metrics>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("database: {0}")]
    Database(#[from] store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// Opens the database named in the configuration and applies pending migrations.
pub async fn open_database(config: &Config) -> Result<Db, StartError> {
    let db = Db::connect(
        &config.database.url,
        &DbSettings {
            max_connections: config.database.max_connections,
        },
    )
    .await?;
    db.migrate().await?;
    Ok(db)
}

impl AppState {
    /// Builds the shared state: loads (or on first start generates) the signing keys.
    pub async fn new(config: &Config, db: Db, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let provider = Arc::new(
            oidc::Provider::start(&db, clock.as_ref(), config.provider_settings()?)
                .await
                .map_err(|e| StartError::Other(format!("signing keys: {e}")))?,
        );
        provider.spawn_key_reloader(
            db.clone(),
            clock.clone(),
            std::time::Duration::from_secs(60),
        );
        auth::housekeeping::spawn(db.clone(), clock.clone(), auth::housekeeping::EVERY);
        let profiles = Arc::new(
            profile::ProfileService::start(&db, &config.server.issuer)
                .await
                .map_err(|e| StartError::Other(format!("profile schema: {e}")))?
                .with_redirect_hosts(config.images.redirect_hosts.clone()),
        );
        let csrf_secret =
            auth::secrets::shared_secret(&db, clock.as_ref(), ::web::csrf::SECRET_NAME)
                .await
                .map_err(|e| StartError::Other(format!("CSRF secret: {e}")))?;
        let secure_cookies = config.secure_cookies();
        let hasher = auth::PasswordHasher::new(config.argon2_params())
            .map_err(|e| StartError::Other(e.to_string()))?;
        let upstreams = Arc::new(
            oidc::upstream::Upstreams::new(&config.server.issuer, config.upstream_settings()?)
                .map_err(|e| StartError::Other(format!("upstream HTTP client: {e}")))?,
        );
        let webhook_secrets = auth::webhooks::SecretBox::load(&db, clock.as_ref())
            .await
            .map_err(|e| StartError::Other(format!("webhook key: {e}")))?;
        auth::webhooks::configure(
            &db,
            &webhook_secrets,
            clock.as_ref(),
            &config.configured_webhooks()?,
        )
        .await
        .map_err(|e| StartError::Other(format!("webhooks of the configuration: {e}")))?;
        let deliverer = auth::webhooks::Deliverer::new(
            db.clone(),
            clock.clone(),
            webhook_secrets.clone(),
            config.webhooks.allow_private,
        )
        .map_err(|e| StartError::Other(format!("webhook HTTP client: {e}")))?;
        tokio::spawn(deliverer.run(std::time::Duration::from_millis(
            config.webhooks.poll_interval_ms.max(10),
        )));
        let services = oidc::Services {
            webhook_secrets,
            tenant: Arc::new(oidc::tenants::default_info(&config.server.name)),
            upstreams,
            db: db.clone(),
            clock,
            provider,
            profiles,
            hasher,
            password_policy: config.password_policy(),
            session_policy: config.session_policy(),
            brute_force: config.brute_force_policy(),
            code_policy: config.code_policy(),
            rate_limits: config.rate_limits(),
            mailer: config.mailer()?,
            sms: config.sms_sender()?,
            require_email_verification: config.verification.email.required,
            login_ids: config.login_ids(),
            require_second_factor: config.mfa_required()?,
            generate_nickname: config.profile.generate_nickname,
        };
        let tenants = Arc::new(oidc::tenants::Registry::new(oidc::tenants::Blueprint {
            default: services,
            base_url: config.server.issuer.clone(),
            redirect_hosts: config.images.redirect_hosts.clone(),
            configured: config.configured_tenants()?,
        }));
        tenants
            .create_configured()
            .await
            .map_err(|e| StartError::Other(format!("tenants of the configuration: {e}")))?;
        let services = tenants.default_services().clone();
        let web = ::web::WebState {
            services: services.clone(),
            secure_cookies,
            csrf_key: ::web::csrf::CsrfKey::from_secret(&csrf_secret),
            cookies: ::web::session_cookie::CookieNames::new(secure_cookies),
        };
        let admin = admin_api::AdminState {
            services,
            tenants: tenants.clone(),
        };
        let token = Some(config.server.metrics_token.clone()).filter(|t| !t.is_empty());
        let metrics = Metrics::new(token).map_err(|e| StartError::Other(e.to_string()))?;
        Ok(Self {
            tenants,
            db,
            trusted_proxies: config.trusted_proxies()?,
            hsts: secure_cookies,
            web: web::Data::new(web),
            admin: web::Data::new(admin),
            metrics: web::Data::new(metrics),
        })
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unreachable")
        }
    }
}

async fn not_found() -> HttpResponse {
    HttpResponse::build(StatusCode::NOT_FOUND)
        .content_type("text/plain; charset=utf-8")
        .body("Not found")
}

/// Registers every route of the application.
pub fn configure(state: AppState) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(state.clone()))
            .app_data(state.trusted_proxies.clone())
            .app_data(state.web.clone())
            .app_data(state.metrics.clone())
            .app_data(state.admin.clone())
            .app_data(web::Data::from(state.tenants.clone()))
            .app_data(web::FormConfig::default().limit(64 * 1024))
            .app_data(web::JsonConfig::default().limit(256 * 1024))
            .app_data(web::PayloadConfig::default().limit(256 * 1024))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(telemetry::metrics))
            .configure(::web::configure)
            .configure(admin_api::configure)
            .configure(admin_api::scim::configure);
    }
}

/// A started server.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub server: Server,
}

/// Binds `server.listen` (or uses `listener`, already bound) and builds the server; the caller
/// awaits or spawns `server`.
pub fn start(
    config: &Config,
    state: AppState,
    listener: Option<std::net::TcpListener>,
) -> Result<RunningServer, StartError> {
    let addr = config.listen_addr()?;
    let hsts = state.hsts;
    let routes = configure(state);
    let mut server = HttpServer::new(move || {
        let mut headers = DefaultHeaders::new()
            .add(("X-Content-Type-Options", "nosniff"))
            .add(("X-Frame-Options", "DENY"))
            .add(("Referrer-Policy", "no-referrer"))
            .add((
                "Content-Security-Policy",
                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
            ));
        if hsts {
            // Behind TLS (the issuer is https): browsers never try plain http again for a year.
            headers = headers.add(("Strict-Transport-Security", "max-age=31536000"));
        }
        App::new()
            .wrap(headers)
            .wrap(
                actix_web::middleware::ErrorHandlers::new()
                    .default_handler(http_kit::problem::api_errors_as_problems),
            )
            .wrap(from_fn(crate::tenancy::route))
            .wrap(from_fn(http_kit::input_guard::refuse_nul))
            .wrap(from_fn(telemetry::observe))
            .configure(routes.clone())
            .default_service(web::to(not_found))
    });
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    let server = match listener {
        Some(l) => server.listen(l),
        None => server.bind(addr),
    }
    .map_err(|source| StartError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let bound = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| StartError::Other("no listening address".into()))?;
    let server = server.run();
    Ok(RunningServer {
        addr: bound,
        handle: server.handle(),
        server,
    })
}
