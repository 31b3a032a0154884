//! The test harness: every test gets its own hookd, started in-process on
//! 127.0.0.1:0 over a fresh SQLite file in a temporary directory, and talks to
//! it over real HTTP. Logs are printed only when `TEST_LOG` is set (its value
//! is the filter, e.g. `TEST_LOG=debug`).
//!
//! The helpers panic with the response body on any unexpected status, so a
//! failing test says what the server answered, not just which status it got.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Once;
use std::time::Duration;

use hookd::config::{Config, Overrides};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The admin token every test server accepts (`admin_token` setting).
pub const ADMIN_TOKEN: &str = "hookd-test-admin-token";

/// A running hookd and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    /// Key used by [`TestApp::request`]; the admin token of the default organisation.
    pub token: String,
    /// The SQLite file the server uses.
    pub db_path: PathBuf,
    pub client: reqwest::Client,
    // Dropped last: the server task and the database file go away with the test.
    _server: hookd::Running,
    _dir: TempDir,
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

/// Starts a hookd with the test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts a hookd with extra settings (as command-line flags would give them).
pub async fn spawn_app_with(settings: &[(&'static str, &str)]) -> TestApp {
    init_logging();
    let dir = tempfile::tempdir().expect("cannot create a temporary directory");
    let db_path = dir.path().join("hookd.db");
    let mut flags: Vec<(&'static str, String)> = vec![
        ("listen", "127.0.0.1:0".into()),
        ("database_url", format!("sqlite:{}", db_path.display())),
        ("admin_token", ADMIN_TOKEN.into()),
    ];
    flags.extend(settings.iter().map(|(k, v)| (*k, v.to_string())));
    // The environment is passed in empty so a developer's HOOKD_* variables
    // cannot change what the tests see.
    let config = Config::load_from(None, &[], &Overrides(flags)).expect("invalid test config");
    let server = hookd::start(config).await.expect("hookd did not start");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("cannot build the HTTP client");
    TestApp {
        base: format!("http://{}", server.addr),
        token: ADMIN_TOKEN.into(),
        db_path,
        client,
        _server: server,
        _dir: dir,
    }
}

/// Sends a request and reads the whole response.
pub async fn send(rb: RequestBuilder) -> Resp {
    let resp = rb.send().await.expect("request failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("cannot read the response body");
    Resp {
        status,
        headers,
        text,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `sqlite:PATH` of this server's database, for the CLI.
    pub fn database_url(&self) -> String {
        format!("sqlite:{}", self.db_path.display())
    }

    /// A request authenticated with the admin token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(&self.token, method, path)
    }

    /// A request authenticated with `key`.
    pub fn request_as(&self, key: &str, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(key)
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

    /// Sends `body` as-is with `content-type: application/json`.
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

    /// Runs the `hookd` binary against this server's database.
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        let db = self.database_url();
        let mut all = vec!["--database-url", db.as_str()];
        all.extend_from_slice(args);
        run_hookd(&all, &[]).await
    }

    /// `hookd token create ARGS…`: returns the key id (`key_…`) and the key.
    pub async fn create_token(&self, args: &[&str]) -> (String, String) {
        let mut all = vec!["token", "create"];
        all.extend_from_slice(args);
        let out = self.cli(&all).await;
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

/// What a run of the binary printed.
#[derive(Debug)]
pub struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `hookd` binary built for these tests, without the caller's
/// `HOOKD_*` variables (only `env` is added), and fails after 60 s.
pub async fn run_hookd(args: &[&str], env: &[(&str, &str)]) -> CliOutput {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookd"));
    cmd.args(args).kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("HOOKD_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("hookd {args:?} did not finish within 60 s"))
        .expect("cannot run the hookd binary");
    CliOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
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

/// The ids of a list response's `data`, in order.
#[track_caller]
pub fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list response: {list}"))
        .iter()
        .map(|item| {
            item["id"]
                .as_str()
                .unwrap_or_else(|| panic!("item without id: {item}"))
                .to_string()
        })
        .collect()
}

/// The `id` field of an object.
#[track_caller]
pub fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}
