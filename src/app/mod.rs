//! Building the application: database, migrations, keys, hashing pool, widgets, HTTP server.
//! Binds the listener itself so tests can ask for port 0 and read the port back.

mod maintenance;
mod server;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::header;
use actix_web::middleware::{Condition, DefaultHeaders, ErrorHandlers, from_fn};
use actix_web::{App, web};
use secrecy::ExposeSecret;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::domain::dpop::{DpopPolicy, NonceMode};
use crate::domain::limits::Limiter;
use crate::domain::usage::Usage;
use crate::domain::{Authority, Error, Records};
use crate::http::{self, AppState, middleware};
use crate::security::dpop::NonceKey;
use crate::security::hashing::Hasher;
use crate::security::keys::{self, MasterKey};
use crate::security::tokens::TokenService;
use crate::store::spool::Spool;
use crate::store::{MigrationReport, Store, StoreError};
use crate::widgets::{CorsPolicy, Widgets};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Domain(#[from] Error),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("configuration error: {0}")]
    Config(String),
}

/// Opens the database and brings the schema (and the provisioning directory, if configured) up
/// to date. Shared by the server and the CLI.
pub async fn open_store(settings: &Settings) -> Result<Store, StoreError> {
    Ok(migrate(settings).await?.0)
}

/// `open_store`, with what the schema migration did.
pub async fn migrate(settings: &Settings) -> Result<(Store, MigrationReport), StoreError> {
    let store = Store::connect(
        settings.database_url.expose_secret(),
        settings.db_max_connections,
        Duration::from_millis(settings.db_acquire_timeout_ms),
    )
    .await?;
    let schema = store.migrate().await?;
    if let Some(dir) = &settings.provisioning_dir {
        let report = store.migrate_provisioning(dir).await?;
        if !report.applied.is_empty() {
            tracing::info!(applied = ?report.applied, "applied provisioning migrations");
        }
    }
    Ok((store, schema))
}

pub fn master_key(settings: &Settings) -> Result<MasterKey, Error> {
    Ok(match &settings.master_key {
        Some(key) => MasterKey::from_base64(key)?,
        None => {
            tracing::warn!(
                path = %settings.master_key_file.display(),
                "TOLLGATE_MASTER_KEY is not set: signing keys are sealed with a DEVELOPMENT key \
                 kept in a local file. Set TOLLGATE_MASTER_KEY (32 random bytes, base64) in production."
            );
            MasterKey::load_or_create_dev(&settings.master_key_file)?
        }
    })
}

/// The login endpoint's origin policy. Always with credentials: a login sets the session
/// cookie, which a browser keeps from a cross-origin answer only with them.
fn login_cors(settings: &Settings) -> Result<CorsPolicy, StartupError> {
    let origins = settings.login_origins();
    if origins.is_empty() {
        return Ok(CorsPolicy::None);
    }
    CorsPolicy::from_config(&origins, Some(true)).map_err(|e| {
        StartupError::Config(format!(
            "login_allowed_origins (TOLLGATE_LOGIN_ALLOWED_ORIGINS): {e}"
        ))
    })
}

pub struct Application {
    port: u16,
    server: Server,
    /// The `/metrics` listener, when configured, and its port.
    metrics: Option<(Server, u16)>,
    state: web::Data<AppState>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        mut settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(settings.listen)?;
        // Bound first too, so a port in use stops the start before anything else happens.
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).map_err(|e| {
                StartupError::Config(format!("metrics_listen {addr}: cannot listen: {e}"))
            })?),
            None => None,
        };
        settings
            .resolve_issuer_for(listener.local_addr()?)
            .map_err(|e| StartupError::Config(e.to_string()))?;
        crate::widgets::axp::install_crypto_provider();
        // Configuration mistakes stop the start before the database is touched.
        let mut widgets = Widgets::from_config(&settings.widget_profiles, &settings.named_secrets)
            .map_err(StartupError::Config)?;
        let own = TokenService::audiences(&settings.issuer, settings.default_audience());
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        widgets
            .check_against_server(settings.signing_alg, &own)
            .map_err(StartupError::Config)?;
        let login_cors = login_cors(&settings)?;
        let tls = match &settings.tls {
            Some(t) => Some(
                crate::tls::server_config(t, &settings.named_secrets)
                    .map_err(StartupError::Config)?,
            ),
            None => None,
        };
        let hsts = tls.is_some();
        // The CA a certificate from the proxy's header is checked against (see
        // `http::extract::client_certificate`): its own setting, else tollgate's own TLS one.
        let header_ca = match &settings.client_cert_ca_path {
            Some(path) => {
                let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
                let ca = crate::tls::ClientCa::load("client_cert_ca_path", path, provider)
                    .map_err(StartupError::Config)?;
                Some(Arc::new(ca))
            }
            None => tls.as_ref().and_then(|t| t.client_ca.clone()),
        };
        let store = open_store(&settings).await?;
        let master = master_key(&settings)?;
        let key_set = keys::load_or_create(&store, &master, settings.signing_alg, clock.now_secs())
            .await
            .map_err(Error::from)?;
        let tokens = TokenService::new(
            key_set,
            settings.issuer.clone(),
            settings.default_audience().to_owned(),
            settings.access_token_ttl,
            settings.customer_token_ttl,
        )
        .with_key_store(master, settings.signing_alg);
        let hasher = Hasher::start(&settings.argon2).map_err(Error::from)?;
        let limits = Limiter::new(
            settings.limit_settings(),
            settings
                .redis_url
                .as_ref()
                .map(|u| u.expose_secret().to_owned()),
            settings.redis_prefix.clone(),
        );
        let spool = Spool::open(&settings.spool_dir, settings.spool_max_bytes).map_err(|e| {
            StartupError::Config(format!("spool_dir {}: {e}", settings.spool_dir.display()))
        })?;
        // Usage a previous run could not write when it stopped (each flush applies once).
        match Usage::replay_spool(&store, &spool, clock.now_millis()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(flushes = n, "usage from the spool written to the database"),
            Err(e) => {
                tracing::warn!(error = %e, "usage spool not written yet; kept for the next start")
            }
        }
        let records = Records {
            spool,
            audit_every_token: settings.audit_every_token,
        };
        let authority = Authority::new(store, hasher, tokens, limits, records)?.with_assertions(
            settings.assertion_policy(),
            settings
                .redis_url
                .as_ref()
                .map(|u| u.expose_secret().to_owned()),
            settings.redis_prefix.clone(),
        );
        let nonces = match settings.dpop_nonce {
            NonceMode::Off => None,
            // Derived from the master key: every instance issues and accepts the same nonces.
            NonceMode::Required => Some(NonceKey::new(
                master_key(&settings)?
                    .derive_hmac_key(b"dpop-nonce")
                    .map_err(Error::from)?,
            )),
        };
        let authority = authority.with_dpop(DpopPolicy {
            max_age_secs: i64::try_from(settings.dpop_proof_max_age).unwrap_or(60),
            nonces,
        });
        authority.sync(clock.now_secs()).await;
        widgets
            .load_keys(
                &authority.store,
                master_key(&settings)?,
                authority.freshness.epoch(),
                clock.now_secs(),
            )
            .await
            .map_err(Error::from)?;
        let client_cert_header = match &settings.client_cert_header {
            Some(name) => Some(header::HeaderName::try_from(name.as_str()).map_err(|_| {
                StartupError::Config(format!(
                    "TOLLGATE_CLIENT_CERT_HEADER {name:?} is not a header name"
                ))
            })?),
            None => None,
        };
        let certificate_bound_tokens = client_cert_header.is_some()
            || settings
                .tls
                .as_ref()
                .is_some_and(|t| t.client_ca_path.is_some());
        let state = web::Data::new(AppState {
            authority,
            clock,
            customer_session: settings.customer_session,
            trusted_proxy_hops: settings.trusted_proxy_hops,
            trusted_proxies: settings.trusted_proxies.clone(),
            client_cert_header,
            header_ca,
            certificate_bound_tokens,
            session_cookie_name: settings.session_cookie_name.clone(),
            body_timeout: Duration::from_millis(settings.body_timeout_ms),
            openapi: http::openapi::render(),
            widgets,
            login_cors,
        });

        maintenance::spawn(
            &state,
            maintenance::Schedule {
                key_rotation_secs: i64::from(settings.key_rotation_days) * 86_400,
                audit_retention_ms: i64::from(settings.audit_retention_days) * 86_400_000,
            },
        );

        let port = listener.local_addr()?.port();
        let max_body = settings.max_body_bytes;
        let app_state = state.clone();
        let workers = settings.http_workers();
        let server = server::serve(listener, workers, tls, move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .wrap(ErrorHandlers::new().default_handler(middleware::json_errors))
                .wrap(middleware::security_headers())
                // HSTS only when this server itself speaks TLS (RFC 6797 §7.2: never over HTTP).
                .wrap(Condition::new(
                    hsts,
                    DefaultHeaders::new().add((
                        header::STRICT_TRANSPORT_SECURITY,
                        "max-age=31536000; includeSubDomains",
                    )),
                ))
                .wrap(from_fn(middleware::request_log))
                .configure(|cfg| http::routes(cfg, &app_state.widgets, &app_state.login_cors))
                .default_service(web::to(http::not_found))
        })?;
        let metrics = match metrics_listener {
            Some(listener) => {
                let port = listener.local_addr()?.port();
                let state = state.clone();
                let server = server::serve(listener, 1, None, move || {
                    App::new()
                        .app_data(state.clone())
                        .route("/metrics", web::get().to(http::routes::metrics::render))
                        .default_service(web::to(http::not_found))
                })?;
                Some((server, port))
            }
            None => None,
        };
        Ok(Self {
            port,
            server,
            metrics,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn authority(&self) -> &Authority {
        &self.state.authority
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until stopped, then writes out the audit events still queued and the usage
    /// counted since the last flush (to the spool if the database is away).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let result = self.server.await;
        if let Some((task, handle)) = metrics {
            handle.stop(true).await;
            let _ = task.await;
        }
        let auth = &self.state.authority;
        auth.audit.flush().await;
        let now_ms = self.state.clock.now_millis();
        auth.usage
            .flush_or_spool(&auth.store, auth.audit.spool(), now_ms)
            .await;
        result
    }
}
