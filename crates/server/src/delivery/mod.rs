//! The delivery engine: takes deliveries committed by the API, attempts each
//! in its endpoint's lane (concurrency cap, rate limit), signs and POSTs it,
//! records the attempt, and schedules retries.
//!
//! The scheduler holds the queue in memory: fed directly by the API after
//! each commit (so the first attempt goes out at once, with no polling) and
//! rebuilt from the store at start. The store stays the source of truth: a
//! delivery is durable before the scheduler hears of it, and its state is
//! written back after every attempt, so a crash loses nothing, and only
//! attempts in flight at the crash can be repeated.

pub mod client;
mod events;
mod intake;
mod scheduler;
mod schedules;
pub mod ssrf;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookd_core::model::Message;
use hookd_core::retry::Schedule;
use hookd_core::store::{
    AttemptEffects, AttemptResult, NODE_STOPPED, QueuedDelivery, Store, StoreError, StoreResult,
};
use hookd_core::time::Timestamp;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::metrics::Metrics;

pub use events::OperationalEvent;

/// Settings of the engine, resolved from [`Config`].
#[derive(Clone)]
pub struct EngineConfig {
    pub schedule: Schedule,
    pub endpoint_concurrency: usize,
    pub max_in_flight: usize,
    pub svix_headers: bool,
    pub disable_after: Duration,
    pub failing_event_after: i64,
    pub operational_app_uid: String,
    /// Whether this node delivers (roles `all` and `worker`).
    pub worker: bool,
    /// This node's name in leases: unique per process on a shared store, so a
    /// restarted node never mistakes its predecessor's deliveries for its own.
    pub node_id: String,
    /// The configured `node_id`, on a shared store: this node's previous
    /// lives carry it too, and are retired at start.
    pub node_name: Option<String>,
    /// Several nodes share the store: claim work from it and heartbeat.
    pub shared_store: bool,
    /// Heartbeat silence after which a node is considered dead.
    pub lease_timeout: Duration,
    /// Polling fallback of the claimer.
    pub claim_interval: Duration,
    /// Default payload retention (operational events use it too), in ms.
    pub retention_ms: i64,
}

impl EngineConfig {
    pub fn from_config(c: &Config) -> anyhow::Result<EngineConfig> {
        Ok(EngineConfig {
            schedule: c.schedule().map_err(anyhow::Error::msg)?,
            endpoint_concurrency: c.endpoint_concurrency as usize,
            max_in_flight: c.max_in_flight as usize,
            svix_headers: c.signature_headers == "svix",
            disable_after: Duration::from_secs(c.disable_after_secs),
            failing_event_after: c.failing_event_after_attempts as i64,
            operational_app_uid: c.operational_app_uid.clone(),
            worker: c.role != "api",
            node_id: if c.is_postgres() {
                let mut b = [0u8; 6];
                hookd_core::random::fill(&mut b);
                let suffix: String = b.iter().map(|x| format!("{x:02x}")).collect();
                let prefix = if c.node_id.is_empty() {
                    "node"
                } else {
                    c.node_id.as_str()
                };
                format!("{prefix}-{suffix}")
            } else {
                "local".to_string()
            },
            node_name: (c.is_postgres() && !c.node_id.is_empty()).then(|| c.node_id.clone()),
            shared_store: c.is_postgres(),
            lease_timeout: Duration::from_secs(c.lease_timeout_secs),
            claim_interval: Duration::from_millis(c.claim_interval_ms),
            retention_ms: c.retention().as_millis() as i64,
        })
    }
}

pub(crate) enum Command {
    /// Deliveries to attempt when due; the message travels along when the
    /// caller has it, saving a read.
    Enqueue(Vec<QueuedDelivery>, Option<Arc<Message>>),
    /// An endpoint was changed or deleted: drop cached copies.
    EndpointChanged(String),
    /// An application was deleted with everything under it.
    AppDeleted(String),
    /// An application was changed (its throttleRate may apply to its endpoints).
    AppChanged(String),
    /// Deliveries to the endpoint of messages created before the time were
    /// canceled: drop the copies waiting here.
    Canceled(String, Timestamp),
    Shutdown(Duration, oneshot::Sender<()>),
}

/// Handle to the running engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    tx: mpsc::UnboundedSender<Command>,
    store: Arc<dyn Store>,
    config: Arc<EngineConfig>,
    stats: Arc<Mutex<Stats>>,
    /// Deliveries (message id, endpoint id) whose attempt is under way.
    in_flight: Arc<Mutex<HashSet<(String, String)>>>,
    /// Endpoints whose rate limit holds back due deliveries on this node, since when.
    throttled: Arc<Mutex<HashMap<String, Timestamp>>>,
    recorder: mpsc::UnboundedSender<ToRecord>,
    pub(crate) metrics: Arc<Metrics>,
    /// Live nodes sharing the store (rate limits are split between them).
    alive_nodes: Arc<AtomicUsize>,
    /// Wakes the claimer when new unclaimed deliveries are announced.
    claim_wake: Arc<tokio::sync::Notify>,
    /// Bounds the attempts waiting to be recorded: when the store falls
    /// behind, attempts hold their endpoint slot until there is room, so the
    /// backlog slows sending instead of growing in memory.
    record_room: Arc<tokio::sync::Semaphore>,
    /// Event types' own retry schedules.
    schedules: Arc<schedules::Schedules>,
}

/// Most finished attempts waiting to be recorded.
const RECORD_QUEUE_MAX: usize = 4096;

/// Most attempts written in one store call.
const RECORD_BATCH: usize = 512;

/// Claims cap: the claimer stops taking work while this node already holds
/// this many deliveries, leaving the rest to other nodes.
const CLAIM_HOLD_MAX: usize = 20_000;
const CLAIM_BATCH: usize = 500;

/// Heartbeats, and on a shared store claims due deliveries nobody alive
/// holds: at once when notified, else every `claim_interval`.
///
/// Claims look `lookahead` ahead, so a scheduled delivery is in the timer
/// heap before it is due and goes out on time. On a store of its own a node
/// claims only what nobody holds (scheduled messages): everything it held
/// was resumed at start.
async fn maintain(engine: Engine) {
    let cfg = engine.config.clone();
    let window = cfg.lease_timeout.as_millis() as i64;
    let lookahead = engine.lookahead().as_millis() as i64;
    // The claim's `now` is moved ahead; the dead-node window moves with it.
    let dead_after = if cfg.shared_store {
        window + lookahead
    } else {
        i64::MAX / 2
    };
    let beat_every = cfg.lease_timeout / 3;
    let mut last_beat = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(cfg.claim_interval) => {}
            _ = engine.claim_wake.notified() => {}
        }
        if engine.stats().stopped {
            return;
        }
        if last_beat.elapsed() >= beat_every {
            match engine
                .store
                .heartbeat(&cfg.node_id, Timestamp::now(), window)
                .await
            {
                Ok(n) => {
                    engine.alive_nodes.store(n, Ordering::Relaxed);
                    last_beat = std::time::Instant::now();
                }
                Err(e) => tracing::warn!(error = %e.chain(), "heartbeat failed"),
            }
            if cfg.shared_store {
                // Tasks of nodes that stopped without ending them can never end.
                match engine
                    .store
                    .fail_dead_tasks(Timestamp::now(), window, NODE_STOPPED)
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(tasks = n, "failed background tasks of stopped nodes"),
                    Err(e) => {
                        tracing::warn!(error = %e.chain(), "sweeping dead nodes' tasks failed")
                    }
                }
            }
        }
        loop {
            let held = {
                let s = engine.stats();
                s.ready + s.waiting + s.in_flight
            };
            if held >= CLAIM_HOLD_MAX {
                break;
            }
            let claimed = engine
                .store
                .claim_due(
                    &cfg.node_id,
                    Timestamp(Timestamp::now().0 + lookahead),
                    dead_after,
                    CLAIM_BATCH,
                    false,
                )
                .await;
            match claimed {
                Ok(batch) => {
                    let n = batch.len();
                    if n > 0 {
                        tracing::debug!(deliveries = n, "claimed");
                    }
                    engine.enqueue(batch, None);
                    if n < CLAIM_BATCH {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e.chain(), "claiming deliveries failed");
                    break;
                }
            }
        }
    }
}

pub(crate) enum ToRecord {
    Attempt(
        Box<AttemptResult>,
        oneshot::Sender<StoreResult<AttemptEffects>>,
    ),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// Writes finished attempts in batches: whatever accumulated while the
/// previous batch was being written goes into the next one, so under load
/// one transaction records hundreds of attempts.
async fn recorder(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<ToRecord>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while rx.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let mut results = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        let mut flushes = Vec::new();
        for item in batch.drain(..) {
            match item {
                ToRecord::Attempt(r, reply) => {
                    results.push(*r);
                    replies.push(reply);
                }
                ToRecord::Flush(done) => flushes.push(done),
            }
        }
        if !results.is_empty() {
            match store.record_attempts(results).await {
                Ok(effects) => {
                    for (reply, e) in replies.into_iter().zip(effects) {
                        let _ = reply.send(Ok(e));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// What the scheduler reports about its progress (for health and metrics).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Deliveries due now, waiting for a slot in their lane.
    pub ready: usize,
    /// Deliveries waiting for a retry time.
    pub waiting: usize,
    pub in_flight: usize,
    /// How long the oldest due delivery has been due (computed when read).
    pub oldest_due: Duration,
    /// When the oldest delivery waiting in a lane became due.
    pub oldest_due_at: Option<hookd_core::time::Timestamp>,
    /// Ordered lanes whose head waits for a retry.
    pub fifo_blocked: usize,
    /// Deliveries waiting behind those heads (part of `ready`).
    pub held_in_order: usize,
    /// When an attempt last started or finished.
    pub last_progress: Option<std::time::Instant>,
    pub stopped: bool,
}

/// Work that is due but has seen no progress for this long means the
/// scheduler is stuck.
pub const STALL_AFTER: Duration = Duration::from_secs(60);

impl Stats {
    /// The queue gauges of a metrics scrape.
    pub fn queue(&self) -> crate::metrics::Queue {
        crate::metrics::Queue {
            due: self.ready - self.held_in_order.min(self.ready),
            waiting: self.waiting,
            in_flight: self.in_flight,
            oldest_due: self.oldest_due,
            fifo_blocked: self.fifo_blocked,
            held_in_order: self.held_in_order,
        }
    }

    /// Why the scheduler is unhealthy, if it is.
    pub fn problem(&self) -> Option<String> {
        if self.stopped {
            return Some("the delivery scheduler has stopped".into());
        }
        let idle_for = self
            .last_progress
            .map(|t| t.elapsed())
            .unwrap_or(Duration::MAX);
        if self.ready > 0
            && self.in_flight == 0
            && self.oldest_due > STALL_AFTER
            && idle_for > STALL_AFTER
        {
            return Some(format!(
                "the delivery scheduler is stalled: {} deliveries due, the oldest for {} s, no progress for {} s",
                self.ready,
                self.oldest_due.as_secs(),
                idle_for.as_secs().min(self.oldest_due.as_secs())
            ));
        }
        None
    }
}

impl Engine {
    /// Starts the scheduler and queues every delivery the store still holds.
    pub async fn start(
        store: Arc<dyn Store>,
        config: EngineConfig,
        client: client::Client,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Engine> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (recorder_tx, recorder_rx) = mpsc::unbounded_channel();
        tokio::spawn(recorder(store.clone(), recorder_rx));
        let config = Arc::new(config);
        let engine = Engine {
            tx,
            store: store.clone(),
            config: config.clone(),
            stats: Arc::new(Mutex::new(Stats::default())),
            in_flight: Arc::new(Mutex::new(HashSet::new())),
            throttled: Arc::default(),
            recorder: recorder_tx,
            metrics,
            alive_nodes: Arc::new(AtomicUsize::new(1)),
            claim_wake: Arc::new(tokio::sync::Notify::new()),
            record_room: Arc::new(tokio::sync::Semaphore::new(RECORD_QUEUE_MAX)),
            schedules: Arc::default(),
        };
        if !engine.config.shared_store {
            // Alone on its store, this node ran every task still running: a
            // previous life of it that stopped mid-task.
            let failed = store
                .fail_node_tasks(&engine.config.node_id, NODE_STOPPED, Timestamp::now())
                .await?;
            if failed > 0 {
                tracing::warn!(
                    tasks = failed,
                    "failed background tasks left running by the last run"
                );
            }
        }
        if !engine.config.worker {
            // API-only node: deliveries stay unclaimed in the store for the
            // worker nodes; nothing runs here.
            drop(rx);
            return Ok(engine);
        }
        let window = engine.config.lease_timeout.as_millis() as i64;
        if let Some(name) = &engine.config.node_name {
            // Names are unique among running nodes (see `node_id`): another
            // node of this name is a previous life, stopped or killed. Its
            // work is taken over now rather than after `lease_timeout`.
            let retired = store
                .retire_previous_lives(name, &engine.config.node_id)
                .await?;
            if retired > 0 {
                tracing::info!(nodes = retired, name = %name, "taking over the work of this node's previous run");
            }
        }
        let alive = store
            .heartbeat(&engine.config.node_id, Timestamp::now(), window)
            .await?;
        engine.alive_nodes.store(alive, Ordering::Relaxed);
        // On a store of its own, this node holds everything: resume it all.
        // On a shared store, the claimer takes what nobody (alive) holds.
        let backlog = if engine.config.shared_store {
            Vec::new()
        } else {
            store.queued_deliveries(Timestamp::now()).await?
        };
        if !backlog.is_empty() {
            tracing::info!(deliveries = backlog.len(), "resuming queued deliveries");
        }
        scheduler::spawn(engine.clone(), client, rx);
        engine.enqueue(backlog, None);
        tokio::spawn(maintain(engine.clone()));
        Ok(engine)
    }

    /// Queues a finished attempt for recording (batched with others) now;
    /// the returned future says how it went.
    pub(crate) fn record_queued(
        &self,
        r: AttemptResult,
    ) -> impl std::future::Future<Output = StoreResult<AttemptEffects>> + use<> {
        let (tx, rx) = oneshot::channel();
        let sent = self.recorder.send(ToRecord::Attempt(Box::new(r), tx));
        async move {
            sent.map_err(|_| StoreError::unavailable("the attempt recorder has stopped"))?;
            rx.await
                .map_err(|_| StoreError::unavailable("the attempt recorder has stopped"))?
        }
    }

    /// Waits for room in the record queue; the permit is held until the
    /// attempt is recorded.
    pub(crate) async fn record_room(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.record_room.clone().acquire_owned().await.ok()
    }

    /// Waits until every attempt queued for recording so far is written.
    pub(crate) async fn flush_records(&self) {
        let (tx, rx) = oneshot::channel();
        if self.recorder.send(ToRecord::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// How far ahead of due the claimer takes deliveries nobody holds.
    pub fn lookahead(&self) -> Duration {
        (self.config.claim_interval * 2).max(Duration::from_secs(2))
    }

    /// The node new deliveries should be held by: this one when it delivers,
    /// nobody (left for the workers to claim) on an API-only node.
    pub fn owner(&self) -> Option<String> {
        self.config.worker.then(|| self.config.node_id.clone())
    }

    /// This node's id: what it holds deliveries and background tasks as.
    pub fn node_id(&self) -> &str {
        &self.config.node_id
    }

    /// How many nodes share the store's work (1 on a store of its own).
    pub fn alive_nodes(&self) -> usize {
        self.alive_nodes.load(Ordering::Relaxed).max(1)
    }

    /// Whether an attempt of this delivery is under way (status "sending").
    pub fn is_sending(&self, msg_id: &str, endpoint_id: &str) -> bool {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(msg_id.to_string(), endpoint_id.to_string()))
    }

    /// How many attempts to this endpoint are under way.
    pub fn sending_to(&self, endpoint_id: &str) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, e)| e == endpoint_id)
            .count()
    }

    pub(crate) fn in_flight_insert(&self, key: (String, String)) {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
    }

    pub(crate) fn in_flight_remove(&self, key: &(String, String)) {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Notes whether the endpoint's rate limit is holding back a due delivery
    /// (the scheduler calls this as it waits for and spends tokens).
    pub(crate) fn mark_throttled(&self, endpoint_id: &str, throttled: bool) {
        let mut t = self.throttled.lock().unwrap_or_else(|e| e.into_inner());
        if throttled {
            t.entry(endpoint_id.to_string())
                .or_insert_with(Timestamp::now);
        } else if !t.is_empty() {
            t.remove(endpoint_id);
        }
    }

    /// Since when this node has been holding deliveries back for the
    /// endpoint's rate limit, if it is now.
    pub fn throttled_since(&self, endpoint_id: &str) -> Option<Timestamp> {
        self.throttled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(endpoint_id)
            .copied()
    }

    /// A snapshot of the scheduler's progress.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let now = hookd_core::time::Timestamp::now();
        s.oldest_due = s
            .oldest_due_at
            .map(|t| Duration::from_millis((now.0 - t.0).max(0) as u64))
            .unwrap_or_default();
        s
    }

    /// Stops dispatching and waits up to `deadline` for attempts in flight.
    pub async fn shutdown(&self, deadline: Duration) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Shutdown(deadline, done)).is_ok() {
            let _ = wait.await;
        }
        // Requests are over; make sure their attempts are on disk too.
        let _ = tokio::time::timeout(deadline, self.flush_records()).await;
    }

    /// Sends an operational event to the organisation's operational application.
    pub fn emit(&self, org_id: &str, source_app_id: &str, event: OperationalEvent) {
        events::emit(
            self.clone(),
            org_id.to_string(),
            source_app_id.to_string(),
            event,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_is_reported_only_for_due_work_without_progress() {
        let mut s = Stats::default();
        assert_eq!(s.problem(), None);
        s.ready = 3;
        s.oldest_due = Duration::from_secs(120);
        assert!(s.problem().is_some_and(|p| p.contains("stalled")));
        s.last_progress = Some(std::time::Instant::now());
        assert_eq!(s.problem(), None, "recent progress means it is moving");
        s.last_progress = None;
        s.in_flight = 1;
        assert_eq!(s.problem(), None, "work in flight means it is moving");
        s.in_flight = 0;
        s.oldest_due = Duration::from_secs(5);
        assert_eq!(s.problem(), None, "recently due work is not a stall");
        s.stopped = true;
        assert!(s.problem().is_some_and(|p| p.contains("stopped")));
    }
}
