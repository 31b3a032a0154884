//! Error responses as clients see them: 422s that point at the field, JSON
//! bodies for every error (the SDKs parse all of them), router fallbacks, and
//! path normalisation (trailing and doubled slashes).

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_validation, id, ids, send, spawn_app};

#[tokio::test]
async fn malformed_json_is_422_at_the_body() {
    let app = spawn_app().await;
    for raw in [
        r#"{"name": "#,
        "{not json}",
        r#"{"name": "x",}"#,
        "{\"name\": \"x\"} trailing",
    ] {
        let resp = app.post_raw("/api/v1/app", raw).await;
        assert_eq!(resp.status, 422, "{raw}: {}", resp.text);
        let body = resp.json();
        let detail = &body["detail"][0];
        assert_eq!(detail["loc"][0], "body", "{raw}: {body}");
        assert_eq!(detail["type"], "value_error.jsondecode", "{raw}: {body}");
    }
    let resp = app.post_raw("/api/v1/app", "").await;
    assert_validation(&resp, json!(["body"]));
    let resp = app.post_raw("/api/v1/app", "  \n").await;
    assert_validation(&resp, json!(["body"]));
}

#[tokio::test]
async fn wrong_types_name_the_field() {
    let app = spawn_app().await;
    app.create_app("a").await;
    let resp = app.post("/api/v1/app", &json!({"name": 5})).await;
    assert_validation(&resp, json!(["body", "name"]));
    let resp = app
        .post("/api/v1/app", &json!({"name": "x", "metadata": {"k": 1}}))
        .await;
    assert_validation(&resp, json!(["body", "metadata", "k"]));
    let resp = app
        .post(
            "/api/v1/app/a/endpoint",
            &json!({"url": "https://example.com", "channels": "not-a-list"}),
        )
        .await;
    assert_validation(&resp, json!(["body", "channels"]));
    let resp = app
        .post(
            "/api/v1/app/a/endpoint",
            &json!({"url": "https://example.com", "filterTypes": ["ok", 7]}),
        )
        .await;
    assert_validation(&resp, json!(["body", "filterTypes", 1]));
    let resp = app
        .post(
            "/api/v1/app/a/msg",
            &json!({"eventType": ["x"], "payload": {}}),
        )
        .await;
    assert_validation(&resp, json!(["body", "eventType"]));
    let resp = app.post("/api/v1/app", &json!([])).await;
    assert_eq!(resp.status, 422, "{}", resp.text);
}

#[tokio::test]
async fn missing_fields_are_named() {
    let app = spawn_app().await;
    let resp = app.post("/api/v1/app", &json!({})).await;
    let err = assert_validation(&resp, json!(["body", "name"]));
    assert_eq!(err["type"], "value_error.missing");
    let resp = app
        .post("/api/v1/event-type", &json!({"name": "x.y"}))
        .await;
    assert_validation(&resp, json!(["body", "description"]));
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/api/v1/app",
            &json!({"name": "x", "uid": "u", "somethingNew": {"nested": true}}),
        )
        .await
        .expect(201);
    assert_eq!(created["uid"], "u");
}

#[tokio::test]
async fn bad_query_parameters_are_422_at_the_query() {
    let app = spawn_app().await;
    app.create_app("a").await;
    for (path, field) in [
        ("/api/v1/app?iterator=garbage", "iterator"),
        (
            "/api/v1/app?iterator=ep_2zzzzzzzzzzzzzzzzzzzzzzzzzz",
            "iterator",
        ),
        (
            "/api/v1/app/a/msg?iterator=app_2zzzzzzzzzzzzzzzzzzzzzzzzzz",
            "iterator",
        ),
        ("/api/v1/app/a/endpoint?iterator=-nope", "iterator"),
        ("/api/v1/app?limit=0", "limit"),
        ("/api/v1/app?limit=251", "limit"),
        ("/api/v1/app?limit=-1", "limit"),
        ("/api/v1/app?limit=ten", "limit"),
        ("/api/v1/app/a/msg?limit=251", "limit"),
        ("/api/v1/app?order=sideways", "order"),
        ("/api/v1/app/a/msg?with_content=maybe", "with_content"),
        (
            "/api/v1/event-type?include_archived=perhaps",
            "include_archived",
        ),
    ] {
        let resp = app.get(path).await;
        assert_validation(&resp, json!(["query", field]));
    }
    let resp = app
        .post(
            "/api/v1/app?get_if_exists=yes-please",
            &json!({"name": "x"}),
        )
        .await;
    assert_validation(&resp, json!(["query", "get_if_exists"]));
    // The bounds themselves are fine.
    app.get("/api/v1/app?limit=1").await.expect(200);
    app.get("/api/v1/app?limit=250").await.expect(200);
}

#[tokio::test]
async fn invalid_uids_are_rejected() {
    let app = spawn_app().await;
    for bad in ["has space", "ünïcode", "semi;colon", "slash/uid", ""] {
        let resp = app
            .post("/api/v1/app", &json!({"name": "x", "uid": bad}))
            .await;
        assert_validation(&resp, json!(["body", "uid"]));
    }
    let resp = app
        .post("/api/v1/app", &json!({"name": "x", "uid": "a".repeat(257)}))
        .await;
    assert_validation(&resp, json!(["body", "uid"]));
    app.post("/api/v1/app", &json!({"name": "x", "uid": "a".repeat(256)}))
        .await
        .expect(201);
    // Creating through PUT checks the uid in the path.
    let resp = app
        .put("/api/v1/app/has%20space", &json!({"name": "x"}))
        .await;
    assert_validation(&resp, json!(["path", "app_id"]));
    app.create_app("a").await;
    let resp = app
        .put(
            "/api/v1/app/a/endpoint/bad%21uid",
            &json!({"url": "https://example.com"}),
        )
        .await;
    assert_validation(&resp, json!(["path", "endpoint_id"]));
    let resp = app
        .post(
            "/api/v1/app/a/endpoint",
            &json!({"url": "https://example.com", "uid": "ep_reserved"}),
        )
        .await;
    assert_validation(&resp, json!(["body", "uid"]));
}

#[tokio::test]
async fn unknown_routes_are_404_json() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/nope",
        "/api/v1/nope",
        "/api/v2/app",
        "/api/v1/app/a/b/c/d/e/f",
    ] {
        let resp = app.get(path).await;
        assert_error(&resp, 404, "not_found");
        // Also without a key: an unknown route is not an auth question.
        let resp = send(app.anonymous(Method::GET, path)).await;
        assert_error(&resp, 404, "not_found");
    }
}

#[tokio::test]
async fn wrong_methods_are_405_json() {
    let app = spawn_app().await;
    app.create_app("a").await;
    for (method, path) in [
        (Method::DELETE, "/api/v1/app"),
        (Method::PATCH, "/api/v1/app"),
        (Method::POST, "/api/v1/app/a"),
        (Method::DELETE, "/api/v1/app/a/msg"),
        (Method::PUT, "/api/v1/event-type"),
        (Method::POST, "/api/v1/health"),
        (Method::POST, "/api/v1/openapi.json"),
    ] {
        let resp = send(app.request(method.clone(), path)).await;
        assert_error(&resp, 405, "method_not_allowed");
    }
}

/// Every kind of error a client can provoke has a JSON body with `code` and
/// `detail` (a list for 422s); the SDKs crash on anything else.
#[tokio::test]
async fn every_error_is_json_with_code_and_detail() {
    let app = crate::helpers::spawn_app_with(&[("max_payload_bytes", "100")]).await;
    app.create_app("a").await;
    app.create_app("dup").await;
    let (_, scoped) = app.create_token(&["--app", "a"]).await;
    let big = json!({"eventType": "x.y", "payload": {"s": "x".repeat(200)}});
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("401", app.anonymous(Method::GET, "/api/v1/app")),
        (
            "401 bad key",
            app.request_as("nope", Method::GET, "/api/v1/app"),
        ),
        (
            "403",
            app.request_as(&scoped, Method::POST, "/api/v1/app")
                .json(&json!({"name": "x"})),
        ),
        (
            "404 entity",
            app.request(Method::GET, "/api/v1/app/missing"),
        ),
        ("404 route", app.request(Method::GET, "/api/v1/missing")),
        ("405", app.request(Method::DELETE, "/api/v1/app")),
        (
            "409",
            app.request(Method::POST, "/api/v1/app")
                .json(&json!({"name": "x", "uid": "dup"})),
        ),
        (
            "413",
            app.request(Method::POST, "/api/v1/app/a/msg").json(&big),
        ),
        (
            "422 body",
            app.request(Method::POST, "/api/v1/app")
                .header(CONTENT_TYPE, "application/json")
                .body("{"),
        ),
        ("422 query", app.request(Method::GET, "/api/v1/app?limit=0")),
        (
            "422 header",
            app.request(Method::POST, "/api/v1/app")
                .header("idempotency-key", "k".repeat(300))
                .json(&json!({"name": "x"})),
        ),
    ];
    for (what, rb) in cases {
        let resp = send(rb).await;
        assert!(resp.status >= 400, "{what}: {}", resp.status);
        assert!(
            resp.content_type().starts_with("application/json"),
            "{what}: content-type {:?}, body {:?}",
            resp.content_type(),
            resp.text
        );
        let body: Value = serde_json::from_str(&resp.text)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {:?}", resp.text));
        assert!(body["code"].is_string(), "{what}: {body}");
        if resp.status == 422 {
            assert_eq!(body["code"], "validation", "{what}: {body}");
            let detail = body["detail"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: {body}"));
            assert!(!detail.is_empty(), "{what}: {body}");
            for d in detail {
                assert!(
                    d["loc"].is_array() && d["msg"].is_string() && d["type"].is_string(),
                    "{what}: {d}"
                );
            }
        } else {
            assert!(body["detail"].is_string(), "{what}: {body}");
        }
    }
}

async fn created_via(app: &TestApp, path: &str, uid: &str) -> Value {
    app.post(path, &json!({"name": "x", "uid": uid}))
        .await
        .expect(201)
}

#[tokio::test]
async fn trailing_and_doubled_slashes_are_accepted() {
    let app = spawn_app().await;
    let a = created_via(&app, "/api/v1/app/", "one").await;
    let b = created_via(&app, "//api/v1/app", "two").await;
    let c = created_via(&app, "//api/v1/app/", "three").await;

    for path in [
        "/api/v1/app",
        "/api/v1/app/",
        "//api/v1/app",
        "//api/v1/app/",
    ] {
        let list = app.get(path).await.expect(200);
        assert_eq!(ids(&list), [id(&a), id(&b), id(&c)], "{path}");
    }
    // The query string survives normalisation.
    let limited = app.get("//api/v1/app/?limit=1").await.expect(200);
    assert_eq!(ids(&limited), [id(&a)]);
    assert_eq!(limited["done"], false);

    let got = app
        .get(&format!("/api/v1/app/{}/", id(&a)))
        .await
        .expect(200);
    assert_eq!(got, a);
    app.post(
        "//api/v1/app/one/endpoint/",
        &json!({"url": "https://example.com"}),
    )
    .await
    .expect(201);
    app.delete("/api/v1/app/two/").await.expect_empty(204);
    send(app.anonymous(Method::GET, "/api/v1/health/"))
        .await
        .expect(200);
}

#[tokio::test]
async fn a_json_array_is_not_an_object_body() {
    let app = spawn_app().await;
    let resp = app
        .post_raw("/api/v1/app", r#"["arr", null, null, null, null]"#)
        .await;
    assert_validation(&resp, json!(["body"]));
    let apps = app.get("/api/v1/app").await.expect(200);
    assert_eq!(ids(&apps).len(), 0);
}
