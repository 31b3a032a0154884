//! How the PostgreSQL store reads columns; the records' columns and
//! decoders themselves are shared (`crate::records`).

use hookd_core::store::{StoreError, StoreResult};
use tokio_postgres::types::{FromSql, Type};

use crate::records::Row;

/// Column `i` of `r`, as `T`.
pub(crate) fn col<'a, T: FromSql<'a>>(r: &'a tokio_postgres::Row, i: usize) -> StoreResult<T> {
    r.try_get(i)
        .map_err(|e| StoreError::backend_from(format!("reading column {i}"), e))
}

impl Row for tokio_postgres::Row {
    fn text(&self, i: usize) -> StoreResult<String> {
        col(self, i)
    }
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        col(self, i)
    }
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        let ty = self.columns().get(i).map(|c| c.type_().clone());
        Ok(match ty {
            Some(Type::INT2) => col::<Option<i16>>(self, i)?.map(i64::from),
            Some(Type::INT4) => col::<Option<i32>>(self, i)?.map(i64::from),
            _ => col::<Option<i64>>(self, i)?,
        })
    }
    fn flag(&self, i: usize) -> StoreResult<bool> {
        col(self, i)
    }
    fn body(&self, i: usize) -> StoreResult<String> {
        // Written from a `String`, so valid UTF-8 unless edited from outside.
        let bytes: Vec<u8> = col(self, i)?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
    fn opt_bytes(&self, i: usize) -> StoreResult<Option<Vec<u8>>> {
        col(self, i)
    }
}

/// Decodes every row with `f`.
pub(crate) fn all<T>(
    rows: &[tokio_postgres::Row],
    f: impl Fn(&dyn Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    rows.iter().map(|r| f(r)).collect()
}
