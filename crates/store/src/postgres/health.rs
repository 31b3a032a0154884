//! [`HealthStore`] on PostgreSQL.

use async_trait::async_trait;
use const_format::concatcp;
use hookd_core::store::{Bucket, EndpointHealth, HealthStore, StoreResult, fill_buckets};
use hookd_core::time::Timestamp;

use super::PostgresStore;
use super::conn::{Mode, query, query_opt, query_sql};
use super::rows::all;
use crate::listings;
use crate::records::Row;
use crate::sql::{Dialect, SUCCESS};

const HOUR_MS: i64 = 3_600_000;

#[async_trait]
impl HealthStore for PostgresStore {
    async fn endpoint_health(
        &self,
        app_id: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<EndpointHealth>> {
        let (hour, day) = (Timestamp(now.0 - HOUR_MS), Timestamp(now.0 - 24 * HOUR_MS));
        let sql = listings::endpoint_health(Dialect::Postgres, app_id, hour, day);
        self.transaction("endpoint_health", Mode::Snapshot, async |t| {
            let counts = all(&query_sql(t, &sql).await?, |r| {
                Ok((
                    r.text(0)?,
                    (r.int(1)?, r.int(2)?),
                    (r.int(3)?, r.int(4)?),
                    r.opt_time(5)?,
                ))
            })?;
            let endpoints = query(
                t,
                "SELECT id, failing_since FROM endpoints WHERE app_id = $1 ORDER BY id",
                &[&app_id],
            )
            .await?;
            let mut out = Vec::with_capacity(endpoints.len());
            for e in &endpoints {
                let (id, failing_since) = (e.text(0)?, e.opt_time(1)?);
                let mut h = EndpointHealth {
                    endpoint_id: id.clone(),
                    failing_since,
                    ..Default::default()
                };
                if let Some((_, hour, day, last)) = counts.iter().find(|c| c.0 == id) {
                    (h.hour, h.day, h.last_failure) = (*hour, *day, *last);
                }
                if h.last_failure.is_some() || failing_since.is_some() {
                    let row = query_opt(
                        t,
                        concatcp!(
                            "SELECT response_status FROM attempts WHERE endpoint_id = $1 \
                             AND status <> ",
                            SUCCESS,
                            " ORDER BY id DESC LIMIT 1"
                        ),
                        &[&id],
                    )
                    .await?;
                    h.last_failure_status = row.map(|r| r.int(0).map(|v| v as i32)).transpose()?;
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
        let sql = listings::attempt_buckets(
            Dialect::Postgres,
            app_id,
            endpoint_id,
            since,
            until,
            width_ms,
        );
        let found = self
            .single("attempt_buckets", async |c| query_sql(c, &sql).await)
            .await?;
        let rows = all(&found, |r| Ok((r.int(0)?, r.int(1)?, r.int(2)?)))?;
        Ok(fill_buckets(since, until, width_ms, &rows))
    }
}
