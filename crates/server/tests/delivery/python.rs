//! Signature checks by an independent implementation: the Standard Webhooks
//! reference library for Python (`standardwebhooks`, pinned below), run by
//! `verify.py` over the requests a receiver captured.
//!
//! The library is installed once into a venv at `target/pyenv-delivery` and
//! reused while the pin and the Python version are unchanged. A lock file
//! (created with `create_new`, so exactly one process wins) keeps parallel
//! test processes from installing at the same time; a `OnceLock` does the
//! same for the tests of this process.
//!
//! When python3 or the installation is unavailable the check prints
//! `SKIPPED: <reason>` and passes, unless `HOOKD_REQUIRE_SDK_TESTS` is set
//! (to anything but empty or `0`): then it fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::pyenv::{self, required};
use crate::receiver::Captured;

/// The packages verify.py runs against: the Standard Webhooks reference
/// library for `v1` (HMAC) signatures, and `cryptography` for `v1a`
/// (ed25519), which the reference library does not implement.
const REQUIREMENTS: &[&str] = &["standardwebhooks==1.1.0", "cryptography==44.0.0"];

fn verify_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/delivery/verify.py")
}

/// One signed request to verify, and whether it should verify.
pub struct Case {
    pub name: String,
    pub secret: String,
    pub msg_id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub expect_valid: bool,
}

impl Case {
    /// A captured delivery with `webhook-*` headers, or `svix-*` ones when
    /// `svix_names` (the library reads only the `webhook-*` names; the signed
    /// content is the same).
    pub fn captured(name: &str, c: &Captured, secret: &str, svix_names: bool) -> Case {
        let p = if svix_names { "svix" } else { "webhook" };
        Case {
            name: name.to_string(),
            secret: secret.to_string(),
            msg_id: c.header(&format!("{p}-id")).to_string(),
            timestamp: c.header(&format!("{p}-timestamp")).to_string(),
            signature: c.header(&format!("{p}-signature")).to_string(),
            body: c.body.to_vec(),
            expect_valid: true,
        }
    }

    /// The same case, expected to be rejected.
    pub fn invalid(mut self, name: &str) -> Case {
        self.name = name.to_string();
        self.expect_valid = false;
        self
    }
}

fn python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| pyenv::python_venv("pyenv-delivery", REQUIREMENTS))
        .clone()
}

/// Verifies `cases` with `verify.py`; fails the test when any case does not
/// verify as expected. Skips (see the module doc) without Python.
pub async fn verify(cases: Vec<Case>) {
    assert!(!cases.is_empty(), "nothing to verify");
    let python = match tokio::task::spawn_blocking(python).await.unwrap() {
        Ok(p) => p,
        Err(reason) => {
            assert!(
                !required(),
                "the Python signature check cannot run and HOOKD_REQUIRE_SDK_TESTS is set: {reason}"
            );
            eprintln!(
                "SKIPPED: Python standardwebhooks check: {reason} (set HOOKD_REQUIRE_SDK_TESTS=1 to make this fail)"
            );
            return;
        }
    };
    let list: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "secret": c.secret,
                "body_b64": STANDARD.encode(&c.body),
                "headers": {
                    "webhook-id": c.msg_id,
                    "webhook-timestamp": c.timestamp,
                    "webhook-signature": c.signature,
                },
                "expect": if c.expect_valid { "valid" } else { "invalid" },
            })
        })
        .collect();
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&list).unwrap()).expect("write cases");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&python)
            .arg(verify_script())
            .arg(&file)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("verify.py did not finish within 60 s")
    .expect("cannot run verify.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "verify.py rejected signatures ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
