//! The operator's dashboard: sign in, add an endpoint, watch a message get
//! delivered, see a failure with its response body, resend it, and the
//! overview's health and chart; keyboard-usable labelled forms, a narrow
//! screen, no console errors.

use std::time::Duration;

use serde_json::json;

use crate::browser;
use crate::helpers::{ADMIN_TOKEN, id, spawn_app};
use crate::receiver::{Receiver, Reply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_adds_an_endpoint_and_follows_deliveries() {
    // First message delivered; the second fails all three attempts with a
    // body the operator must see; the resend succeeds.
    let boom = Reply::status(500).body("boom: database down");
    let receiver = Receiver::scripted(
        vec![Reply::ok(), boom.clone(), boom.clone(), boom],
        Reply::ok(),
    )
    .await;
    let app = spawn_app().await;
    let Some(b) = browser::start(&app.base).await else {
        return;
    };
    let app_id = id(&app.create_app("acme").await);
    app.post(
        "/api/v1/event-type",
        &json!({"name": "invoice.paid", "description": "An invoice was paid"}),
    )
    .await
    .expect(201);

    // Signing in: a wrong key is refused, the organisation key works.
    b.goto("/ui").await;
    assert_eq!(b.path().await, "/ui/login");
    assert!(
        b.has("label input[name=key]").await,
        "the key field has a label"
    );
    b.fill("input[name=key]", "hk_wrong").await;
    b.click("form[action='/ui/login'] button").await;
    b.wait_text("not valid").await;
    // The refused sign-in is a 401, which the browser logs; nothing else.
    let refused = b.console_errors().await;
    assert!(
        refused
            .iter()
            .all(|e| e.contains("/ui/login") && e.contains("401")),
        "{refused:?}"
    );
    b.fill("input[name=key]", ADMIN_TOKEN).await;
    b.click("form[action='/ui/login'] button").await;
    b.wait_text("App acme").await;

    // Add an endpoint through the form.
    b.click(&format!("a[href='/ui/app/{app_id}']")).await;
    b.wait_text("Endpoints").await;
    b.goto(&format!("/ui/app/{app_id}/endpoints/new")).await;
    b.fill("input[name=url]", &receiver.url).await;
    b.fill("input[name=description]", "Billing").await;
    b.fill("input[name=filter]", "n >= 1").await;
    b.click("input[name=eventTypes][value='invoice.paid']")
        .await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text("Endpoint created.").await;
    let ep_path = b.path().await;
    let ep_id = ep_path.rsplit('/').next().unwrap().to_string();
    assert!(ep_id.starts_with("ep_"), "{ep_path}");
    let saved = app
        .get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}"))
        .await
        .expect(200);
    assert_eq!(
        saved["filter"], "n >= 1",
        "the form's payload filter was saved: {saved}"
    );
    let shown = b
        .client
        .execute(
            "return document.querySelector('input[name=filter]').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(shown, json!("n >= 1"));

    // A delivered message shows as delivered, live.
    let ok_msg = app
        .send_message(
            &app_id,
            json!({"eventType": "invoice.paid", "payload": {"n": 1}}),
        )
        .await;
    b.goto(&format!("/ui/app/{app_id}/message/{}", id(&ok_msg)))
        .await;
    b.wait_text("success").await;

    // A failing one: its status and the receiver's response body.
    let bad = id(&app
        .send_message(
            &app_id,
            json!({"eventType": "invoice.paid", "payload": {"n": 2}}),
        )
        .await);
    // Resending is refused while retries are pending: let all three fail.
    receiver.wait_for(4, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.goto(&format!("/ui/app/{app_id}/message/{bad}")).await;
    b.wait_text("fail").await;
    b.click("#destinations details summary").await;
    b.wait_text("boom: database down").await;

    // Resend, and the page updates by itself.
    b.click(&format!(
        "form[action$='/message/{bad}/resend/{ep_id}'] button"
    ))
    .await;
    b.wait_text("Resent.").await;
    let text = b.wait_text("success").await;
    assert!(text.contains("Resent."), "{text}");
    receiver.wait_for(5, Duration::from_secs(10)).await;

    // The overview: health, chart, recent messages.
    b.goto(&format!("/ui/app/{app_id}")).await;
    let text = b.wait_text("Attempts, last 24 hours").await;
    assert!(text.contains("Billing"), "{text}");
    assert!(
        text.contains("succeeded") && text.contains("failed"),
        "{text}"
    );
    assert!(b.has("figure.chart svg rect.fail").await);
    assert!(
        b.fits(390).await,
        "the overview scrolls sideways on a phone"
    );
    b.screenshot("dashboard").await;
    assert_eq!(b.console_errors().await, Vec::<String>::new());

    // Changes without the session's CSRF token are refused.
    let forged = b
        .client
        .execute(
            "return fetch(arguments[0], {method: 'POST', body: new URLSearchParams({})}).then(r => r.status)",
            vec![json!(format!("/ui/app/{app_id}/endpoint/{ep_id}/delete"))],
        )
        .await
        .unwrap();
    assert_eq!(forged, json!(403));
    assert_eq!(
        app.get(&format!("/api/v1/app/{app_id}/endpoint/{ep_id}"))
            .await
            .status,
        200,
        "the endpoint survived the forged request"
    );

    // Signing out ends the session.
    b.click("form.logout button").await;
    b.wait_text("Sign in to hookd").await;
    b.goto("/ui").await;
    assert_eq!(b.path().await, "/ui/login");
    b.close().await;
}
