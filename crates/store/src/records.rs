//! Records as rows, the same on both stores: each table's column list, a
//! record's values in that order (for writes), and decoding a row back (for
//! reads). A backend supplies only how to read one column ([`Row`]).
//!
//! Each `*_COLS` list and its decoder agree on column order; `*_at`
//! decoders read a record starting at an offset, for joined rows.

use hookd_core::model::{
    ApiKey, Application, Attempt, BackgroundTask, Delivery, DeliveryStatus, Endpoint, EventType,
    KeyKind, Message, NewToken, Route, Scope, TaskKind, TaskStatus, TriggerType,
};
use hookd_core::store::{MessageRoute, QueuedDelivery, StoreError, StoreResult};
use hookd_core::time::Timestamp;

use crate::codec::{from_json, from_json_opt, json, json_opt, raw_payload};
use crate::seal::{Sealer, aad};
use crate::sql::Arg;

/// One result row, as each backend's driver reads its columns.
pub(crate) trait Row {
    fn text(&self, i: usize) -> StoreResult<String>;
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>>;
    /// An integer column of any width.
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>>;
    fn flag(&self, i: usize) -> StoreResult<bool>;
    /// A response body (text on SQLite, bytes on PostgreSQL).
    fn body(&self, i: usize) -> StoreResult<String>;
    fn opt_bytes(&self, i: usize) -> StoreResult<Option<Vec<u8>>>;

    fn int(&self, i: usize) -> StoreResult<i64> {
        Ok(self.opt_int(i)?.unwrap_or(0))
    }
    fn time(&self, i: usize) -> StoreResult<Timestamp> {
        Ok(Timestamp(self.int(i)?))
    }
    fn opt_time(&self, i: usize) -> StoreResult<Option<Timestamp>> {
        Ok(self.opt_int(i)?.map(Timestamp))
    }
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Arg) -> Arg {
    v.map_or(Arg::Null, f)
}

fn status(v: i64, default: DeliveryStatus) -> DeliveryStatus {
    DeliveryStatus::from_i64(v).unwrap_or(default)
}

pub(crate) const APP_COLS: &str =
    "id, org_id, uid, name, rate_limit, metadata, created_at, updated_at, retention_days";

pub(crate) fn app_args(a: &Application) -> Vec<Arg> {
    vec![
        a.id.as_str().into(),
        a.org_id.as_str().into(),
        opt(a.uid.clone(), Arg::Text),
        a.name.as_str().into(),
        opt(a.rate_limit, |v| Arg::Int(v.into())),
        json(&a.metadata).into(),
        a.created_at.0.into(),
        a.updated_at.0.into(),
        opt(a.retention_days, |v| Arg::Int(v.into())),
    ]
}

pub(crate) fn app(r: &dyn Row) -> StoreResult<Application> {
    Ok(Application {
        id: r.text(0)?,
        org_id: r.text(1)?,
        uid: r.opt_text(2)?,
        name: r.text(3)?,
        rate_limit: r.opt_int(4)?.map(|v| v.clamp(0, u16::MAX.into()) as u16),
        metadata: from_json(r.opt_text(5)?),
        created_at: r.time(6)?,
        updated_at: r.time(7)?,
        retention_days: r.opt_int(8)?.map(|v| v.clamp(0, u32::MAX.into()) as u32),
    })
}

pub(crate) const EP_COLS: &str = "e.id, e.app_id, e.uid, e.url, e.description, e.version, \
    e.rate_limit, e.disabled, e.filter_types, e.channels, e.metadata, e.secret, e.old_secrets, \
    e.headers, e.created_at, e.updated_at, e.filter, e.fifo";
/// How many columns [`EP_COLS`] has.
pub(crate) const EP_WIDTH: usize = 18;

/// The endpoint's columns in [`EP_COLS`] order, its credentials sealed.
pub(crate) fn endpoint_args(e: &Endpoint, sealer: &Sealer) -> StoreResult<Vec<Arg>> {
    let seal = |v: &str, col| sealer.seal(v, &aad(&e.id, col)).map(Arg::Text);
    Ok(vec![
        e.id.as_str().into(),
        e.app_id.as_str().into(),
        opt(e.uid.clone(), Arg::Text),
        e.url.as_str().into(),
        e.description.as_str().into(),
        i64::from(e.version).into(),
        opt(e.rate_limit, |v| Arg::Int(v.into())),
        Arg::Bool(e.disabled),
        opt(json_opt(&e.filter_types), Arg::Text),
        opt(json_opt(&e.channels), Arg::Text),
        json(&e.metadata).into(),
        seal(&e.secret, "secret")?,
        seal(&json(&e.old_secrets), "old_secrets")?,
        seal(&json(&e.headers), "headers")?,
        e.created_at.0.into(),
        e.updated_at.0.into(),
        opt(e.filter.clone(), Arg::Text),
        Arg::Bool(e.fifo),
    ])
}

pub(crate) fn endpoint(r: &dyn Row, sealer: &Sealer) -> StoreResult<Endpoint> {
    endpoint_at(r, 0, sealer)
}

/// An endpoint whose credentials are opened with `sealer`.
pub(crate) fn endpoint_at(r: &dyn Row, o: usize, sealer: &Sealer) -> StoreResult<Endpoint> {
    let id = r.text(o)?;
    let open = |i, col| -> StoreResult<String> { sealer.open(r.text(i)?, &aad(&id, col)) };
    Ok(Endpoint {
        secret: open(o + 11, "secret")?,
        old_secrets: from_json(Some(open(o + 12, "old_secrets")?)),
        headers: from_json(Some(open(o + 13, "headers")?)),
        id: id.clone(),
        app_id: r.text(o + 1)?,
        uid: r.opt_text(o + 2)?,
        url: r.text(o + 3)?,
        description: r.text(o + 4)?,
        version: r.int(o + 5)? as i32,
        rate_limit: r
            .opt_int(o + 6)?
            .map(|v| v.clamp(0, u16::MAX.into()) as u16),
        disabled: r.flag(o + 7)?,
        filter_types: from_json_opt(r.opt_text(o + 8)?),
        channels: from_json_opt(r.opt_text(o + 9)?),
        metadata: from_json(r.opt_text(o + 10)?),
        created_at: r.time(o + 14)?,
        updated_at: r.time(o + 15)?,
        filter: r.opt_text(o + 16)?,
        fifo: r.flag(o + 17)?,
    })
}

/// What routing reads of an endpoint: [`route`]'s columns.
pub(crate) const ROUTE_COLS: &str = "e.id, e.filter_types, e.channels, e.filter, e.fifo";

pub(crate) fn route(r: &dyn Row) -> StoreResult<Route> {
    Ok(Route {
        id: r.text(0)?,
        filter_types: from_json_opt(r.opt_text(1)?),
        channels: from_json_opt(r.opt_text(2)?),
        filter: r
            .opt_text(3)?
            .as_deref()
            .map(hookd_core::filter::Filter::cached),
        fifo: r.flag(4)?,
    })
}

pub(crate) const ET_COLS: &str = "org_id, name, description, archived, deprecated, schemas, \
    feature_flags, group_name, created_at, updated_at, retry_schedule";

pub(crate) fn event_type_args(et: &EventType) -> Vec<Arg> {
    vec![
        et.org_id.as_str().into(),
        et.name.as_str().into(),
        et.description.as_str().into(),
        Arg::Bool(et.archived),
        Arg::Bool(et.deprecated),
        opt(json_opt(&et.schemas), Arg::Text),
        opt(json_opt(&et.feature_flags), Arg::Text),
        opt(et.group_name.clone(), Arg::Text),
        et.created_at.0.into(),
        et.updated_at.0.into(),
        opt(json_opt(&et.retry_schedule), Arg::Text),
    ]
}

pub(crate) fn event_type(r: &dyn Row) -> StoreResult<EventType> {
    Ok(EventType {
        org_id: r.text(0)?,
        name: r.text(1)?,
        description: r.text(2)?,
        archived: r.flag(3)?,
        deprecated: r.flag(4)?,
        schemas: from_json_opt(r.opt_text(5)?),
        feature_flags: from_json_opt(r.opt_text(6)?),
        group_name: r.opt_text(7)?,
        created_at: r.time(8)?,
        updated_at: r.time(9)?,
        retry_schedule: from_json_opt(r.opt_text(10)?),
    })
}

pub(crate) const MSG_COLS: &str = "m.id, m.app_id, m.event_type, m.event_id, m.payload, m.channels, m.tags, m.created_at, \
     m.deliver_at";
/// How many columns [`MSG_COLS`] has.
pub(crate) const MSG_WIDTH: usize = 9;

/// The message's columns (as [`MSG_COLS`]) and then its expiry.
pub(crate) fn message_args(m: &Message, expires_at: Timestamp) -> Vec<Arg> {
    vec![
        m.id.as_str().into(),
        m.app_id.as_str().into(),
        m.event_type.as_str().into(),
        opt(m.event_id.clone(), Arg::Text),
        m.payload.get().into(),
        opt(json_opt(&m.channels), Arg::Text),
        opt(json_opt(&m.tags), Arg::Text),
        m.timestamp.0.into(),
        opt(m.deliver_at.map(|t| t.0), Arg::Int),
        expires_at.0.into(),
    ]
}

pub(crate) fn message(r: &dyn Row) -> StoreResult<Message> {
    message_at(r, 0)
}

pub(crate) fn message_at(r: &dyn Row, o: usize) -> StoreResult<Message> {
    Ok(Message {
        id: r.text(o)?,
        app_id: r.text(o + 1)?,
        event_type: r.text(o + 2)?,
        event_id: r.opt_text(o + 3)?,
        payload: raw_payload(r.text(o + 4)?),
        channels: from_json_opt(r.opt_text(o + 5)?),
        tags: from_json_opt(r.opt_text(o + 6)?),
        timestamp: r.time(o + 7)?,
        deliver_at: r.opt_time(o + 8)?,
    })
}

pub(crate) const DLV_COLS: &str =
    "d.msg_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at";

pub(crate) fn delivery_at(r: &dyn Row, o: usize) -> StoreResult<Delivery> {
    Ok(Delivery {
        msg_id: r.text(o)?,
        endpoint_id: r.text(o + 1)?,
        status: status(r.int(o + 2)?, DeliveryStatus::Pending),
        attempts: r.int(o + 3)?,
        next_attempt_at: r.opt_time(o + 4)?,
    })
}

/// Columns of [`queued`], unqualified (single-table queries and `RETURNING`).
pub(crate) const QUEUED_COLS: &str =
    "msg_id, endpoint_id, app_id, attempts, next_attempt_at, manual";

/// A [`QUEUED_COLS`] row; a delivery with no time set is due at `now`.
pub(crate) fn queued(r: &dyn Row, now: Timestamp) -> StoreResult<QueuedDelivery> {
    Ok(QueuedDelivery {
        msg_id: r.text(0)?,
        endpoint_id: r.text(1)?,
        app_id: r.text(2)?,
        attempts: r.int(3)?,
        due: r.opt_time(4)?.unwrap_or(now),
        manual: r.flag(5)?,
    })
}

pub(crate) const ATT_COLS: &str = "a.id, a.msg_id, a.endpoint_id, a.url, a.status, \
    a.response_status, a.response, a.duration_ms, a.trigger_type, a.error_class, a.created_at, \
    a.sent_headers, a.response_headers";

/// The attempt's headers as stored: (sent, response) JSON.
pub(crate) fn attempt_headers(a: &Attempt) -> (Option<String>, Option<String>) {
    (json_opt(&a.sent_headers), json_opt(&a.response_headers))
}

pub(crate) fn attempt(r: &dyn Row) -> StoreResult<Attempt> {
    Ok(Attempt {
        id: r.text(0)?,
        msg_id: r.text(1)?,
        endpoint_id: r.text(2)?,
        url: r.text(3)?,
        status: status(r.int(4)?, DeliveryStatus::Fail),
        response_status_code: r.int(5)? as i32,
        response: r.body(6)?,
        response_duration_ms: r.int(7)?,
        trigger_type: if r.int(8)? == TriggerType::Manual as i64 {
            TriggerType::Manual
        } else {
            TriggerType::Scheduled
        },
        error_class: r.opt_text(9)?,
        timestamp: r.time(10)?,
        sent_headers: from_json_opt(r.opt_text(11)?),
        response_headers: from_json_opt(r.opt_text(12)?),
        msg: None,
    })
}

pub(crate) const KEY_COLS: &str = "k.id, k.org_id, k.app_id, k.name, k.created_at, \
    k.revoked_at, o.name, k.kind, k.expires_at, k.capabilities, k.session_id";

pub(crate) fn api_key(r: &dyn Row) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: r.text(0)?,
        org_id: r.text(1)?,
        scope: r.opt_text(2)?.map(Scope::App).unwrap_or(Scope::Org),
        name: r.opt_text(3)?,
        created_at: r.time(4)?,
        revoked_at: r.opt_time(5)?,
        org_name: r.text(6)?,
        kind: KeyKind::parse(&r.text(7)?),
        expires_at: r.opt_time(8)?,
        capabilities: from_json_opt(r.opt_text(9)?),
        session_id: r.opt_text(10)?,
    })
}

/// What routing reads of a message: [`message_route`]'s columns.
pub(crate) const MSG_ROUTE_COLS: &str = "m.id, m.event_type, m.channels";

pub(crate) fn message_route(r: &dyn Row) -> StoreResult<MessageRoute> {
    Ok(MessageRoute {
        id: r.text(0)?,
        event_type: r.text(1)?,
        channels: from_json_opt(r.opt_text(2)?),
    })
}

pub(crate) const TASK_COLS: &str =
    "id, org_id, app_id, task, status, data, node, created_at, updated_at";

pub(crate) fn task_args(t: &BackgroundTask) -> Vec<Arg> {
    vec![
        t.id.as_str().into(),
        t.org_id.as_str().into(),
        opt(t.app_id.clone(), Arg::Text),
        t.kind.as_str().into(),
        t.status.as_str().into(),
        json(&t.data).into(),
        opt(t.node.clone(), Arg::Text),
        t.created_at.0.into(),
        t.updated_at.0.into(),
    ]
}

pub(crate) fn task(r: &dyn Row) -> StoreResult<BackgroundTask> {
    let kind = r.text(3)?;
    let status = r.text(4)?;
    Ok(BackgroundTask {
        id: r.text(0)?,
        org_id: r.text(1)?,
        app_id: r.opt_text(2)?,
        kind: TaskKind::parse(&kind)
            .ok_or_else(|| StoreError::backend(format!("unknown task kind {kind:?}")))?,
        status: TaskStatus::parse(&status)
            .ok_or_else(|| StoreError::backend(format!("unknown task status {status:?}")))?,
        data: from_json_opt(r.opt_text(5)?)
            .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
        node: r.opt_text(6)?,
        created_at: r.time(7)?,
        updated_at: r.time(8)?,
    })
}

/// A task's `id` and `data`, for failing it with its progress kept.
pub(crate) fn task_progress(r: &dyn Row) -> StoreResult<(String, serde_json::Value)> {
    Ok((
        r.text(0)?,
        from_json_opt(r.opt_text(1)?).unwrap_or(serde_json::Value::Null),
    ))
}

/// A new key's columns: id, org_id, app_id, name, hash, created_at, kind,
/// expires_at, capabilities, session_id.
pub(crate) fn token_args(id: &str, t: &NewToken, now: Timestamp) -> Vec<Arg> {
    let app = match &t.scope {
        Scope::App(a) => Arg::Text(a.clone()),
        Scope::Org => Arg::Null,
    };
    vec![
        id.into(),
        t.org_id.as_str().into(),
        app,
        opt(t.name.clone(), Arg::Text),
        Arg::Bytes(t.hash.to_vec()),
        now.0.into(),
        t.kind.as_str().into(),
        t.expires_at.0.into(),
        opt(json_opt(&t.capabilities), Arg::Text),
        opt(t.session_id.clone(), Arg::Text),
    ]
}
