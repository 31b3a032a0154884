//! `hookd attempts`: the delivery attempt log of an endpoint, a message or a
//! whole application, as a table (oldest first, like a log) or the API's
//! JSON; with `--follow`, polls and prints each new attempt once, until
//! Ctrl-C or SIGTERM.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use serde_json::{Value, json};

use super::Format;
use super::UsageError;
use super::client::{Client, Response, truncate};
use super::output::{Table, cell, print_raw, print_str};
use super::settings::ConnArgs;

#[derive(Args, Debug)]
pub struct AttemptsArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    format: Format,
    /// Application (id or uid).
    #[arg(long)]
    app: String,
    /// Only attempts to this endpoint (id or uid).
    #[arg(long)]
    endpoint: Option<String>,
    /// Only attempts of this message (id or eventId).
    #[arg(long)]
    msg: Option<String>,
    /// Only attempts with this status: success, pending, fail, sending.
    #[arg(long, value_parser = ["success", "pending", "fail", "sending"])]
    status: Option<String>,
    /// How many of the latest attempts to show (1-250).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=250))]
    limit: u32,
    /// Keep polling and print new attempts as they are made (until Ctrl-C).
    #[arg(long, short = 'F')]
    follow: bool,
    /// Seconds between polls with --follow.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    interval: f64,
}

fn status_code(s: &str) -> &'static str {
    match s {
        "success" => "0",
        "pending" => "1",
        "fail" => "2",
        _ => "3",
    }
}

/// What the attempts are listed for.
enum Target {
    Endpoint(String),
    Msg {
        msg: String,
        endpoint: Option<String>,
    },
    /// Every endpoint of the application.
    App,
}

/// The latest `limit` attempts, newest first, and the API's answer as
/// received when there was a single one (not for a whole application).
async fn fetch_attempts(
    client: &Client,
    args: &AttemptsArgs,
    target: &Target,
    limit: u32,
) -> anyhow::Result<(Vec<Value>, Option<Bytes>)> {
    let mut q = vec![("limit", limit.to_string())];
    if let Some(s) = &args.status {
        q.push(("status", status_code(s).to_string()));
    }
    let app = args.app.as_str();
    let (path, failed) = match target {
        Target::Endpoint(ep) => (
            ["app", app, "attempt", "endpoint", ep],
            format!("cannot list the attempts to endpoint {ep:?} of application {app:?}"),
        ),
        Target::Msg { msg, endpoint } => {
            if let Some(ep) = endpoint {
                q.push(("endpoint_id", ep.clone()));
            }
            (
                ["app", app, "attempt", "msg", msg],
                format!("cannot list the attempts of message {msg:?} of application {app:?}"),
            )
        }
        Target::App => return Ok((app_attempts(client, app, &q, limit).await?, None)),
    };
    let r = client.get(&path, &q).await.context(failed)?;
    Ok((data(&r)?, Some(r.body)))
}

/// Every endpoint's latest `limit` attempts, merged: the API has no
/// app-wide attempt list.
async fn app_attempts(
    client: &Client,
    app: &str,
    q: &[(&str, String)],
    limit: u32,
) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut iterator: Option<String> = None;
    loop {
        let mut pq = vec![("limit", "250".to_string())];
        if let Some(it) = &iterator {
            pq.push(("iterator", it.clone()));
        }
        let page = client
            .get(&["app", app, "endpoint"], &pq)
            .await
            .with_context(|| format!("cannot list the endpoints of application {app:?}"))?
            .json()?;
        for ep in page["data"].as_array().into_iter().flatten() {
            if let Some(id) = ep["id"].as_str() {
                let r = client
                    .get(&["app", app, "attempt", "endpoint", id], q)
                    .await
                    .with_context(|| format!("cannot list the attempts to endpoint {id}"))?;
                all.extend(data(&r)?);
            }
        }
        match page["iterator"].as_str() {
            Some(it) if page["done"] == Value::Bool(false) => iterator = Some(it.into()),
            _ => break,
        }
    }
    all.sort_by_key(|a| std::cmp::Reverse(attempt_key(a)));
    all.truncate(limit as usize);
    Ok(all)
}

fn data(r: &Response) -> anyhow::Result<Vec<Value>> {
    Ok(match r.json()?.get_mut("data").map(Value::take) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    })
}

fn attempt_key(a: &Value) -> (String, String) {
    (cell(&a["timestamp"]), cell(&a["id"]))
}

fn attempt_table() -> Table {
    // Ids and timestamps have fixed widths, so rows printed later by
    // --follow line up with the first ones.
    Table::new(vec![
        "TIMESTAMP",
        "ATTEMPT",
        "MSG",
        "ENDPOINT",
        "STATUS",
        "CODE",
        "DURATION",
        "TRIGGER",
        "RESPONSE",
    ])
    .min_widths(&[24, 33, 31, 30, 7, 7, 8, 9])
}

fn attempt_row(a: &Value) -> Vec<String> {
    let code = match a["responseStatusCode"].as_i64() {
        Some(c) if c > 0 => c.to_string(),
        _ => cell(&a["errorClass"]),
    };
    let trigger = match a["triggerType"].as_i64() {
        Some(0) => "scheduled",
        Some(1) => "manual",
        _ => "-",
    };
    let response = a["response"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        cell(&a["timestamp"]),
        cell(&a["id"]),
        cell(&a["msgId"]),
        cell(&a["endpointId"]),
        cell(&a["statusText"]),
        code,
        format!("{}ms", a["responseDurationMs"].as_i64().unwrap_or(0)),
        trigger.into(),
        truncate(&response, 60),
    ]
}

/// Attempt ids already printed by `--follow`, bounded: only the newest
/// pages are polled, so old ids never come back.
struct Seen {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    const CAP: usize = 10_000;

    fn new() -> Seen {
        Seen {
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// `true` when `id` was not seen before.
    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        self.set.insert(id.to_string());
        self.order.push_back(id.to_string());
        if self.order.len() > Self::CAP
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

pub async fn attempts(args: AttemptsArgs) -> anyhow::Result<()> {
    let target = match (&args.endpoint, &args.msg) {
        (_, Some(m)) => Target::Msg {
            msg: m.clone(),
            endpoint: args.endpoint.clone(),
        },
        (Some(e), None) => Target::Endpoint(e.clone()),
        (None, None) => Target::App,
    };
    if !(args.interval.is_finite() && args.interval >= 0.05) {
        return Err(UsageError("--interval must be at least 0.05 seconds".into()).into());
    }
    let client = Client::connect(&args.conn)?;
    let (first, raw) = fetch_attempts(&client, &args, &target, args.limit).await?;
    if !args.follow {
        if args.format.json {
            match raw {
                Some(body) => print_raw(&body),
                // Merged from every endpoint: the API's shape, without cursors.
                None => print_raw(json!({"data": first}).to_string().as_bytes()),
            }
            return Ok(());
        }
        let mut table = attempt_table();
        for a in first.iter().rev() {
            table.row(attempt_row(a));
        }
        if table.is_empty() {
            eprintln!("(no attempts)");
        } else {
            table.print();
        }
        return Ok(());
    }

    // --follow: the latest attempts oldest first, like `tail -f`, then every
    // new one as it is recorded. With --json, one attempt object per line.
    let mut seen = Seen::new();
    let header = attempt_table();
    if !args.format.json {
        print_str(&format!("{}\n", header.header_line()));
    }
    let show = |batch: Vec<Value>, seen: &mut Seen| {
        let mut fresh: Vec<Value> = batch
            .into_iter()
            .filter(|a| seen.insert(&cell(&a["id"])))
            .collect();
        fresh.sort_by_key(attempt_key);
        if fresh.is_empty() {
            return;
        }
        let mut out = String::new();
        if args.format.json {
            for a in &fresh {
                out.push_str(&a.to_string());
                out.push('\n');
            }
        } else {
            let mut t = attempt_table();
            for a in &fresh {
                t.row(attempt_row(a));
            }
            for l in t.row_lines() {
                out.push_str(&l);
                out.push('\n');
            }
        }
        print_str(&out);
    };
    show(first, &mut seen);
    let interval = Duration::from_secs_f64(args.interval);
    let mut failing = false;
    let stop = super::server::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            r = &mut stop => return r,
            _ = tokio::time::sleep(interval) => {}
        }
        match fetch_attempts(&client, &args, &target, 250).await {
            Ok((batch, _)) => {
                if failing {
                    eprintln!("hookd: reconnected");
                    failing = false;
                }
                show(batch, &mut seen);
            }
            Err(e) => {
                if !failing {
                    eprintln!("hookd: {e:#}; retrying every {:.1} s", args.interval);
                    failing = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn seen_is_bounded() {
        let mut s = Seen::new();
        assert!(s.insert("a"));
        assert!(!s.insert("a"));
        for i in 0..Seen::CAP {
            s.insert(&i.to_string());
        }
        assert_eq!(s.set.len(), Seen::CAP);
        assert!(s.insert("a"), "the oldest id was forgotten");
    }
}
