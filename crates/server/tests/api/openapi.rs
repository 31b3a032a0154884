//! `/api/v1/openapi.json`: a valid OpenAPI 3 document describing every
//! operation the other tests exercise, identical to `hookd openapi`.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{run_hookd, send, spawn_app};

/// Every (method, path) the API tests call.
const OPERATIONS: &[(&str, &str)] = &[
    ("get", "/api/v1/app"),
    ("post", "/api/v1/app"),
    ("get", "/api/v1/app/{app_id}"),
    ("put", "/api/v1/app/{app_id}"),
    ("patch", "/api/v1/app/{app_id}"),
    ("delete", "/api/v1/app/{app_id}"),
    ("get", "/api/v1/app/{app_id}/endpoint"),
    ("post", "/api/v1/app/{app_id}/endpoint"),
    ("get", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"),
    ("put", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"),
    ("patch", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"),
    ("delete", "/api/v1/app/{app_id}/endpoint/{endpoint_id}"),
    ("get", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret"),
    (
        "post",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
    ),
    ("get", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers"),
    ("put", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers"),
    (
        "patch",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    ),
    ("get", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg"),
    ("get", "/api/v1/event-type"),
    ("post", "/api/v1/event-type"),
    ("get", "/api/v1/event-type/{event_type_name}"),
    ("put", "/api/v1/event-type/{event_type_name}"),
    ("patch", "/api/v1/event-type/{event_type_name}"),
    ("delete", "/api/v1/event-type/{event_type_name}"),
    ("get", "/api/v1/event-type/{event_type_name}/retry-schedule"),
    ("put", "/api/v1/event-type/{event_type_name}/retry-schedule"),
    ("post", "/api/v1/event-type/import/openapi"),
    ("post", "/api/v1/event-type/export/openapi"),
    ("get", "/api/v1/app/{app_id}/msg"),
    ("post", "/api/v1/app/{app_id}/msg"),
    ("get", "/api/v1/app/{app_id}/msg/{msg_id}"),
    ("get", "/api/v1/app/{app_id}/msg/{msg_id}/endpoint"),
    ("get", "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}"),
    ("get", "/api/v1/app/{app_id}/attempt/msg/{msg_id}"),
    (
        "get",
        "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
    ),
    (
        "get",
        "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/headers",
    ),
    (
        "delete",
        "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",
    ),
    (
        "get",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}/rate-limit-status",
    ),
    ("get", "/api/v1/stats/app/{app_id}/attempt"),
    ("get", "/api/v1/app/{app_id}/stats/attempts"),
    ("get", "/api/v1/events"),
    (
        "post",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg/test-attempt",
    ),
    ("post", "/api/v1/msg/broadcast"),
    ("post", "/api/v1/app/{app_id}/msg/search"),
    ("get", "/api/v1/health"),
];

#[tokio::test]
async fn the_document_describes_every_operation() {
    let app = spawn_app().await;
    let resp = send(app.anonymous(Method::GET, "/api/v1/openapi.json")).await;
    let doc = resp.expect(200);
    assert!(resp.content_type().starts_with("application/json"));
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3."), "openapi = {:?}", doc["openapi"]);
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let paths = doc["paths"].as_object().expect("paths must be an object");
    let mut missing = Vec::new();
    for (method, path) in OPERATIONS {
        let op = &paths.get(*path).unwrap_or(&Value::Null)[*method];
        if !op.is_object() {
            missing.push(format!("{} {path}", method.to_uppercase()));
            continue;
        }
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
        // Each path parameter is declared.
        for param in path.split('/').filter_map(|s| s.strip_prefix('{')) {
            let name = param.trim_end_matches('}');
            let declared = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
            assert!(declared, "{method} {path} does not declare {name}");
        }
    }
    assert!(missing.is_empty(), "not in the document: {missing:?}");
    assert!(
        doc["components"]["securitySchemes"]["bearer"].is_object(),
        "bearer auth is not described"
    );
}

#[tokio::test]
async fn the_cli_prints_the_same_document() {
    let app = spawn_app().await;
    let served = send(app.anonymous(Method::GET, "/api/v1/openapi.json"))
        .await
        .expect(200);
    let out = run_hookd(app.dir(), &["openapi"], &[], b"").await;
    assert!(out.status.success(), "{out:?}");
    let printed: Value = serde_json::from_str(&out.stdout).expect("hookd openapi printed no JSON");
    assert_eq!(printed, served);
}
