//! [`EventTypeStore`] on SQLite.

use async_trait::async_trait;
use hookd_core::model::EventType;
use hookd_core::store::{EventTypeStore, ListQuery, Mutation, Page, StoreResult, replace_archived};
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::rows::{self, ET_COLS, execute, query_one, query_sql, sql};
use crate::codec::json_opt;

fn find_event_type(conn: &Connection, org_id: &str, name: &str) -> StoreResult<Option<EventType>> {
    query_one(
        conn,
        const_format::concatcp!(
            "SELECT ",
            ET_COLS,
            " FROM event_types WHERE org_id = ?1 AND name = ?2"
        ),
        params![org_id, name],
        rows::event_type,
    )
}

/// Inserts the event type, or overwrites the stored one of that name
/// (keeping its creation time).
fn write_event_type(conn: &Connection, et: &EventType) -> StoreResult<()> {
    execute(
        conn,
        "INSERT INTO event_types (org_id, name, description, archived, deprecated, schemas, \
         feature_flags, group_name, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (org_id, name) DO UPDATE SET description = excluded.description, \
         archived = excluded.archived, deprecated = excluded.deprecated, schemas = excluded.schemas, \
         feature_flags = excluded.feature_flags, group_name = excluded.group_name, \
         updated_at = excluded.updated_at",
        params![
            et.org_id,
            et.name,
            et.description,
            et.archived,
            et.deprecated,
            json_opt(&et.schemas),
            json_opt(&et.feature_flags),
            et.group_name,
            et.created_at.0,
            et.updated_at.0
        ],
    )?;
    Ok(())
}

#[async_trait]
impl EventTypeStore for SqliteStore {
    async fn create_event_type(&self, et: EventType) -> StoreResult<EventType> {
        self.db
            .write("create_event_type", move |conn| {
                let et = match find_event_type(conn, &et.org_id, &et.name)? {
                    Some(existing) => replace_archived(&existing, et)?,
                    None => et,
                };
                write_event_type(conn, &et)?;
                Ok(et)
            })
            .await
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
        let mut sql = sql(format!("SELECT {ET_COLS} FROM event_types WHERE org_id ="));
        sql.bind(org_id);
        if !include_archived {
            sql.push(" AND archived = 0");
        }
        sql.paginate("name", q);
        let rows = self
            .db
            .read("list_event_types", move |conn| {
                query_sql(conn, sql, rows::event_type)
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
        self.db
            .write("modify_event_type", move |conn| {
                let Some(mut et) = find_event_type(conn, &org_id, &name)? else {
                    return Ok(None);
                };
                f(&mut et);
                write_event_type(conn, &et)?;
                Ok(Some(et))
            })
            .await
    }

    async fn delete_event_type(&self, org_id: &str, name: &str) -> StoreResult<bool> {
        let (org_id, name) = (org_id.to_string(), name.to_string());
        self.db
            .write("delete_event_type", move |conn| {
                let n = execute(
                    conn,
                    "DELETE FROM event_types WHERE org_id = ?1 AND name = ?2",
                    params![org_id, name],
                )?;
                Ok(n > 0)
            })
            .await
    }
}
