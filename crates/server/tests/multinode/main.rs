//! Several hookd processes on one PostgreSQL: work sharing, a node killed
//! mid-flight, and PostgreSQL itself going away under load.
//!
//! Runs when `HOOKD_TEST_DATABASE_URL` names a PostgreSQL server (CI points
//! it at the local one); otherwise says SKIPPED, or fails when
//! `HOOKD_REQUIRE_POSTGRES=1`. Each test gets a database of its own. The tests
//! run one at a time (the restart test stops the whole server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex as AsyncMutex;

const TOKEN: &str = "multinode-admin-token";

/// The tests share one PostgreSQL server; the restart test stops it.
static SERIAL: AsyncMutex<()> = AsyncMutex::const_new(());

mod lanes;

fn admin_url() -> Option<String> {
    match std::env::var("HOOKD_TEST_DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            let required =
                std::env::var("HOOKD_REQUIRE_POSTGRES").is_ok_and(|v| !v.is_empty() && v != "0");
            assert!(
                !required,
                "HOOKD_REQUIRE_POSTGRES is set but HOOKD_TEST_DATABASE_URL is not"
            );
            eprintln!("SKIPPED: multi-node tests (HOOKD_TEST_DATABASE_URL not set)");
            None
        }
    }
}

fn psql(url: &str, sql: &str) -> bool {
    Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Swaps the database name in a postgres:// URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let cut = base.rfind('/').unwrap();
    format!("{}/{db}{query}", &base[..cut])
}

/// A database of the test's own, dropped at the end.
struct Db {
    admin: String,
    name: String,
    url: String,
}

impl Db {
    fn create(admin: &str, tag: &str) -> Db {
        let name = format!(
            "hookd_mn_{tag}_{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        );
        assert!(
            psql(admin, &format!("CREATE DATABASE {name}")),
            "cannot create {name}"
        );
        Db {
            admin: admin.to_string(),
            url: with_database(admin, &name),
            name,
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// A receiver that records the `webhook-id` of every delivery.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<HashMap<String, usize>>>,
}

impl Receiver {
    async fn start(delay: Duration) -> (Receiver, String) {
        Receiver::answering(delay, StatusCode::OK).await
    }

    /// Counts deliveries like [`Receiver::start`], answering each with `status`.
    async fn answering(delay: Duration, status: StatusCode) -> (Receiver, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Receiver::serve(listener, delay, status)
    }

    /// Counts deliveries on `listener`; returns the receiver and its URL.
    fn serve(
        listener: tokio::net::TcpListener,
        delay: Duration,
        status: StatusCode,
    ) -> (Receiver, String) {
        let r = Receiver::default();
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, _body: Bytes| {
                let state = state.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                        *state
                            .seen
                            .lock()
                            .unwrap()
                            .entry(id.to_string())
                            .or_default() += 1;
                    }
                    status
                }
            }),
        );
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (r, url)
    }

    fn counts(&self) -> HashMap<String, usize> {
        self.seen.lock().unwrap().clone()
    }
}

struct Node {
    child: Child,
    base: String,
}

impl Node {
    async fn start(db_url: &str, extra: &[(&str, &str)]) -> Node {
        let port = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookd"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOOKD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HOOKD_DATABASE_URL", db_url)
            .env("HOOKD_ADMIN_TOKEN", TOKEN)
            .env("HOOKD_ALLOWED_SUBNETS", "127.0.0.0/8")
            .env("HOOKD_LEASE_TIMEOUT_SECS", "3")
            .env("HOOKD_CLAIM_INTERVAL_MS", "200")
            .env("HOOKD_RETRY_SCHEDULE", "300ms,300ms,1s,2s,5s")
            .env("HOOKD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let node = Node {
            child: cmd.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client
                .get(format!("{}/api/v1/health", node.base))
                .send()
                .await
                && r.status().is_success()
            {
                return node;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not become healthy",
                node.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(client: &reqwest::Client, base: &str, path: &str, body: Value) -> (u16, Value) {
    match client
        .post(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            let v = r.json().await.unwrap_or(Value::Null);
            (status, v)
        }
        Err(_) => (0, Value::Null),
    }
}

async fn wait_all_arrived(
    r: &Receiver,
    ids: &[String],
    within: Duration,
) -> HashMap<String, usize> {
    let deadline = Instant::now() + within;
    loop {
        let counts = r.counts();
        let missing = ids.iter().filter(|id| !counts.contains_key(*id)).count();
        if missing == 0 {
            return counts;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} accepted messages never arrived",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_work_and_survive_one_being_killed() {
    let Some(admin) = admin_url() else { return };
    let _serial = SERIAL.lock().await;
    let db = Db::create(&admin, "kill");
    let (receiver, hook) = Receiver::start(Duration::from_millis(20)).await;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::start(&db.url, &[]).await);
    }
    let client = reqwest::Client::new();
    let (s, _) = post(
        &client,
        &nodes[0].base,
        "/api/v1/app",
        json!({"name": "mn", "uid": "mn"}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = post(
        &client,
        &nodes[1].base,
        "/api/v1/app/mn/endpoint",
        json!({"url": hook}),
    )
    .await;
    assert_eq!(s, 201);

    // 300 messages, round-robin over the nodes' APIs, 12 at a time; node 1
    // is killed (SIGKILL) after 120 of them.
    let total = 300;
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let mut accepted: Vec<String> = Vec::new();
    let mut killed_at = None;
    for chunk in (0..total).collect::<Vec<_>>().chunks(12) {
        if killed_at.is_none() && chunk[0] >= 120 {
            nodes[1].child.kill().unwrap();
            nodes[1].child.wait().unwrap();
            killed_at = Some(Instant::now());
        }
        let mut tasks = Vec::new();
        for &i in chunk {
            let (client, base) = (client.clone(), bases[i % 3].clone());
            tasks.push(tokio::spawn(async move {
                post(
                    &client,
                    &base,
                    "/api/v1/app/mn/msg",
                    json!({"eventType": "t", "payload": {"i": i}}),
                )
                .await
            }));
        }
        for t in tasks {
            let (status, body) = t.await.unwrap();
            if status == 202 {
                accepted.push(body["id"].as_str().unwrap().to_string());
            } else {
                // Only the killed node may refuse.
                assert_eq!(status, 0, "unexpected answer {status}: {body}");
            }
        }
    }
    // Everything sent to the two live nodes, and to node 1 before the kill.
    assert!(accepted.len() >= 240, "only {} accepted", accepted.len());

    // Node 1's deliveries are taken over once its lease (3 s) runs out.
    let counts = wait_all_arrived(&receiver, &accepted, Duration::from_secs(30)).await;
    let since_kill = killed_at.unwrap().elapsed();
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!(
        "multi-node: {} accepted, all delivered {:.1} s after the kill, {duplicates} duplicates",
        accepted.len(),
        since_kill.as_secs_f64()
    );
    // Only what node 1 had in flight can be sent twice: at most
    // endpoint_concurrency (10) requests, plus attempts finished but not yet
    // recorded (a record batch's worth: tens of milliseconds of deliveries).
    assert!(duplicates <= 50, "{duplicates} duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_prepares_a_postgres_database() {
    let Some(admin) = admin_url() else { return };
    let _serial = SERIAL.lock().await;
    let db = Db::create(&admin, "migrate");
    let out = Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["migrate", "--database-url", &db.url])
        .env_remove("HOOKD_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    assert!(psql(&db.url, "SELECT 1 FROM hookd_schema_migrations"));
    assert!(psql(&db.url, "SELECT lease_owner FROM deliveries LIMIT 1"));
    // Running it again changes nothing and succeeds.
    let again = Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(["migrate", "--database-url", &db.url])
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_and_worker_roles_split_the_work() {
    let Some(admin) = admin_url() else { return };
    let _serial = SERIAL.lock().await;
    let db = Db::create(&admin, "roles");
    let (receiver, hook) = Receiver::start(Duration::ZERO).await;
    let api = Node::start(&db.url, &[("HOOKD_ROLE", "api")]).await;
    let worker = Node::start(&db.url, &[("HOOKD_ROLE", "worker")]).await;
    let client = reqwest::Client::new();
    // The worker serves no API.
    let (s, _) = post(&client, &worker.base, "/api/v1/app", json!({"name": "w"})).await;
    assert_eq!(s, 404);
    assert_eq!(
        post(
            &client,
            &api.base,
            "/api/v1/app",
            json!({"name": "r", "uid": "r"})
        )
        .await
        .0,
        201
    );
    assert_eq!(
        post(
            &client,
            &api.base,
            "/api/v1/app/r/endpoint",
            json!({"url": hook})
        )
        .await
        .0,
        201
    );
    let mut ids = Vec::new();
    let start = Instant::now();
    for i in 0..20 {
        let (s, body) = post(
            &client,
            &api.base,
            "/api/v1/app/r/msg",
            json!({"eventType": "t", "payload": {"i": i}}),
        )
        .await;
        assert_eq!(s, 202, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    // NOTIFY wakes the worker: no waiting for a polling round per message.
    wait_all_arrived(&receiver, &ids, Duration::from_secs(10)).await;
    eprintln!(
        "roles: 20 messages via the api node delivered by the worker in {:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_types_schedule_set_through_one_node_is_used_by_another() {
    let Some(admin) = admin_url() else { return };
    let _serial = SERIAL.lock().await;
    let db = Db::create(&admin, "et_sched");
    let (receiver, hook) =
        Receiver::answering(Duration::ZERO, StatusCode::INTERNAL_SERVER_ERROR).await;
    // The server's schedule would retry only after an hour.
    let long = [("HOOKD_RETRY_SCHEDULE", "1h")];
    let api = Node::start(&db.url, &[long[0], ("HOOKD_ROLE", "api")]).await;
    let worker = Node::start(&db.url, &[long[0], ("HOOKD_ROLE", "worker")]).await;
    let client = reqwest::Client::new();
    for (path, body) in [
        (
            "/api/v1/event-type",
            json!({"name": "job.quick", "description": "a job"}),
        ),
        ("/api/v1/app", json!({"name": "s", "uid": "s"})),
        ("/api/v1/app/s/endpoint", json!({"url": hook})),
    ] {
        let (s, b) = post(&client, &api.base, path, body).await;
        assert_eq!(s, 201, "{path}: {b}");
    }
    let send = async || {
        let (s, body) = post(
            &client,
            &api.base,
            "/api/v1/app/s/msg",
            json!({"eventType": "job.quick", "payload": {}}),
        )
        .await;
        assert_eq!(s, 202, "{body}");
        body["id"].as_str().unwrap().to_string()
    };
    // The worker learns the type has no schedule of its own (and keeps that).
    let first = send().await;
    wait_all_arrived(
        &receiver,
        std::slice::from_ref(&first),
        Duration::from_secs(10),
    )
    .await;

    let r = client
        .put(format!(
            "{}/api/v1/event-type/job.quick/retry-schedule",
            api.base
        ))
        .bearer_auth(TOKEN)
        .json(&json!({"retrySchedule": [{"secs": 1, "nanos": 0}, {"secs": 1, "nanos": 0}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let second = send().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.counts().get(&second).copied().unwrap_or(0) < 3 {
        assert!(
            Instant::now() < deadline,
            "the worker did not retry on the new schedule: {:?}",
            receiver.counts()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let counts = receiver.counts();
    assert_eq!(counts.get(&second), Some(&3), "two retries, then failed");
    assert_eq!(
        counts.get(&first),
        Some(&1),
        "the first keeps the server's hour"
    );
    drop(worker);
}

/// Runs `pg_ctlcluster` on the local server (this machine's PostgreSQL).
fn pg_ctl(action: &str) -> bool {
    let Ok(versions) = std::fs::read_dir("/etc/postgresql") else {
        return false;
    };
    let Some(version) = versions.flatten().next().map(|e| e.file_name()) else {
        return false;
    };
    let mut cmd = Command::new("pg_ctlcluster");
    cmd.arg("--skip-systemctl-redirect")
        .arg(&version)
        .arg("main")
        .arg(action);
    if action == "stop" {
        cmd.args(["-m", "fast"]);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarting_under_load_loses_nothing_accepted() {
    let Some(admin) = admin_url() else { return };
    if !admin.contains("127.0.0.1") && !admin.contains("localhost") {
        eprintln!("SKIPPED: PostgreSQL restart test (the server is not local)");
        return;
    }
    let _serial = SERIAL.lock().await;
    let db = Db::create(&admin, "restart");
    let (receiver, hook) = Receiver::start(Duration::ZERO).await;
    let node = Node::start(&db.url, &[]).await;
    let client = reqwest::Client::new();
    assert_eq!(
        post(
            &client,
            &node.base,
            "/api/v1/app",
            json!({"name": "p", "uid": "p"})
        )
        .await
        .0,
        201
    );
    assert_eq!(
        post(
            &client,
            &node.base,
            "/api/v1/app/p/endpoint",
            json!({"url": hook})
        )
        .await
        .0,
        201
    );

    let mut accepted = Vec::new();
    let mut unavailable = 0;
    let mut slowest_refusal = Duration::ZERO;
    let start = Instant::now();
    let mut stopped = false;
    let mut restarted = false;
    let mut health_flipped = false;
    while start.elapsed() < Duration::from_secs(8) || !restarted {
        let t = start.elapsed();
        if !stopped && t > Duration::from_secs(1) {
            if !pg_ctl("stop") {
                eprintln!("SKIPPED: PostgreSQL restart test (cannot run pg_ctlcluster)");
                return;
            }
            stopped = true;
        }
        if stopped && !restarted && t > Duration::from_secs(4) {
            assert!(pg_ctl("start"), "cannot start PostgreSQL again");
            restarted = true;
        }
        if stopped && !restarted && !health_flipped {
            let r = client
                .get(format!("{}/api/v1/health", node.base))
                .send()
                .await
                .unwrap();
            if r.status().as_u16() == 503 {
                let body: Value = r.json().await.unwrap();
                assert_ne!(body["checks"]["store"], "ok", "{body}");
                health_flipped = true;
            }
        }
        let sent = Instant::now();
        let (s, body) = post(
            &client,
            &node.base,
            "/api/v1/app/p/msg",
            json!({"eventType": "t", "payload": {"t": t.as_millis() as u64}}),
        )
        .await;
        match s {
            202 => accepted.push(body["id"].as_str().unwrap().to_string()),
            503 => {
                unavailable += 1;
                slowest_refusal = slowest_refusal.max(sent.elapsed());
                assert_eq!(body["code"], "unavailable", "{body}");
            }
            other => panic!("unexpected answer {other} while PostgreSQL restarts: {body}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Make sure the server is back for whatever runs next.
    let back = Instant::now() + Duration::from_secs(30);
    while !psql(&admin, "SELECT 1") {
        assert!(Instant::now() < back, "PostgreSQL did not come back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "restart: {} accepted, {unavailable} answered 503 (slowest {:?})",
        accepted.len(),
        slowest_refusal
    );
    assert!(unavailable > 0, "no 503 was seen while PostgreSQL was down");
    assert!(health_flipped, "health never reported the store down");
    assert!(
        slowest_refusal < Duration::from_secs(6),
        "503s must come quickly, took {slowest_refusal:?}"
    );
    assert!(accepted.len() > 20);
    wait_all_arrived(&receiver, &accepted, Duration::from_secs(60)).await;
    // Health is green again.
    let r = client
        .get(format!("{}/api/v1/health", node.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
