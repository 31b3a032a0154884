//! Prometheus metrics: what hookd counts, and the `/metrics` exposition.
//!
//! Labels are bounded on purpose: outcome classes, store operation names and
//! queue states, never message, endpoint or application ids, so the series
//! count stays constant however much traffic flows.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hookd_core::model::{
    ApiKey, Application, Attempt, Delivery, Endpoint, EventType, Message, Org, Scope,
};
use hookd_core::retry::Outcome;
use hookd_core::store::{
    AttemptEffects, AttemptFilter, AttemptResult, EndpointStats, IdempotencyStart, ListQuery,
    MessageFilter, Mutation, NewMessage, Page, QueuedDelivery, Store, StoreResult,
};
use hookd_core::time::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// success, http_3xx, http_4xx, http_5xx, timeout, connect, dns, tls, blocked, other
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabel {
    pub op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// due (waiting for a slot), waiting (for a retry time), in_flight
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// gone (410), automatic (failing too long), manual
    pub reason: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub messages_accepted: Counter,
    pub deliveries: Family<OutcomeLabel, Counter>,
    pub attempt_duration: Histogram,
    pub delivery_latency: Histogram,
    pub store_ops: Family<OpLabel, Histogram>,
    pub endpoints_disabled: Family<ReasonLabel, Counter>,
    queue: Family<StateLabel, Gauge>,
    disabled_now: Gauge,
    oldest_due: Gauge<f64, std::sync::atomic::AtomicU64>,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
        300.0, 1800.0, 7200.0, 36000.0, 86400.0,
    ]
    .into_iter()
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hookd");
        let m = Metrics {
            messages_accepted: Counter::default(),
            deliveries: Family::default(),
            attempt_duration: Histogram::new(latency_buckets().take(14)),
            delivery_latency: Histogram::new(latency_buckets()),
            store_ops: Family::new_with_constructor(|| {
                Histogram::new([
                    0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 5.0,
                ])
            }),
            endpoints_disabled: Family::default(),
            queue: Family::default(),
            disabled_now: Gauge::default(),
            oldest_due: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "messages_accepted",
            "Messages accepted by the API",
            m.messages_accepted.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Delivery attempts by outcome",
            m.deliveries.clone(),
        );
        registry.register(
            "attempt_duration_seconds",
            "Duration of one delivery attempt (request to response)",
            m.attempt_duration.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "From a message's acceptance to its first successful delivery to an endpoint",
            m.delivery_latency.clone(),
        );
        registry.register(
            "store_operation_seconds",
            "Latency of store operations",
            m.store_ops.clone(),
        );
        registry.register(
            "endpoints_disabled",
            "Endpoints disabled, by reason",
            m.endpoints_disabled.clone(),
        );
        registry.register(
            "disabled_endpoints",
            "Endpoints disabled right now",
            m.disabled_now.clone(),
        );
        registry.register(
            "queue_deliveries",
            "Deliveries held by the scheduler, by state",
            m.queue.clone(),
        );
        registry.register(
            "oldest_due_delivery_age_seconds",
            "How long the oldest due delivery has been waiting (0 when none)",
            m.oldest_due.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn attempt(&self, outcome: &Outcome, duration: Duration) {
        let label = match outcome {
            o if o.is_success() => "success",
            Outcome::Status(s) if (300..400).contains(s) => "http_3xx",
            Outcome::Status(s) if (400..500).contains(s) => "http_4xx",
            Outcome::Status(s) if *s >= 500 => "http_5xx",
            Outcome::Status(_) => "other",
            Outcome::Timeout => "timeout",
            Outcome::Connect => "connect",
            Outcome::Dns => "dns",
            Outcome::Tls => "tls",
            Outcome::Blocked => "blocked",
            Outcome::Other => "other",
        };
        self.deliveries
            .get_or_create(&OutcomeLabel { outcome: label })
            .inc();
        self.attempt_duration.observe(duration.as_secs_f64());
    }

    pub fn delivered(&self, accepted_at: Timestamp) {
        let secs = (Timestamp::now().0 - accepted_at.0).max(0) as f64 / 1000.0;
        self.delivery_latency.observe(secs);
    }

    pub fn disabled(&self, reason: &'static str) {
        self.endpoints_disabled
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// The text exposition, with the scheduler's current state and, when the
    /// store answered, the number of disabled endpoints.
    pub fn render(&self, stats: &crate::delivery::Stats, disabled: Option<u64>) -> String {
        if let Some(n) = disabled {
            self.disabled_now.set(n as i64);
        }
        for (state, v) in [
            ("due", stats.ready),
            ("waiting", stats.waiting),
            ("in_flight", stats.in_flight),
        ] {
            self.queue
                .get_or_create(&StateLabel { state })
                .set(v as i64);
        }
        self.oldest_due.set(if stats.ready > 0 {
            stats.oldest_due.as_secs_f64()
        } else {
            0.0
        });
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// A [`Store`] that times every operation into `hookd_store_operation_seconds`.
pub struct MeteredStore {
    pub inner: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
}

impl MeteredStore {
    async fn timed<T>(&self, op: &'static str, f: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let r = f.await;
        self.metrics
            .store_ops
            .get_or_create(&OpLabel { op })
            .observe(start.elapsed().as_secs_f64());
        r
    }
}

#[async_trait]
impl Store for MeteredStore {
    async fn ensure_org(&self, name: &str) -> StoreResult<Org> {
        self.timed("ensure_org", self.inner.ensure_org(name)).await
    }

    async fn create_api_key(
        &self,
        org_id: &str,
        scope: Scope,
        name: Option<String>,
        hash: [u8; 32],
    ) -> StoreResult<ApiKey> {
        self.timed(
            "create_api_key",
            self.inner.create_api_key(org_id, scope, name, hash),
        )
        .await
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.timed("list_api_keys", self.inner.list_api_keys())
            .await
    }

    async fn revoke_api_key(&self, id: &str) -> StoreResult<bool> {
        self.timed("revoke_api_key", self.inner.revoke_api_key(id))
            .await
    }

    async fn find_api_key(&self, hash: [u8; 32]) -> StoreResult<Option<ApiKey>> {
        self.timed("find_api_key", self.inner.find_api_key(hash))
            .await
    }

    async fn create_app(&self, app: Application) -> StoreResult<Application> {
        self.timed("create_app", self.inner.create_app(app)).await
    }

    async fn get_app(&self, org_id: &str, id_or_uid: &str) -> StoreResult<Option<Application>> {
        self.timed("get_app", self.inner.get_app(org_id, id_or_uid))
            .await
    }

    async fn list_apps(&self, org_id: &str, q: &ListQuery) -> StoreResult<Page<Application>> {
        self.timed("list_apps", self.inner.list_apps(org_id, q))
            .await
    }

    async fn modify_app(
        &self,
        org_id: &str,
        id_or_uid: &str,
        f: Mutation<Application>,
    ) -> StoreResult<Option<Application>> {
        self.timed("modify_app", self.inner.modify_app(org_id, id_or_uid, f))
            .await
    }

    async fn delete_app(&self, org_id: &str, app_id: &str) -> StoreResult<bool> {
        self.timed("delete_app", self.inner.delete_app(org_id, app_id))
            .await
    }

    async fn create_endpoint(&self, ep: Endpoint) -> StoreResult<Endpoint> {
        self.timed("create_endpoint", self.inner.create_endpoint(ep))
            .await
    }

    async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> StoreResult<Option<Endpoint>> {
        self.timed("get_endpoint", self.inner.get_endpoint(app_id, id_or_uid))
            .await
    }

    async fn list_endpoints(&self, app_id: &str, q: &ListQuery) -> StoreResult<Page<Endpoint>> {
        self.timed("list_endpoints", self.inner.list_endpoints(app_id, q))
            .await
    }

    async fn modify_endpoint(
        &self,
        app_id: &str,
        id_or_uid: &str,
        f: Mutation<Endpoint>,
    ) -> StoreResult<Option<Endpoint>> {
        self.timed(
            "modify_endpoint",
            self.inner.modify_endpoint(app_id, id_or_uid, f),
        )
        .await
    }

    async fn delete_endpoint(&self, app_id: &str, endpoint_id: &str) -> StoreResult<bool> {
        self.timed(
            "delete_endpoint",
            self.inner.delete_endpoint(app_id, endpoint_id),
        )
        .await
    }

    async fn create_event_type(&self, et: EventType) -> StoreResult<EventType> {
        self.timed("create_event_type", self.inner.create_event_type(et))
            .await
    }

    async fn get_event_type(&self, org_id: &str, name: &str) -> StoreResult<Option<EventType>> {
        self.timed("get_event_type", self.inner.get_event_type(org_id, name))
            .await
    }

    async fn list_event_types(
        &self,
        org_id: &str,
        q: &ListQuery,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>> {
        self.timed(
            "list_event_types",
            self.inner.list_event_types(org_id, q, include_archived),
        )
        .await
    }

    async fn modify_event_type(
        &self,
        org_id: &str,
        name: &str,
        f: Mutation<EventType>,
    ) -> StoreResult<Option<EventType>> {
        self.timed(
            "modify_event_type",
            self.inner.modify_event_type(org_id, name, f),
        )
        .await
    }

    async fn delete_event_type(&self, org_id: &str, name: &str) -> StoreResult<bool> {
        self.timed(
            "delete_event_type",
            self.inner.delete_event_type(org_id, name),
        )
        .await
    }

    async fn create_message(
        &self,
        app_id: &str,
        msg: NewMessage,
    ) -> StoreResult<(Message, Vec<Delivery>)> {
        self.timed("create_message", self.inner.create_message(app_id, msg))
            .await
    }

    async fn get_message(
        &self,
        app_id: &str,
        id_or_event_id: &str,
    ) -> StoreResult<Option<Message>> {
        self.timed(
            "get_message",
            self.inner.get_message(app_id, id_or_event_id),
        )
        .await
    }

    async fn list_messages(
        &self,
        app_id: &str,
        q: &ListQuery,
        f: &MessageFilter,
    ) -> StoreResult<Page<Message>> {
        self.timed("list_messages", self.inner.list_messages(app_id, q, f))
            .await
    }

    async fn list_destinations(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
    ) -> StoreResult<Page<(Endpoint, Delivery)>> {
        self.timed(
            "list_destinations",
            self.inner.list_destinations(app_id, msg_id, q),
        )
        .await
    }

    async fn list_endpoint_messages(
        &self,
        app_id: &str,
        endpoint_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<(Message, Delivery)>> {
        self.timed(
            "list_endpoint_messages",
            self.inner.list_endpoint_messages(app_id, endpoint_id, q, f),
        )
        .await
    }

    async fn list_attempts_by_endpoint(
        &self,
        app_id: &str,
        endpoint_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>> {
        self.timed(
            "list_attempts_by_endpoint",
            self.inner
                .list_attempts_by_endpoint(app_id, endpoint_id, q, f),
        )
        .await
    }

    async fn list_attempts_by_message(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>> {
        self.timed(
            "list_attempts_by_message",
            self.inner.list_attempts_by_message(app_id, msg_id, q, f),
        )
        .await
    }

    async fn get_attempt(
        &self,
        app_id: &str,
        msg_id: &str,
        attempt_id: &str,
    ) -> StoreResult<Option<Attempt>> {
        self.timed(
            "get_attempt",
            self.inner.get_attempt(app_id, msg_id, attempt_id),
        )
        .await
    }

    async fn idempotency_start(
        &self,
        org_id: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> StoreResult<IdempotencyStart> {
        self.timed(
            "idempotency_start",
            self.inner
                .idempotency_start(org_id, key, fingerprint, now, lease_ms),
        )
        .await
    }

    async fn idempotency_complete(
        &self,
        org_id: &str,
        key: &str,
        status: u16,
        body: Vec<u8>,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.timed(
            "idempotency_complete",
            self.inner
                .idempotency_complete(org_id, key, status, body, expires_at),
        )
        .await
    }

    async fn idempotency_abort(&self, org_id: &str, key: &str) -> StoreResult<()> {
        self.timed(
            "idempotency_abort",
            self.inner.idempotency_abort(org_id, key),
        )
        .await
    }

    async fn queued_deliveries(&self, now: Timestamp) -> StoreResult<Vec<QueuedDelivery>> {
        self.timed("queued_deliveries", self.inner.queued_deliveries(now))
            .await
    }

    async fn get_endpoint_by_id(&self, endpoint_id: &str) -> StoreResult<Option<Endpoint>> {
        self.timed(
            "get_endpoint_by_id",
            self.inner.get_endpoint_by_id(endpoint_id),
        )
        .await
    }

    async fn get_message_by_id(&self, msg_id: &str) -> StoreResult<Option<Message>> {
        self.timed("get_message_by_id", self.inner.get_message_by_id(msg_id))
            .await
    }

    async fn get_app_by_id(&self, app_id: &str) -> StoreResult<Option<Application>> {
        self.timed("get_app_by_id", self.inner.get_app_by_id(app_id))
            .await
    }

    async fn record_attempts(&self, batch: Vec<AttemptResult>) -> StoreResult<Vec<AttemptEffects>> {
        self.timed("record_attempts", self.inner.record_attempts(batch))
            .await
    }

    async fn fail_delivery(&self, msg_id: &str, endpoint_id: &str) -> StoreResult<()> {
        self.timed(
            "fail_delivery",
            self.inner.fail_delivery(msg_id, endpoint_id),
        )
        .await
    }

    async fn requeue(
        &self,
        app_id: &str,
        endpoint_id: &str,
        msg_ids: &[String],
        now: Timestamp,
        owner: Option<&str>,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        self.timed(
            "requeue",
            self.inner.requeue(app_id, endpoint_id, msg_ids, now, owner),
        )
        .await
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        dead_after_ms: i64,
        limit: usize,
        reclaim_own: bool,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        self.timed(
            "claim_due",
            self.inner
                .claim_due(owner, now, dead_after_ms, limit, reclaim_own),
        )
        .await
    }

    async fn heartbeat(&self, node: &str, now: Timestamp, window_ms: i64) -> StoreResult<usize> {
        self.timed("heartbeat", self.inner.heartbeat(node, now, window_ms))
            .await
    }

    async fn expunge_expired(&self, now: Timestamp, limit: usize) -> StoreResult<usize> {
        self.timed("expunge_expired", self.inner.expunge_expired(now, limit))
            .await
    }

    async fn expunge_message(&self, app_id: &str, msg_id: &str) -> StoreResult<bool> {
        self.timed(
            "expunge_message",
            self.inner.expunge_message(app_id, msg_id),
        )
        .await
    }

    async fn count_disabled_endpoints(&self) -> StoreResult<u64> {
        self.timed(
            "count_disabled_endpoints",
            self.inner.count_disabled_endpoints(),
        )
        .await
    }

    fn watch_changes(&self, f: Box<dyn Fn(hookd_core::store::Change) + Send + Sync>) {
        self.inner.watch_changes(f)
    }

    async fn failed_message_ids(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<String>> {
        self.timed(
            "failed_message_ids",
            self.inner
                .failed_message_ids(app_id, endpoint_id, since, until),
        )
        .await
    }

    async fn endpoint_stats(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> StoreResult<EndpointStats> {
        self.timed(
            "endpoint_stats",
            self.inner.endpoint_stats(app_id, endpoint_id, since, until),
        )
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.timed("ping", self.inner.ping()).await
    }
}
