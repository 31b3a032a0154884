//! hookd: the server (HTTP API over a store, the delivery engine) and its
//! command-line interface.
//!
//! | module | owns |
//! | --- | --- |
//! | [`config`] | settings: defaults, TOML file, `HOOKD_*`, flags; checked once at start |
//! | [`api`] | the HTTP API: routes, auth, idempotency, errors, OpenAPI, portal tokens, background tasks |
//! | [`ui`] | the operator dashboard (`/ui/`) and the customer portal (`/portal/`), over the API's handlers |
//! | [`http_server`] | the HTTP server under both listeners: connection cap, header, idle and body timeouts, graceful shutdown |
//! | [`delivery`] | the engine: intake, scheduler (lanes, limits, adaptive concurrency), worker, HTTP client, SSRF |
//! | [`metrics`] | Prometheus counters, histograms, gauges; times store calls |
//! | [`cli`] | `hookd serve`, the sender and receiver commands |
//!
//! A message's path: `api::message` validates it, `delivery::intake` has the
//! store commit it with its deliveries and hands them to `delivery::scheduler`,
//! which runs each in its endpoint's lane through `delivery::worker` (sign,
//! POST with `delivery::client`, record). Changes the store reports (here or
//! from other nodes) reach the caches through [`start`]'s watcher.

pub mod api;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod http_server;
pub mod metrics;
pub mod ui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hookd_core::auth::hash_key;
use hookd_core::store::{Change, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::state::AppState;
use crate::config::Config;
use crate::delivery::client::{Client, ClientConfig};
use crate::delivery::{Engine, EngineConfig};
use crate::metrics::Metrics;

/// Name of the organisation `HOOKD_ADMIN_TOKEN` belongs to.
pub const DEFAULT_ORG: &str = "default";

/// A server that is accepting connections.
pub struct Running {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    /// The address `/metrics` is served on when `metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    // Dropping it (with the `Running`) stops the listeners too.
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    engine: Engine,
    shutdown_timeout: Duration,
    metrics_task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Stops accepting requests, lets in-flight requests finish, then gives
    /// deliveries in flight up to `shutdown_timeout_secs` to complete.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("server task failed")??;
        self.engine.shutdown(self.shutdown_timeout).await;
        if let Some(t) = self.metrics_task {
            t.await.context("metrics server task failed")??;
        }
        Ok(())
    }

    /// The delivery engine (for tests and embedding).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Waits until the server stops by itself (it does not, short of an error).
    pub async fn wait(self) -> anyhow::Result<()> {
        let Running { stop, task, .. } = self;
        let result = task.await.context("server task failed")?;
        drop(stop);
        result?;
        Ok(())
    }
}

/// Expunges expired payloads and response bodies, in bounded batches so
/// that retention never holds the store for long.
async fn retention(store: Arc<dyn Store>, every: Duration) {
    const BATCH: usize = 1000;
    loop {
        tokio::time::sleep(every).await;
        loop {
            match store
                .expunge_expired(hookd_core::time::Timestamp::now(), BATCH)
                .await
            {
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(messages = n, "expunged expired payloads");
                    }
                    if n < BATCH {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e.chain(), "retention sweep failed");
                    break;
                }
            }
        }
    }
}

/// Opens the store named by the configuration, sealing endpoint
/// credentials with `encryption_key` when it is set.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let keys = config.encryption_keys().map_err(anyhow::Error::msg)?;
    let options = hookd_store::Options { keys };
    hookd_store::open_with(&config.database_url, options).map_err(|e| {
        anyhow::anyhow!(
            "cannot open database {}: {}",
            hookd_store::redact_url(&config.database_url),
            e.chain()
        )
    })
}

/// Opens the store, binds the listener and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let store = open_store(&config)?;
    if config.encryption_key.is_empty() {
        tracing::warn!(
            "encryption_key is not set: endpoint signing secrets are stored in plaintext \
             (set HOOKD_ENCRYPTION_KEY to 64 hex characters to seal them)"
        );
    }
    let addr = config.listen_addr().map_err(anyhow::Error::msg)?;
    let metrics = Arc::new(Metrics::new());
    store.observe(metrics.clone());
    let default_org = store
        .ensure_org(DEFAULT_ORG)
        .await
        .context("cannot initialise the default organisation")?;
    let client = Client::new(ClientConfig {
        timeout: Duration::from_secs(config.request_timeout_secs),
        allowed: config.subnets().map_err(anyhow::Error::msg)?,
        https_only: config.https_only,
        proxy: Some(config.proxy.clone()).filter(|p| !p.is_empty()),
        keep_body: config.response_body_limit as usize,
    })
    .context("cannot build the HTTP client")?;
    let engine = Engine::start(
        store.clone(),
        EngineConfig::from_config(&config)?,
        client,
        metrics.clone(),
    )
    .await
    .context("cannot start the delivery engine")?;
    let shutdown_timeout = Duration::from_secs(config.shutdown_timeout_secs);
    let metrics_listen = config.metrics_addr().map_err(anyhow::Error::msg)?;
    let limits = http_server::Limits::from_config(&config);
    if !config.proxy.is_empty() {
        tracing::warn!(
            proxy = %hookd_store::redact_url(&config.proxy),
            "deliveries go through a proxy: the SSRF policy sees only the proxy's address \
             (proxy_bypasses_ssrf = true); the proxy must refuse internal destinations"
        );
    }
    let state = AppState {
        store,
        metrics: metrics.clone(),
        apps: Default::default(),
        keys: Default::default(),
        engine: engine.clone(),
        admin_token_hash: config.admin_token().map(hash_key),
        admission: Arc::new(api::admission::Admission::new(
            config.accept_concurrency_per_app as usize,
        )),
        config: Arc::new(config),
        default_org_id: default_org.id,
    };
    // Every change, made here or through another node, reaches the caches.
    {
        let (engine, apps) = (state.engine.clone(), state.apps.clone());
        state.store.watch_changes(Box::new(move |change| {
            if let Change::App(id) | Change::AppDeleted(id) = &change {
                apps.invalidate(id);
            }
            engine.on_change(change);
        }));
    }
    tokio::spawn(retention(
        state.store.clone(),
        Duration::from_secs(state.config.retention_sweep_secs),
    ));
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let (metrics_task, metrics_addr) = match metrics_listen {
        Some(maddr) => {
            let l = TcpListener::bind(maddr)
                .await
                .with_context(|| format!("cannot listen on {maddr} (metrics_listen)"))?;
            let maddr = l.local_addr()?;
            let svc = api::metrics_app(state.clone());
            let task = tokio::spawn(http_server::serve(
                l,
                svc,
                limits,
                "metrics",
                metrics.clone(),
                stopped.clone(),
            ));
            (Some(task), Some(maddr))
        }
        None => (None, None),
    };
    let service = api::app(state);
    let task = tokio::spawn(http_server::serve(
        listener, service, limits, "api", metrics, stopped,
    ));
    Ok(Running {
        addr,
        metrics_addr,
        stop,
        task,
        metrics_task,
        engine,
        shutdown_timeout,
    })
}
