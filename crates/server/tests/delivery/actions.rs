//! Manual delivery actions: resend, recover, endpoint stats, send-example.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, id, rfc3339_ago, spawn_app_with, wait_until};
use crate::receiver::{Receiver, Reply};

const WAIT: Duration = Duration::from_secs(10);

async fn stats(app: &TestApp, app_id: &str, ep: &str) -> Value {
    app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep}/stats"))
        .await
        .expect(200)
}

fn counts(s: &Value) -> [i64; 5] {
    ["success", "pending", "sending", "fail", "canceled"].map(|k| {
        s[k].as_i64()
            .unwrap_or_else(|| panic!("stats without {k}: {s}"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_recover_stats_and_send_example() {
    let good = Receiver::start().await;
    let broken = Receiver::always(Reply::status(500)).await;
    let app = spawn_app_with(&[("retry_schedule", "100ms")]).await;
    let app_id = id(&app.create_app("actions").await);
    let ep_good = id(&app.create_endpoint(&app_id, json!({"url": good.url})).await);
    let ep_broken = id(&app
        .create_endpoint(&app_id, json!({"url": broken.url}))
        .await);

    let m1 = app.send_event(&app_id, "order.created").await;
    let m2 = app.send_event(&app_id, "order.created").await;
    for m in [&m1, &m2] {
        app.wait_for_status(&app_id, m, &ep_good, 0).await;
        app.wait_for_status(&app_id, m, &ep_broken, 2).await;
    }
    assert_eq!(
        counts(&stats(&app, &app_id, &ep_good).await),
        [2, 0, 0, 0, 0]
    );
    assert_eq!(
        counts(&stats(&app, &app_id, &ep_broken).await),
        [0, 0, 0, 2, 0]
    );
    assert_eq!(broken.count(), 4, "two attempts per message");

    // Resend: 202 {}, a manual attempt, the same webhook-id again.
    let resp = app
        .post(
            &format!("/api/v1/app/{app_id}/msg/{m1}/endpoint/{ep_good}/resend"),
            &json!({}),
        )
        .await;
    assert_eq!(resp.expect(202), json!({}));
    wait_until(WAIT, "the resent delivery", || async {
        (good.requests_for(&m1).len() == 2).then_some(())
    })
    .await;
    let attempts = wait_until(WAIT, "the manual attempt to be recorded", || async {
        let a: Vec<Value> = app
            .attempts_by_msg(&app_id, &m1)
            .await
            .into_iter()
            .filter(|a| a["endpointId"] == ep_good.as_str())
            .collect();
        (a.len() == 2).then_some(a)
    })
    .await;
    assert_eq!(
        attempts[0]["triggerType"], 1,
        "newest is manual: {attempts:#?}"
    );
    assert_eq!(attempts[0]["status"], 0);
    assert_eq!(attempts[1]["triggerType"], 0);
    app.wait_for_status(&app_id, &m1, &ep_good, 0).await;

    // Recover: once the receiver is fixed, failed deliveries go out again.
    broken.set_script(vec![], Reply::ok());
    let resp = app
        .post(
            &format!("/api/v1/app/{app_id}/endpoint/{ep_broken}/recover"),
            &json!({"since": rfc3339_ago(Duration::from_secs(3600))}),
        )
        .await
        .expect(202);
    assert_eq!(resp["task"], "endpoint.recover", "{resp}");
    assert!(resp["id"].is_string(), "{resp}");
    for m in [&m1, &m2] {
        app.wait_for_status(&app_id, m, &ep_broken, 0).await;
        let a: Vec<Value> = app
            .attempts_by_msg(&app_id, m)
            .await
            .into_iter()
            .filter(|a| a["endpointId"] == ep_broken.as_str())
            .collect();
        assert_eq!(a.len(), 3, "{a:#?}");
        assert_eq!(a[0]["status"], 0);
        assert_eq!(a[0]["triggerType"], 1, "recovery attempts are manual");
        assert_eq!(a[0]["responseStatusCode"], 200);
    }
    assert_eq!(broken.count(), 6);
    assert_eq!(
        counts(&stats(&app, &app_id, &ep_broken).await),
        [2, 0, 0, 0, 0]
    );
    // Nothing failed any more: a second recover queues nothing.
    let again = app
        .post(
            &format!("/api/v1/app/{app_id}/endpoint/{ep_broken}/recover"),
            &json!({"since": rfc3339_ago(Duration::from_secs(3600))}),
        )
        .await
        .expect(202);
    let task_id = again["id"].as_str().unwrap_or_default().to_string();
    let task = wait_until(WAIT, "the second recovery to finish", || async {
        let t = app
            .get(&format!("/api/v1/background-task/{task_id}"))
            .await
            .expect(200);
        (t["status"] != "running").then_some(t)
    })
    .await;
    assert_eq!(task["status"], "finished", "{task}");
    assert_eq!(task["data"]["messagesSent"], 0, "{task}");

    // Send-example: to the one endpoint named, whatever its peers.
    let example = app
        .post(
            &format!("/api/v1/app/{app_id}/endpoint/{ep_good}/send-example"),
            &json!({"eventType": "example.ping"}),
        )
        .await
        .expect(202);
    let ex = id(&example);
    assert_eq!(example["eventType"], "example.ping");
    let r = wait_until(WAIT, "the example at the endpoint", || async {
        good.requests_for(&ex).into_iter().next()
    })
    .await;
    assert!(r.json().is_object(), "{}", r.text());
    app.wait_for_status(&app_id, &ex, &ep_good, 0).await;
    let dest: Vec<String> = app
        .destinations(&app_id, &ex)
        .await
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(dest, std::slice::from_ref(&ep_good));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        broken.requests_for(&ex).is_empty(),
        "the example went to another endpoint"
    );
    assert_eq!(
        counts(&stats(&app, &app_id, &ep_good).await),
        [3, 0, 0, 0, 0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_a_pending_delivery_does_not_fork_its_retries() {
    // A delivery failing with a retry scheduled is resent by hand: the
    // manual attempt restarts its schedule, so it gets 1 + 2 attempts from
    // there, 4 in all. The retry scheduled before the resend is superseded.
    let receiver = Receiver::always(Reply::status(500)).await;
    let app = spawn_app_with(&[("retry_schedule", "1s,1s")]).await;
    let app_id = id(&app.create_app("resend-pending").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let msg = app.send_event(&app_id, "order.created").await;
    wait_until(WAIT, "the first attempt to be recorded", || async {
        (app.attempts_by_msg(&app_id, &msg).await.len() == 1).then_some(())
    })
    .await;
    assert_eq!(app.destination_status(&app_id, &msg, &ep).await, Some(1));
    // Resent 0.6 s after the first attempt: before its retry (due 0.8-1.2 s
    // after it) and far enough that the resend's own retry (due 1.4-1.8 s)
    // cannot coincide with it.
    let first = receiver.requests()[0].at;
    tokio::time::sleep(
        (first + Duration::from_millis(600)).saturating_duration_since(std::time::Instant::now()),
    )
    .await;
    app.post(
        &format!("/api/v1/app/{app_id}/msg/{msg}/endpoint/{ep}/resend"),
        &json!({}),
    )
    .await
    .expect(202);
    app.wait_for_status(&app_id, &msg, &ep, 2).await;
    // Longer than any retry still scheduled (1 s + 20 % jitter).
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let attempts = app.attempts_by_msg(&app_id, &msg).await;
    let triggers: Vec<i64> = attempts
        .iter()
        .rev()
        .map(|a| a["triggerType"].as_i64().unwrap())
        .collect();
    assert_eq!(
        triggers,
        [0, 1, 0, 0],
        "oldest first: the first attempt, the resend, its two retries ({} requests)",
        receiver.count()
    );
    assert_eq!(receiver.count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_during_an_attempt_does_not_send_twice_at_once() {
    // The first attempt takes 1 s to fail; a resend arrives meanwhile. It may
    // be refused (409) or queued behind the attempt, but one delivery never
    // has two attempts under way, and never two retry schedules.
    let receiver = Receiver::scripted(
        vec![Reply::status(500).delay(Duration::from_secs(1))],
        Reply::status(500),
    )
    .await;
    let app = spawn_app_with(&[("retry_schedule", "500ms,500ms")]).await;
    let app_id = id(&app.create_app("resend-in-flight").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let msg = app.send_event(&app_id, "order.created").await;
    receiver.wait_for(1, WAIT).await;
    let resend = app
        .post(
            &format!("/api/v1/app/{app_id}/msg/{msg}/endpoint/{ep}/resend"),
            &json!({}),
        )
        .await;
    assert!(
        matches!(resend.status, 202 | 409),
        "resend answered {}: {}",
        resend.status,
        resend.text
    );
    app.wait_for_status(&app_id, &msg, &ep, 2).await;
    // Longer than any retry a second schedule could still have pending.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.max_in_flight(),
        1,
        "two attempts of one delivery were under way at once (resend answered {})",
        resend.status
    );
    let expected = if resend.status == 409 { 3 } else { 4 };
    assert_eq!(
        app.attempts_by_msg(&app_id, &msg).await.len(),
        expected,
        "resend answered {}; the receiver got {} requests",
        resend.status,
        receiver.count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_counted_by_endpoint_with_the_list_filters() {
    let receiver = Receiver::scripted(
        vec![
            Reply::ok(),
            Reply::ok(),
            Reply::status(500),
            Reply::status(404),
        ],
        Reply::ok(),
    )
    .await;
    let app = spawn_app_with(&[("retry_schedule", "1h")]).await;
    let app_id = id(&app.create_app("count").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    for n in 1..=4 {
        app.send_event(&app_id, "c.d").await;
        // One at a time, so the script's replies go in order.
        receiver.wait_for(n, Duration::from_secs(10)).await;
    }
    wait_until(Duration::from_secs(10), "attempts recorded", || async {
        (app.attempts_by_endpoint(&app_id, &ep).await.len() == 4).then_some(())
    })
    .await;
    let base = format!("/api/v1/app/{app_id}/attempt/endpoint/{ep}/count");
    let count = async |query: &str| app.get(&format!("{base}{query}")).await.expect(200);
    let all = count("").await;
    assert_eq!(
        (all["count"].as_u64(), all["approximated"].as_bool()),
        (Some(4), Some(false)),
        "{all}"
    );
    assert_eq!(count("?status=0").await["count"], 2);
    assert_eq!(count("?status_code_class=500").await["count"], 1);
    assert_eq!(count("?event_types=nope").await["count"], 0);
    let bad = app
        .get(&format!(
            "/api/v1/app/{app_id}/attempt/endpoint/{ep}/count?status=9"
        ))
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
}
