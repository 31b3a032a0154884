//! [`AppStore`] on PostgreSQL.

use async_trait::async_trait;
use const_format::concatcp;
use deadpool_postgres::GenericClient;
use hookd_core::ids::{self, Kind};
use hookd_core::model::Application;
use hookd_core::store::{AppStore, Change, Conflict, ListQuery, Mutation, Page, StoreResult};

use super::PostgresStore;
use super::changes::notify;
use super::conn::{Mode, execute, execute_unique, params, query_opt, query_sql};
use super::rows::all;
use crate::listings;
use crate::records::{self, APP_COLS, app_args};
use crate::sql::Dialect;

/// Locks a row about to be read, changed and written back. NO KEY UPDATE is
/// the lock the UPDATE itself takes (the id does not change), so messages
/// being inserted may still reference the row meanwhile.
pub(super) const LOCK_FOR_UPDATE: &str = " FOR NO KEY UPDATE";

async fn find_app(
    c: &impl GenericClient,
    org_id: &str,
    key: &str,
    lock: bool,
) -> StoreResult<Option<Application>> {
    let col = if ids::is_id(Kind::App, key) {
        "id"
    } else {
        "uid"
    };
    let lock = if lock { LOCK_FOR_UPDATE } else { "" };
    let sql = format!("SELECT {APP_COLS} FROM applications WHERE org_id = $1 AND {col} = $2{lock}");
    query_opt(c, &sql, &[&org_id, &key])
        .await?
        .map(|r| records::app(&r))
        .transpose()
}

async fn write_app(c: &impl GenericClient, a: &Application, insert: bool) -> StoreResult<()> {
    let sql = if insert {
        "INSERT INTO applications (id, org_id, uid, name, rate_limit, metadata, created_at, \
         updated_at, retention_days) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    } else {
        "UPDATE applications SET org_id = $2, uid = $3, name = $4, rate_limit = $5, \
         metadata = $6, created_at = $7, updated_at = $8, retention_days = $9 WHERE id = $1"
    };
    execute_unique(c, sql, &params(&app_args(a)), Conflict::AppUid).await?;
    Ok(())
}

#[async_trait]
impl AppStore for PostgresStore {
    async fn create_app(&self, app: Application) -> StoreResult<Application> {
        self.single("create_app", async |c| write_app(c, &app, true).await)
            .await?;
        Ok(app)
    }

    async fn get_app(&self, org_id: &str, id_or_uid: &str) -> StoreResult<Option<Application>> {
        self.single("get_app", async |c| {
            find_app(c, org_id, id_or_uid, false).await
        })
        .await
    }

    async fn get_app_by_id(&self, app_id: &str) -> StoreResult<Option<Application>> {
        self.single("get_app_by_id", async |c| {
            query_opt(
                c,
                concatcp!("SELECT ", APP_COLS, " FROM applications WHERE id = $1"),
                &[&app_id],
            )
            .await?
            .map(|r| records::app(&r))
            .transpose()
        })
        .await
    }

    async fn list_apps(&self, org_id: &str, q: &ListQuery) -> StoreResult<Page<Application>> {
        let sql = listings::apps(Dialect::Postgres, org_id, q);
        let found = self
            .single("list_apps", async |c| query_sql(c, &sql).await)
            .await?;
        Ok(Page::from_rows(all(&found, records::app)?, q, |a| {
            a.id.clone()
        }))
    }

    async fn modify_app(
        &self,
        org_id: &str,
        id_or_uid: &str,
        f: Mutation<Application>,
    ) -> StoreResult<Option<Application>> {
        let app = self
            .transaction("modify_app", Mode::Write, async |t| {
                let Some(mut app) = find_app(t, org_id, id_or_uid, true).await? else {
                    return Ok(None);
                };
                f(&mut app);
                write_app(t, &app, false).await?;
                notify(t, &self.origin, &Change::App(app.id.clone())).await?;
                Ok(Some(app))
            })
            .await?;
        if let Some(a) = &app {
            self.emit(Change::App(a.id.clone()));
        }
        Ok(app)
    }

    async fn delete_app(&self, org_id: &str, app_id: &str) -> StoreResult<bool> {
        let change = Change::AppDeleted(app_id.to_string());
        let deleted = self
            .transaction("delete_app", Mode::Write, async |t| {
                // Lock the application, then its endpoints in id order: the
                // order in which writers reach these rows (a message insert
                // holds the application, an attempt record the endpoint), so
                // the cascade below waits for them instead of deadlocking.
                let found = execute(
                    t,
                    "SELECT 1 FROM applications WHERE org_id = $1 AND id = $2 FOR UPDATE",
                    &[&org_id, &app_id],
                )
                .await?;
                if found > 0 {
                    execute(
                        t,
                        "SELECT 1 FROM endpoints WHERE app_id = $1 ORDER BY id FOR UPDATE",
                        &[&app_id],
                    )
                    .await?;
                }
                let n = execute(
                    t,
                    "DELETE FROM applications WHERE org_id = $1 AND id = $2",
                    &[&org_id, &app_id],
                )
                .await?;
                execute(t, "DELETE FROM api_keys WHERE app_id = $1", &[&app_id]).await?;
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
}
