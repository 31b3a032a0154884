//! `/api/v1/app/{app}/endpoint`: endpoints, their validation, signing
//! secrets (get, rotate) and custom headers.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_validation, id, ids, spawn_app};

/// The published Standard Webhooks test secret (24 bytes).
const KNOWN_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";

async fn app_with_uid(uid: &str) -> TestApp {
    let app = spawn_app().await;
    app.create_app(uid).await;
    app
}

#[track_caller]
fn secret_bytes(key: &str) -> Vec<u8> {
    let b64 = key
        .strip_prefix("whsec_")
        .unwrap_or_else(|| panic!("secret without whsec_ prefix: {key}"));
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap_or_else(|e| panic!("secret is not standard base64 ({e}): {key}"))
}

#[tokio::test]
async fn create_generates_a_secret() {
    let app = app_with_uid("a").await;
    let ep = app
        .create_endpoint("a", json!({"url": "https://example.com/hook"}))
        .await;
    let ep_id = id(&ep);
    assert!(ep_id.starts_with("ep_") && ep_id.len() == 30, "{ep_id}");
    assert_eq!(ep["url"], "https://example.com/hook");
    assert_eq!(ep["description"], "");
    assert_eq!(ep["version"], 1);
    assert_eq!(ep["disabled"], false);
    assert_eq!(ep["uid"], Value::Null);
    assert_eq!(ep["filterTypes"], Value::Null);
    assert_eq!(ep["eventTypes"], Value::Null);
    assert_eq!(ep["channels"], Value::Null);
    assert_eq!(ep["metadata"], json!({}));
    assert!(
        ep.get("secret").is_none(),
        "the secret is never in EndpointOut"
    );

    let secret = app
        .get(&format!("/api/v1/app/a/endpoint/{ep_id}/secret"))
        .await
        .expect(200);
    let key = secret["key"].as_str().unwrap();
    assert_eq!(secret_bytes(key).len(), 24, "{key}");

    // Every endpoint gets its own secret.
    let other = app
        .create_endpoint("a", json!({"url": "https://example.com/hook"}))
        .await;
    let other_key = app
        .get(&format!("/api/v1/app/a/endpoint/{}/secret", id(&other)))
        .await
        .expect(200);
    assert_ne!(other_key["key"], secret["key"]);
}

#[tokio::test]
async fn create_with_a_given_secret() {
    let app = app_with_uid("a").await;
    let ep = app
        .create_endpoint(
            "a",
            json!({"url": "https://example.com/hook", "secret": KNOWN_SECRET}),
        )
        .await;
    let secret = app
        .get(&format!("/api/v1/app/a/endpoint/{}/secret", id(&ep)))
        .await
        .expect(200);
    assert_eq!(secret, json!({"key": KNOWN_SECRET}));
}

#[tokio::test]
async fn invalid_secrets_are_rejected() {
    let app = app_with_uid("a").await;
    for bad in [
        "nope",
        "whsec_!!!",
        "whsec_c2hvcnQ=",
        KNOWN_SECRET.trim_start_matches("whsec_"),
    ] {
        let resp = app
            .post(
                "/api/v1/app/a/endpoint",
                &json!({"url": "https://example.com/hook", "secret": bad}),
            )
            .await;
        assert_validation(&resp, json!(["body", "secret"]));
    }
    let list = app.get("/api/v1/app/a/endpoint").await.expect(200);
    assert_eq!(ids(&list), Vec::<String>::new());
}

#[tokio::test]
async fn urls_are_validated() {
    let app = app_with_uid("a").await;
    let too_long = format!("https://example.com/{}", "a".repeat(4097 - 20));
    assert_eq!(too_long.len(), 4097);
    for bad in [
        "ftp://example.com/hook",
        "http://",
        "https:///path-without-host",
        "example.com/hook",
        "http://exa mple.com/",
        "http://example.com:0/",
        too_long.as_str(),
    ] {
        let resp = app
            .post("/api/v1/app/a/endpoint", &json!({"url": bad}))
            .await;
        assert_validation(&resp, json!(["body", "url"]));
    }
    let longest = format!("https://example.com/{}", "a".repeat(4096 - 20));
    assert_eq!(longest.len(), 4096);
    let ep = app.create_endpoint("a", json!({"url": longest})).await;
    assert_eq!(ep["url"], longest.as_str());
    let ep = app
        .create_endpoint("a", json!({"url": "http://127.0.0.1:8080/x?y=1"}))
        .await;
    assert_eq!(ep["url"], "http://127.0.0.1:8080/x?y=1");
}

#[tokio::test]
async fn filter_types_and_event_types_are_aliases() {
    let app = app_with_uid("a").await;
    // The JS SDK sends filterTypes, the Python SDK eventTypes; both are emitted.
    let js = app
        .create_endpoint(
            "a",
            json!({"url": "https://example.com/1", "filterTypes": ["user.created", "user.deleted"]}),
        )
        .await;
    assert_eq!(js["filterTypes"], json!(["user.created", "user.deleted"]));
    assert_eq!(js["eventTypes"], json!(["user.created", "user.deleted"]));

    let py = app
        .create_endpoint(
            "a",
            json!({"url": "https://example.com/2", "eventTypes": ["invoice.paid"]}),
        )
        .await;
    assert_eq!(py["filterTypes"], json!(["invoice.paid"]));
    assert_eq!(py["eventTypes"], json!(["invoice.paid"]));

    let resp = app
        .post(
            "/api/v1/app/a/endpoint",
            &json!({"url": "https://example.com/3", "eventTypes": ["ok", "not ok"]}),
        )
        .await;
    assert_validation(&resp, json!(["body", "eventTypes", 1]));

    // PATCH accepts both, and null means "all event types".
    let path = format!("/api/v1/app/a/endpoint/{}", id(&py));
    let patched = app
        .patch(&path, &json!({"filterTypes": ["x.y"]}))
        .await
        .expect(200);
    assert_eq!(patched["eventTypes"], json!(["x.y"]));
    let patched = app
        .patch(&path, &json!({"eventTypes": null}))
        .await
        .expect(200);
    assert_eq!(patched["filterTypes"], Value::Null);
    assert_eq!(patched["eventTypes"], Value::Null);
}

#[tokio::test]
async fn get_put_patch_delete() {
    let app = app_with_uid("a").await;
    let ep = app
        .create_endpoint(
            "a",
            json!({
                "url": "https://example.com/hook",
                "uid": "my-ep",
                "description": "primary",
                "channels": ["ch1", "ch2"],
                "metadata": {"k": "v"},
                "throttleRate": 9,
            }),
        )
        .await;
    let ep_id = id(&ep);
    assert_eq!(ep["uid"], "my-ep");
    assert_eq!(ep["channels"], json!(["ch1", "ch2"]));
    assert_eq!(ep["throttleRate"], 9);
    assert_eq!(ep["rateLimit"], 9);

    let by_id = app
        .get(&format!("/api/v1/app/a/endpoint/{ep_id}"))
        .await
        .expect(200);
    let by_uid = app.get("/api/v1/app/a/endpoint/my-ep").await.expect(200);
    assert_eq!(by_id, ep);
    assert_eq!(by_uid, ep);

    // PUT replaces the fields it carries.
    let put = app
        .put(
            "/api/v1/app/a/endpoint/my-ep",
            &json!({"url": "https://example.org/new", "description": "replaced", "disabled": true}),
        )
        .await
        .expect(200);
    assert_eq!(id(&put), ep_id);
    assert_eq!(put["url"], "https://example.org/new");
    assert_eq!(put["description"], "replaced");
    assert_eq!(put["disabled"], true);
    assert_eq!(put["channels"], Value::Null);
    assert_eq!(put["metadata"], json!({}));
    assert_eq!(put["throttleRate"], Value::Null);

    // PATCH keeps absent fields.
    let patched = app
        .patch(
            &format!("/api/v1/app/a/endpoint/{ep_id}"),
            &json!({"disabled": false, "channels": ["c3"]}),
        )
        .await
        .expect(200);
    assert_eq!(patched["url"], "https://example.org/new");
    assert_eq!(patched["description"], "replaced");
    assert_eq!(patched["disabled"], false);
    assert_eq!(patched["channels"], json!(["c3"]));
    let patched = app
        .patch(
            "/api/v1/app/a/endpoint/my-ep",
            &json!({"channels": null, "description": "again"}),
        )
        .await
        .expect(200);
    assert_eq!(patched["channels"], Value::Null);
    assert_eq!(patched["description"], "again");
    assert_eq!(
        app.get(&format!("/api/v1/app/a/endpoint/{ep_id}"))
            .await
            .expect(200),
        patched
    );

    let resp = app
        .patch("/api/v1/app/a/endpoint/my-ep", &json!({"url": "ftp://x"}))
        .await;
    assert_validation(&resp, json!(["body", "url"]));

    app.delete("/api/v1/app/a/endpoint/my-ep")
        .await
        .expect_empty(204);
    assert_error(
        &app.get(&format!("/api/v1/app/a/endpoint/{ep_id}")).await,
        404,
        "not_found",
    );
    assert_error(
        &app.get("/api/v1/app/a/endpoint/my-ep").await,
        404,
        "not_found",
    );
    assert_error(
        &app.delete(&format!("/api/v1/app/a/endpoint/{ep_id}")).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn put_creates_an_endpoint_with_the_path_uid() {
    let app = app_with_uid("a").await;
    let created = app
        .put(
            "/api/v1/app/a/endpoint/made-by-put",
            &json!({"url": "https://example.com/1"}),
        )
        .await
        .expect(201);
    assert_eq!(created["uid"], "made-by-put");
    let updated = app
        .put(
            "/api/v1/app/a/endpoint/made-by-put",
            &json!({"url": "https://example.com/2"}),
        )
        .await
        .expect(200);
    assert_eq!(id(&updated), id(&created));
    assert_eq!(updated["url"], "https://example.com/2");
    let list = app.get("/api/v1/app/a/endpoint").await.expect(200);
    assert_eq!(ids(&list), vec![id(&created)]);
}

#[tokio::test]
async fn duplicate_endpoint_uid_is_a_conflict() {
    let app = app_with_uid("a").await;
    app.create_endpoint("a", json!({"url": "https://example.com/1", "uid": "same"}))
        .await;
    let resp = app
        .post(
            "/api/v1/app/a/endpoint",
            &json!({"url": "https://example.com/2", "uid": "same"}),
        )
        .await;
    assert_error(&resp, 409, "conflict");
}

#[tokio::test]
async fn endpoints_of_unknown_applications_or_ids_are_not_found() {
    let app = app_with_uid("a").await;
    let resp = app
        .post(
            "/api/v1/app/missing/endpoint",
            &json!({"url": "https://example.com/1"}),
        )
        .await;
    assert_error(&resp, 404, "not_found");
    assert_error(
        &app.get("/api/v1/app/missing/endpoint").await,
        404,
        "not_found",
    );
    for suffix in ["", "/secret", "/headers"] {
        let resp = app
            .get(&format!(
                "/api/v1/app/a/endpoint/ep_2zzzzzzzzzzzzzzzzzzzzzzzzzz{suffix}"
            ))
            .await;
        assert_error(&resp, 404, "not_found");
    }
    // An endpoint is only reachable through its own application.
    let ep = app
        .create_endpoint("a", json!({"url": "https://example.com/1"}))
        .await;
    app.create_app("b").await;
    assert_error(
        &app.get(&format!("/api/v1/app/b/endpoint/{}", id(&ep)))
            .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn list_paginates() {
    let app = app_with_uid("a").await;
    let mut created = Vec::new();
    for i in 0..3 {
        let ep = app
            .create_endpoint("a", json!({"url": format!("https://example.com/{i}")}))
            .await;
        created.push(id(&ep));
    }
    let p1 = app.get("/api/v1/app/a/endpoint?limit=2").await.expect(200);
    assert_eq!(ids(&p1), created[0..2]);
    assert_eq!(p1["done"], false);
    let it = p1["iterator"].as_str().unwrap();
    let p2 = app
        .get(&format!("/api/v1/app/a/endpoint?limit=2&iterator={it}"))
        .await
        .expect(200);
    assert_eq!(ids(&p2), created[2..3]);
    assert_eq!(p2["done"], true);
    let desc = app
        .get("/api/v1/app/a/endpoint?order=descending")
        .await
        .expect(200);
    assert_eq!(
        ids(&desc),
        created.iter().rev().cloned().collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn rotating_the_secret() {
    let app = app_with_uid("a").await;
    let ep = app
        .create_endpoint(
            "a",
            json!({"url": "https://example.com/hook", "uid": "rot", "secret": KNOWN_SECRET}),
        )
        .await;
    let secret_path = format!("/api/v1/app/a/endpoint/{}/secret", id(&ep));

    // A generated key: 200 with the new key, which is now the current one.
    let rotated = app
        .post("/api/v1/app/a/endpoint/rot/secret/rotate", &json!({}))
        .await
        .expect(200);
    let new_key = rotated["key"].as_str().unwrap().to_string();
    assert_ne!(new_key, KNOWN_SECRET);
    assert_eq!(secret_bytes(&new_key).len(), 24);
    assert_eq!(
        app.get(&secret_path).await.expect(200),
        json!({"key": new_key})
    );

    // An explicit key.
    let explicit = app
        .post(
            "/api/v1/app/a/endpoint/rot/secret/rotate",
            &json!({"key": OTHER_SECRET}),
        )
        .await
        .expect(200);
    assert_eq!(explicit, json!({"key": OTHER_SECRET}));
    assert_eq!(
        app.get(&secret_path).await.expect(200),
        json!({"key": OTHER_SECRET})
    );

    // Hand-written calls often send no body at all.
    let bare = crate::helpers::send(app.request(
        reqwest::Method::POST,
        "/api/v1/app/a/endpoint/rot/secret/rotate",
    ))
    .await
    .expect(200);
    assert_ne!(bare["key"], OTHER_SECRET);
    assert_eq!(app.get(&secret_path).await.expect(200), bare);

    let resp = app
        .post(
            "/api/v1/app/a/endpoint/rot/secret/rotate",
            &json!({"key": "whsec_short"}),
        )
        .await;
    assert_validation(&resp, json!(["body", "key"]));
    assert_eq!(app.get(&secret_path).await.expect(200), bare);
}

#[tokio::test]
async fn headers_get_put_patch() {
    let app = app_with_uid("a").await;
    let ep = app
        .create_endpoint(
            "a",
            json!({
                "url": "https://example.com/hook",
                "headers": {"X-Custom": "1", "Authorization": "Bearer s3cret"},
            }),
        )
        .await;
    let path = format!("/api/v1/app/a/endpoint/{}/headers", id(&ep));

    let got = app.get(&path).await.expect(200);
    assert_eq!(got["headers"], json!({"X-Custom": "1"}));
    assert_eq!(got["sensitive"], json!(["Authorization"]));
    assert!(!got.to_string().contains("s3cret"), "{got}");

    app.put(&path, &json!({"headers": {"x-a": "1", "x-b": "2"}}))
        .await
        .expect_empty(204);
    let got = app.get(&path).await.expect(200);
    assert_eq!(
        got,
        json!({"headers": {"x-a": "1", "x-b": "2"}, "sensitive": []})
    );

    // PATCH merges; a null value or deleteHeaders removes.
    app.patch(
        &path,
        &json!({"headers": {"x-c": "3", "x-a": null}, "deleteHeaders": ["x-b"]}),
    )
    .await
    .expect_empty(204);
    let got = app.get(&path).await.expect(200);
    assert_eq!(got, json!({"headers": {"x-c": "3"}, "sensitive": []}));

    app.patch(&path, &json!({"headers": {"X-Auth-Token": "t"}}))
        .await
        .expect_empty(204);
    let got = app.get(&path).await.expect(200);
    assert_eq!(got["headers"], json!({"x-c": "3"}));
    assert_eq!(got["sensitive"], json!(["X-Auth-Token"]));
}

#[tokio::test]
async fn reserved_headers_are_rejected() {
    let app = app_with_uid("a").await;
    let resp = app
        .post(
            "/api/v1/app/a/endpoint",
            &json!({"url": "https://example.com/hook", "headers": {"Webhook-Id": "x"}}),
        )
        .await;
    assert_validation(&resp, json!(["body", "headers", "Webhook-Id"]));

    let ep = app
        .create_endpoint("a", json!({"url": "https://example.com/hook"}))
        .await;
    let path = format!("/api/v1/app/a/endpoint/{}/headers", id(&ep));
    let resp = app
        .put(
            &path,
            &json!({"headers": {"webhook-signature": "v1,forged"}}),
        )
        .await;
    assert_validation(&resp, json!(["body", "headers", "webhook-signature"]));
    let resp = app
        .patch(&path, &json!({"headers": {"svix-signature": "v1,forged"}}))
        .await;
    assert_validation(&resp, json!(["body", "headers", "svix-signature"]));
    let resp = app
        .put(
            &path,
            &json!({"headers": {"bad name": "x", "x-ok": "a\r\nb"}}),
        )
        .await;
    assert_validation(&resp, json!(["body", "headers", "bad name"]));
    assert_validation(&resp, json!(["body", "headers", "x-ok"]));

    let got = app.get(&path).await.expect(200);
    assert_eq!(got, json!({"headers": {}, "sensitive": []}));
}
