//! The harness: an in-process hookd per test (127.0.0.1:0, its own SQLite
//! file in a temporary directory, delivery settings compressed for tests),
//! API helpers over real HTTP, and [`wait_until`], the bounded poll every
//! asynchronous assertion goes through. Logs are printed only when
//! `TEST_LOG` is set (its value is the filter, e.g. `TEST_LOG=hookd=debug`).

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use hookd::config::{Config, Overrides};
use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The admin token every test server accepts.
pub const ADMIN_TOKEN: &str = "hookd-delivery-test-token";

/// Settings every test server starts with (later settings override them).
/// 127.0.0.0/8 is opened in the SSRF policy so deliveries can reach the
/// receivers; the SSRF tests clear it again.
fn base_settings(db_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("listen", "127.0.0.1:0".into()),
        ("database_url", db_url.to_string()),
        ("admin_token", ADMIN_TOKEN.into()),
        ("allowed_subnets", "127.0.0.0/8".into()),
        ("retry_schedule", "200ms,400ms".into()),
        ("request_timeout_secs", "5".into()),
        ("shutdown_timeout_secs", "10".into()),
        ("log", "warn".into()),
    ]
}

/// A running hookd and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    pub client: reqwest::Client,
    /// The SQLite file the server uses.
    pub db_path: PathBuf,
    settings: Vec<(&'static str, String)>,
    server: Option<hookd::Running>,
    // Shared with restarted servers; the database goes away with the last.
    dir: Arc<TempDir>,
}

/// An HTTP response, read in full.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub text: String,
}

impl Resp {
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
    let dir = Arc::new(tempfile::tempdir().expect("cannot create a temporary directory"));
    let db_path = dir.path().join("hookd.db");
    let mut all = base_settings(&format!("sqlite:{}", db_path.display()));
    all.extend(settings.iter().map(|(k, v)| (*k, v.to_string())));
    start(dir, db_path, all).await
}

async fn start(
    dir: Arc<TempDir>,
    db_path: PathBuf,
    settings: Vec<(&'static str, String)>,
) -> TestApp {
    init_logging();
    // The environment is passed in empty so a developer's HOOKD_* variables
    // cannot change what the tests see.
    let config =
        Config::load_from(None, &[], &Overrides(settings.clone())).expect("invalid test config");
    let server = hookd::start(config).await.expect("hookd did not start");
    TestApp {
        base: format!("http://{}", server.addr),
        client: client(),
        db_path,
        settings,
        server: Some(server),
        dir,
    }
}

/// An HTTP client for talking to hookd.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("cannot build the HTTP client")
}

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

/// An RFC 3339 time `ago` before now.
pub fn rfc3339_ago(ago: Duration) -> String {
    let t = chrono::Utc::now() - chrono::Duration::from_std(ago).expect("duration");
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let mut rb = self
            .client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let resp = rb.send().await.expect("request to hookd failed");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("cannot read the response body");
        Resp { status, text }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.request(Method::DELETE, path, None).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.request(Method::PATCH, path, Some(body)).await
    }

    /// POSTs `body` byte for byte, as `application/json`.
    pub async fn post_raw(&self, path: &str, body: &str) -> Resp {
        let resp = self
            .client
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request to hookd failed");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("cannot read the response body");
        Resp { status, text }
    }

    /// Creates an application with this uid; returns its id.
    pub async fn create_app(&self, uid: &str) -> String {
        id(&self
            .post(
                "/api/v1/app",
                &json!({"name": format!("App {uid}"), "uid": uid}),
            )
            .await
            .expect(201))
    }

    /// Creates an endpoint; returns its id.
    pub async fn create_endpoint(&self, app: &str, body: Value) -> String {
        id(&self
            .post(&format!("/api/v1/app/{app}/endpoint"), &body)
            .await
            .expect(201))
    }

    pub async fn get_endpoint(&self, app: &str, ep: &str) -> Value {
        self.get(&format!("/api/v1/app/{app}/endpoint/{ep}"))
            .await
            .expect(200)
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

    /// Sends a message (202); returns its id.
    pub async fn send_message(&self, app: &str, body: Value) -> String {
        id(&self
            .post(&format!("/api/v1/app/{app}/msg"), &body)
            .await
            .expect(202))
    }

    /// A message of this event type with a small payload; returns its id.
    pub async fn send(&self, app: &str, event_type: &str) -> String {
        self.send_message(
            app,
            json!({"eventType": event_type, "payload": {"type": event_type}}),
        )
        .await
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

    /// The delivery status of `msg` at `ep` (0 success, 1 pending, 2 fail,
    /// 3 sending), `None` when the message was not routed there.
    pub async fn destination_status(&self, app: &str, msg: &str, ep: &str) -> Option<i64> {
        self.destinations(app, msg)
            .await
            .iter()
            .find(|d| d["id"] == ep)
            .map(|d| d["status"].as_i64().expect("status"))
    }

    /// Waits until the delivery of `msg` to `ep` reaches `status`.
    pub async fn wait_for_status(&self, app: &str, msg: &str, ep: &str, status: i64) {
        wait_until(
            Duration::from_secs(15),
            &format!("delivery of {msg} to {ep} to reach status {status}"),
            || async {
                (self.destination_status(app, msg, ep).await == Some(status)).then_some(())
            },
        )
        .await;
    }

    /// Stops the server as SIGTERM would (`Running::shutdown`); returns how long it took.
    pub async fn shutdown(&mut self) -> Duration {
        let server = self.server.take().expect("server already stopped");
        let start = Instant::now();
        server.shutdown().await.expect("shutdown failed");
        start.elapsed()
    }

    /// Starts another hookd over the same database and settings.
    pub async fn restart(&self) -> TestApp {
        start(
            self.dir.clone(),
            self.db_path.clone(),
            self.settings.clone(),
        )
        .await
    }
}
