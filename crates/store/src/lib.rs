//! hookd's storage backends: SQLite (embedded, the default) and PostgreSQL
//! (many nodes, one database), chosen by the database URL. Both implement
//! [`Store`] with the same behaviour; `tests/conformance` holds them to it.
//!
//! | module | owns |
//! | --- | --- |
//! | `sqlite/`, `postgres/` | one file per store trait (`apps.rs` implements `AppStore`, …), plus each backend's plumbing |
//! | `listings` | the listing queries, written once for both dialects |
//! | `records` | each table's columns, a record's values for writes, decoding rows |
//! | `sql` | run-time SQL both write alike: pagination, listing filters, status codes |
//! | `hub` | timing operations for the observer, telling watchers of changes |
//! | `seal` | encrypting endpoint credentials at rest |
//! | `codec` | stored forms of lists, maps and payloads |
//!
//! The rules (routing, auto-disable, delivery states) come from
//! `hookd_core::store`; a backend holds SQL and row mapping only.

mod codec;
mod hub;
mod listings;
pub mod postgres;
mod records;
pub mod seal;
mod sql;
pub mod sqlite;

use std::sync::Arc;

use hookd_core::store::{Store, StoreError};

pub use postgres::PgUrl;

/// How a store is opened.
#[derive(Default)]
pub struct Options {
    /// Seal endpoint credentials with these keys (see [`seal`]).
    pub keys: Option<seal::Keys>,
}

/// Opens the store named by a database URL (`sqlite:PATH` or
/// `postgres://…`), applying pending migrations. Must be called inside a
/// Tokio runtime; it blocks while it opens (once, at start).
pub fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, Options::default())
}

/// [`open`], with options. With keys, credentials stored in plaintext or
/// sealed with the previous key are sealed with the current one before
/// this returns; credentials that the keys cannot open fail it.
pub fn open_with(url: &str, options: Options) -> Result<Arc<dyn Store>, StoreError> {
    let sealer = seal::Sealer::new(options.keys);
    match parse_url(url) {
        Ok(DatabaseUrl::Sqlite(path)) => Ok(Arc::new(sqlite::SqliteStore::open(
            std::path::Path::new(&path),
            sealer,
        )?)),
        Ok(DatabaseUrl::Postgres(pg)) => Ok(Arc::new(postgres::PostgresStore::open(&pg, sealer)?)),
        Err(e) => Err(StoreError::backend(e)),
    }
}

/// A parsed `--database-url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(PgUrl),
}

/// Accepts `sqlite:PATH`, `sqlite://PATH`, `sqlite:///ABS/PATH`, and
/// `postgres://…` / `postgresql://…` (libpq URL syntax, plus hookd's
/// `pool_size=N` query parameter).
pub fn parse_url(url: &str) -> Result<DatabaseUrl, String> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let path = path.split('?').next().unwrap_or("");
        if path.is_empty() {
            return Err("sqlite URL has no path (expected sqlite:PATH)".into());
        }
        return Ok(DatabaseUrl::Sqlite(path.to_string()));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return PgUrl::parse(url).map(DatabaseUrl::Postgres);
    }
    Err(format!(
        "unsupported database URL '{}' (expected sqlite:PATH or postgres://…)",
        redact_url(url)
    ))
}

/// The URL with any password replaced by `***`, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The userinfo ends at the last '@' before the path.
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("sqlite:a/b.db"),
            Ok(DatabaseUrl::Sqlite("a/b.db".into()))
        );
        assert_eq!(
            parse_url("sqlite:///tmp/x.db"),
            Ok(DatabaseUrl::Sqlite("/tmp/x.db".into()))
        );
        assert!(parse_url("sqlite:").is_err());
        assert!(parse_url("mysql://x").is_err());
        assert_eq!(
            parse_url("postgres://u@h:5432/db?pool_size=3"),
            Ok(DatabaseUrl::Postgres(PgUrl {
                url: "postgres://u@h:5432/db".into(),
                pool_size: 3,
                tls: Default::default(),
            }))
        );
        assert!(matches!(
            parse_url("postgresql://h/db"),
            Ok(DatabaseUrl::Postgres(PgUrl { pool_size: 16, .. }))
        ));
        assert!(parse_url("postgres://h/db?pool_size=-1").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db?x=1"),
            "postgres://u:***@h:5432/db?x=1"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("sqlite:a.db"), "sqlite:a.db");
        assert!(!parse_url("mysql://u:pw@h/db").unwrap_err().contains("pw"));
    }
}
