//! Operational events (`endpoint.disabled`, `message.attempt.exhausted`, …):
//! hookd's own webhooks to the operator, in Svix's payload shapes.
//!
//! They are ordinary messages in the organisation's operational application
//! (the one whose uid is `operational_app_uid`), so they are stored, signed,
//! retried and logged like any other message, and the operator subscribes by
//! adding endpoints to that application. Events about the operational
//! application itself are not emitted, so a failing operator endpoint cannot
//! feed back into itself.

use hookd_core::model::{Application, Endpoint, Message};
use hookd_core::store::NewMessage;
use hookd_core::time::Timestamp;
use serde_json::{Value, json};

use super::Engine;

#[derive(Debug, Clone)]
pub struct LastAttempt {
    pub id: String,
    pub timestamp: Timestamp,
    pub response_status_code: i32,
}

/// An event ready to send, minus its application fields.
#[derive(Debug, Clone)]
pub struct OperationalEvent {
    pub event_type: &'static str,
    pub data: serde_json::Map<String, Value>,
}

impl OperationalEvent {
    pub fn attempt(
        event_type: &'static str,
        msg: &Message,
        ep: &Endpoint,
        last: LastAttempt,
    ) -> Self {
        let mut data = serde_json::Map::new();
        data.insert("msgId".into(), json!(msg.id));
        data.insert("msgEventId".into(), json!(msg.event_id));
        data.insert("endpointId".into(), json!(ep.id));
        data.insert(
            "lastAttempt".into(),
            json!({
                "id": last.id,
                "timestamp": last.timestamp.to_rfc3339(),
                "responseStatusCode": last.response_status_code,
            }),
        );
        OperationalEvent { event_type, data }
    }

    pub fn endpoint_disabled(ep: &Endpoint, fail_since: Option<Timestamp>, trigger: &str) -> Self {
        let mut data = Self::endpoint("endpoint.disabled", ep).data;
        data.insert(
            "failSince".into(),
            json!(fail_since.map(|t| t.to_rfc3339())),
        );
        data.insert("trigger".into(), json!(trigger));
        OperationalEvent {
            event_type: "endpoint.disabled",
            data,
        }
    }

    /// `endpoint.created`, `endpoint.updated`, `endpoint.deleted`.
    pub fn endpoint(event_type: &'static str, ep: &Endpoint) -> Self {
        let mut data = serde_json::Map::new();
        data.insert("endpointId".into(), json!(ep.id));
        data.insert("endpointUid".into(), json!(ep.uid));
        OperationalEvent { event_type, data }
    }

    pub fn with_app(mut self, app: &Application) -> Self {
        self.data.insert("appId".into(), json!(app.id));
        self.data.insert("appUid".into(), json!(app.uid));
        self
    }
}

pub(crate) fn emit(engine: Engine, org_id: String, source_app_id: String, event: OperationalEvent) {
    tokio::spawn(async move {
        let store = &engine.store;
        let uid = &engine.config.operational_app_uid;
        if uid.is_empty() {
            return;
        }
        let app = match store.get_app(&org_id, uid).await {
            Ok(Some(app)) => app,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e.chain(), "cannot look up the operational application");
                return;
            }
        };
        if app.id == source_app_id {
            return;
        }
        let payload = json!({
            "type": event.event_type,
            "timestamp": Timestamp::now().to_rfc3339(),
            "data": Value::Object(event.data),
        });
        let Ok(raw) = serde_json::value::to_raw_value(&payload) else {
            return;
        };
        let msg = NewMessage {
            deliver_at: None,
            event_type: event.event_type.to_string(),
            event_id: None,
            payload: raw,
            channels: None,
            tags: None,
            only_endpoint: None,
            owner: None,
            expires_at: Timestamp(
                Timestamp::now().0
                    + app
                        .retention_days
                        .map_or(engine.config.retention_ms, |d| i64::from(d) * 86_400_000),
            ),
        };
        if let Err(e) = engine.accept(&app.id, msg).await {
            tracing::warn!(error = %e.chain(), event = event.event_type, "cannot store operational event");
        }
    });
}
