//! The browser suite's part of the harness: its servers (deliveries reach
//! local receivers, retries are quick); the rest is the shared harness.

pub use crate::support::app::*;
pub use crate::support::*;

/// Starts a hookd whose deliveries reach 127.0.0.1 and retry quickly.
pub async fn spawn_app() -> TestApp {
    TestApp::spawn(
        &[
            ("allowed_subnets", "127.0.0.0/8"),
            ("retry_schedule", "200ms,400ms"),
            ("log", "warn"),
        ],
        &[],
    )
    .await
}
