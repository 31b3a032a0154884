//! The `Store` trait: every persistent operation hookd performs, shaped
//! around business operations rather than tables, plus the list/page types.
//!
//! Invariants every implementation keeps:
//! - every query is scoped by organisation (and application where relevant);
//! - a write either happens entirely or not at all, and is durable when it returns `Ok`;
//! - `create_message` commits the message and one delivery per matching
//!   endpoint in one transaction.

use async_trait::async_trait;

use crate::model::{
    ApiKey, Application, Attempt, Delivery, DeliveryStatus, Endpoint, EventType, Message, Org,
    Scope,
};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (duplicate `uid`, `eventId`, event type name).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store cannot be reached right now; the request may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else; logged with its cause, shown to clients as an opaque error.
    #[error("store error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Sort order of a list (Svix `Ordering`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// A position in a list, decoded from an `iterator` query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The sort key of the item the page starts after.
    pub key: String,
    /// `true` for a `prevIterator`: the page before `key`.
    pub backwards: bool,
}

impl Cursor {
    /// Parses `KEY` (next page) or `-KEY` (previous page).
    pub fn parse(s: &str) -> Cursor {
        match s.strip_prefix('-') {
            Some(k) => Cursor {
                key: k.to_string(),
                backwards: true,
            },
            None => Cursor {
                key: s.to_string(),
                backwards: false,
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub limit: usize,
    pub cursor: Option<Cursor>,
    pub order: Order,
}

/// One page of results in list order, with Svix's iterator fields.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in the direction the
    /// cursor points; the extra row only tells whether more exist.
    pub fn from_rows(mut rows: Vec<T>, q: &ListQuery, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() > q.limit;
        rows.truncate(q.limit);
        let backwards = q.cursor.as_ref().is_some_and(|c| c.backwards);
        if backwards {
            rows.reverse();
        }
        let iterator = rows.last().map(&key);
        let prev_iterator = rows.first().map(|r| format!("-{}", key(r)));
        // `done` says whether there is nothing further in the direction we
        // moved; walking backwards, the forward direction always has more.
        let done = if backwards { false } else { !more };
        Page {
            data: rows,
            iterator,
            prev_iterator,
            done,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            iterator: self.iterator,
            prev_iterator: self.prev_iterator,
            done: self.done,
        }
    }
}

/// Filters for message listings.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub event_types: Option<Vec<String>>,
    pub channel: Option<String>,
    pub before: Option<Timestamp>,
    pub after: Option<Timestamp>,
}

/// Filters for attempt and destination listings.
#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    pub status: Option<DeliveryStatus>,
    /// 0 (no response), 100, 200, 300, 400, 500.
    pub status_code_class: Option<i32>,
    pub event_types: Option<Vec<String>>,
    pub channel: Option<String>,
    pub endpoint_id: Option<String>,
    pub before: Option<Timestamp>,
    pub after: Option<Timestamp>,
    pub with_msg: bool,
}

/// A message to store, with its raw payload bytes.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub event_type: String,
    pub event_id: Option<String>,
    pub payload: Box<serde_json::value::RawValue>,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// Deliver only to this endpoint, whatever its filters (example events).
    pub only_endpoint: Option<String>,
    /// When the payload is expunged (retention).
    pub expires_at: Timestamp,
    /// The node whose delivery engine takes the new deliveries (it was just
    /// handed them in memory); `None` leaves them for any node to claim.
    pub owner: Option<String>,
}

/// The outcome of starting an idempotent request.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyStart {
    /// First time this key is seen: go ahead, then call `idempotency_complete`.
    Started,
    /// Another request with this key is still running.
    InProgress,
    /// Already answered: replay this response.
    Done {
        fingerprint: String,
        status: u16,
        body: Vec<u8>,
    },
}

pub type Mutation<T> = Box<dyn FnOnce(&mut T) + Send>;

/// A delivery waiting for its next attempt, as the scheduler tracks it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedDelivery {
    pub msg_id: String,
    pub endpoint_id: String,
    pub app_id: String,
    /// Attempts made so far.
    pub attempts: i64,
    pub due: Timestamp,
    /// The next attempt was requested by a user (resend, recover).
    pub manual: bool,
}

impl QueuedDelivery {
    /// A freshly created delivery of an application's message.
    pub fn new(d: Delivery, app_id: &str) -> QueuedDelivery {
        QueuedDelivery {
            due: d.next_attempt_at.unwrap_or_else(Timestamp::now),
            msg_id: d.msg_id,
            endpoint_id: d.endpoint_id,
            app_id: app_id.to_string(),
            attempts: d.attempts,
            manual: false,
        }
    }
}

/// The delivery's state after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum NextStep {
    Success,
    Retry(Timestamp),
    Fail,
    /// 410 Gone: fail and disable the endpoint.
    FailAndDisable,
}

/// One finished attempt to record.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub app_id: String,
    pub attempt: Attempt,
    pub next: NextStep,
    /// Disable the endpoint when it has had no success for this long (ms) and this attempt failed.
    pub disable_after_ms: i64,
}

/// Why an endpoint was disabled by an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableReason {
    /// The receiver answered 410 Gone.
    Gone,
    /// No success for the configured period while deliveries kept failing.
    Failing,
}

/// Side effects of recording an attempt, for operational events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttemptEffects {
    pub disabled: Option<DisableReason>,
    /// When the endpoint's current run of failures began.
    pub failing_since: Option<Timestamp>,
    /// The delivery's attempt count after this attempt.
    pub attempts: i64,
    /// The delivery was deleted while the attempt was in flight.
    pub gone: bool,
}

/// A change made by another node, which this node's caches must learn of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An endpoint was changed or deleted.
    Endpoint(String),
    /// An application was changed or deleted.
    App(String),
    /// New deliveries wait for any node to claim them.
    Deliveries,
}

/// Delivery counts of an endpoint by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    pub success: i64,
    pub pending: i64,
    pub sending: i64,
    pub fail: i64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- organisations and API keys ---
    /// The organisation named `name`, created if missing.
    async fn ensure_org(&self, name: &str) -> StoreResult<Org>;
    async fn create_api_key(
        &self,
        org_id: &str,
        scope: Scope,
        name: Option<String>,
        hash: [u8; 32],
    ) -> StoreResult<ApiKey>;
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// `false` when no active key has this id.
    async fn revoke_api_key(&self, id: &str) -> StoreResult<bool>;
    /// The active key with this hash.
    async fn find_api_key(&self, hash: [u8; 32]) -> StoreResult<Option<ApiKey>>;

    // --- applications ---
    /// Inserts `app`; `Conflict` if its uid is taken.
    async fn create_app(&self, app: Application) -> StoreResult<Application>;
    async fn get_app(&self, org_id: &str, id_or_uid: &str) -> StoreResult<Option<Application>>;
    async fn list_apps(&self, org_id: &str, q: &ListQuery) -> StoreResult<Page<Application>>;
    /// Applies `f` to the stored application atomically; `None` if it does not exist.
    async fn modify_app(
        &self,
        org_id: &str,
        id_or_uid: &str,
        f: Mutation<Application>,
    ) -> StoreResult<Option<Application>>;
    /// Deletes the application and everything under it.
    async fn delete_app(&self, org_id: &str, app_id: &str) -> StoreResult<bool>;

    // --- endpoints ---
    async fn create_endpoint(&self, ep: Endpoint) -> StoreResult<Endpoint>;
    async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> StoreResult<Option<Endpoint>>;
    async fn list_endpoints(&self, app_id: &str, q: &ListQuery) -> StoreResult<Page<Endpoint>>;
    async fn modify_endpoint(
        &self,
        app_id: &str,
        id_or_uid: &str,
        f: Mutation<Endpoint>,
    ) -> StoreResult<Option<Endpoint>>;
    async fn delete_endpoint(&self, app_id: &str, endpoint_id: &str) -> StoreResult<bool>;

    // --- event types ---
    /// Inserts `et`; an archived type of the same name is replaced and unarchived;
    /// `Conflict` if an active one exists.
    async fn create_event_type(&self, et: EventType) -> StoreResult<EventType>;
    async fn get_event_type(&self, org_id: &str, name: &str) -> StoreResult<Option<EventType>>;
    async fn list_event_types(
        &self,
        org_id: &str,
        q: &ListQuery,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>>;
    async fn modify_event_type(
        &self,
        org_id: &str,
        name: &str,
        f: Mutation<EventType>,
    ) -> StoreResult<Option<EventType>>;
    /// Removes the event type for good (`expunge`).
    async fn delete_event_type(&self, org_id: &str, name: &str) -> StoreResult<bool>;

    // --- messages and deliveries ---
    /// Stores the message and one pending delivery per endpoint of the
    /// application that accepts it, atomically. `Conflict` on a duplicate `eventId`.
    async fn create_message(
        &self,
        app_id: &str,
        msg: NewMessage,
    ) -> StoreResult<(Message, Vec<Delivery>)>;
    /// By id or `eventId`.
    async fn get_message(&self, app_id: &str, id_or_event_id: &str)
    -> StoreResult<Option<Message>>;
    async fn list_messages(
        &self,
        app_id: &str,
        q: &ListQuery,
        f: &MessageFilter,
    ) -> StoreResult<Page<Message>>;
    /// The endpoints a message was routed to, with their delivery state.
    async fn list_destinations(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
    ) -> StoreResult<Page<(Endpoint, Delivery)>>;
    /// The messages routed to an endpoint, with their delivery state.
    async fn list_endpoint_messages(
        &self,
        app_id: &str,
        endpoint_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<(Message, Delivery)>>;

    // --- attempts ---
    async fn list_attempts_by_endpoint(
        &self,
        app_id: &str,
        endpoint_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>>;
    async fn list_attempts_by_message(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>>;
    async fn get_attempt(
        &self,
        app_id: &str,
        msg_id: &str,
        attempt_id: &str,
    ) -> StoreResult<Option<Attempt>>;

    // --- idempotency ---
    async fn idempotency_start(
        &self,
        org_id: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> StoreResult<IdempotencyStart>;
    async fn idempotency_complete(
        &self,
        org_id: &str,
        key: &str,
        status: u16,
        body: Vec<u8>,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// Forgets a started key whose request failed in a way worth retrying.
    async fn idempotency_abort(&self, org_id: &str, key: &str) -> StoreResult<()>;

    // --- the delivery engine ---
    /// Every delivery still to be attempted; ones left `sending` by a crash are due at once.
    async fn queued_deliveries(&self, now: Timestamp) -> StoreResult<Vec<QueuedDelivery>>;
    async fn get_endpoint_by_id(&self, endpoint_id: &str) -> StoreResult<Option<Endpoint>>;
    async fn get_message_by_id(&self, msg_id: &str) -> StoreResult<Option<Message>>;
    async fn get_app_by_id(&self, app_id: &str) -> StoreResult<Option<Application>>;
    /// Stores the attempt and moves the delivery (and perhaps its endpoint)
    /// on. When the delivery no longer exists (its application or endpoint
    /// was deleted meanwhile) nothing is stored and `gone` is set.
    async fn record_attempt(&self, r: AttemptResult) -> StoreResult<AttemptEffects> {
        let mut out = self.record_attempts(vec![r]).await?;
        out.pop()
            .ok_or_else(|| StoreError::Backend("no result for a recorded attempt".into()))
    }
    /// [`Store::record_attempt`] for many attempts in one transaction;
    /// the effects come back in the same order.
    async fn record_attempts(&self, batch: Vec<AttemptResult>) -> StoreResult<Vec<AttemptEffects>>;
    /// Gives up on a delivery without an attempt (its endpoint is disabled).
    async fn fail_delivery(&self, msg_id: &str, endpoint_id: &str) -> StoreResult<()>;
    /// Puts deliveries of these messages to the endpoint back in the queue for
    /// a manual attempt now (creating them if the message never went there),
    /// held by `owner` (see [`NewMessage::owner`]).
    async fn requeue(
        &self,
        app_id: &str,
        endpoint_id: &str,
        msg_ids: &[String],
        now: Timestamp,
        owner: Option<&str>,
    ) -> StoreResult<Vec<QueuedDelivery>>;
    /// Hands `owner` up to `limit` pending deliveries due by `now`, oldest
    /// due first: those nobody holds, those held by a node with no heartbeat
    /// since `now - dead_after_ms` (it died), and with `reclaim_own` those
    /// `owner` already holds (its previous life, after a restart). Concurrent
    /// claimers never receive the same delivery.
    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        dead_after_ms: i64,
        limit: usize,
        reclaim_own: bool,
    ) -> StoreResult<Vec<QueuedDelivery>>;
    /// Records that `node` is alive at `now`; returns how many nodes have
    /// shown a sign of life since `now - window_ms`, this one included.
    async fn heartbeat(&self, node: &str, now: Timestamp, window_ms: i64) -> StoreResult<usize>;
    /// Messages created in `[since, until)` whose delivery to the endpoint failed.
    async fn failed_message_ids(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<String>>;
    async fn endpoint_stats(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> StoreResult<EndpointStats>;

    /// Retention: replaces the payloads of up to `limit` messages whose
    /// retention ended by `now` with `{}`, and empties their attempts'
    /// response bodies; returns how many messages it expunged.
    async fn expunge_expired(&self, now: Timestamp, limit: usize) -> StoreResult<usize>;
    /// Expunges one message's payload and response bodies now; `false` if
    /// the application has no such message.
    async fn expunge_message(&self, app_id: &str, msg_id: &str) -> StoreResult<bool>;

    /// Calls `f` for every change made through other nodes sharing this
    /// store. Stores used by a single process (SQLite) have nothing to report:
    /// every change is made, and seen, in-process.
    fn watch_changes(&self, f: Box<dyn Fn(Change) + Send + Sync>) {
        let _ = f;
    }

    /// How many endpoints are disabled, across all organisations (a gauge).
    async fn count_disabled_endpoints(&self) -> StoreResult<u64>;

    /// A cheap round trip proving the store answers.
    async fn ping(&self) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(limit: usize, cursor: Option<&str>) -> ListQuery {
        ListQuery {
            limit,
            cursor: cursor.map(Cursor::parse),
            order: Order::Ascending,
        }
    }

    #[test]
    fn page_forward() {
        let p = Page::from_rows(vec![1, 2, 3], &q(2, None), |x| x.to_string());
        assert_eq!(p.data, vec![1, 2]);
        assert_eq!(p.iterator.as_deref(), Some("2"));
        assert_eq!(p.prev_iterator.as_deref(), Some("-1"));
        assert!(!p.done);
        let p = Page::from_rows(vec![3], &q(2, Some("2")), |x| x.to_string());
        assert!(p.done);
    }

    #[test]
    fn page_backward_restores_list_order() {
        // Fetched walking backwards from 5: 4, 3, (2 = extra).
        let p = Page::from_rows(vec![4, 3, 2], &q(2, Some("-5")), |x| x.to_string());
        assert_eq!(p.data, vec![3, 4]);
        assert_eq!(p.iterator.as_deref(), Some("4"));
        assert_eq!(p.prev_iterator.as_deref(), Some("-3"));
    }
}
