//! [`DeliveryStore`] on PostgreSQL: claims with `FOR UPDATE SKIP LOCKED`, so
//! nodes sharing the database never take the same delivery.

use async_trait::async_trait;
use const_format::concatcp;
use hookd_core::ids::{self, Kind};
use hookd_core::store::{
    Change, DeliveryStore, EndpointStats, FORGET_NODE_AFTER_MS, Lane, LaneHead, MessageRoute,
    QueuedDelivery, ReplayFilter, StoreResult, claim_holders, sort_claimed,
};
use hookd_core::time::Timestamp;

use super::PostgresStore;
use super::changes::notify;
use super::conn::{Mode, execute, query, query_sql};
use super::rows::{all, col};
use crate::listings;
use crate::records::{self, QUEUED_COLS};
use crate::sql::Dialect;
use crate::sql::{CANCELED, FAIL, PENDING};

#[async_trait]
impl DeliveryStore for PostgresStore {
    async fn queued_deliveries(&self, now: Timestamp) -> StoreResult<Vec<QueuedDelivery>> {
        self.single("queued_deliveries", async |c| {
            // NULLS FIRST: SQLite's order for NULL.
            let found = query(
                c,
                concatcp!(
                    "SELECT ",
                    QUEUED_COLS,
                    " FROM deliveries WHERE status = ",
                    PENDING,
                    " AND lease_owner IS NOT NULL \
                     ORDER BY next_attempt_at NULLS FIRST, msg_id, endpoint_id"
                ),
                &[],
            )
            .await?;
            all(&found, |r| records::queued(r, now))
        })
        .await
    }

    async fn fail_delivery(&self, msg_id: &str, endpoint_id: &str) -> StoreResult<()> {
        self.single("fail_delivery", async |c| {
            execute(
                c,
                concatcp!(
                    "UPDATE deliveries SET status = ",
                    FAIL,
                    ", next_attempt_at = NULL, updated_at = $3 \
                     WHERE msg_id = $1 AND endpoint_id = $2 AND status = ",
                    PENDING
                ),
                &[&msg_id, &endpoint_id, &Timestamp::now().0],
            )
            .await
        })
        .await?;
        Ok(())
    }

    async fn cancel_deliveries(
        &self,
        endpoint_id: &str,
        created_before: Timestamp,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let floor = ids::floor_for_millis(Kind::Message, created_before.0);
        let change = Change::Canceled(endpoint_id.to_string(), created_before);
        let n = self
            .transaction("cancel_deliveries", Mode::Write, async |t| {
                let n = execute(
                    t,
                    concatcp!(
                        "UPDATE deliveries SET status = ",
                        CANCELED,
                        ", next_attempt_at = NULL, lease_owner = NULL, updated_at = $3 \
                         WHERE endpoint_id = $1 AND msg_id < $2 AND status = ",
                        PENDING
                    ),
                    &[&endpoint_id, &floor, &now.0],
                )
                .await?;
                notify(t, &self.origin, &change).await?;
                Ok(n)
            })
            .await?;
        self.emit(change);
        Ok(n)
    }

    async fn requeue(
        &self,
        app_id: &str,
        endpoint_id: &str,
        msg_ids: &[String],
        now: Timestamp,
        owner: Option<&str>,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        let out = self
            .transaction("requeue", Mode::Write, async |t| {
                let mut out = Vec::with_capacity(msg_ids.len());
                for id in msg_ids {
                    // Creates the delivery, or resets the one there is.
                    let n = execute(
                        t,
                        concatcp!(
                            "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, \
                             attempts, next_attempt_at, manual, lease_owner, created_at, \
                             updated_at) SELECT m.id, $2::text, m.app_id, ",
                            PENDING,
                            ", 0, $4::bigint, true, $5::text, $4::bigint, $4::bigint \
                             FROM messages m WHERE m.id = $1 AND m.app_id = $3 \
                             ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = ",
                            PENDING,
                            ", attempts = 0, next_attempt_at = $4::bigint, manual = true, \
                             lease_owner = $5::text, updated_at = $4::bigint"
                        ),
                        &[id, &endpoint_id, &app_id, &now.0, &owner],
                    )
                    .await?;
                    if n > 0 {
                        out.push(QueuedDelivery::manual(id.clone(), endpoint_id, app_id, now));
                    }
                }
                if !out.is_empty() && owner.is_none() {
                    notify(t, &self.origin, &Change::Deliveries).await?;
                }
                Ok(out)
            })
            .await?;
        if !out.is_empty() && owner.is_none() {
            self.emit(Change::Deliveries);
        }
        Ok(out)
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        dead_after_ms: i64,
        limit: usize,
        reclaim_own: bool,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        self.transaction("claim_due", Mode::Write, async |t| {
            let dead = query(
                t,
                "SELECT id FROM nodes WHERE heartbeat_at < $1",
                &[&(now.0 - dead_after_ms)],
            )
            .await?;
            let dead = all(&dead, |r| r.text(0))?;
            let others_dead: Vec<&String> = dead.iter().filter(|d| *d != owner).collect();
            // An ordered endpoint's lane has one owner at a time: a lane with
            // work to claim whose owner is dead, forgotten or not yet chosen
            // is taken over here. The row lock lets only one claimer win; the
            // others find the new owner alive when they re-check the row.
            execute(
                t,
                concatcp!(
                    "UPDATE endpoints e SET fifo_owner = $1 WHERE e.fifo \
                     AND (e.fifo_owner IS NULL OR e.fifo_owner = ANY($2) \
                          OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.fifo_owner)) \
                     AND EXISTS (SELECT 1 FROM deliveries d WHERE d.endpoint_id = e.id \
                       AND d.status = ",
                    PENDING,
                    " AND (d.lease_owner IS NULL OR d.lease_owner = ANY($2)))"
                ),
                &[&owner, &others_dead],
            )
            .await?;
            // The owner holds its lanes' deliveries that were attempted
            // before, whenever they are due: the lane's head may be waiting
            // for a retry, and nothing behind it may go first.
            let heads = query(
                t,
                concatcp!(
                    "UPDATE deliveries d SET lease_owner = $1 FROM endpoints e \
                     WHERE e.fifo AND e.fifo_owner = $1 AND d.endpoint_id = e.id \
                       AND d.status = ",
                    PENDING,
                    " AND d.attempts > 0 \
                       AND (d.lease_owner IS NULL OR d.lease_owner = ANY($2)) \
                     RETURNING d.msg_id, d.endpoint_id, d.app_id, d.attempts, \
                       d.next_attempt_at, d.manual"
                ),
                &[&owner, &others_dead],
            )
            .await?;
            let mut out = all(&heads, |r| records::queued(r, now))?;
            // Each holder's due deliveries come off the owner-and-due index;
            // SKIP LOCKED keeps concurrent claimers from waiting on, or
            // taking, each other's rows.
            for holder in claim_holders(dead, owner, reclaim_own) {
                if out.len() >= limit {
                    break;
                }
                let room = (limit - out.len()) as i64;
                let rows = query(
                    t,
                    concatcp!(
                        "UPDATE deliveries d SET lease_owner = $1 FROM ( \
                           SELECT msg_id, endpoint_id FROM deliveries WHERE status = ",
                        PENDING,
                        " AND lease_owner IS NOT DISTINCT FROM $2 \
                           AND next_attempt_at <= $3 \
                           AND NOT EXISTS (SELECT 1 FROM endpoints e \
                             WHERE e.id = deliveries.endpoint_id AND e.fifo \
                               AND e.fifo_owner IS DISTINCT FROM $1) \
                           ORDER BY next_attempt_at LIMIT $4 \
                           FOR UPDATE SKIP LOCKED) c \
                         WHERE d.msg_id = c.msg_id AND d.endpoint_id = c.endpoint_id \
                         RETURNING d.msg_id, d.endpoint_id, d.app_id, d.attempts, \
                           d.next_attempt_at, d.manual"
                    ),
                    &[&owner, &holder, &now.0, &room],
                )
                .await?;
                out.extend(all(&rows, |r| records::queued(r, now))?);
            }
            sort_claimed(&mut out);
            Ok(out)
        })
        .await
    }

    async fn retire_previous_lives(&self, name: &str, node: &str) -> StoreResult<u64> {
        let pattern = crate::sql::like_prefix(name, '-');
        self.single("retire_previous_lives", async |c| {
            execute(
                c,
                "UPDATE nodes SET heartbeat_at = 0 WHERE id LIKE $1 ESCAPE '\\' AND id <> $2",
                &[&pattern, &node],
            )
            .await
        })
        .await
    }

    async fn heartbeat(&self, node: &str, now: Timestamp, window_ms: i64) -> StoreResult<usize> {
        self.transaction("heartbeat", Mode::Write, async |t| {
            execute(
                t,
                "INSERT INTO nodes (id, heartbeat_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                &[&node, &now.0],
            )
            .await?;
            execute(
                t,
                concatcp!(
                    "DELETE FROM nodes WHERE heartbeat_at < $1 AND NOT EXISTS \
                     (SELECT 1 FROM deliveries d WHERE d.lease_owner = nodes.id AND d.status = ",
                    PENDING,
                    ")"
                ),
                &[&(now.0 - FORGET_NODE_AFTER_MS)],
            )
            .await?;
            let alive = query(
                t,
                "SELECT COUNT(*) FROM nodes WHERE heartbeat_at >= $1",
                &[&(now.0 - window_ms)],
            )
            .await?;
            let n: i64 = match alive.first() {
                Some(r) => col(r, 0)?,
                None => 1,
            };
            Ok(n.max(1) as usize)
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
        self.single("failed_message_ids", async |c| {
            let found = query(
                c,
                concatcp!(
                    "SELECT d.msg_id FROM deliveries d JOIN messages m ON m.id = d.msg_id \
                     WHERE d.app_id = $1 AND d.endpoint_id = $2 AND d.status = ",
                    FAIL,
                    " AND m.created_at >= $3 AND m.created_at < $4 ORDER BY d.msg_id"
                ),
                &[&app_id, &endpoint_id, &since.0, &until.0],
            )
            .await?;
            all(&found, |r| r.text(0))
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
        let sql = listings::endpoint_stats(Dialect::Postgres, app_id, endpoint_id, since, until);
        let found = self
            .single("endpoint_stats", async |c| query_sql(c, &sql).await)
            .await?;
        let mut stats = EndpointStats::default();
        for r in &found {
            stats.add(i64::from(col::<i16>(r, 0)?), col(r, 1)?);
        }
        Ok(stats)
    }

    async fn lane(&self, endpoint_id: &str) -> StoreResult<Lane> {
        self.single("lane", async |c| {
            let rows = query(
                c,
                concatcp!(
                    "SELECT e.fifo_owner, d.msg_id, d.attempts, d.next_attempt_at \
                     FROM endpoints e LEFT JOIN LATERAL ( \
                       SELECT msg_id, attempts, next_attempt_at FROM deliveries \
                       WHERE endpoint_id = e.id AND status = ",
                    PENDING,
                    " ORDER BY msg_id LIMIT 1) d ON true WHERE e.id = $1"
                ),
                &[&endpoint_id],
            )
            .await?;
            let lanes = all(&rows, |r| {
                let head = match r.opt_text(1)? {
                    Some(msg_id) => Some(LaneHead {
                        msg_id,
                        attempts: r.int(2)?,
                        next_attempt_at: r.opt_time(3)?,
                    }),
                    None => None,
                };
                Ok(Lane {
                    owner: r.opt_text(0)?,
                    head,
                })
            })?;
            Ok(lanes.into_iter().next().unwrap_or_default())
        })
        .await
    }

    async fn count_scheduled(&self, now: Timestamp) -> StoreResult<u64> {
        self.single("count_scheduled", async |c| {
            let rows = query(
                c,
                concatcp!(
                    "SELECT COUNT(*) FROM deliveries WHERE status = ",
                    PENDING,
                    " AND lease_owner IS NULL AND next_attempt_at > $1"
                ),
                &[&now.0],
            )
            .await?;
            let n: i64 = match rows.first() {
                Some(r) => col(r, 0)?,
                None => 0,
            };
            Ok(n.max(0) as u64)
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
            Dialect::Postgres,
            app_id,
            endpoint_id,
            (since, until),
            after,
            limit,
        );
        let rows = self
            .single("unrouted_messages", async |c| query_sql(c, &sql).await)
            .await?;
        all(&rows, records::message_route)
    }

    async fn replayable_message_ids(
        &self,
        app_id: &str,
        endpoint_id: &str,
        f: &ReplayFilter,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        let sql = listings::replayable_message_ids(
            Dialect::Postgres,
            app_id,
            endpoint_id,
            f,
            after,
            limit,
        );
        let rows = self
            .single("replayable_message_ids", async |c| query_sql(c, &sql).await)
            .await?;
        all(&rows, |r| r.text(0))
    }
}
