//! Retention: payloads and response bodies expire, per server, application
//! or message; expunging one message on demand.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{assert_error, assert_validation, spawn_app_with};

#[tokio::test]
async fn expired_payloads_are_removed_and_nothing_else() {
    let app = spawn_app_with(&[
        ("retention_period", "1s"),
        ("retention_sweep_secs", "1"),
        ("retry_schedule", "1h"),
    ])
    .await;
    app.create_app("short").await;
    let long = app
        .post(
            "/api/v1/app",
            &json!({"name": "Long", "uid": "long", "payloadRetentionPeriod": 30}),
        )
        .await
        .expect(201);
    assert_eq!(long["payloadRetentionPeriod"], 30);
    let payload = json!({"secret": "card 4242"});
    let gone = app
        .send_message("short", json!({"eventType": "x", "payload": payload}))
        .await;
    let own = app
        .send_message(
            "short",
            json!({"eventType": "x", "payload": payload, "payloadRetentionHours": 1}),
        )
        .await;
    let kept = app
        .send_message("long", json!({"eventType": "x", "payload": payload}))
        .await;

    let path = |a: &str, m: &serde_json::Value| {
        format!("/api/v1/app/{a}/msg/{}", m["id"].as_str().unwrap())
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = app.get(&path("short", &gone)).await.expect(200);
        if m["payload"] == json!({}) {
            break;
        }
        assert!(Instant::now() < deadline, "the payload never expired: {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The message itself stays listed, with its event type.
    let listed = app.get("/api/v1/app/short/msg").await.expect(200);
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    // A message's own retention, and an application's, override the server's.
    assert_eq!(
        app.get(&path("short", &own)).await.expect(200)["payload"],
        payload
    );
    assert_eq!(
        app.get(&path("long", &kept)).await.expect(200)["payload"],
        payload
    );
}

#[tokio::test]
async fn expunging_a_message_on_demand() {
    let app = spawn_app_with(&[("retry_schedule", "1h")]).await;
    app.create_app("a").await;
    let m = app
        .send_message(
            "a",
            json!({"eventType": "x", "eventId": "e1", "payload": {"k": 1}}),
        )
        .await;
    let id = m["id"].as_str().unwrap();
    let resp = app.delete(&format!("/api/v1/app/a/msg/{id}/content")).await;
    resp.expect_empty(204);
    assert_eq!(
        app.get("/api/v1/app/a/msg/e1").await.expect(200)["payload"],
        json!({})
    );
    // By eventId too, and unknown messages are 404s.
    app.delete("/api/v1/app/a/msg/e1/content/")
        .await
        .expect_empty(204);
    assert_error(
        &app.delete("/api/v1/app/a/msg/nope/content").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn retention_settings_are_validated() {
    let app = spawn_app_with(&[]).await;
    let resp = app
        .post(
            "/api/v1/app",
            &json!({"name": "x", "payloadRetentionPeriod": 0}),
        )
        .await;
    assert_validation(&resp, json!(["body", "payloadRetentionPeriod"]));
    app.create_app("a").await;
    let resp = app
        .post(
            "/api/v1/app/a/msg",
            &json!({"eventType": "x", "payload": {}, "payloadRetentionHours": 0}),
        )
        .await;
    assert_validation(&resp, json!(["body", "payloadRetentionHours"]));
    let out = crate::helpers::run_hookd(
        app.dir(),
        &["serve"],
        &[("HOOKD_RETENTION_PERIOD", "forever")],
        b"",
    )
    .await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("retention_period"), "{}", out.stderr);
}
