//! `hookd apps`, `hookd endpoints`, `hookd event-types`: create, list, get,
//! update and delete, each one call of the management API (`endpoints
//! create` also reads the new secret, to show it).
//!
//! `update` sends a PATCH with only the fields given on the command line.
//! Tables by default; with `--json` the API's JSON exactly as received.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::Format;
use super::UsageError;
use super::client::{Client, truncate};
use super::input::{pairs, parse_json_arg, read_file};
use super::output::{
    cell, print_done, print_object, print_one, print_page, print_raw, print_str, without_aliases,
};
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

fn body(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
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

fn app_row(a: &Value) -> Vec<String> {
    vec![
        cell(&a["id"]),
        cell(&a["uid"]),
        cell(&a["name"]),
        cell(&a["throttleRate"]),
        cell(&a["createdAt"]),
    ]
}

pub async fn apps(conn: &ConnArgs, format: Format, command: AppCommand) -> anyhow::Result<()> {
    let client = Client::connect(conn)?;
    match command {
        AppCommand::List(page) => {
            let resp = client
                .get(&["app"], &page.query())
                .await
                .context("cannot list applications")?;
            print_page(
                &resp,
                format,
                vec!["ID", "UID", "NAME", "THROTTLE", "CREATED"],
                app_row,
            )
        }
        AppCommand::Create {
            name,
            uid,
            throttle_rate,
            metadata,
        } => {
            let mut b = json!({"name": name});
            if let Some(u) = uid {
                b["uid"] = json!(u);
            }
            if let Some(r) = throttle_rate {
                b["throttleRate"] = json!(r);
            }
            if !metadata.is_empty() {
                b["metadata"] = Value::Object(pairs(&metadata, "--metadata", '=')?);
            }
            let resp = client
                .post(&["app"], body(&b))
                .await
                .context("cannot create the application")?;
            print_one(&resp, format, APP_FIELDS)
        }
        AppCommand::Get { app } => {
            let resp = client
                .get(&["app", &app], &[])
                .await
                .with_context(|| format!("cannot get application {app:?}"))?;
            print_one(&resp, format, APP_FIELDS)
        }
        AppCommand::Update {
            app,
            name,
            uid,
            throttle_rate,
            metadata,
        } => {
            let mut b = Map::new();
            if let Some(n) = name {
                b.insert("name".into(), json!(n));
            }
            if let Some(u) = uid {
                b.insert("uid".into(), json!(u));
            }
            if let Some(r) = throttle_rate {
                b.insert("throttleRate".into(), json!(r));
            }
            if !metadata.is_empty() {
                b.insert(
                    "metadata".into(),
                    Value::Object(pairs(&metadata, "--metadata", '=')?),
                );
            }
            if b.is_empty() {
                return Err(UsageError(
                    "nothing to update: give --name, --uid, --throttle-rate or --metadata".into(),
                )
                .into());
            }
            let resp = client
                .patch(&["app", &app], body(&Value::Object(b)))
                .await
                .with_context(|| format!("cannot update application {app:?}"))?;
            print_one(&resp, format, APP_FIELDS)
        }
        AppCommand::Delete { app } => {
            let resp = client
                .delete(&["app", &app], &[])
                .await
                .with_context(|| format!("cannot delete application {app:?}"))?;
            print_done(&resp, format, &format!("deleted application {app}"));
            Ok(())
        }
    }
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

pub async fn endpoints(
    conn: &ConnArgs,
    format: Format,
    command: EndpointCommand,
) -> anyhow::Result<()> {
    let client = Client::connect(conn)?;
    match command {
        EndpointCommand::List { app, page } => {
            let resp = client
                .get(&["app", &app, "endpoint"], &page.query())
                .await
                .with_context(|| format!("cannot list the endpoints of application {app:?}"))?;
            print_page(
                &resp,
                format,
                vec![
                    "ID",
                    "UID",
                    "URL",
                    "STATUS",
                    "EVENT TYPES",
                    "CHANNELS",
                    "DESCRIPTION",
                ],
                endpoint_row,
            )
        }
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
            let mut b = json!({"url": url});
            if let Some(d) = description {
                b["description"] = json!(d);
            }
            if let Some(u) = uid {
                b["uid"] = json!(u);
            }
            if !event_types.is_empty() {
                b["filterTypes"] = json!(event_types);
            }
            if !channels.is_empty() {
                b["channels"] = json!(channels);
            }
            if let Some(s) = secret {
                b["secret"] = json!(s);
            }
            if disabled {
                b["disabled"] = json!(true);
            }
            if let Some(r) = throttle_rate {
                b["throttleRate"] = json!(r);
            }
            if !headers.is_empty() {
                b["headers"] = Value::Object(pairs(&headers, "--header", ':')?);
            }
            if !metadata.is_empty() {
                b["metadata"] = Value::Object(pairs(&metadata, "--metadata", '=')?);
            }
            let resp = client
                .post(&["app", &app, "endpoint"], body(&b))
                .await
                .with_context(|| format!("cannot create an endpoint in application {app:?}"))?;
            if format.json {
                print_raw(&resp.body);
                return Ok(());
            }
            let mut ep = without_aliases(resp.json()?);
            if let Some(id) = ep["id"].as_str().map(String::from) {
                let secret = client
                    .get(&["app", &app, "endpoint", &id, "secret"], &[])
                    .await
                    .context("the endpoint was created, but its secret cannot be read")?
                    .json()?;
                ep["secret"] = secret["key"].clone();
            }
            print_object(&ep, ENDPOINT_FIELDS);
            Ok(())
        }
        EndpointCommand::Get { app, endpoint } => {
            let resp = client
                .get(&["app", &app, "endpoint", &endpoint], &[])
                .await
                .with_context(|| {
                    format!("cannot get endpoint {endpoint:?} of application {app:?}")
                })?;
            print_one(&resp, format, ENDPOINT_FIELDS)
        }
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
            let mut b = Map::new();
            if let Some(u) = endpoint_url {
                b.insert("url".into(), json!(u));
            }
            if let Some(d) = description {
                b.insert("description".into(), json!(d));
            }
            if let Some(u) = uid {
                b.insert("uid".into(), json!(u));
            }
            if !event_types.is_empty() {
                b.insert("filterTypes".into(), json!(event_types));
            }
            if all_event_types {
                b.insert("filterTypes".into(), Value::Null);
            }
            if !channels.is_empty() {
                b.insert("channels".into(), json!(channels));
            }
            if all_channels {
                b.insert("channels".into(), Value::Null);
            }
            if enable || disable {
                b.insert("disabled".into(), json!(disable));
            }
            if let Some(r) = throttle_rate {
                b.insert("throttleRate".into(), json!(r));
            }
            if !metadata.is_empty() {
                b.insert(
                    "metadata".into(),
                    Value::Object(pairs(&metadata, "--metadata", '=')?),
                );
            }
            if b.is_empty() {
                return Err(UsageError(
                    "nothing to update: give at least one field, e.g. --endpoint-url, --disable or --event-type"
                        .into(),
                )
                .into());
            }
            let resp = client
                .patch(
                    &["app", &app, "endpoint", &endpoint],
                    body(&Value::Object(b)),
                )
                .await
                .with_context(|| {
                    format!("cannot update endpoint {endpoint:?} of application {app:?}")
                })?;
            print_one(&resp, format, ENDPOINT_FIELDS)
        }
        EndpointCommand::Delete { app, endpoint } => {
            let resp = client
                .delete(&["app", &app, "endpoint", &endpoint], &[])
                .await
                .with_context(|| {
                    format!("cannot delete endpoint {endpoint:?} of application {app:?}")
                })?;
            print_done(&resp, format, &format!("deleted endpoint {endpoint}"));
            Ok(())
        }
        EndpointCommand::Secret { app, endpoint } => {
            let resp = client
                .get(&["app", &app, "endpoint", &endpoint, "secret"], &[])
                .await
                .with_context(|| {
                    format!("cannot get the secret of endpoint {endpoint:?} of application {app:?}")
                })?;
            if format.json {
                print_raw(&resp.body);
            } else {
                print_str(&format!("{}\n", cell(&resp.json()?["key"])));
            }
            Ok(())
        }
        EndpointCommand::RotateSecret {
            app,
            endpoint,
            secret,
            grace_period,
        } => {
            let mut b = json!({});
            if let Some(s) = secret {
                b["key"] = json!(s);
            }
            if let Some(g) = grace_period {
                b["gracePeriodSeconds"] = json!(g);
            }
            let resp = client
                .post(
                    &["app", &app, "endpoint", &endpoint, "secret", "rotate"],
                    body(&b),
                )
                .await
                .with_context(|| {
                    format!(
                        "cannot rotate the secret of endpoint {endpoint:?} of application {app:?}"
                    )
                })?;
            if format.json {
                print_raw(&resp.body);
            } else {
                print_str(&format!("{}\n", cell(&resp.json()?["key"])));
            }
            Ok(())
        }
    }
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
    match command {
        EventTypeCommand::List {
            page,
            include_archived,
        } => {
            let mut q = page.query();
            if include_archived {
                q.push(("include_archived", "true".into()));
            }
            let resp = client
                .get(&["event-type"], &q)
                .await
                .context("cannot list event types")?;
            print_page(
                &resp,
                format,
                vec!["NAME", "DESCRIPTION", "GROUP", "FLAGS", "SCHEMA"],
                event_type_row,
            )
        }
        EventTypeCommand::Create {
            name,
            description,
            schema,
            group,
            feature_flags,
        } => {
            let mut b = json!({"name": name, "description": description});
            if let Some(p) = schema {
                b["schemas"] = schemas(&p)?;
            }
            if let Some(g) = group {
                b["groupName"] = json!(g);
            }
            if !feature_flags.is_empty() {
                b["featureFlags"] = json!(feature_flags);
            }
            let resp = client
                .post(&["event-type"], body(&b))
                .await
                .with_context(|| format!("cannot create event type {name:?}"))?;
            print_one(&resp, format, EVENT_TYPE_FIELDS)
        }
        EventTypeCommand::Get { name } => {
            let resp = client
                .get(&["event-type", &name], &[])
                .await
                .with_context(|| format!("cannot get event type {name:?}"))?;
            print_one(&resp, format, EVENT_TYPE_FIELDS)
        }
        EventTypeCommand::Update {
            name,
            description,
            schema,
            group,
            archived,
            deprecated,
        } => {
            let mut b = Map::new();
            if let Some(d) = description {
                b.insert("description".into(), json!(d));
            }
            if let Some(p) = schema {
                b.insert("schemas".into(), schemas(&p)?);
            }
            if let Some(g) = group {
                b.insert("groupName".into(), json!(g));
            }
            if let Some(a) = archived {
                b.insert("archived".into(), json!(a));
            }
            if let Some(d) = deprecated {
                b.insert("deprecated".into(), json!(d));
            }
            if b.is_empty() {
                return Err(UsageError(
                    "nothing to update: give --description, --schema, --group, --archived or --deprecated"
                        .into(),
                )
                .into());
            }
            let resp = client
                .patch(&["event-type", &name], body(&Value::Object(b)))
                .await
                .with_context(|| format!("cannot update event type {name:?}"))?;
            print_one(&resp, format, EVENT_TYPE_FIELDS)
        }
        EventTypeCommand::Delete { name, expunge } => {
            let q = if expunge {
                vec![("expunge", "true".to_string())]
            } else {
                vec![]
            };
            let resp = client
                .delete(&["event-type", &name], &q)
                .await
                .with_context(|| format!("cannot delete event type {name:?}"))?;
            let done = if expunge { "deleted" } else { "archived" };
            print_done(&resp, format, &format!("{done} event type {name}"));
            Ok(())
        }
    }
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
