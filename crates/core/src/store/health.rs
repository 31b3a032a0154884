//! Endpoint health for the dashboard: recent success rates, the last
//! failure, why an endpoint stopped, and attempts over time.

use async_trait::async_trait;

use super::StoreResult;
use crate::time::Timestamp;

/// One endpoint's recent record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointHealth {
    pub endpoint_id: String,
    /// Attempts in the last hour: (succeeded, failed).
    pub hour: (i64, i64),
    /// Attempts in the last day: (succeeded, failed).
    pub day: (i64, i64),
    pub last_failure: Option<Timestamp>,
    /// The last failure's response status (0: no response).
    pub last_failure_status: Option<i32>,
    /// When the endpoint's current run of failures began (what auto-disable counts from).
    pub failing_since: Option<Timestamp>,
}

impl EndpointHealth {
    /// Successes as a share of attempts, `None` without attempts.
    pub fn rate((ok, failed): (i64, i64)) -> Option<f64> {
        let n = ok + failed;
        (n > 0).then(|| ok as f64 / n as f64)
    }
}

/// Attempts in one time bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    pub start: Timestamp,
    pub succeeded: i64,
    pub failed: i64,
}

/// Buckets covering `[since, until)` of `width_ms` each, filled from
/// (bucket index, succeeded, failed) rows; buckets without attempts are zero.
pub fn fill_buckets(
    since: Timestamp,
    until: Timestamp,
    width_ms: i64,
    rows: &[(i64, i64, i64)],
) -> Vec<Bucket> {
    let width = width_ms.max(1);
    let n = ((until.0 - since.0).max(0) + width - 1) / width;
    let mut out: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            start: Timestamp(since.0 + i * width),
            ..Default::default()
        })
        .collect();
    for &(i, ok, failed) in rows {
        if let Some(b) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
            b.succeeded += ok;
            b.failed += failed;
        }
    }
    out
}

/// Statistics windows are cut into at most this many buckets.
pub const MAX_BUCKETS: i64 = 2_000;

/// The window `[start, end)` widened to whole buckets of `width_ms` (aligned
/// to the Unix epoch, so the same period always gives the same buckets), or
/// `None` when it is empty or would need more than [`MAX_BUCKETS`].
pub fn aligned_window(
    start: Timestamp,
    end: Timestamp,
    width_ms: i64,
) -> Option<(Timestamp, Timestamp)> {
    let width = width_ms.max(1);
    let since = start.0.div_euclid(width) * width;
    let until = (end.0 + width - 1).div_euclid(width) * width;
    let n = (until - since) / width;
    (n > 0 && n <= MAX_BUCKETS).then_some((Timestamp(since), Timestamp(until)))
}

#[async_trait]
pub trait HealthStore: Send + Sync {
    /// The health of each endpoint of the application, as of `now`.
    async fn endpoint_health(
        &self,
        app_id: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<EndpointHealth>>;
    /// Attempts of the application (or one of its endpoints) made in
    /// `[since, until)`, in buckets of `width_ms`.
    async fn attempt_buckets(
        &self,
        app_id: &str,
        endpoint_id: Option<&str>,
        since: Timestamp,
        until: Timestamp,
        width_ms: i64,
    ) -> StoreResult<Vec<Bucket>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_widen_to_whole_buckets_and_are_bounded() {
        let h = 3_600_000;
        assert_eq!(
            aligned_window(Timestamp(h + 5), Timestamp(3 * h - 1), h),
            Some((Timestamp(h), Timestamp(3 * h)))
        );
        assert_eq!(aligned_window(Timestamp(h), Timestamp(h), h), None, "empty");
        assert_eq!(
            aligned_window(Timestamp(2 * h), Timestamp(h), h),
            None,
            "backwards"
        );
        assert!(aligned_window(Timestamp(0), Timestamp(MAX_BUCKETS * h), h).is_some());
        assert_eq!(
            aligned_window(Timestamp(0), Timestamp(MAX_BUCKETS * h + 1), h),
            None
        );
    }

    #[test]
    fn buckets_cover_the_window_and_keep_empty_ones() {
        let b = fill_buckets(
            Timestamp(0),
            Timestamp(25),
            10,
            &[(0, 1, 2), (2, 3, 0), (9, 5, 5)],
        );
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].succeeded, b[0].failed), (1, 2));
        assert_eq!(
            (b[1].succeeded, b[1].failed, b[1].start),
            (0, 0, Timestamp(10))
        );
        assert_eq!(b[2].succeeded, 3);
    }

    #[test]
    fn rates() {
        assert_eq!(EndpointHealth::rate((0, 0)), None);
        assert_eq!(EndpointHealth::rate((3, 1)), Some(0.75));
    }
}
