//! The harness shared by the `api`, `delivery` and `cli` test binaries,
//! included by each through `#[path = "../support/mod.rs"] mod support;`:
//! an in-process hookd per test ([`app`]), the real `hookd` binary run with a
//! clean environment ([`binary`]), and the bounded poll and JSON accessors
//! every suite uses. A suite's own defaults and helpers live in its
//! `helpers.rs`, which re-exports all of this.
// Each binary uses only part of the harness.
#![allow(dead_code)]

pub mod app;
pub mod binary;

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Polls `cond` every 20 ms until it yields a value, for at most `timeout`;
/// then fails the test naming `what`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `id` field of an object.
#[track_caller]
pub fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

/// The `data` array of a list response.
#[track_caller]
pub fn data(list: &Value) -> Vec<Value> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list response: {list}"))
        .clone()
}

/// The ids of a list response's `data`, in order.
#[track_caller]
pub fn ids(list: &Value) -> Vec<String> {
    data(list).iter().map(id).collect()
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("cannot bind a port");
    l.local_addr().expect("address").port()
}
