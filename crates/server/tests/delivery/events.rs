//! Exhaustion and operational events: a delivery that fails every attempt is
//! marked failed after exactly the scheduled attempts, and the operator hears
//! about it (and about endpoint changes) through the operational
//! application's endpoints, as signed webhooks like any other.

use std::time::Duration;

use hookd_webhooks::Verifier;
use serde_json::{Value, json};

use crate::helpers::{id, spawn_app_with, wait_until};
use crate::receiver::{Receiver, Reply};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_deliveries_fail_and_emit_operational_events() {
    let failing = Receiver::always(Reply::status(500)).await;
    let operator = Receiver::start().await;
    let app = spawn_app_with(&[
        ("retry_schedule", "100ms,100ms"),
        ("failing_event_after_attempts", "2"),
    ])
    .await;

    let op_app = id(&app.create_app("hookd-operational").await);
    let op_ep = id(&app
        .create_endpoint(&op_app, json!({"url": operator.url}))
        .await);
    let op_secret = app.endpoint_secret(&op_app, &op_ep).await;

    let app_id = id(&app.create_app("exhaust").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": failing.url, "uid": "failing-ep"}))
        .await);
    let msg = id(&app
        .send_message(
            &app_id,
            json!({"eventType": "invoice.paid", "eventId": "evt-exhaust-1", "payload": {"n": 1}}),
        )
        .await);

    app.wait_for_status(&app_id, &msg, &ep, 2).await;
    let attempts = app.attempts_by_msg(&app_id, &msg).await;
    assert_eq!(attempts.len(), 3, "1 + 2 scheduled retries: {attempts:#?}");
    assert!(attempts.iter().all(|a| a["responseStatusCode"] == 500));
    let dest = app.destinations(&app_id, &msg).await;
    assert_eq!(dest[0]["statusText"], "fail");
    assert!(dest[0]["nextAttempt"].is_null(), "{dest:?}");

    let event = |t: &'static str| {
        let operator = &operator;
        async move {
            operator
                .requests()
                .into_iter()
                .find(|r| r.json()["type"] == t)
        }
    };
    let exhausted = wait_until(WAIT, "message.attempt.exhausted", || {
        event("message.attempt.exhausted")
    })
    .await;
    let body = exhausted.json();
    let data = &body["data"];
    assert_eq!(data["appId"], app_id.as_str(), "{body}");
    assert_eq!(data["appUid"], "exhaust", "{body}");
    assert_eq!(data["msgId"], msg.as_str(), "{body}");
    assert_eq!(data["msgEventId"], "evt-exhaust-1", "{body}");
    assert_eq!(data["endpointId"], ep.as_str(), "{body}");
    assert_eq!(data["lastAttempt"]["id"], attempts[0]["id"], "{body}");
    assert_eq!(data["lastAttempt"]["responseStatusCode"], 500, "{body}");
    assert!(data["lastAttempt"]["timestamp"].is_string(), "{body}");
    assert!(body["timestamp"].is_string(), "{body}");
    // It is an ordinary signed webhook of the operational application.
    Verifier::new(&op_secret)
        .unwrap()
        .verify(
            exhausted.header("webhook-id"),
            exhausted.header("webhook-timestamp"),
            exhausted.header("webhook-signature"),
            &exhausted.body,
        )
        .expect("operational events are signed with the operator endpoint's secret");
    let op_msg: Value = app
        .get(&format!(
            "/api/v1/app/{op_app}/msg/{}",
            exhausted.header("webhook-id")
        ))
        .await
        .expect(200);
    assert_eq!(op_msg["eventType"], "message.attempt.exhausted");

    // failing_event_after_attempts = 2: announced once, after the second attempt.
    let failing_ev = wait_until(WAIT, "message.attempt.failing", || {
        event("message.attempt.failing")
    })
    .await;
    assert_eq!(failing_ev.json()["data"]["msgId"], msg.as_str());
    assert_eq!(
        failing_ev.json()["data"]["lastAttempt"]["id"],
        attempts[1]["id"]
    );

    let created = wait_until(WAIT, "endpoint.created", || event("endpoint.created")).await;
    let c = created.json();
    assert_eq!(c["data"]["endpointId"], ep.as_str(), "{c}");
    assert_eq!(c["data"]["endpointUid"], "failing-ep", "{c}");
    assert_eq!(c["data"]["appId"], app_id.as_str(), "{c}");

    // Exactly three requests, whatever the wait; one event of each kind.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(failing.count(), 3);
    let types: Vec<String> = operator
        .requests()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or("").to_string())
        .collect();
    for t in [
        "endpoint.created",
        "message.attempt.failing",
        "message.attempt.exhausted",
    ] {
        assert_eq!(
            types.iter().filter(|x| *x == t).count(),
            1,
            "one {t} expected: {types:?}"
        );
    }
    // Nothing about the operational application itself (its own endpoint's creation).
    assert!(
        operator
            .requests()
            .iter()
            .all(|r| r.json()["data"]["appId"] != op_app.as_str()),
        "{types:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_failing_for_too_long_are_disabled() {
    // disable_after_secs = 1: the third attempt (~1.4 s after the first
    // failure) finds the endpoint failing for longer and disables it; the
    // fourth scheduled attempt is then never made.
    let failing = Receiver::always(Reply::status(500)).await;
    let operator = Receiver::start().await;
    let app = spawn_app_with(&[
        ("retry_schedule", "700ms,700ms,700ms"),
        ("disable_after_secs", "1"),
    ])
    .await;
    let op_app = id(&app.create_app("hookd-operational").await);
    app.create_endpoint(&op_app, json!({"url": operator.url}))
        .await;
    let app_id = id(&app.create_app("auto-disable").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": failing.url}))
        .await);
    let msg = app.send_event(&app_id, "invoice.paid").await;

    wait_until(WAIT, "the endpoint to be disabled", || async {
        (app.get_endpoint(&app_id, &ep).await["disabled"] == true).then_some(())
    })
    .await;
    app.wait_for_status(&app_id, &msg, &ep, 2).await;
    let disabled = wait_until(WAIT, "endpoint.disabled", || async {
        operator
            .requests()
            .into_iter()
            .find(|r| r.json()["type"] == "endpoint.disabled")
    })
    .await
    .json();
    assert_eq!(disabled["data"]["endpointId"], ep.as_str(), "{disabled}");
    assert_eq!(disabled["data"]["appId"], app_id.as_str(), "{disabled}");
    assert_eq!(disabled["data"]["trigger"], "automatic", "{disabled}");
    assert!(disabled["data"]["failSince"].is_string(), "{disabled}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        failing.count(),
        3,
        "no attempt after the endpoint was disabled"
    );
    assert_eq!(app.attempts_by_msg(&app_id, &msg).await.len(), 3);
}
