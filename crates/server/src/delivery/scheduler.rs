//! The scheduler: one task owning the in-memory queue.
//!
//! Deliveries wait in a timer heap until due, then in their endpoint's lane.
//! Lanes are served round-robin, one delivery per turn, each within its
//! endpoint's concurrency cap and rate limit, all within the global cap on
//! requests in flight. A slow or failing endpoint therefore only ever uses its
//! own slots: it cannot delay anyone else's deliveries.
//!
//! An ordered (FIFO) endpoint's lane is kept in message id (acceptance)
//! order and sends one delivery at a time: a failed head waits for its retry
//! in place, at the front, and everything behind it waits too, until it
//! succeeds or is given up.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use hookd_core::model::Endpoint;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::Client;
use super::worker::{self, Done, Job};
use super::{Command, Engine};

/// How often the shared statistics are refreshed at most.
const STATS_INTERVAL: Duration = Duration::from_millis(100);

/// Deliveries per lane that keep their payload in memory while they wait.
const PAYLOADS_KEPT_PER_LANE: usize = 1024;

/// How many endpoints' settings stay cached.
const ENDPOINT_CACHE: usize = 10_000;

struct Due {
    at: Instant,
    seq: u64,
    job: Job,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct Lane {
    ready: VecDeque<Job>,
    in_flight: usize,
    /// Queued in `runnable` already.
    listed: bool,
    /// An ordered endpoint's lane (known once the endpoint is loaded).
    fifo: bool,
    /// The wake-up already set for a head waiting for its retry.
    held_until: Option<Instant>,
}

impl Lane {
    /// Adds a job in its place: message id order in an ordered lane.
    fn insert(&mut self, job: Job) {
        if !self.fifo || self.ready.back().is_none_or(|b| b.d.msg_id <= job.d.msg_id) {
            self.ready.push_back(job);
        } else {
            let at = self.ready.partition_point(|j| j.d.msg_id <= job.d.msg_id);
            self.ready.insert(at, job);
        }
    }
}

/// Token bucket of an endpoint's rate limit. Kept apart from the lane, which
/// is dropped whenever it runs empty: a trickle of single messages must be
/// limited as much as a backlog.
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

enum Info {
    Loading,
    Ready(Arc<Endpoint>),
    Gone,
}

pub(crate) enum Event {
    Command(Command),
    Loaded(String, Option<Endpoint>),
    Finished(String, Done),
}

struct Scheduler {
    engine: Engine,
    last_progress: Option<std::time::Instant>,
    stats_at: Option<Instant>,
    /// State changed since the statistics were last published.
    stats_dirty: bool,
    client: Client,
    events: mpsc::UnboundedSender<Event>,
    heap: BinaryHeap<Reverse<Due>>,
    seq: u64,
    lanes: HashMap<String, Lane>,
    buckets: HashMap<String, Bucket>,
    /// Each endpoint's adaptive concurrency (kept while the lane comes and goes).
    windows: HashMap<String, hookd_core::adaptive::Window>,
    endpoints: HashMap<String, Info>,
    runnable: VecDeque<String>,
    /// Lanes waiting for a rate-limit token, by when one is available.
    throttled: BinaryHeap<Reverse<(Instant, String)>>,
    in_flight: usize,
    stopping: bool,
}

pub(crate) fn spawn(
    engine: Engine,
    client: Client,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let (events, mut rx) = mpsc::unbounded_channel::<Event>();
    let forward = events.clone();
    // Commands from handles and events from workers meet in one channel.
    tokio::spawn(async move {
        while let Some(c) = commands.recv().await {
            if forward.send(Event::Command(c)).is_err() {
                break;
            }
        }
    });
    let mut s = Scheduler {
        engine,
        last_progress: None,
        stats_at: None,
        stats_dirty: true,
        client,
        events,
        heap: BinaryHeap::new(),
        seq: 0,
        lanes: HashMap::new(),
        buckets: HashMap::new(),
        windows: HashMap::new(),
        endpoints: HashMap::new(),
        runnable: VecDeque::new(),
        throttled: BinaryHeap::new(),
        in_flight: 0,
        stopping: false,
    };
    tokio::spawn(async move {
        let mut shutdown: Option<(Instant, tokio::sync::oneshot::Sender<()>)> = None;
        loop {
            let now = Instant::now();
            s.stats_dirty = true;
            s.promote(now);
            if !s.stopping {
                s.dispatch(now);
            }
            s.publish(false);
            if let Some((deadline, _)) = &shutdown
                && (s.in_flight == 0 || Instant::now() >= *deadline)
            {
                if let Some((_, done)) = shutdown.take() {
                    if s.in_flight > 0 {
                        tracing::warn!(
                            in_flight = s.in_flight,
                            "shutdown deadline passed with deliveries in flight; they will be retried at the next start"
                        );
                    }
                    let _ = done.send(());
                }
                s.publish(true);
                return;
            }
            let wake = s.next_wake(shutdown.as_ref().map(|(d, _)| *d));
            let event = match wake {
                Some(at) => tokio::select! {
                    e = rx.recv() => e,
                    _ = tokio::time::sleep_until(at) => continue,
                },
                None => rx.recv().await,
            };
            let Some(event) = event else { return };
            s.handle(event, &mut shutdown);
            // Drain whatever else is waiting before dispatching again, so
            // bursts are handled in one pass.
            while let Ok(e) = rx.try_recv() {
                s.handle(e, &mut shutdown);
            }
        }
    });
}

impl Scheduler {
    fn handle(
        &mut self,
        event: Event,
        shutdown: &mut Option<(Instant, tokio::sync::oneshot::Sender<()>)>,
    ) {
        match event {
            Event::Command(Command::Enqueue(deliveries, msg)) => {
                let now_ts = hookd_core::time::Timestamp::now();
                let now = Instant::now();
                // A manual resend replaces the queued copy of the same
                // delivery (waiting for a retry), so it is not sent twice.
                let manual: std::collections::HashSet<(String, String)> = deliveries
                    .iter()
                    .filter(|d| d.manual)
                    .map(|d| (d.msg_id.clone(), d.endpoint_id.clone()))
                    .collect();
                if !manual.is_empty() {
                    let is_copy =
                        |j: &Job| manual.contains(&(j.d.msg_id.clone(), j.d.endpoint_id.clone()));
                    self.heap.retain(|Reverse(d)| !is_copy(&d.job));
                    for lane in self.lanes.values_mut() {
                        lane.ready.retain(|j| !is_copy(j));
                    }
                }
                // A payload shared by a fan-out costs its memory once; one
                // that would wait deep in a single lane's backlog is dropped
                // and read back when its turn comes, so memory stays flat
                // however far an endpoint falls behind.
                let shared = deliveries.len() > 1;
                for d in deliveries {
                    let delay = Duration::from_millis((d.due.0 - now_ts.0).max(0) as u64);
                    let deep = self
                        .lanes
                        .get(&d.endpoint_id)
                        .is_some_and(|l| l.ready.len() >= PAYLOADS_KEPT_PER_LANE);
                    let keep = shared || !deep;
                    let job = Job::new(d, msg.clone().filter(|_| keep));
                    self.schedule(job, now + delay);
                }
            }
            Event::Command(Command::EndpointChanged(id)) => {
                if self.endpoints.remove(&id).is_some() || self.lanes.contains_key(&id) {
                    self.load(&id);
                }
            }
            Event::Command(Command::AppDeleted(app_id)) => {
                self.heap.retain(|Reverse(d)| d.job.d.app_id != app_id);
                for lane in self.lanes.values_mut() {
                    lane.ready.retain(|j| j.d.app_id != app_id);
                }
                self.endpoints.retain(|_, info| match info {
                    Info::Ready(ep) => ep.app_id != app_id,
                    _ => true,
                });
            }
            Event::Command(Command::AppChanged(app_id)) => {
                // Its endpoints may inherit its throttleRate: reload them.
                let affected: Vec<String> = self
                    .endpoints
                    .iter()
                    .filter(|(_, info)| matches!(info, Info::Ready(ep) if ep.app_id == app_id))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in affected {
                    self.endpoints.remove(&id);
                    if self.lanes.contains_key(&id) {
                        self.load(&id);
                    }
                }
            }
            Event::Command(Command::Canceled(endpoint_id, before)) => {
                let floor =
                    hookd_core::ids::floor_for_millis(hookd_core::ids::Kind::Message, before.0);
                let canceled = |j: &Job| j.d.endpoint_id == endpoint_id && j.d.msg_id < floor;
                self.heap.retain(|Reverse(d)| !canceled(&d.job));
                if let Some(lane) = self.lanes.get_mut(&endpoint_id) {
                    lane.ready.retain(|j| !canceled(j));
                }
                self.drop_idle_lane(&endpoint_id);
            }
            Event::Command(Command::Shutdown(deadline, done)) => {
                self.stopping = true;
                *shutdown = Some((Instant::now() + deadline, done));
            }
            Event::Loaded(id, ep) => {
                let info = match ep {
                    Some(e) => Info::Ready(Arc::new(e)),
                    None => Info::Gone,
                };
                if self.endpoints.len() >= ENDPOINT_CACHE {
                    self.endpoints.retain(|k, _| self.lanes.contains_key(k));
                }
                let fifo = matches!(&info, Info::Ready(ep) if ep.fifo);
                self.endpoints.insert(id.clone(), info);
                self.set_order(&id, fifo);
                self.mark_runnable(&id);
            }
            Event::Finished(endpoint_id, done) => {
                self.last_progress = Some(std::time::Instant::now());
                self.in_flight = self.in_flight.saturating_sub(1);
                if let Some(lane) = self.lanes.get_mut(&endpoint_id) {
                    lane.in_flight = lane.in_flight.saturating_sub(1);
                }
                if let Some((outcome, took)) = &done.sent {
                    let cap = self.engine.config.endpoint_concurrency;
                    if self.windows.len() >= ENDPOINT_CACHE
                        && !self.windows.contains_key(&endpoint_id)
                    {
                        self.windows.retain(|k, _| self.lanes.contains_key(k));
                    }
                    let w = self
                        .windows
                        .entry(endpoint_id.clone())
                        .or_insert_with(|| hookd_core::adaptive::Window::new(cap));
                    let now_ms = hookd_core::time::Timestamp::now().0;
                    if w.record(outcome, took.as_secs_f64() * 1000.0, now_ms) {
                        self.engine.metrics.concurrency_cut();
                        tracing::debug!(endpoint = %endpoint_id, allowed = w.allowed(), "endpoint concurrency cut");
                    }
                }
                if let Some((job, at)) = done.retry {
                    self.schedule(job, at);
                }
                self.mark_runnable(&endpoint_id);
                self.drop_idle_lane(&endpoint_id);
            }
        }
    }

    fn schedule(&mut self, mut job: Job, at: Instant) {
        // In an ordered lane a delivery that was attempted before waits for
        // its retry in place, so that nothing behind it goes first.
        let in_place = (job.d.attempts > 0 || job.d.manual) && self.is_fifo(job.endpoint_id());
        if at <= Instant::now() || in_place {
            if at > Instant::now() {
                job.msg = None;
                job.not_before = Some(at);
            }
            self.push_ready(job);
        } else {
            // A retry waits seconds to hours: its payload is read back then.
            job.msg = None;
            self.seq += 1;
            self.heap.push(Reverse(Due {
                at,
                seq: self.seq,
                job,
            }));
        }
    }

    fn promote(&mut self, now: Instant) {
        while self.heap.peek().is_some_and(|Reverse(d)| d.at <= now) {
            if let Some(Reverse(d)) = self.heap.pop() {
                self.push_ready(d.job);
            }
        }
        while self
            .throttled
            .peek()
            .is_some_and(|Reverse((at, _))| *at <= now)
        {
            if let Some(Reverse((_, id))) = self.throttled.pop() {
                self.mark_runnable(&id);
            }
        }
    }

    fn is_fifo(&self, endpoint_id: &str) -> bool {
        matches!(self.endpoints.get(endpoint_id), Some(Info::Ready(ep)) if ep.fifo)
    }

    /// Brings a lane in line with its endpoint's (possibly new) `fifo`
    /// setting: an ordered lane is sorted and takes in the retries waiting
    /// in the heap; a lane no longer ordered hands its waiting retries back.
    fn set_order(&mut self, id: &str, fifo: bool) {
        let was = self.lanes.get(id).is_some_and(|l| l.fifo);
        if fifo && !was {
            let mut retries = Vec::new();
            let heap = std::mem::take(&mut self.heap);
            for Reverse(d) in heap {
                if d.job.d.endpoint_id == id && (d.job.d.attempts > 0 || d.job.d.manual) {
                    retries.push(d);
                } else {
                    self.heap.push(Reverse(d));
                }
            }
            if retries.is_empty() && !self.lanes.contains_key(id) {
                return;
            }
            let lane = self.lanes.entry(id.to_string()).or_default();
            lane.fifo = true;
            lane.ready
                .make_contiguous()
                .sort_by(|a, b| a.d.msg_id.cmp(&b.d.msg_id));
            for mut d in retries {
                d.job.not_before = Some(d.at);
                lane.insert(d.job);
            }
        } else if !fifo && let Some(lane) = self.lanes.get_mut(id) {
            lane.fifo = false;
            lane.held_until = None;
            let now = Instant::now();
            let (waiting, ready): (VecDeque<Job>, VecDeque<Job>) = lane
                .ready
                .drain(..)
                .partition(|j| j.not_before.is_some_and(|t| t > now));
            lane.ready = ready;
            for mut j in waiting {
                if let Some(at) = j.not_before.take() {
                    self.schedule(j, at);
                }
            }
        }
    }

    fn push_ready(&mut self, job: Job) {
        let id = job.endpoint_id().to_string();
        let fifo = self.is_fifo(&id);
        let lane = self.lanes.entry(id.clone()).or_default();
        lane.fifo |= fifo;
        lane.insert(job);
        if !self.endpoints.contains_key(&id) {
            self.load(&id);
        }
        self.mark_runnable(&id);
    }

    fn load(&mut self, id: &str) {
        self.endpoints.insert(id.to_string(), Info::Loading);
        let store = self.engine.store.clone();
        let events = self.events.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            // A store error here is retried by loading again shortly; the
            // lane waits meanwhile.
            loop {
                match store.get_endpoint_by_id(&id).await {
                    Ok(Some(mut ep)) => {
                        // An application's throttleRate applies to each of its
                        // endpoints that has no rate limit of its own.
                        if ep.rate_limit.is_none() {
                            match store.get_app_by_id(&ep.app_id).await {
                                Ok(Some(app)) => ep.rate_limit = app.rate_limit,
                                Ok(None) => {}
                                Err(e) => {
                                    tracing::warn!(endpoint = %id, error = %e.chain(), "cannot load application; retrying");
                                    tokio::time::sleep(Duration::from_secs(1)).await;
                                    continue;
                                }
                            }
                        }
                        let _ = events.send(Event::Loaded(id, Some(ep)));
                        return;
                    }
                    Ok(None) => {
                        let _ = events.send(Event::Loaded(id, None));
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(endpoint = %id, error = %e.chain(), "cannot load endpoint; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }

    fn mark_runnable(&mut self, id: &str) {
        if let Some(lane) = self.lanes.get_mut(id)
            && !lane.listed
            && !lane.ready.is_empty()
        {
            lane.listed = true;
            self.runnable.push_back(id.to_string());
        }
    }

    fn drop_idle_lane(&mut self, id: &str) {
        if self
            .lanes
            .get(id)
            .is_some_and(|l| l.ready.is_empty() && l.in_flight == 0 && !l.listed)
        {
            self.lanes.remove(id);
        }
    }

    fn dispatch(&mut self, now: Instant) {
        let cap = self.engine.config.endpoint_concurrency;
        let max = self.engine.config.max_in_flight;
        let mut turns = self.runnable.len();
        while self.in_flight < max && turns > 0 {
            turns -= 1;
            let Some(id) = self.runnable.pop_front() else {
                break;
            };
            let Some(lane) = self.lanes.get_mut(&id) else {
                continue;
            };
            lane.listed = false;
            let endpoint = match self.endpoints.get(&id) {
                Some(Info::Ready(ep)) => ep.clone(),
                Some(Info::Loading) | None => continue,
                Some(Info::Gone) => {
                    // Deleted endpoint: its deliveries went with it.
                    lane.ready.clear();
                    self.drop_idle_lane(&id);
                    continue;
                }
            };
            if endpoint.disabled {
                let store = self.engine.store.clone();
                let jobs: Vec<Job> = lane.ready.drain(..).collect();
                tokio::spawn(async move {
                    for j in jobs {
                        if let Err(e) = store.fail_delivery(j.msg_id(), j.endpoint_id()).await {
                            tracing::warn!(error = %e.chain(), "cannot mark delivery to a disabled endpoint failed");
                        }
                    }
                });
                self.drop_idle_lane(&id);
                continue;
            }
            let allowed = if lane.fifo {
                1
            } else {
                self.windows.get(&id).map_or(cap, |w| w.allowed().min(cap))
            };
            if lane.in_flight >= allowed {
                continue;
            }
            if lane.fifo
                && let Some(at) = lane.ready.front().and_then(|j| j.not_before)
                && at > now
            {
                // The head waits for its retry, and the lane with it.
                if lane.held_until != Some(at) {
                    lane.held_until = Some(at);
                    self.throttled.push(Reverse((at, id.clone())));
                }
                continue;
            }
            if let Some(rate) = endpoint.rate_limit {
                // Nodes sharing a store split each endpoint's rate between them.
                let rate = f64::from(rate) / self.engine.alive_nodes() as f64;
                let capacity = rate.max(1.0);
                if self.buckets.len() >= ENDPOINT_CACHE {
                    // A bucket idle for 10 s is full again: forgetting it changes nothing.
                    self.buckets
                        .retain(|_, b| now.duration_since(b.refilled) < Duration::from_secs(10));
                }
                let bucket = self.buckets.entry(id.clone()).or_insert(Bucket {
                    tokens: 1.0,
                    refilled: now,
                });
                bucket.tokens = (bucket.tokens
                    + now.duration_since(bucket.refilled).as_secs_f64() * rate)
                    .min(capacity);
                bucket.refilled = now;
                if bucket.tokens < 1.0 {
                    let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / rate);
                    self.throttled.push(Reverse((now + wait, id.clone())));
                    self.engine.mark_throttled(&id, true);
                    continue;
                }
                bucket.tokens -= 1.0;
                self.engine.mark_throttled(&id, false);
            }
            let Some(job) = lane.ready.pop_front() else {
                continue;
            };
            lane.in_flight += 1;
            self.in_flight += 1;
            if !lane.ready.is_empty() {
                lane.listed = true;
                self.runnable.push_back(id.clone());
                turns += 1;
            }
            let (engine, client, events) = (
                self.engine.clone(),
                self.client.clone(),
                self.events.clone(),
            );
            tokio::spawn(async move {
                worker::attempt(&engine, &client, job, endpoint, move |done| {
                    let _ = events.send(Event::Finished(id, done));
                })
                .await;
            });
        }
    }

    /// Refreshes the shared statistics, at most every 100 ms (or when `stopped`).
    fn publish(&mut self, stopped: bool) {
        let now = Instant::now();
        if !stopped
            && (!self.stats_dirty
                || self
                    .stats_at
                    .is_some_and(|t| now.duration_since(t) < STATS_INTERVAL))
        {
            return;
        }
        self.stats_at = Some(now);
        self.stats_dirty = false;
        let mut ready = 0;
        let (mut fifo_blocked, mut held_in_order) = (0, 0);
        let mut oldest: Option<hookd_core::time::Timestamp> = None;
        for lane in self.lanes.values() {
            ready += lane.ready.len();
            let Some(front) = lane.ready.front() else {
                continue;
            };
            if lane.fifo && front.not_before.is_some_and(|t| t > now) {
                // Held back on purpose, not stuck: kept out of the oldest-due age.
                fifo_blocked += 1;
                held_in_order += lane.ready.len();
                continue;
            }
            oldest = Some(oldest.map_or(front.d.due, |o| o.min(front.d.due)));
        }
        let stats = super::Stats {
            ready,
            waiting: self.heap.len(),
            in_flight: self.in_flight,
            oldest_due: Duration::ZERO,
            oldest_due_at: oldest,
            fifo_blocked,
            held_in_order,
            last_progress: self.last_progress,
            stopped,
        };
        *self.engine.stats.lock().unwrap_or_else(|e| e.into_inner()) = stats;
    }

    fn next_wake(&self, deadline: Option<Instant>) -> Option<Instant> {
        // Unpublished changes: wake up to publish them when the interval allows.
        let publish = self
            .stats_at
            .filter(|_| self.stats_dirty)
            .map(|t| t + STATS_INTERVAL);
        [
            publish,
            self.heap.peek().map(|Reverse(d)| d.at),
            self.throttled.peek().map(|Reverse((at, _))| *at),
            deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
