//! The `Store`: every persistent operation hookd performs, shaped around
//! business operations rather than tables, one trait per aggregate:
//!
//! | module | trait | owns |
//! | --- | --- | --- |
//! | `keys` | [`KeyStore`] | organisations, API keys |
//! | `apps` | [`AppStore`] | applications |
//! | `endpoints` | [`EndpointStore`] | endpoints |
//! | `event_types` | [`EventTypeStore`] | the event catalogue |
//! | `messages` | [`MessageStore`] | messages and their routing |
//! | `deliveries` | [`DeliveryStore`] | the queue: resume, claim, requeue, give up |
//! | `attempts` | [`AttemptStore`] | the attempt log, recording outcomes |
//! | `idempotency` | [`IdempotencyStore`] | idempotency keys |
//! | `retention` | [`RetentionStore`] | expunging payloads |
//! | `tasks` | [`TaskStore`] | background tasks: running, finished, failed |
//! | `health` | [`HealthStore`] | endpoint health and attempts over time (dashboard) |
//!
//! [`Store`] is all of them, plus liveness and change notifications. The
//! rules both backends follow (routing, the auto-disable rule, delivery
//! states, pagination) are pure functions here; the backends hold SQL and
//! row mapping only.
//!
//! Invariants every implementation keeps:
//! - every query is scoped by organisation (and application where relevant);
//! - a write either happens entirely or not at all, and is durable when it returns `Ok`;
//! - `create_message` commits the message and one delivery per matching
//!   endpoint in one transaction;
//! - every change that caches must learn of is reported to the watchers of
//!   [`Store::watch_changes`], on this node and on the others.

mod apps;
mod attempts;
mod deliveries;
mod endpoints;
mod error;
mod event_types;
mod health;
mod idempotency;
mod keys;
mod list;
mod messages;
mod retention;
mod tasks;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use apps::AppStore;
pub use attempts::{
    AttemptEffects, AttemptResult, AttemptStore, DisableReason, FailureRule, NextStep,
};
pub use deliveries::{
    Change, DeliveryStore, EndpointStats, FORGET_NODE_AFTER_MS, Lane, LaneHead, MessageRoute,
    QueuedDelivery, ReplayFilter, claim_holders, sort_claimed,
};
pub use endpoints::EndpointStore;
pub use error::{Cause, Conflict, StoreError, StoreResult};
pub use event_types::{EventTypeStore, ImportPlan, plan_import, replace_archived};
pub use health::{Bucket, EndpointHealth, HealthStore, aligned_window, fill_buckets};
pub use idempotency::{IdempotencyStart, IdempotencyStore};
pub use keys::KeyStore;
pub use list::{AttemptFilter, Cursor, ListQuery, MessageFilter, Order, Page, Scan};
pub use messages::{AppUsage, MessageStore, NewMessage, first_delivery, first_due};
pub use retention::{EXPUNGED_PAYLOAD, PurgeBatch, RetentionStore};
pub use tasks::{
    NODE_STOPPED, TASK_ERROR_KEY, TaskFilter, TaskStore, dead_task_cutoff, failed_data,
};

/// A change to apply to a stored record, atomically with reading it.
pub type Mutation<T> = Box<dyn FnOnce(&mut T) + Send>;

/// Told how long each store operation took (metrics); operations are named
/// after the trait method that ran them.
pub trait Observer: Send + Sync {
    fn observe(&self, op: &'static str, elapsed: Duration);
}

/// Called with every [`Change`].
pub type Watcher = Box<dyn Fn(Change) + Send + Sync>;

#[async_trait]
pub trait Store:
    KeyStore
    + AppStore
    + EndpointStore
    + EventTypeStore
    + MessageStore
    + DeliveryStore
    + AttemptStore
    + IdempotencyStore
    + RetentionStore
    + TaskStore
    + HealthStore
    + Send
    + Sync
    + 'static
{
    /// Calls `f` for every change made through this store or through other
    /// nodes sharing its database.
    fn watch_changes(&self, f: Watcher);

    /// Times every operation from now on into `observer`.
    fn observe(&self, observer: Arc<dyn Observer>);

    /// A cheap round trip proving the store answers.
    async fn ping(&self) -> StoreResult<()>;
}
