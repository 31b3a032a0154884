//! Applications: one per customer of the sending application.

use async_trait::async_trait;

use super::{ListQuery, Mutation, Page, StoreResult};
use crate::model::Application;

#[async_trait]
pub trait AppStore: Send + Sync {
    /// Inserts `app`; `Conflict::AppUid` if its uid is taken.
    async fn create_app(&self, app: Application) -> StoreResult<Application>;
    async fn get_app(&self, org_id: &str, id_or_uid: &str) -> StoreResult<Option<Application>>;
    /// By id alone, whatever the organisation (the delivery engine's lookups).
    async fn get_app_by_id(&self, app_id: &str) -> StoreResult<Option<Application>>;
    async fn list_apps(&self, org_id: &str, q: &ListQuery) -> StoreResult<Page<Application>>;
    /// Applies `f` to the stored application atomically; `None` if it does not exist.
    async fn modify_app(
        &self,
        org_id: &str,
        id_or_uid: &str,
        f: Mutation<Application>,
    ) -> StoreResult<Option<Application>>;
    /// Deletes the application and everything under it, its API keys included.
    async fn delete_app(&self, org_id: &str, app_id: &str) -> StoreResult<bool>;
}
