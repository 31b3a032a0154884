//! `hookd listen`: a webhook receiver on 127.0.0.1 for local development.
//! Each request is printed to stdout as one block (method, path, headers,
//! pretty JSON body, signature verdict, forward result), written in a single
//! call so concurrent deliveries never interleave; status lines and hints
//! go to stderr.
//!
//! With `--register APP` it creates a temporary endpoint on a hookd server
//! pointing at itself, verifies with that endpoint's secret, watches the
//! endpoint's attempts for the SSRF policy blocking 127.0.0.1 (and says how
//! to allow it), and deletes the endpoint when it stops (Ctrl-C, SIGTERM).
//!
//! What the sender gets back: the forward target's response when
//! forwarding (502 when it cannot be reached), else 401 for a signature
//! that does not verify, else 200.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri, header};
use axum::response::Response;
use clap::Args;
use hookd_webhooks::Verifier;
use serde_json::Value;
use tokio::net::TcpListener;
use url::Url;

use super::UsageError;
use super::call::Call;
use super::client::{Client, root_cause, truncate};
use super::input::Fields;
use super::output::{body_for_display, print_str};
use super::settings::ConnArgs;

#[derive(Args, Debug)]
pub struct ListenArgs {
    /// Port to listen on, on 127.0.0.1 (0 picks a free one).
    #[arg(long, short, default_value_t = 8072)]
    port: u16,
    /// Verify signatures with this key: whsec_… (or whpk_… for ed25519).
    /// With --register, the endpoint is created with this secret.
    #[arg(long, value_name = "KEY")]
    secret: Option<String>,
    /// Forward each webhook (same method, headers and body) to this URL and show its response.
    #[arg(long, value_name = "URL")]
    forward_to: Option<String>,
    /// Create a temporary endpoint pointing here in this application of a
    /// hookd server (see --url/--token); it is deleted on exit.
    #[arg(long, value_name = "APP")]
    register: Option<String>,
    /// With --register: deliver only this event type (repeatable).
    #[arg(long = "event-type", value_name = "NAME", requires = "register")]
    event_types: Vec<String>,
    /// With --register: deliver only this channel (repeatable).
    #[arg(long = "channel", value_name = "NAME", requires = "register")]
    channels: Vec<String>,
    #[command(flatten)]
    conn: ConnArgs,
}

struct Listener {
    verifier: Option<Verifier>,
    forward: Option<(reqwest::Client, Url)>,
    count: AtomicU64,
    /// Set by the first request: the SSRF watch stops then.
    received: AtomicBool,
}

/// The temporary endpoint made by `--register`.
struct Registration {
    client: Client,
    app: String,
    endpoint: String,
}

fn parse_forward(text: &str) -> Result<Url, UsageError> {
    let url = Url::parse(text).map_err(|e| {
        UsageError(format!(
            "--forward-to {text:?}: {e}; expected e.g. http://localhost:3000/webhooks"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UsageError(format!(
            "--forward-to {text:?}: expected an http:// or https:// URL"
        )));
    }
    Ok(url)
}

/// Headers that describe one connection, not the request: not forwarded.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "content-length"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
    )
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

async fn handle(
    State(st): State<Arc<Listener>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = st.count.fetch_add(1, Ordering::Relaxed) + 1;
    st.received.store(true, Ordering::Relaxed);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "--- #{n} {method} {path}  {} ---",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    for (k, v) in &headers {
        let _ = writeln!(out, "{k}: {}", String::from_utf8_lossy(v.as_bytes()));
    }
    out.push('\n');
    out.push_str(&body_for_display(&body));
    out.push_str("\n\n");

    let verdict = st
        .verifier
        .as_ref()
        .map(|v| v.verify_headers(&headers, &body));
    match &verdict {
        None => out.push_str("signature: not checked (give --secret KEY, or use --register)\n"),
        Some(Ok(())) => out.push_str("signature: VALID\n"),
        Some(Err(e)) => {
            let _ = writeln!(out, "signature: INVALID: {e}");
        }
    }

    let response = if let Some((client, url)) = &st.forward {
        let mut req = client.request(method, url.clone()).body(body.clone());
        for (k, v) in &headers {
            if !hop_by_hop(k) {
                req = req.header(k, v);
            }
        }
        let started = Instant::now();
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let content_type = resp
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("text/plain")
                    .to_string();
                let answer = resp.bytes().await.unwrap_or_default();
                let _ = writeln!(
                    out,
                    "forwarded to {url}: {status} ({} ms)",
                    started.elapsed().as_millis()
                );
                out.push_str(&body_for_display(&answer));
                out.push('\n');
                reply(status, &content_type, answer)
            }
            Err(e) => {
                let cause = root_cause(&e);
                let _ = writeln!(out, "forward to {url} FAILED: {cause}");
                reply(
                    StatusCode::BAD_GATEWAY,
                    "text/plain",
                    format!("hookd listen: cannot forward to {url}: {cause}"),
                )
            }
        }
    } else if let Some(Err(e)) = &verdict {
        reply(
            StatusCode::UNAUTHORIZED,
            "text/plain",
            format!("hookd listen: invalid signature: {e}"),
        )
    } else {
        reply(StatusCode::OK, "application/json", r#"{"ok":true}"#)
    };
    out.push('\n');
    print_str(&out);
    response
}

/// Creates the temporary endpoint; returns it and the key to verify with.
async fn register(
    args: &ListenArgs,
    app: &str,
    local_url: &str,
) -> anyhow::Result<(Registration, String)> {
    let client = Client::connect(&args.conn)?;
    let body = Fields::new()
        .set("url", local_url)
        .set(
            "description",
            format!("hookd listen on {local_url} (temporary: deleted when it stops)"),
        )
        .list("filterTypes", &args.event_types)
        .list("channels", &args.channels)
        .opt("secret", args.secret.clone());
    let failed = format!(
        "cannot register a temporary endpoint in application {app:?} on {}",
        client.base()
    );
    let ep = Call::post(&["app", app, "endpoint"], body.into_bytes(), failed)
        .send(&client)
        .await?
        .json()?;
    let id = ep["id"]
        .as_str()
        .ok_or_else(|| anyhow!("the server's answer has no endpoint id: {ep}"))?
        .to_string();
    let reg = Registration {
        client,
        app: app.to_string(),
        endpoint: id.clone(),
    };
    let key = match reg
        .client
        .get(&["app", app, "endpoint", &id, "secret"], &[])
        .await
        .and_then(|r| r.json())
    {
        Ok(v) => v["key"].as_str().unwrap_or_default().to_string(),
        Err(e) => {
            reg.unregister().await;
            return Err(e.context("cannot read the temporary endpoint's secret"));
        }
    };
    Ok((reg, key))
}

impl Registration {
    /// Deletes the endpoint; `false` (after saying so) when it could not.
    async fn unregister(&self) -> bool {
        let deleted = tokio::time::timeout(
            Duration::from_secs(10),
            self.client
                .delete(&["app", &self.app, "endpoint", &self.endpoint], &[]),
        )
        .await;
        match deleted {
            Ok(Ok(_)) => {
                eprintln!(
                    "deleted the temporary endpoint {} from application {}",
                    self.endpoint, self.app
                );
                true
            }
            Ok(Err(e)) => {
                eprintln!(
                    "hookd: cannot delete the temporary endpoint {} ({e:#}); delete it with `hookd endpoints delete {} {}`",
                    self.endpoint, self.app, self.endpoint
                );
                false
            }
            Err(_) => {
                eprintln!(
                    "hookd: the server did not answer the deletion of the temporary endpoint {} within 10 s; delete it with `hookd endpoints delete {} {}`",
                    self.endpoint, self.app, self.endpoint
                );
                false
            }
        }
    }

    /// Until the first webhook arrives, watches the endpoint's attempts:
    /// when hookd's SSRF policy refuses 127.0.0.1 nothing ever arrives, and
    /// only the attempt log says why.
    async fn watch_for_blocked(&self, st: Arc<Listener>) {
        while !st.received.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let Ok(resp) = self
                .client
                .get(
                    &["app", &self.app, "attempt", "endpoint", &self.endpoint],
                    &[("limit", "10".to_string())],
                )
                .await
            else {
                continue;
            };
            let Ok(page) = resp.json() else { continue };
            let blocked = page["data"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["errorClass"] == Value::String("blocked".into()));
            if let Some(a) = blocked {
                eprintln!(
                    "hint: hookd did not deliver to this listener: its SSRF policy refused 127.0.0.1 \
                     (attempt {}: {}).\n      Start the hookd server with loopback allowed, e.g. \
                     `HOOKD_ALLOWED_SUBNETS=127.0.0.0/8 hookd serve` or `allowed_subnets = \"127.0.0.0/8\"` \
                     in its config file, then resend with `hookd resend {} {} {}`.",
                    a["id"].as_str().unwrap_or("?"),
                    truncate(a["response"].as_str().unwrap_or("blocked"), 120),
                    self.app,
                    a["msgId"].as_str().unwrap_or("MSG"),
                    self.endpoint
                );
                return;
            }
        }
    }
}

pub async fn run(args: ListenArgs) -> anyhow::Result<()> {
    // Everything that can fail is checked before the endpoint is registered.
    let forward = match args.forward_to.as_deref().map(parse_forward).transpose()? {
        Some(url) => {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .context("cannot build the HTTP client")?;
            Some((client, url))
        }
        None => None,
    };
    let explicit = match &args.secret {
        Some(s) => {
            if args.register.is_some() && s.starts_with("whpk_") {
                return Err(UsageError(
                    "with --register the endpoint is created with --secret, so it must be a whsec_ or whsk_ key, not a public whpk_ key".into(),
                )
                .into());
            }
            Some(
                Verifier::new(s.trim())
                    .map_err(|e| UsageError(format!("--secret: wrong secret format: {e}")))?,
            )
        }
        None => None,
    };
    // Installed first, so a Ctrl-C during registration still removes the endpoint.
    let mut stop_signal = tokio::spawn(super::server::shutdown_signal());
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| anyhow!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    let addr = listener.local_addr()?;
    let local_url = format!("http://{addr}/");
    eprintln!("listening on {local_url} (Ctrl-C to stop)");

    let (registration, verifier) = match &args.register {
        Some(app) => {
            let (reg, key) = register(&args, app, &local_url).await?;
            eprintln!(
                "registered the temporary endpoint {} in application {app} on {}; it is deleted when this stops",
                reg.endpoint,
                reg.client.base()
            );
            eprintln!("endpoint secret: {key}");
            let verifier = match explicit {
                Some(v) => Some(v),
                None => match Verifier::new(&key) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        eprintln!(
                            "hookd: cannot verify with the endpoint's key ({e}); signatures are not checked"
                        );
                        None
                    }
                },
            };
            (Some(reg), verifier)
        }
        None => (None, explicit),
    };
    match (&verifier, &registration) {
        (None, _) => {
            eprintln!("signatures are not checked (give --secret KEY, or use --register APP)")
        }
        (Some(_), Some(_)) => eprintln!("verifying signatures with the endpoint's secret"),
        (Some(_), None) => eprintln!("verifying signatures with --secret"),
    }
    if let Some((_, url)) = &forward {
        eprintln!("forwarding each webhook to {url}");
    }
    let state = Arc::new(Listener {
        verifier,
        forward,
        count: AtomicU64::new(0),
        received: AtomicBool::new(false),
    });
    let app = Router::new().fallback(handle).with_state(state.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    let watch = async {
        if let Some(reg) = &registration {
            reg.watch_for_blocked(state.clone()).await;
        }
        std::future::pending::<()>().await
    };
    let outcome: anyhow::Result<()> = tokio::select! {
        r = &mut stop_signal => r.unwrap_or_else(|e| Err(anyhow!("the signal handler failed: {e}"))),
        r = &mut server => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow!("the listener failed: {e}")),
            Err(e) => Err(anyhow!("the listener task failed: {e}")),
        },
        _ = watch => Ok(()),
    };
    let _ = stop.send(());
    // Requests in progress (a slow forward) get a moment to finish.
    let _ = tokio::time::timeout(Duration::from_secs(5), &mut server).await;
    let received = state.count.load(Ordering::Relaxed);
    eprintln!("stopped after {received} webhook(s)");
    if let Some(reg) = &registration
        && !reg.unregister().await
        && outcome.is_ok()
    {
        return Err(anyhow!(
            "the temporary endpoint {} was not deleted",
            reg.endpoint
        ));
    }
    outcome
}
