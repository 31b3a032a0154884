//! `POST …/endpoint/{ep}/msg/test-attempt`: one real request to that
//! endpoint only, answered with the attempt it made.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{id, spawn_app};
use crate::receiver::{Receiver, Reply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_attempt_sends_to_the_endpoint_only_and_returns_the_attempt() {
    let receiver = Receiver::always(Reply::ok().body("got it")).await;
    let other = Receiver::always(Reply::ok()).await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("testing").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    app.create_endpoint(&app_id, json!({"url": other.url}))
        .await;
    let body = json!({"eventType": "user.created", "payload": {"test": true}});
    let path = format!("/api/v1/app/{app_id}/endpoint/{ep}/msg/test-attempt");
    let a = app.post(&path, &body).await.expect(201);
    assert!(id(&a).starts_with("atmpt_"), "{a}");
    assert_eq!(a["endpointId"], ep.as_str());
    assert_eq!(a["responseStatusCode"], 200, "{a}");
    assert_eq!(a["response"], "got it");
    assert_eq!(a["status"], 0);
    assert_eq!(a["url"], receiver.url.as_str());
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].header("webhook-id"), a["msgId"].as_str().unwrap());
    assert_eq!(got[0].json(), json!({"test": true}));
    // The message is an ordinary, listed message, routed nowhere else.
    let msg = a["msgId"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/app/{app_id}/msg/{msg}"))
            .await
            .expect(200)["eventType"],
        "user.created"
    );
    assert_eq!(app.destinations(&app_id, msg).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(other.count(), 0, "another endpoint got the test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_test_attempt_is_still_201_with_the_failure() {
    let receiver = Receiver::always(Reply::status(500).body("boom")).await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("failing").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let path = format!("/api/v1/app/{app_id}/endpoint/{ep}/msg/test-attempt");
    let a = app
        .post(&path, &json!({"eventType": "user.created", "payload": {}}))
        .await
        .expect(201);
    assert_eq!(a["responseStatusCode"], 500, "{a}");
    assert_eq!(a["status"], 2);
    assert_eq!(a["response"], "boom");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_attempts_refuse_bad_input_and_disabled_endpoints() {
    let receiver = Receiver::always(Reply::ok()).await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("refused").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url, "disabled": true}))
        .await);
    let path = format!("/api/v1/app/{app_id}/endpoint/{ep}/msg/test-attempt");
    let good = json!({"eventType": "user.created", "payload": {}});
    let r = app.post(&path, &good).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(
        r.json()["detail"].as_str().unwrap().contains("disabled"),
        "{}",
        r.text
    );
    let r = app
        .post(&path, &json!({"eventType": "bad name!", "payload": {}}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.json()["detail"][0]["loc"], json!(["body", "eventType"]));
    let r = app.post(&path, &json!({"eventType": "user.created"})).await;
    assert_eq!(
        r.json()["detail"][0]["loc"],
        json!(["body", "payload"]),
        "{}",
        r.text
    );
    let r = app
        .post(
            &format!(
                "/api/v1/app/{app_id}/endpoint/ep_2zzzzzzzzzzzzzzzzzzzzzzzzzz/msg/test-attempt"
            ),
            &good,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(receiver.count(), 0);
}
