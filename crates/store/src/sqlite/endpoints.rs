//! [`EndpointStore`] on SQLite.

use async_trait::async_trait;
use hookd_core::ids::{self, Kind};
use hookd_core::model::Endpoint;
use hookd_core::store::{Change, Conflict, EndpointStore, ListQuery, Mutation, Page, StoreResult};
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::db::db_err;
use super::rows::{execute, execute_unique, query_one, query_rows, query_sql};
use crate::hub::Hub;
use crate::listings;
use crate::records::{self, EP_COLS, endpoint_args};
use crate::seal::Sealer;
use crate::sql::Dialect;

fn find_endpoint(
    conn: &Connection,
    sealer: &Sealer,
    app_id: &str,
    key: &str,
) -> StoreResult<Option<Endpoint>> {
    let col = if ids::is_id(Kind::Endpoint, key) {
        "id"
    } else {
        "uid"
    };
    let sql = format!("SELECT {EP_COLS} FROM endpoints e WHERE e.app_id = ?1 AND e.{col} = ?2");
    query_one(conn, &sql, params![app_id, key], |r| {
        records::endpoint(r, sealer)
    })
}

fn write_endpoint(
    conn: &Connection,
    sealer: &Sealer,
    e: &Endpoint,
    insert: bool,
) -> StoreResult<()> {
    let sql = if insert {
        "INSERT INTO endpoints (id, app_id, uid, url, description, version, rate_limit, disabled, \
         filter_types, channels, metadata, secret, old_secrets, headers, created_at, updated_at, \
         filter, fifo) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
         ?17, ?18)"
    } else {
        "UPDATE endpoints SET app_id = ?2, uid = ?3, url = ?4, description = ?5, version = ?6, \
         rate_limit = ?7, disabled = ?8, filter_types = ?9, channels = ?10, metadata = ?11, \
         secret = ?12, old_secrets = ?13, headers = ?14, created_at = ?15, updated_at = ?16, \
         filter = ?17, fifo = ?18 WHERE id = ?1"
    };
    execute_unique(conn, sql, endpoint_args(e, sealer)?, Conflict::EndpointUid)?;
    Ok(())
}

/// Seals credentials stored in plaintext or with a rotated-out key (start-up
/// work, see `hookd_store::open_with`). Plaintext that sealing replaced must
/// not linger in the file: the database is rewritten (`VACUUM`) and the WAL
/// emptied.
pub(super) fn reseal_credentials(conn: &Connection, hub: &Hub) -> StoreResult<()> {
    let rows = query_rows(
        conn,
        "SELECT id, secret, old_secrets, headers FROM endpoints",
        [],
        |r| Ok((r.text(0)?, [r.text(1)?, r.text(2)?, r.text(3)?])),
    )?;
    let mut changed = 0;
    conn.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
    for (id, cols) in rows {
        let resealed = match hub.sealer.reseal(&id, cols) {
            Ok(r) => r,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        if let Some([secret, old, headers]) = resealed {
            execute(
                conn,
                "UPDATE endpoints SET secret = ?2, old_secrets = ?3, headers = ?4 WHERE id = ?1",
                params![id, secret, old, headers],
            )?;
            changed += 1;
        }
    }
    conn.execute_batch("COMMIT").map_err(db_err)?;
    if changed > 0 {
        tracing::info!(endpoints = changed, "sealed endpoint credentials");
        conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(db_err)?;
    }
    Ok(())
}

#[async_trait]
impl EndpointStore for SqliteStore {
    async fn create_endpoint(&self, ep: Endpoint) -> StoreResult<Endpoint> {
        let hub = self.db.hub.clone();
        self.db
            .write("create_endpoint", move |conn| {
                write_endpoint(conn, &hub.sealer, &ep, true)?;
                Ok(ep)
            })
            .await
    }

    async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> StoreResult<Option<Endpoint>> {
        let (app_id, key) = (app_id.to_string(), id_or_uid.to_string());
        let hub = self.db.hub.clone();
        self.db
            .read("get_endpoint", move |conn| {
                find_endpoint(conn, &hub.sealer, &app_id, &key)
            })
            .await
    }

    async fn get_endpoint_by_id(&self, endpoint_id: &str) -> StoreResult<Option<Endpoint>> {
        let id = endpoint_id.to_string();
        let sql = const_format::concatcp!("SELECT ", EP_COLS, " FROM endpoints e WHERE e.id = ?1");
        let hub = self.db.hub.clone();
        self.db
            .read("get_endpoint_by_id", move |conn| {
                query_one(conn, sql, params![id], |r| {
                    records::endpoint(r, &hub.sealer)
                })
            })
            .await
    }

    async fn list_endpoints(&self, app_id: &str, q: &ListQuery) -> StoreResult<Page<Endpoint>> {
        let sql = listings::endpoints(Dialect::Sqlite, app_id, q);
        let hub = self.db.hub.clone();
        let rows = self
            .db
            .read("list_endpoints", move |conn| {
                query_sql(conn, sql, |r| records::endpoint(r, &hub.sealer))
            })
            .await?;
        Ok(Page::from_rows(rows, q, |e| e.id.clone()))
    }

    async fn modify_endpoint(
        &self,
        app_id: &str,
        id_or_uid: &str,
        f: Mutation<Endpoint>,
    ) -> StoreResult<Option<Endpoint>> {
        let (app_id, key) = (app_id.to_string(), id_or_uid.to_string());
        let hub = self.db.hub.clone();
        let ep = self
            .db
            .write("modify_endpoint", move |conn| {
                let Some(mut ep) = find_endpoint(conn, &hub.sealer, &app_id, &key)? else {
                    return Ok(None);
                };
                f(&mut ep);
                write_endpoint(conn, &hub.sealer, &ep, false)?;
                Ok(Some(ep))
            })
            .await?;
        if let Some(e) = &ep {
            self.db.hub.emit(Change::Endpoint(e.id.clone()));
        }
        Ok(ep)
    }

    async fn delete_endpoint(&self, app_id: &str, endpoint_id: &str) -> StoreResult<bool> {
        let (app_id, id) = (app_id.to_string(), endpoint_id.to_string());
        let deleted = self
            .db
            .write("delete_endpoint", move |conn| {
                let n = execute(
                    conn,
                    "DELETE FROM endpoints WHERE app_id = ?1 AND id = ?2",
                    params![app_id, id],
                )?;
                Ok(n > 0)
            })
            .await?;
        if deleted {
            self.db.hub.emit(Change::Endpoint(endpoint_id.to_string()));
        }
        Ok(deleted)
    }

    async fn count_disabled_endpoints(&self) -> StoreResult<u64> {
        self.db
            .read("count_disabled_endpoints", |conn| {
                let sql = "SELECT COUNT(*) FROM endpoints WHERE disabled = 1";
                let n = query_one(conn, sql, [], |r| r.int(0))?;
                Ok(n.unwrap_or(0).max(0) as u64)
            })
            .await
    }
}
