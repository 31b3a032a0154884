//! Per-endpoint limits seen from the receiver: the rate limit spreads a
//! burst out in time, and the concurrency cap bounds requests in flight.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{TestApp, id, spawn_app, spawn_app_with};
use crate::receiver::{Receiver, Reply};

async fn burst(app: &Arc<TestApp>, app_id: &str, n: usize) {
    let mut set = JoinSet::new();
    for i in 0..n {
        let (app, app_id) = (app.clone(), app_id.to_string());
        set.spawn(async move {
            app.send_message(&app_id, json!({"eventType": "burst", "payload": {"i": i}}))
                .await
        });
    }
    set.join_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_spreads_a_burst() {
    let receiver = Receiver::start().await;
    let app = Arc::new(spawn_app().await);
    let app_id = id(&app.create_app("rate").await);
    app.create_endpoint(&app_id, json!({"url": receiver.url, "rateLimit": 5}))
        .await;
    burst(&app, &app_id, 15).await;
    let reqs = receiver.wait_for(15, Duration::from_secs(15)).await;
    let spread = reqs[14].at - reqs[0].at;
    // A token bucket of at most 5 at 5/s lets the 15th go no earlier than
    // 2 s after the first (hookd's, starting with 1 token: 2.8 s); anything
    // near instant means no limit.
    assert!(
        spread >= Duration::from_millis(1800),
        "15 messages at rateLimit 5 arrived within {spread:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_holds_for_a_steady_trickle() {
    // Messages sent one by one, so the endpoint's queue keeps running empty
    // between them: the limit must still hold over time, not only for backlogs.
    let receiver = Receiver::start().await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("trickle").await);
    app.create_endpoint(&app_id, json!({"url": receiver.url, "rateLimit": 5}))
        .await;
    for _ in 0..15 {
        app.send_event(&app_id, "trickle").await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let reqs = receiver.wait_for(15, Duration::from_secs(15)).await;
    let spread = reqs[14].at - reqs[0].at;
    assert!(
        spread >= Duration::from_millis(1800),
        "15 messages at rateLimit 5 arrived within {spread:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_cap_bounds_requests_in_flight() {
    let receiver = Receiver::always(Reply::ok().delay(Duration::from_millis(300))).await;
    let app = Arc::new(spawn_app_with(&[("endpoint_concurrency", "2")]).await);
    let app_id = id(&app.create_app("concurrency").await);
    app.create_endpoint(&app_id, json!({"url": receiver.url}))
        .await;
    burst(&app, &app_id, 8).await;
    let reqs = receiver.wait_for(8, Duration::from_secs(15)).await;
    assert_eq!(
        receiver.max_in_flight(),
        2,
        "endpoint_concurrency=2 should allow exactly 2 requests at once"
    );
    // 8 requests of 300 ms, 2 at a time: at least ~0.9 s from first to last.
    let spread = reqs[7].at - reqs[0].at;
    assert!(spread >= Duration::from_millis(850), "{spread:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_application_throttle_rate_reaches_the_running_scheduler() {
    // The endpoint is loaded (and cached) by the scheduler before its
    // application gets a throttleRate: the change must still apply at once.
    let receiver = Receiver::start().await;
    let app = Arc::new(spawn_app().await);
    let app_id = id(&app.create_app("throttled").await);
    app.create_endpoint(&app_id, json!({"url": receiver.url}))
        .await;
    app.send_event(&app_id, "warm").await;
    receiver.wait_for(1, Duration::from_secs(15)).await;
    app.patch(
        &format!("/api/v1/app/{app_id}"),
        &json!({"throttleRate": 5}),
    )
    .await
    .expect(200);
    burst(&app, &app_id, 15).await;
    let reqs = receiver.wait_for(16, Duration::from_secs(15)).await;
    let spread = reqs[15].at - reqs[1].at;
    assert!(
        spread >= Duration::from_millis(1800),
        "15 messages after throttleRate 5 arrived within {spread:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_gets_fewer_requests_at_once_then_more_as_it_recovers() {
    // Each message is tried once here (the retry is an hour away).
    let receiver = Receiver::always(Reply::status(503).delay(Duration::from_millis(80))).await;
    let app =
        Arc::new(spawn_app_with(&[("endpoint_concurrency", "8"), ("retry_schedule", "1h")]).await);
    let app_id = id(&app.create_app("adaptive").await);
    app.create_endpoint(&app_id, json!({"url": receiver.url}))
        .await;
    burst(&app, &app_id, 60).await;
    receiver.wait_for(8, Duration::from_secs(10)).await;
    assert_eq!(
        receiver.max_in_flight(),
        8,
        "a new endpoint starts at endpoint_concurrency"
    );
    // Three rounds of failures halve the window to 1.
    receiver.wait_for(30, Duration::from_secs(20)).await;
    receiver.reset_max_in_flight();
    receiver.wait_for(60, Duration::from_secs(20)).await;
    assert!(
        receiver.max_in_flight() <= 2,
        "still {} in flight at once to an endpoint answering 503",
        receiver.max_in_flight()
    );
    let metrics = app.get("/metrics").await.text;
    let cuts: f64 = metrics
        .lines()
        .find(|l| l.starts_with("hookd_endpoint_concurrency_cuts_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(cuts >= 2.0, "{metrics}");

    // Healthy again: the window grows back, one step per round of successes.
    receiver.set_script(vec![], Reply::ok().delay(Duration::from_millis(80)));
    receiver.reset_max_in_flight();
    burst(&app, &app_id, 150).await;
    receiver.wait_for(210, Duration::from_secs(30)).await;
    assert!(
        receiver.max_in_flight() >= 5,
        "grew back only to {} in flight",
        receiver.max_in_flight()
    );
}
