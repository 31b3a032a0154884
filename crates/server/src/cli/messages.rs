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
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::Format;
use super::UsageError;
use super::client::Client;
use super::input::{parse_time, read_file, read_stdin};
use super::output::{cell, print_done, print_object, print_raw, print_str};
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
    let (text, from) = match (&args.payload, &args.file) {
        (Some(p), _) => (p.clone().into_bytes(), "--payload".to_string()),
        (None, Some(f)) if f.as_os_str() == "-" => {
            (read_stdin("the payload")?, "the payload on stdin".into())
        }
        (None, Some(f)) => (
            read_file(f, "the payload file")?,
            format!("the payload file {}", f.display()),
        ),
        (None, None) => (read_stdin("the payload")?, "the payload on stdin".into()),
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
    let resp = client
        .post(&["app", &args.app, "msg"], body)
        .await
        .with_context(|| format!("cannot send to application {:?}", args.app))?;
    if args.format.json {
        print_raw(&resp.body);
        return Ok(());
    }
    let mut out = resp.json()?;
    // The payload as stored (key order, number spelling), not re-serialised.
    if let Ok(raw) = serde_json::from_slice::<RawPayload>(&resp.body) {
        out["payload"] = Value::String(raw.payload.get().to_string());
    }
    print_object(
        &out,
        &[
            "id",
            "eventId",
            "eventType",
            "channels",
            "tags",
            "timestamp",
            "payload",
        ],
    );
    Ok(())
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
    let resp = client
        .call(
            reqwest::Method::POST,
            &[
                "app",
                &args.app,
                "msg",
                &args.msg,
                "endpoint",
                &args.endpoint,
                "resend",
            ],
            &[],
            None,
        )
        .await
        .with_context(|| {
            format!(
                "cannot resend message {:?} to endpoint {:?}",
                args.msg, args.endpoint
            )
        })?;
    print_done(
        &resp,
        args.format,
        &format!(
            "queued a new attempt of message {} to endpoint {}",
            args.msg, args.endpoint
        ),
    );
    Ok(())
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
    let mut b = json!({"since": since});
    if let Some(u) = &args.until {
        b["until"] = json!(parse_time(u, "--until", now)?);
    }
    let client = Client::connect(&args.conn)?;
    let resp = client
        .post(
            &["app", &args.app, "endpoint", &args.endpoint, "recover"],
            b.to_string().into_bytes(),
        )
        .await
        .with_context(|| format!("cannot recover endpoint {:?}", args.endpoint))?;
    if args.format.json {
        print_raw(&resp.body);
        return Ok(());
    }
    let out = resp.json()?;
    let until = b["until"].as_str().unwrap_or("now");
    print_str(&format!(
        "queued {} failed deliveries to endpoint {} again (messages from {since} to {until})\n",
        cell(&out["queued"]),
        args.endpoint
    ));
    Ok(())
}
