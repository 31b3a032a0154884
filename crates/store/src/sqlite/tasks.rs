//! [`TaskStore`] on SQLite.

use async_trait::async_trait;
use const_format::concatcp;
use hookd_core::model::{BackgroundTask, TaskStatus};
use hookd_core::store::{
    ListQuery, Page, StoreResult, TaskFilter, TaskStore, dead_task_cutoff, failed_data,
};
use hookd_core::time::Timestamp;
use rusqlite::{Connection, params};
use serde_json::Value;

use super::SqliteStore;
use super::rows::{execute, query_one, query_rows, query_sql, values};
use crate::codec::json;
use crate::listings;
use crate::records::{self, TASK_COLS, task_args};
use crate::sql::{Dialect, TASK_RUNNING};

/// Fails each running task given, keeping its progress; how many it failed.
fn fail_each(
    conn: &Connection,
    found: Vec<(String, Value)>,
    reason: &str,
    now: Timestamp,
) -> StoreResult<usize> {
    let mut n = 0;
    for (id, progress) in found {
        n += execute(
            conn,
            concatcp!(
                "UPDATE background_tasks SET status = ?2, data = ?3, updated_at = ?4 \
                 WHERE id = ?1 AND status = '",
                TASK_RUNNING,
                "'"
            ),
            params![
                id,
                TaskStatus::Failed.as_str(),
                json(&failed_data(progress, reason)),
                now.0
            ],
        )?;
    }
    Ok(n)
}

#[async_trait]
impl TaskStore for SqliteStore {
    async fn create_task(&self, task: BackgroundTask) -> StoreResult<BackgroundTask> {
        self.db
            .write("create_task", move |conn| {
                conn.prepare_cached(concatcp!(
                    "INSERT INTO background_tasks (",
                    TASK_COLS,
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ))
                .and_then(|mut st| st.execute(values(task_args(&task))))
                .map_err(super::db::db_err)?;
                Ok(task)
            })
            .await
    }

    async fn get_task(&self, org_id: &str, id: &str) -> StoreResult<Option<BackgroundTask>> {
        let (org_id, id) = (org_id.to_string(), id.to_string());
        self.db
            .read("get_task", move |conn| {
                query_one(
                    conn,
                    concatcp!(
                        "SELECT ",
                        TASK_COLS,
                        " FROM background_tasks WHERE org_id = ?1 AND id = ?2"
                    ),
                    params![org_id, id],
                    records::task,
                )
            })
            .await
    }

    async fn list_tasks(
        &self,
        org_id: &str,
        q: &ListQuery,
        f: &TaskFilter,
    ) -> StoreResult<Page<BackgroundTask>> {
        let sql = listings::tasks(Dialect::Sqlite, org_id, q, f);
        let rows = self
            .db
            .read("list_tasks", move |conn| {
                query_sql(conn, sql, records::task)
            })
            .await?;
        Ok(Page::from_rows(rows, q, |t| t.id.clone()))
    }

    async fn update_task(&self, id: &str, data: &Value, now: Timestamp) -> StoreResult<bool> {
        let (id, data) = (id.to_string(), json(data));
        self.db
            .write("update_task", move |conn| {
                let n = execute(
                    conn,
                    concatcp!(
                        "UPDATE background_tasks SET data = ?2, updated_at = ?3 \
                         WHERE id = ?1 AND status = '",
                        TASK_RUNNING,
                        "'"
                    ),
                    params![id, data, now.0],
                )?;
                Ok(n > 0)
            })
            .await
    }

    async fn finish_task(
        &self,
        id: &str,
        status: TaskStatus,
        data: &Value,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (id, data) = (id.to_string(), json(data));
        self.db
            .write("finish_task", move |conn| {
                let n = execute(
                    conn,
                    concatcp!(
                        "UPDATE background_tasks SET status = ?2, data = ?3, updated_at = ?4 \
                         WHERE id = ?1 AND status = '",
                        TASK_RUNNING,
                        "'"
                    ),
                    params![id, status.as_str(), data, now.0],
                )?;
                Ok(n > 0)
            })
            .await
    }

    async fn touch_tasks(&self, ids: &[String], now: Timestamp) -> StoreResult<usize> {
        let ids = ids.to_vec();
        self.db
            .write("touch_tasks", move |conn| {
                let mut n = 0;
                for id in ids {
                    n += execute(
                        conn,
                        concatcp!(
                            "UPDATE background_tasks SET updated_at = ?2 \
                             WHERE id = ?1 AND status = '",
                            TASK_RUNNING,
                            "'"
                        ),
                        params![id, now.0],
                    )?;
                }
                Ok(n)
            })
            .await
    }

    async fn fail_node_tasks(
        &self,
        node: &str,
        reason: &str,
        now: Timestamp,
    ) -> StoreResult<usize> {
        let (node, reason) = (node.to_string(), reason.to_string());
        self.db
            .write("fail_node_tasks", move |conn| {
                let found = query_rows(
                    conn,
                    concatcp!(
                        "SELECT id, data FROM background_tasks WHERE node = ?1 AND status = '",
                        TASK_RUNNING,
                        "'"
                    ),
                    params![node],
                    records::task_progress,
                )?;
                fail_each(conn, found, &reason, now)
            })
            .await
    }

    async fn fail_dead_tasks(
        &self,
        now: Timestamp,
        dead_after_ms: i64,
        reason: &str,
    ) -> StoreResult<usize> {
        let reason = reason.to_string();
        let cutoff = dead_task_cutoff(now, dead_after_ms);
        self.db
            .write("fail_dead_tasks", move |conn| {
                let found = query_rows(
                    conn,
                    concatcp!(
                        "SELECT t.id, t.data FROM background_tasks t WHERE t.status = '",
                        TASK_RUNNING,
                        "' AND t.updated_at < ?1 AND NOT EXISTS (SELECT 1 FROM nodes n \
                         WHERE n.id = t.node AND n.heartbeat_at >= ?1)"
                    ),
                    params![cutoff.0],
                    records::task_progress,
                )?;
                fail_each(conn, found, &reason, now)
            })
            .await
    }
}
