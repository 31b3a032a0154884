//! [`RetentionStore`] on SQLite.

use async_trait::async_trait;
use const_format::concatcp;
use hookd_core::store::{EXPUNGED_PAYLOAD, RetentionStore, StoreResult};
use hookd_core::time::Timestamp;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::rows::{execute, exists, query_rows};

/// Replaces a message's payload and empties its attempts' response bodies.
fn expunge_one(conn: &Connection, msg_id: &str) -> StoreResult<()> {
    execute(
        conn,
        concatcp!(
            "UPDATE messages SET payload = '",
            EXPUNGED_PAYLOAD,
            "', expunged = 1 WHERE id = ?1"
        ),
        params![msg_id],
    )?;
    execute(
        conn,
        "UPDATE attempts SET response = '' WHERE msg_id = ?1",
        params![msg_id],
    )?;
    Ok(())
}

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn expunge_expired(&self, now: Timestamp, limit: usize) -> StoreResult<usize> {
        self.db
            .write("expunge_expired", move |conn| {
                let ids: Vec<String> = query_rows(
                    conn,
                    "SELECT id FROM messages WHERE expunged = 0 AND expires_at <= ?1 \
                     ORDER BY expires_at LIMIT ?2",
                    params![now.0, limit as i64],
                    |r| r.text(0),
                )?;
                for id in &ids {
                    expunge_one(conn, id)?;
                }
                Ok(ids.len())
            })
            .await
    }

    async fn expunge_message(&self, app_id: &str, msg_id: &str) -> StoreResult<bool> {
        let (app_id, msg_id) = (app_id.to_string(), msg_id.to_string());
        self.db
            .write("expunge_message", move |conn| {
                let found = exists(
                    conn,
                    "SELECT 1 FROM messages WHERE app_id = ?1 AND id = ?2",
                    params![app_id, msg_id],
                )?;
                if found {
                    expunge_one(conn, &msg_id)?;
                }
                Ok(found)
            })
            .await
    }
}
