//! Organisations and their API keys (stored as hashes, never the key).

use async_trait::async_trait;

use super::StoreResult;
use crate::model::{ApiKey, Org, Scope};

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
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// `false` when no active key has this id.
    async fn revoke_api_key(&self, id: &str) -> StoreResult<bool>;
    /// The active key with this hash.
    async fn find_api_key(&self, hash: [u8; 32]) -> StoreResult<Option<ApiKey>>;
}
