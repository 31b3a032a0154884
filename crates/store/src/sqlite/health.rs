//! [`HealthStore`] on SQLite.

use async_trait::async_trait;
use hookd_core::store::{Bucket, EndpointHealth, HealthStore, StoreResult, fill_buckets};
use hookd_core::time::Timestamp;
use rusqlite::params;

use super::SqliteStore;
use super::rows::{query_one, query_rows, query_sql};
use crate::listings;
use crate::sql::{Dialect, SUCCESS};

const HOUR_MS: i64 = 3_600_000;

#[async_trait]
impl HealthStore for SqliteStore {
    async fn endpoint_health(
        &self,
        app_id: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<EndpointHealth>> {
        let (hour, day) = (Timestamp(now.0 - HOUR_MS), Timestamp(now.0 - 24 * HOUR_MS));
        let sql = listings::endpoint_health(Dialect::Sqlite, app_id, hour, day);
        let app_id = app_id.to_string();
        self.db
            .read("endpoint_health", move |conn| {
                let counts = query_sql(conn, sql, |r| {
                    Ok((
                        r.text(0)?,
                        (r.int(1)?, r.int(2)?),
                        (r.int(3)?, r.int(4)?),
                        r.opt_time(5)?,
                    ))
                })?;
                let endpoints = query_rows(
                    conn,
                    "SELECT id, failing_since FROM endpoints WHERE app_id = ?1 ORDER BY id",
                    params![app_id],
                    |r| Ok((r.text(0)?, r.opt_time(1)?)),
                )?;
                let mut out = Vec::with_capacity(endpoints.len());
                for (id, failing_since) in endpoints {
                    let mut h = EndpointHealth {
                        endpoint_id: id.clone(),
                        failing_since,
                        ..Default::default()
                    };
                    if let Some((_, hour, day, last)) = counts.iter().find(|c| c.0 == id) {
                        (h.hour, h.day, h.last_failure) = (*hour, *day, *last);
                    }
                    if h.last_failure.is_some() || failing_since.is_some() {
                        h.last_failure_status = query_one(
                            conn,
                            const_format::concatcp!(
                                "SELECT response_status FROM attempts WHERE endpoint_id = ?1 \
                                 AND status <> ",
                                SUCCESS,
                                " ORDER BY id DESC LIMIT 1"
                            ),
                            params![id],
                            |r| Ok(r.int(0)? as i32),
                        )?;
                    }
                    out.push(h);
                }
                Ok(out)
            })
            .await
    }

    async fn attempt_buckets(
        &self,
        app_id: &str,
        endpoint_id: Option<&str>,
        since: Timestamp,
        until: Timestamp,
        width_ms: i64,
    ) -> StoreResult<Vec<Bucket>> {
        let sql =
            listings::attempt_buckets(Dialect::Sqlite, app_id, endpoint_id, since, until, width_ms);
        let rows = self
            .db
            .read("attempt_buckets", move |conn| {
                query_sql(conn, sql, |r| Ok((r.int(0)?, r.int(1)?, r.int(2)?)))
            })
            .await?;
        Ok(fill_buckets(since, until, width_ms, &rows))
    }
}
