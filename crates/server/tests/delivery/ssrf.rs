//! The SSRF policy with its default settings (no allowed subnets): endpoints
//! on loopback, private, link-local/cloud-metadata addresses, and host names
//! resolving to them, are refused before any connection is made. No packet
//! goes to 10.x or 169.254.x: IP literals are checked before sending, and a
//! host name is checked on the addresses it resolves to.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{id, spawn_app_with};
use crate::receiver::Receiver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_public_addresses_are_refused_by_default() {
    let receiver = Receiver::start().await;
    let port = receiver.addr.port();
    let app = spawn_app_with(&[("allowed_subnets", "")]).await;
    let app_id = id(&app.create_app("ssrf").await);
    let cases = [
        (format!("http://127.0.0.1:{port}/hook"), "loopback"),
        ("http://10.0.0.1/".to_string(), "private"),
        (
            "http://169.254.169.254/latest/meta-data".to_string(),
            "cloud metadata",
        ),
        (format!("http://localhost:{port}/hook"), "loopback"),
        // Other spellings of loopback: IPv6, IPv4-mapped, NAT64, and the
        // numeric forms URL parsers normalise to 127.0.0.1.
        (format!("http://[::1]:{port}/hook"), "loopback"),
        (format!("http://[::ffff:127.0.0.1]:{port}/hook"), "loopback"),
        (format!("http://[64:ff9b::7f00:1]:{port}/hook"), "loopback"),
        (format!("http://2130706433:{port}/hook"), "loopback"),
        (format!("http://0x7f.1:{port}/hook"), "loopback"),
    ];
    let mut endpoints = Vec::new();
    for (url, class) in &cases {
        let ep = id(&app.create_endpoint(&app_id, json!({"url": url})).await);
        endpoints.push((ep, url, *class));
    }
    let msg = app.send_event(&app_id, "user.created").await;
    for (ep, url, class) in &endpoints {
        app.wait_for_status(&app_id, &msg, ep, 2).await;
        let attempts: Vec<_> = app
            .attempts_by_msg(&app_id, &msg)
            .await
            .into_iter()
            .filter(|a| a["endpointId"] == ep.as_str())
            .collect();
        assert_eq!(
            attempts.len(),
            1,
            "{url}: blocked is not retried: {attempts:#?}"
        );
        let a = &attempts[0];
        assert_eq!(a["errorClass"], "blocked", "{url}: {a}");
        assert_eq!(a["responseStatusCode"], 0, "{url}: {a}");
        assert_eq!(a["status"], 2, "{url}: {a}");
        let why = a["response"].as_str().unwrap_or("");
        assert!(
            why.contains("SSRF") && why.contains(class),
            "{url}: the response should say why ({class}): {why:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        receiver.count(),
        0,
        "a blocked delivery reached the receiver"
    );
}
