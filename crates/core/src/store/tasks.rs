//! Background tasks: long operations (replays, broadcasts, purges,
//! statistics) recorded as Svix tasks that run, then finish or fail.
//!
//! A task is held by the node that runs it (`node`). A running task whose
//! node is dead (no heartbeat and no progress for the lease timeout) can
//! never finish, so it is failed; a node restarting on a store of its own
//! fails the tasks of its previous life at start.

use async_trait::async_trait;
use serde_json::Value;

use super::{ListQuery, Page, StoreResult};
use crate::model::{BackgroundTask, TaskKind, TaskStatus};
use crate::time::Timestamp;

/// Where a failed task's data says why it failed.
pub const TASK_ERROR_KEY: &str = "error";

/// Why a task failed when its node stopped running it.
pub const NODE_STOPPED: &str = "the hookd node running this task stopped before it finished";

/// Filters of a task listing.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only this application's tasks (application-scoped keys).
    pub app_id: Option<String>,
    pub status: Option<TaskStatus>,
    pub kind: Option<TaskKind>,
}

/// The data of a failed task: its progress so far (an object, or nothing),
/// with the reason under [`TASK_ERROR_KEY`].
pub fn failed_data(progress: Value, reason: &str) -> Value {
    let mut data = match progress {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    data.insert(TASK_ERROR_KEY.into(), Value::String(reason.to_string()));
    Value::Object(data)
}

/// Running tasks last updated before this, whose node has not heartbeat
/// since either, belong to a dead node.
pub fn dead_task_cutoff(now: Timestamp, dead_after_ms: i64) -> Timestamp {
    Timestamp(now.0.saturating_sub(dead_after_ms.max(0)))
}

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Inserts a task (as [`BackgroundTask::start`] makes it).
    async fn create_task(&self, task: BackgroundTask) -> StoreResult<BackgroundTask>;
    async fn get_task(&self, org_id: &str, id: &str) -> StoreResult<Option<BackgroundTask>>;
    /// The organisation's tasks, by id (creation order).
    async fn list_tasks(
        &self,
        org_id: &str,
        q: &ListQuery,
        f: &TaskFilter,
    ) -> StoreResult<Page<BackgroundTask>>;
    /// Records a running task's progress; `false` when it is not running
    /// any more (it was failed as a dead node's), so the work should stop.
    async fn update_task(&self, id: &str, data: &Value, now: Timestamp) -> StoreResult<bool>;
    /// Ends a running task as `status` with its result; `false` when it was
    /// not running (already ended).
    async fn finish_task(
        &self,
        id: &str,
        status: TaskStatus,
        data: &Value,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Shows these running tasks alive at `now` (nodes that do not
    /// heartbeat, API-only ones, keep their tasks from looking dead).
    async fn touch_tasks(&self, ids: &[String], now: Timestamp) -> StoreResult<usize>;
    /// Fails every running task of `node` with `reason` (kept with the
    /// progress, per [`failed_data`]); returns how many.
    async fn fail_node_tasks(&self, node: &str, reason: &str, now: Timestamp)
    -> StoreResult<usize>;
    /// Fails the running tasks of dead nodes: not updated since
    /// [`dead_task_cutoff`], their node without a heartbeat since then.
    async fn fail_dead_tasks(
        &self,
        now: Timestamp,
        dead_after_ms: i64,
        reason: &str,
    ) -> StoreResult<usize>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failures_keep_the_progress_and_say_why() {
        assert_eq!(
            failed_data(json!({"messagesSent": 3}), "boom"),
            json!({"messagesSent": 3, "error": "boom"})
        );
        assert_eq!(failed_data(Value::Null, "boom"), json!({"error": "boom"}));
        assert_eq!(
            failed_data(json!({"error": "old"}), "new"),
            json!({"error": "new"})
        );
    }

    #[test]
    fn the_dead_cutoff_is_the_lease_before_now() {
        assert_eq!(dead_task_cutoff(Timestamp(10_000), 3_000), Timestamp(7_000));
        assert_eq!(dead_task_cutoff(Timestamp(10_000), -5), Timestamp(10_000));
        assert_eq!(
            dead_task_cutoff(Timestamp(i64::MIN + 1), 10),
            Timestamp(i64::MIN)
        );
    }
}
