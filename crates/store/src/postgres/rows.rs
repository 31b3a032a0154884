//! Column lists and row decoding for the PostgreSQL store. Each `*_COLS`
//! constant and its decoder agree on column order; the `_at` decoders read a
//! record starting at an offset, for joined rows.

use hookd_core::model::{
    ApiKey, Application, Attempt, Delivery, DeliveryStatus, Endpoint, EventType, Message, Scope,
    TriggerType,
};
use hookd_core::store::{QueuedDelivery, StoreError, StoreResult};
use hookd_core::time::Timestamp;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::codec::{from_json, from_json_opt, raw_payload};

/// Column `i` of `r`, as `T`.
pub(crate) fn col<'a, T: FromSql<'a>>(r: &'a Row, i: usize) -> StoreResult<T> {
    r.try_get(i)
        .map_err(|e| StoreError::backend_from(format!("reading column {i}"), e))
}

fn ts(r: &Row, i: usize) -> StoreResult<Timestamp> {
    Ok(Timestamp(col(r, i)?))
}

fn rate_limit(r: &Row, i: usize) -> StoreResult<Option<u16>> {
    Ok(col::<Option<i32>>(r, i)?.map(|v| v as u16))
}

fn status(v: i16, default: DeliveryStatus) -> DeliveryStatus {
    DeliveryStatus::from_i64(i64::from(v)).unwrap_or(default)
}

pub(crate) const APP_COLS: &str =
    "id, org_id, uid, name, rate_limit, metadata, created_at, updated_at, retention_days";

pub(crate) fn app(r: &Row) -> StoreResult<Application> {
    Ok(Application {
        id: col(r, 0)?,
        org_id: col(r, 1)?,
        uid: col(r, 2)?,
        name: col(r, 3)?,
        rate_limit: rate_limit(r, 4)?,
        metadata: from_json(col(r, 5)?),
        created_at: ts(r, 6)?,
        updated_at: ts(r, 7)?,
        retention_days: col::<Option<i32>>(r, 8)?.map(|v| v.max(0) as u32),
    })
}

pub(crate) const EP_COLS: &str = "e.id, e.app_id, e.uid, e.url, e.description, e.version, \
    e.rate_limit, e.disabled, e.filter_types, e.channels, e.metadata, e.secret, e.old_secrets, \
    e.headers, e.created_at, e.updated_at";
/// How many columns [`EP_COLS`] has.
pub(crate) const EP_WIDTH: usize = 16;

pub(crate) fn endpoint(r: &Row) -> StoreResult<Endpoint> {
    endpoint_at(r, 0)
}

pub(crate) fn endpoint_at(r: &Row, o: usize) -> StoreResult<Endpoint> {
    Ok(Endpoint {
        id: col(r, o)?,
        app_id: col(r, o + 1)?,
        uid: col(r, o + 2)?,
        url: col(r, o + 3)?,
        description: col(r, o + 4)?,
        version: col(r, o + 5)?,
        rate_limit: rate_limit(r, o + 6)?,
        disabled: col(r, o + 7)?,
        filter_types: from_json_opt(col(r, o + 8)?),
        channels: from_json_opt(col(r, o + 9)?),
        metadata: from_json(col(r, o + 10)?),
        secret: col(r, o + 11)?,
        old_secrets: from_json(col(r, o + 12)?),
        headers: from_json(col(r, o + 13)?),
        created_at: ts(r, o + 14)?,
        updated_at: ts(r, o + 15)?,
    })
}

pub(crate) const ET_COLS: &str = "org_id, name, description, archived, deprecated, schemas, \
    feature_flags, group_name, created_at, updated_at";

pub(crate) fn event_type(r: &Row) -> StoreResult<EventType> {
    Ok(EventType {
        org_id: col(r, 0)?,
        name: col(r, 1)?,
        description: col(r, 2)?,
        archived: col(r, 3)?,
        deprecated: col(r, 4)?,
        schemas: from_json_opt(col(r, 5)?),
        feature_flags: from_json_opt(col(r, 6)?),
        group_name: col(r, 7)?,
        created_at: ts(r, 8)?,
        updated_at: ts(r, 9)?,
    })
}

pub(crate) const MSG_COLS: &str =
    "m.id, m.app_id, m.event_type, m.event_id, m.payload, m.channels, m.tags, m.created_at";
/// How many columns [`MSG_COLS`] has.
pub(crate) const MSG_WIDTH: usize = 8;

pub(crate) fn message(r: &Row) -> StoreResult<Message> {
    message_at(r, 0)
}

pub(crate) fn message_at(r: &Row, o: usize) -> StoreResult<Message> {
    Ok(Message {
        id: col(r, o)?,
        app_id: col(r, o + 1)?,
        event_type: col(r, o + 2)?,
        event_id: col(r, o + 3)?,
        payload: raw_payload(col(r, o + 4)?),
        channels: from_json_opt(col(r, o + 5)?),
        tags: from_json_opt(col(r, o + 6)?),
        timestamp: ts(r, o + 7)?,
    })
}

pub(crate) const DLV_COLS: &str =
    "d.msg_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at";

pub(crate) fn delivery_at(r: &Row, o: usize) -> StoreResult<Delivery> {
    Ok(Delivery {
        msg_id: col(r, o)?,
        endpoint_id: col(r, o + 1)?,
        status: status(col(r, o + 2)?, DeliveryStatus::Pending),
        attempts: col(r, o + 3)?,
        next_attempt_at: col::<Option<i64>>(r, o + 4)?.map(Timestamp),
    })
}

/// Columns of [`queued`], unqualified (single-table queries and `RETURNING`).
pub(crate) const QUEUED_COLS: &str =
    "msg_id, endpoint_id, app_id, attempts, next_attempt_at, manual";

/// A [`QUEUED_COLS`] row; a delivery with no time set is due at `now`.
pub(crate) fn queued(r: &Row, now: Timestamp) -> StoreResult<QueuedDelivery> {
    Ok(QueuedDelivery {
        msg_id: col(r, 0)?,
        endpoint_id: col(r, 1)?,
        app_id: col(r, 2)?,
        attempts: col(r, 3)?,
        due: Timestamp(col::<Option<i64>>(r, 4)?.unwrap_or(now.0)),
        manual: col(r, 5)?,
    })
}

pub(crate) const ATT_COLS: &str = "a.id, a.msg_id, a.endpoint_id, a.url, a.status, \
    a.response_status, a.response, a.duration_ms, a.trigger_type, a.error_class, a.created_at";

pub(crate) fn attempt(r: &Row) -> StoreResult<Attempt> {
    let response: Vec<u8> = col(r, 6)?;
    Ok(Attempt {
        id: col(r, 0)?,
        msg_id: col(r, 1)?,
        endpoint_id: col(r, 2)?,
        url: col(r, 3)?,
        status: status(col(r, 4)?, DeliveryStatus::Fail),
        response_status_code: col(r, 5)?,
        // Written from a `String`, so valid UTF-8 unless edited from outside.
        response: String::from_utf8(response)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        response_duration_ms: col(r, 7)?,
        trigger_type: if col::<i16>(r, 8)? == TriggerType::Manual as i16 {
            TriggerType::Manual
        } else {
            TriggerType::Scheduled
        },
        error_class: col(r, 9)?,
        timestamp: ts(r, 10)?,
        msg: None,
    })
}

pub(crate) const KEY_COLS: &str =
    "k.id, k.org_id, k.app_id, k.name, k.created_at, k.revoked_at, o.name";

pub(crate) fn api_key(r: &Row) -> StoreResult<ApiKey> {
    let app_id: Option<String> = col(r, 2)?;
    Ok(ApiKey {
        id: col(r, 0)?,
        org_id: col(r, 1)?,
        scope: app_id.map(Scope::App).unwrap_or(Scope::Org),
        name: col(r, 3)?,
        created_at: ts(r, 4)?,
        revoked_at: col::<Option<i64>>(r, 5)?.map(Timestamp),
        org_name: col(r, 6)?,
    })
}

/// Decodes every row with `f`.
pub(crate) fn all<T>(rows: &[Row], f: impl Fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}
