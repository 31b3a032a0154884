//! [`EventTypeStore`] on SQLite.

use async_trait::async_trait;
use hookd_core::model::EventType;
use hookd_core::store::{
    Change, Conflict, EventTypeStore, ImportPlan, ListQuery, Mutation, Page, StoreResult,
    plan_import, replace_archived,
};
use hookd_core::time::Timestamp;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::rows::{execute, execute_unique, query_one, query_rows, query_sql};
use crate::listings;
use crate::records::{self, ET_COLS, event_type_args};
use crate::sql::Dialect;

fn find_event_type(conn: &Connection, org_id: &str, name: &str) -> StoreResult<Option<EventType>> {
    let sql = const_format::concatcp!(
        "SELECT ",
        ET_COLS,
        " FROM event_types WHERE org_id = ?1 AND name = ?2"
    );
    query_one(conn, sql, params![org_id, name], records::event_type)
}

/// Inserts the event type, or overwrites the stored one of that name.
fn write_event_type(conn: &Connection, et: &EventType) -> StoreResult<()> {
    let sql = "INSERT INTO event_types (org_id, name, description, archived, deprecated, \
         schemas, feature_flags, group_name, created_at, updated_at, retry_schedule) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (org_id, name) DO UPDATE SET description = excluded.description, \
         archived = excluded.archived, deprecated = excluded.deprecated, schemas = excluded.schemas, \
         feature_flags = excluded.feature_flags, group_name = excluded.group_name, \
         created_at = excluded.created_at, updated_at = excluded.updated_at, \
         retry_schedule = excluded.retry_schedule";
    execute_unique(conn, sql, event_type_args(et), Conflict::EventTypeName)?;
    Ok(())
}

#[async_trait]
impl EventTypeStore for SqliteStore {
    async fn create_event_type(&self, et: EventType) -> StoreResult<EventType> {
        let et = self
            .db
            .write("create_event_type", move |conn| {
                let et = match find_event_type(conn, &et.org_id, &et.name)? {
                    Some(existing) => replace_archived(&existing, et)?,
                    None => et,
                };
                write_event_type(conn, &et)?;
                Ok(et)
            })
            .await?;
        self.db.hub.emit(changed(&et));
        Ok(et)
    }

    async fn get_event_type(&self, org_id: &str, name: &str) -> StoreResult<Option<EventType>> {
        let (org_id, name) = (org_id.to_string(), name.to_string());
        self.db
            .read("get_event_type", move |conn| {
                find_event_type(conn, &org_id, &name)
            })
            .await
    }

    async fn list_event_types(
        &self,
        org_id: &str,
        q: &ListQuery,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>> {
        let sql = listings::event_types(Dialect::Sqlite, org_id, q, include_archived);
        let rows = self
            .db
            .read("list_event_types", move |conn| {
                query_sql(conn, sql, records::event_type)
            })
            .await?;
        Ok(Page::from_rows(rows, q, |e| e.name.clone()))
    }

    async fn modify_event_type(
        &self,
        org_id: &str,
        name: &str,
        f: Mutation<EventType>,
    ) -> StoreResult<Option<EventType>> {
        let (org_id, name) = (org_id.to_string(), name.to_string());
        let et = self
            .db
            .write("modify_event_type", move |conn| {
                let Some(mut et) = find_event_type(conn, &org_id, &name)? else {
                    return Ok(None);
                };
                f(&mut et);
                write_event_type(conn, &et)?;
                Ok(Some(et))
            })
            .await?;
        if let Some(et) = &et {
            self.db.hub.emit(changed(et));
        }
        Ok(et)
    }

    async fn delete_event_type(&self, org_id: &str, name: &str) -> StoreResult<bool> {
        let change = Change::EventType(org_id.to_string(), name.to_string());
        let (org_id, name) = (org_id.to_string(), name.to_string());
        let deleted = self
            .db
            .write("delete_event_type", move |conn| {
                let n = execute(
                    conn,
                    "DELETE FROM event_types WHERE org_id = ?1 AND name = ?2",
                    params![org_id, name],
                )?;
                Ok(n > 0)
            })
            .await?;
        if deleted {
            self.db.hub.emit(change);
        }
        Ok(deleted)
    }

    async fn import_event_types(
        &self,
        org_id: &str,
        imported: Vec<EventType>,
        replace_all: bool,
        now: Timestamp,
    ) -> StoreResult<ImportPlan> {
        let org_id = org_id.to_string();
        let plan = self
            .db
            .write("import_event_types", move |conn| {
                let sql = const_format::concatcp!(
                    "SELECT ",
                    ET_COLS,
                    " FROM event_types WHERE org_id = ?1 ORDER BY name"
                );
                let existing = query_rows(conn, sql, params![org_id], records::event_type)?;
                let plan = plan_import(&existing, imported, replace_all, now);
                for et in plan.writes() {
                    write_event_type(conn, et)?;
                }
                Ok(plan)
            })
            .await?;
        for et in plan.writes() {
            self.db.hub.emit(changed(et));
        }
        Ok(plan)
    }
}

fn changed(et: &EventType) -> Change {
    Change::EventType(et.org_id.clone(), et.name.clone())
}
