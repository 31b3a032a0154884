//! The HTTP client of the sender-side commands: builds API URLs (path
//! segments escaped), sends the key, and turns every failure into a message
//! a person can act on — an unreachable server names the URL, a 401 says
//! how to set the key, a 422 lists each invalid field with its location.
//! Bodies are kept as the bytes the server sent, so `--json` prints the
//! API's own JSON.

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use serde_json::Value;
use url::Url;

use super::settings::{self, ConnArgs, Settings, Source};

/// A successful (2xx) response.
pub struct Response {
    /// The body as received.
    pub body: Bytes,
}

impl Response {
    /// The body as JSON (`null` for an empty body).
    pub fn json(&self) -> anyhow::Result<Value> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).context("the server's answer is not JSON")
    }
}

/// Why a request failed, in words.
#[derive(Debug)]
pub enum ApiFailure {
    /// No HTTP answer at all.
    Unreachable {
        url: String,
        cause: String,
        hint: String,
    },
    /// 401.
    Unauthorized {
        url: String,
        detail: String,
        hint: String,
    },
    /// 422, with each invalid field.
    Validation { fields: Vec<(String, String)> },
    /// Any other non-2xx status.
    Status {
        status: u16,
        code: Option<String>,
        detail: String,
    },
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiFailure::Unreachable { url, cause, hint } => write!(
                f,
                "cannot reach the hookd server at {url}: {cause}. Is it running? If it runs elsewhere, {hint}"
            ),
            ApiFailure::Unauthorized { url, detail, hint } => write!(
                f,
                "the server at {url} refused the API key (401: {detail}). {hint}"
            ),
            ApiFailure::Validation { fields } => {
                write!(f, "the server rejected the request (422 validation):")?;
                for (loc, msg) in fields {
                    write!(f, "\n  {loc}: {msg}")?;
                }
                Ok(())
            }
            ApiFailure::Status {
                status,
                code,
                detail,
            } => {
                let what = match status {
                    404 => "not found",
                    403 => {
                        "forbidden (this key may not do that; is it limited to one application?)"
                    }
                    409 => "conflict",
                    413 => "payload too large",
                    _ => "the server answered",
                };
                match code {
                    Some(code) => write!(f, "{what} ({status} {code}): {detail}"),
                    None => write!(f, "{what} ({status}): {detail}"),
                }
            }
        }
    }
}

impl std::error::Error for ApiFailure {}

/// A client for one hookd server.
pub struct Client {
    http: reqwest::Client,
    pub settings: Settings,
}

/// The innermost cause of an error, which is the one that says what happened
/// ("Connection refused"), not the outer "error sending request".
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

impl Client {
    /// A client for the server the flags, environment or CLI config name.
    pub fn connect(conn: &ConnArgs) -> anyhow::Result<Client> {
        Client::new(settings::resolve(conn)?)
    }

    pub fn new(settings: Settings) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client { http, settings })
    }

    /// The URL of the server (for messages), without a trailing slash.
    pub fn base(&self) -> String {
        self.settings.url.as_str().trim_end_matches('/').to_string()
    }

    /// `base` + `/api/v1/` + the segments, each escaped.
    pub fn url(
        &self,
        segments: &[impl AsRef<str>],
        query: &[(&str, String)],
    ) -> anyhow::Result<Url> {
        let mut url = self.settings.url.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|_| anyhow::anyhow!("the hookd URL {} cannot have a path", self.base()))?;
            path.pop_if_empty().push("api").push("v1");
            for s in segments {
                path.push(s.as_ref());
            }
        }
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Sends a request; `Ok` for any 2xx, else the failure in words.
    pub async fn call(
        &self,
        method: Method,
        segments: &[impl AsRef<str>],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Response> {
        let url = self.url(segments, query)?;
        let mut req = self
            .http
            .request(method, url)
            .header(USER_AGENT, concat!("hookd-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(token) = &self.settings.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                super::UsageError(format!(
                    "the API key ({}) contains characters that cannot be sent in a header",
                    self.settings.token_source
                ))
            })?;
            req = req.header(AUTHORIZATION, value);
        }
        if let Some(body) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(body);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let cause = if e.is_timeout() {
                    "no answer within 60 s".to_string()
                } else {
                    root_cause(&e)
                };
                return Err(ApiFailure::Unreachable {
                    url: format!("{} ({})", self.base(), self.settings.url_source),
                    cause,
                    hint: self.settings.how_to_set_url(),
                }
                .into());
            }
        };
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| ApiFailure::Unreachable {
            url: self.base(),
            cause: format!("the answer was cut off: {}", root_cause(&e)),
            hint: self.settings.how_to_set_url(),
        })?;
        if (200..300).contains(&status) {
            return Ok(Response { body });
        }
        Err(self.failure(status, &body).into())
    }

    fn failure(&self, status: u16, body: &[u8]) -> ApiFailure {
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let code = json
            .as_ref()
            .and_then(|j| j["code"].as_str())
            .map(String::from);
        if status == 422
            && let Some(list) = json.as_ref().and_then(|j| j["detail"].as_array())
        {
            let fields = list
                .iter()
                .map(|d| {
                    let loc = d["loc"]
                        .as_array()
                        .map(|l| {
                            l.iter()
                                .map(|p| match p {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                })
                                .collect::<Vec<_>>()
                                .join(".")
                        })
                        .unwrap_or_else(|| "?".into());
                    let msg = d["msg"].as_str().unwrap_or("invalid").to_string();
                    (loc, msg)
                })
                .collect();
            return ApiFailure::Validation { fields };
        }
        let detail = match json.as_ref().map(|j| &j["detail"]) {
            Some(Value::String(s)) => s.clone(),
            Some(v) if !v.is_null() => v.to_string(),
            _ => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() {
                    "no details in the answer".into()
                } else {
                    format!(
                        "{} (not a hookd error body: is {} a hookd server?)",
                        truncate(text, 200),
                        self.base()
                    )
                }
            }
        };
        if status == 401 {
            let what = match &self.settings.token_source {
                Source::Missing => "No API key was given".to_string(),
                src => format!("The key ({src}) is wrong, revoked, or for another server"),
            };
            return ApiFailure::Unauthorized {
                url: self.base(),
                detail,
                hint: format!("{what}; {}", self.settings.how_to_set_token()),
            };
        }
        ApiFailure::Status {
            status,
            code,
            detail,
        }
    }

    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> anyhow::Result<Response> {
        self.call(Method::GET, segments, query, None).await
    }

    pub async fn delete(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> anyhow::Result<Response> {
        self.call(Method::DELETE, segments, query, None).await
    }
}

/// At most `max` characters of `s`, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}
