//! Retention: payloads and response bodies are expunged when their time is up.

use async_trait::async_trait;

use super::StoreResult;
use crate::time::Timestamp;

/// What an expunged payload reads as.
pub const EXPUNGED_PAYLOAD: &str = "{}";

#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Replaces the payloads of up to `limit` messages whose retention ended
    /// by `now` with [`EXPUNGED_PAYLOAD`], and empties their attempts'
    /// response bodies; returns how many messages it expunged.
    async fn expunge_expired(&self, now: Timestamp, limit: usize) -> StoreResult<usize>;
    /// Expunges one message's payload and response bodies now; `false` if
    /// the application has no such message.
    async fn expunge_message(&self, app_id: &str, msg_id: &str) -> StoreResult<bool>;
}
