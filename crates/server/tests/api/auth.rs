//! Authentication and scoping: bearer keys, keys of other organisations made
//! with `hookd token create --org`, revocation, and application-scoped keys.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, assert_error, id, ids, send, spawn_app};

#[tokio::test]
async fn a_missing_header_is_401_json() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/api/v1/app"),
        (Method::POST, "/api/v1/app"),
        (Method::GET, "/api/v1/app/x/msg"),
        (Method::GET, "/api/v1/event-type"),
    ] {
        let resp = send(app.anonymous(method, path)).await;
        assert_error(&resp, 401, "authentication_failed");
    }
}

#[tokio::test]
async fn a_wrong_or_malformed_key_is_401() {
    let app = spawn_app().await;
    app.create_app("a").await;
    let resp = send(app.request_as("not-a-key", Method::GET, "/api/v1/app/a")).await;
    assert_error(&resp, 401, "authentication_failed");
    for header in [
        "Basic aGVsbG86d29ybGQ=",
        "Bearer",
        "Bearer ",
        "hookd-test-admin-token",
    ] {
        let resp = send(
            app.anonymous(Method::GET, "/api/v1/app")
                .header("authorization", header),
        )
        .await;
        assert_error(&resp, 401, "authentication_failed");
    }
    // The right key works, with either spelling of the scheme.
    let resp = send(
        app.anonymous(Method::GET, "/api/v1/app/a")
            .header("authorization", format!("bearer {ADMIN_TOKEN}")),
    )
    .await;
    resp.expect(200);
}

#[tokio::test]
async fn health_and_openapi_need_no_key() {
    let app = spawn_app().await;
    let health = send(app.anonymous(Method::GET, "/api/v1/health"))
        .await
        .expect(200);
    assert_eq!(health["status"], "ok");
    send(app.anonymous(Method::GET, "/api/v1/openapi.json"))
        .await
        .expect(200);
}

#[tokio::test]
async fn other_organisations_cannot_see_each_others_data_and_keys_can_be_revoked() {
    let app = spawn_app().await;
    let mine = app.create_app("shared-uid").await;
    app.post(
        "/api/v1/event-type",
        &json!({"name": "mine.only", "description": ""}),
    )
    .await
    .expect(201);

    let (key_id, key) = app
        .create_token(&["--org", "other", "--name", "other-key"])
        .await;
    assert!(key_id.starts_with("key_"), "{key_id}");
    let as_other = |method: Method, path: &str| app.request_as(&key, method, path);

    // Nothing of the default organisation is visible, by id or uid.
    for path in [
        format!("/api/v1/app/{}", id(&mine)),
        "/api/v1/app/shared-uid".to_string(),
        "/api/v1/app/shared-uid/endpoint".to_string(),
        "/api/v1/app/shared-uid/msg".to_string(),
        "/api/v1/event-type/mine.only".to_string(),
    ] {
        let resp = send(as_other(Method::GET, &path)).await;
        assert_error(&resp, 404, "not_found");
    }
    let list = send(as_other(Method::GET, "/api/v1/app")).await.expect(200);
    assert_eq!(ids(&list), Vec::<String>::new());
    let resp = send(as_other(
        Method::DELETE,
        &format!("/api/v1/app/{}", id(&mine)),
    ))
    .await;
    assert_error(&resp, 404, "not_found");

    // uids are per organisation.
    let theirs = send(
        as_other(Method::POST, "/api/v1/app").json(&json!({"name": "Theirs", "uid": "shared-uid"})),
    )
    .await
    .expect(201);
    assert_ne!(id(&theirs), id(&mine));
    let resp = app.get("/api/v1/app/shared-uid").await.expect(200);
    assert_eq!(resp, mine);

    // The key is listed (never the key itself), then revoked.
    let listed = app.db_cli(&["token", "list"]).await;
    assert!(listed.status.success(), "{listed:?}");
    let line = listed
        .stdout
        .lines()
        .find(|l| l.contains(&key_id))
        .unwrap_or_else(|| panic!("{key_id} not listed: {listed:?}"));
    assert!(
        line.contains("other") && line.contains("other-key"),
        "{line}"
    );
    assert!(line.contains("active"), "{line}");
    assert!(!listed.stdout.contains(&key), "the key itself was printed");

    let revoked = app.db_cli(&["token", "revoke", &key_id]).await;
    assert!(revoked.status.success(), "{revoked:?}");
    // Verified keys are cached for KEY_CACHE_TTL: the revocation bites within it.
    let deadline = std::time::Instant::now()
        + hookd::api::auth::KEY_CACHE_TTL
        + std::time::Duration::from_secs(2);
    let resp = loop {
        let resp = send(as_other(Method::GET, "/api/v1/app")).await;
        if resp.status == 401 || std::time::Instant::now() > deadline {
            break resp;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_error(&resp, 401, "authentication_failed");
    let listed = app.db_cli(&["token", "list"]).await;
    let line = listed
        .stdout
        .lines()
        .find(|l| l.contains(&key_id))
        .unwrap_or_else(|| panic!("{key_id} not listed: {listed:?}"));
    assert!(line.contains("revoked"), "{line}");

    // Revoking twice, or an unknown id, fails.
    let again = app.db_cli(&["token", "revoke", &key_id]).await;
    assert!(!again.status.success(), "{again:?}");
}

#[tokio::test]
async fn default_organisation_keys_see_the_same_data_as_the_admin_token() {
    let app = spawn_app().await;
    let created = app.create_app("a").await;
    let (_, key) = app.create_token(&[]).await;
    let got = send(app.request_as(&key, Method::GET, "/api/v1/app/a"))
        .await
        .expect(200);
    assert_eq!(got, created);
}

#[tokio::test]
async fn application_scoped_keys_reach_only_their_application() {
    let app = spawn_app().await;
    let scoped_app = app.create_app("portal").await;
    let other_app = app.create_app("elsewhere").await;
    let (_, key) = app.create_token(&["--app", "portal"]).await;
    let as_scoped = |method: Method, path: &str| app.request_as(&key, method, path);

    let got = send(as_scoped(Method::GET, "/api/v1/app/portal"))
        .await
        .expect(200);
    assert_eq!(got, scoped_app);
    send(as_scoped(
        Method::GET,
        &format!("/api/v1/app/{}", id(&scoped_app)),
    ))
    .await
    .expect(200);
    send(
        as_scoped(Method::POST, "/api/v1/app/portal/endpoint")
            .json(&json!({"url": "https://scoped.hookd-test.invalid/hook"})),
    )
    .await
    .expect(201);
    send(
        as_scoped(Method::POST, "/api/v1/app/portal/msg")
            .json(&json!({"eventType": "x.y", "payload": {}})),
    )
    .await
    .expect(202);

    // The list shows only its application.
    let list = send(as_scoped(Method::GET, "/api/v1/app"))
        .await
        .expect(200);
    assert_eq!(ids(&list), vec![id(&scoped_app)]);

    for path in [
        format!("/api/v1/app/{}", id(&other_app)),
        "/api/v1/app/elsewhere".to_string(),
        "/api/v1/app/elsewhere/endpoint".to_string(),
        "/api/v1/app/elsewhere/msg".to_string(),
    ] {
        let resp = send(as_scoped(Method::GET, &path)).await;
        assert_error(&resp, 404, "not_found");
    }
    let resp = send(
        as_scoped(Method::POST, "/api/v1/app/elsewhere/msg")
            .json(&json!({"eventType": "x.y", "payload": {}})),
    )
    .await;
    assert_error(&resp, 404, "not_found");

    // Organisation-wide operations are forbidden.
    let resp = send(as_scoped(Method::POST, "/api/v1/app").json(&json!({"name": "New"}))).await;
    assert_error(&resp, 403, "forbidden");
    let resp = send(
        as_scoped(Method::POST, "/api/v1/event-type")
            .json(&json!({"name": "x.y", "description": ""})),
    )
    .await;
    assert_error(&resp, 403, "forbidden");
    let resp = send(
        as_scoped(Method::POST, "/api/v1/app/brand-new/msg")
            .json(&json!({"eventType": "x.y", "payload": {}, "application": {"name": "N"}})),
    )
    .await;
    assert_error(&resp, 403, "forbidden");
    assert_error(&app.get("/api/v1/app/brand-new").await, 404, "not_found");
    let apps = app.get("/api/v1/app").await.expect(200);
    assert_eq!(ids(&apps).len(), 2);
}

#[tokio::test]
async fn a_scoped_key_for_a_missing_application_is_refused() {
    let app = spawn_app().await;
    let out = app
        .db_cli(&["token", "create", "--app", "no-such-app"])
        .await;
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("no-such-app"), "{out:?}");
    assert_eq!(out.stdout.trim(), "", "no key may be printed: {out:?}");
}

#[tokio::test]
async fn application_scoped_keys_cannot_change_or_delete_their_application() {
    let app = spawn_app().await;
    let scoped = app.create_app("portal-owner").await;
    let (_, key) = app.create_token(&["--app", "portal-owner"]).await;
    let path = "/api/v1/app/portal-owner";
    let resp = send(
        app.request_as(&key, Method::PATCH, path)
            .json(&json!({"name": "hijacked"})),
    )
    .await;
    assert_error(&resp, 403, "forbidden");
    let resp = send(
        app.request_as(&key, Method::PUT, path)
            .json(&json!({"name": "hijacked", "uid": "portal-owner"})),
    )
    .await;
    assert_error(&resp, 403, "forbidden");
    let resp = send(app.request_as(&key, Method::DELETE, path)).await;
    assert_error(&resp, 403, "forbidden");
    // Nothing changed, and the key still works.
    let got = send(app.request_as(&key, Method::GET, path))
        .await
        .expect(200);
    assert_eq!(got, scoped);
}
