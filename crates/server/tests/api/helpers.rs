//! The API suite's part of the harness: its servers (the shared defaults,
//! nothing more), the error-body assertions and `hookd token create`; the
//! rest is the shared harness in `support`, re-exported here.

use serde_json::Value;

pub use crate::support::app::*;
pub use crate::support::binary::*;
pub use crate::support::*;

/// Starts a hookd with the test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts a hookd with extra settings (as command-line flags would give them).
pub async fn spawn_app_with(settings: Settings<'_>) -> TestApp {
    TestApp::spawn(&[], settings).await
}

impl TestApp {
    /// `hookd token create ARGS…`: returns the key id (`key_…`) and the key.
    pub async fn create_token(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["token", "create"];
        all.extend_from_slice(args);
        let out = self.db_cli(&all).await;
        assert!(out.status.success(), "token create failed: {out:?}");
        let key = out.stdout.trim().to_string();
        assert!(
            !key.is_empty() && !key.contains(char::is_whitespace),
            "{out:?}"
        );
        let id = out
            .stderr
            .split_whitespace()
            .find(|w| w.starts_with("key_"))
            .unwrap_or_else(|| panic!("no key id in the output: {out:?}"))
            .to_string();
        (id, key)
    }
}

/// Asserts an error response: the status, a JSON body with this `code` and a
/// non-empty string `detail`. Returns the body.
#[track_caller]
pub fn assert_error(resp: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(
        resp.status, status,
        "unexpected status; body: {}",
        resp.text
    );
    assert!(
        resp.content_type().starts_with("application/json"),
        "error responses must be JSON, got content-type {:?}: {}",
        resp.content_type(),
        resp.text
    );
    let body = resp.json();
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail must be a non-empty string: {body}"
    );
    body
}

/// Asserts a 422 whose `detail` list has an entry at `loc`; returns that entry.
#[track_caller]
pub fn assert_validation(resp: &Resp, loc: Value) -> Value {
    assert_eq!(resp.status, 422, "unexpected status; body: {}", resp.text);
    assert!(
        resp.content_type().starts_with("application/json"),
        "content-type {:?}",
        resp.content_type()
    );
    let body = resp.json();
    assert_eq!(body["code"], "validation", "{body}");
    let detail = body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("422 detail must be a list: {body}"));
    for d in detail {
        assert!(d["msg"].is_string() && d["type"].is_string(), "{d}");
    }
    detail
        .iter()
        .find(|d| d["loc"] == loc)
        .cloned()
        .unwrap_or_else(|| panic!("no error at {loc} in {body}"))
}
