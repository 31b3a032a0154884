//! Retries as users see them: attempts listed per message, the destination's
//! final status, the spacing of requests at the receiver, and `Retry-After`.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{id, spawn_app, spawn_app_with, wait_until};
use crate::receiver::{Receiver, Reply};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_retried_until_success() {
    let receiver =
        Receiver::scripted(vec![Reply::status(500), Reply::status(500)], Reply::ok()).await;
    let app = spawn_app().await; // retry_schedule = 200ms,400ms
    let app_id = id(&app.create_app("retries").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let msg = app.send_event(&app_id, "order.created").await;

    let reqs = receiver.wait_for(3, WAIT).await;
    app.wait_for_status(&app_id, &msg, &ep, 0).await;
    let attempts = app.attempts_by_msg(&app_id, &msg).await;
    let codes: Vec<i64> = attempts
        .iter()
        .map(|a| a["responseStatusCode"].as_i64().unwrap())
        .collect();
    let statuses: Vec<i64> = attempts
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [200, 500, 500], "newest first: {attempts:#?}");
    assert_eq!(statuses, [0, 2, 2], "{attempts:#?}");
    for a in &attempts {
        assert_eq!(a["msgId"], msg.as_str());
        assert_eq!(a["endpointId"], ep.as_str());
        assert_eq!(a["triggerType"], 0, "scheduled attempts");
        assert_eq!(a["url"], receiver.url.as_str());
        assert!(a.get("errorClass").is_none_or(|c| c.is_null()), "{a}");
    }
    assert_eq!(attempts[0]["statusText"], "success");
    assert_eq!(attempts[1]["response"], "receiver answered 500");

    // Exactly three requests, spaced by the schedule (±20 % jitter).
    assert_eq!(receiver.count(), 3);
    assert!(reqs.iter().all(|r| r.header("webhook-id") == msg));
    let gap1 = reqs[1].at - reqs[0].at;
    let gap2 = reqs[2].at - reqs[1].at;
    assert!(
        gap1 >= Duration::from_millis(150),
        "first retry after {gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(300),
        "second retry after {gap2:?}"
    );

    let dest = app.destinations(&app_id, &msg).await;
    assert_eq!(dest.len(), 1);
    assert_eq!(dest[0]["statusText"], "success");
    assert!(dest[0]["nextAttempt"].is_null(), "{dest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let receiver = Receiver::scripted(vec![Reply::status(503).retry_after("1")], Reply::ok()).await;
    let app = spawn_app().await; // the schedule alone would retry after ~200 ms
    let app_id = id(&app.create_app("retry-after").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let msg = app.send_event(&app_id, "order.created").await;
    let reqs = receiver.wait_for(2, WAIT).await;
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured; retried after {gap:?}"
    );
    assert!(gap < Duration::from_secs(5), "retried only after {gap:?}");
    app.wait_for_status(&app_id, &msg, &ep, 0).await;
    let codes: Vec<i64> = app
        .attempts_by_msg(&app_id, &msg)
        .await
        .iter()
        .map(|a| a["responseStatusCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [200, 503]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_as_an_http_date_is_honoured() {
    let receiver = Receiver::start().await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("retry-after-date").await);
    app.create_endpoint(&app_id, json!({"url": receiver.url}))
        .await;
    // Two seconds ahead; HTTP dates have whole seconds, so at least ~1 s remains.
    let when = chrono::Utc::now() + chrono::Duration::seconds(2);
    let date = when.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    receiver.set_script(vec![Reply::status(429).retry_after(&date)], Reply::ok());
    app.send_event(&app_id, "order.created").await;
    let reqs = receiver.wait_for(2, WAIT).await;
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "Retry-After: {date} was not honoured; retried after {gap:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_retry_after_falls_back_to_the_schedule() {
    // A day and more is beyond the sane bound: the schedule's 200 ms applies.
    let receiver =
        Receiver::scripted(vec![Reply::status(503).retry_after("100000")], Reply::ok()).await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("retry-after-absurd").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let msg = app.send_event(&app_id, "order.created").await;
    let reqs = receiver.wait_for(2, WAIT).await;
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap < Duration::from_secs(2), "retried after {gap:?}");
    app.wait_for_status(&app_id, &msg, &ep, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_types_schedule_replaces_the_servers() {
    let receiver = Receiver::always(Reply::status(500)).await;
    // The server's schedule would retry only after an hour.
    let app = spawn_app_with(&[("retry_schedule", "1h,1h,1h")]).await;
    for name in ["job.quick", "job.plain"] {
        app.post(
            "/api/v1/event-type",
            &json!({"name": name, "description": "a job"}),
        )
        .await
        .expect(201);
    }
    let schedule = "/api/v1/event-type/job.quick/retry-schedule";
    app.put(
        schedule,
        &json!({"retrySchedule": [{"secs": 1, "nanos": 0}, {"secs": 1, "nanos": 0}]}),
    )
    .await
    .expect(200);
    let app_id = id(&app.create_app("own-schedule").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);

    let quick = app.send_event(&app_id, "job.quick").await;
    let plain = app.send_event(&app_id, "job.plain").await;
    // Three attempts (the first and two retries, a second apart), then failed.
    app.wait_for_status(&app_id, &quick, &ep, 2).await;
    let reqs = receiver.requests_for(&quick);
    assert_eq!(reqs.len(), 3, "attempts of the quick message");
    for pair in reqs.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(750) && gap < Duration::from_secs(30),
            "retried after {gap:?}"
        );
    }
    assert_eq!(app.attempts_by_msg(&app_id, &quick).await.len(), 3);
    // The other type keeps the server's schedule: one attempt, a retry an hour away.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.attempts_by_msg(&app_id, &plain).await.len(), 1);
    assert_eq!(app.destination_status(&app_id, &plain, &ep).await, Some(1));
    assert_eq!(app.attempts_by_msg(&app_id, &quick).await.len(), 3);

    // A changed schedule applies to the next failure at once (no retries now).
    app.put(schedule, &json!({"retrySchedule": []}))
        .await
        .expect(200);
    let none = app.send_event(&app_id, "job.quick").await;
    app.wait_for_status(&app_id, &none, &ep, 2).await;
    assert_eq!(app.attempts_by_msg(&app_id, &none).await.len(), 1);

    // Back to the server's: the retry is an hour away.
    app.put(schedule, &json!({"retrySchedule": null}))
        .await
        .expect(200);
    let default = app.send_event(&app_id, "job.quick").await;
    wait_until(WAIT, "the first attempt", || async {
        (app.attempts_by_msg(&app_id, &default).await.len() == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.destination_status(&app_id, &default, &ep).await,
        Some(1)
    );
    assert_eq!(app.attempts_by_msg(&app_id, &default).await.len(), 1);
}
