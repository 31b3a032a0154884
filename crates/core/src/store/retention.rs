//! Retention: payloads and response bodies are expunged when their time is up.

use async_trait::async_trait;

use super::StoreResult;
use crate::time::Timestamp;

/// What an expunged payload reads as.
pub const EXPUNGED_PAYLOAD: &str = "{}";

/// One batch of expunging an application's messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PurgeBatch {
    /// Payloads expunged by this batch (not those expunged before).
    pub expunged: usize,
    /// The last message id the batch looked at: where the next one starts.
    /// `None` when there was nothing left to look at.
    pub last: Option<String>,
}

#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Replaces the payloads of up to `limit` messages whose retention ended
    /// by `now` with [`EXPUNGED_PAYLOAD`], and empties their attempts'
    /// response bodies; returns how many messages it expunged.
    async fn expunge_expired(&self, now: Timestamp, limit: usize) -> StoreResult<usize>;
    /// Expunges one message's payload and response bodies now; `false` if
    /// the application has no such message.
    async fn expunge_message(&self, app_id: &str, msg_id: &str) -> StoreResult<bool>;
    /// Expunges the next `limit` messages of the application created before
    /// `before`, in id order after `after` (a purge, one bounded batch at a time).
    async fn expunge_app_messages(
        &self,
        app_id: &str,
        before: Timestamp,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<PurgeBatch>;
    /// Expunges each message named (by id or `eventId`) in one transaction;
    /// for each, whether the application has it.
    async fn expunge_messages(&self, app_id: &str, ids: &[String]) -> StoreResult<Vec<bool>>;
    /// Empties one attempt's response body (Svix `expunge-content` of an
    /// attempt); `false` if the application has no such attempt of that message.
    async fn expunge_attempt_content(
        &self,
        app_id: &str,
        msg_id: &str,
        attempt_id: &str,
    ) -> StoreResult<bool>;
}
