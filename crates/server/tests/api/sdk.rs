//! The official Svix SDKs against hookd: the scripts in `sdk-tests/` run
//! against a server started here, so wire compatibility is checked by the
//! clients users actually have, not by our reading of them.
//!
//! Each SDK is installed once into `target/sdk-env/<sdk>` (a Python venv; an
//! npm prefix) and reused while its pinned requirements are unchanged. A
//! lock file keeps concurrent test processes from installing at the same
//! time; a `OnceLock` does the same for the tests of this process.
//!
//! When python3/node/npm are missing or the installation fails, the test
//! prints `SKIPPED: <reason>` and passes, unless `HOOKD_REQUIRE_SDK_TESTS` is
//! set (to anything but empty or `0`), as CI does: then it fails.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app_with};
use crate::pyenv::{self, run};

/// A prepared environment, or why there is none.
type Prepared = Result<PathBuf, String>;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Skips loudly, or fails when SDK tests are required.
fn skip(sdk: &str, reason: &str) {
    assert!(
        !pyenv::required(),
        "{sdk} SDK test cannot run and HOOKD_REQUIRE_SDK_TESTS is set: {reason}"
    );
    // Straight to the stderr handle: libtest captures `eprintln!` of passing
    // tests, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {sdk} SDK test: {reason} (set HOOKD_REQUIRE_SDK_TESTS=1 to make this fail)"
    );
}

/// Ensures `target/sdk-env/<name>` was built by `build` from `inputs`
/// (and `tool_version`); rebuilds it when they changed.
fn prepare(
    name: &str,
    inputs: &[PathBuf],
    tool_version: &str,
    build: impl FnOnce(&Path) -> Result<(), String>,
) -> Prepared {
    let mut stamp = format!("{tool_version}\n");
    for input in inputs {
        let text = std::fs::read_to_string(input)
            .map_err(|e| format!("cannot read {}: {e}", input.display()))?;
        stamp.push_str(&text);
    }
    pyenv::prepare(&format!("sdk-env/{name}"), &stamp, build)
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// A venv with `sdk-tests/python/requirements.txt` installed.
fn python_env() -> Prepared {
    static ENV: OnceLock<Prepared> = OnceLock::new();
    ENV.get_or_init(|| {
        let python = if cfg!(windows) { "python" } else { "python3" };
        let version = run(Command::new(python).arg("--version"))
            .map_err(|e| format!("python3 is not available: {e}"))?;
        let requirements = repo_root().join("sdk-tests/python/requirements.txt");
        let venv = prepare(
            "python",
            std::slice::from_ref(&requirements),
            &version,
            |dir| {
                run(Command::new(python).arg("-m").arg("venv").arg(dir)).map_err(|e| {
                    format!("cannot create a venv (is python3-venv installed?): {e}")
                })?;
                run(Command::new(venv_python(dir))
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--disable-pip-version-check",
                        "--quiet",
                        "-r",
                    ])
                    .arg(&requirements))
                .map_err(|e| format!("cannot install the Python SDK: {e}"))?;
                Ok(())
            },
        )?;
        Ok(venv_python(&venv))
    })
    .clone()
}

/// An npm prefix with `sdk-tests/js/package.json` (and its lock) installed.
fn js_env() -> Prepared {
    static ENV: OnceLock<Prepared> = OnceLock::new();
    ENV.get_or_init(|| {
        let node = run(Command::new("node").arg("--version"))
            .map_err(|e| format!("node is not available: {e}"))?;
        let npm = run(Command::new("npm").arg("--version"))
            .map_err(|e| format!("npm is not available: {e}"))?;
        let src = repo_root().join("sdk-tests/js");
        let inputs = [src.join("package.json"), src.join("package-lock.json")];
        prepare("js", &inputs, &format!("node {node} npm {npm}"), |dir| {
            for input in &inputs {
                let name = input.file_name().unwrap_or_default();
                std::fs::copy(input, dir.join(name))
                    .map_err(|e| format!("cannot copy {}: {e}", input.display()))?;
            }
            run(Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(dir))
            .map_err(|e| format!("cannot install the JS SDK: {e}"))?;
            Ok(())
        })
    })
    .clone()
}

/// A server for the scripts: their endpoint never resolves, so each delivery
/// fails once at once and then waits (an hour) for its retry.
async fn spawn_for_sdk() -> TestApp {
    spawn_app_with(&[("retry_schedule", "1h"), ("request_timeout_secs", "5")]).await
}

/// Runs an SDK script against `app`; asserts it exits 0 and prints `ok_line`.
async fn run_script(
    app: &TestApp,
    program: &Path,
    script: &Path,
    env: &[(&str, &Path)],
    ok_line: &str,
) {
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg(script)
        .env("HOOKD_URL", &app.base)
        .env("HOOKD_TOKEN", ADMIN_TOKEN)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish within 180 s", script.display()))
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.lines().any(|l| l.trim() == ok_line),
        "{} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        script.display(),
        out.status
    );
}

#[tokio::test]
async fn python_sdk() {
    let prepared = tokio::task::spawn_blocking(python_env).await.unwrap();
    let python = match prepared {
        Ok(p) => p,
        Err(reason) => return skip("Python", &reason),
    };
    let app = spawn_for_sdk().await;
    let script = repo_root().join("sdk-tests/python/test_sdk.py");
    run_script(&app, &python, &script, &[], "PY OK").await;
}

#[tokio::test]
async fn js_sdk() {
    let prepared = tokio::task::spawn_blocking(js_env).await.unwrap();
    let dir = match prepared {
        Ok(d) => d,
        Err(reason) => return skip("JavaScript", &reason),
    };
    let app = spawn_for_sdk().await;
    let script = repo_root().join("sdk-tests/js/test_sdk.mjs");
    run_script(
        &app,
        Path::new("node"),
        &script,
        &[("SVIX_JS_DIR", &dir)],
        "JS OK",
    )
    .await;
}
