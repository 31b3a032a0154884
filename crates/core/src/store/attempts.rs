//! Delivery attempts: the log users read, and recording one, which moves
//! its delivery on and may start, end, or act on its endpoint's run of failures.

use async_trait::async_trait;

use super::{AttemptFilter, ListQuery, Page, StoreError, StoreResult};
use crate::model::{Attempt, DeliveryStatus};
use crate::time::Timestamp;

/// The delivery's state after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum NextStep {
    Success,
    Retry(Timestamp),
    Fail,
    /// 410 Gone: fail and disable the endpoint.
    FailAndDisable,
}

impl NextStep {
    /// The delivery's stored status and next attempt time after this step.
    pub fn delivery_state(&self) -> (DeliveryStatus, Option<Timestamp>) {
        match self {
            NextStep::Success => (DeliveryStatus::Success, None),
            NextStep::Retry(t) => (DeliveryStatus::Pending, Some(*t)),
            NextStep::Fail | NextStep::FailAndDisable => (DeliveryStatus::Fail, None),
        }
    }
}

/// One finished attempt to record.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub app_id: String,
    pub attempt: Attempt,
    pub next: NextStep,
    /// Disable the endpoint when it has had no success for this long (ms) and this attempt failed.
    pub disable_after_ms: i64,
}

/// Why an endpoint was disabled by an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableReason {
    /// The receiver answered 410 Gone.
    Gone,
    /// No success for the configured period while deliveries kept failing.
    Failing,
}

impl DisableReason {
    /// The name operational events and metrics use.
    pub fn as_str(self) -> &'static str {
        match self {
            DisableReason::Gone => "gone",
            DisableReason::Failing => "automatic",
        }
    }
}

/// Side effects of recording an attempt, for operational events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttemptEffects {
    pub disabled: Option<DisableReason>,
    /// When the endpoint's current run of failures began.
    pub failing_since: Option<Timestamp>,
    /// The delivery's attempt count after this attempt.
    pub attempts: i64,
    /// The delivery was deleted while the attempt was in flight.
    pub gone: bool,
}

/// What a failed attempt does to its endpoint, which has been failing
/// since `failing_since` (`None`: it was not) and is `disabled` or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRule {
    /// The start of the run of failures, to store if it was not stored yet.
    pub failing_since: Timestamp,
    pub starts_run: bool,
    /// Disable the endpoint now (it is not disabled yet).
    pub disable: Option<DisableReason>,
}

impl AttemptResult {
    /// The auto-disable rule: a 410 disables at once; otherwise an endpoint
    /// that has had no success for `disable_after_ms` while this attempt
    /// failed too is disabled.
    pub fn after_failure(&self, failing_since: Option<Timestamp>, disabled: bool) -> FailureRule {
        let now = self.attempt.timestamp;
        let since = failing_since.unwrap_or(now);
        let reason = if self.next == NextStep::FailAndDisable {
            Some(DisableReason::Gone)
        } else if now.0 - since.0 >= self.disable_after_ms {
            Some(DisableReason::Failing)
        } else {
            None
        };
        FailureRule {
            failing_since: since,
            starts_run: failing_since.is_none(),
            disable: reason.filter(|_| !disabled),
        }
    }
}

#[async_trait]
pub trait AttemptStore: Send + Sync {
    async fn list_attempts_by_endpoint(
        &self,
        app_id: &str,
        endpoint_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>>;
    async fn list_attempts_by_message(
        &self,
        app_id: &str,
        msg_id: &str,
        q: &ListQuery,
        f: &AttemptFilter,
    ) -> StoreResult<Page<Attempt>>;
    async fn get_attempt(
        &self,
        app_id: &str,
        msg_id: &str,
        attempt_id: &str,
    ) -> StoreResult<Option<Attempt>>;
    /// Stores the attempt and moves the delivery (and perhaps its endpoint,
    /// by [`AttemptResult::after_failure`]) on. When the delivery no longer
    /// exists (its application or endpoint was deleted meanwhile) nothing is
    /// stored and `gone` is set.
    async fn record_attempt(&self, r: AttemptResult) -> StoreResult<AttemptEffects> {
        let mut out = self.record_attempts(vec![r]).await?;
        out.pop()
            .ok_or_else(|| StoreError::backend("no result for a recorded attempt"))
    }
    /// [`AttemptStore::record_attempt`] for many attempts in one transaction;
    /// the effects come back in the same order.
    async fn record_attempts(&self, batch: Vec<AttemptResult>) -> StoreResult<Vec<AttemptEffects>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TriggerType;

    fn result(next: NextStep, at: i64) -> AttemptResult {
        AttemptResult {
            app_id: "app_x".into(),
            attempt: Attempt {
                id: "atmpt_x".into(),
                msg_id: "msg_x".into(),
                endpoint_id: "ep_x".into(),
                url: "https://e.com".into(),
                response: String::new(),
                response_status_code: 500,
                response_duration_ms: 1,
                status: DeliveryStatus::Fail,
                trigger_type: TriggerType::Scheduled,
                error_class: None,
                sent_headers: None,
                response_headers: None,
                timestamp: Timestamp(at),
                msg: None,
            },
            next,
            disable_after_ms: 1000,
        }
    }

    #[test]
    fn steps_map_to_delivery_states() {
        assert_eq!(
            NextStep::Retry(Timestamp(5)).delivery_state(),
            (DeliveryStatus::Pending, Some(Timestamp(5)))
        );
        assert_eq!(
            NextStep::Success.delivery_state(),
            (DeliveryStatus::Success, None)
        );
        assert_eq!(
            NextStep::FailAndDisable.delivery_state(),
            (DeliveryStatus::Fail, None)
        );
    }

    #[test]
    fn a_first_failure_starts_a_run() {
        let r = result(NextStep::Retry(Timestamp(10)), 100).after_failure(None, false);
        assert_eq!(
            r,
            FailureRule {
                failing_since: Timestamp(100),
                starts_run: true,
                disable: None
            }
        );
    }

    #[test]
    fn failing_for_the_period_disables_once() {
        let r = result(NextStep::Fail, 1100);
        assert_eq!(
            r.after_failure(Some(Timestamp(100)), false).disable,
            Some(DisableReason::Failing)
        );
        assert_eq!(r.after_failure(Some(Timestamp(101)), false).disable, None);
        assert_eq!(
            r.after_failure(Some(Timestamp(100)), true).disable,
            None,
            "already disabled"
        );
    }

    #[test]
    fn gone_disables_at_once() {
        let r = result(NextStep::FailAndDisable, 100).after_failure(None, false);
        assert_eq!(r.disable, Some(DisableReason::Gone));
    }
}
