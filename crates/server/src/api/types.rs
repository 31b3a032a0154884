//! The API's JSON shapes (Svix v1), with their OpenAPI schemas.
//!
//! Outputs emit both spellings where the Svix SDKs disagree (`filterTypes` /
//! `eventTypes`, `rateLimit` / `throttleRate`); inputs accept either.

use std::collections::BTreeMap;

use hookd_core::model::{
    Application, Attempt, Delivery, DeliveryStatus, Endpoint, EventType, Message,
};
use hookd_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::extract::nullable;

/// A page of results with Svix's cursor fields.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T: ToSchema> {
    pub data: Vec<T>,
    /// Pass as `iterator` to get the next page; `null` when the page is empty.
    pub iterator: Option<String>,
    /// Pass as `iterator` to get the previous page.
    pub prev_iterator: Option<String>,
    /// `true` when there are no more items after this page.
    pub done: bool,
}

impl<T: ToSchema> ListResponse<T> {
    pub fn from_page<U>(page: hookd_core::store::Page<U>, f: impl FnMut(U) -> T) -> Self {
        let page = page.map(f);
        ListResponse {
            data: page.data,
            iterator: page.iterator,
            prev_iterator: page.prev_iterator,
            done: page.done,
        }
    }
}

fn status_text(s: DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Success => "success",
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Fail => "fail",
        DeliveryStatus::Sending => "sending",
        DeliveryStatus::Canceled => "canceled",
    }
}

// ---------- applications ----------

#[derive(Deserialize, ToSchema, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    /// Display name, 1-4096 characters.
    pub name: String,
    /// Your own unique identifier; usable in place of the id in paths.
    pub uid: Option<String>,
    /// Deprecated alias of `throttleRate`.
    pub rate_limit: Option<i64>,
    /// Messages per second delivered to each endpoint of this application.
    pub throttle_rate: Option<i64>,
    pub metadata: Option<BTreeMap<String, String>>,
    /// hookd: days this application's message payloads are kept (1-3650;
    /// default: the server's `retention_period`).
    pub payload_retention_period: Option<i64>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub uid: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub rate_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub throttle_rate: Option<Option<i64>>,
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub payload_retention_period: Option<Option<i64>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    pub id: String,
    pub uid: Option<String>,
    pub name: String,
    pub rate_limit: Option<u16>,
    pub throttle_rate: Option<u16>,
    pub metadata: BTreeMap<String, String>,
    /// hookd: days message payloads are kept, when set for this application.
    pub payload_retention_period: Option<u32>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Application> for ApplicationOut {
    fn from(a: Application) -> Self {
        ApplicationOut {
            id: a.id,
            uid: a.uid,
            name: a.name,
            rate_limit: a.rate_limit,
            throttle_rate: a.rate_limit,
            metadata: a.metadata,
            payload_retention_period: a.retention_days,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

// ---------- endpoints ----------

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    /// Where messages are POSTed: an absolute http(s) URL.
    pub url: String,
    pub description: Option<String>,
    pub uid: Option<String>,
    pub disabled: Option<bool>,
    /// Only messages on one of these channels are delivered (none = all).
    pub channels: Option<Vec<String>>,
    /// Only these event types are delivered (none = all).
    pub filter_types: Option<Vec<String>>,
    /// Alias of `filterTypes` sent by newer SDKs.
    pub event_types: Option<Vec<String>>,
    /// hookd extension: only messages whose payload matches this expression
    /// are delivered, e.g. `data.amount >= 100 and data.currency in ["usd"]`.
    pub filter: Option<String>,
    /// hookd extension: an ordered endpoint. Messages are sent one at a
    /// time in acceptance order; each succeeds or is given up (retries
    /// included) before the next is sent. A PUT without it keeps the setting.
    pub fifo: Option<bool>,
    /// `whsec_` + base64 of 24-64 bytes; generated when absent.
    pub secret: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    /// Extra headers sent with every delivery.
    pub headers: Option<BTreeMap<String, String>>,
    /// Deprecated alias of `throttleRate`.
    pub rate_limit: Option<i64>,
    /// Messages per second.
    pub throttle_rate: Option<i64>,
    pub version: Option<i64>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub uid: Option<Option<String>>,
    pub disabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub channels: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub filter_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Option<Option<Vec<String>>>,
    /// hookd extension: the payload filter; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub filter: Option<Option<String>>,
    /// hookd extension: an ordered (FIFO) endpoint.
    pub fifo: Option<bool>,
    pub secret: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub rate_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub throttle_rate: Option<Option<i64>>,
    pub version: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    pub id: String,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub version: i32,
    pub disabled: bool,
    pub filter_types: Option<Vec<String>>,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    /// hookd extension: the payload filter, if any.
    pub filter: Option<String>,
    /// hookd extension: an ordered (FIFO) endpoint.
    pub fifo: bool,
    pub rate_limit: Option<u16>,
    pub throttle_rate: Option<u16>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Endpoint> for EndpointOut {
    fn from(e: Endpoint) -> Self {
        EndpointOut {
            id: e.id,
            uid: e.uid,
            url: e.url,
            description: e.description,
            version: e.version,
            disabled: e.disabled,
            event_types: e.filter_types.clone(),
            filter_types: e.filter_types,
            channels: e.channels,
            filter: e.filter,
            fifo: e.fifo,
            rate_limit: e.rate_limit,
            throttle_rate: e.rate_limit,
            metadata: e.metadata,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EndpointSecretOut {
    /// `whsec_…`
    pub key: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSecretRotateIn {
    /// The new secret; generated when absent.
    pub key: Option<String>,
    /// How long the old secret keeps signing (default: the server's setting).
    pub grace_period_seconds: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
pub struct EndpointHeadersIn {
    pub headers: BTreeMap<String, String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHeadersPatchIn {
    /// Headers to set; a `null` value removes the header.
    #[schema(value_type = BTreeMap<String, Option<String>>)]
    pub headers: BTreeMap<String, Option<String>>,
    /// Header names to remove.
    pub delete_headers: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointHeadersOut {
    /// Header values, except those of sensitive headers.
    pub headers: BTreeMap<String, String>,
    /// Names of set headers whose values are hidden.
    pub sensitive: Vec<String>,
}

// ---------- payload filters ----------

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilterTestIn {
    /// The payload filter to try.
    pub filter: String,
    /// Only messages of these event types are tried (default: all).
    pub event_types: Option<Vec<String>>,
    /// How many of the application's most recent messages to try, 1-250 (default 50).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilterTestResult {
    pub id: String,
    pub event_type: String,
    pub timestamp: Timestamp,
    pub matched: bool,
}

#[derive(Serialize, ToSchema)]
pub struct FilterTestOut {
    /// Messages tried, newest first.
    pub data: Vec<FilterTestResult>,
    pub tested: usize,
    pub matched: usize,
}

// ---------- event types ----------

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeIn {
    /// `[a-zA-Z0-9-_.]`, at most 256 characters, e.g. `invoice.paid`.
    pub name: String,
    pub description: String,
    pub archived: Option<bool>,
    pub deprecated: Option<bool>,
    /// JSON schemas keyed by version, e.g. `{"1": {...}}`.
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<serde_json::Value>,
    pub group_name: Option<String>,
    pub feature_flags: Option<Vec<String>>,
    /// Deprecated: a single feature flag.
    pub feature_flag: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeUpdate {
    pub description: String,
    pub archived: Option<bool>,
    pub deprecated: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<serde_json::Value>,
    pub group_name: Option<String>,
    pub feature_flags: Option<Vec<String>>,
    pub feature_flag: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct EventTypePatch {
    pub description: Option<String>,
    pub archived: Option<bool>,
    pub deprecated: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Option<serde_json::Value>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub group_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub feature_flags: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub feature_flag: Option<Option<String>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub deprecated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<serde_json::Value>,
    pub group_name: Option<String>,
    pub feature_flags: Option<Vec<String>>,
    pub feature_flag: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl EventTypeOut {
    pub fn new(e: EventType, with_content: bool) -> Self {
        EventTypeOut {
            name: e.name,
            description: e.description,
            archived: e.archived,
            deprecated: e.deprecated,
            schemas: if with_content { e.schemas } else { None },
            group_name: e.group_name,
            feature_flag: e.feature_flags.as_ref().and_then(|f| f.first().cloned()),
            feature_flags: e.feature_flags,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

// ---------- messages ----------

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    /// The event type, e.g. `invoice.paid`.
    pub event_type: String,
    /// Your unique id for this event; a second message with the same id is a 409.
    pub event_id: Option<String>,
    /// The JSON object delivered as the webhook body.
    #[schema(value_type = Object)]
    pub payload: Option<Box<RawValue>>,
    /// Alias of `payload`.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Box<RawValue>>,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// Creates the application (path parameter = its uid) when it does not exist.
    pub application: Option<ApplicationIn>,
    /// Days this message's payload is kept (1-3650); default: the
    /// application's setting, else the server's `retention_period`.
    pub payload_retention_period: Option<i64>,
    /// Hours this message's payload is kept (1-87600); wins over the days.
    pub payload_retention_hours: Option<i64>,
    /// Deliver at this time (RFC 3339), at most 30 days ahead; a time that
    /// has passed means at once. Unlike Svix, which asks for one minute to 24
    /// hours ahead, hookd takes any time in that range.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deliver_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    pub id: String,
    pub event_id: Option<String>,
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub timestamp: Timestamp,
    /// When the message is delivered, if it was scheduled.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deliver_at: Option<Timestamp>,
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_string()).unwrap_or_default()
}

impl MessageOut {
    pub fn new(m: Message, with_content: bool) -> Self {
        MessageOut {
            id: m.id,
            event_id: m.event_id,
            event_type: m.event_type,
            payload: if with_content {
                m.payload
            } else {
                empty_object()
            },
            channels: m.channels,
            tags: m.tags,
            timestamp: m.timestamp,
            deliver_at: m.deliver_at,
        }
    }
}

/// A message with its delivery state to one endpoint.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointMessageOut {
    #[serde(flatten)]
    pub msg: MessageOut,
    /// 0 success, 1 pending, 2 fail, 3 sending.
    pub status: i64,
    pub status_text: &'static str,
    pub next_attempt: Option<Timestamp>,
}

/// Pending deliveries whose attempt is under way are shown as sending (3);
/// that state is known to the delivery engine, not stored.
pub fn overlay(mut d: Delivery, engine: &crate::delivery::Engine) -> Delivery {
    if d.status == DeliveryStatus::Pending && engine.is_sending(&d.msg_id, &d.endpoint_id) {
        d.status = DeliveryStatus::Sending;
    }
    d
}

impl EndpointMessageOut {
    pub fn new(m: Message, d: Delivery, with_content: bool) -> Self {
        EndpointMessageOut {
            msg: MessageOut::new(m, with_content),
            status: d.status as i64,
            status_text: status_text(d.status),
            next_attempt: d.next_attempt_at,
        }
    }
}

/// An endpoint with the delivery state of one message to it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageEndpointOut {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    pub status: i64,
    pub status_text: &'static str,
    pub next_attempt: Option<Timestamp>,
}

impl MessageEndpointOut {
    pub fn new(e: Endpoint, d: Delivery) -> Self {
        MessageEndpointOut {
            endpoint: e.into(),
            status: d.status as i64,
            status_text: status_text(d.status),
            next_attempt: d.next_attempt_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttemptOut {
    pub id: String,
    pub msg_id: String,
    pub endpoint_id: String,
    pub url: String,
    /// The response body, truncated.
    pub response: String,
    /// 0 when there was no HTTP response.
    pub response_status_code: i32,
    pub response_duration_ms: i64,
    pub status: i64,
    pub status_text: &'static str,
    /// 0 scheduled, 1 manual.
    pub trigger_type: i64,
    /// Why no response was received: timeout, connect, dns, tls, blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<MessageOut>,
}

impl MessageAttemptOut {
    pub fn new(a: Attempt, with_content: bool) -> Self {
        MessageAttemptOut {
            id: a.id,
            msg_id: a.msg_id,
            endpoint_id: a.endpoint_id,
            url: a.url,
            response: if with_content {
                a.response
            } else {
                "{}".to_string()
            },
            response_status_code: a.response_status_code,
            response_duration_ms: a.response_duration_ms,
            status: a.status as i64,
            status_text: status_text(a.status),
            trigger_type: a.trigger_type as i64,
            error_class: a.error_class,
            timestamp: a.timestamp,
            msg: a.msg.map(|m| MessageOut::new(m, with_content)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HealthOut {
    /// `ok` or `unavailable`.
    pub status: String,
    /// State of each component.
    pub checks: BTreeMap<String, String>,
    pub version: String,
}

/// One delay of a retry schedule (Svix `Duration`).
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
pub struct DurationInOut {
    pub secs: i64,
    #[serde(default)]
    pub nanos: i64,
}

/// An event type's own retry schedule (Svix `RetryScheduleInOut`): delays
/// between attempts; `null` means the server's `retry_schedule`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryScheduleInOut {
    #[serde(default)]
    pub retry_schedule: Option<Vec<DurationInOut>>,
}

impl RetryScheduleInOut {
    pub fn from_secs(secs: Option<Vec<u32>>) -> Self {
        RetryScheduleInOut {
            retry_schedule: secs.map(|v| {
                v.into_iter()
                    .map(|s| DurationInOut {
                        secs: i64::from(s),
                        nanos: 0,
                    })
                    .collect()
            }),
        }
    }
}

/// Svix `EventTypeImportOpenApiIn`: the document as `spec` (JSON) or
/// `specRaw` (its text; hookd reads JSON only).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeImportOpenApiIn {
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub replace_all: bool,
    #[schema(value_type = Option<Object>)]
    pub spec: Option<serde_json::Value>,
    pub spec_raw: Option<String>,
}

/// Svix `EventTypeFromOpenApi`: an event type as the import would store it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeFromOpenApi {
    pub name: String,
    pub description: String,
    /// The newest schema (the one the document gave).
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<serde_json::Value>,
    pub deprecated: bool,
    pub group_name: Option<String>,
    pub feature_flags: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct EventTypeImportOpenApiOutData {
    /// Event types written (created, changed, or archived by `replaceAll`);
    /// on a dry run, those that would be.
    pub modified: Vec<String>,
    /// On a dry run, the created or changed event types as they would be stored.
    pub to_modify: Option<Vec<EventTypeFromOpenApi>>,
}

#[derive(Serialize, ToSchema)]
pub struct EventTypeImportOpenApiOut {
    pub data: EventTypeImportOpenApiOutData,
}
