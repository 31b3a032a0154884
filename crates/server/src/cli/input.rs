//! Reading what the user gives on the command line: files, stdin,
//! `KEY=VALUE` lists, JSON arguments and times, and the request bodies made
//! of them. Every failure is a [`UsageError`] that names the flag or file at
//! fault.

use std::io::{IsTerminal as _, Read as _};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::UsageError;

/// `KEY=VALUE` pairs as a JSON object.
pub fn pairs(list: &[String], flag: &str, sep: char) -> Result<Map<String, Value>, UsageError> {
    let mut map = Map::new();
    for item in list {
        let Some((k, v)) = item.split_once(sep) else {
            return Err(UsageError(format!(
                "{flag} {item:?}: expected KEY{sep}VALUE"
            )));
        };
        map.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
    }
    Ok(map)
}

/// A request body made of the flags given: a flag left out adds nothing, so
/// an update sends only the fields the user named.
#[derive(Default)]
pub struct Fields(Map<String, Value>);

impl Fields {
    pub fn new() -> Fields {
        Fields::default()
    }

    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Fields {
        self.0.insert(key.to_string(), value.into());
        self
    }

    /// Sets `key` when the flag was given.
    pub fn opt(self, key: &str, value: Option<impl Into<Value>>) -> Fields {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    /// Sets `key` to a repeatable flag's values, when there are any.
    pub fn list(self, key: &str, values: &[String]) -> Fields {
        if values.is_empty() {
            self
        } else {
            self.set(key, values.to_vec())
        }
    }

    /// Sets `key` to a repeatable `KEY{sep}VALUE` flag's entries, when there are any.
    pub fn pairs(
        self,
        key: &str,
        list: &[String],
        flag: &str,
        sep: char,
    ) -> Result<Fields, UsageError> {
        if list.is_empty() {
            return Ok(self);
        }
        Ok(self.set(key, pairs(list, flag, sep)?))
    }

    /// `--metadata KEY=VALUE`, the same flag for every kind of object.
    pub fn metadata(self, list: &[String]) -> Result<Fields, UsageError> {
        self.pairs("metadata", list, "--metadata", '=')
    }

    pub fn into_bytes(self) -> Vec<u8> {
        Value::Object(self.0).to_string().into_bytes()
    }

    /// The body of an update; an error naming `flags` when none was given.
    pub fn into_update(self, flags: &str) -> Result<Vec<u8>, UsageError> {
        if self.0.is_empty() {
            return Err(UsageError(format!("nothing to update: give {flags}")));
        }
        Ok(self.into_bytes())
    }
}

/// A file flag's path, `None` when it is absent or `-` (stdin).
pub fn file_or_stdin(path: Option<&Path>) -> Option<&Path> {
    path.filter(|p| p.as_os_str() != "-")
}

/// The bytes of a file; `what` names it in the error.
pub fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path)
        .map_err(|e| UsageError(format!("cannot read {what} {}: {e}", path.display())))
}

/// Parses JSON from a flag or file, naming where it came from on error.
pub fn parse_json_arg(text: &[u8], from: &str) -> Result<Value, UsageError> {
    serde_json::from_slice(text).map_err(|e| UsageError(format!("{from} is not valid JSON: {e}")))
}

/// All of stdin (with a prompt on stderr when it is a terminal, which
/// `alternative` may end with another way to give it).
pub fn read_stdin(what: &str, alternative: &str) -> Result<Vec<u8>, UsageError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("reading {what} from stdin (end with Ctrl-D{alternative})…");
    }
    let mut buf = Vec::new();
    stdin
        .lock()
        .read_to_end(&mut buf)
        .map_err(|e| UsageError(format!("cannot read {what} from stdin: {e}")))?;
    Ok(buf)
}

/// A time given on the command line, as RFC 3339 for the API.
pub fn parse_time(text: &str, flag: &str, now: DateTime<Utc>) -> Result<String, UsageError> {
    let t = text.trim();
    let bad = || {
        UsageError(format!(
            "{flag} {text:?}: expected an RFC 3339 time (2026-01-31T12:00:00Z), Unix seconds, or an age such as 30s, 90m, 6h, 2d"
        ))
    };
    let when = if t == "now" {
        now
    } else if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        d.with_timezone(&Utc)
    } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = t.parse().map_err(|_| bad())?;
        DateTime::from_timestamp(secs, 0).ok_or_else(bad)?
    } else {
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (n, unit) = t.split_at(split);
        let n: i64 = n.parse().map_err(|_| bad())?;
        let secs = match unit {
            "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86_400,
            "w" => n * 7 * 86_400,
            _ => return Err(bad()),
        };
        now - chrono::Duration::seconds(secs)
    };
    Ok(when.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn times_in_every_form() {
        let now = DateTime::parse_from_rfc3339("2026-01-31T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let p = |t: &str| parse_time(t, "--since", now);
        assert_eq!(
            p("2026-01-30T10:00:00+02:00").unwrap(),
            "2026-01-30T08:00:00.000Z"
        );
        assert_eq!(p("90m").unwrap(), "2026-01-31T10:30:00.000Z");
        assert_eq!(p("2d").unwrap(), "2026-01-29T12:00:00.000Z");
        assert_eq!(p("now").unwrap(), "2026-01-31T12:00:00.000Z");
        assert_eq!(p("1769860800").unwrap(), "2026-01-31T12:00:00.000Z");
        let e = p("yesterday").unwrap_err();
        assert!(e.0.contains("--since") && e.0.contains("yesterday"), "{e}");
        assert!(p("5y").is_err());
        assert!(p("").is_err());
    }
}
