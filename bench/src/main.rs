//! hookd's end-to-end benchmark: starts a hookd process, drives it through its
//! public API as users do, receives the webhooks with its own receiver, and
//! reports throughput, latency, duplicates, losses, CPU and memory, next to the
//! machine's ceiling (the same client against the receiver alone).

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use clap::Parser;

mod backlog;
mod fairness;

#[derive(Parser, Clone)]
#[command(about = "End-to-end benchmark of hookd")]
struct Args {
    /// Path to the hookd binary (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/hookd")]
    hookd: PathBuf,
    /// Scenarios to run, comma-separated: ceiling, e2e, fanout, open, backlog, fairness.
    #[arg(long, default_value = "ceiling,e2e,fanout,open,backlog")]
    scenarios: String,
    /// Applications (one endpoint each) in the end-to-end scenario.
    #[arg(long, default_value_t = 10)]
    apps: usize,
    /// Messages per closed-loop scenario.
    #[arg(long, default_value_t = 50_000)]
    messages: u64,
    /// Concurrent senders.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 1024)]
    payload: usize,
    /// Offered rate of the open-loop scenario, messages per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Duration of the open-loop scenario, seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Deliveries queued in the backlog scenario.
    #[arg(long, default_value_t = 100_000)]
    backlog: u64,
    /// hookd's database URL; default: a fresh SQLite file per scenario.
    /// For PostgreSQL give a URL to an empty database.
    #[arg(long)]
    database_url: Option<String>,
    /// How long to wait for deliveries after the last send, seconds.
    #[arg(long, default_value_t = 120)]
    drain_timeout: u64,
}

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// (endpoint index, sequence number, delivery latency in µs, arrival in µs since base)
    rows: Vec<(u32, u64, u64, u64)>,
}

#[derive(Clone)]
struct Receiver {
    base: Instant,
    seen: Arc<Mutex<Seen>>,
    count: Arc<AtomicU64>,
}

fn field(body: &[u8], name: &str) -> Option<u64> {
    let key = format!("\"{name}\":");
    let pos = body.windows(key.len()).position(|w| w == key.as_bytes())? + key.len();
    let digits: String = body[pos..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| b as char)
        .collect();
    digits.parse().ok()
}

async fn receive(State(r): State<Receiver>, Path(ep): Path<u32>, body: Bytes) -> StatusCode {
    let now = r.base.elapsed().as_micros() as u64;
    if let (Some(seq), Some(sent)) = (field(&body, "seq"), field(&body, "sent")) {
        let mut seen = r.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.rows.push((ep, seq, now.saturating_sub(sent), now));
    }
    r.count.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn sink(body: Bytes) -> StatusCode {
    let _ = body;
    StatusCode::NO_CONTENT
}

async fn start_receiver(
    base: Instant,
    listener: Option<std::net::TcpListener>,
) -> anyhow::Result<(SocketAddr, Receiver)> {
    let r = Receiver {
        base,
        seen: Arc::new(Mutex::new(Seen::default())),
        count: Arc::new(AtomicU64::new(0)),
    };
    let app = Router::new()
        .route("/ep/{ep}", post(receive))
        .route("/sink", post(sink))
        .with_state(r.clone());
    let std_listener = match listener {
        Some(l) => l,
        None => TcpListener::bind("127.0.0.1:0")?,
    };
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, r))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A hookd child process with its own data directory.
struct Hookd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
    db: String,
}

const TOKEN: &str = "bench-admin-token";

impl Hookd {
    async fn start(
        args: &Args,
        dir: tempfile::TempDir,
        db: Option<String>,
    ) -> anyhow::Result<Hookd> {
        Hookd::start_with(args, dir, db, &[]).await
    }

    async fn start_with(
        args: &Args,
        dir: tempfile::TempDir,
        db: Option<String>,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Hookd> {
        let port = free_port()?;
        let db = db.unwrap_or_else(|| format!("sqlite:{}", dir.path().join("bench.db").display()));
        let mut cmd = Command::new(&args.hookd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .arg("serve")
            .env("HOOKD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HOOKD_DATABASE_URL", &db)
            .env("HOOKD_ADMIN_TOKEN", TOKEN)
            .env("HOOKD_ALLOWED_SUBNETS", "127.0.0.0/8")
            .env("HOOKD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", args.hookd.display()))?;
        let h = Hookd {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
            db,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/api/v1/health", h.url)).send().await
                && r.status().is_success()
            {
                return Ok(h);
            }
            if Instant::now() > deadline {
                bail!("hookd did not become healthy");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) the process has used.
    fn cpu_seconds(&self) -> f64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())) else {
            return 0.0;
        };
        // Fields after the command name (which may contain spaces) start after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            return 0.0;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of /proc/pid/stat, i.e. 11 and 12 here.
        (ticks(11) + ticks(12)) / 100.0
    }

    fn rss_kb(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
            })
            .unwrap_or(0)
    }

    fn stop(mut self) -> tempfile::TempDir {
        // SIGTERM via `kill`, so hookd shuts down cleanly.
        let _ = Command::new("kill").arg(self.pid().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self._dir
    }
}

/// For PostgreSQL, an empty database per scenario (created with `psql`,
/// dropped afterwards); for SQLite, nothing (each run gets a fresh file).
struct FreshDb {
    admin: Option<String>,
    name: String,
    url: Option<String>,
}

impl FreshDb {
    fn new(args: &Args) -> anyhow::Result<FreshDb> {
        let Some(admin) = args.database_url.clone() else {
            return Ok(FreshDb {
                admin: None,
                name: String::new(),
                url: None,
            });
        };
        if !admin.starts_with("postgres") {
            return Ok(FreshDb {
                admin: None,
                name: String::new(),
                url: Some(admin),
            });
        }
        let name = format!(
            "hookd_bench_{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis()
        );
        // psql knows nothing of hookd's own URL parameters (pool_size).
        let psql_url = admin.split('?').next().unwrap_or(&admin).to_string();
        let ok = Command::new("psql")
            .args([
                psql_url.as_str(),
                "-q",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            bail!("cannot create database {name} with psql at {admin}");
        }
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b.to_string(), format!("?{q}")),
            None => (admin.clone(), String::new()),
        };
        let cut = base.rfind('/').unwrap_or(base.len());
        let url = format!("{}/{name}{query}", &base[..cut]);
        Ok(FreshDb {
            admin: Some(psql_url),
            name,
            url: Some(url),
        })
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        if let Some(admin) = &self.admin {
            let _ = Command::new("psql")
                .args([
                    admin.as_str(),
                    "-q",
                    "-c",
                    &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
                ])
                .status();
        }
    }
}

struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    fn new(url: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(1024)
                .build()
                .unwrap_or_default(),
            url: url.to_string(),
        }
    }

    async fn post(&self, path: &str, body: String) -> anyhow::Result<(u16, Bytes)> {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.bytes().await?))
    }

    async fn setup(
        &self,
        apps: usize,
        endpoints_per_app: usize,
        receiver: SocketAddr,
    ) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut ep = 0;
        for a in 0..apps {
            let (s, body) = self
                .post(
                    "/api/v1/app",
                    format!(r#"{{"name":"bench {a}","uid":"bench-{a}"}}"#),
                )
                .await?;
            if s != 201 {
                bail!(
                    "creating an application failed: {s} {}",
                    String::from_utf8_lossy(&body)
                );
            }
            for _ in 0..endpoints_per_app {
                let (s, body) = self
                    .post(
                        &format!("/api/v1/app/bench-{a}/endpoint"),
                        format!(r#"{{"url":"http://{receiver}/ep/{ep}"}}"#),
                    )
                    .await?;
                if s != 201 {
                    bail!(
                        "creating an endpoint failed: {s} {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                ep += 1;
            }
            ids.push(format!("bench-{a}"));
        }
        Ok(ids)
    }
}

fn payload(seq: u64, sent_us: u64, size: usize) -> String {
    let head = format!(r#"{{"seq":{seq},"sent":{sent_us},"pad":""#);
    let pad = size.saturating_sub(head.len() + 2);
    let mut s = String::with_capacity(size + 64);
    s.push_str(&head);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str("\"}");
    s
}

fn message_body(seq: u64, sent_us: u64, size: usize) -> String {
    format!(
        r#"{{"eventType":"bench.event","payload":{}}}"#,
        payload(seq, sent_us, size)
    )
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

struct ClosedLoop {
    accepted: u64,
    errors: u64,
    elapsed: Duration,
    accept_lat_us: Vec<u64>,
}

/// `total` requests from `concurrency` workers as fast as they go.
async fn closed_loop(
    concurrency: usize,
    total: u64,
    make: Arc<dyn Fn(u64) -> (String, String) + Send + Sync>,
    api: Arc<Api>,
    base: Instant,
) -> ClosedLoop {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (next, make, api) = (next.clone(), make.clone(), api.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= total {
                    break;
                }
                let t = Instant::now();
                let (path, body) = make(seq);
                let _ = base;
                match api.post(&path, body).await {
                    Ok((s, _)) if s < 300 => lat.push(t.elapsed().as_micros() as u64),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut accept_lat_us = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            accept_lat_us.extend(l);
            errors += e;
        }
    }
    accept_lat_us.sort_unstable();
    ClosedLoop {
        accepted: accept_lat_us.len() as u64,
        errors,
        elapsed: start.elapsed(),
        accept_lat_us,
    }
}

async fn wait_for(count: &AtomicU64, expected: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while count.load(Ordering::Relaxed) < expected {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

struct Delivered {
    delivered: u64,
    duplicates: u64,
    missing: u64,
    last_arrival_us: u64,
    first_arrival_us: u64,
    lat: Vec<u64>,
}

fn analyse(r: &Receiver, expected_pairs: impl Iterator<Item = (u32, u64)>) -> Delivered {
    let seen = r.seen.lock().unwrap_or_else(|e| e.into_inner());
    let mut set = HashSet::with_capacity(seen.rows.len());
    let mut duplicates = 0;
    let mut lat = Vec::with_capacity(seen.rows.len());
    let mut last = 0;
    let mut first = u64::MAX;
    for &(ep, seq, l, at) in &seen.rows {
        if !set.insert((ep, seq)) {
            duplicates += 1;
        } else {
            lat.push(l);
        }
        last = last.max(at);
        first = first.min(at);
    }
    let missing = expected_pairs.filter(|p| !set.contains(p)).count() as u64;
    lat.sort_unstable();
    Delivered {
        delivered: set.len() as u64,
        duplicates,
        missing,
        last_arrival_us: last,
        first_arrival_us: if first == u64::MAX { 0 } else { first },
        lat,
    }
}

fn report_latency(name: &str, lat: &[u64]) {
    println!(
        "  {name}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(lat, 0.5),
        pct(lat, 0.9),
        pct(lat, 0.99),
        pct(lat, 1.0)
    );
}

async fn ceiling(args: &Args) -> anyhow::Result<f64> {
    let base = Instant::now();
    let (addr, _r) = start_receiver(base, None).await?;
    let api = Arc::new(Api::new(&format!("http://{addr}")));
    let size = args.payload;
    let make: Arc<dyn Fn(u64) -> (String, String) + Send + Sync> =
        Arc::new(move |seq| ("/sink".to_string(), payload(seq, 0, size)));
    // Warm up the connection pool.
    closed_loop(args.concurrency, 2000, make.clone(), api.clone(), base).await;
    let n = args.messages.max(20_000);
    let res = closed_loop(args.concurrency, n, make, api, base).await;
    let rps = res.accepted as f64 / res.elapsed.as_secs_f64();
    println!("== ceiling: the same client against the receiver alone");
    println!(
        "  {} requests in {:.2} s: {:.0} requests/s",
        res.accepted,
        res.elapsed.as_secs_f64(),
        rps
    );
    Ok(rps)
}

async fn closed_e2e(
    args: &Args,
    name: &str,
    apps: usize,
    eps_per_app: usize,
    ceiling: Option<f64>,
) -> anyhow::Result<()> {
    let base = Instant::now();
    let (addr, r) = start_receiver(base, None).await?;
    let dir = tempfile::tempdir()?;
    let fresh = FreshDb::new(args)?;
    let hookd = Hookd::start(args, dir, fresh.url.clone()).await?;
    let api = Arc::new(Api::new(&hookd.url));
    let app_ids = api.setup(apps, eps_per_app, addr).await?;
    let idle_rss = hookd.rss_kb("VmRSS");
    let cpu0 = hookd.cpu_seconds();
    let size = args.payload;
    let n_apps = app_ids.len() as u64;
    let ids = Arc::new(app_ids);
    let make: Arc<dyn Fn(u64) -> (String, String) + Send + Sync> = {
        let ids = ids.clone();
        Arc::new(move |seq| {
            let app = &ids[(seq % n_apps) as usize];
            let sent = base.elapsed().as_micros() as u64;
            (
                format!("/api/v1/app/{app}/msg"),
                message_body(seq, sent, size),
            )
        })
    };
    let m = args.messages;
    let start_us = base.elapsed().as_micros() as u64;
    let res = closed_loop(args.concurrency, m, make, api.clone(), base).await;
    let expected = res.accepted * eps_per_app as u64;
    let drained = wait_for(&r.count, expected, Duration::from_secs(args.drain_timeout)).await;
    // Give stragglers (duplicates) a moment to show up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu = hookd.cpu_seconds() - cpu0;
    let peak = hookd.rss_kb("VmHWM");
    let pairs = (0..m).flat_map(|seq| {
        let app = (seq % n_apps) as u32;
        (0..eps_per_app as u32).map(move |e| (app * eps_per_app as u32 + e, seq))
    });
    let d = analyse(&r, pairs);
    let span = (d.last_arrival_us.saturating_sub(start_us)) as f64 / 1e6;
    let accepted_rate = res.accepted as f64 / res.elapsed.as_secs_f64();
    let delivered_rate = d.delivered as f64 / span;
    println!(
        "== {name}: {apps} application(s) x {eps_per_app} endpoint(s), {m} messages, {} senders, {} B payloads",
        args.concurrency, args.payload
    );
    println!(
        "  accepted {} ({} errors) in {:.2} s: {:.0} messages/s",
        res.accepted,
        res.errors,
        res.elapsed.as_secs_f64(),
        accepted_rate
    );
    report_latency("accept latency", &res.accept_lat_us);
    println!(
        "  delivered {} in {:.2} s: {:.0} deliveries/s ({:.0} messages/s){}",
        d.delivered,
        span,
        delivered_rate,
        delivered_rate / eps_per_app as f64,
        if drained { "" } else { " [drain timed out]" }
    );
    report_latency("delivery latency", &d.lat);
    println!(
        "  duplicates {}, missing after drain {}",
        d.duplicates, d.missing
    );
    println!(
        "  hookd: {:.2} CPU s ({:.0} µs per message), RSS idle {:.1} MB, peak {:.1} MB",
        cpu,
        cpu * 1e6 / res.accepted.max(1) as f64,
        idle_rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    if let Some(c) = ceiling {
        println!(
            "  ratio to ceiling: accepted {:.3}, delivered (messages) {:.3}",
            accepted_rate / c,
            delivered_rate / eps_per_app as f64 / c
        );
    }
    let _ = hookd.db.clone();
    hookd.stop();
    Ok(())
}

async fn open_loop(args: &Args) -> anyhow::Result<()> {
    let base = Instant::now();
    let (addr, r) = start_receiver(base, None).await?;
    let dir = tempfile::tempdir()?;
    let fresh = FreshDb::new(args)?;
    let hookd = Hookd::start(args, dir, fresh.url.clone()).await?;
    let api = Arc::new(Api::new(&hookd.url));
    let ids = Arc::new(api.setup(args.apps, 1, addr).await?);
    let total = args.rate * args.duration;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let accepted = Arc::new(AtomicU64::new(0));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let size = args.payload;
    for seq in 0..total {
        ticker.tick().await;
        let (api, ids, accepted, lat) = (api.clone(), ids.clone(), accepted.clone(), lat.clone());
        tasks.push(tokio::spawn(async move {
            let app = &ids[(seq % ids.len() as u64) as usize];
            let t = Instant::now();
            let sent = base.elapsed().as_micros() as u64;
            if let Ok((s, _)) = api
                .post(
                    &format!("/api/v1/app/{app}/msg"),
                    message_body(seq, sent, size),
                )
                .await
                && s < 300
            {
                accepted.fetch_add(1, Ordering::Relaxed);
                lat.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(t.elapsed().as_micros() as u64);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let acc = accepted.load(Ordering::Relaxed);
    wait_for(&r.count, acc, Duration::from_secs(args.drain_timeout)).await;
    let n_apps = ids.len() as u64;
    let d = analyse(&r, (0..total).map(|s| ((s % n_apps) as u32, s)));
    let mut l = lat.lock().unwrap_or_else(|e| e.into_inner()).clone();
    l.sort_unstable();
    println!(
        "== open loop: {} messages/s offered for {} s to {} applications",
        args.rate, args.duration, args.apps
    );
    println!("  accepted {acc} of {total}");
    report_latency("accept latency", &l);
    report_latency("delivery latency", &d.lat);
    println!(
        "  duplicates {}, missing after drain {}",
        d.duplicates, d.missing
    );
    hookd.stop();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.hookd.exists() {
        bail!(
            "{} not found: run `cargo build --release` first or pass --hookd",
            args.hookd.display()
        );
    }
    println!(
        "hookd-bench: {} cores, payload {} B, concurrency {}, database {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        args.payload,
        args.concurrency,
        args.database_url
            .as_deref()
            .unwrap_or("sqlite (fresh file)")
    );
    let wanted: Vec<&str> = args.scenarios.split(',').map(str::trim).collect();
    let mut ceil = None;
    for s in &wanted {
        match *s {
            "ceiling" => ceil = Some(ceiling(&args).await?),
            "e2e" => closed_e2e(&args, "end to end", args.apps, 1, ceil).await?,
            "fanout" => {
                let mut a = args.clone();
                a.messages = args.messages / 5;
                closed_e2e(&a, "fan-out", 1, 10, ceil).await?
            }
            "open" => open_loop(&args).await?,
            "backlog" => backlog::backlog(&args).await?,
            "fairness" => fairness::fairness(&args).await?,
            other => bail!("unknown scenario {other}"),
        }
    }
    Ok(())
}
