//! [`MessageStore`] on SQLite.

use async_trait::async_trait;
use hookd_core::ids::{self, Kind};
use hookd_core::model::{Delivery, Endpoint, Message};
use hookd_core::store::{
    AppUsage, AttemptFilter, Conflict, ListQuery, MessageFilter, MessageStore, NewMessage, Page,
    StoreResult, first_delivery, first_due,
};
use hookd_core::time::Timestamp;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::db::db_err;
use super::rows::{execute_unique, query_one, query_rows, query_sql};
use crate::listings;
use crate::records::{self, EP_WIDTH, MSG_COLS, MSG_WIDTH, ROUTE_COLS, message_args};
use crate::sql::Dialect;
use crate::sql::PENDING;

pub(super) const MSG_BY_ID: &str =
    const_format::concatcp!("SELECT ", MSG_COLS, " FROM messages m WHERE m.id = ?1");

fn find_message(conn: &Connection, app_id: &str, key: &str) -> StoreResult<Option<Message>> {
    let col = if ids::is_id(Kind::Message, key) {
        "id"
    } else {
        "event_id"
    };
    let sql = format!("SELECT {MSG_COLS} FROM messages m WHERE m.app_id = ?1 AND m.{col} = ?2");
    query_one(conn, &sql, params![app_id, key], records::message)
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn create_message(
        &self,
        app_id: &str,
        msg: NewMessage,
    ) -> StoreResult<(Message, Vec<Delivery>)> {
        let app_id = app_id.to_string();
        self.db
            .write("create_message", move |conn| {
                let routes = query_rows(
                    conn,
                    const_format::concatcp!(
                        "SELECT ",
                        ROUTE_COLS,
                        " FROM endpoints e WHERE e.app_id = ?1 AND e.disabled = 0 ORDER BY e.id"
                    ),
                    params![app_id],
                    records::route,
                )?;
                let parsed = std::cell::OnceCell::new();
                let targets: Vec<String> = routes
                    .into_iter()
                    .filter(|e| msg.routes_to(e, &parsed))
                    .map(|e| e.id)
                    .collect();
                let (owner, expires_at) = (msg.owner.clone(), msg.expires_at);
                let m = msg.accept(&app_id, ids::new_id(Kind::Message), Timestamp::now());
                execute_unique(
                    conn,
                    "INSERT INTO messages (id, app_id, event_type, event_id, payload, channels, \
                     tags, created_at, deliver_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    message_args(&m, expires_at),
                    Conflict::EventId,
                )?;
                let mut insert = conn
                    .prepare_cached(const_format::concatcp!(
                        "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, \
                         next_attempt_at, lease_owner, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, ",
                        PENDING,
                        ", 0, ?6, ?5, ?4, ?4)"
                    ))
                    .map_err(db_err)?;
                let mut deliveries = Vec::with_capacity(targets.len());
                for ep in targets {
                    insert
                        .execute(params![
                            m.id,
                            ep,
                            m.app_id,
                            m.timestamp.0,
                            owner,
                            first_due(&m).0
                        ])
                        .map_err(db_err)?;
                    deliveries.push(first_delivery(&m, ep));
                }
                Ok((m, deliveries))
            })
            .await
    }

    async fn get_message(
        &self,
        app_id: &str,
        id_or_event_id: &str,
    ) -> StoreResult<Option<Message>> {
        let (app_id, key) = (app_id.to_string(), id_or_event_id.to_string());
        self.db
            .read("get_message", move |conn| find_message(conn, &app_id, &key))
            .await
    }

    async fn get_message_by_id(&self, msg_id: &str) -> StoreResult<Option<Message>> {
        let id = msg_id.to_string();
        self.db
            .read("get_message_by_id", move |conn| {
                query_one(conn, MSG_BY_ID, params![id], records::message)
            })
            .await
    }

    async fn list_messages(
        &self,
        app_id: &str,
        q: &ListQuery,
        f: &MessageFilter,
    ) -> StoreResult<Page<Message>> {
        let sql = listings::messages(Dialect::Sqlite, app_id, q, f);
        let rows = self
            .db
            .read("list_messages", move |conn| {
                query_sql(conn, sql, records::message)
            })
            .await?;
        Ok(Page::from_rows(rows, q, |m| m.id.clone()))
    }

    async fn list_destinations(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
    ) -> StoreResult<Page<(Endpoint, Delivery)>> {
        let sql = listings::destinations(Dialect::Sqlite, app_id, msg_id, q);
        let hub = self.db.hub.clone();
        let rows = self
            .db
            .read("list_destinations", move |conn| {
                query_sql(conn, sql, |r| {
                    Ok((
                        records::endpoint_at(r, 0, &hub.sealer)?,
                        records::delivery_at(r, EP_WIDTH)?,
                    ))
                })
            })
            .await?;
        Ok(Page::from_rows(rows, q, |(e, _)| e.id.clone()))
    }

    async fn list_endpoint_messages(
        &self,
        app_id: &str,
        endpoint_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<(Message, Delivery)>> {
        let sql = listings::endpoint_messages(Dialect::Sqlite, app_id, endpoint_id, q, f);
        let rows = self
            .db
            .read("list_endpoint_messages", move |conn| {
                query_sql(conn, sql, |r| {
                    Ok((
                        records::message_at(r, 0)?,
                        records::delivery_at(r, MSG_WIDTH)?,
                    ))
                })
            })
            .await?;
        Ok(Page::from_rows(rows, q, |(m, _)| m.id.clone()))
    }

    async fn app_usage(
        &self,
        app_ids: &[String],
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<AppUsage>> {
        if app_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = listings::app_usage(Dialect::Sqlite, app_ids, since, until);
        self.db
            .read("app_usage", move |conn| {
                query_sql(conn, sql, |r| {
                    Ok(AppUsage {
                        app_id: r.text(0)?,
                        messages: r.int(1)?,
                        destinations: r.int(2)?,
                    })
                })
            })
            .await
    }
}
