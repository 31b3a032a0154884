//! Failure outcomes: 410 Gone disables the endpoint, redirects are failures
//! and are not followed, and network failures (timeout, connection refused)
//! are retried with their class stored on the attempt.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{id, spawn_app_with, wait_until};
use crate::receiver::{Receiver, Reply, refused_url};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_the_endpoint_without_retries() {
    let receiver = Receiver::always(Reply::status(410)).await;
    let app = spawn_app_with(&[("retry_schedule", "100ms,100ms")]).await;
    let app_id = id(&app.create_app("gone").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let msg = app.send_event(&app_id, "user.deleted").await;
    app.wait_for_status(&app_id, &msg, &ep, 2).await;
    wait_until(WAIT, "the endpoint to be disabled", || async {
        (app.get_endpoint(&app_id, &ep).await["disabled"] == true).then_some(())
    })
    .await;
    let attempts = app.attempts_by_msg(&app_id, &msg).await;
    assert_eq!(attempts.len(), 1, "no retries after 410: {attempts:#?}");
    assert_eq!(attempts[0]["responseStatusCode"], 410);
    assert_eq!(attempts[0]["status"], 2);
    // Longer than the whole schedule: still one request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 1);
    assert_eq!(app.attempts_by_msg(&app_id, &msg).await.len(), 1);

    // A disabled endpoint gets no new messages.
    let next = app.send_event(&app_id, "user.deleted").await;
    assert_eq!(app.destination_status(&app_id, &next, &ep).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_failures_and_are_not_followed() {
    let target = Receiver::start().await;
    let redirector = Receiver::always(Reply::redirect(&target.url)).await;
    let app = spawn_app_with(&[("retry_schedule", "100ms,100ms")]).await;
    let app_id = id(&app.create_app("redirect").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": redirector.url}))
        .await);
    let msg = app.send_event(&app_id, "user.created").await;
    app.wait_for_status(&app_id, &msg, &ep, 2).await;
    let attempts = app.attempts_by_msg(&app_id, &msg).await;
    assert_eq!(attempts.len(), 3, "a 3xx is retried like any failure");
    for a in &attempts {
        assert_eq!(a["responseStatusCode"], 302, "{a}");
        assert_eq!(a["status"], 2, "{a}");
    }
    assert_eq!(redirector.count(), 3);
    assert_eq!(target.count(), 0, "the Location was followed");
    assert_eq!(app.get_endpoint(&app_id, &ep).await["disabled"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_recorded_and_retried() {
    let receiver = Receiver::always(Reply::hang()).await;
    let app = spawn_app_with(&[("request_timeout_secs", "1"), ("retry_schedule", "100ms")]).await;
    let app_id = id(&app.create_app("timeout").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let msg = app.send_event(&app_id, "user.created").await;
    app.wait_for_status(&app_id, &msg, &ep, 2).await;
    let attempts = app.attempts_by_msg(&app_id, &msg).await;
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    for a in &attempts {
        assert_eq!(a["errorClass"], "timeout", "{a}");
        assert_eq!(a["responseStatusCode"], 0, "{a}");
        assert_eq!(a["status"], 2, "{a}");
        let ms = a["responseDurationMs"].as_i64().unwrap();
        assert!(
            (900..4000).contains(&ms),
            "duration {ms} ms for a 1 s timeout"
        );
        assert!(
            a["response"].as_str().is_some_and(|r| !r.is_empty()),
            "the failure is described: {a}"
        );
    }
    assert_eq!(receiver.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_recorded_and_retried() {
    let url = refused_url();
    let app = spawn_app_with(&[("retry_schedule", "100ms")]).await;
    let app_id = id(&app.create_app("refused").await);
    let ep = id(&app.create_endpoint(&app_id, json!({"url": url})).await);
    let msg = app.send_event(&app_id, "user.created").await;
    app.wait_for_status(&app_id, &msg, &ep, 2).await;
    let attempts = app.attempts_by_msg(&app_id, &msg).await;
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    for a in &attempts {
        assert_eq!(a["errorClass"], "connect", "{a}");
        assert_eq!(a["responseStatusCode"], 0, "{a}");
    }
    // The endpoint is not disabled by a transient failure.
    assert_eq!(app.get_endpoint(&app_id, &ep).await["disabled"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_response_bodies_are_capped() {
    // 10 000 bytes answered; response_body_limit (default 4096) are kept.
    let receiver = Receiver::always(Reply::status(500).body("x".repeat(10_000))).await;
    let app = spawn_app_with(&[("retry_schedule", "")]).await;
    let app_id = id(&app.create_app("body-cap").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let msg = app.send_event(&app_id, "user.created").await;
    app.wait_for_status(&app_id, &msg, &ep, 2).await;
    let attempts = app.attempts_by_msg(&app_id, &msg).await;
    assert_eq!(attempts.len(), 1, "an empty schedule means one attempt");
    let response = attempts[0]["response"].as_str().unwrap();
    assert_eq!(
        response.len(),
        4096,
        "stored response is {} bytes",
        response.len()
    );
    assert!(response.bytes().all(|b| b == b'x'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_changes_apply_to_pending_retries() {
    // A retry waiting in the engine goes to the endpoint as it is now, not
    // as it was when the delivery was first tried.
    let old = Receiver::always(Reply::status(500)).await;
    let new = Receiver::start().await;
    let app = spawn_app_with(&[("retry_schedule", "500ms,500ms,500ms")]).await;
    let app_id = id(&app.create_app("changes").await);
    let ep = id(&app.create_endpoint(&app_id, json!({"url": old.url})).await);
    let msg = app.send_event(&app_id, "user.created").await;
    old.wait_for(1, WAIT).await;
    app.patch(
        &format!("/api/v1/app/{app_id}/endpoint/{ep}"),
        &json!({"url": new.url}),
    )
    .await
    .expect(200);
    app.wait_for_status(&app_id, &msg, &ep, 0).await;
    assert_eq!(old.count(), 1, "a retry went to the old URL");
    assert_eq!(new.requests_for(&msg).len(), 1);

    // Disabling stops the retries of a failing delivery.
    new.set_script(vec![], Reply::status(500));
    let msg2 = app.send_event(&app_id, "user.created").await;
    let _ = new.wait_for(2, WAIT).await;
    app.patch(
        &format!("/api/v1/app/{app_id}/endpoint/{ep}"),
        &json!({"disabled": true}),
    )
    .await
    .expect(200);
    app.wait_for_status(&app_id, &msg2, &ep, 2).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        new.requests_for(&msg2).len(),
        1,
        "a retry was sent to a disabled endpoint"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_endpoints_get_no_more_attempts() {
    // Deleted while an attempt is under way: that attempt ends, nothing follows.
    let receiver = Receiver::scripted(
        vec![Reply::status(500).delay(Duration::from_millis(800))],
        Reply::status(500),
    )
    .await;
    let app = spawn_app_with(&[("retry_schedule", "200ms,200ms")]).await;
    let app_id = id(&app.create_app("deleted").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let msg = app.send_event(&app_id, "user.created").await;
    receiver.wait_for(1, WAIT).await;
    let resp = app
        .delete(&format!("/api/v1/app/{app_id}/endpoint/{ep}"))
        .await;
    assert_eq!(resp.status, 204, "{}", resp.text);
    // The attempt under way ends at ~0.8 s; retries would follow within 0.5 s.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(
        receiver.count(),
        1,
        "attempts continued after the endpoint was deleted"
    );
    assert!(app.destinations(&app_id, &msg).await.is_empty());
}
