//! [`IdempotencyStore`] on PostgreSQL.

use async_trait::async_trait;
use hookd_core::store::{IdempotencyStart, IdempotencyStore, StoreResult};
use hookd_core::time::Timestamp;

use super::PostgresStore;
use super::conn::{Mode, execute, query_opt};
use super::rows::col;

#[async_trait]
impl IdempotencyStore for PostgresStore {
    async fn idempotency_start(
        &self,
        org_id: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> StoreResult<IdempotencyStart> {
        self.transaction("idempotency_start", Mode::Write, async |t| {
            // Expired entries are removed lazily, a bounded batch per call;
            // rows another node is already removing are skipped, not waited on.
            execute(
                t,
                "DELETE FROM idempotency_keys WHERE (org_id, key) IN \
                 (SELECT org_id, key FROM idempotency_keys WHERE expires_at < $1 \
                  LIMIT 100 FOR UPDATE SKIP LOCKED)",
                &[&now.0],
            )
            .await?;
            // Claim the key: insert it, or take over an entry that has
            // expired (and survived the sweep). A live entry is left alone,
            // and concurrent starts of one key see exactly one `Started`.
            let claimed = execute(
                t,
                "INSERT INTO idempotency_keys (org_id, key, fingerprint, status, body, expires_at) \
                 VALUES ($1, $2, $3, NULL, NULL, $4) \
                 ON CONFLICT (org_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, \
                 status = NULL, body = NULL, expires_at = EXCLUDED.expires_at \
                 WHERE idempotency_keys.expires_at < $5",
                &[&org_id, &key, &fingerprint, &(now.0 + lease_ms), &now.0],
            )
            .await?;
            if claimed > 0 {
                return Ok(IdempotencyStart::Started);
            }
            let existing = query_opt(
                t,
                "SELECT fingerprint, status, body FROM idempotency_keys \
                 WHERE org_id = $1 AND key = $2",
                &[&org_id, &key],
            )
            .await?;
            match existing {
                Some(r) => Ok(IdempotencyStart::of_stored(
                    col(&r, 0)?,
                    col::<Option<i32>>(&r, 1)?.map(i64::from),
                    col(&r, 2)?,
                )),
                // Aborted by its owner between our two statements: that
                // request is still being answered as far as we know.
                None => Ok(IdempotencyStart::InProgress),
            }
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
        self.single("idempotency_complete", async |c| {
            execute(
                c,
                "UPDATE idempotency_keys SET status = $3, body = $4, expires_at = $5 \
                 WHERE org_id = $1 AND key = $2",
                &[&org_id, &key, &i32::from(status), &body, &expires_at],
            )
            .await
        })
        .await?;
        Ok(())
    }

    async fn idempotency_abort(&self, org_id: &str, key: &str) -> StoreResult<()> {
        self.single("idempotency_abort", async |c| {
            execute(
                c,
                "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND status IS NULL",
                &[&org_id, &key],
            )
            .await
        })
        .await?;
        Ok(())
    }
}
