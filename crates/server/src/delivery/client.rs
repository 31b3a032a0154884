//! The outbound HTTP client: pooled keep-alive connections (HTTP/1.1 and
//! HTTP/2), a per-attempt timeout, no redirects, the SSRF policy, and a
//! response body read only up to a cap. Every failure becomes an
//! [`Outcome`] value; nothing here returns an error to unwind a worker.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hookd_core::retry::{Outcome, parse_retry_after};
use reqwest::Url;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::ssrf::{Blocked, DnsFailure, Policy, PolicyResolver};

/// How much of a response body is read at most (beyond it the connection is dropped).
const READ_CAP: usize = 64 * 1024;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    policy: Arc<Policy>,
    https_only: bool,
    keep_body: usize,
}

/// What one attempt produced.
#[derive(Debug, Clone)]
pub struct Sent {
    pub outcome: Outcome,
    /// The HTTP status, 0 without a response.
    pub status: u16,
    /// The response body (truncated), or a description of the failure.
    pub body: String,
    pub duration: Duration,
    pub retry_after: Option<Duration>,
    /// The response's headers in order, up to [`HEADERS_CAP`] bytes (`None` without a response).
    pub response_headers: Option<Vec<(String, String)>>,
}

/// How many bytes of response headers (names and values) an attempt keeps:
/// enough to debug a receiver, bounded so a hostile one cannot bloat the log.
pub const HEADERS_CAP: usize = 8 * 1024;

/// The response headers to keep, in order, until [`HEADERS_CAP`] is reached.
fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut size = 0;
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        size += name.as_str().len() + value.len();
        if size > HEADERS_CAP {
            break;
        }
        out.push((name.as_str().to_string(), value));
    }
    out
}

pub struct ClientConfig {
    pub timeout: Duration,
    pub allowed: Vec<ipnet::IpNet>,
    pub https_only: bool,
    pub proxy: Option<String>,
    pub keep_body: usize,
}

impl Client {
    pub fn new(cfg: ClientConfig) -> anyhow::Result<Client> {
        let policy = Arc::new(Policy {
            allowed: cfg.allowed,
        });
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .user_agent(concat!("hookd/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(PolicyResolver {
                policy: policy.clone(),
            }));
        builder = match cfg.proxy {
            Some(p) => builder.proxy(reqwest::Proxy::all(&p)?),
            None => builder.no_proxy(),
        };
        Ok(Client {
            http: builder.build()?,
            policy,
            https_only: cfg.https_only,
            keep_body: cfg.keep_body,
        })
    }

    /// POSTs `body` to `url`; never fails, the outcome says what happened.
    pub async fn post(&self, url: &str, headers: HeaderMap, body: bytes::Bytes) -> Sent {
        let start = Instant::now();
        let failed = |outcome: Outcome, msg: String| Sent {
            outcome,
            status: 0,
            body: msg,
            duration: start.elapsed(),
            retry_after: None,
            response_headers: None,
        };
        let parsed = match Url::parse(url) {
            Ok(u) => u,
            Err(e) => return failed(Outcome::Other, format!("invalid URL: {e}")),
        };
        if self.https_only && parsed.scheme() != "https" {
            return failed(
                Outcome::Blocked,
                "blocked: https_only is set and the URL is not https".into(),
            );
        }
        // The resolver never sees IP literals, so they are checked here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = literal
            && let Err(b) = self.policy.check(ip)
        {
            return failed(Outcome::Blocked, b.to_string());
        }
        let result = self
            .http
            .post(parsed)
            .headers(headers)
            .body(body)
            .send()
            .await;
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => {
                let (outcome, msg) = classify(&e);
                return failed(outcome, msg);
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let response_headers = Some(kept_headers(resp.headers()));
        let mut buf: Vec<u8> = Vec::new();
        let mut read_failed = None;
        while buf.len() < READ_CAP {
            match resp.chunk().await {
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    read_failed = Some(e);
                    break;
                }
            }
        }
        // A response whose body could not be read completely still counts by
        // its status: the receiver has answered.
        if let Some(e) = read_failed
            && buf.is_empty()
            && e.is_timeout()
        {
            tracing::debug!(error = %e, "response body read timed out");
        }
        buf.truncate(self.keep_body);
        Sent {
            outcome: Outcome::Status(status),
            status,
            body: String::from_utf8_lossy(&buf).into_owned(),
            duration: start.elapsed(),
            retry_after,
            response_headers,
        }
    }
}

/// Maps a client error to an outcome by walking its cause chain.
fn classify(e: &reqwest::Error) -> (Outcome, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut saw_invalid_data = false;
    let mut saw_refused = false;
    while let Some(err) = source {
        if let Some(b) = err.downcast_ref::<Blocked>() {
            return (Outcome::Blocked, b.to_string());
        }
        if let Some(d) = err.downcast_ref::<DnsFailure>() {
            return (Outcome::Dns, d.to_string());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::InvalidData => saw_invalid_data = true,
                std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted => saw_refused = true,
                _ => {}
            }
        }
        source = err.source();
    }
    let text = error_chain(e);
    if e.is_timeout() {
        return (Outcome::Timeout, format!("timed out: {text}"));
    }
    if saw_invalid_data || text.contains("certificate") || text.to_ascii_lowercase().contains("tls")
    {
        return (Outcome::Tls, text);
    }
    if e.is_connect() || saw_refused {
        return (Outcome::Connect, text);
    }
    (Outcome::Other, text)
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    #[test]
    fn response_headers_are_kept_in_order_up_to_the_cap() {
        let mut h = HeaderMap::new();
        let value = "v".repeat(200);
        for i in 0..100 {
            h.append(
                HeaderName::try_from(format!("x-h{i:03}")).unwrap(),
                HeaderValue::from_str(&value).unwrap(),
            );
        }
        let kept = kept_headers(&h);
        let size: usize = kept.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(size <= HEADERS_CAP, "{size}");
        assert!(kept.len() > 30 && kept.len() < 100, "{}", kept.len());
        assert_eq!(kept[0].0, "x-h000");
        assert_eq!(kept[1].0, "x-h001");
        assert_eq!(kept[0].1, value);
    }
}
