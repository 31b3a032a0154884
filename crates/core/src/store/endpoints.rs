//! Endpoints: where an application's messages go.

use async_trait::async_trait;

use super::{ListQuery, Mutation, Page, StoreResult};
use crate::model::Endpoint;

#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// Inserts `ep`; `Conflict::EndpointUid` if its uid is taken in the application.
    async fn create_endpoint(&self, ep: Endpoint) -> StoreResult<Endpoint>;
    async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> StoreResult<Option<Endpoint>>;
    /// By id alone (the delivery engine's lookups).
    async fn get_endpoint_by_id(&self, endpoint_id: &str) -> StoreResult<Option<Endpoint>>;
    async fn list_endpoints(&self, app_id: &str, q: &ListQuery) -> StoreResult<Page<Endpoint>>;
    async fn modify_endpoint(
        &self,
        app_id: &str,
        id_or_uid: &str,
        f: Mutation<Endpoint>,
    ) -> StoreResult<Option<Endpoint>>;
    /// Deletes the endpoint with its deliveries and attempts.
    async fn delete_endpoint(&self, app_id: &str, endpoint_id: &str) -> StoreResult<bool>;
    /// How many endpoints are disabled, across all organisations (a gauge).
    async fn count_disabled_endpoints(&self) -> StoreResult<u64>;
}
