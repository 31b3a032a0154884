//! `/api/v1/event-type`: the catalogue, archiving (soft delete), expunging,
//! upsert and patch.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_validation, spawn_app};

#[track_caller]
fn names(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

async fn create(app: &TestApp, name: &str) -> Value {
    app.post(
        "/api/v1/event-type",
        &json!({"name": name, "description": format!("{name} happened")}),
    )
    .await
    .expect(201)
}

#[tokio::test]
async fn create_and_get() {
    let app = spawn_app().await;
    let schemas = json!({"1": {"type": "object", "properties": {"id": {"type": "string"}}}});
    let et = app
        .post(
            "/api/v1/event-type",
            &json!({
                "name": "invoice.paid",
                "description": "An invoice was paid",
                "schemas": schemas,
                "groupName": "invoice",
                "featureFlags": ["beta"],
            }),
        )
        .await
        .expect(201);
    assert_eq!(et["name"], "invoice.paid");
    assert_eq!(et["description"], "An invoice was paid");
    assert_eq!(et["archived"], false);
    assert_eq!(et["deprecated"], false);
    assert_eq!(et["schemas"], schemas);
    assert_eq!(et["groupName"], "invoice");
    assert_eq!(et["featureFlags"], json!(["beta"]));
    assert!(
        et["createdAt"].is_string() && et["updatedAt"].is_string(),
        "{et}"
    );

    let got = app.get("/api/v1/event-type/invoice.paid").await.expect(200);
    assert_eq!(got, et);
    assert_error(
        &app.get("/api/v1/event-type/no.such.type").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn duplicate_name_is_a_conflict() {
    let app = spawn_app().await;
    create(&app, "user.created").await;
    let resp = app
        .post(
            "/api/v1/event-type",
            &json!({"name": "user.created", "description": "again"}),
        )
        .await;
    assert_error(&resp, 409, "conflict");
    let got = app.get("/api/v1/event-type/user.created").await.expect(200);
    assert_eq!(got["description"], "user.created happened");
}

#[tokio::test]
async fn invalid_names_are_rejected() {
    let app = spawn_app().await;
    for bad in ["has space", "", "slash/name", &"a".repeat(257)] {
        let resp = app
            .post(
                "/api/v1/event-type",
                &json!({"name": bad, "description": ""}),
            )
            .await;
        assert_validation(&resp, json!(["body", "name"]));
    }
    let resp = app
        .post(
            "/api/v1/event-type",
            &json!({"name": "ok.name", "description": "", "schemas": [1]}),
        )
        .await;
    assert_validation(&resp, json!(["body", "schemas"]));
}

#[tokio::test]
async fn delete_archives_and_create_unarchives() {
    let app = spawn_app().await;
    create(&app, "a.one").await;
    create(&app, "a.two").await;

    app.delete("/api/v1/event-type/a.one")
        .await
        .expect_empty(204);

    let list = app.get("/api/v1/event-type").await.expect(200);
    assert_eq!(names(&list), ["a.two"]);
    let list = app
        .get("/api/v1/event-type?include_archived=true")
        .await
        .expect(200);
    assert_eq!(names(&list), ["a.one", "a.two"]);
    assert_eq!(list["data"][0]["archived"], true);
    let got = app.get("/api/v1/event-type/a.one").await.expect(200);
    assert_eq!(got["archived"], true);

    // Creating it again brings it back, with the new fields.
    let again = app
        .post(
            "/api/v1/event-type",
            &json!({"name": "a.one", "description": "revived"}),
        )
        .await
        .expect(201);
    assert_eq!(again["archived"], false);
    assert_eq!(again["description"], "revived");
    let list = app.get("/api/v1/event-type").await.expect(200);
    assert_eq!(names(&list), ["a.one", "a.two"]);

    assert_error(
        &app.delete("/api/v1/event-type/never.existed").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn expunge_removes_for_good() {
    let app = spawn_app().await;
    create(&app, "gone.soon").await;
    app.delete("/api/v1/event-type/gone.soon?expunge=true")
        .await
        .expect_empty(204);
    assert_error(
        &app.get("/api/v1/event-type/gone.soon").await,
        404,
        "not_found",
    );
    let list = app
        .get("/api/v1/event-type?include_archived=true")
        .await
        .expect(200);
    assert_eq!(names(&list), Vec::<String>::new());
    // An archived type can be expunged too.
    create(&app, "gone.later").await;
    app.delete("/api/v1/event-type/gone.later")
        .await
        .expect_empty(204);
    app.delete("/api/v1/event-type/gone.later?expunge=true")
        .await
        .expect_empty(204);
    assert_error(
        &app.get("/api/v1/event-type/gone.later").await,
        404,
        "not_found",
    );
    // The name is free again.
    create(&app, "gone.soon").await;
}

#[tokio::test]
async fn put_upserts() {
    let app = spawn_app().await;
    let created = app
        .put(
            "/api/v1/event-type/order.shipped",
            &json!({"description": "first"}),
        )
        .await
        .expect(201);
    assert_eq!(created["name"], "order.shipped");
    assert_eq!(created["description"], "first");
    let updated = app
        .put(
            "/api/v1/event-type/order.shipped",
            &json!({"description": "second", "deprecated": true}),
        )
        .await
        .expect(200);
    assert_eq!(updated["description"], "second");
    assert_eq!(updated["deprecated"], true);
    assert_eq!(updated["createdAt"], created["createdAt"]);
    let got = app
        .get("/api/v1/event-type/order.shipped")
        .await
        .expect(200);
    assert_eq!(got, updated);

    let resp = app
        .put("/api/v1/event-type/bad name", &json!({"description": "x"}))
        .await;
    assert_validation(&resp, json!(["path", "event_type_name"]));
}

#[tokio::test]
async fn patch_changes_only_given_fields() {
    let app = spawn_app().await;
    let schemas = json!({"1": {"type": "object"}});
    app.post(
        "/api/v1/event-type",
        &json!({"name": "p.t", "description": "orig", "schemas": schemas, "groupName": "g"}),
    )
    .await
    .expect(201);

    let patched = app
        .patch("/api/v1/event-type/p.t", &json!({"deprecated": true}))
        .await
        .expect(200);
    assert_eq!(patched["deprecated"], true);
    assert_eq!(patched["description"], "orig");
    assert_eq!(patched["schemas"], schemas);
    assert_eq!(patched["groupName"], "g");

    let patched = app
        .patch(
            "/api/v1/event-type/p.t",
            &json!({"description": "new", "groupName": null}),
        )
        .await
        .expect(200);
    assert_eq!(patched["description"], "new");
    assert_eq!(patched["groupName"], Value::Null);
    assert_eq!(patched["deprecated"], true);
    assert_eq!(app.get("/api/v1/event-type/p.t").await.expect(200), patched);

    assert_error(
        &app.patch("/api/v1/event-type/nope", &json!({"description": "x"}))
            .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn list_paginates_by_name_and_can_omit_schemas() {
    let app = spawn_app().await;
    for name in ["c.c", "a.a", "b.b"] {
        app.post(
            "/api/v1/event-type",
            &json!({"name": name, "description": "", "schemas": {"1": {}}}),
        )
        .await
        .expect(201);
    }
    let p1 = app.get("/api/v1/event-type?limit=2").await.expect(200);
    assert_eq!(names(&p1), ["a.a", "b.b"]);
    assert_eq!(p1["done"], false);
    let it = p1["iterator"].as_str().unwrap();
    let p2 = app
        .get(&format!("/api/v1/event-type?limit=2&iterator={it}"))
        .await
        .expect(200);
    assert_eq!(names(&p2), ["c.c"]);
    assert_eq!(p2["done"], true);

    let with = app.get("/api/v1/event-type").await.expect(200);
    assert_eq!(with["data"][0]["schemas"], json!({"1": {}}));
    let without = app
        .get("/api/v1/event-type?with_content=false")
        .await
        .expect(200);
    assert_eq!(names(&without), ["a.a", "b.b", "c.c"]);
    for et in without["data"].as_array().unwrap() {
        assert!(et["schemas"].is_null(), "schemas shown: {et}");
    }
}

#[tokio::test]
async fn retry_schedule_is_set_read_and_reset() {
    let app = spawn_app().await;
    let path = "/api/v1/event-type/invoice.paid/retry-schedule";
    create(&app, "invoice.paid").await;
    assert_eq!(
        app.get(path).await.expect(200),
        json!({"retrySchedule": null})
    );

    let schedule = json!({"retrySchedule": [{"secs": 5, "nanos": 0}, {"secs": 0, "nanos": 0}, {"secs": 3600, "nanos": 0}]});
    assert_eq!(app.put(path, &schedule).await.expect(200), schedule);
    assert_eq!(app.get(path).await.expect(200), schedule);

    // Editing the event type keeps its schedule.
    app.patch(
        "/api/v1/event-type/invoice.paid",
        &json!({"description": "changed"}),
    )
    .await
    .expect(200);
    assert_eq!(app.get(path).await.expect(200), schedule);

    // An empty schedule (no retries) differs from null (the server's).
    let none = json!({"retrySchedule": []});
    assert_eq!(app.put(path, &none).await.expect(200), none);
    assert_eq!(app.get(path).await.expect(200), none);
    let reset = json!({"retrySchedule": null});
    assert_eq!(app.put(path, &reset).await.expect(200), reset);
    assert_eq!(app.get(path).await.expect(200), reset);

    for resp in [
        app.get("/api/v1/event-type/no.such.type/retry-schedule")
            .await,
        app.put("/api/v1/event-type/no.such.type/retry-schedule", &schedule)
            .await,
    ] {
        assert_error(&resp, 404, "not_found");
    }
}

#[tokio::test]
async fn retry_schedule_is_validated_like_the_servers() {
    let app = spawn_app().await;
    let path = "/api/v1/event-type/invoice.paid/retry-schedule";
    create(&app, "invoice.paid").await;
    let good = json!({"retrySchedule": [{"secs": 60, "nanos": 0}]});
    app.put(path, &good).await.expect(200);

    let too_long =
        json!({"retrySchedule": [{"secs": 1, "nanos": 0}, {"secs": 2_592_001, "nanos": 0}]});
    assert_validation(
        &app.put(path, &too_long).await,
        json!(["body", "retrySchedule", 1, "secs"]),
    );
    let negative = json!({"retrySchedule": [{"secs": -1, "nanos": 0}]});
    assert_validation(
        &app.put(path, &negative).await,
        json!(["body", "retrySchedule", 0, "secs"]),
    );
    let fractional = json!({"retrySchedule": [{"secs": 1, "nanos": 0}, {"secs": 1, "nanos": 500}]});
    assert_validation(
        &app.put(path, &fractional).await,
        json!(["body", "retrySchedule", 1, "nanos"]),
    );
    let many: Vec<Value> = (0..51).map(|_| json!({"secs": 1, "nanos": 0})).collect();
    assert_validation(
        &app.put(path, &json!({"retrySchedule": many})).await,
        json!(["body", "retrySchedule"]),
    );
    let fifty: Vec<Value> = (0..50).map(|_| json!({"secs": 1, "nanos": 0})).collect();
    app.put(path, &json!({"retrySchedule": fifty}))
        .await
        .expect(200);
    app.put(path, &good).await.expect(200);
    let wrong_type = json!({"retrySchedule": [{"secs": "soon", "nanos": 0}]});
    assert_eq!(app.put(path, &wrong_type).await.status, 422);

    // Nothing rejected was stored.
    assert_eq!(app.get(path).await.expect(200), good);
}

fn pet_spec() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Pets", "version": "1.0.0"},
        "webhooks": {
            "pet.new": {"post": {
                "description": "A pet arrived",
                "x-svix-group-name": "pet",
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
                "responses": {"200": {"description": "ok"}}
            }},
            "pet.gone": {"post": {
                "summary": "A pet left",
                "deprecated": true,
                "responses": {"200": {"description": "ok"}}
            }}
        },
        "components": {"schemas": {"Pet": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}}}
    })
}

#[tokio::test]
async fn openapi_import_creates_updates_and_archives() {
    let app = spawn_app().await;
    let import = "/api/v1/event-type/import/openapi";
    create(&app, "old.type").await;
    app.put(
        "/api/v1/event-type/old.type/retry-schedule",
        &json!({"retrySchedule": [{"secs": 7, "nanos": 0}]}),
    )
    .await
    .expect(200);

    // A dry run says what would change and writes nothing.
    let dry = app
        .post(import, &json!({"spec": pet_spec(), "dryRun": true}))
        .await
        .expect(200);
    let mut modified: Vec<String> =
        serde_json::from_value(dry["data"]["modified"].clone()).unwrap();
    modified.sort();
    assert_eq!(modified, ["pet.gone", "pet.new"], "{dry}");
    let to_modify = dry["data"]["to_modify"].as_array().unwrap();
    let new = to_modify.iter().find(|e| e["name"] == "pet.new").unwrap();
    assert_eq!(new["description"], "A pet arrived");
    assert_eq!(new["groupName"], "pet");
    assert_eq!(
        new["schemas"]["properties"]["id"]["type"], "integer",
        "the $ref is inlined: {new}"
    );
    assert_error(
        &app.get("/api/v1/event-type/pet.new").await,
        404,
        "not_found",
    );

    let done = app
        .post(import, &json!({"spec": pet_spec(), "replaceAll": true}))
        .await
        .expect(200);
    let mut modified: Vec<String> =
        serde_json::from_value(done["data"]["modified"].clone()).unwrap();
    modified.sort();
    assert_eq!(modified, ["old.type", "pet.gone", "pet.new"], "{done}");
    assert!(done["data"]["to_modify"].is_null());
    let pet = app.get("/api/v1/event-type/pet.new").await.expect(200);
    assert_eq!(pet["schemas"]["1"]["required"], json!(["id"]));
    let gone = app.get("/api/v1/event-type/pet.gone").await.expect(200);
    assert_eq!(
        (gone["description"].as_str(), gone["deprecated"].as_bool()),
        (Some("A pet left"), Some(true))
    );
    let old = app.get("/api/v1/event-type/old.type").await.expect(200);
    assert_eq!(old["archived"], true, "replaceAll archives the rest");
    assert_eq!(
        app.get("/api/v1/event-type/old.type/retry-schedule")
            .await
            .expect(200)["retrySchedule"],
        json!([{"secs": 7, "nanos": 0}])
    );

    // The same document as text, again: nothing to do.
    let raw = pet_spec().to_string();
    let again = app.post(import, &json!({"specRaw": raw})).await.expect(200);
    assert_eq!(again["data"]["modified"], json!([]));
}

#[tokio::test]
async fn openapi_import_rejects_bad_documents() {
    let app = spawn_app().await;
    let import = "/api/v1/event-type/import/openapi";
    assert_eq!(app.post(import, &json!({})).await.status, 400);
    assert_eq!(
        app.post(import, &json!({"spec": pet_spec(), "specRaw": "{}"}))
            .await
            .status,
        400
    );
    assert_validation(
        &app.post(import, &json!({"specRaw": "webhooks: {}"})).await,
        json!(["body", "specRaw"]),
    );
    let mut bad = pet_spec();
    bad["webhooks"]["pet.new"]["post"]["requestBody"]["content"]["application/json"]["schema"] =
        json!({"$ref": "#/components/schemas/Nope"});
    bad["webhooks"]["bad name!"] = json!({"post": {"description": "x"}});
    let resp = app.post(import, &json!({"spec": bad})).await;
    assert_validation(
        &resp,
        json!(["body", "spec", "webhooks", "pet.new", "post", "requestBody"]),
    );
    assert_validation(&resp, json!(["body", "spec", "webhooks", "bad name!"]));
    // Nothing of a rejected document is stored.
    assert_error(
        &app.get("/api/v1/event-type/pet.gone").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn openapi_export_reads_back_as_the_same_catalogue() {
    let app = spawn_app().await;
    let import = "/api/v1/event-type/import/openapi";
    app.post(import, &json!({"spec": pet_spec()}))
        .await
        .expect(200);
    create(&app, "archived.type").await;
    app.delete("/api/v1/event-type/archived.type")
        .await
        .expect_empty(204);

    let task = app
        .post("/api/v1/event-type/export/openapi", &json!({}))
        .await
        .expect(202);
    assert_eq!(task["status"], "finished", "{task}");
    assert!(
        task["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("qtask_")),
        "{task}"
    );
    let got = app
        .get(&format!(
            "/api/v1/background-task/{}",
            task["id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    let spec = &got["data"]["spec"];
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{got}"
    );
    let mut names: Vec<&String> = spec["webhooks"].as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(
        names,
        ["pet.gone", "pet.new"],
        "archived types are left out"
    );
    assert_eq!(
        spec["webhooks"]["pet.new"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["required"],
        json!(["id"])
    );

    // Importing the export changes nothing.
    let again = app.post(import, &json!({"spec": spec})).await.expect(200);
    assert_eq!(again["data"]["modified"], json!([]), "{again}");
}
