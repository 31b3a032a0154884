//! Event types' own retry schedules, cached for the delivery engine: which
//! schedule a failed attempt of a message retries on.
//!
//! Only failed attempts ask, and after the first of an event type the answer
//! (its schedule, or "none: the server's") comes from memory. Every write to
//! an event type, on any node, arrives as `Change::EventType` and drops the
//! cached answer; a generation counter keeps a read that raced such a write
//! from caching what it read before it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hookd_core::retry::Schedule;
use hookd_core::store::Store;

/// Most entries of each map; beyond it the map starts over (a rare full
/// reload beats tracking recency on every lookup).
const MAX_ENTRIES: usize = 10_000;

/// An event type's schedule, or `None`: it has none of its own (or does
/// not exist).
type Entry = Option<Arc<Schedule>>;

#[derive(Default)]
pub(crate) struct Schedules {
    /// Application id → its organisation (never changes while it exists).
    orgs: Mutex<HashMap<String, String>>,
    /// Organisation → event type name → its schedule.
    types: Mutex<HashMap<String, HashMap<String, Entry>>>,
    generation: AtomicU64,
}

impl Schedules {
    /// The schedule a message of `event_type` in application `app_id`
    /// retries on; `None` means the server's. A store error also gives
    /// `None` (and is not cached): the server's schedule is the safe guess.
    pub(crate) async fn get(
        &self,
        store: &dyn Store,
        app_id: &str,
        event_type: &str,
    ) -> Option<Arc<Schedule>> {
        let generation = self.generation.load(Ordering::Acquire);
        let org = match self.cached_org(app_id) {
            Some(org) => org,
            None => match store.get_app_by_id(app_id).await {
                Ok(Some(app)) => {
                    let mut orgs = lock(&self.orgs);
                    if orgs.len() >= MAX_ENTRIES {
                        orgs.clear();
                    }
                    orgs.insert(app_id.to_string(), app.org_id.clone());
                    app.org_id
                }
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(app = %app_id, error = %e.chain(), "cannot load application; retrying on the server's schedule");
                    return None;
                }
            },
        };
        if let Some(entry) = lock(&self.types).get(&org).and_then(|m| m.get(event_type)) {
            return entry.clone();
        }
        let entry: Entry = match store.get_event_type(&org, event_type).await {
            Ok(et) => et
                .and_then(|et| et.retry_schedule)
                .map(|secs| Arc::new(Schedule::from_secs(&secs))),
            Err(e) => {
                tracing::warn!(event_type, error = %e.chain(), "cannot load event type; retrying on the server's schedule");
                return None;
            }
        };
        let mut types = lock(&self.types);
        // A change since the read began may be newer than what was read.
        if self.generation.load(Ordering::Acquire) == generation {
            if types.values().map(HashMap::len).sum::<usize>() >= MAX_ENTRIES {
                types.clear();
            }
            types
                .entry(org)
                .or_default()
                .insert(event_type.to_string(), entry.clone());
        }
        entry
    }

    fn cached_org(&self, app_id: &str) -> Option<String> {
        lock(&self.orgs).get(app_id).cloned()
    }

    /// The event type changed (or was removed).
    pub(crate) fn event_type_changed(&self, org_id: &str, name: &str) {
        let mut types = lock(&self.types);
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(m) = types.get_mut(org_id) {
            m.remove(name);
        }
    }

    /// The application was deleted: its id is never seen again.
    pub(crate) fn app_deleted(&self, app_id: &str) {
        lock(&self.orgs).remove(app_id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain maps, still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
