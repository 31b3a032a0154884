//! The HTTP server under both listeners (`listen` and `metrics_listen`): the
//! accept loop and its connection cap, each connection's timeouts (request
//! headers, idle keep-alive, request body), and graceful shutdown.
//!
//! `axum::serve` keeps a connection for as long as the client likes: a
//! half-sent request header or an idle keep-alive connection is held
//! forever, so a few thousand slow clients pin memory and file descriptors
//! without bound. Here every connection is always in one of three phases,
//! and two of them have a deadline:
//!
//! | phase | ends when | deadline |
//! | --- | --- | --- |
//! | reading a request head (from accept, or from the first byte after an idle spell) | hyper hands the request to the service | `http_header_timeout_secs`, then the socket is closed |
//! | serving (one or more requests in flight, until each response body is sent) | the last response is sent | none here; the body has its own (below) |
//! | idle keep-alive (no request, no byte) | a byte arrives | `http_idle_timeout_secs`, then the connection is closed gracefully |
//!
//! A request body must arrive in full within `http_body_timeout_secs` of its
//! head; the body extractors answer a 408 otherwise ([`BodyTimeout`]).
//!
//! Connections beyond `http_max_connections` are not accepted: they wait in
//! the kernel's accept queue until a slot frees (see `start_listener`).

use std::convert::Infallible;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::{Service, ServiceExt as _};

use crate::config::Config;
use crate::metrics::Metrics;

/// The connection limits of one listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time a client has to send a complete request head.
    pub header_timeout: Duration,
    /// Time an idle keep-alive connection is kept.
    pub idle_timeout: Duration,
    /// Time a request body has to arrive in full, from its head.
    pub body_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Limits {
    pub fn from_config(config: &Config) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(config.http_header_timeout_secs),
            idle_timeout: Duration::from_secs(config.http_idle_timeout_secs),
            body_timeout: Duration::from_secs(config.http_body_timeout_secs),
            max_connections: config.http_max_connections as usize,
        }
    }
}

/// Serves `service` on `listener` until `stop` turns true (or its sender is
/// dropped), then lets in-flight requests finish and returns once every
/// connection has closed.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    name: &'static str,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's own header timer restarts as soon as a response is written, so
    // it would also cut idle keep-alive connections at the header timeout;
    // the phases below keep the two timeouts apart.
    builder.http1().header_read_timeout(None);
    let builder = Arc::new(builder);
    let open = metrics.http_connections(name);
    loop {
        // A slot is taken before accepting: beyond the cap, connections wait
        // in the kernel's accept queue (costing hookd nothing) and are served
        // as soon as a slot frees, instead of being refused.
        let slot = tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(name, e).await;
                    continue;
                }
            },
        };
        open.inc();
        let conn = Conn {
            builder: builder.clone(),
            limits,
            metrics: metrics.clone(),
            stop: stop.clone(),
        };
        let (service, open) = (service.clone(), open.clone());
        tokio::spawn(async move {
            conn.run(stream, service, slot).await;
            open.dec();
        });
    }
    drop(listener);
    // Every connection holds its slot until it has closed: having them all
    // back means every in-flight request has been answered.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// Resolves once a stop is asked for, or nobody can ask any more.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn accept_failed(name: &str, e: io::Error) {
    // A client that gave up before being accepted is its own business.
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    // Out of file descriptors, mostly: retrying at once would spin, and
    // closing connections frees some within a timeout.
    tracing::error!(listener = name, error = %e, "cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What one connection task needs besides its socket.
struct Conn {
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: Limits,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
}

/// Time a connection closed for idleness is given to say goodbye (an
/// HTTP/2 GOAWAY) before its socket is dropped.
const GOODBYE: Duration = Duration::from_secs(1);

impl Conn {
    async fn run<S>(mut self, stream: TcpStream, service: S, _slot: OwnedSemaphorePermit)
    where
        S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
        S::Future: Send + 'static,
    {
        let phase = Arc::new(Phases::new(Instant::now()));
        let io = TokioIo::new(Watched {
            stream,
            phase: phase.clone(),
        });
        let body_timeout = self.limits.body_timeout;
        let svc = hyper::service::service_fn({
            let phase = phase.clone();
            move |req: hyper::Request<Incoming>| {
                let serving = Serving::start(phase.clone());
                let deadline = Instant::now() + body_timeout;
                let req = req.map(|b| Body::new(DeadlineBody::new(b, deadline, body_timeout)));
                let call = service.clone().oneshot(req);
                async move {
                    let resp = call.await?;
                    // The request counts as served until its response body
                    // has been sent (hyper drops it then).
                    Ok::<_, Infallible>(resp.map(|body| {
                        Body::new(ServedBody {
                            body,
                            _serving: serving,
                        })
                    }))
                }
            }
        });
        let conn = self.builder.serve_connection(io, svc);
        tokio::pin!(conn);
        let mut draining = false;
        let mut hard_stop: Option<Instant> = None;
        loop {
            let wake = hard_stop.unwrap_or_else(|| phase.next_check(&self.limits));
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "HTTP connection ended with an error");
                    }
                    break;
                }
                () = stopped(&mut self.stop), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
                // A new phase: its deadline is taken at the top of the loop.
                () = phase.changed.notified(), if hard_stop.is_none() => {}
                () = tokio::time::sleep_until(wake) => {
                    if hard_stop.is_some() {
                        break;
                    }
                    match phase.expired(&self.limits, Instant::now()) {
                        None => {}
                        Some(Expired::Header) => {
                            self.metrics.http_connection_closed("header_timeout");
                            break;
                        }
                        Some(Expired::Idle) => {
                            self.metrics.http_connection_closed("idle_timeout");
                            draining = true;
                            conn.as_mut().graceful_shutdown();
                            hard_stop = Some(Instant::now() + GOODBYE);
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Expired {
    Header,
    Idle,
}

/// The phase of one connection, updated by its socket (bytes read) and its
/// requests (started, response sent). `changed` wakes the connection task
/// when a deadline may have come closer: the last response sent (idle
/// timer), the first byte of a new request head (header timer).
struct Phases {
    state: Mutex<Phase>,
    changed: Notify,
}

struct Phase {
    /// Requests whose response has not been sent yet.
    serving: usize,
    /// When the current phase began.
    since: Instant,
    /// A request head is on its way (or awaited, on a new connection).
    reading_head: bool,
    /// The first read has been seen (and told whether this is HTTP/2).
    seen_first: bool,
    /// HTTP/2: bytes in an idle spell are pings and settings, not a request
    /// head, so they do not start the header timer.
    h2: bool,
}

const H2_PREFACE_START: &[u8] = b"PRI ";

impl Phases {
    fn new(now: Instant) -> Phases {
        // A new connection must send its first request head in time.
        Phases {
            state: Mutex::new(Phase {
                serving: 0,
                since: now,
                reading_head: true,
                seen_first: false,
                h2: false,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Phase> {
        // The state stays consistent under any panic (plain field writes).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut p = self.lock();
        if !p.seen_first {
            p.seen_first = true;
            p.h2 = bytes.starts_with(H2_PREFACE_START);
        }
        if p.serving == 0 && !p.reading_head && !p.h2 {
            p.reading_head = true;
            p.since = Instant::now();
            drop(p);
            self.changed.notify_one();
        }
    }

    fn request_started(&self) {
        let mut p = self.lock();
        p.serving += 1;
        p.reading_head = false;
    }

    fn request_done(&self) {
        let mut p = self.lock();
        p.serving = p.serving.saturating_sub(1);
        if p.serving == 0 {
            p.reading_head = false;
            p.since = Instant::now();
            drop(p);
            self.changed.notify_one();
        }
    }

    fn deadline(p: &Phase, limits: &Limits) -> Option<(Instant, Expired)> {
        if p.serving > 0 {
            None
        } else if p.reading_head {
            Some((p.since + limits.header_timeout, Expired::Header))
        } else {
            Some((p.since + limits.idle_timeout, Expired::Idle))
        }
    }

    /// When to look again: the current phase's deadline, or, while serving
    /// (no deadline), a while later; a phase change wakes the task sooner.
    fn next_check(&self, limits: &Limits) -> Instant {
        match Phases::deadline(&self.lock(), limits) {
            Some((at, _)) => at,
            None => Instant::now() + limits.header_timeout.min(limits.idle_timeout),
        }
    }

    fn expired(&self, limits: &Limits, now: Instant) -> Option<Expired> {
        Phases::deadline(&self.lock(), limits).and_then(|(at, what)| (now >= at).then_some(what))
    }
}

/// One request in flight on a connection, until dropped.
struct Serving(Arc<Phases>);

impl Serving {
    fn start(phase: Arc<Phases>) -> Serving {
        phase.request_started();
        Serving(phase)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

/// A response body that marks its request served when dropped.
struct ServedBody {
    body: Body,
    _serving: Serving,
}

impl http_body::Body for ServedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, telling the connection's phase about every byte read.
struct Watched {
    stream: TcpStream,
    phase: Arc<Phases>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.phase.read(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The error of a request body that did not arrive within
/// `http_body_timeout_secs` of its head; the body extractors turn it into a
/// 408 (see `api::extract`).
#[derive(Debug)]
pub struct BodyTimeout(pub Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body did not arrive within {} s",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for BodyTimeout {}

/// A request body with a deadline for all of it (not per chunk, so a body
/// trickled a byte at a time cannot hold the request open either).
struct DeadlineBody {
    body: Incoming,
    deadline: Instant,
    timeout: Duration,
    // Made on the first wait only: most bodies are empty or already buffered.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(body: Incoming, deadline: Instant, timeout: Duration) -> DeadlineBody {
        DeadlineBody {
            body,
            deadline,
            timeout,
            sleep: None,
        }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_connections: 10,
        }
    }

    #[tokio::test]
    async fn phases_follow_a_keep_alive_connection() {
        let l = limits();
        let t0 = Instant::now();
        let p = Phases::new(t0);
        // A new connection is waiting for its first request head.
        assert_eq!(p.expired(&l, t0 + Duration::from_secs(9)), None);
        assert_eq!(
            p.expired(&l, t0 + Duration::from_secs(10)),
            Some(Expired::Header)
        );
        p.read(b"GET / HTTP/1.1\r\n");
        p.request_started();
        assert_eq!(p.expired(&l, t0 + Duration::from_secs(3600)), None);
        p.request_done();
        // Idle now: the idle timeout applies, not the header timeout.
        let idle_from = Instant::now();
        assert_eq!(p.expired(&l, idle_from + Duration::from_secs(59)), None);
        assert_eq!(
            p.expired(&l, idle_from + Duration::from_secs(60)),
            Some(Expired::Idle)
        );
        // The first byte of the next request starts the header timer.
        p.read(b"G");
        let head_from = Instant::now();
        assert_eq!(
            p.expired(&l, head_from + Duration::from_secs(11)),
            Some(Expired::Header)
        );
    }

    #[tokio::test]
    async fn http2_frames_between_requests_do_not_start_the_header_timer() {
        let l = limits();
        let p = Phases::new(Instant::now());
        p.read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        p.request_started();
        p.request_done();
        p.read(b"\x00\x00\x08\x06");
        let now = Instant::now();
        assert_eq!(p.expired(&l, now + Duration::from_secs(30)), None);
        assert_eq!(
            p.expired(&l, now + Duration::from_secs(61)),
            Some(Expired::Idle)
        );
    }
}
