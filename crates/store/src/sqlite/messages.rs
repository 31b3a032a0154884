//! [`MessageStore`] on SQLite.

use async_trait::async_trait;
use hookd_core::ids::{self, Kind};
use hookd_core::model::{Delivery, Endpoint, Message};
use hookd_core::store::{
    AttemptFilter, Conflict, ListQuery, MessageFilter, MessageStore, NewMessage, Page, StoreResult,
    first_delivery,
};
use hookd_core::time::Timestamp;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::db::db_err;
use super::rows::{
    self, DLV_COLS, EP_COLS, EP_WIDTH, MSG_COLS, MSG_WIDTH, conflict_or, query_one, query_rows,
    query_sql, sql,
};
use crate::codec::json_opt;
use crate::sql::PENDING;

pub(super) const MSG_BY_ID: &str =
    const_format::concatcp!("SELECT ", MSG_COLS, " FROM messages m WHERE m.id = ?1");

fn find_message(conn: &Connection, app_id: &str, key: &str) -> StoreResult<Option<Message>> {
    let sql = if ids::is_id(Kind::Message, key) {
        const_format::concatcp!(
            "SELECT ",
            MSG_COLS,
            " FROM messages m WHERE m.app_id = ?1 AND m.id = ?2"
        )
    } else {
        const_format::concatcp!(
            "SELECT ",
            MSG_COLS,
            " FROM messages m WHERE m.app_id = ?1 AND m.event_id = ?2"
        )
    };
    query_one(conn, sql, params![app_id, key], rows::message)
}

fn insert_message(conn: &Connection, m: &Message, expires_at: Timestamp) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO messages (id, app_id, event_type, event_id, payload, channels, \
         tags, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut s| {
        s.execute(params![
            m.id,
            m.app_id,
            m.event_type,
            m.event_id,
            m.payload.get(),
            json_opt(&m.channels),
            json_opt(&m.tags),
            m.timestamp.0,
            expires_at.0
        ])
    })
    .map_err(|e| conflict_or(e, Conflict::EventId))?;
    Ok(())
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
                let endpoints: Vec<Endpoint> = query_rows(
                    conn,
                    const_format::concatcp!(
                        "SELECT ",
                        EP_COLS,
                        " FROM endpoints e WHERE e.app_id = ?1 AND e.disabled = 0 ORDER BY e.id"
                    ),
                    params![app_id],
                    rows::endpoint,
                )?;
                let targets: Vec<String> = endpoints
                    .into_iter()
                    .filter(|e| msg.routes_to(e))
                    .map(|e| e.id)
                    .collect();
                let (owner, expires_at) = (msg.owner.clone(), msg.expires_at);
                let m = msg.accept(&app_id, ids::new_id(Kind::Message), Timestamp::now());
                insert_message(conn, &m, expires_at)?;
                let mut insert = conn
                    .prepare_cached(const_format::concatcp!(
                        "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, \
                         next_attempt_at, lease_owner, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, ",
                        PENDING,
                        ", 0, ?4, ?5, ?4, ?4)"
                    ))
                    .map_err(db_err)?;
                let mut deliveries = Vec::with_capacity(targets.len());
                for ep in targets {
                    insert
                        .execute(params![m.id, ep, m.app_id, m.timestamp.0, owner])
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
                query_one(conn, MSG_BY_ID, params![id], rows::message)
            })
            .await
    }

    async fn list_messages(
        &self,
        app_id: &str,
        q: &ListQuery,
        f: &MessageFilter,
    ) -> StoreResult<Page<Message>> {
        let mut sql = sql(format!(
            "SELECT {MSG_COLS} FROM messages m WHERE m.app_id ="
        ));
        sql.bind(app_id);
        sql.message_filters(f, "m.created_at");
        sql.paginate("m.id", q);
        let rows = self
            .db
            .read("list_messages", move |conn| {
                query_sql(conn, sql, rows::message)
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
        let mut sql = sql(format!(
            "SELECT {EP_COLS}, {DLV_COLS} FROM deliveries d \
             JOIN endpoints e ON e.id = d.endpoint_id WHERE d.app_id ="
        ));
        sql.bind(app_id);
        sql.push(" AND d.msg_id =");
        sql.bind(msg_id);
        sql.paginate("d.endpoint_id", q);
        let rows = self
            .db
            .read("list_destinations", move |conn| {
                query_sql(conn, sql, |r| {
                    Ok((rows::endpoint_at(r, 0)?, rows::delivery_at(r, EP_WIDTH)?))
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
        let mut sql = sql(format!(
            "SELECT {MSG_COLS}, {DLV_COLS} FROM deliveries d \
             JOIN messages m ON m.id = d.msg_id WHERE d.app_id ="
        ));
        sql.bind(app_id);
        sql.push(" AND d.endpoint_id =");
        sql.bind(endpoint_id);
        if let Some(s) = f.status {
            sql.push(" AND d.status =");
            sql.bind(s as i64);
        }
        sql.message_filters(&f.msg, "m.created_at");
        sql.paginate("d.msg_id", q);
        let rows = self
            .db
            .read("list_endpoint_messages", move |conn| {
                query_sql(conn, sql, |r| {
                    Ok((rows::message_at(r, 0)?, rows::delivery_at(r, MSG_WIDTH)?))
                })
            })
            .await?;
        Ok(Page::from_rows(rows, q, |(m, _)| m.id.clone()))
    }
}
