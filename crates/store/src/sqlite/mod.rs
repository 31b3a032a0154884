//! The SQLite store: hookd's embedded default, one file, one process.
//!
//! | module | implements |
//! | --- | --- |
//! | `db` | the writer thread with group commit, the reader pool |
//! | `rows` | column lists, row decoding, query helpers |
//! | `keys`, `apps`, `endpoints`, `event_types`, `messages`, `deliveries`, `attempts`, `idempotency`, `retention`, `tasks` | the store trait of the same name in `hookd_core::store` |
//!
//! Writes are closures run on the writer thread inside one shared
//! transaction (`Db::write`); reads run on the reader pool (`Db::read`).
//! Changes are told to watchers after their write committed: this process
//! is the only one using the file, so nothing else needs telling.

mod apps;
mod attempts;
mod db;
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

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use hookd_core::store::{Observer, Store, StoreResult, Watcher};

use db::Db;

use crate::hub::Hub;
use crate::seal::Sealer;

pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
    pub fn open(path: &Path, sealer: Sealer) -> StoreResult<SqliteStore> {
        Ok(SqliteStore {
            db: Db::open(path, 4, Hub::new(sealer), endpoints::reseal_credentials)?,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn watch_changes(&self, f: Watcher) {
        self.db.hub.watch(f);
    }

    fn observe(&self, observer: Arc<dyn Observer>) {
        self.db.hub.observe(observer);
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db
            .read("ping", |conn| {
                rows::exists(conn, "SELECT 1", [])?;
                Ok(())
            })
            .await
    }
}
