//! Scheduled messages (`deliverAt`): not attempted before their time, on
//! time after it, canceled while they wait, kept across a `kill -9` (in
//! `crash`), and validated.

use std::time::{Duration, Instant};

use hookd_core::time::Timestamp;
use serde_json::json;

use crate::helpers::{id, spawn_app};
use crate::receiver::{Receiver, Reply};

fn in_ms(ms: i64) -> String {
    Timestamp(Timestamp::now().0 + ms).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_message_waits_for_its_time_then_goes_out_at_once() {
    let receiver = Receiver::always(Reply::ok()).await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("sched").await);
    app.create_endpoint(&app_id, json!({"url": receiver.url}))
        .await;

    // Beyond the claimer's lookahead (2 s): held by no node until due.
    let deliver_at = Timestamp(Timestamp::now().0 + 4_000);
    let started = Instant::now();
    let m = app
        .send_message(
            &app_id,
            json!({"eventType": "a.b", "payload": {"n": 1}, "deliverAt": deliver_at.to_rfc3339()}),
        )
        .await;
    assert_eq!(m["deliverAt"], deliver_at.to_rfc3339(), "{m}");
    // And a near one, inside the lookahead: timed in memory.
    let near = Timestamp(Timestamp::now().0 + 1_000);
    let n = app
        .send_message(
            &app_id,
            json!({"eventType": "a.b", "payload": {"n": 2}, "deliverAt": near.to_rfc3339()}),
        )
        .await;
    let got = app
        .get(&format!("/api/v1/app/{app_id}/msg/{}", id(&m)))
        .await
        .expect(200);
    assert_eq!(got["deliverAt"], deliver_at.to_rfc3339(), "{got}");
    let dest = app.destinations(&app_id, &id(&m)).await;
    assert_eq!(dest[0]["status"], 1, "pending while it waits: {dest:?}");

    let first = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(first[0].header("webhook-id"), id(&n));
    let reqs = receiver.wait_for(2, Duration::from_secs(8)).await;
    let far = reqs
        .iter()
        .find(|r| r.header("webhook-id") == id(&m))
        .expect("the scheduled message arrived");
    let late = far.at.duration_since(started);
    assert!(
        late >= Duration::from_millis(3_900),
        "sent early, after {late:?}"
    );
    assert!(
        late <= Duration::from_millis(5_000),
        "sent more than a second late: {late:?}"
    );
    let near_req = reqs
        .iter()
        .find(|r| r.header("webhook-id") == id(&n))
        .unwrap();
    let near_late = near_req.at.duration_since(started);
    assert!(
        (Duration::from_millis(900)..Duration::from_millis(2_000)).contains(&near_late),
        "{near_late:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 2, "each went once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_msgs_stops_scheduled_and_retrying_deliveries() {
    let receiver = Receiver::always(Reply::status(500)).await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("cancel").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let far = app
        .send_message(
            &app_id,
            json!({"eventType": "a.b", "payload": {}, "deliverAt": in_ms(3_000)}),
        )
        .await;
    let near = app
        .send_message(
            &app_id,
            json!({"eventType": "a.b", "payload": {}, "deliverAt": in_ms(1_500)}),
        )
        .await;
    // A message sent after the cut-off is not canceled.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cutoff = Timestamp::now().to_rfc3339();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let later = app
        .send_message(
            &app_id,
            json!({"eventType": "a.b", "payload": {}, "deliverAt": in_ms(1_500)}),
        )
        .await;
    app.post(
        &format!("/api/v1/app/{app_id}/endpoint/{ep}/cancel-msgs"),
        &json!({"createdBefore": cutoff}),
    )
    .await
    .expect_empty(204);

    let reqs = receiver.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let sent: Vec<&str> = reqs.iter().map(|r| r.header("webhook-id")).collect();
    assert!(
        sent.iter().all(|s| *s == id(&later)),
        "canceled messages were sent: {sent:?}"
    );
    assert!(receiver.requests_for(&id(&far)).is_empty());
    assert!(receiver.requests_for(&id(&near)).is_empty());
    for m in [&far, &near] {
        let dest = app.destinations(&app_id, &id(m)).await;
        assert_eq!(dest[0]["status"], 4, "shown as canceled: {dest:?}");
    }
    let stats = app
        .get(&format!("/api/v1/app/{app_id}/endpoint/{ep}/stats"))
        .await
        .expect(200);
    assert_eq!(stats["canceled"], 2, "{stats}");
}

#[tokio::test]
async fn a_bad_deliver_at_names_the_field() {
    let app = spawn_app().await;
    let app_id = id(&app.create_app("v").await);
    let path = format!("/api/v1/app/{app_id}/msg");
    for bad in [json!("tomorrow"), json!(in_ms(31 * 86_400_000)), json!(12)] {
        let resp = app
            .post(
                &path,
                &json!({"eventType": "a.b", "payload": {}, "deliverAt": bad}),
            )
            .await;
        assert_eq!(resp.status, 422, "{}", resp.text);
        assert!(resp.text.contains("deliverAt"), "{}", resp.text);
    }
    // A time that has passed is delivered at once, like no time at all.
    let m = app
        .send_message(
            &app_id,
            json!({"eventType": "a.b", "payload": {}, "deliverAt": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert!(m["deliverAt"].is_null(), "{m}");
    let resp = app
        .post(
            &format!("/api/v1/app/{app_id}/endpoint/ep_nope/cancel-msgs"),
            &json!({"createdBefore": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(resp.status, 404, "{}", resp.text);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": "https://a.example.com"}))
        .await);
    let resp = app
        .post(
            &format!("/api/v1/app/{app_id}/endpoint/{ep}/cancel-msgs"),
            &json!({"createdBefore": "soon"}),
        )
        .await;
    assert_eq!(resp.status, 422, "{}", resp.text);
    assert!(resp.text.contains("createdBefore"), "{}", resp.text);
}
