//! [`AppStore`] on SQLite.

use async_trait::async_trait;
use hookd_core::ids::{self, Kind};
use hookd_core::model::Application;
use hookd_core::store::{AppStore, Change, Conflict, ListQuery, Mutation, Page, StoreResult};
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::rows::{execute, execute_unique, query_one, query_sql};
use crate::listings;
use crate::records::{self, APP_COLS, app_args};
use crate::sql::Dialect;

fn find_app(conn: &Connection, org_id: &str, key: &str) -> StoreResult<Option<Application>> {
    let col = if ids::is_id(Kind::App, key) {
        "id"
    } else {
        "uid"
    };
    let sql = format!("SELECT {APP_COLS} FROM applications WHERE org_id = ?1 AND {col} = ?2");
    query_one(conn, &sql, params![org_id, key], records::app)
}

fn write_app(conn: &Connection, a: &Application, insert: bool) -> StoreResult<()> {
    let sql = if insert {
        "INSERT INTO applications (id, org_id, uid, name, rate_limit, metadata, created_at, \
         updated_at, retention_days) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    } else {
        "UPDATE applications SET org_id = ?2, uid = ?3, name = ?4, rate_limit = ?5, metadata = ?6, \
         created_at = ?7, updated_at = ?8, retention_days = ?9 WHERE id = ?1"
    };
    execute_unique(conn, sql, app_args(a), Conflict::AppUid)?;
    Ok(())
}

#[async_trait]
impl AppStore for SqliteStore {
    async fn create_app(&self, app: Application) -> StoreResult<Application> {
        self.db
            .write("create_app", move |conn| {
                write_app(conn, &app, true)?;
                Ok(app)
            })
            .await
    }

    async fn get_app(&self, org_id: &str, id_or_uid: &str) -> StoreResult<Option<Application>> {
        let (org_id, key) = (org_id.to_string(), id_or_uid.to_string());
        self.db
            .read("get_app", move |conn| find_app(conn, &org_id, &key))
            .await
    }

    async fn get_app_by_id(&self, app_id: &str) -> StoreResult<Option<Application>> {
        let id = app_id.to_string();
        let sql = const_format::concatcp!("SELECT ", APP_COLS, " FROM applications WHERE id = ?1");
        self.db
            .read("get_app_by_id", move |conn| {
                query_one(conn, sql, params![id], records::app)
            })
            .await
    }

    async fn list_apps(&self, org_id: &str, q: &ListQuery) -> StoreResult<Page<Application>> {
        let sql = listings::apps(Dialect::Sqlite, org_id, q);
        let rows = self
            .db
            .read("list_apps", move |conn| query_sql(conn, sql, records::app))
            .await?;
        Ok(Page::from_rows(rows, q, |a| a.id.clone()))
    }

    async fn modify_app(
        &self,
        org_id: &str,
        id_or_uid: &str,
        f: Mutation<Application>,
    ) -> StoreResult<Option<Application>> {
        let (org_id, key) = (org_id.to_string(), id_or_uid.to_string());
        let app = self
            .db
            .write("modify_app", move |conn| {
                let Some(mut app) = find_app(conn, &org_id, &key)? else {
                    return Ok(None);
                };
                f(&mut app);
                write_app(conn, &app, false)?;
                Ok(Some(app))
            })
            .await?;
        if let Some(a) = &app {
            self.db.hub.emit(Change::App(a.id.clone()));
        }
        Ok(app)
    }

    async fn delete_app(&self, org_id: &str, app_id: &str) -> StoreResult<bool> {
        let (org_id, id) = (org_id.to_string(), app_id.to_string());
        let deleted = self
            .db
            .write("delete_app", move |conn| {
                let n = execute(
                    conn,
                    "DELETE FROM applications WHERE org_id = ?1 AND id = ?2",
                    params![org_id, id],
                )?;
                execute(conn, "DELETE FROM api_keys WHERE app_id = ?1", params![id])?;
                Ok(n > 0)
            })
            .await?;
        if deleted {
            self.db.hub.emit(Change::AppDeleted(app_id.to_string()));
        }
        Ok(deleted)
    }
}
