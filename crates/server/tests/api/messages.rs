//! `/api/v1/app/{app}/msg`: sending (202), payload fidelity, eventId
//! uniqueness, listing with filters, size limits, implicit applications,
//! where each message is routed (destinations) and the attempt log.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, assert_validation, id, ids, send, spawn_app, spawn_app_with,
};

async fn app_with_uid(uid: &str) -> TestApp {
    let app = spawn_app().await;
    app.create_app(uid).await;
    app
}

/// GET with query parameters encoded by the client.
async fn get_query(app: &TestApp, path: &str, query: &[(&str, &str)]) -> Value {
    send(app.request(Method::GET, path).query(query))
        .await
        .expect(200)
}

#[tokio::test]
async fn create_returns_202_with_the_message() {
    let app = app_with_uid("a").await;
    let msg = app
        .send_message(
            "a",
            json!({
                "eventType": "invoice.paid",
                "eventId": "evt-1",
                "payload": {"amount": 100},
                "channels": ["eu"],
                "tags": ["t1"],
            }),
        )
        .await;
    let msg_id = id(&msg);
    assert!(msg_id.starts_with("msg_") && msg_id.len() == 31, "{msg_id}");
    assert_eq!(msg["eventType"], "invoice.paid");
    assert_eq!(msg["eventId"], "evt-1");
    assert_eq!(msg["payload"], json!({"amount": 100}));
    assert_eq!(msg["channels"], json!(["eu"]));
    assert_eq!(msg["tags"], json!(["t1"]));
    let ts = msg["timestamp"].as_str().unwrap();
    assert!(
        ts.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
        "{ts}"
    );

    let got = app
        .get(&format!("/api/v1/app/a/msg/{msg_id}"))
        .await
        .expect(200);
    assert_eq!(got, msg);
}

#[tokio::test]
async fn payload_is_returned_exactly_as_sent() {
    let app = app_with_uid("a").await;
    // Odd whitespace, keys out of order, non-ASCII text, escapes, numbers that
    // would not survive a round trip through f64 or a reformatting.
    let payload = r#"{ "z" : 1,"a":[1, 2 ,3],  "ünï":"snow ☃","esc":"\u2603\n\"q\"","n":1.50,"big":12345678901234567890,"nested":{"b":null,"a":true}}"#;
    let body = format!(
        "{{\"eventType\":\"raw.test\",\n  \"payload\":   {payload}  , \"eventId\":\"raw-1\"}}"
    );
    let resp = app.post_raw("/api/v1/app/a/msg", body).await;
    let created = resp.expect(202);
    let expected: Value = serde_json::from_str(payload).unwrap();
    assert_eq!(created["payload"], expected);

    let got = app
        .get(&format!("/api/v1/app/a/msg/{}", id(&created)))
        .await;
    assert_eq!(got.expect(200)["payload"], expected);
    // Byte for byte: the stored payload is never re-serialised (signatures
    // are computed over these bytes).
    assert!(
        got.text.contains(payload),
        "payload was rewritten: {}",
        got.text
    );
    let by_event_id = app.get("/api/v1/app/a/msg/raw-1").await;
    assert!(by_event_id.text.contains(payload), "{}", by_event_id.text);
    let list = app.get("/api/v1/app/a/msg").await;
    assert!(list.text.contains(payload), "{}", list.text);

    let without = app
        .get(&format!(
            "/api/v1/app/a/msg/{}?with_content=false",
            id(&created)
        ))
        .await
        .expect(200);
    assert_eq!(without["payload"], json!({}));
    assert_eq!(without["eventType"], "raw.test");
    let list = app
        .get("/api/v1/app/a/msg?with_content=false")
        .await
        .expect(200);
    assert_eq!(list["data"][0]["payload"], json!({}));
    // The SDKs send with_content=false on create.
    let created = app
        .post(
            "/api/v1/app/a/msg?with_content=false",
            &json!({"eventType": "raw.test", "payload": {"k": "v"}}),
        )
        .await
        .expect(202);
    assert_eq!(created["payload"], json!({}));
    let got = app
        .get(&format!("/api/v1/app/a/msg/{}", id(&created)))
        .await
        .expect(200);
    assert_eq!(got["payload"], json!({"k": "v"}));
}

#[tokio::test]
async fn data_is_an_alias_of_payload() {
    let app = app_with_uid("a").await;
    let msg = app
        .send_message("a", json!({"eventType": "x.y", "data": {"via": "data"}}))
        .await;
    assert_eq!(msg["payload"], json!({"via": "data"}));
}

#[tokio::test]
async fn duplicate_event_id_is_a_conflict() {
    let app = app_with_uid("a").await;
    let first = app
        .send_message(
            "a",
            json!({"eventType": "x.y", "eventId": "once", "payload": {"n": 1}}),
        )
        .await;
    let resp = app
        .post(
            "/api/v1/app/a/msg",
            &json!({"eventType": "x.y", "eventId": "once", "payload": {"n": 2}}),
        )
        .await;
    assert_error(&resp, 409, "conflict");
    let list = app.get("/api/v1/app/a/msg").await.expect(200);
    assert_eq!(ids(&list), vec![id(&first)]);
    assert_eq!(list["data"][0]["payload"], json!({"n": 1}));

    // eventIds are unique per application, not globally.
    app.create_app("b").await;
    app.send_message(
        "b",
        json!({"eventType": "x.y", "eventId": "once", "payload": {}}),
    )
    .await;
}

#[tokio::test]
async fn get_by_event_id() {
    let app = app_with_uid("a").await;
    let msg = app
        .send_message(
            "a",
            json!({"eventType": "x.y", "eventId": "my-event.1", "payload": {}}),
        )
        .await;
    let got = app.get("/api/v1/app/a/msg/my-event.1").await.expect(200);
    assert_eq!(id(&got), id(&msg));
}

#[tokio::test]
async fn unknown_messages_are_not_found() {
    let app = app_with_uid("a").await;
    for path in [
        "/api/v1/app/a/msg/msg_2zzzzzzzzzzzzzzzzzzzzzzzzzz",
        "/api/v1/app/a/msg/no-such-event",
        "/api/v1/app/a/msg/msg_2zzzzzzzzzzzzzzzzzzzzzzzzzz/endpoint",
        "/api/v1/app/a/attempt/msg/msg_2zzzzzzzzzzzzzzzzzzzzzzzzzz",
        "/api/v1/app/missing/msg",
        "/api/v1/app/missing/msg/msg_2zzzzzzzzzzzzzzzzzzzzzzzzzz",
    ] {
        assert_error(&app.get(path).await, 404, "not_found");
    }
    // A message is only reachable through its own application.
    let msg = app
        .send_message("a", json!({"eventType": "x.y", "payload": {}}))
        .await;
    app.create_app("b").await;
    assert_error(
        &app.get(&format!("/api/v1/app/b/msg/{}", id(&msg))).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn list_is_newest_first_and_filters() {
    let app = app_with_uid("a").await;
    let mut sent = Vec::new();
    for body in [
        json!({"eventType": "type.a", "payload": {"i": 1}, "channels": ["ch1"]}),
        json!({"eventType": "type.b", "payload": {"i": 2}, "channels": ["ch2", "ch1x"]}),
        json!({"eventType": "type.a", "payload": {"i": 3}}),
    ] {
        sent.push(app.send_message("a", body).await);
        // Distinct millisecond timestamps for the before/after filters.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent_ids: Vec<String> = sent.iter().map(id).collect();
    let (m1, m2, m3) = (
        sent_ids[0].as_str(),
        sent_ids[1].as_str(),
        sent_ids[2].as_str(),
    );
    let path = "/api/v1/app/a/msg";

    let all = app.get(path).await.expect(200);
    assert_eq!(ids(&all), [m3, m2, m1]);
    assert_eq!(all["done"], true);

    let q = |query: &'static [(&'static str, &'static str)]| get_query(&app, path, query);
    assert_eq!(ids(&q(&[("event_types", "type.a")]).await), [m3, m1]);
    assert_eq!(
        ids(&q(&[("event_types", "type.a,type.b")]).await),
        [m3, m2, m1]
    );
    assert_eq!(
        ids(&q(&[("event_types", "type.b"), ("event_types", "type.a")]).await),
        [m3, m2, m1]
    );
    // The Python SDK sends an empty value for "no filter".
    assert_eq!(ids(&q(&[("event_types", "")]).await), [m3, m2, m1]);
    assert_eq!(
        ids(&q(&[("event_types", "type.c")]).await),
        Vec::<String>::new()
    );
    assert_eq!(ids(&q(&[("channel", "ch1")]).await), [m1]);
    assert_eq!(ids(&q(&[("channel", "ch2")]).await), [m2]);
    assert_eq!(ids(&q(&[("channel", "nope")]).await), Vec::<String>::new());
    assert_eq!(
        ids(&q(&[("channel", "ch1"), ("event_types", "type.b")]).await),
        Vec::<String>::new()
    );

    let ts = |m: &Value| m["timestamp"].as_str().unwrap().to_string();
    let (t1, t2, t3) = (ts(&sent[0]), ts(&sent[1]), ts(&sent[2]));
    let before2 = get_query(&app, path, &[("before", &t2)]).await;
    assert_eq!(ids(&before2), [m1]);
    let after2 = get_query(&app, path, &[("after", &t2)]).await;
    assert_eq!(ids(&after2), [m3]);
    let between = get_query(&app, path, &[("after", &t1), ("before", &t3)]).await;
    assert_eq!(ids(&between), [m2]);
    // Datetimes without an offset (the Python SDK sends those) are UTC.
    let naive = get_query(&app, path, &[("after", "2000-01-01T00:00:00")]).await;
    assert_eq!(ids(&naive), [m3, m2, m1]);
    let none = get_query(&app, path, &[("before", "2000-01-01T00:00:00+00:00")]).await;
    assert_eq!(ids(&none), Vec::<String>::new());

    // Pagination, newest first.
    let p1 = app.get(&format!("{path}?limit=2")).await.expect(200);
    assert_eq!(ids(&p1), [m3, m2]);
    assert_eq!(p1["done"], false);
    let it = p1["iterator"].as_str().unwrap();
    let p2 = app
        .get(&format!("{path}?limit=2&iterator={it}"))
        .await
        .expect(200);
    assert_eq!(ids(&p2), [m1]);
    assert_eq!(p2["done"], true);
    let filtered = get_query(&app, path, &[("limit", "1"), ("event_types", "type.a")]).await;
    assert_eq!(ids(&filtered), [m3]);
    assert_eq!(filtered["done"], false);
    let it = filtered["iterator"].as_str().unwrap();
    let next = get_query(
        &app,
        path,
        &[("limit", "1"), ("event_types", "type.a"), ("iterator", it)],
    )
    .await;
    assert_eq!(ids(&next), [m1]);

    let resp = send(
        app.request(Method::GET, path)
            .query(&[("before", "yesterday")]),
    )
    .await;
    assert_validation(&resp, json!(["query", "before"]));
}

#[tokio::test]
async fn payload_must_be_an_object() {
    let app = app_with_uid("a").await;
    for payload in [json!([1, 2]), json!("text"), json!(5), json!(true)] {
        let resp = app
            .post(
                "/api/v1/app/a/msg",
                &json!({"eventType": "x.y", "payload": payload}),
            )
            .await;
        assert_validation(&resp, json!(["body", "payload"]));
    }
    let resp = app
        .post("/api/v1/app/a/msg", &json!({"eventType": "x.y"}))
        .await;
    assert_validation(&resp, json!(["body", "payload"]));
    let resp = app.post("/api/v1/app/a/msg", &json!({"payload": {}})).await;
    assert_validation(&resp, json!(["body", "eventType"]));
    let resp = app
        .post(
            "/api/v1/app/a/msg",
            &json!({"eventType": "not valid", "payload": {}, "channels": ["ok", "not ok"],
                    "eventId": "has space", "tags": ["a", "b", "c", "d", "e", "f"]}),
        )
        .await;
    assert_validation(&resp, json!(["body", "eventType"]));
    assert_validation(&resp, json!(["body", "channels", 1]));
    assert_validation(&resp, json!(["body", "eventId"]));
    assert_validation(&resp, json!(["body", "tags"]));
    let list = app.get("/api/v1/app/a/msg").await.expect(200);
    assert_eq!(ids(&list), Vec::<String>::new());
}

#[tokio::test]
async fn payloads_above_the_limit_are_413() {
    let app = spawn_app_with(&[("max_payload_bytes", "1024")]).await;
    app.create_app("a").await;

    let fits = json!({"s": "x".repeat(1000)});
    app.send_message("a", json!({"eventType": "x.y", "payload": fits}))
        .await;

    let big = json!({"s": "x".repeat(2000)});
    let resp = app
        .post(
            "/api/v1/app/a/msg",
            &json!({"eventType": "x.y", "payload": big}),
        )
        .await;
    assert_error(&resp, 413, "payload_too_large");

    // A body beyond what the server reads at all is a JSON 413 as well.
    let huge = json!({"s": "x".repeat(1_200_000)});
    let resp = app
        .post(
            "/api/v1/app/a/msg",
            &json!({"eventType": "x.y", "payload": huge}),
        )
        .await;
    assert_error(&resp, 413, "payload_too_large");

    // Neither was stored, nor did either create the application it named.
    let list = app.get("/api/v1/app/a/msg").await.expect(200);
    assert_eq!(ids(&list).len(), 1);
    let resp = app
        .post(
            "/api/v1/app/not-created/msg",
            &json!({"eventType": "x.y", "payload": {"s": "x".repeat(2000)},
                    "application": {"name": "Nope"}}),
        )
        .await;
    assert_error(&resp, 413, "payload_too_large");
    assert_error(&app.get("/api/v1/app/not-created").await, 404, "not_found");
}

#[tokio::test]
async fn the_application_field_creates_the_application() {
    let app = spawn_app().await;
    let resp = app
        .post(
            "/api/v1/app/no-app/msg",
            &json!({"eventType": "x.y", "payload": {}}),
        )
        .await;
    assert_error(&resp, 404, "not_found");

    let msg = app
        .send_message(
            "implicit",
            json!({"eventType": "x.y", "payload": {"n": 1},
                   "application": {"name": "Implicit", "metadata": {"m": "1"}}}),
        )
        .await;
    let created = app.get("/api/v1/app/implicit").await.expect(200);
    assert_eq!(created["uid"], "implicit");
    assert_eq!(created["name"], "Implicit");
    assert_eq!(created["metadata"], json!({"m": "1"}));
    let list = app.get("/api/v1/app/implicit/msg").await.expect(200);
    assert_eq!(ids(&list), vec![id(&msg)]);

    // Once it exists, the field is ignored: same application, unchanged.
    app.send_message(
        "implicit",
        json!({"eventType": "x.y", "payload": {"n": 2}, "application": {"name": "Renamed"}}),
    )
    .await;
    assert_eq!(app.get("/api/v1/app/implicit").await.expect(200), created);
    let apps = app.get("/api/v1/app").await.expect(200);
    assert_eq!(ids(&apps), vec![id(&created)]);
}

#[tokio::test]
async fn an_invalid_request_leaves_no_application_behind() {
    let app = spawn_app().await;
    let resp = app
        .post(
            "/api/v1/app/left-behind/msg",
            &json!({"eventType": "not valid", "payload": {}, "application": {"name": "X"}}),
        )
        .await;
    assert_validation(&resp, json!(["body", "eventType"]));
    let resp = app
        .post(
            "/api/v1/app/left-behind/msg",
            &json!({"eventType": "x.y", "payload": [1], "application": {"name": "X"}}),
        )
        .await;
    assert_validation(&resp, json!(["body", "payload"]));
    let resp = app
        .post(
            "/api/v1/app/left-behind/msg",
            &json!({"eventType": "x.y", "payload": {}, "application": {"name": ""}}),
        )
        .await;
    assert_validation(&resp, json!(["body", "application", "name"]));

    assert_error(&app.get("/api/v1/app/left-behind").await, 404, "not_found");
    let apps = app.get("/api/v1/app").await.expect(200);
    assert_eq!(ids(&apps), Vec::<String>::new());
}

/// A server whose deliveries fail fast and are not retried during a test:
/// endpoints get `.invalid` URLs (RFC 6761: never resolves, so nothing leaves
/// the machine but a DNS query), and the first retry is an hour away. After
/// its first attempt, a delivery is therefore `pending` for the whole test.
async fn app_with_held_retries() -> TestApp {
    let app = spawn_app_with(&[("retry_schedule", "1h"), ("request_timeout_secs", "5")]).await;
    app.create_app("a").await;
    app
}

fn undeliverable(name: &str) -> String {
    format!("https://{name}.hookd-test.invalid/hook")
}

/// Waits until the message has `n` attempts (the engine makes the first one
/// at once) and returns them.
async fn wait_for_attempts(app: &TestApp, msg_id: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list = app
            .get(&format!("/api/v1/app/a/attempt/msg/{msg_id}"))
            .await
            .expect(200);
        let data = list["data"].as_array().unwrap().clone();
        if data.len() >= n {
            assert_eq!(data.len(), n, "more attempts than destinations: {list}");
            return data;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{msg_id}: {} of {n} attempts after 30 s",
            data.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const STATUS_TEXT: [&str; 4] = ["success", "pending", "fail", "sending"];

/// `status` is a MessageStatus and `statusText` its name.
#[track_caller]
fn assert_status_pair(v: &Value) {
    let status = v["status"]
        .as_u64()
        .unwrap_or_else(|| panic!("no status: {v}"));
    assert_eq!(v["statusText"], STATUS_TEXT[status as usize], "{v}");
}

#[tokio::test]
async fn destinations_follow_filter_types_channels_and_disabled() {
    let app = app_with_held_retries().await;
    let ep = |name: &str, extra: Value| {
        let app = &app;
        let mut body = json!({"url": undeliverable(name)});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        async move { id(&app.create_endpoint("a", body).await) }
    };
    let all = ep("all", json!({})).await;
    let typed = ep("typed", json!({"filterTypes": ["order.created"]})).await;
    let other_type = ep("other", json!({"eventTypes": ["other.type"]})).await;
    let eu = ep("eu", json!({"channels": ["eu"]})).await;
    let disabled = ep("off", json!({"disabled": true})).await;
    let us = ep("us", json!({"channels": ["us"]})).await;

    let m1 = app
        .send_message(
            "a",
            json!({"eventType": "order.created", "eventId": "e1", "payload": {}, "channels": ["eu"]}),
        )
        .await;
    let m2 = app
        .send_message("a", json!({"eventType": "order.deleted", "payload": {}}))
        .await;

    // Routing is decided when the message is stored: exact at once.
    let expected_m1 = [all.as_str(), typed.as_str(), eu.as_str()];
    let dests = app
        .get(&format!("/api/v1/app/a/msg/{}/endpoint", id(&m1)))
        .await
        .expect(200);
    assert_eq!(ids(&dests), expected_m1);
    assert_eq!(dests["done"], true);
    for d in dests["data"].as_array().unwrap() {
        assert_status_pair(d);
        assert!(d["url"].is_string() && d["createdAt"].is_string(), "{d}");
        assert!(
            d.get("eventTypes").is_some() && d.get("filterTypes").is_some(),
            "{d}"
        );
    }
    let by_event_id = app.get("/api/v1/app/a/msg/e1/endpoint").await.expect(200);
    assert_eq!(ids(&by_event_id), expected_m1);
    let dests = app
        .get(&format!("/api/v1/app/a/msg/{}/endpoint", id(&m2)))
        .await
        .expect(200);
    assert_eq!(ids(&dests), [all.as_str()]);

    // Once the first attempts failed, every destination waits for its retry.
    wait_for_attempts(&app, &id(&m1), 3).await;
    wait_for_attempts(&app, &id(&m2), 1).await;
    let dests = app
        .get(&format!("/api/v1/app/a/msg/{}/endpoint", id(&m1)))
        .await
        .expect(200);
    assert_eq!(ids(&dests), expected_m1);
    let soon = chrono::Utc::now() + chrono::Duration::minutes(30);
    for d in dests["data"].as_array().unwrap() {
        assert_eq!(d["status"], 1, "{d}");
        assert_eq!(d["statusText"], "pending", "{d}");
        let next = d["nextAttempt"].as_str().unwrap_or_else(|| panic!("{d}"));
        let next = chrono::DateTime::parse_from_rfc3339(next).unwrap();
        assert!(next > soon, "the retry is an hour away: {d}");
    }

    // The other side: messages per endpoint, newest first, with their state.
    let per_ep = |ep: String, query: &'static str| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/app/a/endpoint/{ep}/msg{query}"))
                .await
                .expect(200)
        }
    };
    let got = per_ep(all.clone(), "").await;
    assert_eq!(ids(&got), [id(&m2), id(&m1)]);
    for m in got["data"].as_array().unwrap() {
        assert_eq!(m["status"], 1, "{m}");
        assert_eq!(m["statusText"], "pending", "{m}");
    }
    assert_eq!(ids(&per_ep(eu, "").await), [id(&m1)]);
    for ep in [other_type, disabled, us] {
        assert_eq!(ids(&per_ep(ep, "").await), Vec::<String>::new());
    }
    assert_eq!(ids(&per_ep(all.clone(), "?status=1").await).len(), 2);
    assert_eq!(
        ids(&per_ep(all.clone(), "?status=0").await),
        Vec::<String>::new()
    );
    let typed_only = per_ep(all, "?event_types=order.created").await;
    assert_eq!(ids(&typed_only), [id(&m1)]);
}

#[tokio::test]
async fn attempts_are_listed_by_endpoint_and_by_message() {
    let app = app_with_held_retries().await;
    let ep = app
        .create_endpoint("a", json!({"url": undeliverable("attempts")}))
        .await;
    let ep_id = id(&ep);
    let empty = json!({"data": [], "iterator": null, "prevIterator": null, "done": true});
    let by_ep_path = format!("/api/v1/app/a/attempt/endpoint/{ep_id}");
    assert_eq!(app.get(&by_ep_path).await.expect(200), empty);

    let msg = app
        .send_message("a", json!({"eventType": "x.y", "payload": {"n": 1}}))
        .await;
    let msg_id = id(&msg);
    let attempts = wait_for_attempts(&app, &msg_id, 1).await;
    let a = &attempts[0];
    let attempt_id = id(a);
    assert!(attempt_id.starts_with("atmpt_"), "{a}");
    assert_eq!(a["msgId"], msg_id.as_str());
    assert_eq!(a["endpointId"], ep_id.as_str());
    assert_eq!(a["url"], undeliverable("attempts"));
    assert_eq!(a["status"], 2, "{a}");
    assert_eq!(a["statusText"], "fail", "{a}");
    assert_eq!(a["triggerType"], 0, "{a}");
    assert_eq!(a["responseStatusCode"], 0, "no HTTP response: {a}");
    assert!(a["errorClass"].is_string(), "{a}");
    assert!(
        a["response"].is_string() && a["responseDurationMs"].is_number(),
        "{a}"
    );
    assert!(a["timestamp"].is_string(), "{a}");

    let by_ep = app.get(&by_ep_path).await.expect(200);
    assert_eq!(ids(&by_ep), [attempt_id.as_str()]);
    assert_eq!(by_ep["done"], true);

    let by_msg = format!("/api/v1/app/a/attempt/msg/{msg_id}");
    for (query, expected) in [
        (format!("?endpoint_id={ep_id}"), 1),
        ("?endpoint_id=ep_2zzzzzzzzzzzzzzzzzzzzzzzzzz".to_string(), 0),
        ("?status=2".to_string(), 1),
        ("?status=0".to_string(), 0),
        ("?status_code_class=0".to_string(), 1),
        ("?status_code_class=200".to_string(), 0),
    ] {
        let list = app.get(&format!("{by_msg}{query}")).await.expect(200);
        assert_eq!(ids(&list).len(), expected, "{query}: {list}");
    }
    let resp = app.get(&format!("{by_msg}?status=7")).await;
    assert_validation(&resp, json!(["query", "status"]));
    let resp = app.get(&format!("{by_msg}?status_code_class=250")).await;
    assert_validation(&resp, json!(["query", "status_code_class"]));

    let without = app
        .get(&format!("{by_msg}?with_content=false"))
        .await
        .expect(200);
    assert_eq!(without["data"][0]["response"], "{}");
    let with_msg = app
        .get(&format!("{by_ep_path}?with_msg=true"))
        .await
        .expect(200);
    assert_eq!(with_msg["data"][0]["msg"]["id"], msg_id.as_str());
    assert_eq!(with_msg["data"][0]["msg"]["payload"], json!({"n": 1}));

    let one = app
        .get(&format!("/api/v1/app/a/msg/{msg_id}/attempt/{attempt_id}"))
        .await
        .expect(200);
    for field in [
        "id",
        "msgId",
        "endpointId",
        "url",
        "status",
        "statusText",
        "responseStatusCode",
    ] {
        assert_eq!(one[field], a[field], "{field}");
    }

    assert_error(
        &app.get("/api/v1/app/a/attempt/endpoint/ep_2zzzzzzzzzzzzzzzzzzzzzzzzzz")
            .await,
        404,
        "not_found",
    );
    assert_error(
        &app.get(&format!(
            "/api/v1/app/a/msg/{msg_id}/attempt/atmpt_2zzzzzzzzzzzzzzzzzzzzzzzzzz"
        ))
        .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn the_application_field_must_agree_with_the_path() {
    let app = spawn_app().await;
    let resp = app
        .post(
            "/api/v1/app/path-uid/msg",
            &json!({"eventType": "x.y", "payload": {},
                    "application": {"name": "N", "uid": "body-uid"}}),
        )
        .await;
    assert_validation(&resp, json!(["body", "application", "uid"]));
    // An id in the path cannot name an application to create.
    let resp = app
        .post(
            "/api/v1/app/app_2zzzzzzzzzzzzzzzzzzzzzzzzzz/msg",
            &json!({"eventType": "x.y", "payload": {}, "application": {"name": "N"}}),
        )
        .await;
    assert_error(&resp, 404, "not_found");
    let resp = app
        .post(
            "/api/v1/app/bad%20uid/msg",
            &json!({"eventType": "x.y", "payload": {}, "application": {"name": "N"}}),
        )
        .await;
    assert_validation(&resp, json!(["path", "app_id"]));
    for uid in ["path-uid", "body-uid", "bad uid"] {
        let apps = app.get("/api/v1/app").await.expect(200);
        assert!(
            apps["data"].as_array().is_some_and(|a| a.is_empty()),
            "no application may be created ({uid}): {apps}"
        );
    }
}

#[tokio::test]
async fn precheck_says_whether_an_enabled_endpoint_would_take_the_message() {
    let app = spawn_app().await;
    let a = id(&app.create_app("pre").await);
    let path = format!("/api/v1/app/{a}/msg/precheck/active");
    let active = |body: Value| {
        let (app, path) = (&app, &path);
        async move { app.post(path, &body).await.expect(200)["active"].clone() }
    };
    assert_eq!(
        active(json!({"eventType": "a.b"})).await,
        false,
        "no endpoints"
    );
    let ep = id(&app
        .create_endpoint(
            &a,
            json!({"url": "https://a.example.com", "filterTypes": ["a.b"], "channels": ["x"]}),
        )
        .await);
    assert_eq!(
        active(json!({"eventType": "a.b"})).await,
        false,
        "the endpoint wants channel x"
    );
    assert_eq!(
        active(json!({"eventType": "a.b", "channels": ["x"]})).await,
        true
    );
    assert_eq!(
        active(json!({"eventType": "c.d", "channels": ["x"]})).await,
        false
    );
    app.patch(
        &format!("/api/v1/app/{a}/endpoint/{ep}"),
        &json!({"disabled": true}),
    )
    .await
    .expect(200);
    assert_eq!(
        active(json!({"eventType": "a.b", "channels": ["x"]})).await,
        false,
        "disabled"
    );
    let resp = app.post(&path, &json!({"eventType": "bad type!"})).await;
    assert_eq!(resp.status, 422, "{}", resp.text);
    assert!(resp.text.contains("eventType"), "{}", resp.text);
    assert_eq!(
        app.post(
            "/api/v1/app/nope/msg/precheck/active",
            &json!({"eventType": "a"})
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn the_events_stream_reads_messages_oldest_first_and_polls_on() {
    let app = spawn_app().await;
    let a = id(&app.create_app("ev").await);
    let mut sent = Vec::new();
    for (t, ch) in [("a.b", "x"), ("c.d", "y"), ("a.b", "z")] {
        sent.push(id(&app
            .send_message(&a, json!({"eventType": t, "payload": {}, "channels": [ch]}))
            .await));
    }
    // Messages show once they are a second old.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let path = format!("/api/v1/app/{a}/events");
    let first = app.get(&path).await.expect(200);
    assert_eq!(ids(&first), sent, "oldest first: {first}");
    assert_eq!(first["done"], true);
    let it = first["iterator"].as_str().unwrap().to_string();
    assert_eq!(it, sent[2]);

    // Nothing new: the same iterator back, done.
    let idle = get_query(&app, &path, &[("iterator", &it)]).await;
    assert!(ids(&idle).is_empty(), "{idle}");
    assert_eq!(idle["iterator"], it.as_str());
    let next = id(&app
        .send_message(&a, json!({"eventType": "a.b", "payload": {}}))
        .await);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let more = get_query(&app, &path, &[("iterator", &it)]).await;
    assert_eq!(ids(&more), vec![next.clone()]);

    // Pages, and filters.
    let page = get_query(&app, &path, &[("limit", "2")]).await;
    assert_eq!(
        (ids(&page), page["done"].as_bool()),
        (sent[..2].to_vec(), Some(false))
    );
    let typed = get_query(&app, &path, &[("event_types", "a.b")]).await;
    assert_eq!(
        ids(&typed),
        vec![sent[0].clone(), sent[2].clone(), next.clone()]
    );
    let chans = get_query(&app, &path, &[("channels", "y,z")]).await;
    assert_eq!(ids(&chans), vec![sent[1].clone(), sent[2].clone()]);
    let one = get_query(&app, &path, &[("channels", "x")]).await;
    assert_eq!(ids(&one), vec![sent[0].clone()]);
    let empty = app
        .get(&format!(
            "/api/v1/app/{}/events",
            id(&app.create_app("none").await)
        ))
        .await
        .expect(200);
    assert!(ids(&empty).is_empty());
    let it = empty["iterator"].as_str().unwrap().to_string();
    get_query(
        &app,
        &format!("/api/v1/app/{a}/events"),
        &[("iterator", &it)],
    )
    .await;
    let bad = app.get(&format!("{path}?iterator=nonsense")).await;
    assert_eq!(bad.status, 422, "{}", bad.text);
}

#[tokio::test]
async fn the_raw_payload_is_the_bytes_received() {
    let app = spawn_app().await;
    let a = id(&app.create_app("raw").await);
    let body = r#"{"eventType":"a.b","eventId":"e-1","payload":{"b": 1,  "a":[1.50, "é"]}}"#;
    let m = app
        .post_raw(&format!("/api/v1/app/{a}/msg"), body)
        .await
        .expect(202);
    let raw = app
        .get(&format!("/api/v1/app/{a}/msg/{}/raw", id(&m)))
        .await
        .expect(200);
    assert_eq!(raw["payload"], r#"{"b": 1,  "a":[1.50, "é"]}"#);
    let by_event = app
        .get(&format!("/api/v1/app/{a}/msg/e-1/raw"))
        .await
        .expect(200);
    assert_eq!(by_event, raw);
    assert_error(
        &app.get(&format!("/api/v1/app/{a}/msg/msg_nope/raw")).await,
        404,
        "not_found",
    );
}
