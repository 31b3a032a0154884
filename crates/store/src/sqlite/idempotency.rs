//! [`IdempotencyStore`] on SQLite.

use async_trait::async_trait;
use hookd_core::store::{IdempotencyStart, IdempotencyStore, StoreResult};
use hookd_core::time::Timestamp;
use rusqlite::params;

use super::SqliteStore;
use super::rows::{execute, query_one};

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn idempotency_start(
        &self,
        org_id: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> StoreResult<IdempotencyStart> {
        let (org_id, key, fp) = (org_id.to_string(), key.to_string(), fingerprint.to_string());
        self.db
            .write("idempotency_start", move |conn| {
                // Expired entries are removed lazily, a bounded batch per call.
                execute(
                    conn,
                    "DELETE FROM idempotency_keys WHERE rowid IN \
                     (SELECT rowid FROM idempotency_keys WHERE expires_at < ?1 LIMIT 100)",
                    params![now.0],
                )?;
                let existing = query_one(
                    conn,
                    "SELECT fingerprint, status, body FROM idempotency_keys \
                     WHERE org_id = ?1 AND key = ?2 AND expires_at >= ?3",
                    params![org_id, key, now.0],
                    |r| Ok((r.text(0)?, r.opt_int(1)?, r.opt_bytes(2)?)),
                )?;
                if let Some((fingerprint, status, body)) = existing {
                    return Ok(IdempotencyStart::of_stored(fingerprint, status, body));
                }
                execute(
                    conn,
                    "INSERT OR REPLACE INTO idempotency_keys (org_id, key, fingerprint, \
                     status, body, expires_at) VALUES (?1, ?2, ?3, NULL, NULL, ?4)",
                    params![org_id, key, fp, now.0 + lease_ms],
                )?;
                Ok(IdempotencyStart::Started)
            })
            .await
    }

    async fn idempotency_complete(
        &self,
        org_id: &str,
        key: &str,
        status: u16,
        body: Vec<u8>,
        expires_at: i64,
    ) -> StoreResult<()> {
        let (org_id, key) = (org_id.to_string(), key.to_string());
        self.db
            .write("idempotency_complete", move |conn| {
                execute(
                    conn,
                    "UPDATE idempotency_keys SET status = ?3, body = ?4, expires_at = ?5 \
                     WHERE org_id = ?1 AND key = ?2",
                    params![org_id, key, i64::from(status), body, expires_at],
                )?;
                Ok(())
            })
            .await
    }

    async fn idempotency_abort(&self, org_id: &str, key: &str) -> StoreResult<()> {
        let (org_id, key) = (org_id.to_string(), key.to_string());
        self.db
            .write("idempotency_abort", move |conn| {
                execute(
                    conn,
                    "DELETE FROM idempotency_keys WHERE org_id = ?1 AND key = ?2 AND status IS NULL",
                    params![org_id, key],
                )?;
                Ok(())
            })
            .await
    }
}
