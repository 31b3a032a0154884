//! A real HTTP receiver on 127.0.0.1:0: records every request (method,
//! path, headers, raw body) and answers with a status that the test can
//! change at any time and a small JSON body naming it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
}

impl Captured {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

struct Shared {
    log: Mutex<Vec<Captured>>,
    status: AtomicU16,
}

/// A running receiver; stopped when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
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
) -> impl IntoResponse {
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    s.log.lock().unwrap().push(Captured {
        method: method.to_string(),
        path: uri.path().to_string(),
        headers,
        body,
    });
    let status = s.status.load(Ordering::SeqCst);
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        format!(r#"{{"receiver":"answered","status":{status}}}"#),
    )
}

impl Receiver {
    /// A receiver answering `status`.
    pub async fn start(status: u16) -> Receiver {
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            status: AtomicU16::new(status),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            shared,
            task,
        }
    }

    /// Answer `status` from now on.
    pub fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.shared.log.lock().unwrap().clone()
    }
}
