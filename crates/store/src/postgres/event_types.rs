//! [`EventTypeStore`] on PostgreSQL.

use async_trait::async_trait;
use const_format::concatcp;
use deadpool_postgres::GenericClient;
use hookd_core::model::EventType;
use hookd_core::store::{
    Conflict, EventTypeStore, ListQuery, Mutation, Page, StoreResult, replace_archived,
};

use super::PostgresStore;
use super::apps::LOCK_FOR_UPDATE;
use super::conn::{Mode, execute, execute_unique, params, query_opt, query_sql};
use super::rows::all;
use crate::listings;
use crate::records::{self, ET_COLS, event_type_args};
use crate::sql::Dialect;

async fn find_event_type(
    c: &impl GenericClient,
    org_id: &str,
    name: &str,
    lock: bool,
) -> StoreResult<Option<EventType>> {
    let sql = if lock {
        concatcp!(
            "SELECT ",
            ET_COLS,
            " FROM event_types WHERE org_id = $1 AND name = $2",
            LOCK_FOR_UPDATE
        )
    } else {
        concatcp!(
            "SELECT ",
            ET_COLS,
            " FROM event_types WHERE org_id = $1 AND name = $2"
        )
    };
    query_opt(c, sql, &[&org_id, &name])
        .await?
        .map(|r| records::event_type(&r))
        .transpose()
}

/// Inserts the event type (`insert`), or overwrites the stored one of that name.
async fn write_event_type(c: &impl GenericClient, et: &EventType, insert: bool) -> StoreResult<()> {
    let sql = if insert {
        "INSERT INTO event_types (org_id, name, description, archived, deprecated, schemas, \
         feature_flags, group_name, created_at, updated_at, retry_schedule) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    } else {
        "UPDATE event_types SET description = $3, archived = $4, deprecated = $5, schemas = $6, \
         feature_flags = $7, group_name = $8, created_at = $9, updated_at = $10, \
         retry_schedule = $11 WHERE org_id = $1 AND name = $2"
    };
    // Two creates of one new name at once: the second insert loses.
    execute_unique(
        c,
        sql,
        &params(&event_type_args(et)),
        Conflict::EventTypeName,
    )
    .await?;
    Ok(())
}

#[async_trait]
impl EventTypeStore for PostgresStore {
    async fn create_event_type(&self, et: EventType) -> StoreResult<EventType> {
        self.transaction("create_event_type", Mode::Write, async |t| {
            let existing = find_event_type(t, &et.org_id, &et.name, true).await?;
            let insert = existing.is_none();
            let et = match existing {
                Some(existing) => replace_archived(&existing, et)?,
                None => et,
            };
            write_event_type(t, &et, insert).await?;
            Ok(et)
        })
        .await
    }

    async fn get_event_type(&self, org_id: &str, name: &str) -> StoreResult<Option<EventType>> {
        self.single("get_event_type", async |c| {
            find_event_type(c, org_id, name, false).await
        })
        .await
    }

    async fn list_event_types(
        &self,
        org_id: &str,
        q: &ListQuery,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>> {
        let sql = listings::event_types(Dialect::Postgres, org_id, q, include_archived);
        let found = self
            .single("list_event_types", async |c| query_sql(c, &sql).await)
            .await?;
        Ok(Page::from_rows(all(&found, records::event_type)?, q, |e| {
            e.name.clone()
        }))
    }

    async fn modify_event_type(
        &self,
        org_id: &str,
        name: &str,
        f: Mutation<EventType>,
    ) -> StoreResult<Option<EventType>> {
        self.transaction("modify_event_type", Mode::Write, async |t| {
            let Some(mut et) = find_event_type(t, org_id, name, true).await? else {
                return Ok(None);
            };
            f(&mut et);
            write_event_type(t, &et, false).await?;
            Ok(Some(et))
        })
        .await
    }

    async fn delete_event_type(&self, org_id: &str, name: &str) -> StoreResult<bool> {
        self.single("delete_event_type", async |c| {
            let n = execute(
                c,
                "DELETE FROM event_types WHERE org_id = $1 AND name = $2",
                &[&org_id, &name],
            )
            .await?;
            Ok(n > 0)
        })
        .await
    }
}
