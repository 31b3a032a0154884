//! Event types: the organisation's catalogue of what its messages can be.
//!
//! Every write (create, modify, delete, import) is reported to the store's
//! watchers as `Change::EventType`, so caches of event types (the delivery
//! engine's retry schedules) drop their copy, on every node.

use async_trait::async_trait;

use super::{Conflict, ListQuery, Mutation, Page, StoreResult};
use crate::model::EventType;
use crate::time::Timestamp;

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
    /// Applies [`plan_import`] to the organisation's stored event types (all
    /// of them, archived included) in one transaction: everything the plan
    /// names is written, or nothing. Returns the plan applied.
    async fn import_event_types(
        &self,
        org_id: &str,
        imported: Vec<EventType>,
        replace_all: bool,
        now: Timestamp,
    ) -> StoreResult<ImportPlan>;
}

/// What importing a catalogue (an OpenAPI document's webhooks) does to the
/// stored event types.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportPlan {
    /// Imported event types that are new or differ from the stored ones, as
    /// they are to be stored, in import order.
    pub upserts: Vec<EventType>,
    /// Stored event types the import does not name, archived (`replaceAll`),
    /// as they are to be stored.
    pub archived: Vec<EventType>,
}

impl ImportPlan {
    /// Every record the plan writes.
    pub fn writes(&self) -> impl Iterator<Item = &EventType> {
        self.upserts.iter().chain(&self.archived)
    }
}

/// The import rule. An imported event type replaces the description,
/// schemas, deprecation, group and feature flags of the stored one of its
/// name and unarchives it, keeping what the document does not describe (its
/// creation time, its retry schedule); one identical to the stored one is
/// left alone, so importing the same document twice changes nothing. With
/// `replace_all`, active event types the import does not name are archived.
pub fn plan_import(
    existing: &[EventType],
    imported: Vec<EventType>,
    replace_all: bool,
    now: Timestamp,
) -> ImportPlan {
    let mut plan = ImportPlan::default();
    let mut named: Vec<String> = Vec::with_capacity(imported.len());
    for new in imported {
        if named.contains(&new.name) {
            continue;
        }
        named.push(new.name.clone());
        let Some(old) = existing.iter().find(|e| e.name == new.name) else {
            plan.upserts.push(EventType {
                archived: false,
                retry_schedule: None,
                created_at: now,
                updated_at: now,
                ..new
            });
            continue;
        };
        let merged = EventType {
            archived: false,
            retry_schedule: old.retry_schedule.clone(),
            created_at: old.created_at,
            updated_at: old.updated_at,
            org_id: old.org_id.clone(),
            ..new
        };
        if merged != *old {
            plan.upserts.push(EventType {
                updated_at: now,
                ..merged
            });
        }
    }
    if replace_all {
        for old in existing {
            if !old.archived && !named.contains(&old.name) {
                plan.archived.push(EventType {
                    archived: true,
                    updated_at: now,
                    ..old.clone()
                });
            }
        }
    }
    plan
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

    fn named(name: &str, description: &str) -> EventType {
        EventType {
            name: name.into(),
            description: description.into(),
            ..et(false, 1)
        }
    }

    #[test]
    fn imports_write_only_what_changes() {
        let mut kept = named("a", "same");
        kept.retry_schedule = Some(vec![1, 2]);
        let mut archived = named("b", "was archived");
        archived.archived = true;
        let existing = vec![
            kept.clone(),
            archived.clone(),
            named("c", "old"),
            named("d", "untouched"),
        ];
        let now = Timestamp(50);
        let imported = vec![
            // Identical to the stored one (schedule and times are not the document's).
            EventType {
                retry_schedule: None,
                created_at: now,
                updated_at: now,
                ..kept.clone()
            },
            named("b", "was archived"),
            named("c", "new text"),
            named("e", "brand new"),
            named("c", "a duplicate is ignored"),
        ];
        let plan = plan_import(&existing, imported.clone(), false, now);
        let names: Vec<&str> = plan.upserts.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "e"]);
        assert!(plan.archived.is_empty());
        let b = &plan.upserts[0];
        assert!(!b.archived, "importing unarchives");
        assert_eq!((b.created_at, b.updated_at), (Timestamp(1), now));
        assert_eq!(plan.upserts[1].description, "new text");
        let e = &plan.upserts[2];
        assert_eq!(
            (e.created_at, e.updated_at, e.retry_schedule.clone()),
            (now, now, None)
        );

        // replace_all archives the active ones not named, and no others.
        let plan = plan_import(&existing, imported, true, now);
        let archived: Vec<&str> = plan.archived.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(archived, ["d"]);
        assert!(plan.archived[0].archived);
        assert_eq!(plan.archived[0].updated_at, now);
        assert_eq!(plan.writes().count(), 4);

        // A changed event type keeps its stored retry schedule.
        let plan = plan_import(&existing, vec![named("a", "changed")], false, now);
        assert_eq!(plan.upserts[0].retry_schedule, Some(vec![1, 2]));
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
