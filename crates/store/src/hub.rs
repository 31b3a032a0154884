//! What both stores share besides SQL: timing each operation for the
//! [`Observer`] (the chokepoints every operation passes through call
//! [`Hub::timed`]), telling [`Store::watch_changes`] watchers of changes,
//! and the sealer of endpoint credentials.
//!
//! [`Store::watch_changes`]: hookd_core::store::Store::watch_changes

use std::future::Future;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use hookd_core::store::{Change, Observer, Watcher};

use crate::seal::Sealer;

#[derive(Default)]
pub(crate) struct Hub {
    observer: OnceLock<Arc<dyn Observer>>,
    watchers: RwLock<Vec<Watcher>>,
    /// Seals endpoint credentials on their way in, opens them on the way out.
    pub sealer: Sealer,
}

impl Hub {
    pub fn new(sealer: Sealer) -> Hub {
        Hub {
            sealer,
            ..Hub::default()
        }
    }

    pub fn observe(&self, o: Arc<dyn Observer>) {
        let _ = self.observer.set(o);
    }

    /// Runs `f`, telling the observer how long operation `op` took.
    pub async fn timed<T>(&self, op: &'static str, f: impl Future<Output = T>) -> T {
        let Some(o) = self.observer.get() else {
            return f.await;
        };
        let start = Instant::now();
        let out = f.await;
        o.observe(op, start.elapsed());
        out
    }

    pub fn watch(&self, f: Watcher) {
        self.watchers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(f);
    }

    /// Tells every watcher; called once the change is committed.
    pub fn emit(&self, change: Change) {
        for w in self
            .watchers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            w(change.clone());
        }
    }
}
