//! Where deliveries enter the engine. Every path that creates or revives
//! deliveries (a sent message, an example event, an operational event, a
//! resend, a recovery) goes through here: the store commits them first, then
//! the scheduler is handed them in memory, so the first attempt needs no
//! polling and a crash in between loses nothing (the store resumes them).
//! Deliveries announced by other nodes arrive through [`Engine::on_change`].

use std::sync::Arc;

use hookd_core::model::Message;
use hookd_core::store::{Change, NewMessage, QueuedDelivery, StoreResult};
use hookd_core::time::Timestamp;

use super::{Command, Engine};

impl Engine {
    /// Stores `msg` in the application with one delivery per endpoint that
    /// takes it, then queues them; returns the stored message.
    ///
    /// A message scheduled further ahead than the claimer looks is held by
    /// no node: it waits in the store, costing no memory, until a claimer
    /// takes it shortly before it is due (see `maintain`).
    pub async fn accept(&self, app_id: &str, mut msg: NewMessage) -> StoreResult<Arc<Message>> {
        let horizon = Timestamp::now().0 + self.lookahead().as_millis() as i64;
        let waits = msg.deliver_at.is_some_and(|t| t.0 > horizon);
        msg.owner = if waits { None } else { self.owner() };
        let (m, deliveries) = self.store.create_message(app_id, msg).await?;
        let m = Arc::new(m);
        if waits {
            return Ok(m);
        }
        let queued = deliveries
            .into_iter()
            .map(|d| QueuedDelivery::new(d, app_id))
            .collect();
        self.enqueue(queued, Some(m.clone()));
        Ok(m)
    }

    /// Puts these messages' deliveries to the endpoint back in the queue for
    /// a manual attempt now; returns how many were queued.
    pub async fn requeue(
        &self,
        app_id: &str,
        endpoint_id: &str,
        msg_ids: &[String],
    ) -> StoreResult<usize> {
        let mut owner = self.owner();
        // On a shared store only the lane's owner sends to an ordered
        // endpoint: the resend is left for it to claim.
        let ordered = self.config.shared_store
            && self
                .store
                .get_endpoint_by_id(endpoint_id)
                .await?
                .is_some_and(|e| e.fifo);
        if ordered {
            owner = None;
        }
        let queued = self
            .store
            .requeue(
                app_id,
                endpoint_id,
                msg_ids,
                Timestamp::now(),
                owner.as_deref(),
            )
            .await?;
        let n = queued.len();
        if owner.is_some() {
            self.enqueue(queued, None);
        }
        Ok(n)
    }

    /// A change made through this node or another: cached endpoints and
    /// applications (and event types' retry schedules) are dropped, unclaimed deliveries are claimed.
    pub fn on_change(&self, change: Change) {
        let command = match change {
            Change::Endpoint(id) => Command::EndpointChanged(id),
            Change::App(id) => Command::AppChanged(id),
            Change::AppDeleted(id) => {
                self.schedules.app_deleted(&id);
                Command::AppDeleted(id)
            }
            Change::EventType(org_id, name) => {
                self.schedules.event_type_changed(&org_id, &name);
                return;
            }
            Change::Deliveries => {
                self.claim_wake.notify_one();
                return;
            }
            Change::Canceled(endpoint_id, before) => Command::Canceled(endpoint_id, before),
        };
        // A stopped scheduler has nothing cached.
        let _ = self.tx.send(command);
    }

    /// Hands deliveries the store holds for this node to the scheduler.
    pub(super) fn enqueue(&self, deliveries: Vec<QueuedDelivery>, msg: Option<Arc<Message>>) {
        if deliveries.is_empty() {
            return;
        }
        if self.tx.send(Command::Enqueue(deliveries, msg)).is_err() {
            // The scheduler has stopped (shutdown); the deliveries are in the
            // store and will be resumed at the next start.
            tracing::debug!("scheduler stopped; deliveries left for the next start");
        }
    }
}
