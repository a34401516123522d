//! The REST API of `keepwatch run`: JSON under `/api/v1`, described by an
//! OpenAPI 3.1 document generated from the handlers (`docs/openapi.json`).
//!
//! It runs on the agent's own tokio runtime, but every database read happens
//! on a blocking thread through its own connection, and at most
//! `max_concurrent` requests are served at once (the rest get 429), so a
//! flood of requests cannot hold up checks or alerts.

mod auth;
mod connections;
mod error;
mod ingest;
mod metrics;
mod ping;
mod reports;
mod tls;
mod views;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::sync::Semaphore;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

pub use auth::{Role, TokenError, create_token};
pub use error::{ApiError, ErrorBody};

use crate::alert::engine::Alerter;
use crate::calendar::Calendar;
use crate::checks::ServiceSpec;
use crate::clock::Clock;
use crate::config::ApiConfig;
use crate::notify::Channel;
use crate::status::Sources;
use crate::store::{Store, StoreError};
use connections::Connections;

/// What the handlers share: database connections of their own, the
/// configured services and calendar, and the limits.
#[derive(Clone)]
pub struct ApiState(Arc<Shared>);

/// The inside of [`ApiState`].
pub struct Shared {
    store: Arc<Connections>,
    services: Vec<ServiceSpec>,
    calendar: Calendar,
    alerter: Alerter,
    channels: Vec<Channel>,
    host: String,
    clock: Arc<dyn Clock>,
    config: ApiConfig,
    busy: Arc<Semaphore>,
    rates: auth::RateLimit,
    own: metrics::OwnProcess,
    /// Told when a heartbeat ping was recorded, for the agent.
    pings: Arc<tokio::sync::Notify>,
    /// Where batches from agents go: the agent's loop stores them.
    deliveries: tokio::sync::mpsc::Sender<crate::agent::Delivery>,
    /// The other end, until [`spawn`] hands it to the agent's loop.
    taken: Mutex<Option<tokio::sync::mpsc::Receiver<crate::agent::Delivery>>>,
    /// The whole configuration, which reports read.
    full_config: crate::config::Config,
    /// The database file, for a report's own connection.
    database: std::path::PathBuf,
    /// One report at a time.
    reports: Arc<Semaphore>,
}

impl std::ops::Deref for ApiState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl ApiState {
    /// Builds the state from an open store (a connection only the API uses;
    /// more are opened to the same file when requests overlap).
    pub fn new(store: Store, settings: &Settings, clock: Arc<dyn Clock>) -> Self {
        let config = settings.api.clone();
        let busy = Arc::new(Semaphore::new(config.max_concurrent.max(1)));
        // A few batches wait while the loop stores one; more wait for room.
        let (deliveries, taken) = tokio::sync::mpsc::channel(4);
        let database = store.path().to_path_buf();
        ApiState(Arc::new(Shared {
            store: Connections::new(store, settings.storage.clone(), Connections::per_core()),
            services: settings.services.clone(),
            calendar: settings.calendar.clone(),
            alerter: settings.alerter.clone(),
            channels: settings.channels.clone(),
            host: settings.host.clone(),
            clock,
            config,
            busy,
            rates: auth::RateLimit::default(),
            own: metrics::OwnProcess::default(),
            pings: Arc::default(),
            deliveries,
            taken: Mutex::new(Some(taken)),
            full_config: settings.config.clone(),
            database,
            reports: Arc::new(Semaphore::new(1)),
        }))
    }

    /// What the status is read from besides the store.
    fn sources(&self) -> Sources<'_> {
        Sources {
            host: &self.host,
            services: &self.services,
            calendar: &self.calendar,
            alerter: &self.alerter,
            channels: &self.channels,
        }
    }

    /// Runs `query` on one of the API's connections on a blocking thread,
    /// so the agent's runtime keeps running checks meanwhile.
    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.store.with(query).await?.map_err(ApiError::from)
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "keepwatch",
        description = "Status, services, history, incidents, alerts, maintenance and reports of one keepwatch agent. Every endpoint except /healthz and the heartbeat ping URLs (/ping/..., whose key is their secret) needs `Authorization: Bearer <token>` (`keepwatch token create`); /metrics also answers addresses listed in `[api] metrics_allow`.",
    ),
    modifiers(&BearerToken),
    security(("token" = [])),
)]
struct Document;

struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(Document::openapi())
        .merge(views::routes())
        .merge(metrics::routes())
        .merge(ping::routes())
        .merge(ingest::routes())
        .merge(reports::routes())
}

/// The OpenAPI document, as served at `/api/v1/openapi.json` and committed
/// in `docs/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// The API's router with its limits.
pub fn router(state: ApiState) -> axum::Router {
    // The document is made again when asked for rather than kept: as
    // utoipa's structures it holds about 1.2 MB, most of what an idle API
    // would add to the agent's memory, for an endpoint that is rarely read.
    let (router, _) = routes().split_for_parts();
    let max_body = usize::try_from(state.config.max_body.0).unwrap_or(usize::MAX);
    router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(|_: auth::Viewer| async { axum::Json(openapi()) }),
        )
        .fallback(|| async {
            ApiError::not_found(
                "there is no such endpoint",
                "the endpoints are listed in /api/v1/openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(error::as_json))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limit_concurrency,
        ))
        .with_state(state)
}

async fn limit_concurrency(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let _permit = state.busy.clone().try_acquire_owned().map_err(|_| {
        ApiError::too_many(
            format!(
                "more than {} requests at the same time",
                state.config.max_concurrent
            ),
            "send fewer requests at once, or raise `max_concurrent` in [api]",
        )
    })?;
    Ok(next.run(request).await)
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `listen` is not an address and port.
    #[error("[api] listen = {0:?} is not an address with a port; write e.g. \"127.0.0.1:8970\"")]
    BadAddress(String),
    /// The port is taken or not allowed.
    #[error(
        "the API cannot listen on {addr}: {source}; another program may use that port (change `listen` in [api], or set `enabled = false`)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// `cert_file` or `key_file` cannot be used (changed since the config was loaded).
    #[error("[api] {}: {}; {}", .0.field, .0.message, .0.hint)]
    Tls(crate::config::TlsProblem),
    /// The API's own database connection could not be opened.
    #[error("the API cannot open the database: {0}")]
    Store(StoreError),
}

/// Binds the configured address.
pub async fn bind(config: &ApiConfig) -> Result<tokio::net::TcpListener, ServeError> {
    let addr: SocketAddr = config
        .listen
        .parse()
        .map_err(|_| ServeError::BadAddress(config.listen.clone()))?;
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves the API on `listener` until the task is dropped: HTTPS with
/// `tls` (from [`ApiConfig::tls`]), else plain HTTP.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: ApiState,
) {
    let app = router(state).into_make_service_with_connect_info::<tls::Peer>();
    give_back_freed_memory();
    let served = match tls {
        None => axum::serve(listener, app).await,
        Some(config) => axum::serve(tls::Handshakes::new(listener, config), app).await,
    };
    if let Err(err) = served {
        tracing::error!("the API stopped: {err}");
    }
}

/// Hands the heap memory freed so far back to the system. Building the
/// router makes its OpenAPI document as it goes (about 1.2 MB in many small
/// pieces between the router's own), and glibc keeps freed pieces that lie
/// between used ones: without this an idle API would cost the agent that
/// much resident memory for good (`scripts/bench-checks.sh`).
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only returns free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What [`spawn`] needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `[api]` section.
    pub api: ApiConfig,
    /// The configured services.
    pub services: Vec<ServiceSpec>,
    /// The business calendar.
    pub calendar: Calendar,
    /// The alerting (`config::Config::alerter`), for where each open alert stands.
    pub alerter: Alerter,
    /// The configured channels, to say how each delivers.
    pub channels: Vec<Channel>,
    /// This computer's name in keepwatch.
    pub host: String,
    /// How the database is opened.
    pub storage: crate::store::StorageConfig,
    /// The whole configuration, which reports are made from.
    pub config: crate::config::Config,
}

/// A running API; dropping it stops the server.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Told whenever a heartbeat ping came in through the API: the agent's
    /// loop (`agent::RunOptions::pings`) waits on it.
    pub pings: Arc<tokio::sync::Notify>,
    /// Batches from agents, for the agent's loop to store
    /// (`agent::RunOptions::deliveries`); taken once.
    pub deliveries: Option<tokio::sync::mpsc::Receiver<crate::agent::Delivery>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the API on the current runtime when `[api] enabled`, with its own
/// connection to `database`; `None` when it is switched off.
pub async fn spawn(
    settings: &Settings,
    database: &std::path::Path,
    clock: Arc<dyn Clock>,
) -> Result<Option<Running>, ServeError> {
    if !settings.api.enabled {
        return Ok(None);
    }
    let tls = settings.api.tls().map_err(ServeError::Tls)?;
    let store = Store::open(database, &settings.storage).map_err(ServeError::Store)?;
    let listener = bind(&settings.api).await?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let state = ApiState::new(store, settings, clock);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        "the API answers on {scheme}://{addr}/api/v1 (tokens: `keepwatch token create`)"
    );
    let pings = state.pings.clone();
    let deliveries = state.taken.lock().unwrap_or_else(|p| p.into_inner()).take();
    let task = tokio::spawn(serve(listener, tls, state));
    Ok(Some(Running {
        addr,
        pings,
        deliveries,
        task,
    }))
}
