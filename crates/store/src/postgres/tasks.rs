//! [`TaskStore`] on PostgreSQL: tasks of dead nodes are failed under row
//! locks, so sweeping nodes share the work and a task's own node, still
//! writing its progress, is never overruled by a stale read.

use async_trait::async_trait;
use const_format::concatcp;
use deadpool_postgres::Transaction;
use hookd_core::model::{BackgroundTask, TaskStatus};
use hookd_core::store::{
    ListQuery, Page, StoreResult, TaskFilter, TaskStore, dead_task_cutoff, failed_data,
};
use hookd_core::time::Timestamp;
use serde_json::Value;

use super::PostgresStore;
use super::conn::{Mode, execute, params, query, query_opt, query_sql};
use super::rows::all;
use crate::codec::json;
use crate::listings;
use crate::records::{self, TASK_COLS, task_args};
use crate::sql::{Dialect, TASK_RUNNING};

/// Fails each running task given, keeping its progress; how many it failed.
async fn fail_each(
    t: &Transaction<'_>,
    found: Vec<(String, Value)>,
    reason: &str,
    now: Timestamp,
) -> StoreResult<usize> {
    let mut n = 0;
    for (id, progress) in found {
        let data = json(&failed_data(progress, reason));
        n += execute(
            t,
            concatcp!(
                "UPDATE background_tasks SET status = $2, data = $3, updated_at = $4 \
                 WHERE id = $1 AND status = '",
                TASK_RUNNING,
                "'"
            ),
            &[&id, &TaskStatus::Failed.as_str(), &data, &now.0],
        )
        .await?;
    }
    Ok(n as usize)
}

#[async_trait]
impl TaskStore for PostgresStore {
    async fn create_task(&self, task: BackgroundTask) -> StoreResult<BackgroundTask> {
        self.single("create_task", async |c| {
            execute(
                c,
                concatcp!(
                    "INSERT INTO background_tasks (",
                    TASK_COLS,
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ),
                &params(&task_args(&task)),
            )
            .await
        })
        .await?;
        Ok(task)
    }

    async fn get_task(&self, org_id: &str, id: &str) -> StoreResult<Option<BackgroundTask>> {
        self.single("get_task", async |c| {
            query_opt(
                c,
                concatcp!(
                    "SELECT ",
                    TASK_COLS,
                    " FROM background_tasks WHERE org_id = $1 AND id = $2"
                ),
                &[&org_id, &id],
            )
            .await?
            .map(|r| records::task(&r))
            .transpose()
        })
        .await
    }

    async fn list_tasks(
        &self,
        org_id: &str,
        q: &ListQuery,
        f: &TaskFilter,
    ) -> StoreResult<Page<BackgroundTask>> {
        let sql = listings::tasks(Dialect::Postgres, org_id, q, f);
        let rows = self
            .single("list_tasks", async |c| query_sql(c, &sql).await)
            .await?;
        Ok(Page::from_rows(all(&rows, records::task)?, q, |t| {
            t.id.clone()
        }))
    }

    async fn update_task(&self, id: &str, data: &Value, now: Timestamp) -> StoreResult<bool> {
        let data = json(data);
        let n = self
            .single("update_task", async |c| {
                execute(
                    c,
                    concatcp!(
                        "UPDATE background_tasks SET data = $2, updated_at = $3 \
                         WHERE id = $1 AND status = '",
                        TASK_RUNNING,
                        "'"
                    ),
                    &[&id, &data, &now.0],
                )
                .await
            })
            .await?;
        Ok(n > 0)
    }

    async fn finish_task(
        &self,
        id: &str,
        status: TaskStatus,
        data: &Value,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let data = json(data);
        let n = self
            .single("finish_task", async |c| {
                execute(
                    c,
                    concatcp!(
                        "UPDATE background_tasks SET status = $2, data = $3, updated_at = $4 \
                         WHERE id = $1 AND status = '",
                        TASK_RUNNING,
                        "'"
                    ),
                    &[&id, &status.as_str(), &data, &now.0],
                )
                .await
            })
            .await?;
        Ok(n > 0)
    }

    async fn touch_tasks(&self, ids: &[String], now: Timestamp) -> StoreResult<usize> {
        let n = self
            .single("touch_tasks", async |c| {
                execute(
                    c,
                    concatcp!(
                        "UPDATE background_tasks SET updated_at = $2 \
                         WHERE id = ANY($1) AND status = '",
                        TASK_RUNNING,
                        "'"
                    ),
                    &[&ids, &now.0],
                )
                .await
            })
            .await?;
        Ok(n as usize)
    }

    async fn fail_node_tasks(
        &self,
        node: &str,
        reason: &str,
        now: Timestamp,
    ) -> StoreResult<usize> {
        self.transaction("fail_node_tasks", Mode::Write, async |t| {
            let rows = query(
                t,
                concatcp!(
                    "SELECT id, data FROM background_tasks WHERE node = $1 AND status = '",
                    TASK_RUNNING,
                    "' ORDER BY id FOR UPDATE"
                ),
                &[&node],
            )
            .await?;
            fail_each(t, all(&rows, records::task_progress)?, reason, now).await
        })
        .await
    }

    async fn fail_dead_tasks(
        &self,
        now: Timestamp,
        dead_after_ms: i64,
        reason: &str,
    ) -> StoreResult<usize> {
        let cutoff = dead_task_cutoff(now, dead_after_ms);
        self.transaction("fail_dead_tasks", Mode::Write, async |t| {
            // The conditions are checked again on each row once it is locked,
            // so progress written meanwhile by a live node keeps its task.
            let rows = query(
                t,
                concatcp!(
                    "SELECT t.id, t.data FROM background_tasks t WHERE t.status = '",
                    TASK_RUNNING,
                    "' AND t.updated_at < $1 AND NOT EXISTS (SELECT 1 FROM nodes n \
                     WHERE n.id = t.node AND n.heartbeat_at >= $1) \
                     ORDER BY t.id FOR UPDATE OF t SKIP LOCKED"
                ),
                &[&cutoff.0],
            )
            .await?;
            fail_each(t, all(&rows, records::task_progress)?, reason, now).await
        })
        .await
    }
}
