//! How the SQLite store reads columns and runs statements; the records'
//! columns and decoders themselves are shared (`crate::records`).

use hookd_core::store::{Conflict, StoreError, StoreResult};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};

use super::db::db_err;
use crate::records::Row;
use crate::sql::{Arg, Sql};

impl Row for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> StoreResult<String> {
        self.get(i).map_err(db_err)
    }
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        self.get(i).map_err(db_err)
    }
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        self.get(i).map_err(db_err)
    }
    fn flag(&self, i: usize) -> StoreResult<bool> {
        self.get(i).map_err(db_err)
    }
    fn body(&self, i: usize) -> StoreResult<String> {
        self.get(i).map_err(db_err)
    }
    fn opt_bytes(&self, i: usize) -> StoreResult<Option<Vec<u8>>> {
        self.get(i).map_err(db_err)
    }
}

/// Unique-index violations become the `Conflict` given.
pub(crate) fn conflict_or(e: rusqlite::Error, what: Conflict) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e
        && f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    {
        return what.into();
    }
    db_err(e)
}

/// Parameters for rusqlite, in order.
pub(crate) fn values(args: Vec<Arg>) -> rusqlite::ParamsFromIter<Vec<Value>> {
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Arg::Null => out.push(Value::Null),
            Arg::Bool(v) => out.push(Value::Integer(v.into())),
            Arg::Int(v) => out.push(Value::Integer(v)),
            Arg::Text(v) => out.push(Value::Text(v)),
            Arg::Bytes(v) => out.push(Value::Blob(v)),
            // Lists are expanded into one placeholder each in this dialect.
            Arg::Texts(vs) => out.extend(vs.into_iter().map(Value::Text)),
        }
    }
    rusqlite::params_from_iter(out)
}

/// At most one row of a prepared (cached) statement: lookups by key.
pub(crate) fn query_one<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: impl FnOnce(&dyn Row) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut st = conn.prepare_cached(sql).map_err(db_err)?;
    let mut rows = st.query(params).map_err(db_err)?;
    match rows.next().map_err(db_err)? {
        Some(r) => map(r).map(Some),
        None => Ok(None),
    }
}

/// Every row of a prepared (cached) statement.
pub(crate) fn query_rows<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: impl Fn(&dyn Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut st = conn.prepare_cached(sql).map_err(db_err)?;
    let mut rows = st.query(params).map_err(db_err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(db_err)? {
        out.push(map(r)?);
    }
    Ok(out)
}

/// Every row of a query built at run time.
pub(crate) fn query_sql<T>(
    conn: &Connection,
    sql: Sql,
    map: impl Fn(&dyn Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    query_rows(conn, &sql.text, values(sql.args), map)
}

/// Runs a statement; how many rows it changed.
pub(crate) fn execute<P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
) -> StoreResult<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut st| st.execute(params))
        .map_err(db_err)
}

/// [`execute`] where a unique violation is the `Conflict` given.
pub(crate) fn execute_unique(
    conn: &Connection,
    sql: &str,
    args: Vec<Arg>,
    what: Conflict,
) -> StoreResult<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut st| st.execute(values(args)))
        .map_err(|e| conflict_or(e, what))
}

/// Whether a statement finds a row.
pub(crate) fn exists<P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
) -> StoreResult<bool> {
    conn.prepare_cached(sql)
        .and_then(|mut st| st.query_row(params, |_| Ok(())))
        .optional()
        .map(|found| found.is_some())
        .map_err(db_err)
}
