//! hookd: the server (HTTP API over a store) and its command-line interface.

pub mod api;
pub mod cli;
pub mod config;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use hookd_core::auth::hash_key;
use hookd_core::store::Store;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::state::AppState;
use crate::config::Config;

/// Name of the organisation `HOOKD_ADMIN_TOKEN` belongs to.
pub const DEFAULT_ORG: &str = "default";

/// A server that is accepting connections.
pub struct Running {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, and waits.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("server task failed")??;
        Ok(())
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

/// Opens the store named by the configuration.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    hookd_store::open(&config.database_url)
        .with_context(|| format!("cannot open database {}", config.database_url))
}

/// Opens the store, binds the listener and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let store = open_store(&config)?;
    start_with_store(config, store).await
}

pub async fn start_with_store(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Running> {
    let addr = config.listen_addr().map_err(anyhow::Error::msg)?;
    let default_org = store
        .ensure_org(DEFAULT_ORG)
        .await
        .context("cannot initialise the default organisation")?;
    let state = AppState {
        store,
        admin_token_hash: config.admin_token().map(hash_key),
        config: Arc::new(config),
        default_org_id: default_org.id,
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let service = api::app(state);
    let task = tokio::spawn(async move {
        axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Running { addr, stop, task })
}
