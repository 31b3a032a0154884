//! [`AttemptStore`] on SQLite.

use async_trait::async_trait;
use const_format::concatcp;
use hookd_core::model::Attempt;
use hookd_core::store::{
    AttemptEffects, AttemptFilter, AttemptResult, AttemptStore, Change, ListQuery, NextStep, Page,
    StoreResult,
};
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::messages::MSG_BY_ID;
use super::rows::{execute, query_one, query_sql};
use crate::listings::{self, AttemptsOf};
use crate::records::{self, ATT_COLS};
use crate::sql::Dialect;

fn attach_messages(conn: &Connection, attempts: &mut [Attempt]) -> StoreResult<()> {
    for a in attempts.iter_mut() {
        a.msg = query_one(conn, MSG_BY_ID, params![a.msg_id], records::message)?;
    }
    Ok(())
}

/// Records one attempt inside the caller's transaction (see `AttemptStore::record_attempt`).
fn record_one(conn: &Connection, r: &AttemptResult) -> StoreResult<AttemptEffects> {
    let a = &r.attempt;
    let now = a.timestamp;
    let (status, next_at) = r.next.delivery_state();
    let attempts = query_one(
        conn,
        "UPDATE deliveries SET status = ?3, attempts = attempts + 1, \
         next_attempt_at = ?4, manual = 0, updated_at = ?5 \
         WHERE msg_id = ?1 AND endpoint_id = ?2 RETURNING attempts",
        params![
            a.msg_id,
            a.endpoint_id,
            status as i64,
            next_at.map(|t| t.0),
            now.0
        ],
        |row| row.int(0),
    )?;
    let Some(attempts) = attempts else {
        return Ok(AttemptEffects {
            gone: true,
            ..Default::default()
        });
    };
    let (sent, received) = records::attempt_headers(a);
    execute(
        conn,
        "INSERT INTO attempts (id, msg_id, endpoint_id, app_id, url, status, \
         response_status, response, duration_ms, trigger_type, error_class, created_at, \
         sent_headers, response_headers) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            a.id,
            a.msg_id,
            a.endpoint_id,
            r.app_id,
            a.url,
            a.status as i64,
            a.response_status_code,
            a.response,
            a.response_duration_ms,
            a.trigger_type as i64,
            a.error_class,
            now.0,
            sent,
            received
        ],
    )?;
    let mut effects = AttemptEffects {
        attempts,
        ..Default::default()
    };
    if r.next == NextStep::Success {
        execute(
            conn,
            "UPDATE endpoints SET failing_since = NULL WHERE id = ?1 AND failing_since IS NOT NULL",
            params![a.endpoint_id],
        )?;
        return Ok(effects);
    }
    let state = query_one(
        conn,
        "SELECT failing_since, disabled FROM endpoints WHERE id = ?1",
        params![a.endpoint_id],
        |row| Ok((row.opt_time(0)?, row.flag(1)?)),
    )?;
    let Some((failing_since, disabled)) = state else {
        return Ok(effects);
    };
    let rule = r.after_failure(failing_since, disabled);
    effects.failing_since = Some(rule.failing_since);
    if rule.starts_run {
        execute(
            conn,
            "UPDATE endpoints SET failing_since = ?2 WHERE id = ?1",
            params![a.endpoint_id, rule.failing_since.0],
        )?;
    }
    if let Some(reason) = rule.disable {
        execute(
            conn,
            "UPDATE endpoints SET disabled = 1, updated_at = ?2 WHERE id = ?1",
            params![a.endpoint_id, now.0],
        )?;
        effects.disabled = Some(reason);
    }
    Ok(effects)
}

impl SqliteStore {
    async fn list_attempts(
        &self,
        op: &'static str,
        app_id: &str,
        of: AttemptsOf<'_>,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>> {
        let sql = listings::attempts(Dialect::Sqlite, app_id, of, q, f);
        let with_msg = f.with_msg;
        let rows = self
            .db
            .read(op, move |conn| {
                let mut rows = query_sql(conn, sql, records::attempt)?;
                if with_msg {
                    attach_messages(conn, &mut rows)?;
                }
                Ok(rows)
            })
            .await?;
        Ok(Page::from_rows(rows, q, |a| a.id.clone()))
    }
}

#[async_trait]
impl AttemptStore for SqliteStore {
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
        let (app_id, msg_id, id) = (
            app_id.to_string(),
            msg_id.to_string(),
            attempt_id.to_string(),
        );
        self.db
            .read("get_attempt", move |conn| {
                query_one(
                    conn,
                    concatcp!(
                        "SELECT ",
                        ATT_COLS,
                        " FROM attempts a WHERE a.app_id = ?1 AND a.msg_id = ?2 AND a.id = ?3"
                    ),
                    params![app_id, msg_id, id],
                    records::attempt,
                )
            })
            .await
    }

    async fn record_attempts(&self, batch: Vec<AttemptResult>) -> StoreResult<Vec<AttemptEffects>> {
        let (effects, disabled) = self
            .db
            .write("record_attempts", move |conn| {
                let effects = batch
                    .iter()
                    .map(|r| record_one(conn, r))
                    .collect::<StoreResult<Vec<_>>>()?;
                let disabled: Vec<String> = batch
                    .iter()
                    .zip(&effects)
                    .filter(|(_, e)| e.disabled.is_some())
                    .map(|(r, _)| r.attempt.endpoint_id.clone())
                    .collect();
                Ok((effects, disabled))
            })
            .await?;
        for id in disabled {
            self.db.hub.emit(Change::Endpoint(id));
        }
        Ok(effects)
    }
}
