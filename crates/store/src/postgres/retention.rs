//! [`RetentionStore`] on PostgreSQL.

use async_trait::async_trait;
use const_format::concatcp;
use hookd_core::store::{EXPUNGED_PAYLOAD, RetentionStore, StoreResult};
use hookd_core::time::Timestamp;

use super::PostgresStore;
use super::conn::{Mode, execute, query};
use super::rows::all;

#[async_trait]
impl RetentionStore for PostgresStore {
    async fn expunge_expired(&self, now: Timestamp, limit: usize) -> StoreResult<usize> {
        self.transaction("expunge_expired", Mode::Write, async |t| {
            // SKIP LOCKED: nodes running retention at once share the work.
            let rows = query(
                t,
                concatcp!(
                    "UPDATE messages m SET payload = '",
                    EXPUNGED_PAYLOAD,
                    "', expunged = true FROM ( \
                       SELECT id FROM messages WHERE NOT expunged AND expires_at <= $1 \
                       ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) x \
                     WHERE m.id = x.id RETURNING m.id"
                ),
                &[&now.0, &(limit as i64)],
            )
            .await?;
            let ids: Vec<String> = all(&rows, |r| r.text(0))?;
            if !ids.is_empty() {
                execute(
                    t,
                    "UPDATE attempts SET response = ''::bytea WHERE msg_id = ANY($1)",
                    &[&ids],
                )
                .await?;
            }
            Ok(ids.len())
        })
        .await
    }

    async fn expunge_message(&self, app_id: &str, msg_id: &str) -> StoreResult<bool> {
        self.transaction("expunge_message", Mode::Write, async |t| {
            let n = execute(
                t,
                concatcp!(
                    "UPDATE messages SET payload = '",
                    EXPUNGED_PAYLOAD,
                    "', expunged = true WHERE app_id = $1 AND id = $2"
                ),
                &[&app_id, &msg_id],
            )
            .await?;
            if n > 0 {
                execute(
                    t,
                    "UPDATE attempts SET response = ''::bytea WHERE msg_id = $1",
                    &[&msg_id],
                )
                .await?;
            }
            Ok(n > 0)
        })
        .await
    }
}
