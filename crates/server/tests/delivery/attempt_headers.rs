//! An attempt's headers as a real receiver got them and answered them
//! (`…/attempt/{id}/headers`), and removing its response body (`…/content`).

use std::time::Duration;

use serde_json::json;

use crate::helpers::{id, spawn_app};
use crate::receiver::{Receiver, Reply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempt_headers_are_what_was_sent_and_received() {
    let receiver = Receiver::always(Reply::ok().retry_after("7").body("thanks: secret-ish")).await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("headers").await);
    let ep = id(&app
        .create_endpoint(
            &app_id,
            json!({"url": receiver.url, "headers": {"X-Tenant": "acme", "Authorization": "Bearer t0ken"}}),
        )
        .await);
    let msg = app.send_event(&app_id, "user.created").await;
    app.wait_for_status(&app_id, &msg, &ep, 0).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let attempt = id(&app.attempts_by_msg(&app_id, &msg).await[0]);

    let h = app
        .get(&format!(
            "/api/v1/app/{app_id}/msg/{msg}/attempt/{attempt}/headers"
        ))
        .await
        .expect(200);
    let sent = &h["sentHeaders"];
    for name in [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-tenant",
    ] {
        assert_eq!(
            sent[name],
            got[0].header(name),
            "{name} as the receiver got it: {h}"
        );
    }
    assert_eq!(sent["content-type"], "application/json");
    // The credential was sent, but is neither shown nor stored.
    assert_eq!(got[0].header("authorization"), "Bearer t0ken");
    assert!(sent.get("authorization").is_none(), "{h}");
    assert_eq!(h["sensitive"], json!(["authorization"]));
    assert!(!h.to_string().contains("t0ken"), "{h}");
    let response = h["responseHeaders"].as_array().expect("responseHeaders");
    assert!(response.contains(&json!(["retry-after", "7"])), "{h}");
    assert!(
        response
            .iter()
            .all(|p| p.as_array().is_some_and(|p| p.len() == 2))
    );

    // Removing the response body keeps the rest of the attempt.
    let path = format!("/api/v1/app/{app_id}/msg/{msg}/attempt/{attempt}");
    assert_eq!(
        app.get(&path).await.expect(200)["response"],
        "thanks: secret-ish"
    );
    app.delete(&format!("{path}/content"))
        .await
        .expect_empty(204);
    let after = app.get(&path).await.expect(200);
    assert_eq!(after["response"], "");
    assert_eq!(after["responseStatusCode"], 200);
    let h2 = app.get(&format!("{path}/headers")).await.expect(200);
    assert_eq!(h2, h, "headers stay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_without_a_response_have_no_response_headers() {
    let app = spawn_app().await;
    let app_id = id(&app.create_app("noresp").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": crate::receiver::refused_url()}))
        .await);
    let msg = app.send_event(&app_id, "user.created").await;
    app.wait_for_status(&app_id, &msg, &ep, 2).await;
    let attempt = id(&app.attempts_by_msg(&app_id, &msg).await[0]);
    let h = app
        .get(&format!(
            "/api/v1/app/{app_id}/msg/{msg}/attempt/{attempt}/headers"
        ))
        .await
        .expect(200);
    assert!(h["responseHeaders"].is_null(), "{h}");
    assert!(
        h["sentHeaders"]["webhook-signature"]
            .as_str()
            .is_some_and(|s| s.starts_with("v1,"))
    );
}
