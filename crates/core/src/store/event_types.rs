//! Event types: the organisation's catalogue of what its messages can be.

use async_trait::async_trait;

use super::{Conflict, ListQuery, Mutation, Page, StoreResult};
use crate::model::EventType;

#[async_trait]
pub trait EventTypeStore: Send + Sync {
    /// Inserts `et`; see [`replace_archived`] for a name already stored.
    async fn create_event_type(&self, et: EventType) -> StoreResult<EventType>;
    async fn get_event_type(&self, org_id: &str, name: &str) -> StoreResult<Option<EventType>>;
    async fn list_event_types(
        &self,
        org_id: &str,
        q: &ListQuery,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>>;
    async fn modify_event_type(
        &self,
        org_id: &str,
        name: &str,
        f: Mutation<EventType>,
    ) -> StoreResult<Option<EventType>>;
    /// Removes the event type for good (`expunge`).
    async fn delete_event_type(&self, org_id: &str, name: &str) -> StoreResult<bool>;
}

/// Creating an event type whose name is stored already: an archived one is
/// replaced (unarchived, keeping its creation time), an active one is a conflict.
pub fn replace_archived(existing: &EventType, new: EventType) -> Result<EventType, Conflict> {
    if !existing.archived {
        return Err(Conflict::EventTypeName);
    }
    Ok(EventType {
        created_at: existing.created_at,
        ..new
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn et(archived: bool, created: i64) -> EventType {
        EventType {
            name: "a".into(),
            org_id: "org_x".into(),
            description: format!("created {created}"),
            archived,
            deprecated: false,
            schemas: None,
            feature_flags: None,
            group_name: None,
            retry_schedule: None,
            created_at: Timestamp(created),
            updated_at: Timestamp(created),
        }
    }

    #[test]
    fn archived_types_are_replaced_active_ones_conflict() {
        let replaced = replace_archived(&et(true, 1), et(false, 2)).unwrap_or_else(|_| et(true, 0));
        assert_eq!(replaced.created_at, Timestamp(1));
        assert_eq!(replaced.description, "created 2");
        assert!(!replaced.archived);
        assert_eq!(
            replace_archived(&et(false, 1), et(false, 2)),
            Err(Conflict::EventTypeName)
        );
    }
}
