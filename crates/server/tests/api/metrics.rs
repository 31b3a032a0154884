//! `/metrics` and the health probes: counts move exactly with a known workload.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{send, spawn_app_with};

/// A receiver that answers 200 to `/ok` and 500 to `/fail`, counting requests.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new()
        .route(
            "/ok",
            axum::routing::post({
                let h = h.clone();
                move || async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    StatusCode::OK
                }
            }),
        )
        .route(
            "/fail",
            axum::routing::post(move || async move {
                h.fetch_add(1, Ordering::SeqCst);
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), hits)
}

/// The value of one sample line, e.g. `hookd_messages_accepted_total`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_a_known_workload_exactly() {
    let app = spawn_app_with(&[("allowed_subnets", "127.0.0.0/8"), ("retry_schedule", "1h")]).await;
    let (url, hits) = receiver().await;
    app.create_app("m").await;
    app.create_endpoint(
        "m",
        json!({"url": format!("{url}/ok"), "filterTypes": ["good"]}),
    )
    .await;
    app.create_endpoint(
        "m",
        json!({"url": format!("{url}/fail"), "filterTypes": ["bad"]}),
    )
    .await;
    app.create_endpoint(
        "m",
        json!({"url": "http://10.0.0.1/x", "filterTypes": ["blocked"]}),
    )
    .await;

    let before = app.get("/metrics").await;
    assert_eq!(before.status, 200);
    assert!(
        before.content_type().contains("openmetrics-text"),
        "{}",
        before.content_type()
    );
    let before = before.text;

    for _ in 0..5 {
        app.send_message("m", json!({"eventType": "good", "payload": {}}))
            .await;
    }
    for _ in 0..3 {
        app.send_message("m", json!({"eventType": "bad", "payload": {}}))
            .await;
    }
    app.send_message("m", json!({"eventType": "blocked", "payload": {}}))
        .await;

    // Wait until every first attempt has been made and recorded.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let text = app.get("/metrics").await.text;
        let attempts = ["success", "http_5xx", "blocked"]
            .iter()
            .map(|o| {
                sample(
                    &text,
                    &format!("hookd_delivery_attempts_total{{outcome=\"{o}\"}}"),
                )
            })
            .sum::<f64>();
        let waiting = sample(&text, "hookd_queue_deliveries{state=\"waiting\"}");
        if (attempts >= 9.0 && waiting >= 3.0) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(delta("hookd_messages_accepted_total"), 9.0);
    assert_eq!(
        delta("hookd_delivery_attempts_total{outcome=\"success\"}"),
        5.0
    );
    assert_eq!(
        delta("hookd_delivery_attempts_total{outcome=\"http_5xx\"}"),
        3.0
    );
    assert_eq!(
        delta("hookd_delivery_attempts_total{outcome=\"blocked\"}"),
        1.0
    );
    assert_eq!(delta("hookd_attempt_duration_seconds_count"), 9.0);
    assert_eq!(delta("hookd_delivery_latency_seconds_count"), 5.0);
    assert!(delta("hookd_store_operation_seconds_count{op=\"create_message\"}") >= 9.0);
    assert_eq!(hits.load(Ordering::SeqCst), 8);
    // The three failed deliveries wait an hour for their retry.
    assert_eq!(
        sample(&after, "hookd_queue_deliveries{state=\"waiting\"}"),
        3.0
    );
    assert_eq!(
        sample(&after, "hookd_queue_deliveries{state=\"in_flight\"}"),
        0.0
    );
    assert_eq!(sample(&after, "hookd_disabled_endpoints"), 0.0);
    // Disabling an endpoint shows in the gauge at the next scrape.
    let eps = app.get("/api/v1/app/m/endpoint").await.expect(200);
    let first = eps["data"][0]["id"].as_str().unwrap().to_string();
    app.patch(
        &format!("/api/v1/app/m/endpoint/{first}"),
        &json!({"disabled": true}),
    )
    .await
    .expect(200);
    let now = app.get("/metrics").await.text;
    assert_eq!(sample(&now, "hookd_disabled_endpoints"), 1.0);
    assert_eq!(
        sample(&now, "hookd_endpoints_disabled_total{reason=\"manual\"}"),
        1.0
    );
    // No per-message, per-endpoint or per-application labels: no label value is an id.
    for value in after
        .split("=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
    {
        for kind in [
            hookd_core::ids::Kind::Message,
            hookd_core::ids::Kind::Endpoint,
            hookd_core::ids::Kind::App,
        ] {
            assert!(
                !hookd_core::ids::is_id(kind, value),
                "id used as a label: {value}"
            );
        }
    }
}

#[tokio::test]
async fn liveness_and_readiness_probes_need_no_key() {
    let app = spawn_app_with(&[]).await;
    let live = send(app.anonymous(reqwest::Method::GET, "/api/v1/health/live")).await;
    assert_eq!(live.expect(200)["status"], "ok");
    let ready = send(app.anonymous(reqwest::Method::GET, "/api/v1/health/ready")).await;
    let body = ready.expect(200);
    assert_eq!(body["checks"]["store"], "ok");
    assert!(
        body["checks"]["scheduler"]
            .as_str()
            .unwrap()
            .starts_with("ok")
    );
}

#[tokio::test]
async fn metrics_can_move_to_their_own_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let app = spawn_app_with(&[("metrics_listen", &addr)]).await;
    assert_eq!(app.get("/metrics").await.status, 404);
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("hookd_messages_accepted_total"), "{text}");
}
