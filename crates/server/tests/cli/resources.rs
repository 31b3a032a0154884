//! `hookd apps`, `hookd endpoints`, `hookd event-types`: create, list, get,
//! update, delete, in tables and with `--json`, checked against the API.

use serde_json::{Value, json};

use crate::helpers::{field, spawn_app, write};

#[tokio::test]
async fn apps_create_list_get_update_delete() {
    let s = spawn_app().await;

    let out = s
        .cli(&[
            "apps",
            "create",
            "Acme Inc.",
            "--uid",
            "acme",
            "--throttle-rate",
            "7",
            "--metadata",
            "tier=gold",
        ])
        .await;
    let text = out.ok();
    let id = field(text, "id");
    assert!(id.starts_with("app_"), "{text}");
    assert_eq!(field(text, "uid"), "acme");
    assert_eq!(field(text, "name"), "Acme Inc.");
    assert_eq!(field(text, "throttleRate"), "7");
    assert_eq!(field(text, "metadata"), r#"{"tier":"gold"}"#);
    assert!(
        !text.contains("rateLimit"),
        "SDK aliases are not repeated: {text}"
    );

    s.cli(&["apps", "create", "Second", "--uid", "second"])
        .await
        .ok();

    // A table: a header, then one aligned row per application.
    let out = s.cli(&["apps", "list"]).await;
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert!(lines[0].starts_with("ID "), "{lines:?}");
    for h in ["UID", "NAME", "THROTTLE", "CREATED"] {
        assert!(lines[0].contains(h), "{lines:?}");
    }
    assert!(
        lines[1].starts_with(&id) && lines[1].contains("Acme Inc."),
        "{lines:?}"
    );
    let name_col = lines[0].find("NAME").unwrap();
    assert_eq!(
        &lines[1][name_col..name_col + 4],
        "Acme",
        "columns are aligned: {lines:?}"
    );

    // Paging: a cursor hint on stderr, then the next page.
    let out = s.cli(&["apps", "list", "--limit", "1"]).await;
    assert_eq!(out.ok().lines().count(), 2);
    let hint = out.stderr.trim();
    let cursor = hint
        .strip_prefix("more: add --iterator ")
        .unwrap_or_else(|| panic!("no paging hint: {out:?}"));
    let out = s
        .cli(&["apps", "list", "--limit", "1", "--iterator", cursor])
        .await;
    assert!(out.ok().contains("second"), "{out:?}");

    // --json is the API's own list response.
    let list = s.cli(&["apps", "list", "--json"]).await.json();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(list["done"], true);

    let got = s.cli(&["apps", "--json", "get", "acme"]).await.json();
    assert_eq!(got["id"], Value::String(id.clone()));
    assert_eq!(got["metadata"], json!({"tier": "gold"}));

    let out = s
        .cli(&[
            "apps",
            "update",
            "acme",
            "--name",
            "Acme Corp",
            "--throttle-rate",
            "9",
        ])
        .await;
    assert_eq!(field(out.ok(), "name"), "Acme Corp");
    let api = s.get("/api/v1/app/acme").await.expect(200);
    assert_eq!(api["name"], "Acme Corp");
    assert_eq!(api["throttleRate"], 9);
    assert_eq!(
        api["metadata"],
        json!({"tier": "gold"}),
        "PATCH keeps what was not given"
    );

    let err = s.cli(&["apps", "update", "acme"]).await;
    assert!(err.fails(2).contains("nothing to update"), "{err:?}");

    let out = s.cli(&["apps", "delete", "acme"]).await;
    assert_eq!(out.ok().trim(), "deleted application acme");
    let err = s.cli(&["apps", "get", "acme"]).await;
    let msg = err.fails(1);
    assert!(
        msg.contains("cannot get application \"acme\"") && msg.contains("not found (404"),
        "{err:?}"
    );
    // The `app` alias.
    assert!(
        s.cli(&["app", "get", "second"])
            .await
            .ok()
            .contains("second")
    );
}

#[tokio::test]
async fn endpoints_create_list_get_update_secret_delete() {
    let s = spawn_app().await;
    s.create_app("shop").await;

    let out = s
        .cli(&[
            "endpoints",
            "create",
            "shop",
            "https://example.com/hooks",
            "--uid",
            "main",
            "--description",
            "the main one",
            "--event-type",
            "invoice.paid",
            "--event-type",
            "invoice.sent",
            "--channel",
            "eu",
            "--header",
            "x-tenant: t-42",
            "--metadata",
            "team=billing",
        ])
        .await;
    let text = out.ok();
    let id = field(text, "id");
    assert!(id.starts_with("ep_"), "{text}");
    assert_eq!(field(text, "filterTypes"), "invoice.paid,invoice.sent");
    assert_eq!(field(text, "channels"), "eu");
    assert_eq!(field(text, "disabled"), "false");
    // The table output of create shows the signing secret.
    let secret = field(text, "secret");
    assert!(secret.starts_with("whsec_"), "{text}");
    assert!(
        !text.contains("eventTypes"),
        "SDK aliases are not repeated: {text}"
    );

    let api_secret = s
        .get("/api/v1/app/shop/endpoint/main/secret")
        .await
        .expect(200);
    assert_eq!(api_secret["key"], Value::String(secret.clone()));
    let headers = s
        .get("/api/v1/app/shop/endpoint/main/headers")
        .await
        .expect(200);
    assert_eq!(headers["headers"]["x-tenant"], "t-42");

    let out = s.cli(&["endpoints", "list", "shop"]).await;
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(lines[0].contains("URL") && lines[0].contains("EVENT TYPES"));
    assert!(lines[1].contains("https://example.com/hooks"), "{lines:?}");
    assert!(lines[1].contains("enabled"), "{lines:?}");

    let got = s
        .cli(&["endpoints", "get", "shop", "main", "--json"])
        .await
        .json();
    assert_eq!(got["id"], Value::String(id.clone()));
    assert_eq!(got["description"], "the main one");

    let out = s
        .cli(&[
            "endpoints",
            "update",
            "shop",
            "main",
            "--disable",
            "--all-event-types",
            "--endpoint-url",
            "https://example.com/v2",
        ])
        .await;
    let text = out.ok();
    assert_eq!(field(text, "disabled"), "true");
    assert_eq!(field(text, "filterTypes"), "-");
    assert_eq!(field(text, "url"), "https://example.com/v2");
    let api = s.get("/api/v1/app/shop/endpoint/main").await.expect(200);
    assert_eq!(api["disabled"], true);
    assert_eq!(api["filterTypes"], Value::Null);
    assert_eq!(
        api["channels"],
        json!(["eu"]),
        "PATCH keeps what was not given"
    );
    let out = s
        .cli(&["endpoints", "update", "shop", "main", "--enable"])
        .await;
    assert_eq!(field(out.ok(), "disabled"), "false");

    let out = s.cli(&["endpoints", "secret", "shop", "main"]).await;
    assert_eq!(out.ok().trim(), secret);
    let new = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let out = s
        .cli(&[
            "endpoints",
            "rotate-secret",
            "shop",
            "main",
            "--secret",
            new,
            "--grace-period",
            "60",
        ])
        .await;
    assert_eq!(out.ok().trim(), new);
    assert_eq!(
        s.get("/api/v1/app/shop/endpoint/main/secret")
            .await
            .expect(200)["key"],
        new
    );
    let secret_json = s
        .cli(&["endpoints", "secret", "shop", "main", "--json"])
        .await
        .json();
    assert_eq!(secret_json, json!({"key": new}));

    let out = s.cli(&["endpoints", "delete", "shop", "main"]).await;
    assert_eq!(out.ok().trim(), "deleted endpoint main");
    let list = s.cli(&["endpoints", "list", "shop", "--json"]).await.json();
    assert_eq!(list["data"], json!([]));
    let out = s.cli(&["endpoints", "list", "shop"]).await;
    assert_eq!(out.ok(), "");
    assert!(out.stderr.contains("(none)"), "{out:?}");
}

#[tokio::test]
async fn event_types_create_list_get_update_archive_expunge() {
    let s = spawn_app().await;
    let schema = write(
        s.dir(),
        "schema.json",
        br#"{"type": "object", "properties": {"invoice": {"type": "string"}}}"#,
    );
    let schema = schema.to_str().unwrap();
    let out = s
        .cli(&[
            "event-types",
            "create",
            "invoice.paid",
            "--description",
            "An invoice was paid",
            "--schema",
            schema,
            "--group",
            "invoice",
        ])
        .await;
    let text = out.ok();
    assert_eq!(field(text, "name"), "invoice.paid");
    assert_eq!(field(text, "groupName"), "invoice");
    let api = s.get("/api/v1/event-type/invoice.paid").await.expect(200);
    assert_eq!(api["schemas"]["1"]["type"], "object", "{api}");

    s.cli(&["event-type", "create", "invoice.sent"]).await.ok();

    let out = s.cli(&["event-types", "list"]).await;
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert!(lines[0].starts_with("NAME"));
    let paid = lines
        .iter()
        .find(|l| l.starts_with("invoice.paid"))
        .unwrap();
    assert!(
        paid.contains("An invoice was paid") && paid.contains("yes"),
        "{paid}"
    );

    let got = s
        .cli(&["event-types", "get", "invoice.paid", "--json"])
        .await
        .json();
    assert_eq!(got["description"], "An invoice was paid");

    let out = s
        .cli(&[
            "event-types",
            "update",
            "invoice.paid",
            "--deprecated",
            "true",
            "--description",
            "Paid",
        ])
        .await;
    assert_eq!(field(out.ok(), "deprecated"), "true");
    assert_eq!(field(out.ok(), "description"), "Paid");

    let out = s.cli(&["event-types", "delete", "invoice.sent"]).await;
    assert_eq!(out.ok().trim(), "archived event type invoice.sent");
    let out = s.cli(&["event-types", "list"]).await;
    assert!(!out.ok().contains("invoice.sent"), "{out:?}");
    let out = s.cli(&["event-types", "list", "--include-archived"]).await;
    let sent = out
        .ok()
        .lines()
        .find(|l| l.starts_with("invoice.sent"))
        .unwrap_or_else(|| panic!("{out:?}"))
        .to_string();
    assert!(sent.contains("archived"), "{sent}");

    let out = s
        .cli(&["event-types", "delete", "invoice.sent", "--expunge"])
        .await;
    assert_eq!(out.ok().trim(), "deleted event type invoice.sent");
    let err = s.cli(&["event-types", "get", "invoice.sent"]).await;
    assert!(err.fails(1).contains("404"), "{err:?}");
}
