//! Column lists, row decoding and the query helpers of the SQLite store.
//! Each `*_COLS` constant and its decoder agree on column order; the `_at`
//! decoders read a record starting at an offset, for joined rows.

use hookd_core::model::{
    ApiKey, Application, Attempt, Delivery, DeliveryStatus, Endpoint, EventType, Message, Scope,
    TriggerType,
};
use hookd_core::store::{Conflict, QueuedDelivery, StoreError, StoreResult};
use hookd_core::time::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row};

use super::db::db_err;
use crate::codec::{from_json, from_json_opt, raw_payload};
use crate::sql::{Arg, Dialect, Sql};

/// Unique-index violations become the `Conflict` given.
pub(crate) fn conflict_or(e: rusqlite::Error, what: Conflict) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e
        && f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    {
        return what.into();
    }
    db_err(e)
}

/// A run-time query in SQLite's dialect.
pub(crate) fn sql(text: impl Into<String>) -> Sql {
    Sql::new(Dialect::Sqlite, text)
}

fn values(args: Vec<Arg>) -> Vec<Value> {
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Arg::Int(v) => out.push(Value::Integer(v)),
            Arg::Text(v) => out.push(Value::Text(v)),
            // Lists are expanded into one placeholder each in this dialect.
            Arg::Texts(vs) => out.extend(vs.into_iter().map(Value::Text)),
        }
    }
    out
}

/// At most one row of a prepared (cached) statement: lookups by key.
pub(crate) fn query_one<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: impl FnOnce(&Row) -> rusqlite::Result<T>,
) -> StoreResult<Option<T>> {
    conn.prepare_cached(sql)
        .and_then(|mut st| st.query_row(params, map))
        .optional()
        .map_err(db_err)
}

/// Every row of a prepared (cached) statement.
pub(crate) fn query_rows<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: impl Fn(&Row) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let rows = stmt.query_map(params, |r| map(r)).map_err(db_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
}

/// Every row of a query built at run time.
pub(crate) fn query_sql<T>(
    conn: &Connection,
    sql: Sql,
    map: impl Fn(&Row) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    query_rows(
        conn,
        &sql.text,
        rusqlite::params_from_iter(values(sql.args)),
        map,
    )
}

/// Runs a statement; how many rows it changed.
pub(crate) fn execute<P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
) -> StoreResult<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut st| st.execute(params))
        .map_err(db_err)
}

pub(crate) const APP_COLS: &str =
    "id, org_id, uid, name, rate_limit, metadata, created_at, updated_at, retention_days";

pub(crate) fn app(r: &Row) -> rusqlite::Result<Application> {
    Ok(Application {
        id: r.get(0)?,
        org_id: r.get(1)?,
        uid: r.get(2)?,
        name: r.get(3)?,
        rate_limit: r.get::<_, Option<i64>>(4)?.map(|v| v as u16),
        metadata: from_json(r.get(5)?),
        created_at: Timestamp(r.get(6)?),
        updated_at: Timestamp(r.get(7)?),
        retention_days: r.get::<_, Option<i64>>(8)?.map(|v| v as u32),
    })
}

pub(crate) const EP_COLS: &str = "e.id, e.app_id, e.uid, e.url, e.description, e.version, \
    e.rate_limit, e.disabled, e.filter_types, e.channels, e.metadata, e.secret, e.old_secrets, \
    e.headers, e.created_at, e.updated_at";
/// How many columns [`EP_COLS`] has.
pub(crate) const EP_WIDTH: usize = 16;

pub(crate) fn endpoint(r: &Row) -> rusqlite::Result<Endpoint> {
    endpoint_at(r, 0)
}

pub(crate) fn endpoint_at(r: &Row, o: usize) -> rusqlite::Result<Endpoint> {
    Ok(Endpoint {
        id: r.get(o)?,
        app_id: r.get(o + 1)?,
        uid: r.get(o + 2)?,
        url: r.get(o + 3)?,
        description: r.get(o + 4)?,
        version: r.get(o + 5)?,
        rate_limit: r.get::<_, Option<i64>>(o + 6)?.map(|v| v as u16),
        disabled: r.get(o + 7)?,
        filter_types: from_json_opt(r.get(o + 8)?),
        channels: from_json_opt(r.get(o + 9)?),
        metadata: from_json(r.get(o + 10)?),
        secret: r.get(o + 11)?,
        old_secrets: from_json(r.get(o + 12)?),
        headers: from_json(r.get(o + 13)?),
        created_at: Timestamp(r.get(o + 14)?),
        updated_at: Timestamp(r.get(o + 15)?),
    })
}

pub(crate) const ET_COLS: &str = "org_id, name, description, archived, deprecated, schemas, \
    feature_flags, group_name, created_at, updated_at";

pub(crate) fn event_type(r: &Row) -> rusqlite::Result<EventType> {
    Ok(EventType {
        org_id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        archived: r.get(3)?,
        deprecated: r.get(4)?,
        schemas: from_json_opt(r.get(5)?),
        feature_flags: from_json_opt(r.get(6)?),
        group_name: r.get(7)?,
        created_at: Timestamp(r.get(8)?),
        updated_at: Timestamp(r.get(9)?),
    })
}

pub(crate) const MSG_COLS: &str =
    "m.id, m.app_id, m.event_type, m.event_id, m.payload, m.channels, m.tags, m.created_at";
/// How many columns [`MSG_COLS`] has.
pub(crate) const MSG_WIDTH: usize = 8;

pub(crate) fn message(r: &Row) -> rusqlite::Result<Message> {
    message_at(r, 0)
}

pub(crate) fn message_at(r: &Row, o: usize) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(o)?,
        app_id: r.get(o + 1)?,
        event_type: r.get(o + 2)?,
        event_id: r.get(o + 3)?,
        payload: raw_payload(r.get(o + 4)?),
        channels: from_json_opt(r.get(o + 5)?),
        tags: from_json_opt(r.get(o + 6)?),
        timestamp: Timestamp(r.get(o + 7)?),
    })
}

pub(crate) const DLV_COLS: &str =
    "d.msg_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at";

pub(crate) fn delivery_at(r: &Row, o: usize) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        msg_id: r.get(o)?,
        endpoint_id: r.get(o + 1)?,
        status: DeliveryStatus::from_i64(r.get(o + 2)?).unwrap_or(DeliveryStatus::Pending),
        attempts: r.get(o + 3)?,
        next_attempt_at: r.get::<_, Option<i64>>(o + 4)?.map(Timestamp),
    })
}

/// Columns of [`queued`], unqualified (single-table queries and `RETURNING`).
pub(crate) const QUEUED_COLS: &str =
    "msg_id, endpoint_id, app_id, attempts, next_attempt_at, manual";

/// A [`QUEUED_COLS`] row; a delivery with no time set is due at `now`.
pub(crate) fn queued(r: &Row, now: Timestamp) -> rusqlite::Result<QueuedDelivery> {
    Ok(QueuedDelivery {
        msg_id: r.get(0)?,
        endpoint_id: r.get(1)?,
        app_id: r.get(2)?,
        attempts: r.get(3)?,
        due: Timestamp(r.get::<_, Option<i64>>(4)?.unwrap_or(now.0)),
        manual: r.get(5)?,
    })
}

pub(crate) const ATT_COLS: &str = "a.id, a.msg_id, a.endpoint_id, a.url, a.status, \
    a.response_status, a.response, a.duration_ms, a.trigger_type, a.error_class, a.created_at";

pub(crate) fn attempt(r: &Row) -> rusqlite::Result<Attempt> {
    Ok(Attempt {
        id: r.get(0)?,
        msg_id: r.get(1)?,
        endpoint_id: r.get(2)?,
        url: r.get(3)?,
        status: DeliveryStatus::from_i64(r.get(4)?).unwrap_or(DeliveryStatus::Fail),
        response_status_code: r.get(5)?,
        response: r.get(6)?,
        response_duration_ms: r.get(7)?,
        trigger_type: if r.get::<_, i64>(8)? == TriggerType::Manual as i64 {
            TriggerType::Manual
        } else {
            TriggerType::Scheduled
        },
        error_class: r.get(9)?,
        timestamp: Timestamp(r.get(10)?),
        msg: None,
    })
}

pub(crate) const KEY_COLS: &str =
    "k.id, k.org_id, k.app_id, k.name, k.created_at, k.revoked_at, o.name";

pub(crate) fn api_key(r: &Row) -> rusqlite::Result<ApiKey> {
    let app_id: Option<String> = r.get(2)?;
    Ok(ApiKey {
        id: r.get(0)?,
        org_id: r.get(1)?,
        scope: app_id.map(Scope::App).unwrap_or(Scope::Org),
        name: r.get(3)?,
        created_at: Timestamp(r.get(4)?),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
        org_name: r.get(6)?,
    })
}
