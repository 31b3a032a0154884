//! The real `hookd` binary as a child process: run to completion
//! ([`run_hookd`], giving an [`Output`]) or kept running ([`spawn_hookd`],
//! giving a [`Spawned`], for `listen` and `attempts --follow`).
//!
//! Every run gets a clean environment for its settings: the caller's
//! `HOOKD_*` and `RUST_LOG` variables are removed and `HOME` points into the
//! test's temporary directory (`XDG_CONFIG_HOME` unset), so a developer's
//! own configuration, such as `~/.config/hookd/cli.toml`, cannot change what
//! the tests see.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// What a run of the binary printed.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Asserts exit status 0 and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert!(self.status.success(), "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts this exit code and returns stderr.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.status.code(), Some(code), "unexpected exit: {self:#?}");
        &self.stderr
    }

    /// stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        let out = self.ok();
        serde_json::from_str(out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// `hookd ARGS` with a clean environment (see the module doc), `HOME` at
/// `home`, plus `env`.
pub fn hookd_command(home: &Path, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookd"));
    cmd.args(args).kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("HOOKD_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("XDG_CONFIG_HOME")
        .env("HOME", home)
        .env_remove("RUST_LOG");
    cmd.envs(env.iter().copied());
    cmd
}

/// Runs `hookd ARGS` to completion (60 s at most) with `stdin` as its input.
pub async fn run_hookd(home: &Path, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut cmd = hookd_command(home, args, env);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("cannot run the hookd binary");
    let mut input = child.stdin.take().expect("stdin");
    // A command that fails before reading its input closes the pipe early.
    if let Err(e) = input.write_all(stdin).await {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("hookd {args:?} did not finish within 60 s"))
        .expect("cannot wait for the hookd binary");
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Starts `hookd ARGS` (see [`hookd_command`]) and keeps it running.
pub fn spawn_hookd(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Spawned {
    Spawned::start(hookd_command(home, args, env))
}

/// A running child whose output lines are collected as they come.
pub struct Spawned {
    child: tokio::process::Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

fn collect(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().unwrap().push(line);
        }
    })
}

impl Spawned {
    fn start(mut cmd: tokio::process::Command) -> Spawned {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("cannot run the hookd binary");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("stdout"), stdout.clone()),
            collect(child.stderr.take().expect("stderr"), stderr.clone()),
        ];
        Spawned {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits until a stdout line contains `needle`; returns that line.
    pub async fn stdout_line(&self, needle: &str, timeout: Duration) -> String {
        self.line(&self.stdout, needle, timeout, "stdout").await
    }

    /// Waits until a stderr line contains `needle`; returns that line.
    pub async fn stderr_line(&self, needle: &str, timeout: Duration) -> String {
        self.line(&self.stderr, needle, timeout, "stderr").await
    }

    async fn line(
        &self,
        lines: &Arc<Mutex<Vec<String>>>,
        needle: &str,
        timeout: Duration,
        which: &str,
    ) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            assert!(
                start.elapsed() < timeout,
                "no {which} line with {needle:?} within {timeout:?}.\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM and waits (10 s at most) for the exit; all output is
    /// then collected.
    pub async fn terminate(mut self) -> Output {
        let pid = self
            .child
            .id()
            .expect("the child already exited")
            .to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("cannot run kill");
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("hookd did not exit within 10 s of SIGTERM")
            .expect("cannot wait for hookd");
        for r in self.readers.drain(..) {
            r.await.expect("output reader");
        }
        Output {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}
