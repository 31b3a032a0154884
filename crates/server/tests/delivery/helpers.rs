//! The delivery suite's part of the harness: servers with delivery settings
//! compressed for tests, and the polls on a delivery's state; the rest is
//! the shared harness in `support`, re-exported here.

use std::time::Duration;

use serde_json::{Value, json};

pub use crate::support::app::*;
pub use crate::support::binary::*;
pub use crate::support::*;

/// Settings every test server of this suite starts with (later settings
/// override them). 127.0.0.0/8 is opened in the SSRF policy so deliveries
/// can reach the receivers; the SSRF tests clear it again.
const BASE: Settings<'static> = &[
    ("allowed_subnets", "127.0.0.0/8"),
    ("retry_schedule", "200ms,400ms"),
    ("request_timeout_secs", "5"),
    ("shutdown_timeout_secs", "10"),
    ("log", "warn"),
];

/// Starts a hookd with the test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts a hookd with extra settings (as command-line flags would give them).
pub async fn spawn_app_with(settings: Settings<'_>) -> TestApp {
    TestApp::spawn(BASE, settings).await
}

/// An RFC 3339 time `ago` before now.
pub fn rfc3339_ago(ago: Duration) -> String {
    let t = chrono::Utc::now() - chrono::Duration::from_std(ago).expect("duration");
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl TestApp {
    /// A message of this event type with a small payload; returns its id.
    pub async fn send_event(&self, app: &str, event_type: &str) -> String {
        id(&self
            .send_message(
                app,
                json!({"eventType": event_type, "payload": {"type": event_type}}),
            )
            .await)
    }

    pub async fn get_endpoint(&self, app: &str, ep: &str) -> Value {
        self.get(&format!("/api/v1/app/{app}/endpoint/{ep}"))
            .await
            .expect(200)
    }

    /// The delivery status of `msg` at `ep` (0 success, 1 pending, 2 fail,
    /// 3 sending), `None` when the message was not routed there.
    pub async fn destination_status(&self, app: &str, msg: &str, ep: &str) -> Option<i64> {
        self.destinations(app, msg)
            .await
            .iter()
            .find(|d| d["id"] == ep)
            .map(|d| d["status"].as_i64().expect("status"))
    }

    /// Waits until the delivery of `msg` to `ep` reaches `status`.
    pub async fn wait_for_status(&self, app: &str, msg: &str, ep: &str, status: i64) {
        wait_until(
            Duration::from_secs(15),
            &format!("delivery of {msg} to {ep} to reach status {status}"),
            || async {
                (self.destination_status(app, msg, ep).await == Some(status)).then_some(())
            },
        )
        .await;
    }
}
