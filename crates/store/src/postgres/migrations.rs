//! Numbered PostgreSQL migrations, applied when the store opens.
//!
//! Several hookd nodes may start at once against one database, so the whole
//! upgrade runs in one transaction that first takes a transaction-scoped
//! advisory lock: the second node waits, then finds nothing left to do.
//! Applied versions are rows of `hookd_schema_migrations`; a database newer
//! than this binary is refused rather than used with the wrong schema.

use deadpool_postgres::Pool;
use hookd_core::store::{StoreError, StoreResult};
use hookd_core::time::Timestamp;

use super::conn::{Mode, pg_err, transaction};

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_initial.sql"),
    include_str!("../../migrations/postgres/0002_tasks_headers_auth.sql"),
    include_str!("../../migrations/postgres/0003_scheduled_filters.sql"),
    include_str!("../../migrations/postgres/0004_fifo.sql"),
];

/// The advisory lock key that serialises migrations ("hookd" in ASCII).
const LOCK_KEY: i64 = 0x0068_6f6f_6b64;

/// Applies every migration not yet recorded, all in one transaction.
pub(crate) async fn apply(pool: &Pool) -> StoreResult<()> {
    transaction(pool, Mode::Write, async |tx| {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await
            .map_err(pg_err)?;
        // The NOTICE "already exists, skipping" would be logged at every start.
        tx.batch_execute(
            "SET LOCAL client_min_messages = warning;
             CREATE TABLE IF NOT EXISTS hookd_schema_migrations (
                 version     BIGINT PRIMARY KEY,
                 applied_at  BIGINT NOT NULL
             )",
        )
        .await
        .map_err(pg_err)?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM hookd_schema_migrations",
                &[],
            )
            .await
            .and_then(|r| r.try_get(0))
            .map_err(pg_err)?;
        let known = MIGRATIONS.len() as i64;
        if current > known {
            return Err(StoreError::backend(format!(
                "the database has schema version {current}, newer than this hookd ({known}); \
                 upgrade hookd"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = i as i64 + 1;
            tx.batch_execute(sql)
                .await
                .map_err(|e| StoreError::backend_from(format!("migration {version} failed"), e))?;
            tx.execute(
                "INSERT INTO hookd_schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[&version, &Timestamp::now().0],
            )
            .await
            .map_err(pg_err)?;
            tracing::info!(version, "applied PostgreSQL migration");
        }
        Ok(())
    })
    .await
}
