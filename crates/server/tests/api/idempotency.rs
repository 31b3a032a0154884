//! `idempotency-key`: the SDKs send one with every POST and reuse it when
//! they retry, so a replayed request must get the first answer and must not
//! act twice.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, assert_validation, id, ids, send, spawn_app};

async fn post_with_key(
    app: &TestApp,
    key: &str,
    path: &str,
    body: serde_json::Value,
) -> crate::helpers::Resp {
    send(
        app.request(Method::POST, path)
            .header("idempotency-key", key)
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn a_replayed_message_create_returns_the_first_response_and_stores_one_message() {
    let app = spawn_app().await;
    app.create_app("a").await;
    let body = json!({"eventType": "x.y", "payload": {"n": 1}});
    let first = post_with_key(&app, "retry-1", "/api/v1/app/a/msg", body.clone()).await;
    let first_json = first.expect(202);
    let second = post_with_key(&app, "retry-1", "/api/v1/app/a/msg", body).await;
    assert_eq!(second.status, 202, "{}", second.text);
    assert_eq!(second.text, first.text, "the replay must be byte-identical");
    assert!(second.content_type().starts_with("application/json"));
    assert_eq!(
        second
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );

    let list = app.get("/api/v1/app/a/msg").await.expect(200);
    assert_eq!(ids(&list), vec![id(&first_json)]);

    // Another key is another request.
    let third = post_with_key(
        &app,
        "retry-2",
        "/api/v1/app/a/msg",
        json!({"eventType": "x.y", "payload": {"n": 1}}),
    )
    .await
    .expect(202);
    assert_ne!(id(&third), id(&first_json));
}

#[tokio::test]
async fn a_replayed_create_is_not_a_conflict() {
    let app = spawn_app().await;
    let body = json!({"name": "x", "uid": "once"});
    let first = post_with_key(&app, "k", "/api/v1/app", body.clone()).await;
    let second = post_with_key(&app, "k", "/api/v1/app", body).await;
    assert_eq!(first.expect(201), second.expect(201));
    // Error responses are replayed too: they are answers, not failures.
    let bad = json!({"name": ""});
    let first = post_with_key(&app, "k-bad", "/api/v1/app", bad.clone()).await;
    assert_validation(&first, json!(["body", "name"]));
    let second = post_with_key(&app, "k-bad", "/api/v1/app", json!({"name": "fixed"})).await;
    assert_eq!(second.status, 422, "{}", second.text);
    assert_eq!(second.text, first.text);
    assert_eq!(ids(&app.get("/api/v1/app").await.expect(200)).len(), 1);
}

#[tokio::test]
async fn the_same_key_on_another_path_is_a_conflict() {
    let app = spawn_app().await;
    app.create_app("a").await;
    app.create_app("b").await;
    post_with_key(
        &app,
        "shared",
        "/api/v1/app/a/msg",
        json!({"eventType": "x.y", "payload": {}}),
    )
    .await
    .expect(202);
    let resp = post_with_key(
        &app,
        "shared",
        "/api/v1/app/b/msg",
        json!({"eventType": "x.y", "payload": {}}),
    )
    .await;
    assert_error(&resp, 409, "conflict");
    let list = app.get("/api/v1/app/b/msg").await.expect(200);
    assert_eq!(ids(&list), Vec::<String>::new());
}

#[tokio::test]
async fn organisations_do_not_share_keys() {
    let app = spawn_app().await;
    let (_, other_key) = app.create_token(&["--org", "other"]).await;
    let mine = post_with_key(&app, "same-key", "/api/v1/app", json!({"name": "Mine"}))
        .await
        .expect(201);
    let theirs = send(
        app.request_as(&other_key, Method::POST, "/api/v1/app")
            .header("idempotency-key", "same-key")
            .json(&json!({"name": "Theirs"})),
    )
    .await
    .expect(201);
    assert_ne!(id(&theirs), id(&mine));
    assert_eq!(theirs["name"], "Theirs");
    let listed = send(app.request_as(&other_key, Method::GET, "/api/v1/app"))
        .await
        .expect(200);
    assert_eq!(ids(&listed), vec![id(&theirs)]);
}

#[tokio::test]
async fn an_overlong_key_is_rejected() {
    let app = spawn_app().await;
    let resp = post_with_key(&app, &"k".repeat(257), "/api/v1/app", json!({"name": "x"})).await;
    assert_validation(&resp, json!(["header", "idempotency-key"]));
    assert_eq!(ids(&app.get("/api/v1/app").await.expect(200)).len(), 0);
    post_with_key(&app, &"k".repeat(256), "/api/v1/app", json!({"name": "x"}))
        .await
        .expect(201);
}
