//! The PostgreSQL store: the SQLite store's behaviour (same ordering,
//! pagination, conflicts and stored forms) on a database that several hookd
//! processes share. The conformance suite (`crates/store/tests/conformance.rs`)
//! runs against both to keep them alike.
//!
//! | module | implements |
//! | --- | --- |
//! | `conn` | the URL, the pool, error mapping, statement helpers |
//! | `tls` | `sslmode` and `sslrootcert`: the rustls setup, and the connector every connection goes through |
//! | `rows` | column lists and row decoding |
//! | `changes` | NOTIFY/LISTEN: telling the other nodes of changes |
//! | `keys`, `apps`, `endpoints`, `event_types`, `messages`, `deliveries`, `attempts`, `idempotency`, `retention`, `tasks` | the store trait of the same name in `hookd_core::store` |
//!
//! Every operation is one statement or one transaction, through
//! [`PostgresStore::single`] or [`PostgresStore::transaction`]. Where SQLite's
//! single writer makes a read-then-write safe, this store uses a statement
//! that is safe under concurrency instead (`ON CONFLICT`, row locks), and
//! transactions that lock several rows lock them in key order, so concurrent
//! writers wait for each other rather than deadlock.

mod apps;
mod attempts;
mod changes;
mod conn;
mod deliveries;
mod endpoints;
mod event_types;
mod health;
mod idempotency;
mod keys;
mod messages;
mod migrations;
mod retention;
mod rows;
mod tasks;
mod tls;

use std::sync::{Arc, Once};

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool, Transaction};
use hookd_core::store::{Change, Observer, Store, StoreError, StoreResult, Watcher};

use conn::Mode;
pub use conn::{DEFAULT_POOL_SIZE, PgUrl};
use tls::Connector;
pub use tls::{RootSource, SslMode, TlsSettings};

use crate::hub::Hub;
use crate::seal::Sealer;

/// The PostgreSQL store: a connection pool over a migrated database.
pub struct PostgresStore {
    pool: Pool,
    config: tokio_postgres::Config,
    /// The pool's TLS setup, for the LISTEN connection too.
    connector: Connector,
    hub: Arc<Hub>,
    /// Tags this store's notifications, so its own LISTEN skips them (they
    /// were told to the watchers already, when their transaction committed).
    origin: String,
    listening: Once,
}

impl PostgresStore {
    fn new(
        pool: Pool,
        config: tokio_postgres::Config,
        connector: Connector,
        hub: Arc<Hub>,
    ) -> PostgresStore {
        let mut b = [0u8; 8];
        hookd_core::random::fill(&mut b);
        PostgresStore {
            pool,
            config,
            connector,
            hub,
            origin: b.iter().map(|x| format!("{x:02x}")).collect(),
            listening: Once::new(),
        }
    }

    /// Connects, applies pending migrations and returns the store. Fails with
    /// `Unavailable` when the server cannot be reached within the connect
    /// timeout.
    pub async fn connect(url: &PgUrl, sealer: Sealer) -> StoreResult<PostgresStore> {
        let config = url.config()?;
        let connector = Connector::new(&url.tls)?;
        let pool = conn::pool(config.clone(), url.pool_size, connector.clone())?;
        let hub = Arc::new(Hub::new(sealer));
        migrations::apply(&pool).await?;
        endpoints::reseal_credentials(&pool, &hub).await?;
        Ok(PostgresStore::new(pool, config, connector, hub))
    }

    /// [`PostgresStore::connect`] for synchronous callers (`hookd_store::open`,
    /// used once at start, is sync like opening the SQLite file).
    ///
    /// The migrations run on a helper thread with its own small runtime and
    /// connection, because blocking on a future inside the caller's runtime
    /// would panic (or, on a single-threaded runtime, deadlock). The pool is
    /// built afterwards: its connections are made lazily on the caller's
    /// runtime, where the store is used.
    pub fn open(url: &PgUrl, sealer: Sealer) -> StoreResult<PostgresStore> {
        let config = url.config()?;
        let connector = Connector::new(&url.tls)?;
        let migrate_config = config.clone();
        let migrate_connector = connector.clone();
        let hub = Arc::new(Hub::new(sealer));
        let start_hub = hub.clone();
        std::thread::Builder::new()
            .name("hookd-pg-migrate".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| StoreError::backend_from("cannot start a runtime", e))?;
                rt.block_on(async {
                    let pool = conn::pool(migrate_config, 1, migrate_connector)?;
                    migrations::apply(&pool).await?;
                    endpoints::reseal_credentials(&pool, &start_hub).await
                })
            })
            .map_err(|e| StoreError::backend_from("cannot start the migration thread", e))?
            .join()
            .map_err(|_| StoreError::backend("the migration thread panicked"))??;
        let pool = conn::pool(config.clone(), url.pool_size, connector.clone())?;
        Ok(PostgresStore::new(pool, config, connector, hub))
    }

    /// The connection pool (for features built on this store, such as claims).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The driver configuration the pool connects with. It does not carry
    /// the URL's TLS setup (hookd's connector does), so a connection made
    /// from it alone may not be encrypted as the pool's are.
    pub fn pg_config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Runs operation `op` as one statement on a pooled connection.
    async fn single<T>(
        &self,
        op: &'static str,
        f: impl AsyncFnOnce(&Object) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.hub.timed(op, conn::single(&self.pool, f)).await
    }

    /// Runs operation `op` as one transaction.
    async fn transaction<T>(
        &self,
        op: &'static str,
        mode: Mode,
        f: impl AsyncFnOnce(&Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.hub
            .timed(op, conn::transaction(&self.pool, mode, f))
            .await
    }

    /// Tells this node's watchers of a committed change.
    fn emit(&self, change: Change) {
        self.hub.emit(change);
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn watch_changes(&self, f: Watcher) {
        self.hub.watch(f);
        self.listening.call_once(|| {
            tokio::spawn(changes::listen(
                self.config.clone(),
                self.connector.clone(),
                self.hub.clone(),
                self.origin.clone(),
            ));
        });
    }

    fn observe(&self, observer: Arc<dyn Observer>) {
        self.hub.observe(observer);
    }

    async fn ping(&self) -> StoreResult<()> {
        self.single("ping", async |c| {
            conn::query(c, "SELECT 1", &[]).await?;
            Ok(())
        })
        .await
    }
}
