//! Operational webhooks (`/api/v1/operational-webhook/endpoint`): Svix's
//! routes, shapes and status codes, backed by the operational application.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_error, assert_validation, send, spawn_app, spawn_app_with};

const BASE: &str = "/api/v1/operational-webhook/endpoint";

#[tokio::test]
async fn operational_webhook_endpoints_crud() {
    let app = spawn_app().await;

    // Nothing exists yet: an empty page, and no application made by reading.
    let list = app.get(BASE).await.expect(200);
    assert_eq!(
        list,
        json!({"data": [], "iterator": null, "prevIterator": null, "done": true})
    );
    assert_error(
        &app.get(&format!("{BASE}/ep_missing")).await,
        404,
        "not_found",
    );
    assert_error(
        &app.get("/api/v1/app/hookd-operational").await,
        404,
        "not_found",
    );

    let created = app
        .post(
            BASE,
            &json!({
                "url": "https://ops.example.com/hook",
                "description": "pager",
                "uid": "pager",
                "eventTypes": ["message.attempt.exhausted", "endpoint.disabled"],
                "throttleRate": 10,
                "metadata": {"team": "ops"},
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "headers": {"X-Team": "ops", "Authorization": "Bearer s3cret"},
            }),
        )
        .await
        .expect(201);
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ep_"), "{created}");
    assert_eq!(created["url"], "https://ops.example.com/hook");
    assert_eq!(created["description"], "pager");
    assert_eq!(created["uid"], "pager");
    assert_eq!(created["disabled"], false);
    assert_eq!(created["filterTypes"], created["eventTypes"]);
    assert_eq!(created["throttleRate"], 10);
    assert_eq!(created["rateLimit"], 10);
    assert_eq!(created["metadata"], json!({"team": "ops"}));
    assert!(created["createdAt"].is_string() && created["updatedAt"].is_string());
    // Svix's shape: no application-endpoint-only fields.
    for f in ["channels", "version", "filter", "secret", "headers"] {
        assert!(created.get(f).is_none(), "{f} in {created}");
    }
    let mut types: Vec<String> = serde_json::from_value(created["eventTypes"].clone()).unwrap();
    types.sort();
    assert_eq!(types, ["endpoint.disabled", "message.attempt.exhausted"]);

    // It is an endpoint of the operational application, created on demand.
    let op_app = app.get("/api/v1/app/hookd-operational").await.expect(200);
    let as_endpoint = app
        .get(&format!(
            "/api/v1/app/{}/endpoint/{id}",
            op_app["id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(as_endpoint["url"], "https://ops.example.com/hook");

    // Get by id and by uid; list.
    assert_eq!(
        app.get(&format!("{BASE}/{id}")).await.expect(200)["uid"],
        "pager"
    );
    assert_eq!(
        app.get(&format!("{BASE}/pager")).await.expect(200)["id"],
        id.as_str()
    );
    let list = app.get(BASE).await.expect(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["data"][0]["id"], id.as_str());
    assert_eq!(list["done"], true);

    // A duplicate uid is a 409.
    assert_error(
        &app.post(
            BASE,
            &json!({"url": "https://ops.example.com/2", "uid": "pager"}),
        )
        .await,
        409,
        "conflict",
    );

    // Secret: the one given; rotation answers 204 and changes it.
    let secret = app.get(&format!("{BASE}/{id}/secret")).await.expect(200);
    assert_eq!(
        secret,
        json!({"key": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    );
    app.post(&format!("{BASE}/{id}/secret/rotate"), &json!({}))
        .await
        .expect_empty(204);
    let rotated = app.get(&format!("{BASE}/{id}/secret")).await.expect(200);
    assert_ne!(rotated, secret);
    assert!(rotated["key"].as_str().unwrap().starts_with("whsec_"));
    app.post(
        &format!("{BASE}/{id}/secret/rotate"),
        &json!({"key": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "gracePeriodSeconds": 0}),
    )
    .await
    .expect_empty(204);
    assert_eq!(
        app.get(&format!("{BASE}/{id}/secret")).await.expect(200)["key"],
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
    );
    assert_validation(
        &app.post(
            &format!("{BASE}/{id}/secret/rotate"),
            &json!({"gracePeriodSeconds": -1}),
        )
        .await,
        json!(["body", "gracePeriodSeconds"]),
    );

    // Headers: sensitive values hidden; PUT replaces them with a 204.
    let headers = app.get(&format!("{BASE}/{id}/headers")).await.expect(200);
    assert_eq!(
        headers,
        json!({"headers": {"X-Team": "ops"}, "sensitive": ["Authorization"]})
    );
    app.put(
        &format!("{BASE}/{id}/headers"),
        &json!({"headers": {"X-Other": "1"}}),
    )
    .await
    .expect_empty(204);
    assert_eq!(
        app.get(&format!("{BASE}/{id}/headers")).await.expect(200),
        json!({"headers": {"X-Other": "1"}, "sensitive": []})
    );
    assert_validation(
        &app.put(
            &format!("{BASE}/{id}/headers"),
            &json!({"headers": {"webhook-id": "x"}}),
        )
        .await,
        json!(["body", "headers", "webhook-id"]),
    );

    // Upsert: updates (200), and creates under a new uid (200, as Svix).
    let updated = app
        .put(
            &format!("{BASE}/{id}"),
            &json!({"url": "https://ops.example.com/v2", "disabled": true}),
        )
        .await
        .expect(200);
    assert_eq!(updated["url"], "https://ops.example.com/v2");
    assert_eq!(updated["disabled"], true);
    assert_eq!(updated["uid"], "pager");
    let upserted = app
        .put(
            &format!("{BASE}/second"),
            &json!({"url": "https://ops.example.com/second"}),
        )
        .await
        .expect(200);
    assert_eq!(upserted["uid"], "second");
    assert_error(
        &app.put(
            &format!("{BASE}/ep_2AbCdEfGhIjKlMnOpQrStUvWxYz"),
            &json!({"url": "https://x.example.com"}),
        )
        .await,
        404,
        "not_found",
    );
    assert_eq!(
        app.get(BASE).await.expect(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Bad input names the field.
    assert_validation(
        &app.post(BASE, &json!({"url": "not a url"})).await,
        json!(["body", "url"]),
    );
    assert_validation(
        &app.post(
            BASE,
            &json!({"url": "https://ops.example.com", "throttleRate": 0}),
        )
        .await,
        json!(["body", "throttleRate"]),
    );
    assert_validation(
        &app.get(&format!("{BASE}?limit=0")).await,
        json!(["query", "limit"]),
    );

    // Delete: 204, then 404 everywhere.
    app.delete(&format!("{BASE}/{id}")).await.expect_empty(204);
    for path in [
        format!("{BASE}/{id}"),
        format!("{BASE}/{id}/secret"),
        format!("{BASE}/{id}/headers"),
    ] {
        assert_error(&app.get(&path).await, 404, "not_found");
    }
    assert_error(&app.delete(&format!("{BASE}/{id}")).await, 404, "not_found");
    assert_eq!(
        app.get(BASE).await.expect(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn operational_webhooks_need_an_organisation_key() {
    let app = spawn_app().await;
    assert_error(
        &send(app.anonymous(Method::GET, BASE)).await,
        401,
        "authentication_failed",
    );
    app.create_app("one").await;
    let (_, key) = app.create_token(&["--app", "one"]).await;
    let resp = send(app.request_as(&key, Method::GET, BASE)).await;
    assert_error(&resp, 403, "forbidden");
}

#[tokio::test]
async fn operational_webhooks_off_when_no_operational_app_is_configured() {
    let app = spawn_app_with(&[("operational_app_uid", "")]).await;
    let body = assert_error(
        &app.post(BASE, &json!({"url": "https://ops.example.com"}))
            .await,
        404,
        "not_found",
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("operational_app_uid"),
        "{body}"
    );
}
