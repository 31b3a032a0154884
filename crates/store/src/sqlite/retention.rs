//! [`RetentionStore`] on SQLite.

use async_trait::async_trait;
use const_format::concatcp;
use hookd_core::ids::{self, Kind};
use hookd_core::store::{EXPUNGED_PAYLOAD, PurgeBatch, RetentionStore, StoreResult};
use hookd_core::time::Timestamp;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::rows::{execute, exists, query_one, query_rows};

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
    async fn expunge_attempt_content(
        &self,
        app_id: &str,
        msg_id: &str,
        attempt_id: &str,
    ) -> StoreResult<bool> {
        let (app_id, msg_id, attempt_id) = (
            app_id.to_string(),
            msg_id.to_string(),
            attempt_id.to_string(),
        );
        self.db
            .write("expunge_attempt_content", move |conn| {
                let n = execute(
                    conn,
                    "UPDATE attempts SET response = '' WHERE app_id = ?1 AND msg_id = ?2 AND id = ?3",
                    params![app_id, msg_id, attempt_id],
                )?;
                Ok(n > 0)
            })
            .await
    }

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

    async fn expunge_app_messages(
        &self,
        app_id: &str,
        before: Timestamp,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<PurgeBatch> {
        let (app_id, after) = (app_id.to_string(), after.unwrap_or("").to_string());
        self.db
            .write("expunge_app_messages", move |conn| {
                // Every id sorts after "": no cursor starts at the first message.
                let found = query_rows(
                    conn,
                    "SELECT id, expunged FROM messages WHERE app_id = ?1 AND created_at < ?2 \
                     AND id > ?3 ORDER BY id LIMIT ?4",
                    params![app_id, before.0, after, limit as i64],
                    |r| Ok((r.text(0)?, r.flag(1)?)),
                )?;
                let mut batch = PurgeBatch::default();
                for (id, expunged) in &found {
                    if !expunged {
                        expunge_one(conn, id)?;
                        batch.expunged += 1;
                    }
                }
                batch.last = found.last().map(|(id, _)| id.clone());
                Ok(batch)
            })
            .await
    }

    async fn expunge_messages(&self, app_id: &str, keys: &[String]) -> StoreResult<Vec<bool>> {
        let (app_id, keys) = (app_id.to_string(), keys.to_vec());
        self.db
            .write("expunge_messages", move |conn| {
                let mut out = Vec::with_capacity(keys.len());
                for key in keys {
                    let sql = if ids::is_id(Kind::Message, &key) {
                        "SELECT id FROM messages WHERE app_id = ?1 AND id = ?2"
                    } else {
                        "SELECT id FROM messages WHERE app_id = ?1 AND event_id = ?2"
                    };
                    let id = query_one(conn, sql, params![app_id, key], |r| r.text(0))?;
                    if let Some(id) = &id {
                        expunge_one(conn, id)?;
                    }
                    out.push(id.is_some());
                }
                Ok(out)
            })
            .await
    }
}
