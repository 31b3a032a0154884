//! Organisations and their API keys (stored as hashes, never the key).

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{ApiKey, NewToken, Org, Scope};
use crate::time::Timestamp;

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// The organisation named `name`, created if missing.
    async fn ensure_org(&self, name: &str) -> StoreResult<Org>;
    async fn create_api_key(
        &self,
        org_id: &str,
        scope: Scope,
        name: Option<String>,
        hash: [u8; 32],
    ) -> StoreResult<ApiKey>;
    /// Issues an expiring token (portal tokens, dashboard sessions).
    async fn issue_token(&self, token: NewToken) -> StoreResult<ApiKey>;
    /// The API keys (not portal tokens or sessions), oldest first.
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// `false` when no active key has this id.
    async fn revoke_api_key(&self, id: &str) -> StoreResult<bool>;
    /// The key with this hash that is neither revoked nor expired at `now`.
    async fn find_api_key(&self, hash: [u8; 32], now: Timestamp) -> StoreResult<Option<ApiKey>>;
    /// Makes the application's portal tokens expire at `at` at the latest
    /// (only those of `session_ids`, when given); returns how many changed.
    async fn expire_portal_tokens(
        &self,
        app_id: &str,
        at: Timestamp,
        session_ids: Option<&[String]>,
    ) -> StoreResult<u64>;
}
