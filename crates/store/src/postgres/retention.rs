//! [`RetentionStore`] on PostgreSQL.

use async_trait::async_trait;
use const_format::concatcp;
use deadpool_postgres::Transaction;
use hookd_core::ids::{self, Kind};
use hookd_core::store::{EXPUNGED_PAYLOAD, PurgeBatch, RetentionStore, StoreResult};
use hookd_core::time::Timestamp;

use super::PostgresStore;
use super::conn::{Mode, execute, query, query_opt};
use super::rows::all;
use crate::records::Row as _;

/// Expunges these messages' payloads (already expunged ones too) and
/// empties their attempts' response bodies.
async fn expunge_ids(t: &Transaction<'_>, ids: &[String]) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    execute(
        t,
        concatcp!(
            "UPDATE messages SET payload = '",
            EXPUNGED_PAYLOAD,
            "', expunged = true WHERE id = ANY($1)"
        ),
        &[&ids],
    )
    .await?;
    execute(
        t,
        "UPDATE attempts SET response = ''::bytea WHERE msg_id = ANY($1)",
        &[&ids],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl RetentionStore for PostgresStore {
    async fn expunge_attempt_content(
        &self,
        app_id: &str,
        msg_id: &str,
        attempt_id: &str,
    ) -> StoreResult<bool> {
        self.transaction("expunge_attempt_content", Mode::Write, async |t| {
            let n = execute(
                t,
                "UPDATE attempts SET response = ''::bytea WHERE app_id = $1 AND msg_id = $2 AND id = $3",
                &[&app_id, &msg_id, &attempt_id],
            )
            .await?;
            Ok(n > 0)
        })
        .await
    }

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

    async fn expunge_app_messages(
        &self,
        app_id: &str,
        before: Timestamp,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<PurgeBatch> {
        // Every id sorts after "": no cursor starts at the first message.
        let after = after.unwrap_or("");
        self.transaction("expunge_app_messages", Mode::Write, async |t| {
            let rows = query(
                t,
                "SELECT id, expunged FROM messages WHERE app_id = $1 AND created_at < $2 \
                 AND id > $3 ORDER BY id LIMIT $4 FOR NO KEY UPDATE",
                &[&app_id, &before.0, &after, &(limit as i64)],
            )
            .await?;
            let found: Vec<(String, bool)> = all(&rows, |r| Ok((r.text(0)?, r.flag(1)?)))?;
            let fresh: Vec<String> = found
                .iter()
                .filter(|(_, expunged)| !expunged)
                .map(|(id, _)| id.clone())
                .collect();
            expunge_ids(t, &fresh).await?;
            Ok(PurgeBatch {
                expunged: fresh.len(),
                last: found.last().map(|(id, _)| id.clone()),
            })
        })
        .await
    }

    async fn expunge_messages(&self, app_id: &str, keys: &[String]) -> StoreResult<Vec<bool>> {
        self.transaction("expunge_messages", Mode::Write, async |t| {
            let mut found = Vec::with_capacity(keys.len());
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                let sql = if ids::is_id(Kind::Message, key) {
                    "SELECT id FROM messages WHERE app_id = $1 AND id = $2"
                } else {
                    "SELECT id FROM messages WHERE app_id = $1 AND event_id = $2"
                };
                let row = query_opt(t, sql, &[&app_id, key]).await?;
                if let Some(r) = &row {
                    found.push(r.text(0)?);
                }
                out.push(row.is_some());
            }
            // Sorted: rows are locked in key order, as everywhere in this store.
            found.sort();
            found.dedup();
            expunge_ids(t, &found).await?;
            Ok(out)
        })
        .await
    }
}
