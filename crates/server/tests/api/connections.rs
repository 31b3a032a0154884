//! The HTTP server's connection limits, seen from raw sockets: a half-sent
//! header, an idle keep-alive connection and a stalled body are each cut off
//! after their timeout, connections beyond `http_max_connections` wait until
//! a slot frees, and the API keeps answering while slow clients hold
//! connections open.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const HEALTH: &[u8] = b"GET /api/v1/health/live HTTP/1.1\r\nHost: hookd\r\n\r\n";
const HALF_HEADER: &[u8] = b"GET /api/v1/health/live HTTP/1.1\r\nHost: hookd\r\nX-Slow: ";

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.unwrap()
}

/// A response read off a raw connection: status and head, and the body.
struct Raw {
    status: u16,
    head: String,
    body: String,
}

/// Reads one response (headers, then a `content-length` body); `None` when
/// nothing complete arrived within `timeout`.
async fn read_response(s: &mut (impl AsyncRead + Unpin), timeout: Duration) -> Option<Raw> {
    let mut buf = Vec::new();
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    let status = head
                        .split_whitespace()
                        .nth(1)
                        .and_then(|c| c.parse().ok())
                        .unwrap();
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                    return Some(Raw { status, head, body });
                }
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(timeout, read).await.ok().flatten()
}

/// How long until the server closes the connection (EOF or reset), reading
/// and discarding anything it sends; `None` if still open after `timeout`.
async fn closed_within(s: &mut TcpStream, timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    let wait = async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(timeout, wait).await.ok()
}

/// The value of one sample line of the metrics text, e.g.
/// `hookd_http_connections{listener="api"}`; 0 when absent.
async fn metric(app: &TestApp, sample: &str) -> f64 {
    let text = app.get("/metrics").await.text;
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_half_sent_header_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(&[
        ("http_header_timeout_secs", "1"),
        ("http_idle_timeout_secs", "60"),
    ])
    .await;
    let mut slow = connect(&app).await;
    slow.write_all(HALF_HEADER).await.unwrap();
    let closed = closed_within(&mut slow, Duration::from_secs(10))
        .await
        .expect("a half-sent header was still open after 10 s");
    assert!(
        closed >= Duration::from_millis(900),
        "closed after {closed:?}, before the 1 s header timeout"
    );
    assert_eq!(
        metric(
            &app,
            "hookd_http_connections_closed_total{reason=\"header_timeout\"}"
        )
        .await,
        1.0
    );

    // A connection that sends nothing at all is cut off the same way.
    let mut silent = connect(&app).await;
    assert!(
        closed_within(&mut silent, Duration::from_secs(10))
            .await
            .is_some(),
        "a silent connection was still open after 10 s"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // The header timeout is long: only the idle timeout can close it.
    let app = spawn_app_with(&[
        ("http_header_timeout_secs", "60"),
        ("http_idle_timeout_secs", "1"),
    ])
    .await;
    let mut conn = connect(&app).await;
    // Requests 400 ms apart keep it open well past the idle timeout.
    let start = Instant::now();
    for _ in 0..5 {
        conn.write_all(HEALTH).await.unwrap();
        let resp = read_response(&mut conn, Duration::from_secs(5))
            .await
            .expect("no answer on a keep-alive connection in use");
        assert_eq!(resp.status, 200, "{}", resp.head);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(start.elapsed() > Duration::from_millis(1500));

    let closed = closed_within(&mut conn, Duration::from_secs(10))
        .await
        .expect("an idle keep-alive connection was still open after 10 s");
    // 400 ms of the idle spell had passed already.
    assert!(
        closed >= Duration::from_millis(400),
        "closed after {closed:?} of idleness, before the 1 s idle timeout"
    );
    assert_eq!(
        metric(
            &app,
            "hookd_http_connections_closed_total{reason=\"idle_timeout\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test]
async fn a_stalled_body_gets_408_after_the_body_timeout() {
    let app = spawn_app_with(&[("http_body_timeout_secs", "1")]).await;
    let head = format!(
        "POST /api/v1/app HTTP/1.1\r\nHost: hookd\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    );

    // Part of the body, then nothing.
    let mut stalled = connect(&app).await;
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(b"{\"name\": \"sl").await.unwrap();
    let start = Instant::now();
    let resp = read_response(&mut stalled, Duration::from_secs(10))
        .await
        .expect("no answer to a stalled body within 10 s");
    assert!(start.elapsed() >= Duration::from_millis(900));
    assert_eq!(resp.status, 408, "{}\n{}", resp.head, resp.body);
    assert!(resp.body.contains("\"request_timeout\""), "{}", resp.body);
    assert!(
        resp.head.to_ascii_lowercase().contains("connection: close"),
        "{}",
        resp.head
    );
    assert!(
        closed_within(&mut stalled, Duration::from_secs(5))
            .await
            .is_some(),
        "the connection stayed open after the 408"
    );

    // A body trickled a byte every 200 ms never stalls for a whole second,
    // but the deadline is for all of it (the 100 bytes would take 20 s).
    let (mut rd, mut wr) = connect(&app).await.into_split();
    wr.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        for b in b"{\"name\": \"trickle\", ".iter().cycle().take(100) {
            if wr.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let resp = read_response(&mut rd, Duration::from_secs(10))
        .await
        .expect("no answer to a trickled body within 10 s");
    writer.abort();
    assert_eq!(resp.status, 408, "{}\n{}", resp.head, resp.body);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the 408 came after {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn beyond_the_connection_cap_a_connection_waits_until_a_slot_frees() {
    let app = spawn_app_with(&[
        ("http_max_connections", "3"),
        ("http_header_timeout_secs", "60"),
    ])
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&app).await);
    }
    // Established by the kernel, but not served.
    let mut waiting = connect(&app).await;
    waiting.write_all(HEALTH).await.unwrap();
    assert!(
        read_response(&mut waiting, Duration::from_secs(1))
            .await
            .is_none(),
        "a fourth connection was served with http_max_connections = 3"
    );

    // Work on the connections already in keeps going.
    held[0].write_all(HEALTH).await.unwrap();
    let resp = read_response(&mut held[0], Duration::from_secs(5))
        .await
        .expect("a connection within the cap got no answer");
    assert_eq!(resp.status, 200);

    // One closes: the waiting connection is served.
    drop(held.pop());
    let resp = read_response(&mut waiting, Duration::from_secs(5))
        .await
        .expect("the waiting connection was not served once a slot freed");
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn the_api_answers_while_slow_clients_hold_connections() {
    const SLOW: usize = 300;
    let app = spawn_app_with(&[("http_header_timeout_secs", "60")]).await;
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        let mut s = connect(&app).await;
        s.write_all(HALF_HEADER).await.unwrap();
        slow.push(s);
    }
    wait_until(
        Duration::from_secs(10),
        "the slow connections to be accepted",
        || async {
            let open = metric(&app, "hookd_http_connections{listener=\"api\"}").await;
            (open > SLOW as f64).then_some(())
        },
    )
    .await;
    let start = Instant::now();
    app.create_app("while-slow").await;
    let health = app.get("/api/v1/health").await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the API took {:?} to answer next to {SLOW} slow connections",
        start.elapsed()
    );
    drop(slow);
}

#[tokio::test]
async fn a_request_retried_after_a_408_runs_under_the_same_idempotency_key() {
    let app = spawn_app_with(&[("http_body_timeout_secs", "1")]).await;
    let body = r#"{"name": "Retried", "uid": "retried"}"#;
    let head = format!(
        "POST /api/v1/app HTTP/1.1\r\nHost: hookd\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Idempotency-Key: retry-1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stalled = connect(&app).await;
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&body.as_bytes()[..10]).await.unwrap();
    let resp = read_response(&mut stalled, Duration::from_secs(10))
        .await
        .expect("no answer to a stalled body within 10 s");
    assert_eq!(resp.status, 408, "{}", resp.body);

    let retried = send(
        app.request(reqwest::Method::POST, "/api/v1/app")
            .header("idempotency-key", "retry-1")
            .header("content-type", "application/json")
            .body(body),
    )
    .await;
    assert_eq!(retried.expect(201)["uid"], "retried");
}

/// A message request whose headers are sent now and whose body is sent by
/// the caller later (it holds its application's accept turn meanwhile).
async fn message_headers(app: &TestApp, app_id: &str, body: &str) -> TcpStream {
    let mut s = connect(app).await;
    let head = format!(
        "POST /api/v1/app/{app_id}/msg HTTP/1.1\r\nHost: hookd\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_applications_accepts_wait_their_turn_without_holding_up_another() {
    let app = spawn_app_with(&[("accept_concurrency_per_app", "1")]).await;
    for uid in ["noisy", "quiet"] {
        app.create_app(uid).await;
    }
    let body = r#"{"eventType": "t", "payload": {}}"#;
    // The noisy application's first request has its turn and is slow to send its body.
    let mut first = message_headers(&app, "noisy", body).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = message_headers(&app, "noisy", body).await;
    second.write_all(body.as_bytes()).await.unwrap();
    assert!(
        read_response(&mut second, Duration::from_millis(400))
            .await
            .is_none(),
        "the noisy application's second message waits for its turn"
    );
    // The quiet application is not held up.
    let started = Instant::now();
    let quiet = app
        .post(
            "/api/v1/app/quiet/msg",
            &serde_json::json!({"eventType": "t", "payload": {}}),
        )
        .await;
    quiet.expect(202);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The first finishes; the second gets its turn.
    first.write_all(body.as_bytes()).await.unwrap();
    let r1 = read_response(&mut first, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(r1.status, 202, "{}", r1.body);
    let r2 = read_response(&mut second, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(r2.status, 202, "{}", r2.body);
    // Out-of-range values are refused at start, naming the setting.
    let err = app
        .try_restart_with(&[("accept_concurrency_per_app", "1000000")])
        .await
        .err()
        .unwrap_or_default();
    assert!(err.contains("accept_concurrency_per_app"), "{err}");
}
