//! Test support for the tests that check hookd against other people's code
//! (the Svix SDKs, Python's `standardwebhooks` and `cryptography`): running
//! setup commands, a lock between test processes, and environments built
//! once under `target/` and rebuilt only when what they were built from
//! changes. Shared by several test binaries through `#[path]`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `target/` (the parent of `target/tmp`, so it follows `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

/// Whether a missing tool must fail the test instead of skipping it.
pub fn required() -> bool {
    std::env::var("HOOKD_REQUIRE_SDK_TESTS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Runs a setup command; its stdout, or a reason including its output.
pub fn run(cmd: &mut Command) -> Result<String, String> {
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

/// A lock held by creating a file exclusively (exactly one process wins);
/// removed on drop. One left behind by a killed run is taken over once it is
/// older than any installation could take.
pub struct Lock(PathBuf);

impl Lock {
    const STALE: Duration = Duration::from_secs(20 * 60);
    const WAIT: Duration = Duration::from_secs(15 * 60);

    pub fn acquire(path: PathBuf) -> Result<Lock, String> {
        let start = Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(Lock(path)),
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

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Ensures `target/<name>` was built by `build` from what `stamp` describes;
/// rebuilds it when the stamp changed or a build was interrupted (the stamp
/// is written last).
pub fn prepare(
    name: &str,
    stamp: &str,
    build: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    let dir = target_dir().join(name);
    let parent = dir.parent().unwrap_or(&dir).to_path_buf();
    std::fs::create_dir_all(&parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let _lock = Lock::acquire(dir.with_extension("lock"))?;
    let stamp_path = dir.join(".hookd-stamp");
    if std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
        return Ok(dir);
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot clear {}: {e}", dir.display())),
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    build(&dir)?;
    std::fs::write(&stamp_path, stamp)
        .map_err(|e| format!("cannot write {}: {e}", stamp_path.display()))?;
    Ok(dir)
}

/// The python of a venv at `target/<name>` with `requirements` installed.
pub fn python_venv(name: &str, requirements: &[&str]) -> Result<PathBuf, String> {
    let version = run(Command::new("python3").arg("--version"))
        .map_err(|e| format!("python3 is not available: {e}"))?;
    let stamp = format!("{}\n{}", requirements.join(" "), version.trim());
    let venv = prepare(name, &stamp, |venv| {
        run(Command::new("python3").arg("-m").arg("venv").arg(venv))
            .map_err(|e| format!("cannot create a venv (is python3-venv installed?): {e}"))?;
        run(Command::new(venv.join("bin").join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
            ])
            .args(requirements))
        .map(|_| ())
        .map_err(|e| format!("cannot install {}: {e}", requirements.join(" ")))
    })?;
    Ok(venv.join("bin").join("python"))
}
