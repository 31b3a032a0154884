//! [`DeliveryStore`] on SQLite.

use async_trait::async_trait;
use const_format::concatcp;
use hookd_core::ids::{self, Kind};
use hookd_core::store::{
    Change, DeliveryStore, EndpointStats, FORGET_NODE_AFTER_MS, Lane, LaneHead, MessageRoute,
    QueuedDelivery, ReplayFilter, StoreResult, claim_holders, sort_claimed,
};
use hookd_core::time::Timestamp;
use rusqlite::params;

use super::SqliteStore;
use super::db::db_err;
use super::rows::{execute, query_one, query_rows, query_sql};
use crate::listings;
use crate::records::{self, QUEUED_COLS};
use crate::sql::Dialect;
use crate::sql::{CANCELED, FAIL, PENDING};

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn queued_deliveries(&self, now: Timestamp) -> StoreResult<Vec<QueuedDelivery>> {
        self.db
            .read("queued_deliveries", move |conn| {
                query_rows(
                    conn,
                    concatcp!(
                        "SELECT ",
                        QUEUED_COLS,
                        " FROM deliveries WHERE status = ",
                        PENDING,
                        " AND lease_owner IS NOT NULL ORDER BY next_attempt_at, msg_id, endpoint_id"
                    ),
                    [],
                    |r| records::queued(r, now),
                )
            })
            .await
    }

    async fn fail_delivery(&self, msg_id: &str, endpoint_id: &str) -> StoreResult<()> {
        let (m, e) = (msg_id.to_string(), endpoint_id.to_string());
        self.db
            .write("fail_delivery", move |conn| {
                execute(
                    conn,
                    concatcp!(
                        "UPDATE deliveries SET status = ",
                        FAIL,
                        ", next_attempt_at = NULL, updated_at = ?3 \
                         WHERE msg_id = ?1 AND endpoint_id = ?2 AND status = ",
                        PENDING
                    ),
                    params![m, e, Timestamp::now().0],
                )?;
                Ok(())
            })
            .await
    }

    async fn cancel_deliveries(
        &self,
        endpoint_id: &str,
        created_before: Timestamp,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let (e, floor) = (
            endpoint_id.to_string(),
            ids::floor_for_millis(Kind::Message, created_before.0),
        );
        let n = self
            .db
            .write("cancel_deliveries", move |conn| {
                execute(
                    conn,
                    concatcp!(
                        "UPDATE deliveries SET status = ",
                        CANCELED,
                        ", next_attempt_at = NULL, lease_owner = NULL, updated_at = ?3 \
                         WHERE endpoint_id = ?1 AND msg_id < ?2 AND status = ",
                        PENDING
                    ),
                    params![e, floor, now.0],
                )
            })
            .await?;
        self.db
            .hub
            .emit(Change::Canceled(endpoint_id.to_string(), created_before));
        Ok(n as u64)
    }

    async fn requeue(
        &self,
        app_id: &str,
        endpoint_id: &str,
        msg_ids: &[String],
        now: Timestamp,
        owner: Option<&str>,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        let (app_id, ep_id, ids) = (
            app_id.to_string(),
            endpoint_id.to_string(),
            msg_ids.to_vec(),
        );
        let owner = owner.map(String::from);
        self.db
            .write("requeue", move |conn| {
                let mut st = conn
                    .prepare_cached(concatcp!(
                        "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, \
                         next_attempt_at, manual, lease_owner, created_at, updated_at) \
                         SELECT m.id, ?2, m.app_id, ",
                        PENDING,
                        ", 0, ?4, 1, ?5, ?4, ?4 FROM messages m \
                         WHERE m.id = ?1 AND m.app_id = ?3 \
                         ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = ",
                        PENDING,
                        ", attempts = 0, next_attempt_at = ?4, manual = 1, lease_owner = ?5, \
                         updated_at = ?4"
                    ))
                    .map_err(db_err)?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    let n = st
                        .execute(params![id, ep_id, app_id, now.0, owner])
                        .map_err(db_err)?;
                    if n > 0 {
                        out.push(QueuedDelivery::manual(id, &ep_id, &app_id, now));
                    }
                }
                Ok(out)
            })
            .await
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        dead_after_ms: i64,
        limit: usize,
        reclaim_own: bool,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        let owner = owner.to_string();
        self.db
            .write("claim_due", move |conn| {
                let dead = query_rows(
                    conn,
                    "SELECT id FROM nodes WHERE heartbeat_at < ?1",
                    params![now.0 - dead_after_ms],
                    |r| r.text(0),
                )?;
                let mut out = Vec::new();
                // The owner-and-due index serves each holder's claim.
                for holder in claim_holders(dead, &owner, reclaim_own) {
                    if out.len() >= limit {
                        break;
                    }
                    out.extend(query_rows(
                        conn,
                        concatcp!(
                            "UPDATE deliveries SET lease_owner = ?1 WHERE rowid IN \
                             (SELECT rowid FROM deliveries WHERE status = ",
                            PENDING,
                            " AND lease_owner IS ?2 AND next_attempt_at <= ?3 \
                             ORDER BY next_attempt_at LIMIT ?4) RETURNING ",
                            QUEUED_COLS
                        ),
                        params![owner, holder, now.0, (limit - out.len()) as i64],
                        |r| records::queued(r, now),
                    )?);
                }
                sort_claimed(&mut out);
                Ok(out)
            })
            .await
    }

    async fn retire_previous_lives(&self, name: &str, node: &str) -> StoreResult<u64> {
        let (pattern, node) = (crate::sql::like_prefix(name, '-'), node.to_string());
        self.db
            .write("retire_previous_lives", move |conn| {
                execute(
                    conn,
                    "UPDATE nodes SET heartbeat_at = 0 WHERE id LIKE ?1 ESCAPE '\\' AND id <> ?2",
                    params![pattern, node],
                )
                .map(|n| n as u64)
            })
            .await
    }

    async fn heartbeat(&self, node: &str, now: Timestamp, window_ms: i64) -> StoreResult<usize> {
        let node = node.to_string();
        self.db
            .write("heartbeat", move |conn| {
                execute(
                    conn,
                    "INSERT INTO nodes (id, heartbeat_at) VALUES (?1, ?2) \
                     ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                    params![node, now.0],
                )?;
                execute(
                    conn,
                    concatcp!(
                        "DELETE FROM nodes WHERE heartbeat_at < ?1 AND NOT EXISTS \
                         (SELECT 1 FROM deliveries d WHERE d.lease_owner = nodes.id AND d.status = ",
                        PENDING,
                        ")"
                    ),
                    params![now.0 - FORGET_NODE_AFTER_MS],
                )?;
                let n = query_one(
                    conn,
                    "SELECT COUNT(*) FROM nodes WHERE heartbeat_at >= ?1",
                    params![now.0 - window_ms],
                    |r| r.int(0),
                )?;
                Ok(n.unwrap_or(1).max(1) as usize)
            })
            .await
    }

    async fn failed_message_ids(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<String>> {
        let (app_id, ep_id) = (app_id.to_string(), endpoint_id.to_string());
        self.db
            .read("failed_message_ids", move |conn| {
                query_rows(
                    conn,
                    concatcp!(
                        "SELECT d.msg_id FROM deliveries d JOIN messages m ON m.id = d.msg_id \
                         WHERE d.app_id = ?1 AND d.endpoint_id = ?2 AND d.status = ",
                        FAIL,
                        " AND m.created_at >= ?3 AND m.created_at < ?4 ORDER BY d.msg_id"
                    ),
                    params![app_id, ep_id, since.0, until.0],
                    |r| r.text(0),
                )
            })
            .await
    }

    async fn endpoint_stats(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> StoreResult<EndpointStats> {
        let sql = listings::endpoint_stats(Dialect::Sqlite, app_id, endpoint_id, since, until);
        self.db
            .read("endpoint_stats", move |conn| {
                let mut stats = EndpointStats::default();
                for (status, n) in query_sql(conn, sql, |r| Ok((r.int(0)?, r.int(1)?)))? {
                    stats.add(status, n);
                }
                Ok(stats)
            })
            .await
    }

    async fn lane(&self, endpoint_id: &str) -> StoreResult<Lane> {
        let id = endpoint_id.to_string();
        self.db
            .read("lane", move |conn| {
                let head = query_one(
                    conn,
                    concatcp!(
                        "SELECT msg_id, attempts, next_attempt_at FROM deliveries \
                         WHERE endpoint_id = ?1 AND status = ",
                        PENDING,
                        " ORDER BY msg_id LIMIT 1"
                    ),
                    params![id],
                    |r| {
                        Ok(LaneHead {
                            msg_id: r.text(0)?,
                            attempts: r.int(1)?,
                            next_attempt_at: r.opt_time(2)?,
                        })
                    },
                )?;
                // One node holds a SQLite store: no lanes to share.
                Ok(Lane { owner: None, head })
            })
            .await
    }

    async fn count_scheduled(&self, now: Timestamp) -> StoreResult<u64> {
        self.db
            .read("count_scheduled", move |conn| {
                let n = query_one(
                    conn,
                    concatcp!(
                        "SELECT COUNT(*) FROM deliveries WHERE status = ",
                        PENDING,
                        " AND lease_owner IS NULL AND next_attempt_at > ?1"
                    ),
                    params![now.0],
                    |r| r.int(0),
                )?;
                Ok(n.unwrap_or(0).max(0) as u64)
            })
            .await
    }

    async fn unrouted_messages(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Timestamp,
        until: Timestamp,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<MessageRoute>> {
        let sql = listings::unrouted_messages(
            Dialect::Sqlite,
            app_id,
            endpoint_id,
            (since, until),
            after,
            limit,
        );
        self.db
            .read("unrouted_messages", move |conn| {
                query_sql(conn, sql, records::message_route)
            })
            .await
    }

    async fn replayable_message_ids(
        &self,
        app_id: &str,
        endpoint_id: &str,
        f: &ReplayFilter,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let sql =
            listings::replayable_message_ids(Dialect::Sqlite, app_id, endpoint_id, f, after, limit);
        self.db
            .read("replayable_message_ids", move |conn| {
                query_sql(conn, sql, |r| r.text(0))
            })
            .await
    }
}
