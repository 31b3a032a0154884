//! hookd's storage backends. Today: SQLite (embedded, the default).

pub mod sqlite;

use std::sync::Arc;

use hookd_core::store::{Store, StoreError};

/// Opens the store named by a database URL (`sqlite:PATH`).
pub fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    match parse_url(url) {
        Ok(DatabaseUrl::Sqlite(path)) => Ok(Arc::new(sqlite::SqliteStore::open(
            std::path::Path::new(&path),
        )?)),
        Err(e) => Err(StoreError::Backend(e)),
    }
}

/// A parsed `--database-url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
}

/// Accepts `sqlite:PATH`, `sqlite://PATH` and `sqlite:///ABS/PATH`.
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
        return Err("PostgreSQL is not supported by this build yet; use sqlite:PATH".into());
    }
    Err(format!(
        "unsupported database URL '{url}' (expected sqlite:PATH)"
    ))
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
        assert!(parse_url("postgres://x").is_err());
    }
}
