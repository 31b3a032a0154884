//! The SQLite implementation of [`Store`]: SQL for every business operation.

mod db;
mod migrations;

use std::path::Path;

use async_trait::async_trait;
use hookd_core::ids::{self, Kind};
use hookd_core::model::{
    ApiKey, Application, Attempt, Delivery, DeliveryStatus, Endpoint, EventType, Message, Org,
    Scope, TriggerType,
};
use hookd_core::store::{
    AttemptEffects, AttemptFilter, AttemptResult, DisableReason, EndpointStats, IdempotencyStart,
    ListQuery, MessageFilter, Mutation, NewMessage, NextStep, Order, Page, QueuedDelivery, Store,
    StoreError, StoreResult,
};
use hookd_core::time::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};

pub use db::Db;

use crate::codec::{
    APP_UID_TAKEN, ENDPOINT_UID_TAKEN, EVENT_ID_TAKEN, EVENT_TYPE_TAKEN, from_json, from_json_opt,
    json, json_opt, raw_payload,
};
use db::db_err;

pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        Ok(SqliteStore {
            db: Db::open(path, 4)?,
        })
    }
}

/// Unique-index violations become `Conflict` naming what collided.
fn conflict_or(e: rusqlite::Error, what: &str) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e
        && f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    {
        return StoreError::Conflict(what.to_string());
    }
    db_err(e)
}

/// Appends keyset pagination to a query whose rows are keyed by `key_col`.
/// Fetches `limit + 1` rows in the direction the cursor points.
fn paginate(sql: &mut String, args: &mut Vec<Value>, key_col: &str, q: &ListQuery) {
    let backwards = q.cursor.as_ref().is_some_and(|c| c.backwards);
    let desc = (q.order == Order::Descending) != backwards;
    if let Some(c) = &q.cursor {
        sql.push_str(&format!(
            " AND {key_col} {} ?",
            if desc { "<" } else { ">" }
        ));
        args.push(Value::Text(c.key.clone()));
    }
    sql.push_str(&format!(
        " ORDER BY {key_col} {} LIMIT ?",
        if desc { "DESC" } else { "ASC" }
    ));
    args.push(Value::Integer(q.limit as i64 + 1));
}

/// At most one row of a prepared (cached) statement: lookups by key.
fn query_one<T, P: rusqlite::Params>(
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

fn query_rows<T>(
    conn: &Connection,
    sql: &str,
    args: Vec<Value>,
    map: impl Fn(&Row) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), |r| map(r))
        .map_err(db_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
}

// ----- row mapping -----

const APP_COLS: &str =
    "id, org_id, uid, name, rate_limit, metadata, created_at, updated_at, retention_days";

fn app_row(r: &Row) -> rusqlite::Result<Application> {
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

const EP_COLS: &str = "e.id, e.app_id, e.uid, e.url, e.description, e.version, e.rate_limit, \
    e.disabled, e.filter_types, e.channels, e.metadata, e.secret, e.old_secrets, e.headers, \
    e.created_at, e.updated_at";

fn ep_row(r: &Row) -> rusqlite::Result<Endpoint> {
    ep_row_at(r, 0)
}

fn ep_row_at(r: &Row, o: usize) -> rusqlite::Result<Endpoint> {
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

const ET_COLS: &str = "org_id, name, description, archived, deprecated, schemas, feature_flags, \
    group_name, created_at, updated_at";

fn et_row(r: &Row) -> rusqlite::Result<EventType> {
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

const MSG_COLS: &str =
    "m.id, m.app_id, m.event_type, m.event_id, m.payload, m.channels, m.tags, m.created_at";

fn msg_row_at(r: &Row, o: usize) -> rusqlite::Result<Message> {
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

const DLV_COLS: &str = "d.msg_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at";

fn dlv_row_at(r: &Row, o: usize) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        msg_id: r.get(o)?,
        endpoint_id: r.get(o + 1)?,
        status: DeliveryStatus::from_i64(r.get(o + 2)?).unwrap_or(DeliveryStatus::Pending),
        attempts: r.get(o + 3)?,
        next_attempt_at: r.get::<_, Option<i64>>(o + 4)?.map(Timestamp),
    })
}

const ATT_COLS: &str = "a.id, a.msg_id, a.endpoint_id, a.url, a.status, a.response_status, \
    a.response, a.duration_ms, a.trigger_type, a.error_class, a.created_at";

fn att_row(r: &Row) -> rusqlite::Result<Attempt> {
    Ok(Attempt {
        id: r.get(0)?,
        msg_id: r.get(1)?,
        endpoint_id: r.get(2)?,
        url: r.get(3)?,
        status: DeliveryStatus::from_i64(r.get(4)?).unwrap_or(DeliveryStatus::Fail),
        response_status_code: r.get(5)?,
        response: r.get(6)?,
        response_duration_ms: r.get(7)?,
        trigger_type: if r.get::<_, i64>(8)? == 1 {
            TriggerType::Manual
        } else {
            TriggerType::Scheduled
        },
        error_class: r.get(9)?,
        timestamp: Timestamp(r.get(10)?),
        msg: None,
    })
}

fn key_row(r: &Row) -> rusqlite::Result<ApiKey> {
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

// ----- helpers used inside write jobs -----

fn find_app(conn: &Connection, org_id: &str, key: &str) -> StoreResult<Option<Application>> {
    let col = if ids::is_id(Kind::App, key) {
        "id"
    } else {
        "uid"
    };
    query_one(
        conn,
        &format!("SELECT {APP_COLS} FROM applications WHERE org_id = ?1 AND {col} = ?2"),
        params![org_id, key],
        app_row,
    )
}

fn find_endpoint(conn: &Connection, app_id: &str, key: &str) -> StoreResult<Option<Endpoint>> {
    let col = if ids::is_id(Kind::Endpoint, key) {
        "id"
    } else {
        "uid"
    };
    query_one(
        conn,
        &format!("SELECT {EP_COLS} FROM endpoints e WHERE e.app_id = ?1 AND e.{col} = ?2"),
        params![app_id, key],
        ep_row,
    )
}

fn find_event_type(conn: &Connection, org_id: &str, name: &str) -> StoreResult<Option<EventType>> {
    query_one(
        conn,
        &format!("SELECT {ET_COLS} FROM event_types WHERE org_id = ?1 AND name = ?2"),
        params![org_id, name],
        et_row,
    )
}

fn find_message(conn: &Connection, app_id: &str, key: &str) -> StoreResult<Option<Message>> {
    let col = if ids::is_id(Kind::Message, key) {
        "id"
    } else {
        "event_id"
    };
    query_one(
        conn,
        &format!("SELECT {MSG_COLS} FROM messages m WHERE m.app_id = ?1 AND m.{col} = ?2"),
        params![app_id, key],
        |r| msg_row_at(r, 0),
    )
}

fn upsert_app_row(conn: &Connection, a: &Application, insert: bool) -> StoreResult<()> {
    let sql = if insert {
        "INSERT INTO applications (id, org_id, uid, name, rate_limit, metadata, created_at, \
         updated_at, retention_days) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    } else {
        "UPDATE applications SET org_id = ?2, uid = ?3, name = ?4, rate_limit = ?5, metadata = ?6, \
         created_at = ?7, updated_at = ?8, retention_days = ?9 WHERE id = ?1"
    };
    conn.execute(
        sql,
        params![
            a.id,
            a.org_id,
            a.uid,
            a.name,
            a.rate_limit.map(i64::from),
            json(&a.metadata),
            a.created_at.0,
            a.updated_at.0,
            a.retention_days.map(i64::from)
        ],
    )
    .map_err(|e| conflict_or(e, APP_UID_TAKEN))?;
    Ok(())
}

fn upsert_endpoint_row(conn: &Connection, e: &Endpoint, insert: bool) -> StoreResult<()> {
    let sql = if insert {
        "INSERT INTO endpoints (id, app_id, uid, url, description, version, rate_limit, disabled, \
         filter_types, channels, metadata, secret, old_secrets, headers, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    } else {
        "UPDATE endpoints SET app_id = ?2, uid = ?3, url = ?4, description = ?5, version = ?6, \
         rate_limit = ?7, disabled = ?8, filter_types = ?9, channels = ?10, metadata = ?11, \
         secret = ?12, old_secrets = ?13, headers = ?14, created_at = ?15, updated_at = ?16 \
         WHERE id = ?1"
    };
    conn.execute(
        sql,
        params![
            e.id,
            e.app_id,
            e.uid,
            e.url,
            e.description,
            e.version,
            e.rate_limit.map(i64::from),
            e.disabled,
            json_opt(&e.filter_types),
            json_opt(&e.channels),
            json(&e.metadata),
            e.secret,
            json(&e.old_secrets),
            json(&e.headers),
            e.created_at.0,
            e.updated_at.0
        ],
    )
    .map_err(|err| conflict_or(err, ENDPOINT_UID_TAKEN))?;
    Ok(())
}

fn upsert_event_type_row(conn: &Connection, et: &EventType) -> StoreResult<()> {
    conn.execute(
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
    )
    .map_err(db_err)?;
    Ok(())
}

/// Adds the WHERE clauses of an [`AttemptFilter`] that apply to a query
/// joining deliveries `d` (optional) and messages `m`.
fn message_filters(
    sql: &mut String,
    args: &mut Vec<Value>,
    event_types: &Option<Vec<String>>,
    channel: &Option<String>,
    before: Option<Timestamp>,
    after: Option<Timestamp>,
    time_col: &str,
) {
    if let Some(types) = event_types
        && !types.is_empty()
    {
        sql.push_str(&format!(
            " AND m.event_type IN ({})",
            vec!["?"; types.len()].join(",")
        ));
        args.extend(types.iter().map(|t| Value::Text(t.clone())));
    }
    if let Some(ch) = channel {
        sql.push_str(" AND EXISTS (SELECT 1 FROM json_each(m.channels) WHERE value = ?)");
        args.push(Value::Text(ch.clone()));
    }
    if let Some(b) = before {
        sql.push_str(&format!(" AND {time_col} < ?"));
        args.push(Value::Integer(b.0));
    }
    if let Some(a) = after {
        sql.push_str(&format!(" AND {time_col} > ?"));
        args.push(Value::Integer(a.0));
    }
}

fn attempt_filters(sql: &mut String, args: &mut Vec<Value>, f: &AttemptFilter) {
    if let Some(s) = f.status {
        sql.push_str(" AND a.status = ?");
        args.push(Value::Integer(s as i64));
    }
    if let Some(class) = f.status_code_class {
        if class == 0 {
            sql.push_str(" AND a.response_status = 0");
        } else {
            sql.push_str(" AND a.response_status >= ? AND a.response_status < ?");
            args.push(Value::Integer(i64::from(class)));
            args.push(Value::Integer(i64::from(class) + 100));
        }
    }
    if let Some(ep) = &f.endpoint_id {
        sql.push_str(" AND a.endpoint_id = ?");
        args.push(Value::Text(ep.clone()));
    }
    message_filters(
        sql,
        args,
        &f.event_types,
        &f.channel,
        f.before,
        f.after,
        "a.created_at",
    );
}

fn attach_messages(conn: &Connection, attempts: &mut [Attempt]) -> StoreResult<()> {
    for a in attempts.iter_mut() {
        a.msg = query_one(
            conn,
            &format!("SELECT {MSG_COLS} FROM messages m WHERE m.id = ?1"),
            params![a.msg_id],
            |r| msg_row_at(r, 0),
        )?;
    }
    Ok(())
}

/// Replaces a message's payload with `{}` and empties its attempts' response bodies.
fn expunge_one(conn: &Connection, msg_id: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE messages SET payload = '{}', expunged = 1 WHERE id = ?1",
        params![msg_id],
    )
    .map_err(db_err)?;
    conn.execute(
        "UPDATE attempts SET response = '' WHERE msg_id = ?1",
        params![msg_id],
    )
    .map_err(db_err)?;
    Ok(())
}

/// Records one attempt inside the caller's transaction (see `Store::record_attempt`).
fn record_one(conn: &Connection, r: &AttemptResult) -> StoreResult<AttemptEffects> {
    let a = &r.attempt;
    let now = a.timestamp;
    let (status, next_at) = match &r.next {
        NextStep::Success => (DeliveryStatus::Success, None),
        NextStep::Retry(t) => (DeliveryStatus::Pending, Some(t.0)),
        NextStep::Fail | NextStep::FailAndDisable => (DeliveryStatus::Fail, None),
    };
    let updated = conn
        .prepare_cached(
            "UPDATE deliveries SET status = ?3, attempts = attempts + 1, \
             next_attempt_at = ?4, manual = 0, updated_at = ?5 \
             WHERE msg_id = ?1 AND endpoint_id = ?2",
        )
        .and_then(|mut st| {
            st.execute(params![
                a.msg_id,
                a.endpoint_id,
                status as i64,
                next_at,
                now.0
            ])
        })
        .map_err(db_err)?;
    if updated == 0 {
        return Ok(AttemptEffects {
            gone: true,
            ..Default::default()
        });
    }
    conn.prepare_cached(
        "INSERT INTO attempts (id, msg_id, endpoint_id, app_id, url, status, \
         response_status, response, duration_ms, trigger_type, error_class, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut st| {
        st.execute(params![
            a.id,
            a.msg_id,
            a.endpoint_id,
            r.app_id,
            a.url,
            a.status as i64,
            a.response_status_code,
            a.response,
            a.response_duration_ms,
            a.trigger_type as i64,
            a.error_class,
            now.0
        ])
    })
    .map_err(db_err)?;
    let attempts: i64 = conn
        .prepare_cached("SELECT attempts FROM deliveries WHERE msg_id = ?1 AND endpoint_id = ?2")
        .and_then(|mut st| st.query_row(params![a.msg_id, a.endpoint_id], |row| row.get(0)))
        .optional()
        .map_err(db_err)?
        .unwrap_or(0);

    let mut effects = AttemptEffects {
        attempts,
        ..Default::default()
    };
    if r.next == NextStep::Success {
        conn.prepare_cached(
            "UPDATE endpoints SET failing_since = NULL \
             WHERE id = ?1 AND failing_since IS NOT NULL",
        )
        .and_then(|mut st| st.execute(params![a.endpoint_id]))
        .map_err(db_err)?;
        return Ok(effects);
    }
    let row: Option<(Option<i64>, bool)> = conn
        .query_row(
            "SELECT failing_since, disabled FROM endpoints WHERE id = ?1",
            params![a.endpoint_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(db_err)?;
    let Some((failing_since, disabled)) = row else {
        return Ok(effects);
    };
    let since = failing_since.unwrap_or(now.0);
    effects.failing_since = Some(Timestamp(since));
    if failing_since.is_none() {
        conn.execute(
            "UPDATE endpoints SET failing_since = ?2 WHERE id = ?1",
            params![a.endpoint_id, since],
        )
        .map_err(db_err)?;
    }
    let reason = if r.next == NextStep::FailAndDisable {
        Some(DisableReason::Gone)
    } else if now.0 - since >= r.disable_after_ms {
        Some(DisableReason::Failing)
    } else {
        None
    };
    if let Some(reason) = reason
        && !disabled
    {
        conn.execute(
            "UPDATE endpoints SET disabled = 1, updated_at = ?2 WHERE id = ?1",
            params![a.endpoint_id, now.0],
        )
        .map_err(db_err)?;
        effects.disabled = Some(reason);
    }
    Ok(effects)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ensure_org(&self, name: &str) -> StoreResult<Org> {
        let name = name.to_string();
        self.db
            .write(move |conn| {
                let found = conn
                    .query_row(
                        "SELECT id, name, created_at FROM orgs WHERE name = ?1",
                        params![name],
                        |r| {
                            Ok(Org {
                                id: r.get(0)?,
                                name: r.get(1)?,
                                created_at: Timestamp(r.get(2)?),
                            })
                        },
                    )
                    .optional()
                    .map_err(db_err)?;
                if let Some(org) = found {
                    return Ok(org);
                }
                let org = Org {
                    id: ids::new_id(Kind::Org),
                    name,
                    created_at: Timestamp::now(),
                };
                conn.execute(
                    "INSERT INTO orgs (id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![org.id, org.name, org.created_at.0],
                )
                .map_err(db_err)?;
                Ok(org)
            })
            .await
    }

    async fn create_api_key(
        &self,
        org_id: &str,
        scope: Scope,
        name: Option<String>,
        hash: [u8; 32],
    ) -> StoreResult<ApiKey> {
        let org_id = org_id.to_string();
        self.db
            .write(move |conn| {
                let id = ids::new_id(Kind::Key);
                let app_id = match &scope {
                    Scope::App(a) => Some(a.clone()),
                    Scope::Org => None,
                };
                conn.execute(
                    "INSERT INTO api_keys (id, org_id, app_id, name, hash, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![id, org_id, app_id, name, &hash[..], Timestamp::now().0],
                )
                .map_err(db_err)?;
                conn.query_row(
                    "SELECT k.id, k.org_id, k.app_id, k.name, k.created_at, k.revoked_at, o.name \
                     FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.id = ?1",
                    params![id],
                    key_row,
                )
                .map_err(db_err)
            })
            .await
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.db
            .read(|conn| {
                query_rows(
                    conn,
                    "SELECT k.id, k.org_id, k.app_id, k.name, k.created_at, k.revoked_at, o.name \
                     FROM api_keys k JOIN orgs o ON o.id = k.org_id ORDER BY k.id",
                    vec![],
                    key_row,
                )
            })
            .await
    }

    async fn revoke_api_key(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.db
            .write(move |conn| {
                let n = conn
                    .execute(
                        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                        params![id, Timestamp::now().0],
                    )
                    .map_err(db_err)?;
                Ok(n > 0)
            })
            .await
    }

    async fn find_api_key(&self, hash: [u8; 32]) -> StoreResult<Option<ApiKey>> {
        self.db
            .read(move |conn| {
                conn.query_row(
                    "SELECT k.id, k.org_id, k.app_id, k.name, k.created_at, k.revoked_at, o.name \
                     FROM api_keys k JOIN orgs o ON o.id = k.org_id \
                     WHERE k.hash = ?1 AND k.revoked_at IS NULL",
                    params![&hash[..]],
                    key_row,
                )
                .optional()
                .map_err(db_err)
            })
            .await
    }

    async fn create_app(&self, app: Application) -> StoreResult<Application> {
        self.db
            .write(move |conn| {
                upsert_app_row(conn, &app, true)?;
                Ok(app)
            })
            .await
    }

    async fn get_app(&self, org_id: &str, id_or_uid: &str) -> StoreResult<Option<Application>> {
        let (org_id, key) = (org_id.to_string(), id_or_uid.to_string());
        self.db
            .read(move |conn| find_app(conn, &org_id, &key))
            .await
    }

    async fn list_apps(&self, org_id: &str, q: &ListQuery) -> StoreResult<Page<Application>> {
        let (org_id, q) = (org_id.to_string(), q.clone());
        self.db
            .read(move |conn| {
                let mut sql = format!("SELECT {APP_COLS} FROM applications WHERE org_id = ?");
                let mut args = vec![Value::Text(org_id)];
                paginate(&mut sql, &mut args, "id", &q);
                let rows = query_rows(conn, &sql, args, app_row)?;
                Ok(Page::from_rows(rows, &q, |a| a.id.clone()))
            })
            .await
    }

    async fn modify_app(
        &self,
        org_id: &str,
        id_or_uid: &str,
        f: Mutation<Application>,
    ) -> StoreResult<Option<Application>> {
        let (org_id, key) = (org_id.to_string(), id_or_uid.to_string());
        self.db
            .write(move |conn| {
                let Some(mut app) = find_app(conn, &org_id, &key)? else {
                    return Ok(None);
                };
                f(&mut app);
                upsert_app_row(conn, &app, false)?;
                Ok(Some(app))
            })
            .await
    }

    async fn delete_app(&self, org_id: &str, app_id: &str) -> StoreResult<bool> {
        let (org_id, app_id) = (org_id.to_string(), app_id.to_string());
        self.db
            .write(move |conn| {
                let n = conn
                    .execute(
                        "DELETE FROM applications WHERE org_id = ?1 AND id = ?2",
                        params![org_id, app_id],
                    )
                    .map_err(db_err)?;
                conn.execute("DELETE FROM api_keys WHERE app_id = ?1", params![app_id])
                    .map_err(db_err)?;
                Ok(n > 0)
            })
            .await
    }

    async fn create_endpoint(&self, ep: Endpoint) -> StoreResult<Endpoint> {
        self.db
            .write(move |conn| {
                upsert_endpoint_row(conn, &ep, true)?;
                Ok(ep)
            })
            .await
    }

    async fn get_endpoint(&self, app_id: &str, id_or_uid: &str) -> StoreResult<Option<Endpoint>> {
        let (app_id, key) = (app_id.to_string(), id_or_uid.to_string());
        self.db
            .read(move |conn| find_endpoint(conn, &app_id, &key))
            .await
    }

    async fn list_endpoints(&self, app_id: &str, q: &ListQuery) -> StoreResult<Page<Endpoint>> {
        let (app_id, q) = (app_id.to_string(), q.clone());
        self.db
            .read(move |conn| {
                let mut sql = format!("SELECT {EP_COLS} FROM endpoints e WHERE e.app_id = ?");
                let mut args = vec![Value::Text(app_id)];
                paginate(&mut sql, &mut args, "e.id", &q);
                let rows = query_rows(conn, &sql, args, ep_row)?;
                Ok(Page::from_rows(rows, &q, |e| e.id.clone()))
            })
            .await
    }

    async fn modify_endpoint(
        &self,
        app_id: &str,
        id_or_uid: &str,
        f: Mutation<Endpoint>,
    ) -> StoreResult<Option<Endpoint>> {
        let (app_id, key) = (app_id.to_string(), id_or_uid.to_string());
        self.db
            .write(move |conn| {
                let Some(mut ep) = find_endpoint(conn, &app_id, &key)? else {
                    return Ok(None);
                };
                f(&mut ep);
                upsert_endpoint_row(conn, &ep, false)?;
                Ok(Some(ep))
            })
            .await
    }

    async fn delete_endpoint(&self, app_id: &str, endpoint_id: &str) -> StoreResult<bool> {
        let (app_id, id) = (app_id.to_string(), endpoint_id.to_string());
        self.db
            .write(move |conn| {
                let n = conn
                    .execute(
                        "DELETE FROM endpoints WHERE app_id = ?1 AND id = ?2",
                        params![app_id, id],
                    )
                    .map_err(db_err)?;
                Ok(n > 0)
            })
            .await
    }

    async fn create_event_type(&self, et: EventType) -> StoreResult<EventType> {
        self.db
            .write(move |conn| {
                let mut et = et;
                if let Some(existing) = find_event_type(conn, &et.org_id, &et.name)? {
                    if !existing.archived {
                        return Err(StoreError::Conflict(EVENT_TYPE_TAKEN.into()));
                    }
                    et.created_at = existing.created_at;
                }
                upsert_event_type_row(conn, &et)?;
                Ok(et)
            })
            .await
    }

    async fn get_event_type(&self, org_id: &str, name: &str) -> StoreResult<Option<EventType>> {
        let (org_id, name) = (org_id.to_string(), name.to_string());
        self.db
            .read(move |conn| find_event_type(conn, &org_id, &name))
            .await
    }

    async fn list_event_types(
        &self,
        org_id: &str,
        q: &ListQuery,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>> {
        let (org_id, q) = (org_id.to_string(), q.clone());
        self.db
            .read(move |conn| {
                let mut sql = format!("SELECT {ET_COLS} FROM event_types WHERE org_id = ?");
                if !include_archived {
                    sql.push_str(" AND archived = 0");
                }
                let mut args = vec![Value::Text(org_id)];
                paginate(&mut sql, &mut args, "name", &q);
                let rows = query_rows(conn, &sql, args, et_row)?;
                Ok(Page::from_rows(rows, &q, |e| e.name.clone()))
            })
            .await
    }

    async fn modify_event_type(
        &self,
        org_id: &str,
        name: &str,
        f: Mutation<EventType>,
    ) -> StoreResult<Option<EventType>> {
        let (org_id, name) = (org_id.to_string(), name.to_string());
        self.db
            .write(move |conn| {
                let Some(mut et) = find_event_type(conn, &org_id, &name)? else {
                    return Ok(None);
                };
                f(&mut et);
                upsert_event_type_row(conn, &et)?;
                Ok(Some(et))
            })
            .await
    }

    async fn delete_event_type(&self, org_id: &str, name: &str) -> StoreResult<bool> {
        let (org_id, name) = (org_id.to_string(), name.to_string());
        self.db
            .write(move |conn| {
                let n = conn
                    .execute(
                        "DELETE FROM event_types WHERE org_id = ?1 AND name = ?2",
                        params![org_id, name],
                    )
                    .map_err(db_err)?;
                Ok(n > 0)
            })
            .await
    }

    async fn create_message(
        &self,
        app_id: &str,
        msg: NewMessage,
    ) -> StoreResult<(Message, Vec<Delivery>)> {
        let app_id = app_id.to_string();
        self.db
            .write(move |conn| {
                let now = Timestamp::now();
                let only_endpoint = msg.only_endpoint.clone();
                let owner = msg.owner.clone();
                let expires_at = msg.expires_at;
                let m = Message {
                    id: ids::new_id(Kind::Message),
                    app_id,
                    event_id: msg.event_id,
                    event_type: msg.event_type,
                    payload: msg.payload,
                    channels: msg.channels,
                    tags: msg.tags,
                    timestamp: now,
                };
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
                        now.0,
                        expires_at.0
                    ])
                })
                .map_err(|e| conflict_or(e, EVENT_ID_TAKEN))?;

                let endpoints = query_rows(
                    conn,
                    &format!(
                        "SELECT {EP_COLS} FROM endpoints e WHERE e.app_id = ?1 AND e.disabled = 0"
                    ),
                    vec![Value::Text(m.app_id.clone())],
                    ep_row,
                )?;
                let mut deliveries = Vec::new();
                let mut insert = conn
                    .prepare_cached(
                        "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, \
                         next_attempt_at, lease_owner, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, 1, 0, ?4, ?5, ?4, ?4)",
                    )
                    .map_err(db_err)?;
                let only = only_endpoint;
                for ep in endpoints.iter().filter(|e| match &only {
                    Some(id) => &e.id == id,
                    None => e.accepts(&m.event_type, m.channels.as_deref()),
                }) {
                    insert
                        .execute(params![m.id, ep.id, m.app_id, now.0, owner])
                        .map_err(db_err)?;
                    deliveries.push(Delivery {
                        msg_id: m.id.clone(),
                        endpoint_id: ep.id.clone(),
                        status: DeliveryStatus::Pending,
                        attempts: 0,
                        next_attempt_at: Some(now),
                    });
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
            .read(move |conn| find_message(conn, &app_id, &key))
            .await
    }

    async fn list_messages(
        &self,
        app_id: &str,
        q: &ListQuery,
        f: &MessageFilter,
    ) -> StoreResult<Page<Message>> {
        let (app_id, q, f) = (app_id.to_string(), q.clone(), f.clone());
        self.db
            .read(move |conn| {
                let mut sql = format!("SELECT {MSG_COLS} FROM messages m WHERE m.app_id = ?");
                let mut args = vec![Value::Text(app_id)];
                message_filters(
                    &mut sql,
                    &mut args,
                    &f.event_types,
                    &f.channel,
                    f.before,
                    f.after,
                    "m.created_at",
                );
                paginate(&mut sql, &mut args, "m.id", &q);
                let rows = query_rows(conn, &sql, args, |r| msg_row_at(r, 0))?;
                Ok(Page::from_rows(rows, &q, |m| m.id.clone()))
            })
            .await
    }

    async fn list_destinations(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
    ) -> StoreResult<Page<(Endpoint, Delivery)>> {
        let (app_id, msg_id, q) = (app_id.to_string(), msg_id.to_string(), q.clone());
        self.db
            .read(move |conn| {
                let mut sql = format!(
                    "SELECT {EP_COLS}, {DLV_COLS} FROM deliveries d \
                     JOIN endpoints e ON e.id = d.endpoint_id \
                     WHERE d.app_id = ? AND d.msg_id = ?"
                );
                let mut args = vec![Value::Text(app_id), Value::Text(msg_id)];
                paginate(&mut sql, &mut args, "d.endpoint_id", &q);
                let rows = query_rows(conn, &sql, args, |r| {
                    Ok((ep_row_at(r, 0)?, dlv_row_at(r, 16)?))
                })?;
                Ok(Page::from_rows(rows, &q, |(e, _)| e.id.clone()))
            })
            .await
    }

    async fn list_endpoint_messages(
        &self,
        app_id: &str,
        endpoint_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<(Message, Delivery)>> {
        let (app_id, ep_id, q, f) = (
            app_id.to_string(),
            endpoint_id.to_string(),
            q.clone(),
            f.clone(),
        );
        self.db
            .read(move |conn| {
                let mut sql = format!(
                    "SELECT {MSG_COLS}, {DLV_COLS} FROM deliveries d \
                     JOIN messages m ON m.id = d.msg_id \
                     WHERE d.app_id = ? AND d.endpoint_id = ?"
                );
                let mut args = vec![Value::Text(app_id), Value::Text(ep_id)];
                if let Some(s) = f.status {
                    sql.push_str(" AND d.status = ?");
                    args.push(Value::Integer(s as i64));
                }
                message_filters(
                    &mut sql,
                    &mut args,
                    &f.event_types,
                    &f.channel,
                    f.before,
                    f.after,
                    "m.created_at",
                );
                paginate(&mut sql, &mut args, "d.msg_id", &q);
                let rows = query_rows(conn, &sql, args, |r| {
                    Ok((msg_row_at(r, 0)?, dlv_row_at(r, 8)?))
                })?;
                Ok(Page::from_rows(rows, &q, |(m, _)| m.id.clone()))
            })
            .await
    }

    async fn list_attempts_by_endpoint(
        &self,
        app_id: &str,
        endpoint_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>> {
        let (app_id, ep_id, q, f) = (
            app_id.to_string(),
            endpoint_id.to_string(),
            q.clone(),
            f.clone(),
        );
        self.db
            .read(move |conn| {
                let mut sql = format!(
                    "SELECT {ATT_COLS} FROM attempts a JOIN messages m ON m.id = a.msg_id \
                     WHERE a.app_id = ? AND a.endpoint_id = ?"
                );
                let mut args = vec![Value::Text(app_id), Value::Text(ep_id)];
                attempt_filters(&mut sql, &mut args, &f);
                paginate(&mut sql, &mut args, "a.id", &q);
                let mut rows = query_rows(conn, &sql, args, att_row)?;
                if f.with_msg {
                    attach_messages(conn, &mut rows)?;
                }
                Ok(Page::from_rows(rows, &q, |a| a.id.clone()))
            })
            .await
    }

    async fn list_attempts_by_message(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>> {
        let (app_id, msg_id, q, f) = (app_id.to_string(), msg_id.to_string(), q.clone(), f.clone());
        self.db
            .read(move |conn| {
                let mut sql = format!(
                    "SELECT {ATT_COLS} FROM attempts a JOIN messages m ON m.id = a.msg_id \
                     WHERE a.app_id = ? AND a.msg_id = ?"
                );
                let mut args = vec![Value::Text(app_id), Value::Text(msg_id)];
                attempt_filters(&mut sql, &mut args, &f);
                paginate(&mut sql, &mut args, "a.id", &q);
                let mut rows = query_rows(conn, &sql, args, att_row)?;
                if f.with_msg {
                    attach_messages(conn, &mut rows)?;
                }
                Ok(Page::from_rows(rows, &q, |a| a.id.clone()))
            })
            .await
    }

    async fn get_attempt(
        &self,
        app_id: &str,
        msg_id: &str,
        attempt_id: &str,
    ) -> StoreResult<Option<Attempt>> {
        let (app_id, msg_id, id) = (
            app_id.to_string(),
            msg_id.to_string(),
            attempt_id.to_string(),
        );
        self.db
            .read(move |conn| {
                query_one(
                    conn,
                    &format!(
                        "SELECT {ATT_COLS} FROM attempts a \
                         WHERE a.app_id = ?1 AND a.msg_id = ?2 AND a.id = ?3"
                    ),
                    params![app_id, msg_id, id],
                    att_row,
                )
            })
            .await
    }

    async fn idempotency_start(
        &self,
        org_id: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> StoreResult<IdempotencyStart> {
        let (org_id, key, fp) = (org_id.to_string(), key.to_string(), fingerprint.to_string());
        self.db
            .write(move |conn| {
                // Expired entries are removed lazily, a bounded batch per call.
                conn.execute(
                    "DELETE FROM idempotency_keys WHERE rowid IN \
                     (SELECT rowid FROM idempotency_keys WHERE expires_at < ?1 LIMIT 100)",
                    params![now.0],
                )
                .map_err(db_err)?;
                let existing = conn
                    .query_row(
                        "SELECT fingerprint, status, body FROM idempotency_keys \
                         WHERE org_id = ?1 AND key = ?2 AND expires_at >= ?3",
                        params![org_id, key, now.0],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, Option<i64>>(1)?,
                                r.get::<_, Option<Vec<u8>>>(2)?,
                            ))
                        },
                    )
                    .optional()
                    .map_err(db_err)?;
                match existing {
                    Some((fingerprint, Some(status), body)) => Ok(IdempotencyStart::Done {
                        fingerprint,
                        status: status as u16,
                        body: body.unwrap_or_default(),
                    }),
                    Some((_, None, _)) => Ok(IdempotencyStart::InProgress),
                    None => {
                        conn.execute(
                            "INSERT OR REPLACE INTO idempotency_keys (org_id, key, fingerprint, \
                             status, body, expires_at) VALUES (?1, ?2, ?3, NULL, NULL, ?4)",
                            params![org_id, key, fp, now.0 + lease_ms],
                        )
                        .map_err(db_err)?;
                        Ok(IdempotencyStart::Started)
                    }
                }
            })
            .await
    }

    async fn idempotency_complete(
        &self,
        org_id: &str,
        key: &str,
        status: u16,
        body: Vec<u8>,
        expires_at: i64,
    ) -> StoreResult<()> {
        let (org_id, key) = (org_id.to_string(), key.to_string());
        self.db
            .write(move |conn| {
                conn.execute(
                    "UPDATE idempotency_keys SET status = ?3, body = ?4, expires_at = ?5 \
                     WHERE org_id = ?1 AND key = ?2",
                    params![org_id, key, i64::from(status), body, expires_at],
                )
                .map_err(db_err)?;
                Ok(())
            })
            .await
    }

    async fn idempotency_abort(&self, org_id: &str, key: &str) -> StoreResult<()> {
        let (org_id, key) = (org_id.to_string(), key.to_string());
        self.db
            .write(move |conn| {
                conn.execute(
                    "DELETE FROM idempotency_keys WHERE org_id = ?1 AND key = ?2 AND status IS NULL",
                    params![org_id, key],
                )
                .map_err(db_err)?;
                Ok(())
            })
            .await
    }

    async fn queued_deliveries(&self, now: Timestamp) -> StoreResult<Vec<QueuedDelivery>> {
        self.db
            .write(move |conn| {
                // A delivery left `sending` was in flight when hookd stopped:
                // its outcome is unknown, so it is due again at once.
                conn.execute(
                    "UPDATE deliveries SET status = 1, next_attempt_at = ?1 WHERE status = 3",
                    params![now.0],
                )
                .map_err(db_err)?;
                query_rows(
                    conn,
                    "SELECT msg_id, endpoint_id, app_id, attempts, next_attempt_at, manual \
                     FROM deliveries WHERE status = 1 ORDER BY next_attempt_at",
                    vec![],
                    |r| {
                        Ok(QueuedDelivery {
                            msg_id: r.get(0)?,
                            endpoint_id: r.get(1)?,
                            app_id: r.get(2)?,
                            attempts: r.get(3)?,
                            due: Timestamp(r.get::<_, Option<i64>>(4)?.unwrap_or(now.0)),
                            manual: r.get(5)?,
                        })
                    },
                )
            })
            .await
    }

    async fn get_endpoint_by_id(&self, endpoint_id: &str) -> StoreResult<Option<Endpoint>> {
        let id = endpoint_id.to_string();
        self.db
            .read(move |conn| {
                query_one(
                    conn,
                    &format!("SELECT {EP_COLS} FROM endpoints e WHERE e.id = ?1"),
                    params![id],
                    ep_row,
                )
            })
            .await
    }

    async fn get_message_by_id(&self, msg_id: &str) -> StoreResult<Option<Message>> {
        let id = msg_id.to_string();
        self.db
            .read(move |conn| {
                query_one(
                    conn,
                    &format!("SELECT {MSG_COLS} FROM messages m WHERE m.id = ?1"),
                    params![id],
                    |r| msg_row_at(r, 0),
                )
            })
            .await
    }

    async fn get_app_by_id(&self, app_id: &str) -> StoreResult<Option<Application>> {
        let id = app_id.to_string();
        self.db
            .read(move |conn| {
                query_one(
                    conn,
                    &format!("SELECT {APP_COLS} FROM applications WHERE id = ?1"),
                    params![id],
                    app_row,
                )
            })
            .await
    }

    async fn record_attempts(&self, batch: Vec<AttemptResult>) -> StoreResult<Vec<AttemptEffects>> {
        self.db
            .write(move |conn| batch.iter().map(|r| record_one(conn, r)).collect())
            .await
    }

    async fn fail_delivery(&self, msg_id: &str, endpoint_id: &str) -> StoreResult<()> {
        let (m, e) = (msg_id.to_string(), endpoint_id.to_string());
        self.db
            .write(move |conn| {
                conn.execute(
                    "UPDATE deliveries SET status = 2, next_attempt_at = NULL, updated_at = ?3 \
                     WHERE msg_id = ?1 AND endpoint_id = ?2 AND status IN (1, 3)",
                    params![m, e, Timestamp::now().0],
                )
                .map_err(db_err)?;
                Ok(())
            })
            .await
    }

    async fn requeue(
        &self,
        app_id: &str,
        endpoint_id: &str,
        msg_ids: &[String],
        now: Timestamp,
        owner: Option<&str>,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        let (app_id, ep_id, ids) = (
            app_id.to_string(),
            endpoint_id.to_string(),
            msg_ids.to_vec(),
        );
        let owner = owner.map(String::from);
        self.db
            .write(move |conn| {
                let mut out = Vec::with_capacity(ids.len());
                let mut st = conn
                    .prepare_cached(
                        "INSERT INTO deliveries (msg_id, endpoint_id, app_id, status, attempts, \
                         next_attempt_at, manual, lease_owner, created_at, updated_at) \
                         SELECT m.id, ?2, m.app_id, 1, 0, ?4, 1, ?5, ?4, ?4 FROM messages m \
                         WHERE m.id = ?1 AND m.app_id = ?3 \
                         ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = 1, attempts = 0, \
                         next_attempt_at = ?4, manual = 1, lease_owner = ?5, updated_at = ?4 \
                         WHERE deliveries.status != 3",
                    )
                    .map_err(db_err)?;
                for id in ids {
                    if st
                        .execute(params![id, ep_id, app_id, now.0, owner])
                        .map_err(db_err)?
                        > 0
                    {
                        out.push(QueuedDelivery {
                            msg_id: id,
                            endpoint_id: ep_id.clone(),
                            app_id: app_id.clone(),
                            attempts: 0,
                            due: now,
                            manual: true,
                        });
                    }
                }
                Ok(out)
            })
            .await
    }

    async fn failed_message_ids(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<String>> {
        let (app_id, ep_id) = (app_id.to_string(), endpoint_id.to_string());
        self.db
            .read(move |conn| {
                query_rows(
                    conn,
                    "SELECT d.msg_id FROM deliveries d JOIN messages m ON m.id = d.msg_id \
                     WHERE d.app_id = ?1 AND d.endpoint_id = ?2 AND d.status = 2 \
                     AND m.created_at >= ?3 AND m.created_at < ?4 ORDER BY d.msg_id",
                    vec![
                        Value::Text(app_id),
                        Value::Text(ep_id),
                        Value::Integer(since.0),
                        Value::Integer(until.0),
                    ],
                    |r| r.get(0),
                )
            })
            .await
    }

    async fn endpoint_stats(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> StoreResult<EndpointStats> {
        let (app_id, ep_id) = (app_id.to_string(), endpoint_id.to_string());
        self.db
            .read(move |conn| {
                let mut sql = "SELECT d.status, COUNT(*) FROM deliveries d \
                     WHERE d.app_id = ? AND d.endpoint_id = ?"
                    .to_string();
                let mut args = vec![Value::Text(app_id), Value::Text(ep_id)];
                if let Some(s) = since {
                    sql.push_str(" AND d.created_at >= ?");
                    args.push(Value::Integer(s.0));
                }
                if let Some(u) = until {
                    sql.push_str(" AND d.created_at < ?");
                    args.push(Value::Integer(u.0));
                }
                sql.push_str(" GROUP BY d.status");
                let rows: Vec<(i64, i64)> =
                    query_rows(conn, &sql, args, |r| Ok((r.get(0)?, r.get(1)?)))?;
                let mut stats = EndpointStats::default();
                for (status, n) in rows {
                    match DeliveryStatus::from_i64(status) {
                        Some(DeliveryStatus::Success) => stats.success = n,
                        Some(DeliveryStatus::Pending) => stats.pending = n,
                        Some(DeliveryStatus::Sending) => stats.sending = n,
                        Some(DeliveryStatus::Fail) => stats.fail = n,
                        None => {}
                    }
                }
                Ok(stats)
            })
            .await
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        dead_after_ms: i64,
        limit: usize,
        reclaim_own: bool,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        let owner = owner.to_string();
        self.db
            .write(move |conn| {
                // Holders that stopped heartbeating are dead: their deliveries
                // are anyone's. The owner-and-due index serves each holder.
                let mut holders: Vec<Option<String>> = vec![None];
                holders.extend(query_rows(
                    conn,
                    "SELECT id FROM nodes WHERE heartbeat_at < ?1 AND id != ?2",
                    vec![
                        Value::Integer(now.0 - dead_after_ms),
                        Value::Text(owner.clone()),
                    ],
                    |r| r.get::<_, String>(0).map(Some),
                )?);
                if reclaim_own {
                    holders.push(Some(owner.clone()));
                }
                let mut out = Vec::new();
                for holder in holders {
                    if out.len() >= limit {
                        break;
                    }
                    let rows = query_rows(
                        conn,
                        "UPDATE deliveries SET lease_owner = ?1 WHERE rowid IN \
                         (SELECT rowid FROM deliveries WHERE status = 1 AND lease_owner IS ?2 \
                          AND next_attempt_at <= ?3 ORDER BY next_attempt_at LIMIT ?4) \
                         RETURNING msg_id, endpoint_id, app_id, attempts, next_attempt_at, manual",
                        vec![
                            Value::Text(owner.clone()),
                            holder.map(Value::Text).unwrap_or(Value::Null),
                            Value::Integer(now.0),
                            Value::Integer((limit - out.len()) as i64),
                        ],
                        |r| {
                            Ok(QueuedDelivery {
                                msg_id: r.get(0)?,
                                endpoint_id: r.get(1)?,
                                app_id: r.get(2)?,
                                attempts: r.get(3)?,
                                due: Timestamp(r.get::<_, Option<i64>>(4)?.unwrap_or(now.0)),
                                manual: r.get(5)?,
                            })
                        },
                    )?;
                    out.extend(rows);
                }
                out.sort_by(|a, b| {
                    (a.due, &a.msg_id, &a.endpoint_id).cmp(&(b.due, &b.msg_id, &b.endpoint_id))
                });
                Ok(out)
            })
            .await
    }

    async fn heartbeat(&self, node: &str, now: Timestamp, window_ms: i64) -> StoreResult<usize> {
        let node = node.to_string();
        self.db
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO nodes (id, heartbeat_at) VALUES (?1, ?2) \
                     ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                    params![node, now.0],
                )
                .map_err(db_err)?;
                // Nodes silent for a day hold nothing worth remembering them by.
                conn.execute(
                    "DELETE FROM nodes WHERE heartbeat_at < ?1 AND NOT EXISTS \
                     (SELECT 1 FROM deliveries d WHERE d.lease_owner = nodes.id AND d.status = 1)",
                    params![now.0 - 86_400_000],
                )
                .map_err(db_err)?;
                let n: i64 = conn
                    .query_row(
                        "SELECT COUNT(*) FROM nodes WHERE heartbeat_at >= ?1",
                        params![now.0 - window_ms],
                        |r| r.get(0),
                    )
                    .map_err(db_err)?;
                Ok(n.max(1) as usize)
            })
            .await
    }

    async fn expunge_expired(&self, now: Timestamp, limit: usize) -> StoreResult<usize> {
        self.db
            .write(move |conn| {
                let ids: Vec<String> = query_rows(
                    conn,
                    "SELECT id FROM messages WHERE expunged = 0 AND expires_at <= ?1 \
                     ORDER BY expires_at LIMIT ?2",
                    vec![Value::Integer(now.0), Value::Integer(limit as i64)],
                    |r| r.get(0),
                )?;
                for id in &ids {
                    expunge_one(conn, id)?;
                }
                Ok(ids.len())
            })
            .await
    }

    async fn expunge_message(&self, app_id: &str, msg_id: &str) -> StoreResult<bool> {
        let (app_id, msg_id) = (app_id.to_string(), msg_id.to_string());
        self.db
            .write(move |conn| {
                let found = conn
                    .query_row(
                        "SELECT 1 FROM messages WHERE app_id = ?1 AND id = ?2",
                        params![app_id, msg_id],
                        |_| Ok(()),
                    )
                    .optional()
                    .map_err(db_err)?
                    .is_some();
                if found {
                    expunge_one(conn, &msg_id)?;
                }
                Ok(found)
            })
            .await
    }

    async fn count_disabled_endpoints(&self) -> StoreResult<u64> {
        self.db
            .read(|conn| {
                conn.query_row(
                    "SELECT COUNT(*) FROM endpoints WHERE disabled = 1",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n.max(0) as u64)
                .map_err(db_err)
            })
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db
            .read(|conn| {
                conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                    .map_err(db_err)?;
                Ok(())
            })
            .await
    }
}
