//! The smaller Svix operations of issue #14 over HTTP: attempt headers and
//! content (their errors; delivery tests cover the contents), the
//! rate-limit status, attempt statistics and the organisation's events stream.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const NO_ATTEMPT: &str = "atmpt_2zzzzzzzzzzzzzzzzzzzzzzzzzz";
const NO_MSG: &str = "msg_2zzzzzzzzzzzzzzzzzzzzzzzzzz";

fn undeliverable(name: &str) -> String {
    format!("https://{name}.hookd-test.invalid/hook")
}

/// An app `a` whose endpoint fails at once (no retry before an hour); returns
/// the server, the endpoint and the message with its one attempt.
async fn failed_attempt() -> (TestApp, String, String, String) {
    let app = spawn_app_with(&[("retry_schedule", "1h"), ("request_timeout_secs", "5")]).await;
    app.create_app("a").await;
    let ep = id(&app
        .create_endpoint("a", json!({"url": undeliverable("stats")}))
        .await);
    let msg = id(&app
        .send_message("a", json!({"eventType": "order.paid", "payload": {"n": 1}}))
        .await);
    let attempt = wait_until(Duration::from_secs(30), "the first attempt", || async {
        app.attempts_by_msg("a", &msg).await.first().map(id)
    })
    .await;
    (app, ep, msg, attempt)
}

#[tokio::test]
async fn attempt_headers_and_content_answer_404_and_401() {
    let (app, _, msg, attempt) = failed_attempt().await;
    for suffix in ["headers", "content"] {
        let method = if suffix == "headers" {
            Method::GET
        } else {
            Method::DELETE
        };
        for (path, what) in [
            (
                format!("/api/v1/app/a/msg/{msg}/attempt/{NO_ATTEMPT}/{suffix}"),
                "attempt",
            ),
            (
                format!("/api/v1/app/a/msg/{NO_MSG}/attempt/{attempt}/{suffix}"),
                "message",
            ),
            (
                format!("/api/v1/app/nope/msg/{msg}/attempt/{attempt}/{suffix}"),
                "application",
            ),
        ] {
            let r = send(app.request(method.clone(), &path)).await;
            let body = assert_error(&r, 404, "not_found");
            assert!(body["detail"].as_str().unwrap().contains(what), "{body}");
        }
        let path = format!("/api/v1/app/a/msg/{msg}/attempt/{attempt}/{suffix}");
        assert_error(
            &send(app.anonymous(method.clone(), &path)).await,
            401,
            "authentication_failed",
        );
    }
    // No response: no response headers, but the sent ones are there.
    let h = app
        .get(&format!(
            "/api/v1/app/a/msg/{msg}/attempt/{attempt}/headers"
        ))
        .await
        .expect(200);
    assert_eq!(h["responseHeaders"], Value::Null, "{h}");
    assert_eq!(h["sentHeaders"]["webhook-id"], msg.as_str());
    assert_eq!(h["sensitive"], json!([]));
}

#[tokio::test]
async fn rate_limit_status_of_an_idle_endpoint_is_ok() {
    let app = spawn_app().await;
    app.create_app("a").await;
    let ep = id(&app
        .create_endpoint("a", json!({"url": undeliverable("rl"), "rateLimit": 3}))
        .await);
    let path = format!("/api/v1/app/a/endpoint/{ep}/rate-limit-status");
    assert_eq!(
        app.get(&path).await.expect(200),
        json!({"status": "Ok", "throttledSince": null})
    );
    let r = app
        .get("/api/v1/app/a/endpoint/ep_2zzzzzzzzzzzzzzzzzzzzzzzzzz/rate-limit-status")
        .await;
    assert_error(&r, 404, "not_found");
    assert_error(
        &send(app.anonymous(Method::GET, &path)).await,
        401,
        "authentication_failed",
    );
}

#[tokio::test]
async fn attempt_statistics_count_per_period_and_per_event_type() {
    let (app, _, _, _) = failed_attempt().await;
    let now = chrono::Utc::now();
    let iso =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (since, until) = (
        iso(now - chrono::Duration::hours(2)),
        iso(now + chrono::Duration::hours(1)),
    );

    let s = app
        .get(&format!(
            "/api/v1/stats/app/a/attempt?startDate={since}&endDate={until}&period=OneHour"
        ))
        .await
        .expect(200);
    assert_eq!(s["period"], "OneHour");
    let fails = s["data"]["failureCount"]
        .as_array()
        .expect("failureCount")
        .clone();
    assert!((3..=4).contains(&fails.len()), "one point per hour: {s}");
    assert_eq!(
        fails.iter().map(|v| v.as_i64().unwrap()).sum::<i64>(),
        1,
        "{s}"
    );
    assert!(
        s["data"]["successCount"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v == 0),
        "{s}"
    );
    assert_eq!(
        s["data"]["canceledCount"].as_array().unwrap().len(),
        fails.len()
    );
    // Points start on whole hours.
    let start = chrono::DateTime::parse_from_rfc3339(s["startDate"].as_str().unwrap()).unwrap();
    assert_eq!(start.timestamp() % 3600, 0, "{s}");
    // The event-type filter takes the other path: the same count, or none.
    let typed = |t: &str| {
        format!(
            "/api/v1/stats/app/a/attempt?startDate={since}&endDate={until}&period=OneHour&event_types={t}"
        )
    };
    let same = app.get(&typed("order.paid")).await.expect(200);
    assert_eq!(same["data"], s["data"]);
    let none = app.get(&typed("other.type")).await.expect(200);
    assert!(
        none["data"]["failureCount"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v == 0),
        "{none}"
    );
    // Defaults: the last 28 days by day.
    let d = app.get("/api/v1/stats/app/a/attempt").await.expect(200);
    assert_eq!(d["period"], "OneDay");
    assert!(
        (28..=29).contains(&d["data"]["failureCount"].as_array().unwrap().len()),
        "{d}"
    );

    let per_type = app
        .get(&format!(
            "/api/v1/app/a/stats/attempts?since={since}&until={until}"
        ))
        .await
        .expect(200);
    assert_eq!(per_type["total_failure"], 1, "{per_type}");
    assert_eq!(per_type["total_success"], 0);
    assert_eq!(per_type["total_canceled"], 0);
    assert_eq!(
        per_type["by_event_type"],
        json!({"order.paid": {"success": 0, "failure": 1, "canceled": 0}})
    );
    assert!(per_type["since"].is_string() && per_type["until"].is_string());
    let earlier = app
        .get(&format!(
            "/api/v1/app/a/stats/attempts?since={since}&until={since}"
        ))
        .await
        .expect(200);
    assert_eq!(earlier["total_failure"], 0, "{earlier}");
}

#[tokio::test]
async fn attempt_statistics_name_the_bad_parameter() {
    let app = spawn_app().await;
    app.create_app("a").await;
    let r = app.get("/api/v1/stats/app/a/attempt?period=OneWeek").await;
    assert_validation(&r, json!(["query", "period"]));
    let r = app
        .get("/api/v1/stats/app/a/attempt?startDate=yesterday")
        .await;
    assert_validation(&r, json!(["query", "startDate"]));
    let r = app
        .get("/api/v1/stats/app/a/attempt?startDate=2024-01-01T00:00:00Z&endDate=2024-06-01T00:00:00Z&period=FiveMinutes")
        .await;
    assert_validation(&r, json!(["query", "startDate"]));
    let r = app
        .get("/api/v1/app/a/stats/attempts?since=2024-01-01T00:00:00Z")
        .await;
    assert_validation(&r, json!(["query", "until"]));
    let r = app.get("/api/v1/app/a/stats/attempts").await;
    assert_validation(&r, json!(["query", "since"]));
    let r = app
        .get("/api/v1/app/a/stats/attempts?since=2024-02-01T00:00:00Z&until=2024-01-01T00:00:00Z")
        .await;
    assert_validation(&r, json!(["query", "until"]));
    let r = app
        .get(
            "/api/v1/app/nope/stats/attempts?since=2024-01-01T00:00:00Z&until=2024-02-01T00:00:00Z",
        )
        .await;
    assert_error(&r, 404, "not_found");
    assert_error(
        &app.get("/api/v1/stats/app/nope/attempt").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn the_events_stream_reads_the_operational_events() {
    let app = spawn_app().await;
    // Before the operational application exists: an empty stream.
    let empty = app.get("/api/v1/events").await.expect(200);
    assert_eq!(empty["data"], json!([]));
    assert_eq!(empty["done"], true);
    assert!(empty["iterator"].is_string());

    app.create_app("hookd-operational").await;
    app.create_app("customer").await;
    let ep = id(&app
        .create_endpoint("customer", json!({"url": undeliverable("events")}))
        .await);
    let first = wait_until(
        Duration::from_secs(10),
        "endpoint.created on the stream",
        || async {
            let page = app.get("/api/v1/events").await.expect(200);
            data(&page)
                .into_iter()
                .any(|m| m["eventType"] == "endpoint.created")
                .then_some(page)
        },
    )
    .await;
    let created = data(&first)
        .into_iter()
        .find(|m| m["eventType"] == "endpoint.created")
        .unwrap();
    assert_eq!(
        created["payload"]["data"]["endpointId"],
        ep.as_str(),
        "{created}"
    );
    // Reading on from the iterator gives nothing already read.
    let iterator = first["iterator"].as_str().unwrap().to_string();
    let next = app
        .get(&format!("/api/v1/events?iterator={iterator}"))
        .await
        .expect(200);
    assert!(
        data(&next).iter().all(|m| !ids(&first).contains(&id(m))),
        "{next}"
    );
    // Filters as on the application stream.
    let other = app
        .get("/api/v1/events?event_types=endpoint.deleted")
        .await
        .expect(200);
    assert_eq!(other["data"], json!([]));

    let r = app.get("/api/v1/events?iterator=bogus").await;
    assert_validation(&r, json!(["query", "iterator"]));
    assert_error(
        &send(app.anonymous(Method::GET, "/api/v1/events")).await,
        401,
        "authentication_failed",
    );
    let (_, scoped) = app.create_token(&["--app", "customer"]).await;
    let r = send(app.request_as(&scoped, Method::GET, "/api/v1/events")).await;
    assert_eq!(r.status, 403, "{}", r.text);
}

async fn finished_task(app: &TestApp, task: &str) -> Value {
    wait_until(
        Duration::from_secs(10),
        "the broadcast task to finish",
        || async {
            let t = app
                .get(&format!("/api/v1/background-task/{task}"))
                .await
                .expect(200);
            (t["status"] != "running").then_some(t)
        },
    )
    .await
}

#[tokio::test]
async fn broadcast_sends_one_message_to_every_application() {
    let app = spawn_app().await;
    let a = id(&app.create_app("a").await);
    let b = id(&app.create_app("b").await);
    app.create_app("hookd-operational").await;
    let body = json!({"eventType": "maintenance.planned", "eventId": "evt-1", "payload": {"at": "noon"}, "channels": ["ops"]});
    let started = app.post("/api/v1/msg/broadcast", &body).await.expect(202);
    assert!(id(&started).starts_with("qtask_"), "{started}");
    assert_eq!(started["task"], "message.broadcast");
    assert!(started["updatedAt"].is_string() && started["status"].is_string());
    let t = finished_task(&app, &id(&started)).await;
    assert_eq!(t["status"], "finished", "{t}");
    let created = t["data"]["messagesCreated"]
        .as_array()
        .expect("messagesCreated")
        .clone();
    let mut apps: Vec<&str> = created
        .iter()
        .map(|c| c["appId"].as_str().unwrap())
        .collect();
    apps.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(apps, want, "every application but the operational one: {t}");
    for c in &created {
        let m = app
            .get(&format!(
                "/api/v1/app/{}/msg/{}",
                c["appId"].as_str().unwrap(),
                c["msgId"].as_str().unwrap()
            ))
            .await
            .expect(200);
        assert_eq!(m["eventType"], "maintenance.planned");
        assert_eq!(m["eventId"], "evt-1");
        assert_eq!(m["payload"], json!({"at": "noon"}));
        assert_eq!(m["channels"], json!(["ops"]));
    }
    // The same eventId again: every application already has it.
    let again = app.post("/api/v1/msg/broadcast", &body).await.expect(202);
    let t = finished_task(&app, &id(&again)).await;
    assert_eq!(t["status"], "finished", "{t}");
    assert_eq!(t["data"]["messagesCreated"], json!([]));
}

#[tokio::test]
async fn broadcast_refuses_bad_input_and_application_keys() {
    let app = spawn_app().await;
    app.create_app("a").await;
    let r = app
        .post(
            "/api/v1/msg/broadcast",
            &json!({"eventType": "bad name!", "payload": {}}),
        )
        .await;
    assert_validation(&r, json!(["body", "eventType"]));
    let r = app
        .post(
            "/api/v1/msg/broadcast",
            &json!({"eventType": "x.y", "payload": [1]}),
        )
        .await;
    assert_validation(&r, json!(["body", "payload"]));
    let r = app
        .post("/api/v1/msg/broadcast", &json!({"eventType": "x.y"}))
        .await;
    assert_validation(&r, json!(["body", "payload"]));
    let body = json!({"eventType": "x.y", "payload": {}});
    let r = send(
        app.anonymous(Method::POST, "/api/v1/msg/broadcast")
            .json(&body),
    )
    .await;
    assert_error(&r, 401, "authentication_failed");
    let (_, scoped) = app.create_token(&["--app", "a"]).await;
    let r = send(
        app.request_as(&scoped, Method::POST, "/api/v1/msg/broadcast")
            .json(&body),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Nothing was sent by the refused requests.
    assert_eq!(
        data(&app.get("/api/v1/app/a/msg").await.expect(200)),
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn test_attempt_needs_a_key() {
    let app = spawn_app().await;
    let r = send(
        app.anonymous(Method::POST, "/api/v1/app/a/endpoint/e/msg/test-attempt")
            .json(&json!({"eventType": "x.y", "payload": {}})),
    )
    .await;
    assert_error(&r, 401, "authentication_failed");
}

#[tokio::test]
async fn search_filters_messages_by_body_criteria() {
    let app = spawn_app().await;
    app.create_app("a").await;
    let send = |body: Value| {
        let app = &app;
        async move { id(&app.send_message("a", body).await) }
    };
    let m1 = send(json!({"eventType": "order.paid", "payload": {"n": 1}, "tags": ["vip"], "channels": ["eu"]})).await;
    let m2 = send(json!({"eventType": "order.paid", "payload": {"n": 2}})).await;
    let m3 = send(json!({"eventType": "user.created", "payload": {"n": 3}, "tags": ["vip"]})).await;
    let search = |body: Value| {
        let app = &app;
        async move {
            app.post("/api/v1/app/a/msg/search", &body)
                .await
                .expect(200)
        }
    };
    let all = search(json!({})).await;
    assert_eq!(
        ids(&all),
        [m3.clone(), m2.clone(), m1.clone()],
        "newest first"
    );
    assert_eq!(all["done"], true);
    assert_eq!(data(&all)[0]["payload"], json!({}), "no content by default");
    let full = search(json!({"with_content": true, "limit": 1})).await;
    assert_eq!(data(&full)[0]["payload"], json!({"n": 3}));
    assert_eq!(full["done"], false);
    let next = search(json!({"limit": 1, "iterator": full["iterator"]})).await;
    assert_eq!(ids(&next), [m2.as_str()]);
    assert_eq!(
        ids(&search(json!({"tag": "vip"})).await),
        [m3.clone(), m1.clone()]
    );
    assert_eq!(
        ids(&search(json!({"event_types": ["order.paid"]})).await),
        [m2.clone(), m1.clone()]
    );
    assert_eq!(ids(&search(json!({"channel": "eu"})).await), [m1.as_str()]);
    assert_eq!(
        ids(&search(json!({"tag": "vip", "event_types": ["order.paid"]})).await),
        [m1.as_str()]
    );
    let future = search(json!({"after": "2999-01-01T00:00:00Z"})).await;
    assert_eq!(data(&future), Vec::<Value>::new());

    for (body, loc) in [
        (json!({"limit": 0}), json!(["body", "limit"])),
        (json!({"iterator": "nope"}), json!(["body", "iterator"])),
        (json!({"before": "yesterday"}), json!(["body", "before"])),
        (
            json!({"event_types": ["bad name!"]}),
            json!(["body", "event_types", 0]),
        ),
        (json!({"tag": "bad tag!"}), json!(["body", "tag"])),
    ] {
        let r = app.post("/api/v1/app/a/msg/search", &body).await;
        assert_validation(&r, loc);
    }
    assert_error(
        &app.post("/api/v1/app/nope/msg/search", &json!({})).await,
        404,
        "not_found",
    );
    let r = send_anon(&app).await;
    assert_error(&r, 401, "authentication_failed");
}

async fn send_anon(app: &TestApp) -> Resp {
    send(
        app.anonymous(Method::POST, "/api/v1/app/a/msg/search")
            .json(&json!({})),
    )
    .await
}
