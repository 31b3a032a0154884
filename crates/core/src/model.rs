//! Domain records as the store keeps them. The API's JSON shapes live in the
//! server and are built from these, so internal fields (ownership, secrets)
//! cannot leak by accident.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::time::Timestamp;

/// An organisation: the tenant that owns applications, event types and API keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
}

/// What an API key may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything in the organisation.
    Org,
    /// One application only (customer portal keys).
    App(String),
}

/// An API key as stored: its hash, never the key itself.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub org_id: String,
    pub org_name: String,
    pub scope: Scope,
    pub name: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub kind: KeyKind,
    /// After this the key no longer works (portal tokens, dashboard sessions).
    pub expires_at: Option<Timestamp>,
    /// What a portal token may do; `None`: everything its scope allows.
    pub capabilities: Option<Vec<Capability>>,
    /// The portal session the token was issued for (`expire-all` can target it).
    pub session_id: Option<String>,
}

/// What a key was issued as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An API key (`hookd token create`): lasts until revoked.
    Api,
    /// A customer portal token (`app-portal-access`): one application, expires.
    Portal,
    /// An operator's dashboard session, made at sign-in: expires.
    Dashboard,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Api => "api",
            KeyKind::Portal => "portal",
            KeyKind::Dashboard => "dashboard",
        }
    }

    pub fn parse(s: &str) -> KeyKind {
        match s {
            "portal" => KeyKind::Portal,
            "dashboard" => KeyKind::Dashboard,
            _ => KeyKind::Api,
        }
    }
}

/// What a portal token may do (Svix `AppPortalCapability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Capability {
    /// Read everything but endpoint secrets.
    ViewBase,
    ViewEndpointSecret,
    /// Rotate (and view) endpoint secrets.
    ManageEndpointSecret,
    ManageTransformations,
    /// Resend, recover, replay, send example messages.
    CreateAttempts,
    /// Create, change and delete endpoints, secrets included.
    ManageEndpoint,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::ViewBase,
        Capability::ViewEndpointSecret,
        Capability::ManageEndpointSecret,
        Capability::ManageTransformations,
        Capability::CreateAttempts,
        Capability::ManageEndpoint,
    ];

    /// Whether holding `held` grants `self`: managing endpoints includes
    /// their secrets, managing secrets includes seeing them.
    pub fn granted_by(self, held: &[Capability]) -> bool {
        held.iter().any(|h| {
            *h == self
                || (*h == Capability::ManageEndpoint
                    && matches!(
                        self,
                        Capability::ViewEndpointSecret | Capability::ManageEndpointSecret
                    ))
                || (*h == Capability::ManageEndpointSecret
                    && self == Capability::ViewEndpointSecret)
        })
    }
}

/// A token to issue: an expiring, possibly restricted key.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub org_id: String,
    pub scope: Scope,
    pub kind: KeyKind,
    pub name: Option<String>,
    pub hash: [u8; 32],
    pub expires_at: Timestamp,
    pub capabilities: Option<Vec<Capability>>,
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub id: String,
    pub org_id: String,
    pub uid: Option<String>,
    pub name: String,
    pub rate_limit: Option<u16>,
    pub metadata: BTreeMap<String, String>,
    /// Days this application's message payloads are kept (`None`: the server's default).
    pub retention_days: Option<u32>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A previous signing secret that keeps signing until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OldSecret {
    pub key: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub app_id: String,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub version: i32,
    pub rate_limit: Option<u16>,
    pub disabled: bool,
    pub filter_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    /// A payload filter ([`crate::filter`]), already validated.
    pub filter: Option<String>,
    /// An ordered endpoint: one delivery at a time, in acceptance order,
    /// each one done (succeeded or given up) before the next is sent.
    pub fifo: bool,
    pub metadata: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub secret: String,
    pub old_secrets: Vec<OldSecret>,
    pub headers: BTreeMap<String, String>,
}

impl Endpoint {
    /// Whether a message of `event_type` on `channels` is routed to this
    /// endpoint: it is enabled and its [`Route`] accepts the message.
    pub fn accepts(&self, event_type: &str, channels: Option<&[String]>) -> bool {
        !self.disabled && self.route().accepts(event_type, channels)
    }

    pub fn route(&self) -> Route {
        Route {
            id: self.id.clone(),
            filter_types: self.filter_types.clone(),
            channels: self.channels.clone(),
            filter: self.filter.as_deref().map(crate::filter::Filter::cached),
            fifo: self.fifo,
        }
    }
}

/// What routing needs of an enabled endpoint (all the stores read to route a message).
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub id: String,
    pub filter_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub filter: Option<std::sync::Arc<crate::filter::Filter>>,
    /// An ordered endpoint ([`Endpoint::fifo`]).
    pub fifo: bool,
}

impl Route {
    /// The event type is in the filter (no filter = all), and, when the
    /// endpoint lists channels, the message shares at least one of them.
    pub fn accepts(&self, event_type: &str, channels: Option<&[String]>) -> bool {
        if let Some(types) = &self.filter_types
            && !types.iter().any(|t| t == event_type)
        {
            return false;
        }
        match &self.channels {
            None => true,
            Some(mine) => channels.is_some_and(|theirs| theirs.iter().any(|c| mine.contains(c))),
        }
    }

    /// The payload filter, if any, matches the payload. `parsed` holds the
    /// payload parsed by the first endpoint that needed it, so a fan-out
    /// parses it once (and not at all without filters); a payload that is
    /// not valid JSON (it always is: the API checks) matches no filter.
    pub fn matches_payload(
        &self,
        payload: &serde_json::value::RawValue,
        parsed: &std::cell::OnceCell<Option<serde_json::Value>>,
    ) -> bool {
        let Some(f) = &self.filter else { return true };
        parsed
            .get_or_init(|| serde_json::from_str(payload.get()).ok())
            .as_ref()
            .is_some_and(|v| f.matches(v))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventType {
    pub name: String,
    pub org_id: String,
    pub description: String,
    pub archived: bool,
    pub deprecated: bool,
    pub schemas: Option<serde_json::Value>,
    pub feature_flags: Option<Vec<String>>,
    pub group_name: Option<String>,
    /// Delays between attempts of this type's messages, in seconds (`None`:
    /// the server's `retry_schedule`).
    pub retry_schedule: Option<Vec<u32>>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub app_id: String,
    pub event_id: Option<String>,
    pub event_type: String,
    /// The payload exactly as received, never re-serialised.
    pub payload: Box<RawValue>,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub timestamp: Timestamp,
    /// Not delivered before this time (Svix `deliverAt`).
    pub deliver_at: Option<Timestamp>,
}

/// Delivery state of a message to one endpoint (Svix `MessageStatus`).
/// `Sending` is never stored: the engine knows which attempts are under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum DeliveryStatus {
    Success = 0,
    Pending = 1,
    Fail = 2,
    Sending = 3,
    /// Given up on by a user (`cancel-msgs`) before it was delivered.
    Canceled = 4,
}

impl DeliveryStatus {
    pub fn from_i64(v: i64) -> Option<DeliveryStatus> {
        Some(match v {
            0 => DeliveryStatus::Success,
            1 => DeliveryStatus::Pending,
            2 => DeliveryStatus::Fail,
            3 => DeliveryStatus::Sending,
            4 => DeliveryStatus::Canceled,
            _ => return None,
        })
    }
}

/// One message × endpoint: the unit the delivery engine works on.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub msg_id: String,
    pub endpoint_id: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
}

/// What started an attempt (Svix `MessageAttemptTriggerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum TriggerType {
    Scheduled = 0,
    Manual = 1,
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: String,
    pub msg_id: String,
    pub endpoint_id: String,
    pub url: String,
    pub response: String,
    pub response_status_code: i32,
    pub response_duration_ms: i64,
    pub status: DeliveryStatus,
    pub trigger_type: TriggerType,
    /// Why the attempt failed without an HTTP response (`timeout`, `connect`, `dns`, `tls`, `blocked`).
    pub error_class: Option<String>,
    /// The headers sent (`None` for attempts recorded before hookd kept them).
    pub sent_headers: Option<BTreeMap<String, String>>,
    /// The response's headers, in order (`None` without a response).
    pub response_headers: Option<Vec<(String, String)>>,
    pub timestamp: Timestamp,
    pub msg: Option<Message>,
}

/// Headers whose values are never shown back or kept in the attempt log (Svix's list).
pub const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "proxy-authenticate",
    "www-authenticate",
    "x-auth-token",
];

/// Whether a header's value is a credential that hookd must not show back.
pub fn is_sensitive_header(name: &str) -> bool {
    SENSITIVE_HEADERS.contains(&name.to_ascii_lowercase().as_str())
}

/// The request headers as an attempt records them: a sensitive header keeps
/// its name with an empty value, so the log shows it was sent without ever
/// storing the credential. The signature stays: it is what the receiver
/// checked, it is different for every attempt, and it reveals no key.
pub fn logged_headers<'a, V: AsRef<str>>(
    headers: impl IntoIterator<Item = (&'a str, V)>,
) -> BTreeMap<String, String> {
    headers
        .into_iter()
        .map(|(k, v)| {
            let value = if is_sensitive_header(k) {
                String::new()
            } else {
                v.as_ref().to_string()
            };
            (k.to_ascii_lowercase(), value)
        })
        .collect()
}

/// What a background task does (Svix `BackgroundTaskType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// `replay-missing`: messages never routed to an endpoint are sent to it.
    EndpointReplay,
    /// `recover`: failed deliveries to an endpoint are sent again.
    EndpointRecover,
    /// `bulk-replay`: deliveries to an endpoint matching filters are sent again.
    EndpointBulkReplay,
    ApplicationStats,
    MessageBroadcast,
    /// Svix generates SDKs; hookd never creates this kind (it can be filtered on).
    SdkGenerate,
    EventTypeAggregate,
    ApplicationPurgeContent,
}

impl TaskKind {
    pub const ALL: [TaskKind; 8] = [
        TaskKind::EndpointReplay,
        TaskKind::EndpointRecover,
        TaskKind::EndpointBulkReplay,
        TaskKind::ApplicationStats,
        TaskKind::MessageBroadcast,
        TaskKind::SdkGenerate,
        TaskKind::EventTypeAggregate,
        TaskKind::ApplicationPurgeContent,
    ];

    /// The Svix name, as stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskKind::EndpointReplay => "endpoint.replay",
            TaskKind::EndpointRecover => "endpoint.recover",
            TaskKind::EndpointBulkReplay => "endpoint.bulk-replay",
            TaskKind::ApplicationStats => "application.stats",
            TaskKind::MessageBroadcast => "message.broadcast",
            TaskKind::SdkGenerate => "sdk.generate",
            TaskKind::EventTypeAggregate => "event-type.aggregate",
            TaskKind::ApplicationPurgeContent => "application.purge_content",
        }
    }

    pub fn parse(s: &str) -> Option<TaskKind> {
        TaskKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a background task is (Svix `BackgroundTaskStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Running,
    Finished,
    Failed,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 3] = [
        TaskStatus::Running,
        TaskStatus::Finished,
        TaskStatus::Failed,
    ];

    /// The Svix name, as stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Running => "running",
            TaskStatus::Finished => "finished",
            TaskStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A long operation run in the background: its progress, then its result,
/// is `data` (a JSON object).
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundTask {
    pub id: String,
    pub org_id: String,
    /// The application it works on; `None` for organisation-wide tasks
    /// (broadcasts, statistics), which application-scoped keys cannot see.
    pub app_id: Option<String>,
    pub kind: TaskKind,
    pub status: TaskStatus,
    pub data: serde_json::Value,
    /// The node running it (the delivery engine's `node_id`).
    pub node: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl BackgroundTask {
    /// A task that starts running on `node` at `now`, with no data yet.
    pub fn start(
        id: String,
        org_id: &str,
        app_id: Option<&str>,
        kind: TaskKind,
        node: &str,
        now: Timestamp,
    ) -> BackgroundTask {
        BackgroundTask {
            id,
            org_id: org_id.to_string(),
            app_id: app_id.map(String::from),
            kind,
            status: TaskStatus::Running,
            data: serde_json::Value::Object(serde_json::Map::new()),
            node: Some(node.to_string()),
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether a key of `scope` in the task's organisation may see it: an
    /// application-scoped key sees only its application's tasks.
    pub fn visible_to(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Org => true,
            Scope::App(app) => self.app_id.as_deref() == Some(app.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_headers_hide_credentials_and_keep_the_signature() {
        let h = logged_headers([
            ("Authorization", "Bearer s3cret"),
            ("x-auth-token", "t"),
            ("webhook-signature", "v1,abc"),
            ("X-Custom", "kept"),
        ]);
        assert_eq!(h["authorization"], "");
        assert_eq!(h["x-auth-token"], "");
        assert_eq!(h["webhook-signature"], "v1,abc");
        assert_eq!(h["x-custom"], "kept");
        assert!(is_sensitive_header("Proxy-Authorization"));
        assert!(!is_sensitive_header("webhook-id"));
    }

    fn ep(filter: Option<&[&str]>, channels: Option<&[&str]>) -> Endpoint {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Endpoint {
            id: "ep_x".into(),
            app_id: "app_x".into(),
            uid: None,
            url: "https://e.com".into(),
            description: String::new(),
            version: 1,
            rate_limit: None,
            disabled: false,
            filter_types: filter.map(v),
            channels: channels.map(v),
            filter: None,
            fifo: false,
            metadata: BTreeMap::new(),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            secret: String::new(),
            old_secrets: vec![],
            headers: BTreeMap::new(),
        }
    }

    #[test]
    fn capabilities_include_lesser_ones() {
        use Capability::*;
        assert!(ViewEndpointSecret.granted_by(&[ManageEndpoint]));
        assert!(ViewEndpointSecret.granted_by(&[ManageEndpointSecret]));
        assert!(!ManageEndpoint.granted_by(&[ManageEndpointSecret, ViewBase]));
        assert!(!CreateAttempts.granted_by(&[ViewBase]));
        assert!(CreateAttempts.granted_by(&[ViewBase, CreateAttempts]));
    }

    #[test]
    fn routing() {
        let ch = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(ep(None, None).accepts("a", None));
        assert!(ep(Some(&["a", "b"]), None).accepts("b", None));
        assert!(!ep(Some(&["a"]), None).accepts("b", None));
        assert!(ep(None, None).accepts("a", Some(&ch(&["x"]))));
        assert!(!ep(None, Some(&["x"])).accepts("a", None));
        assert!(ep(None, Some(&["x", "y"])).accepts("a", Some(&ch(&["y"]))));
        assert!(!ep(None, Some(&["x"])).accepts("a", Some(&ch(&["z"]))));
        let mut disabled = ep(None, None);
        disabled.disabled = true;
        assert!(!disabled.accepts("a", None));
    }

    #[test]
    fn task_names_are_svix_names_both_ways() {
        for k in TaskKind::ALL {
            assert_eq!(TaskKind::parse(k.as_str()), Some(k));
        }
        for st in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(st.as_str()), Some(st));
        }
        assert_eq!(
            TaskKind::EndpointBulkReplay.as_str(),
            "endpoint.bulk-replay"
        );
        assert_eq!(TaskKind::parse("endpoint.nope"), None);
        assert_eq!(TaskStatus::parse("Running"), None);
    }

    #[test]
    fn tasks_start_running_and_app_keys_see_their_app_only() {
        let t = BackgroundTask::start(
            "qtask_1".into(),
            "org_1",
            Some("app_1"),
            TaskKind::EndpointRecover,
            "local",
            Timestamp(5),
        );
        assert_eq!(t.status, TaskStatus::Running);
        assert_eq!(t.data, serde_json::json!({}));
        assert_eq!((t.created_at, t.updated_at), (Timestamp(5), Timestamp(5)));
        assert!(t.visible_to(&Scope::Org));
        assert!(t.visible_to(&Scope::App("app_1".into())));
        assert!(!t.visible_to(&Scope::App("app_2".into())));
        let org_wide = BackgroundTask { app_id: None, ..t };
        assert!(!org_wide.visible_to(&Scope::App("app_1".into())));
    }
}
