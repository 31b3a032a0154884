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
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::receiver::Captured;

/// The packages verify.py runs against: the Standard Webhooks reference
/// library for `v1` (HMAC) signatures, and `cryptography` for `v1a`
/// (ed25519), which the reference library does not implement.
const REQUIREMENTS: &[&str] = &["standardwebhooks==1.1.0", "cryptography==44.0.0"];

fn verify_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/delivery/verify.py")
}

/// `target/` (the parent of `target/tmp`, so it follows `CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

fn required() -> bool {
    std::env::var("HOOKD_REQUIRE_SDK_TESTS").is_ok_and(|v| !v.is_empty() && v != "0")
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

/// A lock held by creating a file exclusively; removed on drop. One left
/// behind by a killed run is taken over once older than any install takes.
struct FileLock(PathBuf);

impl FileLock {
    const STALE: Duration = Duration::from_secs(10 * 60);
    const WAIT: Duration = Duration::from_secs(10 * 60);

    fn acquire(path: PathBuf) -> Result<FileLock, String> {
        let start = Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(FileLock(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|a| a > Self::STALE) {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if start.elapsed() > Self::WAIT {
                        return Err(format!("timed out waiting for {}", path.display()));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs a setup command; its stdout, or a reason including its output.
fn run(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{shown} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The venv's python, installing the venv first if needed.
fn install() -> Result<PathBuf, String> {
    let version = run(Command::new("python3").arg("--version"))
        .map_err(|e| format!("python3 is not available: {e}"))?;
    let target = target_dir();
    std::fs::create_dir_all(&target)
        .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let _lock = FileLock::acquire(target.join("pyenv-delivery.lock"))?;
    let venv = target.join("pyenv-delivery");
    let python = venv.join("bin").join("python");
    let stamp_path = venv.join(".hookd-stamp");
    let stamp = format!("{}\n{}", REQUIREMENTS.join(" "), version.trim());
    if std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
        return Ok(python);
    }
    match std::fs::remove_dir_all(&venv) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot clear {}: {e}", venv.display())),
    }
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
        .map_err(|e| format!("cannot create a venv (is python3-venv installed?): {e}"))?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .args(REQUIREMENTS))
    .map_err(|e| format!("cannot install {}: {e}", REQUIREMENTS.join(" ")))?;
    // Written last: a stamp means the venv is complete.
    std::fs::write(&stamp_path, stamp)
        .map_err(|e| format!("cannot write {}: {e}", stamp_path.display()))?;
    Ok(python)
}

fn python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(install).clone()
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
