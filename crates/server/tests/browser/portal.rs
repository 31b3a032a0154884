//! The customer portal: a link from `app-portal-access` opens it (its token
//! leaves the URL for an HttpOnly cookie), the customer adds an endpoint,
//! sees deliveries and failures and resends; nothing of another application
//! is reachable, and a read-only link changes nothing.

use std::time::Duration;

use serde_json::json;

use crate::browser;
use crate::helpers::{id, spawn_app};
use crate::receiver::{Receiver, Reply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_manages_endpoints_in_the_portal() {
    let fail = Reply::status(503).body("maintenance window");
    let receiver = Receiver::scripted(vec![fail.clone(), fail.clone(), fail], Reply::ok()).await;
    let app = spawn_app().await;
    let Some(b) = browser::start(&app.base).await else {
        return;
    };
    let mine = id(&app.create_app("customer-a").await);
    let other = id(&app.create_app("customer-b").await);
    let other_ep = id(&app
        .create_endpoint(&other, json!({"url": "https://b.example.com/hook"}))
        .await);
    let other_msg = id(&app
        .send_message(&other, json!({"eventType": "order.created", "payload": {}}))
        .await);
    let access = app
        .post(
            &format!("/api/v1/auth/app-portal-access/{mine}"),
            &json!({}),
        )
        .await
        .expect(200);
    let url = access["url"].as_str().unwrap().to_string();
    assert!(url.contains("/portal/#key="), "{url}");

    // Opening the link: the token is exchanged and leaves the address bar.
    b.goto(&url).await;
    b.wait_text("No endpoints yet.").await;
    let here = b.client.current_url().await.unwrap();
    assert_eq!(here.path(), "/portal/endpoints");
    assert!(
        here.fragment().is_none() && !here.as_str().contains("key="),
        "{here}"
    );
    let cookies = b.client.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c.name() == "hookd_portal")
        .expect("portal cookie");
    assert_eq!(session.http_only(), Some(true));

    // Add an endpoint, send, see the failure and its body, resend.
    b.click("a[href='/portal/endpoints/new']").await;
    b.fill("input[name=url]", &receiver.url).await;
    b.click("form.stack button[type=submit]").await;
    b.wait_text("Endpoint created.").await;
    let ep = b.path().await.rsplit('/').next().unwrap().to_string();
    let msg = id(&app
        .send_message(
            &mine,
            json!({"eventType": "order.created", "payload": {"id": 7}}),
        )
        .await);
    receiver.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.goto(&format!("/portal/message/{msg}")).await;
    b.wait_text("fail").await;
    b.click("#destinations details summary").await;
    b.wait_text("maintenance window").await;
    b.screenshot("portal").await;
    b.click(&format!(
        "form[action='/portal/message/{msg}/resend/{ep}'] button"
    ))
    .await;
    b.wait_text("success").await;
    receiver.wait_for(4, Duration::from_secs(10)).await;
    b.goto("/portal/endpoints").await;
    b.wait_text(&receiver.url).await;
    assert!(b.fits(390).await, "the portal scrolls sideways on a phone");
    assert_eq!(b.console_errors().await, Vec::<String>::new());

    // Another application's data: not by editing ids in URLs…
    for path in [
        format!("/portal/endpoint/{other_ep}"),
        format!("/portal/message/{other_msg}"),
        format!("/ui/app/{other}"),
    ] {
        b.goto(&path).await;
        let text = b.text().await;
        assert!(
            !text.contains("b.example.com"),
            "{path} shows another application: {text}"
        );
    }
    // …nor in forms (a resend of the other app's message, with a valid CSRF token).
    b.goto(&format!("/portal/message/{msg}")).await;
    b.wait_text("success").await;
    let csrf = b
        .client
        .execute(
            "return document.querySelector('input[name=csrf]').value",
            vec![],
        )
        .await
        .unwrap();
    let status = b
        .client
        .execute(
            "return fetch(arguments[0], {method: 'POST', body: new URLSearchParams({csrf: arguments[1]})}).then(r => r.status)",
            vec![json!(format!("/portal/message/{other_msg}/resend/{other_ep}")), csrf],
        )
        .await
        .unwrap();
    assert_eq!(
        status,
        json!(404),
        "another application's message is not found"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let manual: Vec<_> = app
        .attempts_by_msg(&other, &other_msg)
        .await
        .into_iter()
        .filter(|a| a["triggerType"] == 1)
        .collect();
    assert!(
        manual.is_empty(),
        "the other application's message was resent: {manual:?}"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_link_shows_but_changes_nothing() {
    let app = spawn_app().await;
    let Some(b) = browser::start(&app.base).await else {
        return;
    };
    let mine = id(&app.create_app("read-only").await);
    let ep = id(&app
        .create_endpoint(&mine, json!({"url": "https://a.example.com/hook"}))
        .await);
    let access = app
        .post(
            &format!("/api/v1/auth/app-portal-access/{mine}"),
            &json!({"readOnly": true}),
        )
        .await
        .expect(200);
    b.goto(access["url"].as_str().unwrap()).await;
    b.wait_text("a.example.com").await;
    assert!(!b.has("a[href='/portal/endpoints/new']").await);
    b.goto(&format!("/portal/endpoint/{ep}")).await;
    b.wait_text("a.example.com").await;
    for hidden in [
        "form[action$='/disable']",
        "form[action$='/delete']",
        "form[action$='/rotate']",
        "form[action$='/secret']",
    ] {
        assert!(
            !b.has(hidden).await,
            "{hidden} is offered on a read-only link"
        );
    }
    // And the server refuses what the page does not offer.
    let csrf = b
        .client
        .execute(
            "return (document.querySelector('input[name=csrf]') || {}).value || ''",
            vec![],
        )
        .await
        .unwrap();
    let status = b
        .client
        .execute(
            "return fetch(arguments[0], {method: 'POST', body: new URLSearchParams({csrf: arguments[1]})}).then(r => r.status)",
            vec![json!(format!("/portal/endpoint/{ep}/delete")), csrf],
        )
        .await
        .unwrap();
    assert!(status == json!(403) || status == json!(200), "{status}");
    assert_eq!(
        app.get(&format!("/api/v1/app/{mine}/endpoint/{ep}"))
            .await
            .status,
        200
    );
    b.close().await;
}
