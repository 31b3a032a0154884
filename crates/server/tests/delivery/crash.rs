//! Durability across stops: `kill -9` of the real binary in the middle of a
//! burst loses no accepted message, and a graceful shutdown lets the
//! delivery in flight finish and be recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::Child;
use tokio::task::JoinSet;

use crate::helpers::{
    ADMIN_TOKEN, client, data, free_port, hookd_command, id, spawn_app, wait_until,
};
use crate::receiver::{Receiver, Reply};

/// `hookd serve` as a child process; killed when dropped. Prints the
/// server's log when the test fails.
pub(crate) struct Server {
    child: Child,
    pub base: String,
    log: PathBuf,
}

impl Server {
    async fn start(dir: &Path, db: &Path, generation: u32) -> Server {
        Server::start_with(dir, db, generation, &[]).await
    }

    /// With more environment settings (they win over the defaults here).
    pub async fn start_with(
        dir: &Path,
        db: &Path,
        generation: u32,
        extra: &[(&str, &str)],
    ) -> Server {
        let port = free_port();
        let log = dir.join(format!("hookd-{generation}.log"));
        let stderr = std::fs::File::create(&log).expect("log file");
        let (listen, db) = (
            format!("127.0.0.1:{port}"),
            format!("sqlite:{}", db.display()),
        );
        let mut env = vec![
            ("HOOKD_LISTEN", listen.as_str()),
            ("HOOKD_DATABASE_URL", db.as_str()),
            ("HOOKD_ADMIN_TOKEN", ADMIN_TOKEN),
            ("HOOKD_ALLOWED_SUBNETS", "127.0.0.0/8"),
            ("HOOKD_RETRY_SCHEDULE", "200ms,200ms,200ms"),
            ("HOOKD_LOG", "warn"),
        ];
        env.extend_from_slice(extra);
        let mut cmd = hookd_command(dir, &["serve"], &env);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        let child = cmd.spawn().expect("cannot start the hookd binary");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = client();
        let health = format!("{}/api/v1/health", server.base);
        wait_until(
            Duration::from_secs(20),
            "hookd to become healthy",
            || async {
                let r = http.get(&health).send().await.ok()?;
                r.status().is_success().then_some(())
            },
        )
        .await;
        server
    }

    /// SIGKILL (`Child::kill` sends SIGKILL on Unix), then reap.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("cannot kill hookd");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- hookd log {}:\n{log}", self.log.display());
        }
    }
}

/// Creates the application `uid` with one endpoint; returns their ids.
pub(crate) async fn app_with_endpoint(
    http: &reqwest::Client,
    base: &str,
    uid: &str,
    endpoint: Value,
) -> (String, String) {
    let (s, app) = api(http, base, "/api/v1/app", &json!({"name": uid, "uid": uid})).await;
    assert_eq!(s, 201, "{app}");
    let app_id = id(&app);
    let path = format!("/api/v1/app/{app_id}/endpoint");
    let (s, ep) = api(http, base, &path, &endpoint).await;
    assert_eq!(s, 201, "{ep}");
    (app_id, id(&ep))
}

pub(crate) async fn api(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let r = http
        .post(format!("{base}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(body)
        .send()
        .await
        .expect("request to hookd failed");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_accepted_message() {
    const N: usize = 200;
    let receiver = Receiver::always(Reply::ok().delay(Duration::from_millis(50))).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("hookd.db");
    let http = client();

    let mut server = Server::start(dir.path(), &db, 1).await;
    let (app_id, ep_id) =
        app_with_endpoint(&http, &server.base, "crash", json!({"url": receiver.url})).await;

    // N sends at once; each yields the message id if (and only if) it got a 202.
    let mut sends = JoinSet::new();
    let accepted_so_far = Arc::new(AtomicUsize::new(0));
    for i in 0..N {
        let (http, base, app_id) = (http.clone(), server.base.clone(), app_id.clone());
        let accepted_so_far = accepted_so_far.clone();
        sends.spawn(async move {
            let r = http
                .post(format!("{base}/api/v1/app/{app_id}/msg"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({"eventType": "crash.test", "payload": {"i": i}}))
                .send()
                .await
                .ok()?;
            if r.status().as_u16() != 202 {
                return None;
            }
            let body: Value = r.json().await.ok()?;
            accepted_so_far.fetch_add(1, Ordering::SeqCst);
            body["id"].as_str().map(String::from)
        });
    }
    // Kill in the middle of it all: about half the sends answered (others
    // still in flight), deliveries flowing (each takes 50 ms at the receiver).
    let half_accepted = || accepted_so_far.load(Ordering::SeqCst) >= N / 2;
    wait_until(
        Duration::from_secs(20),
        "half the sends accepted",
        || async { (half_accepted() && receiver.count() >= 1).then_some(()) },
    )
    .await;
    let delivered_before_kill = receiver.count();
    server.kill().await;
    let accepted: BTreeSet<String> = sends.join_all().await.into_iter().flatten().collect();
    assert!(
        !accepted.is_empty(),
        "no message was accepted before the kill"
    );
    assert!(
        delivered_before_kill < accepted.len(),
        "the kill came after everything was delivered; nothing was tested"
    );

    // Restart on the same database: every accepted message arrives.
    let restarted = Instant::now();
    let server2 = Server::start(dir.path(), &db, 2).await;
    let ids_seen = || {
        receiver
            .requests()
            .iter()
            .map(|r| r.header("webhook-id").to_string())
            .collect::<BTreeSet<String>>()
    };
    wait_until(
        Duration::from_secs(30),
        "every accepted message to arrive",
        || async { accepted.is_subset(&ids_seen()).then_some(()) },
    )
    .await;
    // So does every message the store holds (some may have been committed
    // without their 202 getting out before the kill).
    let stored: Value = http
        .get(format!(
            "{}/api/v1/app/{app_id}/msg?limit=250",
            server2.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("list messages")
        .json()
        .await
        .expect("JSON");
    let stored: BTreeSet<String> = data(&stored).iter().map(id).collect();
    assert!(
        accepted.is_subset(&stored),
        "an accepted message is not stored"
    );
    wait_until(
        Duration::from_secs(30),
        "every stored message to arrive",
        || async { stored.is_subset(&ids_seen()).then_some(()) },
    )
    .await;

    // Counted once every delivery is final: the ones in flight at the kill
    // are due again at the restart and may come after the rest.
    let stats_url = format!(
        "{}/api/v1/app/{app_id}/endpoint/{ep_id}/stats",
        server2.base
    );
    wait_until(
        Duration::from_secs(30),
        "every delivery to succeed",
        || async {
            let s: Value = http
                .get(&stats_url)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (s["success"].as_u64() == Some(stored.len() as u64)
                && s["pending"] == 0
                && s["sending"] == 0
                && s["fail"] == 0)
                .then_some(())
        },
    )
    .await;
    let total = receiver.count();
    let unique = ids_seen().len();
    let duplicates = total - unique;
    println!(
        "crash test: {} sent, {} accepted, {} stored, {} delivered before the kill, \
         {unique} unique delivered, {duplicates} duplicates",
        N,
        accepted.len(),
        stored.len(),
        delivered_before_kill,
    );
    eprintln!("crash test duplicates: {duplicates}");
    // Only what the first server had sent when it died can repeat: no
    // message arrives twice from one server's life.
    let mut per_life: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let reqs = receiver.requests();
    for r in &reqs {
        let e = per_life.entry(r.header("webhook-id")).or_default();
        if r.at < restarted {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    for (msg, (before, after)) in &per_life {
        assert!(
            *before <= 1 && *after <= 1,
            "{msg} arrived {before} times before the restart and {after} times after"
        );
    }
    assert_eq!(unique, stored.len(), "a delivery for an unknown message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_and_records_the_delivery_in_flight() {
    let receiver = Receiver::always(Reply::ok().delay(Duration::from_millis(500))).await;
    let mut app = spawn_app().await; // shutdown_timeout_secs = 10
    let app_id = id(&app.create_app("shutdown").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let msg = app.send_event(&app_id, "user.created").await;
    receiver.wait_for(1, Duration::from_secs(10)).await;

    let arrived = receiver.requests()[0].at;
    let took = app.shutdown().await;
    let since_arrival = arrived.elapsed();
    assert!(
        since_arrival >= Duration::from_millis(450),
        "shutdown returned {since_arrival:?} after the request arrived, before its 500 ms answer"
    );
    assert!(took < Duration::from_secs(8), "shutdown took {took:?}");

    // Started again over the same database: the attempt was recorded as a
    // success, so nothing is sent again.
    let started = Instant::now();
    let again = app.restart().await;
    let attempts = again.attempts_by_msg(&app_id, &msg).await;
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    assert_eq!(attempts[0]["status"], 0, "{attempts:#?}");
    assert_eq!(attempts[0]["responseStatusCode"], 200);
    assert_eq!(again.destination_status(&app_id, &msg, &ep).await, Some(0));
    tokio::time::sleep(Duration::from_millis(500).saturating_sub(started.elapsed())).await;
    assert_eq!(
        receiver.count(),
        1,
        "the delivery was sent again after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_keeps_scheduled_messages_near_and_far() {
    let receiver = Receiver::always(Reply::ok()).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("hookd.db");
    let http = client();
    let mut server = Server::start(dir.path(), &db, 1).await;
    let (s, app) = api(&http, &server.base, "/api/v1/app", &json!({"name": "s"})).await;
    assert_eq!(s, 201, "{app}");
    let app_id = id(&app);
    let ep_path = format!("/api/v1/app/{app_id}/endpoint");
    let (s, _) = api(&http, &server.base, &ep_path, &json!({"url": receiver.url})).await;
    assert_eq!(s, 201);
    // One held in memory (inside the claimer's lookahead), one in the store only.
    let now = hookd_core::time::Timestamp::now().0;
    let mut sent = BTreeMap::new();
    for ahead in [1_500, 5_000] {
        let at = hookd_core::time::Timestamp(now + ahead);
        let (s, m) = api(
            &http,
            &server.base,
            &format!("/api/v1/app/{app_id}/msg"),
            &json!({"eventType": "s.t", "payload": {}, "deliverAt": at.to_rfc3339()}),
        )
        .await;
        assert_eq!(s, 202, "{m}");
        sent.insert(id(&m), at);
    }
    server.kill().await;
    assert_eq!(receiver.count(), 0, "nothing is sent before its time");

    let _again = Server::start(dir.path(), &db, 2).await;
    let reqs = receiver.wait_for(2, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 2, "each scheduled message once");
    for r in &reqs {
        let due = sent[r.header("webhook-id")];
        let arrived_ms = r.unix_secs * 1000;
        // Whole seconds on the receiver's side: allow the rounding.
        assert!(arrived_ms >= due.0 - 1_000, "sent before its time: {r:?}");
    }
}
