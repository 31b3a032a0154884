//! A real webhook receiver: a tiny axum server on 127.0.0.1:0 that records
//! every request (method, path, headers, raw body, arrival time) and answers
//! from a script: a sequence of replies, then a default reply forever. A
//! reply can carry a status, a `Retry-After`, a `Location` (to show that
//! redirects are not followed) and a delay (a long one is a hang).
//!
//! The receiver also counts requests being answered at the same moment, so
//! tests can see concurrency caps from the outside.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, Uri};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::helpers::{free_port, wait_until};

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub location: Option<String>,
    pub delay: Duration,
    /// The response body; `receiver answered <status>` when `None`.
    pub body: Option<String>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            retry_after: None,
            location: None,
            delay: Duration::ZERO,
            body: None,
        }
    }

    pub fn ok() -> Reply {
        Reply::status(200)
    }

    /// A 302 to `to`.
    pub fn redirect(to: &str) -> Reply {
        Reply {
            location: Some(to.to_string()),
            ..Reply::status(302)
        }
    }

    /// Answers 200 after a minute: longer than any timeout a test sets.
    pub fn hang() -> Reply {
        Reply::ok().delay(Duration::from_secs(60))
    }

    pub fn retry_after(mut self, value: &str) -> Reply {
        self.retry_after = Some(value.to_string());
        self
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    pub fn body(mut self, body: impl Into<String>) -> Reply {
        self.body = Some(body.into());
        self
    }
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    /// Lower-case names; repeated headers are joined with ", ".
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
    /// When the request arrived (monotonic).
    pub at: Instant,
    /// When the request arrived, Unix seconds.
    pub unix_secs: i64,
    /// The status the receiver answered with.
    pub answered: u16,
}

impl Captured {
    /// A header's value, or "" when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }

    /// The body as text (deliveries are JSON, so UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("delivery body is not UTF-8")
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("delivery body is not JSON")
    }
}

struct Script {
    steps: VecDeque<Reply>,
    then: Reply,
}

struct Shared {
    log: Mutex<Vec<Captured>>,
    script: Mutex<Script>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Decrements the in-flight count however the handler ends (also when the
/// client gives up and the handler is dropped).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running receiver; stopped when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`
    pub url: String,
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let mut hs: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        hs.entry(name.as_str().to_string())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let unix_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let reply = {
        let mut script = s.script.lock().unwrap();
        let then = script.then.clone();
        script.steps.pop_front().unwrap_or(then)
    };
    s.log.lock().unwrap().push(Captured {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers: hs,
        body,
        at: Instant::now(),
        unix_secs,
        answered: reply.status,
    });
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(&s.in_flight);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = Response::builder().status(reply.status);
    if let Some(ra) = &reply.retry_after {
        resp = resp.header("retry-after", ra);
    }
    if let Some(loc) = &reply.location {
        resp = resp.header("location", loc);
    }
    let body = reply
        .body
        .unwrap_or_else(|| format!("receiver answered {}", reply.status));
    resp.body(Body::from(body)).unwrap()
}

impl Receiver {
    /// A receiver that answers 200 to everything.
    pub async fn start() -> Receiver {
        Receiver::scripted(vec![], Reply::ok()).await
    }

    /// A receiver that answers with `reply` to everything.
    pub async fn always(reply: Reply) -> Receiver {
        Receiver::scripted(vec![], reply).await
    }

    /// A receiver that answers `steps` in order, then `then` forever.
    pub async fn scripted(steps: Vec<Reply>, then: Reply) -> Receiver {
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            script: Mutex::new(Script {
                steps: steps.into(),
                then,
            }),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            addr,
            shared,
            task,
        }
    }

    /// Replaces the script: `steps` in order, then `then` forever.
    pub fn set_script(&self, steps: Vec<Reply>, then: Reply) {
        let mut s = self.shared.script.lock().unwrap();
        s.steps = steps.into();
        s.then = then;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Captured> {
        self.shared.log.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.shared.log.lock().unwrap().len()
    }

    /// The most requests that were being answered at the same moment.
    /// Starts measuring `max_in_flight` afresh, from what is in flight now.
    pub fn reset_max_in_flight(&self) {
        let now = self.shared.in_flight.load(Ordering::SeqCst);
        self.shared.max_in_flight.store(now, Ordering::SeqCst);
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests arrived; returns all of them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Captured> {
        wait_until(
            timeout,
            &format!("{n} requests at the receiver {}", self.url),
            || async {
                let r = self.requests();
                (r.len() >= n).then_some(r)
            },
        )
        .await
    }

    /// The requests carrying this `webhook-id`.
    pub fn requests_for(&self, msg_id: &str) -> Vec<Captured> {
        self.requests()
            .into_iter()
            .filter(|r| r.header("webhook-id") == msg_id)
            .collect()
    }
}

/// A URL on 127.0.0.1 where nothing listens.
pub fn refused_url() -> String {
    format!("http://127.0.0.1:{}/hook", free_port())
}
