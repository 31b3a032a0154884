//! Messages and where each was routed. Accepting a message stores it with
//! one pending delivery per endpoint that takes it, in one transaction.

use async_trait::async_trait;
use serde_json::value::RawValue;

use super::{AttemptFilter, ListQuery, MessageFilter, Page, StoreResult};
use crate::model::{Delivery, DeliveryStatus, Endpoint, Message, Route};
use crate::time::Timestamp;

/// A message to store, with its raw payload bytes.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub event_type: String,
    pub event_id: Option<String>,
    pub payload: Box<RawValue>,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// Deliver only to this endpoint, whatever its filters (example events).
    pub only_endpoint: Option<String>,
    /// When the payload is expunged (retention).
    pub expires_at: Timestamp,
    /// Not delivered before this time (a scheduled message).
    pub deliver_at: Option<Timestamp>,
    /// The node whose delivery engine takes the new deliveries (it was just
    /// handed them in memory); `None` leaves them for any node to claim.
    pub owner: Option<String>,
}

impl NewMessage {
    /// Whether this message goes to the enabled endpoint `ep`: the one
    /// endpoint it names, else every one whose filters (event types,
    /// channels, payload) accept it. `parsed` caches the parsed payload
    /// across the endpoints of one message (see [`Route::matches_payload`]).
    pub fn routes_to(
        &self,
        ep: &Route,
        parsed: &std::cell::OnceCell<Option<serde_json::Value>>,
    ) -> bool {
        match &self.only_endpoint {
            Some(id) => ep.id == *id,
            None => {
                ep.accepts(&self.event_type, self.channels.as_deref())
                    && ep.matches_payload(&self.payload, parsed)
            }
        }
    }

    /// The stored message, with its new id, accepted at `now`.
    pub fn accept(self, app_id: &str, id: String, now: Timestamp) -> Message {
        Message {
            id,
            app_id: app_id.to_string(),
            event_id: self.event_id,
            event_type: self.event_type,
            payload: self.payload,
            channels: self.channels,
            tags: self.tags,
            timestamp: now,
            deliver_at: self.deliver_at,
        }
    }
}

/// When a just-accepted message's deliveries are first due.
pub fn first_due(msg: &Message) -> Timestamp {
    msg.deliver_at
        .map_or(msg.timestamp, |t| t.max(msg.timestamp))
}

/// The delivery of a just-accepted message to one endpoint: due at once,
/// or at its `deliver_at` when that is later.
pub fn first_delivery(msg: &Message, endpoint_id: String) -> Delivery {
    Delivery {
        msg_id: msg.id.clone(),
        endpoint_id,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: Some(first_due(msg)),
    }
}

/// An application's traffic in a time window (`application.stats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUsage {
    pub app_id: String,
    /// Messages accepted in the window.
    pub messages: i64,
    /// Their deliveries: one per message and endpoint it went to (Svix's
    /// `messageDestinations`).
    pub destinations: i64,
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores the message and one pending delivery per endpoint of the
    /// application it [routes to](NewMessage::routes_to), atomically, in
    /// endpoint id order. `Conflict::EventId` on a duplicate `eventId`.
    ///
    /// Returns the deliveries held by `msg.owner`, for it to queue. On a
    /// store shared by several nodes, deliveries to an ordered (FIFO)
    /// endpoint are held by nobody instead, and left to the owner of the
    /// endpoint's lane to claim ([`DeliveryStore::claim_due`]).
    async fn create_message(
        &self,
        app_id: &str,
        msg: NewMessage,
    ) -> StoreResult<(Message, Vec<Delivery>)>;
    /// By id or `eventId`.
    async fn get_message(&self, app_id: &str, id_or_event_id: &str)
    -> StoreResult<Option<Message>>;
    /// By id alone (the delivery engine's lookups).
    async fn get_message_by_id(&self, msg_id: &str) -> StoreResult<Option<Message>>;
    async fn list_messages(
        &self,
        app_id: &str,
        q: &ListQuery,
        f: &MessageFilter,
    ) -> StoreResult<Page<Message>>;
    /// The endpoints a message was routed to, with their delivery state.
    async fn list_destinations(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
    ) -> StoreResult<Page<(Endpoint, Delivery)>>;
    /// The messages routed to an endpoint, with their delivery state
    /// (`f.msg.before`/`after` apply to the message's time).
    async fn list_endpoint_messages(
        &self,
        app_id: &str,
        endpoint_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<(Message, Delivery)>>;
    /// The traffic of each of these applications in `[since, until)`, in
    /// application id order; applications without messages there are left out.
    async fn app_usage(
        &self,
        app_ids: &[String],
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<AppUsage>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ep(id: &str, filter: Option<&[&str]>) -> Endpoint {
        Endpoint {
            id: id.into(),
            app_id: "app_x".into(),
            uid: None,
            url: "https://e.com".into(),
            description: String::new(),
            version: 1,
            rate_limit: None,
            disabled: false,
            filter_types: filter.map(|f| f.iter().map(|s| s.to_string()).collect()),
            channels: None,
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

    fn msg(only: Option<&str>) -> NewMessage {
        NewMessage {
            event_type: "a".into(),
            event_id: None,
            payload: RawValue::from_string("{}".into()).unwrap_or_default(),
            channels: None,
            tags: None,
            only_endpoint: only.map(String::from),
            expires_at: Timestamp(0),
            owner: None,
            deliver_at: None,
        }
    }

    #[test]
    fn routing_follows_filters_unless_one_endpoint_is_named() {
        let (all, b_only) = (ep("ep_1", None).route(), ep("ep_2", Some(&["b"])).route());
        assert!(msg(None).routes_to(&all, &Default::default()));
        assert!(!msg(None).routes_to(&b_only, &Default::default()));
        assert!(
            msg(Some("ep_2")).routes_to(&b_only, &Default::default()),
            "named: filters ignored"
        );
        assert!(!msg(Some("ep_2")).routes_to(&all, &Default::default()));
    }

    #[test]
    fn accepted_messages_are_due_at_once() {
        let m = msg(None).accept("app_x", "msg_1".into(), Timestamp(42));
        assert_eq!((m.app_id.as_str(), m.timestamp), ("app_x", Timestamp(42)));
        let d = first_delivery(&m, "ep_1".into());
        assert_eq!(d.next_attempt_at, Some(Timestamp(42)));
        assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 0));
    }

    #[test]
    fn scheduled_messages_are_due_at_their_time_never_before_acceptance() {
        let later = NewMessage {
            deliver_at: Some(Timestamp(100)),
            ..msg(None)
        };
        let m = later.accept("app_x", "msg_1".into(), Timestamp(42));
        assert_eq!(
            first_delivery(&m, "ep_1".into()).next_attempt_at,
            Some(Timestamp(100))
        );
        let past = NewMessage {
            deliver_at: Some(Timestamp(7)),
            ..msg(None)
        };
        let m = past.accept("app_x", "msg_2".into(), Timestamp(42));
        assert_eq!(first_due(&m), Timestamp(42));
    }
}
