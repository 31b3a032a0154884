//! `hookd send`, `hookd resend` and `hookd recover`: putting messages into
//! hookd and getting failed deliveries attempted again.
//!
//! `send` passes the payload through byte for byte (hookd stores and
//! delivers it verbatim), after checking locally that it is a JSON object.

use std::path::PathBuf;

use anyhow::Context as _;
use chrono::Utc;
use clap::Args;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::Format;
use super::UsageError;
use super::call::{Call, Show};
use super::client::{Client, Response};
use super::input::{Fields, file_or_stdin, parse_time, read_file, read_stdin};
use super::output::{cell, object_lines, print_raw, print_str};
use super::settings::ConnArgs;

#[derive(Args, Debug)]
pub struct SendArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    format: Format,
    /// Application (id or uid).
    app: String,
    /// Event type, e.g. invoice.paid.
    event_type: String,
    /// The payload, a JSON object.
    #[arg(long, value_name = "JSON", conflicts_with = "file")]
    payload: Option<String>,
    /// Read the payload from this file ("-" for stdin). Without --payload or --file, stdin is read.
    #[arg(long, short = 'f', value_name = "FILE")]
    file: Option<PathBuf>,
    /// Your unique id for the event; a second message with the same id is refused (409).
    #[arg(long, value_name = "ID")]
    event_id: Option<String>,
    /// Channel (repeatable).
    #[arg(long = "channel", value_name = "NAME")]
    channels: Vec<String>,
    /// Tag (repeatable).
    #[arg(long = "tag", value_name = "NAME")]
    tags: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageIn<'a> {
    event_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
    /// Sent byte for byte as given: hookd stores and delivers it verbatim.
    payload: &'a RawValue,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    channels: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
}

pub async fn send(args: SendArgs) -> anyhow::Result<()> {
    let (text, from) = match (&args.payload, file_or_stdin(args.file.as_deref())) {
        (Some(p), _) => (p.clone().into_bytes(), "--payload".to_string()),
        (None, Some(f)) => (
            read_file(f, "the payload file")?,
            format!("the payload file {}", f.display()),
        ),
        (None, None) => (
            read_stdin("the payload", "")?,
            "the payload on stdin".into(),
        ),
    };
    let text = String::from_utf8(text).map_err(|_| UsageError(format!("{from} is not UTF-8")))?;
    let payload: &RawValue = serde_json::from_str(text.trim())
        .map_err(|e| UsageError(format!("{from} is not valid JSON: {e}")))?;
    if !payload.get().starts_with('{') {
        return Err(UsageError(format!("{from} must be a JSON object ({{…}})")).into());
    }
    let msg = MessageIn {
        event_type: &args.event_type,
        event_id: args.event_id.as_deref(),
        payload,
        channels: &args.channels,
        tags: &args.tags,
    };
    let body = serde_json::to_vec(&msg).context("cannot encode the message")?;
    let client = Client::connect(&args.conn)?;
    let failed = format!("cannot send to application {:?}", args.app);
    Call::post(&["app", &args.app, "msg"], body, failed)
        .run(&client, args.format, Show::Text(Box::new(sent)))
        .await
}

/// The message as hookd stored it, its payload shown as stored (key order,
/// number spelling), not re-serialised.
fn sent(resp: &Response) -> anyhow::Result<String> {
    let mut out = resp.json()?;
    if let Ok(raw) = serde_json::from_slice::<RawPayload>(&resp.body) {
        out["payload"] = Value::String(raw.payload.get().to_string());
    }
    let order = [
        "id",
        "eventId",
        "eventType",
        "channels",
        "tags",
        "timestamp",
        "payload",
    ];
    Ok(object_lines(&out, &order))
}

#[derive(serde::Deserialize)]
struct RawPayload<'a> {
    #[serde(borrow)]
    payload: &'a RawValue,
}

#[derive(Args, Debug)]
pub struct ResendArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    format: Format,
    /// Application (id or uid).
    app: String,
    /// Message (id or eventId).
    msg: String,
    /// Endpoint (id or uid).
    endpoint: String,
}

pub async fn resend(args: ResendArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.conn)?;
    let (msg, endpoint) = (&args.msg, &args.endpoint);
    let path = ["app", &args.app, "msg", msg, "endpoint", endpoint, "resend"];
    Call::new(
        reqwest::Method::POST,
        &path,
        format!("cannot resend message {msg:?} to endpoint {endpoint:?}"),
    )
    .run(
        &client,
        args.format,
        Show::Line(format!(
            "queued a new attempt of message {msg} to endpoint {endpoint}"
        )),
    )
    .await
}

#[derive(Args, Debug)]
pub struct RecoverArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    format: Format,
    /// Application (id or uid).
    app: String,
    /// Endpoint (id or uid).
    endpoint: String,
    /// Resend failed deliveries of messages created since this time: RFC 3339
    /// (2026-01-31T12:00:00Z), Unix seconds, or an age such as 90m, 6h, 2d.
    #[arg(long, value_name = "TIME")]
    since: String,
    /// ... and before this time (default: now); same forms as --since.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
}

pub async fn recover(args: RecoverArgs) -> anyhow::Result<()> {
    let now = Utc::now();
    let since = parse_time(&args.since, "--since", now)?;
    let until = args
        .until
        .as_deref()
        .map(|u| parse_time(u, "--until", now))
        .transpose()?;
    let body = Fields::new()
        .set("since", since.clone())
        .opt("until", until.clone());
    let client = Client::connect(&args.conn)?;
    let path = ["app", &args.app, "endpoint", &args.endpoint, "recover"];
    let failed = format!("cannot recover endpoint {:?}", args.endpoint);
    let started = Call::post(&path, body.into_bytes(), failed.clone())
        .send(&client)
        .await?
        .json()?;
    let task_id = started["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("{failed}: the answer names no background task"))?
        .to_string();
    let done = wait_for_task(&client, &task_id, &failed).await?;
    let task = done.json()?;
    if task["status"] != "finished" {
        anyhow::bail!(
            "{failed}: background task {task_id} {}: {}",
            cell(&task["status"]),
            cell(&task["data"]["error"])
        );
    }
    if args.format.json {
        print_raw(&done.body);
        return Ok(());
    }
    print_str(&format!(
        "queued {} failed deliveries to endpoint {} again (messages from {since} to {}; task {task_id})\n",
        cell(&task["data"]["messagesSent"]),
        args.endpoint,
        until.as_deref().unwrap_or("now")
    ));
    Ok(())
}

/// How long `recover` waits for its background task to end.
const TASK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Polls a background task until it is no longer running; its last answer.
async fn wait_for_task(client: &Client, id: &str, failed: &str) -> anyhow::Result<Response> {
    let deadline = std::time::Instant::now() + TASK_WAIT;
    loop {
        let resp = Call::get(&["background-task", id], failed.to_string())
            .send(client)
            .await?;
        if resp.json()?["status"] != "running" {
            return Ok(resp);
        }
        if std::time::Instant::now() >= deadline {
            anyhow::bail!(
                "{failed}: background task {id} is still running after {}s; \
                 follow it with GET /api/v1/background-task/{id}",
                TASK_WAIT.as_secs()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
