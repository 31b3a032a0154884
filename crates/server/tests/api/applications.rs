//! `/api/v1/app`: create, read (by id and uid), list and paginate, upsert,
//! patch and delete applications.

use serde_json::{Value, json};

use crate::helpers::{assert_error, assert_validation, id, ids, spawn_app};

fn is_rfc3339_utc(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test]
async fn create_returns_201_with_the_application() {
    let app = spawn_app().await;
    let body = app
        .post(
            "/api/v1/app",
            &json!({"name": "My app", "uid": "my-app", "metadata": {"team": "billing"}}),
        )
        .await
        .expect(201);
    let app_id = id(&body);
    assert!(app_id.starts_with("app_") && app_id.len() == 31, "{app_id}");
    assert_eq!(body["uid"], "my-app");
    assert_eq!(body["name"], "My app");
    assert_eq!(body["metadata"], json!({"team": "billing"}));
    assert_eq!(body["throttleRate"], Value::Null);
    assert_eq!(body["rateLimit"], Value::Null);
    assert!(is_rfc3339_utc(&body["createdAt"]), "{body}");
    assert!(is_rfc3339_utc(&body["updatedAt"]), "{body}");
}

#[tokio::test]
async fn create_without_uid_and_with_a_throttle_rate() {
    let app = spawn_app().await;
    let body = app
        .post("/api/v1/app", &json!({"name": "No uid", "throttleRate": 7}))
        .await
        .expect(201);
    assert_eq!(body["uid"], Value::Null);
    assert_eq!(body["metadata"], json!({}));
    assert_eq!(body["throttleRate"], 7);
    assert_eq!(body["rateLimit"], 7);
}

#[tokio::test]
async fn get_by_id_and_by_uid() {
    let app = spawn_app().await;
    let created = app.create_app("lookup").await;
    let by_id = app
        .get(&format!("/api/v1/app/{}", id(&created)))
        .await
        .expect(200);
    let by_uid = app.get("/api/v1/app/lookup").await.expect(200);
    assert_eq!(by_id, created);
    assert_eq!(by_uid, created);
}

#[tokio::test]
async fn list_paginates_with_iterator_and_prev_iterator() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(id(&app.create_app(&format!("app-{i}")).await));
    }

    let all = app.get("/api/v1/app").await.expect(200);
    assert_eq!(ids(&all), created, "default order is oldest first");
    assert_eq!(all["done"], true);

    let p1 = app.get("/api/v1/app?limit=2").await.expect(200);
    assert_eq!(ids(&p1), created[0..2]);
    assert_eq!(p1["done"], false);
    assert_eq!(p1["iterator"], created[1].as_str());
    let it = p1["iterator"].as_str().unwrap();

    let p2 = app
        .get(&format!("/api/v1/app?limit=2&iterator={it}"))
        .await
        .expect(200);
    assert_eq!(ids(&p2), created[2..4]);
    assert_eq!(p2["done"], false);
    let it = p2["iterator"].as_str().unwrap();

    let p3 = app
        .get(&format!("/api/v1/app?limit=2&iterator={it}"))
        .await
        .expect(200);
    assert_eq!(ids(&p3), created[4..5]);
    assert_eq!(p3["done"], true);

    // prevIterator walks back to the page before, in list order.
    let prev = p3["prevIterator"].as_str().unwrap();
    assert!(prev.starts_with('-'), "{prev}");
    let back = app
        .get(&format!("/api/v1/app?limit=2&iterator={prev}"))
        .await
        .expect(200);
    assert_eq!(ids(&back), created[2..4]);
}

#[tokio::test]
async fn list_in_descending_order() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(id(&app.create_app(&format!("d-{i}")).await));
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let all = app.get("/api/v1/app?order=descending").await.expect(200);
    assert_eq!(ids(&all), newest_first);

    let p1 = app
        .get("/api/v1/app?order=descending&limit=2")
        .await
        .expect(200);
    assert_eq!(ids(&p1), newest_first[0..2]);
    assert_eq!(p1["done"], false);
    let it = p1["iterator"].as_str().unwrap();
    let p2 = app
        .get(&format!(
            "/api/v1/app?order=descending&limit=2&iterator={it}"
        ))
        .await
        .expect(200);
    assert_eq!(ids(&p2), newest_first[2..3]);
    assert_eq!(p2["done"], true);

    let asc = app.get("/api/v1/app?order=ascending").await.expect(200);
    assert_eq!(ids(&asc), created);
}

#[tokio::test]
async fn empty_list() {
    let app = spawn_app().await;
    let list = app.get("/api/v1/app").await.expect(200);
    assert_eq!(
        list,
        json!({"data": [], "iterator": null, "prevIterator": null, "done": true})
    );
}

#[tokio::test]
async fn get_if_exists_returns_the_existing_application_unchanged() {
    let app = spawn_app().await;
    let original = app
        .post(
            "/api/v1/app",
            &json!({"name": "Original", "uid": "goc", "metadata": {"v": "1"}}),
        )
        .await
        .expect(201);

    let again = app
        .post(
            "/api/v1/app?get_if_exists=true",
            &json!({"name": "Changed", "uid": "goc", "metadata": {"v": "2"}, "throttleRate": 3}),
        )
        .await
        .expect(200);
    assert_eq!(again, original);
    let stored = app.get("/api/v1/app/goc").await.expect(200);
    assert_eq!(stored, original);

    // A uid that does not exist yet is created.
    let fresh = app
        .post(
            "/api/v1/app?get_if_exists=true",
            &json!({"name": "Fresh", "uid": "goc-2"}),
        )
        .await
        .expect(201);
    assert_ne!(id(&fresh), id(&original));
}

#[tokio::test]
async fn duplicate_uid_is_a_conflict() {
    let app = spawn_app().await;
    app.create_app("dup").await;
    let resp = app
        .post("/api/v1/app", &json!({"name": "Second", "uid": "dup"}))
        .await;
    assert_error(&resp, 409, "conflict");
    let list = app.get("/api/v1/app").await.expect(200);
    assert_eq!(ids(&list).len(), 1);
}

#[tokio::test]
async fn put_creates_with_the_path_uid_then_updates() {
    let app = spawn_app().await;
    let created = app
        .put("/api/v1/app/upserted", &json!({"name": "First"}))
        .await
        .expect(201);
    assert_eq!(created["uid"], "upserted");
    assert_eq!(created["name"], "First");

    let updated = app
        .put(
            "/api/v1/app/upserted",
            &json!({"name": "Second", "uid": "upserted", "throttleRate": 4}),
        )
        .await
        .expect(200);
    assert_eq!(id(&updated), id(&created));
    assert_eq!(updated["name"], "Second");
    assert_eq!(updated["throttleRate"], 4);

    // By id as well.
    let by_id = app
        .put(
            &format!("/api/v1/app/{}", id(&created)),
            &json!({"name": "Third", "uid": "upserted"}),
        )
        .await
        .expect(200);
    assert_eq!(by_id["name"], "Third");
    assert_eq!(ids(&app.get("/api/v1/app").await.expect(200)).len(), 1);
}

#[tokio::test]
async fn put_with_an_unknown_id_is_not_found() {
    let app = spawn_app().await;
    let resp = app
        .put(
            "/api/v1/app/app_2zzzzzzzzzzzzzzzzzzzzzzzzzz",
            &json!({"name": "x"}),
        )
        .await;
    assert_error(&resp, 404, "not_found");
}

#[tokio::test]
async fn put_creating_with_a_different_body_uid_is_rejected() {
    let app = spawn_app().await;
    let resp = app
        .put(
            "/api/v1/app/path-uid",
            &json!({"name": "x", "uid": "body-uid"}),
        )
        .await;
    assert_validation(&resp, json!(["body", "uid"]));
    assert_error(&app.get("/api/v1/app/body-uid").await, 404, "not_found");
}

#[tokio::test]
async fn patch_keeps_absent_fields_and_null_clears() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/api/v1/app",
            &json!({"name": "Before", "uid": "patchme", "throttleRate": 10, "metadata": {"a": "b"}}),
        )
        .await
        .expect(201);
    let path = format!("/api/v1/app/{}", id(&created));

    let renamed = app
        .patch(&path, &json!({"name": "After"}))
        .await
        .expect(200);
    assert_eq!(renamed["name"], "After");
    assert_eq!(renamed["uid"], "patchme");
    assert_eq!(renamed["throttleRate"], 10);
    assert_eq!(renamed["metadata"], json!({"a": "b"}));

    let cleared = app
        .patch(&path, &json!({"uid": null, "throttleRate": null}))
        .await
        .expect(200);
    assert_eq!(cleared["uid"], Value::Null);
    assert_eq!(cleared["throttleRate"], Value::Null);
    assert_eq!(cleared["rateLimit"], Value::Null);
    assert_eq!(cleared["name"], "After");
    assert_eq!(cleared["metadata"], json!({"a": "b"}));
    assert_error(&app.get("/api/v1/app/patchme").await, 404, "not_found");

    // The deprecated alias sets the same field; metadata is replaced.
    let aliased = app
        .patch(&path, &json!({"rateLimit": 5, "metadata": {"c": "d"}}))
        .await
        .expect(200);
    assert_eq!(aliased["throttleRate"], 5);
    assert_eq!(aliased["metadata"], json!({"c": "d"}));

    let stored = app.get(&path).await.expect(200);
    assert_eq!(stored, aliased);
}

#[tokio::test]
async fn patch_validates_fields() {
    let app = spawn_app().await;
    app.create_app("pv").await;
    let resp = app
        .patch("/api/v1/app/pv", &json!({"name": "", "throttleRate": 0}))
        .await;
    assert_validation(&resp, json!(["body", "name"]));
    assert_validation(&resp, json!(["body", "throttleRate"]));
    assert_eq!(
        app.get("/api/v1/app/pv").await.expect(200)["name"],
        "App pv"
    );
}

#[tokio::test]
async fn delete_then_not_found() {
    let app = spawn_app().await;
    let created = app.create_app("doomed").await;
    let path = format!("/api/v1/app/{}", id(&created));
    app.delete(&path).await.expect_empty(204);
    assert_error(&app.get(&path).await, 404, "not_found");
    assert_error(&app.get("/api/v1/app/doomed").await, 404, "not_found");
    assert_error(&app.delete(&path).await, 404, "not_found");
    let list = app.get("/api/v1/app").await.expect(200);
    assert_eq!(ids(&list), Vec::<String>::new());
}

#[tokio::test]
async fn deleting_an_application_removes_its_endpoints_and_messages() {
    let app = spawn_app().await;
    let old = app.create_app("cascade").await;
    let old_id = id(&old);
    let ep = app
        .create_endpoint(
            "cascade",
            json!({"url": "https://cascade.hookd-test.invalid/hook", "uid": "ep-uid"}),
        )
        .await;
    let msg = app
        .send_message(
            "cascade",
            json!({"eventType": "a.b", "eventId": "evt-1", "payload": {"x": 1}}),
        )
        .await;
    app.delete("/api/v1/app/cascade").await.expect_empty(204);

    // What a user sees: a new application with the same uid starts empty, and
    // nothing of the old one is reachable.
    let new = app
        .put("/api/v1/app/cascade", &json!({"name": "Again"}))
        .await
        .expect(201);
    assert_ne!(id(&new), old_id);
    let eps = app.get("/api/v1/app/cascade/endpoint").await.expect(200);
    assert_eq!(ids(&eps), Vec::<String>::new());
    let msgs = app.get("/api/v1/app/cascade/msg").await.expect(200);
    assert_eq!(ids(&msgs), Vec::<String>::new());
    assert_error(
        &app.get(&format!("/api/v1/app/cascade/msg/{}", id(&msg)))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &app.get("/api/v1/app/cascade/endpoint/ep-uid").await,
        404,
        "not_found",
    );
    assert_error(
        &app.get(&format!("/api/v1/app/{old_id}/endpoint/{}", id(&ep)))
            .await,
        404,
        "not_found",
    );

    // And what a user cannot see: no rows of the old application are left to
    // leak storage or be delivered by the engine.
    let db = rusqlite::Connection::open(&app.db_path).unwrap();
    for table in ["endpoints", "messages", "deliveries", "attempts"] {
        let n: i64 = db
            .query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE app_id = ?1"),
                [&old_id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0, "{table} rows of the deleted application remain");
    }
}

#[tokio::test]
async fn creating_validates_fields() {
    let app = spawn_app().await;
    let resp = app
        .post(
            "/api/v1/app",
            &json!({"name": "", "uid": "bad uid!", "throttleRate": 0}),
        )
        .await;
    assert_validation(&resp, json!(["body", "name"]));
    assert_validation(&resp, json!(["body", "uid"]));
    assert_validation(&resp, json!(["body", "throttleRate"]));
    // uids may not look like ids, or "id or uid" lookups would be ambiguous.
    let resp = app
        .post("/api/v1/app", &json!({"name": "x", "uid": "app_mine"}))
        .await;
    assert_validation(&resp, json!(["body", "uid"]));
    let list = app.get("/api/v1/app").await.expect(200);
    assert_eq!(ids(&list), Vec::<String>::new());
}

#[tokio::test]
async fn counts_of_active_applications_and_endpoints() {
    let app = crate::helpers::spawn_app().await;
    let none = app.get("/api/v1/app/stats/count-active").await.expect(200);
    assert_eq!(none["count"], 0, "{none}");
    // An application whose uid is "stats" still works under its own paths.
    let a = crate::helpers::id(&app.create_app("stats").await);
    let b = crate::helpers::id(&app.create_app("other").await);
    app.create_app("empty").await;
    app.create_endpoint(&a, serde_json::json!({"url": "https://a.example.com"}))
        .await;
    let off = crate::helpers::id(
        &app.create_endpoint(&b, serde_json::json!({"url": "https://b.example.com"}))
            .await,
    );
    app.create_endpoint(
        &b,
        serde_json::json!({"url": "https://c.example.com", "disabled": true}),
    )
    .await;
    app.get("/api/v1/app/stats/endpoint").await.expect(200);
    app.get("/api/v1/app/stats").await.expect(200);
    let n = app.get("/api/v1/stats/endpoint/count").await.expect(200);
    assert_eq!(
        (n["active"].as_u64(), n["disabled"].as_u64()),
        (Some(2), Some(1)),
        "{n}"
    );
    assert_eq!(
        app.get("/api/v1/app/stats/count-active").await.expect(200)["count"],
        2
    );
    app.patch(
        &format!("/api/v1/app/{b}/endpoint/{off}"),
        &serde_json::json!({"disabled": true}),
    )
    .await
    .expect(200);
    assert_eq!(
        app.get("/api/v1/app/stats/count-active").await.expect(200)["count"],
        1
    );
    assert_eq!(
        app.get("/api/v1/stats/endpoint/count?exclude_svix_play=maybe")
            .await
            .status,
        422
    );
}
