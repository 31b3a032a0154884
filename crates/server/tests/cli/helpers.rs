//! The CLI suite's part of the harness: servers that deliver to local
//! receivers quickly and stop quickly, and readers of what the commands
//! print; the rest is the shared harness in `support`, re-exported here.

use std::path::{Path, PathBuf};

pub use crate::support::app::*;
pub use crate::support::binary::*;
pub use crate::support::*;

/// Settings every test server of this suite starts with (later settings
/// override them): 127.0.0.0/8 allowed so deliveries reach local receivers,
/// one quick retry, and a short shutdown.
const BASE: Settings<'static> = &[
    ("allowed_subnets", "127.0.0.0/8"),
    ("retry_schedule", "100ms"),
    ("request_timeout_secs", "5"),
    ("shutdown_timeout_secs", "2"),
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

/// The value printed after `field` in `field  value` output.
#[track_caller]
pub fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(char::is_whitespace)?;
            (k == name).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no field {name:?} in:\n{out}"))
}

/// Writes a file in `dir` and returns its path.
pub fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}
