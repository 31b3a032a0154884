//! `…/endpoint/{ep}/rate-limit-status` follows what the rate limit does to
//! real deliveries: `RateLimited` while they wait for it, `Ok` once through.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{id, spawn_app, wait_until};
use crate::receiver::{Receiver, Reply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_status_is_limited_while_deliveries_wait() {
    let receiver = Receiver::always(Reply::ok()).await;
    let app = spawn_app().await;
    let app_id = id(&app.create_app("throttled").await);
    let ep = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url, "rateLimit": 2}))
        .await);
    let free = id(&app
        .create_endpoint(&app_id, json!({"url": receiver.url}))
        .await);
    let path = |ep: &str| format!("/api/v1/app/{app_id}/endpoint/{ep}/rate-limit-status");
    assert_eq!(
        app.get(&path(&ep)).await.expect(200),
        json!({"status": "Ok", "throttledSince": null})
    );
    for _ in 0..8 {
        app.send_event(&app_id, "user.created").await;
    }
    let limited = wait_until(
        Duration::from_secs(5),
        "the endpoint to be rate limited",
        || async {
            let s = app.get(&path(&ep)).await.expect(200);
            (s["status"] == "RateLimited").then_some(s)
        },
    )
    .await;
    assert!(
        limited["throttledSince"]
            .as_str()
            .is_some_and(|t| t.contains('T')),
        "{limited}"
    );
    // The endpoint without a limit took the same messages at once.
    assert_eq!(app.get(&path(&free)).await.expect(200)["status"], "Ok");
    receiver.wait_for(16, Duration::from_secs(15)).await;
    wait_until(
        Duration::from_secs(5),
        "the status to be Ok again",
        || async {
            let s = app.get(&path(&ep)).await.expect(200);
            (s == json!({"status": "Ok", "throttledSince": null})).then_some(())
        },
    )
    .await;
}
