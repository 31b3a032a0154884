//! Operational webhooks configured through Svix's
//! `/api/v1/operational-webhook/endpoint` routes receive hookd's operational
//! events for real: signed with that endpoint's secret, filtered by its
//! `eventTypes`, and carrying its custom headers.

use std::time::Duration;

use hookd_webhooks::Verifier;
use serde_json::json;

use crate::helpers::{id, spawn_app_with, wait_until};
use crate::receiver::{Receiver, Reply};

const WAIT: Duration = Duration::from_secs(10);
const BASE: &str = "/api/v1/operational-webhook/endpoint";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_webhook_endpoints_receive_signed_operational_events() {
    let failing = Receiver::always(Reply::status(500)).await;
    let operator = Receiver::start().await;
    let disabled_only = Receiver::start().await;
    let gone = Receiver::always(Reply::status(410)).await;
    let app = spawn_app_with(&[("retry_schedule", "100ms,100ms")]).await;

    // No operational application exists: the API makes it.
    let ops = app
        .post(
            BASE,
            &json!({"url": operator.url, "headers": {"X-Ops": "pager"}}),
        )
        .await
        .expect(201);
    let ops_id = ops["id"].as_str().unwrap().to_string();
    let ops_secret = app
        .get(&format!("{BASE}/{ops_id}/secret"))
        .await
        .expect(200)["key"]
        .as_str()
        .unwrap()
        .to_string();
    let only = app
        .post(
            BASE,
            &json!({"url": disabled_only.url, "eventTypes": ["endpoint.disabled"]}),
        )
        .await
        .expect(201);
    assert_eq!(only["eventTypes"], json!(["endpoint.disabled"]));

    let app_id = id(&app.create_app("customer").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": failing.url}))
        .await);
    let msg = app.send_event(&app_id, "invoice.paid").await;

    let exhausted = wait_until(WAIT, "message.attempt.exhausted", || async {
        operator
            .requests()
            .into_iter()
            .find(|r| r.json()["type"] == "message.attempt.exhausted")
    })
    .await;
    let body = exhausted.json();
    assert_eq!(body["data"]["msgId"], msg.as_str(), "{body}");
    assert_eq!(body["data"]["endpointId"], ep.as_str(), "{body}");
    assert_eq!(body["data"]["appId"], app_id.as_str(), "{body}");
    assert_eq!(exhausted.header("x-ops"), "pager");
    Verifier::new(&ops_secret)
        .unwrap()
        .verify(
            exhausted.header("webhook-id"),
            exhausted.header("webhook-timestamp"),
            exhausted.header("webhook-signature"),
            &exhausted.body,
        )
        .expect("signed with the operational-webhook endpoint's secret");

    // An endpoint answering 410 is disabled at once; both operators hear it.
    let gone_ep = id(&app.create_endpoint(&app_id, json!({"url": gone.url})).await);
    app.send_event(&app_id, "invoice.paid").await;
    let disabled = wait_until(WAIT, "endpoint.disabled", || async {
        disabled_only
            .requests()
            .into_iter()
            .find(|r| r.json()["type"] == "endpoint.disabled")
    })
    .await;
    assert_eq!(disabled.json()["data"]["endpointId"], gone_ep.as_str());
    wait_until(
        WAIT,
        "endpoint.disabled at the catch-all endpoint",
        || async {
            operator
                .requests()
                .into_iter()
                .find(|r| r.json()["type"] == "endpoint.disabled")
        },
    )
    .await;
    let only_secret = app
        .get(&format!("{BASE}/{}/secret", only["id"].as_str().unwrap()))
        .await
        .expect(200)["key"]
        .as_str()
        .unwrap()
        .to_string();
    Verifier::new(&only_secret)
        .unwrap()
        .verify(
            disabled.header("webhook-id"),
            disabled.header("webhook-timestamp"),
            disabled.header("webhook-signature"),
            &disabled.body,
        )
        .expect("signed with its own endpoint's secret");
    // eventTypes filters: nothing but endpoint.disabled reached it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        disabled_only
            .requests()
            .iter()
            .all(|r| r.json()["type"] == "endpoint.disabled"),
        "{:?}",
        disabled_only
            .requests()
            .iter()
            .map(|r| r.json()["type"].clone())
            .collect::<Vec<_>>()
    );

    // A deleted operational endpoint receives nothing more (after the
    // second message's retries, whose events may still be on their way).
    tokio::time::sleep(Duration::from_millis(700)).await;
    app.delete(&format!("{BASE}/{ops_id}"))
        .await
        .expect_empty(204);
    let before = operator.count();
    let ep2 = id(&app.create_endpoint(&app_id, json!({"url": gone.url})).await);
    let _ = app.send_event(&app_id, "invoice.paid").await;
    wait_until(WAIT, "the second endpoint's disabling", || async {
        disabled_only
            .requests()
            .into_iter()
            .find(|r| r.json()["data"]["endpointId"] == ep2.as_str())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(operator.count(), before, "deleted endpoints get no events");
}
