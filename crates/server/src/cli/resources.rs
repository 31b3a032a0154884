//! `hookd apps`, `hookd endpoints`, `hookd event-types`: create, list, get,
//! update and delete, each one call of the management API (`endpoints
//! create` also reads the new secret, to show it).
//!
//! `update` sends a PATCH with only the fields given on the command line.
//! Tables by default; with `--json` the API's JSON exactly as received.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::Format;
use super::UsageError;
use super::call::{Call, Show};
use super::client::{Client, Response, truncate};
use super::input::{Fields, parse_json_arg, read_file};
use super::output::{cell, object_lines, print_raw, print_str, without_aliases};
use super::settings::ConnArgs;

/// Paging flags of the list commands.
#[derive(Args, Debug, Clone)]
pub struct PageArgs {
    /// Items per page (1-250).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=250))]
    limit: u32,
    /// Continue from this cursor (printed when there are more items).
    #[arg(long, value_name = "CURSOR")]
    iterator: Option<String>,
}

impl PageArgs {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("limit", self.limit.to_string())];
        if let Some(it) = &self.iterator {
            q.push(("iterator", it.clone()));
        }
        q
    }
}

// ---------- applications ----------

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// List applications.
    List(PageArgs),
    /// Create an application.
    Create {
        /// Display name.
        name: String,
        /// Your own unique id; usable in place of the app_… id.
        #[arg(long)]
        uid: Option<String>,
        /// Messages per second delivered to each of its endpoints.
        #[arg(long, value_name = "N")]
        throttle_rate: Option<u32>,
        /// Metadata entry (repeatable).
        #[arg(long = "metadata", value_name = "KEY=VALUE")]
        metadata: Vec<String>,
    },
    /// Show an application (id or uid).
    Get { app: String },
    /// Change an application: only the given fields.
    Update {
        app: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        uid: Option<String>,
        #[arg(long, value_name = "N")]
        throttle_rate: Option<u32>,
        /// Replace the metadata with these entries (repeatable).
        #[arg(long = "metadata", value_name = "KEY=VALUE")]
        metadata: Vec<String>,
    },
    /// Delete an application with its endpoints, messages and attempts.
    Delete { app: String },
}

const APP_FIELDS: &[&str] = &[
    "id",
    "uid",
    "name",
    "throttleRate",
    "metadata",
    "createdAt",
    "updatedAt",
];

const APP_COLUMNS: &[&str] = &["ID", "UID", "NAME", "THROTTLE", "CREATED"];

fn app_row(a: &Value) -> Vec<String> {
    ["id", "uid", "name", "throttleRate", "createdAt"]
        .iter()
        .map(|k| cell(&a[*k]))
        .collect()
}

pub async fn apps(conn: &ConnArgs, format: Format, command: AppCommand) -> anyhow::Result<()> {
    let client = Client::connect(conn)?;
    let one = Show::Object(APP_FIELDS);
    let (call, show) = match command {
        AppCommand::List(page) => (
            Call::get(&["app"], "cannot list applications").query(page.query()),
            Show::Page(APP_COLUMNS, app_row),
        ),
        AppCommand::Create {
            name,
            uid,
            throttle_rate,
            metadata,
        } => {
            let body = Fields::new()
                .set("name", name)
                .opt("uid", uid)
                .opt("throttleRate", throttle_rate)
                .metadata(&metadata)?;
            let call = Call::post(&["app"], body.into_bytes(), "cannot create the application");
            (call, one)
        }
        AppCommand::Get { app } => (
            Call::get(&["app", &app], format!("cannot get application {app:?}")),
            one,
        ),
        AppCommand::Update {
            app,
            name,
            uid,
            throttle_rate,
            metadata,
        } => {
            let body = Fields::new()
                .opt("name", name)
                .opt("uid", uid)
                .opt("throttleRate", throttle_rate)
                .metadata(&metadata)?
                .into_update("--name, --uid, --throttle-rate or --metadata")?;
            let failed = format!("cannot update application {app:?}");
            (Call::patch(&["app", &app], body, failed), one)
        }
        AppCommand::Delete { app } => (
            Call::delete(&["app", &app], format!("cannot delete application {app:?}")),
            Show::Line(format!("deleted application {app}")),
        ),
    };
    call.run(&client, format, show).await
}

// ---------- endpoints ----------

#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    /// List an application's endpoints.
    List {
        app: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Create an endpoint (prints its signing secret too, unless --json).
    Create {
        app: String,
        /// Where messages are POSTed.
        url: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        uid: Option<String>,
        /// Deliver only this event type (repeatable; none = all).
        #[arg(long = "event-type", value_name = "NAME")]
        event_types: Vec<String>,
        /// Deliver only messages on this channel (repeatable; none = all).
        #[arg(long = "channel", value_name = "NAME")]
        channels: Vec<String>,
        /// The signing secret (whsec_… or whsk_…); generated when absent.
        #[arg(long)]
        secret: Option<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
        /// Messages per second.
        #[arg(long, value_name = "N")]
        throttle_rate: Option<u32>,
        /// Extra header sent with every delivery (repeatable).
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// Metadata entry (repeatable).
        #[arg(long = "metadata", value_name = "KEY=VALUE")]
        metadata: Vec<String>,
    },
    /// Show an endpoint (id or uid).
    Get { app: String, endpoint: String },
    /// Change an endpoint: only the given fields.
    Update {
        app: String,
        endpoint: String,
        /// The endpoint's new URL (`--url` names the hookd server).
        #[arg(long = "endpoint-url", value_name = "URL")]
        endpoint_url: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        uid: Option<String>,
        /// Deliver only these event types (repeatable; replaces the list).
        #[arg(long = "event-type", value_name = "NAME")]
        event_types: Vec<String>,
        /// Deliver every event type again.
        #[arg(long, conflicts_with = "event_types")]
        all_event_types: bool,
        /// Deliver only these channels (repeatable; replaces the list).
        #[arg(long = "channel", value_name = "NAME")]
        channels: Vec<String>,
        /// Deliver every channel again.
        #[arg(long, conflicts_with = "channels")]
        all_channels: bool,
        /// Enable the endpoint.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Disable the endpoint.
        #[arg(long)]
        disable: bool,
        #[arg(long, value_name = "N")]
        throttle_rate: Option<u32>,
        /// Replace the metadata with these entries (repeatable).
        #[arg(long = "metadata", value_name = "KEY=VALUE")]
        metadata: Vec<String>,
    },
    /// Delete an endpoint.
    Delete { app: String, endpoint: String },
    /// Print the endpoint's signing secret (whsec_…, or whpk_… for ed25519).
    Secret { app: String, endpoint: String },
    /// Rotate the signing secret; the old one keeps signing for a grace period.
    RotateSecret {
        app: String,
        endpoint: String,
        /// The new secret; generated when absent.
        #[arg(long)]
        secret: Option<String>,
        /// Seconds the old secret keeps signing (default: the server's setting).
        #[arg(long, value_name = "SECS")]
        grace_period: Option<u32>,
    },
}

const ENDPOINT_FIELDS: &[&str] = &[
    "id",
    "uid",
    "url",
    "description",
    "disabled",
    "filterTypes",
    "channels",
    "throttleRate",
    "metadata",
    "version",
    "createdAt",
    "updatedAt",
];

const ENDPOINT_COLUMNS: &[&str] = &[
    "ID",
    "UID",
    "URL",
    "STATUS",
    "EVENT TYPES",
    "CHANNELS",
    "DESCRIPTION",
];

fn endpoint_row(e: &Value) -> Vec<String> {
    vec![
        cell(&e["id"]),
        cell(&e["uid"]),
        cell(&e["url"]),
        if e["disabled"] == Value::Bool(true) {
            "disabled".into()
        } else {
            "enabled".into()
        },
        cell(&e["filterTypes"]),
        cell(&e["channels"]),
        truncate(&cell(&e["description"]), 40),
    ]
}

/// A secret as the only output line.
fn key() -> Show {
    Show::Text(Box::new(|r| Ok(format!("{}\n", cell(&r.json()?["key"])))))
}

pub async fn endpoints(
    conn: &ConnArgs,
    format: Format,
    command: EndpointCommand,
) -> anyhow::Result<()> {
    let client = Client::connect(conn)?;
    let one = Show::Object(ENDPOINT_FIELDS);
    let of = |endpoint: &str, app: &str| format!("endpoint {endpoint:?} of application {app:?}");
    let (call, show) = match command {
        EndpointCommand::List { app, page } => (
            Call::get(
                &["app", &app, "endpoint"],
                format!("cannot list the endpoints of application {app:?}"),
            )
            .query(page.query()),
            Show::Page(ENDPOINT_COLUMNS, endpoint_row),
        ),
        EndpointCommand::Create {
            app,
            url,
            description,
            uid,
            event_types,
            channels,
            secret,
            disabled,
            throttle_rate,
            headers,
            metadata,
        } => {
            let body = Fields::new()
                .set("url", url)
                .opt("description", description)
                .opt("uid", uid)
                .list("filterTypes", &event_types)
                .list("channels", &channels)
                .opt("secret", secret)
                .opt("disabled", disabled.then_some(true))
                .opt("throttleRate", throttle_rate)
                .pairs("headers", &headers, "--header", ':')?
                .metadata(&metadata)?;
            let failed = format!("cannot create an endpoint in application {app:?}");
            let resp = Call::post(&["app", &app, "endpoint"], body.into_bytes(), failed)
                .send(&client)
                .await?;
            return print_created_endpoint(&client, format, &app, &resp).await;
        }
        EndpointCommand::Get { app, endpoint } => (
            Call::get(
                &["app", &app, "endpoint", &endpoint],
                format!("cannot get {}", of(&endpoint, &app)),
            ),
            one,
        ),
        EndpointCommand::Update {
            app,
            endpoint,
            endpoint_url,
            description,
            uid,
            event_types,
            all_event_types,
            channels,
            all_channels,
            enable,
            disable,
            throttle_rate,
            metadata,
        } => {
            let body = Fields::new()
                .opt("url", endpoint_url)
                .opt("description", description)
                .opt("uid", uid)
                .list("filterTypes", &event_types)
                .opt("filterTypes", all_event_types.then_some(Value::Null))
                .list("channels", &channels)
                .opt("channels", all_channels.then_some(Value::Null))
                .opt("disabled", (enable || disable).then_some(disable))
                .opt("throttleRate", throttle_rate)
                .metadata(&metadata)?
                .into_update(
                    "at least one field, e.g. --endpoint-url, --disable or --event-type",
                )?;
            let failed = format!("cannot update {}", of(&endpoint, &app));
            (
                Call::patch(&["app", &app, "endpoint", &endpoint], body, failed),
                one,
            )
        }
        EndpointCommand::Delete { app, endpoint } => (
            Call::delete(
                &["app", &app, "endpoint", &endpoint],
                format!("cannot delete {}", of(&endpoint, &app)),
            ),
            Show::Line(format!("deleted endpoint {endpoint}")),
        ),
        EndpointCommand::Secret { app, endpoint } => (
            Call::get(
                &["app", &app, "endpoint", &endpoint, "secret"],
                format!("cannot get the secret of {}", of(&endpoint, &app)),
            ),
            key(),
        ),
        EndpointCommand::RotateSecret {
            app,
            endpoint,
            secret,
            grace_period,
        } => {
            let body = Fields::new()
                .opt("key", secret)
                .opt("gracePeriodSeconds", grace_period);
            let failed = format!("cannot rotate the secret of {}", of(&endpoint, &app));
            let path = ["app", &app, "endpoint", &endpoint, "secret", "rotate"];
            (Call::post(&path, body.into_bytes(), failed), key())
        }
    };
    call.run(&client, format, show).await
}

/// A new endpoint with its signing secret, which the creation's answer
/// leaves out (a second call); with `--json` the answer alone, as received.
async fn print_created_endpoint(
    client: &Client,
    format: Format,
    app: &str,
    resp: &Response,
) -> anyhow::Result<()> {
    if format.json {
        print_raw(&resp.body);
        return Ok(());
    }
    let mut ep = without_aliases(resp.json()?);
    if let Some(id) = ep["id"].as_str().map(String::from) {
        let secret = Call::get(
            &["app", app, "endpoint", &id, "secret"],
            "the endpoint was created, but its secret cannot be read",
        )
        .send(client)
        .await?
        .json()?;
        ep["secret"] = secret["key"].clone();
    }
    print_str(&object_lines(&ep, ENDPOINT_FIELDS));
    Ok(())
}

// ---------- event types ----------

#[derive(Subcommand, Debug)]
pub enum EventTypeCommand {
    /// List event types.
    List {
        #[command(flatten)]
        page: PageArgs,
        /// Include archived event types.
        #[arg(long)]
        include_archived: bool,
    },
    /// Create an event type (or un-archive one of the same name).
    Create {
        /// `[a-zA-Z0-9-_.]`, e.g. invoice.paid.
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// A JSON Schema file (stored as version "1"), or an object of schemas keyed by version.
        #[arg(long, value_name = "FILE")]
        schema: Option<PathBuf>,
        #[arg(long, value_name = "NAME")]
        group: Option<String>,
        /// Feature flag (repeatable).
        #[arg(long = "feature-flag", value_name = "NAME")]
        feature_flags: Vec<String>,
    },
    /// Show an event type.
    Get { name: String },
    /// Change an event type: only the given fields.
    Update {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_name = "FILE")]
        schema: Option<PathBuf>,
        #[arg(long, value_name = "NAME")]
        group: Option<String>,
        #[arg(long, value_name = "true|false")]
        archived: Option<bool>,
        #[arg(long, value_name = "true|false")]
        deprecated: Option<bool>,
    },
    /// Archive an event type (with --expunge, remove it for good).
    Delete {
        name: String,
        #[arg(long)]
        expunge: bool,
    },
}

const EVENT_TYPE_FIELDS: &[&str] = &[
    "name",
    "description",
    "archived",
    "deprecated",
    "groupName",
    "featureFlags",
    "schemas",
    "createdAt",
    "updatedAt",
];

const EVENT_TYPE_COLUMNS: &[&str] = &["NAME", "DESCRIPTION", "GROUP", "FLAGS", "SCHEMA"];

fn event_type_row(e: &Value) -> Vec<String> {
    let mut flags = Vec::new();
    if e["archived"] == Value::Bool(true) {
        flags.push("archived");
    }
    if e["deprecated"] == Value::Bool(true) {
        flags.push("deprecated");
    }
    vec![
        cell(&e["name"]),
        truncate(&cell(&e["description"]), 50),
        cell(&e["groupName"]),
        if flags.is_empty() {
            "-".into()
        } else {
            flags.join(",")
        },
        if e["schemas"].as_object().is_some_and(|s| !s.is_empty()) {
            "yes".into()
        } else {
            "-".into()
        },
    ]
}

/// A schema file: an object keyed by version (`{"1": {…}}`) is sent as is;
/// anything else is one JSON Schema, sent as version 1.
fn schemas(path: &Path) -> Result<Value, UsageError> {
    let text = read_file(path, "the schema file")?;
    let v = parse_json_arg(&text, &format!("the schema file {}", path.display()))?;
    let Some(obj) = v.as_object() else {
        return Err(UsageError(format!(
            "the schema file {} must hold a JSON object",
            path.display()
        )));
    };
    let keyed_by_version = !obj.is_empty()
        && obj
            .iter()
            .all(|(k, s)| k.parse::<u32>().is_ok() && s.is_object());
    Ok(if keyed_by_version { v } else { json!({"1": v}) })
}

pub async fn event_types(
    conn: &ConnArgs,
    format: Format,
    command: EventTypeCommand,
) -> anyhow::Result<()> {
    let client = Client::connect(conn)?;
    let one = Show::Object(EVENT_TYPE_FIELDS);
    let (call, show) = match command {
        EventTypeCommand::List {
            page,
            include_archived,
        } => (
            Call::get(&["event-type"], "cannot list event types")
                .query(page.query())
                .query(include_archived.then(|| ("include_archived", "true".into()))),
            Show::Page(EVENT_TYPE_COLUMNS, event_type_row),
        ),
        EventTypeCommand::Create {
            name,
            description,
            schema,
            group,
            feature_flags,
        } => {
            let failed = format!("cannot create event type {name:?}");
            let body = Fields::new()
                .set("name", name)
                .set("description", description)
                .opt("schemas", schema.as_deref().map(schemas).transpose()?)
                .opt("groupName", group)
                .list("featureFlags", &feature_flags);
            (Call::post(&["event-type"], body.into_bytes(), failed), one)
        }
        EventTypeCommand::Get { name } => (
            Call::get(
                &["event-type", &name],
                format!("cannot get event type {name:?}"),
            ),
            one,
        ),
        EventTypeCommand::Update {
            name,
            description,
            schema,
            group,
            archived,
            deprecated,
        } => {
            let body = Fields::new()
                .opt("description", description)
                .opt("schemas", schema.as_deref().map(schemas).transpose()?)
                .opt("groupName", group)
                .opt("archived", archived)
                .opt("deprecated", deprecated)
                .into_update("--description, --schema, --group, --archived or --deprecated")?;
            let failed = format!("cannot update event type {name:?}");
            (Call::patch(&["event-type", &name], body, failed), one)
        }
        EventTypeCommand::Delete { name, expunge } => {
            let done = if expunge { "deleted" } else { "archived" };
            (
                Call::delete(
                    &["event-type", &name],
                    format!("cannot delete event type {name:?}"),
                )
                .query(expunge.then(|| ("expunge", "true".into()))),
                Show::Line(format!("{done} event type {name}")),
            )
        }
    };
    call.run(&client, format, show).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn schema_files_are_wrapped_unless_keyed_by_version() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one.json");
        std::fs::write(&one, r#"{"type": "object"}"#).unwrap();
        assert_eq!(schemas(&one).unwrap(), json!({"1": {"type": "object"}}));
        let keyed = dir.path().join("keyed.json");
        std::fs::write(&keyed, r#"{"1": {"type": "object"}, "2": {}}"#).unwrap();
        assert_eq!(
            schemas(&keyed).unwrap(),
            json!({"1": {"type": "object"}, "2": {}})
        );
    }
}
