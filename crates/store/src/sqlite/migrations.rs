//! Numbered SQLite migrations, tracked with `PRAGMA user_version`.

use rusqlite::Connection;

use super::db::db_err;
use hookd_core::store::StoreError;

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_initial.sql"),
    include_str!("../../migrations/sqlite/0002_tasks_headers_auth.sql"),
    include_str!("../../migrations/sqlite/0003_scheduled_filters.sql"),
    include_str!("../../migrations/sqlite/0004_fifo.sql"),
];

/// Applies every migration newer than the file's `user_version`, each in its own transaction.
pub fn apply(conn: &Connection) -> Result<(), StoreError> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_err)?;
    if current > MIGRATIONS.len() as i64 {
        return Err(StoreError::backend(format!(
            "the database has schema version {current}, newer than this hookd ({}); upgrade hookd",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = i + 1;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {version}; COMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            StoreError::backend_from(format!("migration {version} failed"), e)
        })?;
    }
    Ok(())
}
