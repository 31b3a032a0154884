//! The harness: an in-process hookd per test ([`Server`]), the real `hookd`
//! binary run against it ([`Server::cli`], [`run`]) or kept running
//! ([`Spawned`], for `listen` and `attempts --follow`), and [`wait_until`].
//!
//! Every run of the binary gets a clean environment for its settings: the
//! caller's `HOOKD_*` variables are removed and `HOME`/`XDG_CONFIG_HOME`
//! point into the test's temporary directory, so a developer's own
//! `~/.config/hookd/cli.toml` cannot change what the tests see.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookd::config::{Config, Overrides};
use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The admin token every test server accepts.
pub const TOKEN: &str = "hookd-cli-test-token";

/// A running hookd.
pub struct Server {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub http: reqwest::Client,
    /// A temporary directory: the database, and the CLI's `HOME`.
    pub dir: TempDir,
    _running: hookd::Running,
}

/// Starts hookd with 127.0.0.0/8 allowed (deliveries reach local receivers)
/// and a short retry schedule; `settings` override these.
pub async fn server_with(settings: &[(&'static str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut all: Vec<(&'static str, String)> = vec![
        ("listen", "127.0.0.1:0".into()),
        (
            "database_url",
            format!("sqlite:{}", dir.path().join("hookd.db").display()),
        ),
        ("admin_token", TOKEN.into()),
        ("allowed_subnets", "127.0.0.0/8".into()),
        ("retry_schedule", "100ms".into()),
        ("request_timeout_secs", "5".into()),
        ("shutdown_timeout_secs", "2".into()),
        ("log", "warn".into()),
    ];
    all.extend(settings.iter().map(|(k, v)| (*k, v.to_string())));
    let config = Config::load_from(None, &[], &Overrides(all)).expect("invalid test config");
    let running = hookd::start(config).await.expect("hookd did not start");
    Server {
        base: format!("http://{}", running.addr),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        dir,
        _running: running,
    }
}

pub async fn server() -> Server {
    server_with(&[]).await
}

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

/// The binary with a clean environment (see the module doc) plus `env`.
pub fn command(home: &Path, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
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

/// Runs the binary to completion (30 s at most) with `stdin` as its input.
pub async fn run(home: &Path, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut cmd = command(home, args, env);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("cannot run the hookd binary");
    let mut input = child.stdin.take().unwrap();
    // A command that fails before reading its input closes the pipe early.
    if let Err(e) = input.write_all(stdin).await {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("hookd {args:?} did not finish within 30 s"))
        .unwrap();
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Server {
    /// `HOOKD_URL` and `HOOKD_TOKEN` for this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HOOKD_URL", self.base.clone()),
            ("HOOKD_TOKEN", TOKEN.into()),
        ]
    }

    /// Runs `hookd ARGS` against this server (URL and key from the environment).
    pub async fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, &[], b"").await
    }

    /// As [`Server::cli`], with extra environment and stdin.
    pub async fn cli_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
        let base = self.env();
        let mut all: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.extend_from_slice(env);
        run(self.dir.path(), args, &all, stdin).await
    }

    /// Starts `hookd ARGS` against this server and keeps it running.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Spawned {
        let base = self.env();
        let mut all: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.extend_from_slice(env);
        Spawned::start(command(self.dir.path(), args, &all))
    }

    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, v) = self.api(Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.api(Method::POST, path, Some(body)).await;
        assert!((200..300).contains(&status), "POST {path}: {status} {v}");
        v
    }

    pub async fn create_app(&self, uid: &str) -> Value {
        self.post(
            "/api/v1/app",
            json!({"name": format!("App {uid}"), "uid": uid}),
        )
        .await
    }

    /// The attempts recorded for a message.
    pub async fn attempts_of(&self, app: &str, msg: &str) -> Vec<Value> {
        data(
            &self
                .get(&format!("/api/v1/app/{app}/attempt/msg/{msg}"))
                .await,
        )
    }
}

/// Starts `hookd ARGS` (with a clean environment) and keeps it running.
pub fn spawn(home: &Path, args: &[&str]) -> Spawned {
    Spawned::start(command(home, args, &[]))
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
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
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
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("hookd did not exit within 10 s of SIGTERM")
            .unwrap();
        for r in self.readers.drain(..) {
            r.await.unwrap();
        }
        Output {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

/// Polls `cond` every 20 ms until it yields a value; fails after `timeout`.
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

/// The `data` array of a list response.
#[track_caller]
pub fn data(list: &Value) -> Vec<Value> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list response: {list}"))
        .clone()
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

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Writes a file in `dir` and returns its path.
pub fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}
