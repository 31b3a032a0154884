//! Payload filters (a hookd extension): only matching messages are
//! delivered, on top of event types; invalid filters are 422s naming the
//! position; the dry run says which recent messages would match.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{id, spawn_app};
use crate::receiver::Receiver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_receives_only_payloads_its_filter_matches() {
    let (big, all) = (Receiver::start().await, Receiver::start().await);
    let app = spawn_app().await;
    let app_id = id(&app.create_app("filters").await);
    let filter =
        r#"data.amount >= 100 and data.currency in ["usd", "eur"] and not exists(data.test)"#;
    let ep = app
        .create_endpoint(
            &app_id,
            json!({"url": big.url, "filterTypes": ["invoice.paid"], "filter": filter}),
        )
        .await;
    assert_eq!(ep["filter"], filter, "{ep}");
    let ep = id(&ep);
    app.create_endpoint(&app_id, json!({"url": all.url})).await;

    let mut want = BTreeSet::new();
    for (event_type, data, matches) in [
        (
            "invoice.paid",
            json!({"amount": 150, "currency": "usd"}),
            true,
        ),
        (
            "invoice.paid",
            json!({"amount": 150.5, "currency": "eur"}),
            true,
        ),
        (
            "invoice.paid",
            json!({"amount": 99, "currency": "usd"}),
            false,
        ),
        (
            "invoice.paid",
            json!({"amount": 150, "currency": "gbp"}),
            false,
        ),
        (
            "invoice.paid",
            json!({"amount": 150, "currency": "usd", "test": true}),
            false,
        ),
        ("invoice.paid", json!({"currency": "usd"}), false),
        (
            "invoice.created",
            json!({"amount": 500, "currency": "usd"}),
            false,
        ),
    ] {
        let m = app
            .send_message(
                &app_id,
                json!({"eventType": event_type, "payload": {"data": data}}),
            )
            .await;
        if matches {
            want.insert(id(&m));
        }
    }
    all.wait_for(7, Duration::from_secs(10)).await;
    big.wait_for(want.len(), Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got: BTreeSet<String> = big
        .requests()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    assert_eq!(got, want);

    // PATCH with null removes the filter: everything of the type arrives.
    let patched = app
        .patch(
            &format!("/api/v1/app/{app_id}/endpoint/{ep}"),
            &json!({"filter": null}),
        )
        .await
        .expect(200);
    assert!(patched["filter"].is_null(), "{patched}");
    app.send_message(
        &app_id,
        json!({"eventType": "invoice.paid", "payload": {"data": {}}}),
    )
    .await;
    big.wait_for(want.len() + 1, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn an_invalid_filter_is_a_422_naming_its_position() {
    let app = spawn_app().await;
    let app_id = id(&app.create_app("bad-filters").await);
    let resp = app
        .post(
            &format!("/api/v1/app/{app_id}/endpoint"),
            &json!({"url": "https://a.example.com", "filter": "data.amount >= "}),
        )
        .await;
    assert_eq!(resp.status, 422, "{}", resp.text);
    let body = resp.json();
    let d = &body["detail"][0];
    assert_eq!(d["loc"], json!(["body", "filter"]), "{body}");
    assert!(d["msg"].as_str().unwrap().contains("position 16"), "{body}");
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": "https://a.example.com"}))
        .await);
    let resp = app
        .patch(
            &format!("/api/v1/app/{app_id}/endpoint/{ep}"),
            &json!({"filter": "a == 1 or or"}),
        )
        .await;
    assert_eq!(resp.status, 422, "{}", resp.text);
    assert!(resp.text.contains("position 13"), "{}", resp.text);
    let e = app
        .get(&format!("/api/v1/app/{app_id}/endpoint/{ep}"))
        .await
        .expect(200);
    assert!(e["filter"].is_null(), "a refused filter is not stored: {e}");
}

#[tokio::test]
async fn the_dry_run_says_which_recent_messages_would_match() {
    let app = spawn_app().await;
    let app_id = id(&app.create_app("dry-run").await);
    let mut matching = BTreeSet::new();
    for n in 0..6 {
        let m = app
            .send_message(
                &app_id,
                json!({"eventType": "order.placed", "payload": {"n": n}}),
            )
            .await;
        if n % 2 == 0 {
            matching.insert(id(&m));
        }
    }
    app.send_message(&app_id, json!({"eventType": "other", "payload": {"n": 0}}))
        .await;
    let path = format!("/api/v1/app/{app_id}/endpoint/filter/test");
    let out = app
        .post(
            &path,
            &json!({"filter": "n in [0, 2, 4]", "eventTypes": ["order.placed"]}),
        )
        .await
        .expect(200);
    assert_eq!(out["tested"], 6, "{out}");
    assert_eq!(out["matched"], 3, "{out}");
    let got: BTreeSet<String> = out["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["matched"] == true)
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, matching);
    let out = app
        .post(&path, &json!({"filter": "n == 0", "limit": 2}))
        .await
        .expect(200);
    assert_eq!(out["tested"], 2, "{out}");
    let resp = app.post(&path, &json!({"filter": "n =="})).await;
    assert_eq!(resp.status, 422, "{}", resp.text);
    assert!(resp.text.contains("position 5"), "{}", resp.text);
    let resp = app
        .post(&path, &json!({"filter": "n == 1", "limit": 0}))
        .await;
    assert_eq!(resp.status, 422, "{}", resp.text);
    assert_eq!(
        app.post(
            "/api/v1/app/nope/endpoint/filter/test",
            &json!({"filter": "n == 1"})
        )
        .await
        .status,
        404
    );
}
