//! The delivery queue: one row per message × endpoint, what the delivery
//! engine resumes at start, claims from other nodes, gives up on and requeues.
//!
//! Ownership: a delivery is held by the node whose engine took it
//! (`lease_owner`); a node that stops heartbeating is dead and anyone may
//! claim what it held.

use async_trait::async_trait;

use super::{AttemptFilter, StoreResult};
use crate::model::{Delivery, DeliveryStatus};
use crate::time::Timestamp;

/// Nodes silent this long and holding nothing are forgotten.
pub const FORGET_NODE_AFTER_MS: i64 = 86_400_000;

/// A delivery waiting for its next attempt, as the scheduler tracks it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedDelivery {
    pub msg_id: String,
    pub endpoint_id: String,
    pub app_id: String,
    /// Attempts made so far.
    pub attempts: i64,
    pub due: Timestamp,
    /// The next attempt was requested by a user (resend, recover).
    pub manual: bool,
}

impl QueuedDelivery {
    /// A freshly created delivery of an application's message.
    pub fn new(d: Delivery, app_id: &str) -> QueuedDelivery {
        QueuedDelivery {
            due: d.next_attempt_at.unwrap_or_else(Timestamp::now),
            msg_id: d.msg_id,
            endpoint_id: d.endpoint_id,
            app_id: app_id.to_string(),
            attempts: d.attempts,
            manual: false,
        }
    }

    /// A delivery put back in the queue by a user, for an attempt at `now`.
    pub fn manual(msg_id: String, endpoint_id: &str, app_id: &str, now: Timestamp) -> Self {
        QueuedDelivery {
            msg_id,
            endpoint_id: endpoint_id.to_string(),
            app_id: app_id.to_string(),
            attempts: 0,
            due: now,
            manual: true,
        }
    }
}

/// Claimed deliveries, oldest due first (ties in key order, so every store
/// hands them out alike).
pub fn sort_claimed(claimed: &mut [QueuedDelivery]) {
    claimed.sort_by(|a, b| {
        (a.due, &a.msg_id, &a.endpoint_id).cmp(&(b.due, &b.msg_id, &b.endpoint_id))
    });
}

/// Whose due deliveries a claim takes, in this order: nobody's, the dead
/// nodes', and with `reclaim_own` the claimer's own (its previous life).
pub fn claim_holders(dead: Vec<String>, owner: &str, reclaim_own: bool) -> Vec<Option<String>> {
    let mut holders: Vec<Option<String>> = vec![None];
    holders.extend(dead.into_iter().filter(|d| d != owner).map(Some));
    if reclaim_own {
        holders.push(Some(owner.to_string()));
    }
    holders
}

/// A change another node (or this one) made, which caches must learn of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An endpoint was changed, disabled or deleted.
    Endpoint(String),
    /// An application was changed (its `throttleRate` may apply to its endpoints).
    App(String),
    /// An application was deleted with everything under it.
    AppDeleted(String),
    /// An event type (organisation id, name) was created, changed or removed:
    /// its retry schedule may have changed.
    EventType(String, String),
    /// New deliveries wait for any node to claim them.
    Deliveries,
    /// Pending deliveries to the endpoint of messages created before the
    /// time were canceled: engines drop the copies they hold.
    Canceled(String, Timestamp),
}

impl Change {
    /// The text form sent between nodes (`endpoint:ep_…`, `app:app_…`, …).
    pub fn encode(&self) -> String {
        match self {
            Change::Endpoint(id) => format!("endpoint:{id}"),
            Change::App(id) => format!("app:{id}"),
            Change::AppDeleted(id) => format!("app_deleted:{id}"),
            // Neither organisation ids nor event type names contain ':'.
            Change::EventType(org, name) => format!("event_type:{org}:{name}"),
            Change::Deliveries => "deliveries".into(),
            Change::Canceled(ep, before) => format!("canceled:{}:{ep}", before.0),
        }
    }

    pub fn decode(s: &str) -> Option<Change> {
        match s.split_once(':') {
            Some(("endpoint", id)) => Some(Change::Endpoint(id.to_string())),
            Some(("app", id)) => Some(Change::App(id.to_string())),
            Some(("app_deleted", id)) => Some(Change::AppDeleted(id.to_string())),
            Some(("canceled", rest)) => {
                let (before, ep) = rest.split_once(':')?;
                Some(Change::Canceled(
                    ep.to_string(),
                    Timestamp(before.parse().ok()?),
                ))
            }
            Some(("event_type", rest)) => rest
                .split_once(':')
                .map(|(org, name)| Change::EventType(org.to_string(), name.to_string())),
            None if s == "deliveries" => Some(Change::Deliveries),
            _ => None,
        }
    }
}

/// Delivery counts of an endpoint by stored status (attempts under way are
/// pending here; only the engine knows which are being sent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    pub success: i64,
    pub pending: i64,
    pub fail: i64,
    pub canceled: i64,
}

impl EndpointStats {
    /// Adds `n` deliveries of the stored status code `status`.
    pub fn add(&mut self, status: i64, n: i64) {
        match DeliveryStatus::from_i64(status) {
            Some(DeliveryStatus::Success) => self.success += n,
            Some(DeliveryStatus::Pending) => self.pending += n,
            Some(DeliveryStatus::Fail) => self.fail += n,
            Some(DeliveryStatus::Canceled) => self.canceled += n,
            Some(DeliveryStatus::Sending) | None => {}
        }
    }
}

/// An ordered endpoint's lane: who delivers it, and its head (its oldest
/// pending delivery, which everything behind it waits for).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lane {
    /// The node that delivers the lane, on a shared store.
    pub owner: Option<String>,
    pub head: Option<LaneHead>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LaneHead {
    pub msg_id: String,
    /// Attempts made so far (0: not tried yet; more: the lane is blocked).
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
}

/// Which deliveries to an endpoint a bulk replay sends again (Svix
/// `BulkReplayIn`): those of messages created in `[since, until)` that match
/// every filter given.
#[derive(Debug, Clone)]
pub struct ReplayFilter {
    pub since: Timestamp,
    pub until: Timestamp,
    /// The message is of one of these types (none or empty: any).
    pub event_types: Option<Vec<String>>,
    /// The message is on this channel.
    pub channel: Option<String>,
    /// The message has this tag.
    pub tag: Option<String>,
    /// The delivery is in this state.
    pub status: Option<DeliveryStatus>,
    /// An attempt of the delivery got a response of this class (0: none).
    pub status_code_class: Option<i32>,
}

impl ReplayFilter {
    /// Messages created in `[since, until)`, whatever else they are.
    pub fn window(since: Timestamp, until: Timestamp) -> ReplayFilter {
        ReplayFilter {
            since,
            until,
            event_types: None,
            channel: None,
            tag: None,
            status: None,
            status_code_class: None,
        }
    }

    /// The status as stored: an attempt under way (`Sending`) is a pending
    /// delivery in the store.
    pub fn stored_status(&self) -> Option<DeliveryStatus> {
        self.status.map(|s| match s {
            DeliveryStatus::Sending => DeliveryStatus::Pending,
            other => other,
        })
    }

    /// The response status codes `[low, high)` of `status_code_class`.
    pub fn status_code_range(&self) -> Option<(i32, i32)> {
        AttemptFilter {
            status_code_class: self.status_code_class,
            ..Default::default()
        }
        .status_code_range()
    }

    pub fn types(&self) -> Option<&[String]> {
        self.event_types.as_deref().filter(|t| !t.is_empty())
    }
}

/// What routing reads of a message: whether an endpoint takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRoute {
    pub id: String,
    pub event_type: String,
    pub channels: Option<Vec<String>>,
}

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Every delivery still to be attempted that a node holds, oldest due
    /// first (the queue a single node resumes at start). Deliveries nobody
    /// holds (scheduled far ahead) stay in the store until claimed when due.
    async fn queued_deliveries(&self, now: Timestamp) -> StoreResult<Vec<QueuedDelivery>>;
    /// Gives up on a pending delivery without an attempt (its endpoint is disabled).
    async fn fail_delivery(&self, msg_id: &str, endpoint_id: &str) -> StoreResult<()>;
    /// Puts deliveries of these messages to the endpoint back in the queue for
    /// a manual attempt now (creating them if the message never went there),
    /// held by `owner` (see `NewMessage::owner`). Returns those queued:
    /// messages the application does not have are skipped.
    async fn requeue(
        &self,
        app_id: &str,
        endpoint_id: &str,
        msg_ids: &[String],
        now: Timestamp,
        owner: Option<&str>,
    ) -> StoreResult<Vec<QueuedDelivery>>;
    /// Hands `owner` up to `limit` pending deliveries due by `now`, in
    /// [`sort_claimed`] order, from the holders of [`claim_holders`]; a
    /// holder is dead with no heartbeat since `now - dead_after_ms`.
    /// Concurrent claimers never receive the same delivery.
    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        dead_after_ms: i64,
        limit: usize,
        reclaim_own: bool,
    ) -> StoreResult<Vec<QueuedDelivery>>;
    /// Declares dead at once every node named `<name>-…` but `node` itself:
    /// previous lives of a node restarted under its configured name, whose
    /// deliveries and lanes are then claimable without waiting out the
    /// lease. Returns how many were retired.
    async fn retire_previous_lives(&self, name: &str, node: &str) -> StoreResult<u64>;
    /// Records that `node` is alive at `now`; returns how many nodes have
    /// shown a sign of life since `now - window_ms`, this one included.
    async fn heartbeat(&self, node: &str, now: Timestamp, window_ms: i64) -> StoreResult<usize>;
    /// Cancels the pending deliveries to the endpoint of messages created
    /// before `created_before` (Svix `cancel-msgs`); returns how many, and
    /// announces [`Change::Canceled`].
    async fn cancel_deliveries(
        &self,
        endpoint_id: &str,
        created_before: Timestamp,
        now: Timestamp,
    ) -> StoreResult<u64>;
    /// Messages created in `[since, until)` whose delivery to the endpoint failed.
    async fn failed_message_ids(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<String>>;
    /// Deliveries to the endpoint by status, of those created in `[since, until)`.
    async fn endpoint_stats(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> StoreResult<EndpointStats>;
    /// The endpoint's lane: its owner, and its oldest pending delivery (by
    /// message id), if any.
    async fn lane(&self, endpoint_id: &str) -> StoreResult<Lane>;
    /// Pending deliveries held by no node and due after `now`: scheduled
    /// messages waiting in the store.
    async fn count_scheduled(&self, now: Timestamp) -> StoreResult<u64>;
    /// Up to `limit` messages of the application created in `[since,
    /// until)` that were never routed to the endpoint (no delivery there),
    /// in id order after `after`. Messages whose payload is expunged are
    /// left out: they cannot be sent.
    async fn unrouted_messages(
        &self,
        app_id: &str,
        endpoint_id: &str,
        since: Timestamp,
        until: Timestamp,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<MessageRoute>>;
    /// Up to `limit` ids of messages with a delivery to the endpoint that
    /// matches `f`, in id order after `after`; expunged ones are left out.
    async fn replayable_message_ids(
        &self,
        app_id: &str,
        endpoint_id: &str,
        f: &ReplayFilter,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_survive_the_trip_between_nodes() {
        for c in [
            Change::Endpoint("ep_1".into()),
            Change::App("app_1".into()),
            Change::AppDeleted("app_1".into()),
            Change::EventType("org_1".into(), "invoice.paid".into()),
            Change::Deliveries,
            Change::Canceled("ep_1".into(), Timestamp(1_700_000_000_000)),
        ] {
            assert_eq!(Change::decode(&c.encode()), Some(c));
        }
        assert_eq!(Change::decode("nonsense"), None);
        assert_eq!(Change::decode("event_type:org_1"), None);
    }

    #[test]
    fn claims_take_unheld_then_dead_then_own() {
        assert_eq!(
            claim_holders(vec!["dead".into(), "me".into()], "me", true),
            vec![None, Some("dead".into()), Some("me".into())]
        );
        assert_eq!(claim_holders(vec![], "me", false), vec![None]);
    }

    #[test]
    fn replays_of_sending_deliveries_look_for_pending_ones() {
        let mut f = ReplayFilter::window(Timestamp(0), Timestamp(1));
        assert_eq!(f.stored_status(), None);
        f.status = Some(DeliveryStatus::Sending);
        assert_eq!(f.stored_status(), Some(DeliveryStatus::Pending));
        f.status = Some(DeliveryStatus::Fail);
        assert_eq!(f.stored_status(), Some(DeliveryStatus::Fail));
        f.status_code_class = Some(500);
        assert_eq!(f.status_code_range(), Some((500, 600)));
        f.event_types = Some(vec![]);
        assert_eq!(f.types(), None, "an empty list is no filter");
    }

    #[test]
    fn stats_count_by_status_code() {
        let mut s = EndpointStats::default();
        for (status, n) in [(0, 2), (1, 3), (2, 1), (3, 9), (4, 5), (7, 9)] {
            s.add(status, n);
        }
        assert_eq!(
            s,
            EndpointStats {
                success: 2,
                pending: 3,
                fail: 1,
                canceled: 5
            }
        );
    }
}
