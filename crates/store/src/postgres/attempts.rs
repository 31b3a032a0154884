//! [`AttemptStore`] on PostgreSQL: a batch of attempts is recorded in a few
//! statements (`unnest`), with its endpoints and deliveries locked in key order.

use std::collections::HashMap;

use async_trait::async_trait;
use const_format::concatcp;
use deadpool_postgres::GenericClient;
use hookd_core::model::Attempt;
use hookd_core::store::{
    AttemptEffects, AttemptFilter, AttemptResult, AttemptStore, Change, ListQuery, NextStep, Page,
    StoreResult,
};
use hookd_core::time::Timestamp;

use super::PostgresStore;
use super::changes::notify;
use super::conn::{Mode, execute, query, query_opt, query_sql};
use super::rows::{all, col};
use crate::listings::{self, AttemptsOf};
use crate::records::{self, ATT_COLS, MSG_COLS};
use crate::sql::Dialect;

async fn attach_messages(c: &impl GenericClient, attempts: &mut [Attempt]) -> StoreResult<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = attempts.iter().map(|a| a.msg_id.as_str()).collect();
    let found = query(
        c,
        concatcp!("SELECT ", MSG_COLS, " FROM messages m WHERE m.id = ANY($1)"),
        &[&ids],
    )
    .await?;
    let mut by_id = HashMap::new();
    for r in &found {
        let m = records::message(r)?;
        by_id.insert(m.id.clone(), m);
    }
    for a in attempts.iter_mut() {
        a.msg = by_id.get(&a.msg_id).cloned();
    }
    Ok(())
}

/// Inserts the attempts of `batch`, in one statement.
async fn insert_attempts(c: &impl GenericClient, batch: &[&AttemptResult]) -> StoreResult<()> {
    let text =
        |f: &dyn Fn(&AttemptResult) -> &str| -> Vec<&str> { batch.iter().map(|r| f(r)).collect() };
    let ids = text(&|r| &r.attempt.id);
    let msgs = text(&|r| &r.attempt.msg_id);
    let eps = text(&|r| &r.attempt.endpoint_id);
    let apps = text(&|r| &r.app_id);
    let urls = text(&|r| &r.attempt.url);
    let statuses: Vec<i16> = batch.iter().map(|r| r.attempt.status as i16).collect();
    let codes: Vec<i32> = batch
        .iter()
        .map(|r| r.attempt.response_status_code)
        .collect();
    let bodies: Vec<&[u8]> = batch
        .iter()
        .map(|r| r.attempt.response.as_bytes())
        .collect();
    let durations: Vec<i64> = batch
        .iter()
        .map(|r| r.attempt.response_duration_ms)
        .collect();
    let triggers: Vec<i16> = batch
        .iter()
        .map(|r| r.attempt.trigger_type as i16)
        .collect();
    let classes: Vec<Option<&str>> = batch
        .iter()
        .map(|r| r.attempt.error_class.as_deref())
        .collect();
    let times: Vec<i64> = batch.iter().map(|r| r.attempt.timestamp.0).collect();
    let (sent, received): (Vec<Option<String>>, Vec<Option<String>>) = batch
        .iter()
        .map(|r| records::attempt_headers(&r.attempt))
        .unzip();
    execute(
        c,
        "INSERT INTO attempts (id, msg_id, endpoint_id, app_id, url, status, response_status, \
         response, duration_ms, trigger_type, error_class, created_at, sent_headers, \
         response_headers) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
           $6::smallint[], $7::int[], $8::bytea[], $9::bigint[], $10::smallint[], \
           $11::text[], $12::bigint[], $13::text[], $14::text[])",
        &[
            &ids, &msgs, &eps, &apps, &urls, &statuses, &codes, &bodies, &durations, &triggers,
            &classes, &times, &sent, &received,
        ],
    )
    .await?;
    Ok(())
}

/// Moves the deliveries of `batch` on; returns each one's attempt count,
/// absent for deliveries that no longer exist.
async fn update_deliveries(
    c: &impl GenericClient,
    batch: &[AttemptResult],
) -> StoreResult<HashMap<(String, String), i64>> {
    let n = batch.len();
    let mut msg_ids = Vec::with_capacity(n);
    let mut ep_ids = Vec::with_capacity(n);
    let mut statuses: Vec<i16> = Vec::with_capacity(n);
    let mut nexts: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut nows: Vec<i64> = Vec::with_capacity(n);
    for r in batch {
        let (status, next_at) = r.next.delivery_state();
        msg_ids.push(r.attempt.msg_id.as_str());
        ep_ids.push(r.attempt.endpoint_id.as_str());
        statuses.push(status as i16);
        nexts.push(next_at.map(|t| t.0));
        nows.push(r.attempt.timestamp.0);
    }
    let updated = query(
        c,
        "UPDATE deliveries d SET status = u.status, attempts = d.attempts + 1, \
         next_attempt_at = u.next, manual = false, updated_at = u.now \
         FROM unnest($1::text[], $2::text[], $3::smallint[], $4::bigint[], $5::bigint[]) \
           AS u(msg_id, endpoint_id, status, next, now) \
         WHERE d.msg_id = u.msg_id AND d.endpoint_id = u.endpoint_id \
         RETURNING d.msg_id, d.endpoint_id, d.attempts",
        &[&msg_ids, &ep_ids, &statuses, &nexts, &nows],
    )
    .await?;
    let mut attempts = HashMap::with_capacity(updated.len());
    for row in &updated {
        attempts.insert((col(row, 0)?, col(row, 1)?), col(row, 2)?);
    }
    Ok(attempts)
}

/// After a failed attempt: the endpoint's run of failures by
/// [`AttemptResult::after_failure`]. The caller has locked the endpoint row.
async fn failure_effects(
    c: &impl GenericClient,
    r: &AttemptResult,
    mut effects: AttemptEffects,
) -> StoreResult<AttemptEffects> {
    let a = &r.attempt;
    let row = query_opt(
        c,
        "SELECT failing_since, disabled FROM endpoints WHERE id = $1",
        &[&a.endpoint_id],
    )
    .await?;
    let Some(row) = row else {
        return Ok(effects);
    };
    let rule = r.after_failure(col::<Option<i64>>(&row, 0)?.map(Timestamp), col(&row, 1)?);
    effects.failing_since = Some(rule.failing_since);
    if rule.starts_run {
        execute(
            c,
            "UPDATE endpoints SET failing_since = $2 WHERE id = $1",
            &[&a.endpoint_id, &rule.failing_since.0],
        )
        .await?;
    }
    if let Some(reason) = rule.disable {
        execute(
            c,
            "UPDATE endpoints SET disabled = true, updated_at = $2 WHERE id = $1",
            &[&a.endpoint_id, &a.timestamp.0],
        )
        .await?;
        effects.disabled = Some(reason);
    }
    Ok(effects)
}

/// Records attempts of distinct deliveries in a few statements; failures are
/// then handled one by one (the rare case, and their order matters).
async fn record_batch(
    c: &impl GenericClient,
    batch: &[AttemptResult],
) -> StoreResult<Vec<AttemptEffects>> {
    let attempts = update_deliveries(c, batch).await?;
    let key = |r: &AttemptResult| (r.attempt.msg_id.clone(), r.attempt.endpoint_id.clone());
    let present: Vec<&AttemptResult> = batch
        .iter()
        .filter(|r| attempts.contains_key(&key(r)))
        .collect();
    if !present.is_empty() {
        insert_attempts(c, &present).await?;
        let mut succeeded: Vec<&str> = present
            .iter()
            .filter(|r| r.next == NextStep::Success)
            .map(|r| r.attempt.endpoint_id.as_str())
            .collect();
        succeeded.sort_unstable();
        succeeded.dedup();
        if !succeeded.is_empty() {
            execute(
                c,
                "UPDATE endpoints SET failing_since = NULL \
                 WHERE id = ANY($1) AND failing_since IS NOT NULL",
                &[&succeeded],
            )
            .await?;
        }
    }
    let mut out = Vec::with_capacity(batch.len());
    for r in batch {
        let effects = match attempts.get(&key(r)) {
            None => AttemptEffects {
                gone: true,
                ..Default::default()
            },
            Some(&count) => AttemptEffects {
                attempts: count,
                ..Default::default()
            },
        };
        if effects.gone || r.next == NextStep::Success {
            out.push(effects);
        } else {
            out.push(failure_effects(c, r, effects).await?);
        }
    }
    Ok(out)
}

impl PostgresStore {
    /// Attempt listings: filters, pagination, and the messages when asked,
    /// all read from one snapshot.
    async fn list_attempts(
        &self,
        op: &'static str,
        app_id: &str,
        of: AttemptsOf<'_>,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>> {
        let sql = listings::attempts(Dialect::Postgres, app_id, of, q, f);
        let rows = if f.with_msg {
            self.transaction(op, Mode::Snapshot, async |t| {
                let mut rows = all(&query_sql(t, &sql).await?, records::attempt)?;
                attach_messages(t, &mut rows).await?;
                Ok(rows)
            })
            .await?
        } else {
            // One statement: as consistent as a transaction, and cheaper.
            self.single(op, async |c| {
                all(&query_sql(c, &sql).await?, records::attempt)
            })
            .await?
        };
        Ok(Page::from_rows(rows, q, |a| a.id.clone()))
    }
}

#[async_trait]
impl AttemptStore for PostgresStore {
    async fn list_attempts_by_endpoint(
        &self,
        app_id: &str,
        endpoint_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>> {
        let of = AttemptsOf::Endpoint(endpoint_id);
        self.list_attempts("list_attempts_by_endpoint", app_id, of, q, f)
            .await
    }

    async fn list_attempts_by_message(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>> {
        let of = AttemptsOf::Message(msg_id);
        self.list_attempts("list_attempts_by_message", app_id, of, q, f)
            .await
    }

    async fn get_attempt(
        &self,
        app_id: &str,
        msg_id: &str,
        attempt_id: &str,
    ) -> StoreResult<Option<Attempt>> {
        self.single("get_attempt", async |c| {
            query_opt(
                c,
                concatcp!(
                    "SELECT ",
                    ATT_COLS,
                    " FROM attempts a WHERE a.app_id = $1 AND a.msg_id = $2 AND a.id = $3"
                ),
                &[&app_id, &msg_id, &attempt_id],
            )
            .await?
            .map(|r| records::attempt(&r))
            .transpose()
        })
        .await
    }

    async fn record_attempts(&self, batch: Vec<AttemptResult>) -> StoreResult<Vec<AttemptEffects>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let effects = self
            .transaction("record_attempts", Mode::Write, async |t| {
                // Lock the batch's endpoints, then its deliveries, in key order
                // before touching any: concurrent batches (other nodes) sharing
                // rows then queue behind each other instead of deadlocking.
                // NO KEY UPDATE still lets message inserts reference the rows.
                let mut endpoints: Vec<&str> = batch
                    .iter()
                    .map(|r| r.attempt.endpoint_id.as_str())
                    .collect();
                endpoints.sort_unstable();
                endpoints.dedup();
                execute(
                    t,
                    "SELECT 1 FROM endpoints WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
                    &[&endpoints],
                )
                .await?;
                let msgs: Vec<&str> = batch.iter().map(|r| r.attempt.msg_id.as_str()).collect();
                let eps: Vec<&str> = batch
                    .iter()
                    .map(|r| r.attempt.endpoint_id.as_str())
                    .collect();
                execute(
                    t,
                    "SELECT 1 FROM deliveries d JOIN unnest($1::text[], $2::text[]) AS k(m, e) \
                     ON d.msg_id = k.m AND d.endpoint_id = k.e \
                     ORDER BY d.msg_id, d.endpoint_id FOR NO KEY UPDATE OF d",
                    &[&msgs, &eps],
                )
                .await?;
                let mut keys: Vec<(&str, &str)> =
                    msgs.iter().copied().zip(eps.iter().copied()).collect();
                keys.sort_unstable();
                keys.dedup();
                let effects = if keys.len() < batch.len() {
                    // Two attempts of one delivery in a batch: their order
                    // matters, so record them one by one.
                    let mut out = Vec::with_capacity(batch.len());
                    for r in &batch {
                        out.extend(record_batch(t, std::slice::from_ref(r)).await?);
                    }
                    out
                } else {
                    record_batch(t, &batch).await?
                };
                for (r, e) in batch.iter().zip(&effects) {
                    if e.disabled.is_some() {
                        let change = Change::Endpoint(r.attempt.endpoint_id.clone());
                        notify(t, &self.origin, &change).await?;
                    }
                }
                Ok(effects)
            })
            .await?;
        for (r, e) in batch.iter().zip(&effects) {
            if e.disabled.is_some() {
                self.emit(Change::Endpoint(r.attempt.endpoint_id.clone()));
            }
        }
        Ok(effects)
    }
}
