//! One management-API call of a client command, end to end: the request,
//! the words that say what failed, and the answer printed — with `--json`
//! the API's body exactly as received, else a table, an object or a line —
//! so every command prints and fails the same way.

use anyhow::Context as _;
use reqwest::Method;
use serde_json::Value;

use super::Format;
use super::client::{Client, Response};
use super::output::{Table, object_lines, print_raw, print_str, without_aliases};

/// A request to the API, with the error context it fails with.
pub struct Call {
    method: Method,
    path: Vec<String>,
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    /// "cannot list applications": what the user asked for, not the URL.
    failed: String,
}

/// Makes the text printed from an answer.
pub type Render = Box<dyn FnOnce(&Response) -> anyhow::Result<String>>;

/// How an answer is printed without `--json`.
pub enum Show {
    /// A page of a list: a table, and on stderr how to get the next page.
    Page(&'static [&'static str], fn(&Value) -> Vec<String>),
    /// One object as `field  value` lines, these fields first.
    Object(&'static [&'static str]),
    /// A confirmation, whatever the answer holds (often nothing).
    Line(String),
    /// Any other text made from the answer.
    Text(Render),
}

impl Call {
    pub fn new(method: Method, path: &[&str], failed: impl Into<String>) -> Call {
        Call {
            method,
            path: path.iter().map(|s| s.to_string()).collect(),
            query: Vec::new(),
            body: None,
            failed: failed.into(),
        }
    }

    pub fn get(path: &[&str], failed: impl Into<String>) -> Call {
        Call::new(Method::GET, path, failed)
    }

    pub fn delete(path: &[&str], failed: impl Into<String>) -> Call {
        Call::new(Method::DELETE, path, failed)
    }

    pub fn post(path: &[&str], body: Vec<u8>, failed: impl Into<String>) -> Call {
        Call::new(Method::POST, path, failed).body(body)
    }

    pub fn patch(path: &[&str], body: Vec<u8>, failed: impl Into<String>) -> Call {
        Call::new(Method::PATCH, path, failed).body(body)
    }

    pub fn body(mut self, body: Vec<u8>) -> Call {
        self.body = Some(body);
        self
    }

    pub fn query(mut self, pairs: impl IntoIterator<Item = (&'static str, String)>) -> Call {
        self.query.extend(pairs);
        self
    }

    pub async fn send(self, client: &Client) -> anyhow::Result<Response> {
        client
            .call(self.method, &self.path, &self.query, self.body)
            .await
            .context(self.failed)
    }

    /// Sends the request and prints the answer.
    pub async fn run(self, client: &Client, format: Format, show: Show) -> anyhow::Result<()> {
        let resp = self.send(client).await?;
        if format.json {
            print_raw(&resp.body);
            return Ok(());
        }
        match show {
            Show::Page(headers, row) => print_page(&resp.json()?, headers, row),
            Show::Object(order) => print_str(&object_lines(&without_aliases(resp.json()?), order)),
            Show::Line(text) => print_str(&format!("{text}\n")),
            Show::Text(text) => print_str(&text(&resp)?),
        }
        Ok(())
    }
}

fn print_page(page: &Value, headers: &'static [&'static str], row: fn(&Value) -> Vec<String>) {
    let mut table = Table::new(headers.to_vec());
    for item in page["data"].as_array().into_iter().flatten() {
        table.row(row(item));
    }
    if table.is_empty() {
        eprintln!("(none)");
    } else {
        table.print();
    }
    if page["done"] == Value::Bool(false)
        && let Some(it) = page["iterator"].as_str()
    {
        eprintln!("more: add --iterator {it}");
    }
}
