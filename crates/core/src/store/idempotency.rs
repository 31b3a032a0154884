//! Idempotency keys: the first response to a keyed POST, replayed for 24 h.

use async_trait::async_trait;

use super::StoreResult;
use crate::time::Timestamp;

/// The outcome of starting an idempotent request.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyStart {
    /// First time this key is seen: go ahead, then call `idempotency_complete`.
    Started,
    /// Another request with this key is still running.
    InProgress,
    /// Already answered: replay this response.
    Done {
        fingerprint: String,
        status: u16,
        body: Vec<u8>,
    },
}

impl IdempotencyStart {
    /// What a stored, unexpired key means: answered when it has a status.
    pub fn of_stored(fingerprint: String, status: Option<i64>, body: Option<Vec<u8>>) -> Self {
        match status {
            Some(status) => IdempotencyStart::Done {
                fingerprint,
                status: u16::try_from(status).unwrap_or(500),
                body: body.unwrap_or_default(),
            },
            None => IdempotencyStart::InProgress,
        }
    }
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Starts a request with this key unless a live entry exists; a started
    /// entry is held for `lease_ms` (a request that died frees it then).
    async fn idempotency_start(
        &self,
        org_id: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> StoreResult<IdempotencyStart>;
    async fn idempotency_complete(
        &self,
        org_id: &str,
        key: &str,
        status: u16,
        body: Vec<u8>,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// Forgets a started key whose request failed in a way worth retrying.
    async fn idempotency_abort(&self, org_id: &str, key: &str) -> StoreResult<()>;
}
