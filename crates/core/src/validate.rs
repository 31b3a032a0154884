//! Parsing and validation of user input into domain values.
//!
//! Every check records a [`FieldError`] with the location of the offending
//! field (Svix's `loc` paths, e.g. `["body", "filterTypes", 2]`) instead of
//! stopping at the first problem, so a 422 lists everything wrong at once.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;

/// Longest `uid`, event type name, channel or `eventId` accepted.
pub const MAX_NAME_LEN: usize = 256;
/// Longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 4096;
/// Longest free-text field (descriptions, application names).
pub const MAX_TEXT_LEN: usize = 4096;
/// Most channels on an endpoint or a message.
pub const MAX_CHANNELS: usize = 10;
/// Most metadata entries.
pub const MAX_METADATA: usize = 64;
/// Longest channel name.
pub const MAX_CHANNEL_LEN: usize = 128;

/// One invalid field: where it is, what is wrong, and a machine-readable kind.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Path to the field: `"body"`/`"query"`/`"path"`/`"header"`, then field names or indices.
    #[schema(schema_with = loc_schema)]
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `loc` holds names and indices: strings and integers.
fn loc_schema() -> utoipa::openapi::Array {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    let item = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Integer));
    utoipa::openapi::Array::new(item)
}

/// Collects field errors under a location prefix.
#[derive(Debug, Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

/// A path under construction, e.g. `body.filterTypes[2]`.
#[derive(Debug, Clone)]
pub struct Loc(Vec<serde_json::Value>);

impl Loc {
    pub fn body() -> Loc {
        Loc(vec!["body".into()])
    }
    pub fn query() -> Loc {
        Loc(vec!["query".into()])
    }
    pub fn path() -> Loc {
        Loc(vec!["path".into()])
    }
    pub fn header() -> Loc {
        Loc(vec!["header".into()])
    }
    pub fn field(&self, name: &str) -> Loc {
        let mut v = self.0.clone();
        v.push(name.into());
        Loc(v)
    }
    pub fn index(&self, i: usize) -> Loc {
        let mut v = self.0.clone();
        v.push(i.into());
        Loc(v)
    }
    pub fn into_vec(self) -> Vec<serde_json::Value> {
        self.0
    }
}

impl Checker {
    pub fn new() -> Checker {
        Checker::default()
    }

    pub fn error(&mut self, loc: &Loc, kind: &str, msg: impl Into<String>) {
        self.errors.push(FieldError {
            loc: loc.0.clone(),
            msg: msg.into(),
            kind: kind.to_string(),
        });
    }

    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, else every recorded error.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }

    fn length(&mut self, loc: &Loc, s: &str, min: usize, max: usize) -> bool {
        // PostgreSQL text cannot hold U+0000; refuse it in every store alike.
        if s.contains('\0') {
            self.error(
                loc,
                "value_error.str",
                "must not contain the NUL character (U+0000)",
            );
            return false;
        }
        let n = s.chars().count();
        if n < min {
            self.error(
                loc,
                "value_error.any_str.min_length",
                format!("must be at least {min} characters long"),
            );
            false
        } else if n > max {
            self.error(
                loc,
                "value_error.any_str.max_length",
                format!("must be at most {max} characters long"),
            );
            false
        } else {
            true
        }
    }

    fn charset(&mut self, loc: &Loc, s: &str, extra: &[char], what: &str) -> bool {
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
        {
            true
        } else {
            let allowed: String = extra.iter().collect();
            self.error(
                loc,
                "value_error.str.regex",
                format!("{what} may contain only letters, digits and '{allowed}'"),
            );
            false
        }
    }

    /// A user-chosen unique identifier: 1-256 of `[a-zA-Z0-9-_.]`. It may not
    /// look like one of our own ids (`id_prefix…`), which would make
    /// "id or uid" lookups ambiguous.
    pub fn uid(&mut self, loc: &Loc, uid: &str, id_prefix: &str) -> bool {
        self.length(loc, uid, 1, MAX_NAME_LEN)
            && self.charset(loc, uid, &['-', '_', '.'], "uid")
            && if uid.starts_with(id_prefix) {
                self.error(
                    loc,
                    "value_error",
                    format!("uid may not start with '{id_prefix}', which is reserved for ids"),
                );
                false
            } else {
                true
            }
    }

    /// An event type name: 1-256 of `[a-zA-Z0-9-_.]`.
    pub fn event_type_name(&mut self, loc: &Loc, name: &str) -> bool {
        self.length(loc, name, 1, MAX_NAME_LEN)
            && self.charset(loc, name, &['-', '_', '.'], "event type name")
    }

    /// A message's `eventId`: 1-256 of `[a-zA-Z0-9-_.]`.
    pub fn event_id(&mut self, loc: &Loc, id: &str) -> bool {
        self.length(loc, id, 1, MAX_NAME_LEN) && self.charset(loc, id, &['-', '_', '.'], "eventId")
    }

    /// Free text with a length cap.
    pub fn text(&mut self, loc: &Loc, s: &str, min: usize) -> bool {
        self.length(loc, s, min, MAX_TEXT_LEN)
    }

    /// A list of channel names; empty lists are normalised to "none".
    pub fn channels(&mut self, loc: &Loc, channels: Option<Vec<String>>) -> Option<Vec<String>> {
        let channels = channels?;
        if channels.len() > MAX_CHANNELS {
            self.error(
                loc,
                "value_error.list.max_items",
                format!("at most {MAX_CHANNELS} channels are allowed"),
            );
            return None;
        }
        for (i, c) in channels.iter().enumerate() {
            let l = loc.index(i);
            let _ = self.length(&l, c, 1, MAX_CHANNEL_LEN)
                && self.charset(&l, c, &['-', '_', '.', ':'], "channel");
        }
        dedup(channels)
    }

    /// A list of event type names used as an endpoint filter.
    pub fn filter_types(&mut self, loc: &Loc, types: Option<Vec<String>>) -> Option<Vec<String>> {
        let types = types?;
        for (i, t) in types.iter().enumerate() {
            self.event_type_name(&loc.index(i), t);
        }
        dedup(types)
    }

    /// String-to-string metadata with bounded size.
    pub fn metadata(&mut self, loc: &Loc, m: &BTreeMap<String, String>) {
        if m.len() > MAX_METADATA {
            self.error(
                loc,
                "value_error",
                format!("at most {MAX_METADATA} metadata entries are allowed"),
            );
        }
        for (k, v) in m {
            let l = loc.field(k);
            let _ = self.length(&l, k, 1, MAX_NAME_LEN) && self.length(&l, v, 0, MAX_TEXT_LEN);
        }
    }

    /// An endpoint URL: absolute http(s) with a host, at most [`MAX_URL_LEN`] bytes.
    pub fn endpoint_url(&mut self, loc: &Loc, url: &str) -> bool {
        if url.len() > MAX_URL_LEN {
            self.error(
                loc,
                "value_error.url.max_length",
                format!("URL must be at most {MAX_URL_LEN} characters long"),
            );
            return false;
        }
        match parse_http_url(url) {
            Ok(()) => true,
            Err(msg) => {
                self.error(loc, "value_error.url", msg);
                false
            }
        }
    }

    /// A positive rate limit (messages per second).
    pub fn rate_limit(&mut self, loc: &Loc, r: Option<i64>) -> Option<u16> {
        let r = r?;
        if !(1..=i64::from(u16::MAX)).contains(&r) {
            self.error(
                loc,
                "value_error.number",
                format!("rateLimit must be between 1 and {}", u16::MAX),
            );
            return None;
        }
        Some(r as u16)
    }

    /// An endpoint signing key given by the user: `whsec_` + base64 of 24-64
    /// bytes (HMAC), or `whsk_` + base64 of an ed25519 secret key.
    pub fn secret(&mut self, loc: &Loc, s: &str) -> bool {
        let parsed = if s.starts_with("whsk_") {
            hookd_webhooks::Key::parse(s)
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            crate::secret::Secret::parse(s).map(|_| ())
        };
        match parsed {
            Ok(_) => true,
            Err(msg) => {
                self.error(loc, "value_error.secret", msg);
                false
            }
        }
    }
}

impl Checker {
    /// An event type's retry schedule as Svix `Duration`s (`secs`, `nanos`):
    /// at most [`MAX_RETRIES`] delays, each at most [`MAX_DELAY`], in whole
    /// seconds (the bounds of the server's `retry_schedule`). Returns the
    /// delays in seconds.
    ///
    /// [`MAX_RETRIES`]: crate::retry::MAX_RETRIES
    /// [`MAX_DELAY`]: crate::retry::MAX_DELAY
    pub fn retry_schedule(&mut self, loc: &Loc, delays: &[(i64, i64)]) -> Vec<u32> {
        use crate::retry::{MAX_DELAY, MAX_RETRIES};
        if delays.len() > MAX_RETRIES {
            self.error(
                loc,
                "value_error.list.max_items",
                format!("at most {MAX_RETRIES} retries are allowed"),
            );
        }
        let max = MAX_DELAY.as_secs() as i64;
        let mut out = Vec::with_capacity(delays.len());
        for (i, &(secs, nanos)) in delays.iter().enumerate() {
            let l = loc.index(i);
            if !(0..=max).contains(&secs) {
                self.error(
                    &l.field("secs"),
                    "value_error.number",
                    format!("a retry delay must be between 0 and {max} seconds (30 days)"),
                );
            }
            // Stored delays are whole seconds; silently rounding would
            // change the schedule the caller asked for.
            if nanos != 0 {
                self.error(
                    &l.field("nanos"),
                    "value_error.number",
                    "hookd keeps retry delays in whole seconds: nanos must be 0",
                );
            }
            out.push(secs.clamp(0, max) as u32);
        }
        out
    }
}

fn dedup(v: Vec<String>) -> Option<Vec<String>> {
    if v.is_empty() {
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Some(out)
}

/// Checks the shape of an http(s) URL without pulling in a URL crate: scheme,
/// a non-empty host, an optional numeric port, no whitespace or control characters.
pub fn parse_http_url(url: &str) -> Result<(), String> {
    let rest = if let Some(r) = strip_prefix_ci(url, "https://") {
        r
    } else if let Some(r) = strip_prefix_ci(url, "http://") {
        r
    } else {
        return Err("URL must start with http:// or https://".into());
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("URL may not contain whitespace or control characters".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return Err("URL has an unterminated IPv6 address".into()),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("URL must have a host".into());
    }
    if !host
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '%'))
    {
        return Err("URL host contains invalid characters".into());
    }
    if let Some(p) = port
        && p.parse::<u16>().map(|p| p == 0).unwrap_or(true)
    {
        return Err("URL port must be a number between 1 and 65535".into());
    }
    Ok(())
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// Decodes standard or URL-safe base64, with or without padding.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: impl FnOnce(&mut Checker, &Loc)) -> Vec<FieldError> {
        let mut c = Checker::new();
        f(&mut c, &Loc::body().field("x"));
        c.finish(()).err().unwrap_or_default()
    }

    #[test]
    fn urls() {
        for ok in [
            "https://example.com",
            "http://example.com:8080/hook?a=1",
            "HTTPS://EXAMPLE.com/x",
            "http://[::1]:80/",
            "http://user:pw@host/x",
            "http://127.0.0.1:9/",
        ] {
            assert_eq!(parse_http_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ftp://example.com",
            "example.com",
            "http://",
            "http:///path",
            "http://exa mple.com",
            "http://host:0/",
            "http://host:99999/",
            "http://host:abc/",
            "https://[::1/",
            "javascript:alert(1)",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://e.com/{}", "a".repeat(MAX_URL_LEN));
        let errs = check(|c, l| {
            c.endpoint_url(l, &long);
        });
        assert_eq!(errs[0].loc, vec!["body", "x"]);
    }

    #[test]
    fn uids() {
        assert!(
            check(|c, l| {
                c.uid(l, "my-app_1.2", "app_");
            })
            .is_empty()
        );
        for bad in ["", "has space", "ünï", "app_reserved", &"a".repeat(257)] {
            assert_eq!(
                check(|c, l| {
                    c.uid(l, bad, "app_");
                })
                .len(),
                1,
                "{bad}"
            );
        }
    }

    #[test]
    fn channels_are_checked_per_item_and_deduplicated() {
        let mut c = Checker::new();
        let got = c.channels(
            &Loc::body().field("channels"),
            Some(vec!["a:b".into(), "a:b".into(), "bad channel".into()]),
        );
        assert_eq!(got, Some(vec!["a:b".into(), "bad channel".into()]));
        let errs = c.finish(()).err().unwrap_or_default();
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].loc,
            vec![
                serde_json::json!("body"),
                serde_json::json!("channels"),
                serde_json::json!(2)
            ]
        );
        let mut c = Checker::new();
        assert_eq!(c.channels(&Loc::body(), Some(vec![])), None);
        let many: Vec<String> = (0..11).map(|i| format!("c{i}")).collect();
        assert_eq!(c.channels(&Loc::body(), Some(many)), None);
        assert!(!c.is_ok());
    }

    #[test]
    fn nul_characters_are_refused() {
        assert_eq!(
            check(|c, l| {
                c.text(l, "a\0b", 0);
            })
            .len(),
            1
        );
    }

    #[test]
    fn retry_schedules_are_bounded_like_the_servers() {
        let mut c = Checker::new();
        let l = Loc::body().field("retrySchedule");
        assert_eq!(
            c.retry_schedule(&l, &[(1, 0), (0, 0), (2_592_000, 0)]),
            vec![1, 0, 2_592_000]
        );
        assert_eq!(c.retry_schedule(&l, &[]), Vec::<u32>::new());
        assert!(c.is_ok());
        c.retry_schedule(&l, &[(1, 0), (2_592_001, 0), (-1, 0), (1, 500)]);
        let errs = c.finish(()).err().unwrap_or_default();
        let locs: Vec<String> = errs
            .iter()
            .map(|e| serde_json::Value::Array(e.loc.clone()).to_string())
            .collect();
        assert_eq!(
            locs,
            [
                r#"["body","retrySchedule",1,"secs"]"#,
                r#"["body","retrySchedule",2,"secs"]"#,
                r#"["body","retrySchedule",3,"nanos"]"#,
            ]
        );
        let mut c = Checker::new();
        c.retry_schedule(&l, &vec![(1, 0); crate::retry::MAX_RETRIES + 1]);
        let errs = c.finish(()).err().unwrap_or_default();
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].loc,
            vec![serde_json::json!("body"), "retrySchedule".into()]
        );
    }

    #[test]
    fn rate_limits() {
        let mut c = Checker::new();
        assert_eq!(c.rate_limit(&Loc::body(), Some(5)), Some(5));
        assert_eq!(c.rate_limit(&Loc::body(), None), None);
        assert!(c.is_ok());
        assert_eq!(c.rate_limit(&Loc::body(), Some(0)), None);
        assert_eq!(c.rate_limit(&Loc::body(), Some(70000)), None);
        assert_eq!(c.finish(()).err().map(|e| e.len()), Some(2));
    }
}
