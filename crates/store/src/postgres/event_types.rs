//! [`EventTypeStore`] on PostgreSQL.

use async_trait::async_trait;
use const_format::concatcp;
use deadpool_postgres::GenericClient;
use hookd_core::model::EventType;
use hookd_core::store::{
    Change, Conflict, EventTypeStore, ImportPlan, ListQuery, Mutation, Page, StoreResult,
    plan_import, replace_archived,
};
use hookd_core::time::Timestamp;

use super::PostgresStore;
use super::apps::LOCK_FOR_UPDATE;
use super::changes::notify;
use super::conn::{Mode, execute, execute_unique, params, query, query_opt, query_sql};
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
        let et = self
            .transaction("create_event_type", Mode::Write, async |t| {
                let existing = find_event_type(t, &et.org_id, &et.name, true).await?;
                let insert = existing.is_none();
                let et = match existing {
                    Some(existing) => replace_archived(&existing, et)?,
                    None => et,
                };
                write_event_type(t, &et, insert).await?;
                notify(t, &self.origin, &changed(&et)).await?;
                Ok(et)
            })
            .await?;
        self.emit(changed(&et));
        Ok(et)
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
        let et = self
            .transaction("modify_event_type", Mode::Write, async |t| {
                let Some(mut et) = find_event_type(t, org_id, name, true).await? else {
                    return Ok(None);
                };
                f(&mut et);
                write_event_type(t, &et, false).await?;
                notify(t, &self.origin, &changed(&et)).await?;
                Ok(Some(et))
            })
            .await?;
        if let Some(et) = &et {
            self.emit(changed(et));
        }
        Ok(et)
    }

    async fn delete_event_type(&self, org_id: &str, name: &str) -> StoreResult<bool> {
        let change = Change::EventType(org_id.to_string(), name.to_string());
        let deleted = self
            .transaction("delete_event_type", Mode::Write, async |t| {
                let n = execute(
                    t,
                    "DELETE FROM event_types WHERE org_id = $1 AND name = $2",
                    &[&org_id, &name],
                )
                .await?;
                if n > 0 {
                    notify(t, &self.origin, &change).await?;
                }
                Ok(n > 0)
            })
            .await?;
        if deleted {
            self.emit(change);
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
        let plan = self
            .transaction("import_event_types", Mode::Write, async |t| {
                // Locked in name order, the order every import takes them,
                // so two imports at once wait for each other.
                let sql = concatcp!(
                    "SELECT ",
                    ET_COLS,
                    " FROM event_types WHERE org_id = $1 ORDER BY name",
                    LOCK_FOR_UPDATE
                );
                let rows = query(t, sql, &[&org_id]).await?;
                let existing = all(&rows, records::event_type)?;
                let plan = plan_import(&existing, imported.clone(), replace_all, now);
                for et in plan.writes() {
                    let insert = !existing.iter().any(|e| e.name == et.name);
                    write_event_type(t, et, insert).await?;
                    notify(t, &self.origin, &changed(et)).await?;
                }
                Ok(plan)
            })
            .await?;
        for et in plan.writes() {
            self.emit(changed(et));
        }
        Ok(plan)
    }
}

fn changed(et: &EventType) -> Change {
    Change::EventType(et.org_id.clone(), et.name.clone())
}
