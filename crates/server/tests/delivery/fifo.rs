//! Ordered (FIFO) endpoints as a receiver sees them: messages arrive in
//! acceptance order, one at a time; a failing head holds the lane (visible
//! in the endpoint's stats and the metrics) until it succeeds or is given
//! up; and the order survives `kill -9`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::crash::{Server, api, app_with_endpoint};
use crate::helpers::{client, id, spawn_app, spawn_app_with, wait_until};
use crate::receiver::{Captured, Receiver, Reply};

const WAIT: Duration = Duration::from_secs(20);

/// The `webhook-id`s of the requests answered 2xx, in arrival order.
fn delivered_order(reqs: &[Captured]) -> Vec<String> {
    reqs.iter()
        .filter(|r| r.answered < 300)
        .map(|r| r.header("webhook-id").to_string())
        .collect()
}

/// The value of a metric line `name value` (no labels) or `name{labels} value`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arrive_in_order_one_at_a_time_and_retries_keep_the_order() {
    // The head fails twice; every answer takes a while, so any second
    // request in flight would be seen.
    let slow_ok = Reply::ok().delay(Duration::from_millis(15));
    let receiver = Receiver::scripted(vec![Reply::status(500), Reply::status(503)], slow_ok).await;
    let app = spawn_app().await; // retry_schedule = 200ms,400ms
    let app_id = id(&app.create_app("fifo").await);
    let ep = app
        .create_endpoint(&app_id, json!({"url": receiver.url, "fifo": true}))
        .await;
    assert_eq!(ep["fifo"], true, "{ep}");
    let ep = id(&ep);

    let mut sent = Vec::new();
    for i in 0..20 {
        let m = app
            .send_message(
                &app_id,
                json!({"eventType": "ledger.entry", "payload": {"seq": i}}),
            )
            .await;
        sent.push(id(&m));
    }
    let reqs = receiver.wait_for(22, WAIT).await;
    // The first three requests are all the head: nothing overtakes it.
    for r in &reqs[..3] {
        assert_eq!(r.header("webhook-id"), sent[0], "{reqs:#?}");
    }
    assert_eq!(delivered_order(&reqs), sent);
    assert_eq!(receiver.max_in_flight(), 1, "one request at a time");
    assert_eq!(receiver.count(), 22);
    for m in &sent {
        app.wait_for_status(&app_id, m, &ep, 0).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_head_blocks_the_lane_visibly_and_a_given_up_head_lets_it_go() {
    // Three failures exhaust the schedule (1 s, 1 s): the head is given up.
    let receiver = Receiver::scripted(vec![Reply::status(500); 3], Reply::ok()).await;
    let app = spawn_app_with(&[("retry_schedule", "1s,1s")]).await;
    let app_id = id(&app.create_app("fifo-blocked").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url, "fifo": true}))
        .await);
    // An unordered endpoint of the same application is not held back.
    let free = Receiver::start().await;
    app.create_endpoint(&app_id, json!({"url": free.url})).await;

    let head = app.send_event(&app_id, "ledger.entry").await;
    receiver.wait_for(1, WAIT).await;
    let mut behind = Vec::new();
    for _ in 0..4 {
        behind.push(app.send_event(&app_id, "ledger.entry").await);
    }
    free.wait_for(5, WAIT).await;

    let stats: Value = wait_until(WAIT, "the lane to show as blocked", || async {
        let s = app
            .get(&format!("/api/v1/app/{app_id}/endpoint/{ep}/stats"))
            .await
            .expect(200);
        (s["fifo"]["blocked"] == true).then_some(s)
    })
    .await;
    assert_eq!(stats["fifo"]["headMsgId"], head.as_str(), "{stats}");
    assert!(stats["fifo"]["headAttempts"].as_i64() >= Some(1), "{stats}");
    assert!(stats["fifo"]["headNextAttempt"].is_string(), "{stats}");
    assert_eq!(stats["pending"].as_i64(), Some(5), "{stats}");
    // The scheduler publishes its figures every 100 ms.
    wait_until(WAIT, "the metrics to show the blocked lane", || async {
        let m = app.get("/metrics").await.text;
        (metric(&m, "hookd_fifo_blocked_lanes") == 1.0
            && metric(&m, "hookd_queue_deliveries{state=\"held_in_order\"}") == 5.0)
            .then_some(())
    })
    .await;
    // While the head waits, nothing behind it was sent.
    assert!(
        receiver
            .requests()
            .iter()
            .all(|r| r.header("webhook-id") == head),
        "{:#?}",
        receiver.requests()
    );

    // Given up after three attempts, then the rest in order.
    let reqs = receiver.wait_for(7, Duration::from_secs(30)).await;
    assert_eq!(delivered_order(&reqs), behind);
    app.wait_for_status(&app_id, &head, &ep, 2).await;
    let attempts = app.attempts_by_msg(&app_id, &head).await;
    let to_ep = attempts.iter().filter(|a| a["endpointId"] == ep.as_str());
    assert_eq!(to_ep.count(), 3, "{attempts:#?}");
    let stats = app
        .get(&format!("/api/v1/app/{app_id}/endpoint/{ep}/stats"))
        .await
        .expect(200);
    assert_eq!(stats["fifo"]["blocked"], false, "{stats}");
    assert!(stats["fifo"]["headMsgId"].is_null(), "{stats}");
    wait_until(WAIT, "the metrics to show no blocked lane", || async {
        let m = app.get("/metrics").await.text;
        (metric(&m, "hookd_fifo_blocked_lanes") == 0.0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_is_an_endpoint_setting_kept_by_put_and_changed_by_patch() {
    let app = spawn_app().await;
    let app_id = id(&app.create_app("fifo-setting").await);
    let ep = app
        .create_endpoint(&app_id, json!({"url": "http://127.0.0.1:9/hook"}))
        .await;
    assert_eq!(ep["fifo"], false, "off by default: {ep}");
    let path = format!("/api/v1/app/{app_id}/endpoint/{}", id(&ep));
    let on = app.patch(&path, &json!({"fifo": true})).await.expect(200);
    assert_eq!(on["fifo"], true);
    // A PUT that does not know the extension (as the Svix SDKs send it) keeps it.
    let put = app
        .put(&path, &json!({"url": "http://127.0.0.1:9/other"}))
        .await
        .expect(200);
    assert_eq!(put["fifo"], true, "{put}");
    let bad = app.patch(&path, &json!({"fifo": "yes"})).await.expect(422);
    assert!(bad.to_string().contains("fifo"), "{bad}");
    let off = app.patch(&path, &json!({"fifo": false})).await.expect(200);
    assert_eq!(off["fifo"], false);
    let stats = app.get(&format!("{path}/stats")).await.expect(200);
    assert!(
        stats.get("fifo").is_none(),
        "no lane on an unordered endpoint: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_the_head_waits_keeps_the_order() {
    let receiver = Receiver::scripted(vec![Reply::status(500)], Reply::ok()).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("hookd.db");
    let http = client();
    // The head's retry is due 2 s after its failure: the kill comes first.
    let slow = [("HOOKD_RETRY_SCHEDULE", "2s,2s")];
    let mut server = Server::start_with(dir.path(), &db, 1, &slow).await;
    let endpoint = json!({"url": receiver.url, "fifo": true});
    let (app_id, _) = app_with_endpoint(&http, &server.base, "fifo-crash", endpoint).await;
    let mut sent = Vec::new();
    for i in 0..10 {
        let (s, m) = api(
            &http,
            &server.base,
            &format!("/api/v1/app/{app_id}/msg"),
            &json!({"eventType": "ledger.entry", "payload": {"seq": i}}),
        )
        .await;
        assert_eq!(s, 202, "{m}");
        sent.push(id(&m));
    }
    receiver.wait_for(1, WAIT).await;
    server.kill().await;
    assert_eq!(
        receiver.count(),
        1,
        "only the head was tried before the kill"
    );

    // The restarted node finds the head waiting for its retry and the rest
    // due at once: the rest still waits for the head.
    let _server = Server::start_with(dir.path(), &db, 2, &slow).await;
    let reqs = receiver.wait_for(11, Duration::from_secs(30)).await;
    assert_eq!(delivered_order(&reqs), sent);
    assert_eq!(receiver.max_in_flight(), 1);
}
