//! Prometheus metrics: what hookd counts, and the `/metrics` exposition.
//!
//! Labels are bounded on purpose: outcome classes, store operation names and
//! queue states, never message, endpoint or application ids, so the series
//! count stays constant however much traffic flows.

use std::time::Duration;

use hookd_core::retry::Outcome;
use hookd_core::store::Observer;
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
    /// gone (410), automatic (failing too long), manual; for HTTP
    /// connections: header_timeout, idle_timeout
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    /// api (`listen`) or metrics (`metrics_listen`)
    pub listener: &'static str,
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
    fifo_blocked: Gauge,
    scheduled: Gauge,
    http_connections: Family<ListenerLabel, Gauge>,
    http_closed: Family<ReasonLabel, Counter>,
    concurrency_cuts: Counter,
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
            fifo_blocked: Gauge::default(),
            scheduled: Gauge::default(),
            http_connections: Family::default(),
            http_closed: Family::default(),
            concurrency_cuts: Counter::default(),
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
        registry.register(
            "fifo_blocked_lanes",
            "Ordered (FIFO) endpoints whose oldest delivery failed and waits for its retry, holding back the rest",
            m.fifo_blocked.clone(),
        );
        registry.register(
            "scheduled_deliveries",
            "Deliveries of scheduled messages (deliverAt) waiting in the store, held by no node",
            m.scheduled.clone(),
        );
        registry.register(
            "http_connections",
            "HTTP connections open, by listener",
            m.http_connections.clone(),
        );
        registry.register(
            "http_connections_closed",
            "HTTP connections closed by hookd for a timeout (header_timeout, idle_timeout)",
            m.http_closed.clone(),
        );
        registry.register(
            "endpoint_concurrency_cuts",
            "Times an endpoint's adaptive concurrency was halved (timeouts, 429, 5xx)",
            m.concurrency_cuts.clone(),
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

    pub fn concurrency_cut(&self) {
        self.concurrency_cuts.inc();
    }

    pub fn disabled(&self, reason: &'static str) {
        self.endpoints_disabled
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// The gauge of the connections open on one listener.
    pub fn http_connections(&self, listener: &'static str) -> Gauge {
        self.http_connections
            .get_or_create(&ListenerLabel { listener })
            .clone()
    }

    /// A connection closed by hookd: `header_timeout` or `idle_timeout`.
    pub fn http_connection_closed(&self, reason: &'static str) {
        self.http_closed
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// The text exposition, with the scheduler's current state and, when the
    /// store answered, the number of disabled endpoints and of scheduled
    /// deliveries waiting in the store.
    pub fn render(&self, queue: &Queue, disabled: Option<u64>, scheduled: Option<u64>) -> String {
        if let Some(n) = disabled {
            self.disabled_now.set(n as i64);
        }
        if let Some(n) = scheduled {
            self.scheduled.set(n as i64);
        }
        self.fifo_blocked.set(queue.fifo_blocked as i64);
        for (state, v) in [
            ("due", queue.due),
            ("waiting", queue.waiting),
            ("in_flight", queue.in_flight),
            ("held_in_order", queue.held_in_order),
        ] {
            self.queue
                .get_or_create(&StateLabel { state })
                .set(v as i64);
        }
        self.oldest_due.set(if queue.due > 0 {
            queue.oldest_due.as_secs_f64()
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

/// The scheduler's queue at the moment of a scrape.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    /// Deliveries due, waiting for a slot in their lane.
    pub due: usize,
    /// Deliveries waiting for a retry time.
    pub waiting: usize,
    pub in_flight: usize,
    /// How long the oldest due delivery has been due.
    pub oldest_due: Duration,
    /// Ordered lanes whose head waits for a retry.
    pub fifo_blocked: usize,
    /// Deliveries waiting behind those heads (not counted as due).
    pub held_in_order: usize,
}

/// Store operations are timed into `hookd_store_operation_seconds`, labelled
/// by operation (a bounded set: the store traits' method names).
impl Observer for Metrics {
    fn observe(&self, op: &'static str, elapsed: Duration) {
        self.store_ops
            .get_or_create(&OpLabel { op })
            .observe(elapsed.as_secs_f64());
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
