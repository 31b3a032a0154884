//! [`TestApp`]: a hookd started in-process on 127.0.0.1:0 over a fresh
//! SQLite file in a temporary directory, the [`Resp`] of a request to it,
//! and the API helpers the suites share. Logs are printed only when
//! `TEST_LOG` is set (its value is the filter, e.g. `TEST_LOG=hookd=debug`).
//!
//! The helpers panic with the response body on any unexpected status, so a
//! failing test says what the server answered, not just which status it got.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use hookd::config::{Config, Overrides};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;

use super::binary::{Output, Spawned, run_hookd, spawn_hookd};
use super::data;

/// The admin token every test server accepts (`admin_token` setting).
pub const ADMIN_TOKEN: &str = "hookd-test-admin-token";

/// A settings list as command-line flags would give it.
pub type Settings<'a> = &'a [(&'static str, &'a str)];

/// A running hookd and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    pub client: reqwest::Client,
    /// The SQLite file the server uses.
    pub db_path: PathBuf,
    settings: Vec<(&'static str, String)>,
    // Declared before `dir` so the server stops before its database goes.
    server: Option<hookd::Running>,
    // Shared with restarted servers; the database goes away with the last.
    dir: Arc<TempDir>,
}

/// An HTTP response, read in full.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON; panics (showing the body) when it is not.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}); status {}: {:?}",
                self.status, self.text
            )
        })
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self.json()
    }

    /// Asserts the status and an empty body (204s).
    #[track_caller]
    pub fn expect_empty(&self, status: u16) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(self.text, "", "expected an empty body");
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends a request and reads the whole response.
pub async fn send(rb: RequestBuilder) -> Resp {
    let resp = rb.send().await.expect("request to hookd failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("cannot read the response body");
    Resp {
        status,
        headers,
        text,
    }
}

/// An HTTP client for talking to hookd.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("cannot build the HTTP client")
}

fn init_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

impl TestApp {
    /// Starts a hookd with a suite's `base` settings, then `settings` over
    /// them (later settings win).
    pub async fn spawn(base: Settings<'_>, settings: Settings<'_>) -> TestApp {
        let dir = Arc::new(tempfile::tempdir().expect("cannot create a temporary directory"));
        let db_path = dir.path().join("hookd.db");
        let mut all: Vec<(&'static str, String)> = vec![
            ("listen", "127.0.0.1:0".into()),
            ("database_url", format!("sqlite:{}", db_path.display())),
            ("admin_token", ADMIN_TOKEN.into()),
        ];
        all.extend(
            base.iter()
                .chain(settings)
                .map(|(k, v)| (*k, v.to_string())),
        );
        TestApp::start(dir, db_path, all).await
    }

    async fn start(
        dir: Arc<TempDir>,
        db_path: PathBuf,
        settings: Vec<(&'static str, String)>,
    ) -> TestApp {
        TestApp::try_start(dir, db_path, settings)
            .await
            .unwrap_or_else(|e| panic!("hookd did not start: {e}"))
    }

    async fn try_start(
        dir: Arc<TempDir>,
        db_path: PathBuf,
        settings: Vec<(&'static str, String)>,
    ) -> Result<TestApp, String> {
        init_logging();
        // The environment is passed in empty so a developer's HOOKD_*
        // variables cannot change what the tests see.
        let config = Config::load_from(None, &[], &Overrides(settings.clone()))?;
        let server = hookd::start(config).await.map_err(|e| format!("{e:#}"))?;
        Ok(TestApp {
            base: format!("http://{}", server.addr),
            client: client(),
            db_path,
            settings,
            server: Some(server),
            dir,
        })
    }

    /// Starts another hookd over the same database and settings.
    pub async fn restart(&self) -> TestApp {
        TestApp::start(
            self.dir.clone(),
            self.db_path.clone(),
            self.settings.clone(),
        )
        .await
    }

    /// Starts another hookd over the same database, with `changes` over its
    /// settings; the start's error, if it fails.
    pub async fn try_restart_with(&self, changes: Settings<'_>) -> Result<TestApp, String> {
        let mut settings = self.settings.clone();
        settings.extend(changes.iter().map(|(k, v)| (*k, v.to_string())));
        TestApp::try_start(self.dir.clone(), self.db_path.clone(), settings).await
    }

    /// Stops the server as SIGTERM would (`Running::shutdown`); returns how long it took.
    pub async fn shutdown(&mut self) -> Duration {
        let server = self.server.take().expect("server already stopped");
        let start = Instant::now();
        server.shutdown().await.expect("shutdown failed");
        start.elapsed()
    }

    /// The address of the separate `/metrics` listener (`metrics_listen`).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().and_then(|s| s.metrics_addr)
    }

    /// The test's temporary directory: the database, and the CLI's `HOME`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `sqlite:PATH` of this server's database, for the CLI.
    pub fn database_url(&self) -> String {
        format!("sqlite:{}", self.db_path.display())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request authenticated with the admin token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(ADMIN_TOKEN, method, path)
    }

    /// A request authenticated with `key`.
    pub fn request_as(&self, key: &str, method: Method, path: &str) -> RequestBuilder {
        self.anonymous(method, path).bearer_auth(key)
    }

    /// A request without an `Authorization` header.
    pub fn anonymous(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Resp {
        send(self.request(Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        send(self.request(Method::DELETE, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        send(self.request(Method::PUT, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        send(self.request(Method::PATCH, path).json(body)).await
    }

    /// Sends `body` byte for byte with `content-type: application/json`.
    pub async fn post_raw(&self, path: &str, body: impl Into<String>) -> Resp {
        send(
            self.request(Method::POST, path)
                .header(CONTENT_TYPE, "application/json")
                .body(body.into()),
        )
        .await
    }

    /// Creates an application with this uid (201).
    pub async fn create_app(&self, uid: &str) -> Value {
        self.post(
            "/api/v1/app",
            &json!({"name": format!("App {uid}"), "uid": uid}),
        )
        .await
        .expect(201)
    }

    /// Creates an endpoint (201).
    pub async fn create_endpoint(&self, app: &str, body: Value) -> Value {
        self.post(&format!("/api/v1/app/{app}/endpoint"), &body)
            .await
            .expect(201)
    }

    /// Sends a message (202).
    pub async fn send_message(&self, app: &str, body: Value) -> Value {
        self.post(&format!("/api/v1/app/{app}/msg"), &body)
            .await
            .expect(202)
    }

    /// The endpoint's signing key as the API shows it (`whsec_…` or `whpk_…`).
    pub async fn endpoint_secret(&self, app: &str, ep: &str) -> String {
        self.get(&format!("/api/v1/app/{app}/endpoint/{ep}/secret"))
            .await
            .expect(200)["key"]
            .as_str()
            .expect("secret key")
            .to_string()
    }

    /// Attempts for a message, newest first.
    pub async fn attempts_by_msg(&self, app: &str, msg: &str) -> Vec<Value> {
        data(
            &self
                .get(&format!("/api/v1/app/{app}/attempt/msg/{msg}?limit=250"))
                .await
                .expect(200),
        )
    }

    /// Attempts to an endpoint, newest first.
    pub async fn attempts_by_endpoint(&self, app: &str, ep: &str) -> Vec<Value> {
        data(
            &self
                .get(&format!(
                    "/api/v1/app/{app}/attempt/endpoint/{ep}?limit=250"
                ))
                .await
                .expect(200),
        )
    }

    /// Where a message was routed, with its delivery state at each endpoint.
    pub async fn destinations(&self, app: &str, msg: &str) -> Vec<Value> {
        data(
            &self
                .get(&format!("/api/v1/app/{app}/msg/{msg}/endpoint?limit=250"))
                .await
                .expect(200),
        )
    }

    /// `HOOKD_URL` and `HOOKD_TOKEN` for this server.
    pub fn env(&self) -> [(&'static str, &str); 2] {
        [("HOOKD_URL", &self.base), ("HOOKD_TOKEN", ADMIN_TOKEN)]
    }

    /// Runs the client command `hookd ARGS` against this server (URL and key
    /// from the environment).
    pub async fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, &[], b"").await
    }

    /// As [`TestApp::cli`], with extra environment and stdin.
    pub async fn cli_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
        let all: Vec<(&str, &str)> = self.env().iter().chain(env).copied().collect();
        run_hookd(self.dir(), args, &all, stdin).await
    }

    /// Starts the client command `hookd ARGS` against this server and keeps
    /// it running.
    pub fn spawn_cli(&self, args: &[&str], env: &[(&str, &str)]) -> Spawned {
        let all: Vec<(&str, &str)> = self.env().iter().chain(env).copied().collect();
        spawn_hookd(self.dir(), args, &all)
    }

    /// Runs `hookd --database-url DB ARGS` on this server's database (the
    /// commands that work on the store directly, such as `token`).
    pub async fn db_cli(&self, args: &[&str]) -> Output {
        let db = self.database_url();
        let mut all = vec!["--database-url", db.as_str()];
        all.extend_from_slice(args);
        run_hookd(self.dir(), &all, &[], b"").await
    }
}
