//! Background tasks over HTTP: recover, replay-missing and
//! expunge-all-contents start a task that ends `finished` with Svix's
//! counts; tasks are listed with filters and pages, and stay within their
//! organisation (and application, for application-scoped keys).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(10);

/// A webhook receiver answering `status`, counting requests per `webhook-id`.
struct Rx {
    url: String,
    status: Arc<AtomicU16>,
    seen: Arc<Mutex<HashMap<String, usize>>>,
}

impl Rx {
    async fn start(status: u16) -> Rx {
        let st = Arc::new(AtomicU16::new(status));
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let (st2, seen2) = (st.clone(), seen.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap| {
                let (st, seen) = (st2.clone(), seen2.clone());
                async move {
                    let id = headers
                        .get("webhook-id")
                        .or_else(|| headers.get("svix-id"))
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    *seen.lock().unwrap().entry(id).or_default() += 1;
                    StatusCode::from_u16(st.load(Ordering::SeqCst)).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Rx {
            url: format!("http://{addr}/hook"),
            status: st,
            seen,
        }
    }

    fn count(&self, msg_id: &str) -> usize {
        self.seen.lock().unwrap().get(msg_id).copied().unwrap_or(0)
    }

    fn total(&self) -> usize {
        self.seen.lock().unwrap().values().sum()
    }
}

async fn spawn() -> TestApp {
    spawn_app_with(&[
        ("allowed_subnets", "127.0.0.0/8"),
        ("retry_schedule", "100ms"),
    ])
    .await
}

fn since_an_hour_ago() -> String {
    (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339()
}

/// Polls the task until it is no longer running; its last state.
async fn finished(app: &TestApp, task_id: &str) -> Value {
    wait_until(WAIT, "the task to end", || async {
        let t = app
            .get(&format!("/api/v1/background-task/{task_id}"))
            .await
            .expect(200);
        (t["status"] != "running").then_some(t)
    })
    .await
}

/// Waits until the delivery of `msg` to `ep` has `status` (0 ok, 2 failed).
async fn delivery_status(app: &TestApp, app_id: &str, msg: &str, ep: &str, status: i64) {
    wait_until(WAIT, "the delivery status", || async {
        app.destinations(app_id, msg)
            .await
            .iter()
            .any(|d| d["id"] == ep && d["status"] == status)
            .then_some(())
    })
    .await;
}

fn assert_started(resp: &Value, task: &str) -> String {
    let id = resp["id"].as_str().unwrap_or_else(|| panic!("{resp}"));
    assert!(id.starts_with("qtask_") && id.len() == 33, "{resp}");
    assert_eq!(resp["task"], task, "{resp}");
    assert!(
        resp["status"] == "running" || resp["status"] == "finished",
        "{resp}"
    );
    assert!(resp["updatedAt"].is_string(), "{resp}");
    id.to_string()
}

#[tokio::test]
async fn recover_is_a_task_that_finishes_with_the_messages_sent() {
    let app = spawn().await;
    let rx = Rx::start(500).await;
    app.create_app("rec").await;
    let ep = app
        .create_endpoint("rec", json!({"url": rx.url, "uid": "ep"}))
        .await;
    let ep = ep["id"].as_str().unwrap().to_string();
    let mut msgs = Vec::new();
    for i in 0..2 {
        let m = app
            .send_message("rec", json!({"eventType": "a", "payload": {"i": i}}))
            .await;
        msgs.push(m["id"].as_str().unwrap().to_string());
    }
    for m in &msgs {
        delivery_status(&app, "rec", m, &ep, 2).await;
    }
    let failed_attempts = rx.total();
    rx.status.store(200, Ordering::SeqCst);

    let resp = app
        .post(
            "/api/v1/app/rec/endpoint/ep/recover",
            &json!({"since": since_an_hour_ago()}),
        )
        .await
        .expect(202);
    let id = assert_started(&resp, "endpoint.recover");
    let task = finished(&app, &id).await;
    assert_eq!(task["status"], "finished", "{task}");
    assert_eq!(task["task"], "endpoint.recover", "{task}");
    assert_eq!(task["data"]["messagesSent"], 2, "{task}");
    for m in &msgs {
        delivery_status(&app, "rec", m, &ep, 0).await;
    }
    assert_eq!(rx.total(), failed_attempts + 2);

    // The record stays, and a second recovery finds nothing to send.
    let again = app
        .post(
            "/api/v1/app/rec/endpoint/ep/recover",
            &json!({"since": since_an_hour_ago()}),
        )
        .await
        .expect(202);
    let again = finished(&app, &assert_started(&again, "endpoint.recover")).await;
    assert_eq!(again["data"]["messagesSent"], 0, "{again}");
    let first = app
        .get(&format!("/api/v1/background-task/{id}"))
        .await
        .expect(200);
    assert_eq!(first["data"]["messagesSent"], 2, "{first}");
}

#[tokio::test]
async fn replay_missing_sends_only_what_the_endpoint_never_got() {
    let app = spawn().await;
    let rx = Rx::start(200).await;
    app.create_app("rep").await;
    // Messages from before the endpoint existed: two it would take, one it would not.
    let mut before = Vec::new();
    for t in ["a", "a", "b"] {
        let m = app
            .send_message("rep", json!({"eventType": t, "payload": {}}))
            .await;
        before.push(m["id"].as_str().unwrap().to_string());
    }
    let ep = app
        .create_endpoint(
            "rep",
            json!({"url": rx.url, "uid": "late", "filterTypes": ["a"]}),
        )
        .await;
    let ep = ep["id"].as_str().unwrap().to_string();
    let after = app
        .send_message("rep", json!({"eventType": "a", "payload": {}}))
        .await;
    let after = after["id"].as_str().unwrap().to_string();
    delivery_status(&app, "rep", &after, &ep, 0).await;
    assert_eq!(rx.total(), 1);

    let resp = app
        .post(
            "/api/v1/app/rep/endpoint/late/replay-missing",
            &json!({"since": since_an_hour_ago(), "until": null}),
        )
        .await
        .expect(202);
    let id = assert_started(&resp, "endpoint.replay");
    let task = finished(&app, &id).await;
    assert_eq!(task["status"], "finished", "{task}");
    assert_eq!(task["data"]["messagesSent"], 2, "{task}");
    for m in &before[..2] {
        delivery_status(&app, "rep", m, &ep, 0).await;
        assert_eq!(rx.count(m), 1, "{m} sent once");
    }
    assert_eq!(rx.count(&before[2]), 0, "filtered out");
    assert_eq!(rx.count(&after), 1, "already sent, not again");

    // Everything has gone there now.
    let again = app
        .post(
            "/api/v1/app/rep/endpoint/late/replay-missing",
            &json!({"since": since_an_hour_ago()}),
        )
        .await
        .expect(202);
    let again = finished(&app, &assert_started(&again, "endpoint.replay")).await;
    assert_eq!(again["data"]["messagesSent"], 0, "{again}");
    assert_eq!(rx.total(), 3);
}

#[tokio::test]
async fn replay_missing_honours_the_endpoints_payload_filter() {
    let app = spawn().await;
    let rx = Rx::start(200).await;
    app.create_app("repf").await;
    let mut sent = Vec::new();
    for n in 1..=4 {
        let m = app
            .send_message("repf", json!({"eventType": "a", "payload": {"n": n}}))
            .await;
        sent.push(m["id"].as_str().unwrap().to_string());
    }
    let ep = app
        .create_endpoint(
            "repf",
            json!({"url": rx.url, "uid": "f", "filter": "n >= 3"}),
        )
        .await;
    let ep = ep["id"].as_str().unwrap().to_string();
    let resp = app
        .post(
            "/api/v1/app/repf/endpoint/f/replay-missing",
            &json!({"since": since_an_hour_ago()}),
        )
        .await
        .expect(202);
    let task = finished(&app, &assert_started(&resp, "endpoint.replay")).await;
    assert_eq!(task["data"]["messagesSent"], 2, "{task}");
    for m in &sent[2..] {
        delivery_status(&app, "repf", m, &ep, 0).await;
    }
    assert_eq!(
        rx.count(&sent[0]) + rx.count(&sent[1]),
        0,
        "the filter refuses n < 3"
    );
    assert_eq!(rx.total(), 2);
}

#[tokio::test]
async fn expunge_all_contents_purges_every_payload_as_a_task() {
    let app = spawn().await;
    app.create_app("purge").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let m = app
            .send_message("purge", json!({"eventType": "a", "payload": {"secret": i}}))
            .await;
        ids.push(m["id"].as_str().unwrap().to_string());
    }
    let resp = app
        .post_raw("/api/v1/app/purge/msg/expunge-all-contents", "")
        .await
        .expect(202);
    let id = assert_started(&resp, "application.purge_content");
    let task = finished(&app, &id).await;
    assert_eq!(task["status"], "finished", "{task}");
    assert_eq!(task["data"]["messagesPurged"], 3, "{task}");
    for m in &ids {
        let msg = app
            .get(&format!("/api/v1/app/purge/msg/{m}"))
            .await
            .expect(200);
        assert_eq!(msg["payload"], json!({}), "{msg}");
    }
}

#[tokio::test]
async fn tasks_list_with_filters_and_pages_within_their_org_and_app() {
    let app = spawn().await;
    let rx = Rx::start(200).await;
    for a in ["one", "two"] {
        app.create_app(a).await;
        app.create_endpoint(a, json!({"url": rx.url, "uid": "ep"}))
            .await;
    }
    let mut started = Vec::new();
    for (a, action) in [
        ("one", "recover"),
        ("one", "recover"),
        ("one", "replay-missing"),
        ("two", "recover"),
    ] {
        let resp = app
            .post(
                &format!("/api/v1/app/{a}/endpoint/ep/{action}"),
                &json!({"since": since_an_hour_ago()}),
            )
            .await
            .expect(202);
        started.push(resp["id"].as_str().unwrap().to_string());
    }
    for id in &started {
        assert_eq!(finished(&app, id).await["status"], "finished");
    }

    // Newest first by default, in pages.
    let page = app.get("/api/v1/background-task?limit=3").await.expect(200);
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [&started[3], &started[2], &started[1]], "{page}");
    assert_eq!(page["done"], false, "{page}");
    let it = page["iterator"].as_str().unwrap();
    let next = app
        .get(&format!("/api/v1/background-task?limit=3&iterator={it}"))
        .await
        .expect(200);
    assert_eq!(next["data"].as_array().unwrap().len(), 1, "{next}");
    assert_eq!(next["data"][0]["id"], started[0].as_str());
    assert_eq!(next["data"][0]["task"], "endpoint.recover");
    assert!(next["data"][0]["data"].is_object(), "{next}");
    assert_eq!(next["done"], true, "{next}");
    let asc = app
        .get("/api/v1/background-task?order=ascending&limit=1")
        .await
        .expect(200);
    assert_eq!(asc["data"][0]["id"], started[0].as_str(), "{asc}");

    // Filters.
    let replays = app
        .get("/api/v1/background-task?task=endpoint.replay")
        .await
        .expect(200);
    assert_eq!(replays["data"].as_array().unwrap().len(), 1, "{replays}");
    assert_eq!(replays["data"][0]["id"], started[2].as_str());
    let done = app
        .get("/api/v1/background-task?status=finished&task=endpoint.recover")
        .await
        .expect(200);
    assert_eq!(done["data"].as_array().unwrap().len(), 3, "{done}");
    let running = app
        .get("/api/v1/background-task?status=running")
        .await
        .expect(200);
    assert_eq!(running["data"], json!([]), "{running}");
    assert_validation(
        &app.get("/api/v1/background-task?status=done").await,
        json!(["query", "status"]),
    );
    assert_validation(
        &app.get("/api/v1/background-task?task=endpoint.nope").await,
        json!(["query", "task"]),
    );
    assert_validation(
        &app.get("/api/v1/background-task?limit=0").await,
        json!(["query", "limit"]),
    );
    assert_validation(
        &app.get("/api/v1/background-task?iterator=msg_nope").await,
        json!(["query", "iterator"]),
    );

    // Unknown, and another organisation's: the same 404.
    assert_error(
        &app.get("/api/v1/background-task/qtask_2aaaaaaaaaaaaaaaaaaaaaaaaaa")
            .await,
        404,
        "not_found",
    );
    let (_, other) = app.create_token(&["--org", "other"]).await;
    let theirs = send(app.request_as(
        &other,
        Method::GET,
        &format!("/api/v1/background-task/{}", started[0]),
    ))
    .await;
    assert_error(&theirs, 404, "not_found");
    let listed = send(app.request_as(&other, Method::GET, "/api/v1/background-task")).await;
    assert_eq!(listed.expect(200)["data"], json!([]));

    // An application-scoped key sees its application's tasks only.
    let two = app.get("/api/v1/app/two").await.expect(200);
    let two_id = two["id"].as_str().unwrap();
    let (_, scoped) = app.create_token(&["--app", two_id]).await;
    let listed = send(app.request_as(&scoped, Method::GET, "/api/v1/background-task"))
        .await
        .expect(200);
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [started[3].as_str()], "{listed}");
    let not_mine = send(app.request_as(
        &scoped,
        Method::GET,
        &format!("/api/v1/background-task/{}", started[0]),
    ))
    .await;
    assert_error(&not_mine, 404, "not_found");
    send(app.request_as(
        &scoped,
        Method::GET,
        &format!("/api/v1/background-task/{}", started[3]),
    ))
    .await
    .expect(200);
}

#[tokio::test]
async fn bad_task_requests_name_the_field() {
    let app = spawn().await;
    app.create_app("bad").await;
    app.create_endpoint("bad", json!({"url": "http://127.0.0.1:9/x", "uid": "ep"}))
        .await;
    for action in ["recover", "replay-missing"] {
        let path = format!("/api/v1/app/bad/endpoint/ep/{action}");
        assert_validation(
            &app.post(&path, &json!({"since": "yesterday"})).await,
            json!(["body", "since"]),
        );
        assert_validation(
            &app.post(
                &path,
                &json!({"since": since_an_hour_ago(), "until": "later"}),
            )
            .await,
            json!(["body", "until"]),
        );
        assert_validation(
            &app.post(
                &path,
                &json!({"since": "2030-01-01T00:00:00Z", "until": "2029-01-01T00:00:00Z"}),
            )
            .await,
            json!(["body", "since"]),
        );
        assert_validation(&app.post(&path, &json!({})).await, json!(["body", "since"]));
        assert_error(
            &app.post(
                &format!("/api/v1/app/bad/endpoint/ep_nope/{action}"),
                &json!({"since": since_an_hour_ago()}),
            )
            .await,
            404,
            "not_found",
        );
    }
    // Nothing was started by the refused requests.
    let listed = app.get("/api/v1/background-task").await.expect(200);
    assert_eq!(listed["data"], json!([]), "{listed}");
    assert_error(
        &app.post_raw("/api/v1/app/nope/msg/expunge-all-contents", "")
            .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn bulk_replay_sends_the_matching_deliveries_again() {
    let app = spawn().await;
    let rx = Rx::start(200).await;
    app.create_app("bulk").await;
    let ep = app
        .create_endpoint("bulk", json!({"url": rx.url, "uid": "ep"}))
        .await;
    let ep = ep["id"].as_str().unwrap().to_string();
    let mut msgs = Vec::new();
    for t in ["a", "a", "b"] {
        let m = app
            .send_message("bulk", json!({"eventType": t, "payload": {}}))
            .await;
        let id = m["id"].as_str().unwrap().to_string();
        delivery_status(&app, "bulk", &id, &ep, 0).await;
        msgs.push(id);
    }
    let path = "/api/v1/app/bulk/endpoint/ep/bulk-replay";

    // Nothing failed: a replay of failed deliveries sends nothing.
    let none = app
        .post(path, &json!({"since": since_an_hour_ago(), "status": 2}))
        .await
        .expect(202);
    let none = finished(&app, &assert_started(&none, "endpoint.bulk-replay")).await;
    assert_eq!(none["data"]["messagesSent"], 0, "{none}");

    let resp = app
        .post(
            path,
            &json!({"since": since_an_hour_ago(), "eventTypes": ["a"], "statusCodeClass": 200}),
        )
        .await
        .expect(202);
    let task = finished(&app, &assert_started(&resp, "endpoint.bulk-replay")).await;
    assert_eq!(task["status"], "finished", "{task}");
    assert_eq!(task["data"]["messagesSent"], 2, "{task}");
    wait_until(WAIT, "the replayed messages", || async {
        (rx.count(&msgs[0]) == 2 && rx.count(&msgs[1]) == 2).then_some(())
    })
    .await;
    assert_eq!(rx.count(&msgs[2]), 1, "another event type");

    for (body, loc) in [
        (
            json!({"since": since_an_hour_ago(), "status": 7}),
            json!(["body", "status"]),
        ),
        (
            json!({"since": since_an_hour_ago(), "statusCodeClass": 250}),
            json!(["body", "statusCodeClass"]),
        ),
        (
            json!({"since": since_an_hour_ago(), "eventTypes": ["bad name"]}),
            json!(["body", "eventTypes", 0]),
        ),
        (json!({"since": "soon"}), json!(["body", "since"])),
    ] {
        assert_validation(&app.post(path, &body).await, loc);
    }
}

#[tokio::test]
async fn bulk_expunge_says_what_it_found() {
    let app = spawn().await;
    app.create_app("bx").await;
    let m1 = app
        .send_message("bx", json!({"eventType": "a", "payload": {"secret": 1}}))
        .await;
    let m1 = m1["id"].as_str().unwrap().to_string();
    app.send_message(
        "bx",
        json!({"eventType": "a", "eventId": "evt-2", "payload": {"secret": 2}}),
    )
    .await;
    let kept = app
        .send_message("bx", json!({"eventType": "a", "payload": {"secret": 3}}))
        .await;
    let out = app
        .post(
            "/api/v1/app/bx/msg/bulk-expunge",
            &json!({"ids": [m1, "evt-2", "nope"]}),
        )
        .await
        .expect(200);
    assert_eq!(
        out,
        json!({"results": {m1.as_str(): "expunged", "evt-2": "expunged", "nope": "not-found"}})
    );
    for m in [m1.as_str(), "evt-2"] {
        let msg = app
            .get(&format!("/api/v1/app/bx/msg/{m}"))
            .await
            .expect(200);
        assert_eq!(msg["payload"], json!({}), "{msg}");
    }
    let kept = app
        .get(&format!(
            "/api/v1/app/bx/msg/{}",
            kept["id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(kept["payload"], json!({"secret": 3}));
    assert_validation(
        &app.post(
            "/api/v1/app/bx/msg/bulk-expunge",
            &json!({"ids": ["bad id!"]}),
        )
        .await,
        json!(["body", "ids", 0]),
    );
}

#[tokio::test]
async fn a_task_left_running_by_a_stopped_node_is_failed_at_its_next_start() {
    let mut app = spawn().await;
    app.create_app("x").await;
    let id = "qtask_2zzzzzzzzzzzzzzzzzzzzzzzzzz";
    {
        // A task the previous run was in the middle of: its row, as that run left it.
        let db = rusqlite::Connection::open(&app.db_path).unwrap();
        let org: String = db
            .query_row("SELECT org_id FROM applications LIMIT 1", [], |r| r.get(0))
            .unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        db.execute(
            "INSERT INTO background_tasks (id, org_id, app_id, task, status, data, node, \
             created_at, updated_at) VALUES (?1, ?2, NULL, 'endpoint.replay', 'running', \
             '{\"messagesSent\":4}', 'local', ?3, ?3)",
            rusqlite::params![id, org, now],
        )
        .unwrap();
    }
    let running = app
        .get(&format!("/api/v1/background-task/{id}"))
        .await
        .expect(200);
    assert_eq!(running["status"], "running", "{running}");
    app.shutdown().await;

    let again = app.restart().await;
    let task = again
        .get(&format!("/api/v1/background-task/{id}"))
        .await
        .expect(200);
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["data"]["messagesSent"], 4, "progress kept: {task}");
    assert!(
        task["data"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("stopped")),
        "{task}"
    );
}

#[tokio::test]
async fn restricted_portal_tokens_see_their_applications_tasks_and_cannot_purge() {
    let app = spawn().await;
    let rx = Rx::start(200).await;
    let mut tasks = Vec::new();
    for a in ["mine", "theirs"] {
        app.create_app(a).await;
        app.create_endpoint(a, json!({"url": rx.url, "uid": "ep"}))
            .await;
        let t = app
            .post(
                &format!("/api/v1/app/{a}/endpoint/ep/recover"),
                &json!({"since": since_an_hour_ago()}),
            )
            .await
            .expect(202);
        tasks.push(t["id"].as_str().unwrap().to_string());
    }
    let mine = app.get("/api/v1/app/mine").await.expect(200);
    let token = app
        .post(
            &format!(
                "/api/v1/auth/app-portal-access/{}",
                mine["id"].as_str().unwrap()
            ),
            // Without capabilities a portal token is an application key,
            // free to purge; a restricted one is limited to what they allow.
            &json!({"capabilities": ["ViewBase", "CreateAttempts", "ManageEndpoint"]}),
        )
        .await
        .expect(200)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let listed = send(app.request_as(&token, Method::GET, "/api/v1/background-task"))
        .await
        .expect(200);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["data"][0]["id"], tasks[0].as_str());
    let theirs = send(app.request_as(
        &token,
        Method::GET,
        &format!("/api/v1/background-task/{}", tasks[1]),
    ))
    .await;
    assert_error(&theirs, 404, "not_found");
    let purge = send(app.request_as(
        &token,
        Method::POST,
        "/api/v1/app/mine/msg/expunge-all-contents",
    ))
    .await;
    assert_error(&purge, 403, "forbidden");
}
