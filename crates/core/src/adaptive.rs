//! Adaptive concurrency of an endpoint's lane (AIMD): the number of requests
//! in flight to an endpoint grows by about one per round of successes whose
//! latency holds, and halves when it answers with timeouts, 429 or 5xx,
//! between 1 and `endpoint_concurrency`. A struggling receiver is thereby
//! sent less at once instead of the same load it is failing under.

use crate::retry::Outcome;

/// One endpoint's concurrency window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    limit: f64,
    max: f64,
    /// Latency of successes, ms: the recent low, drifting up slowly.
    baseline_ms: Option<f64>,
    /// When the window was last cut (ms clock), so one burst of failures
    /// (all the requests in flight failing together) halves it only once.
    last_cut_ms: Option<i64>,
}

/// What an attempt's outcome says about the receiver's load.
pub fn congested(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Timeout | Outcome::Status(429) | Outcome::Status(500..=599)
    )
}

impl Window {
    pub fn new(max: usize) -> Window {
        let max = max.max(1) as f64;
        Window {
            limit: max,
            max,
            baseline_ms: None,
            last_cut_ms: None,
        }
    }

    /// Requests that may be in flight now.
    pub fn allowed(&self) -> usize {
        (self.limit.floor() as usize).max(1)
    }

    /// Learns from an attempt that took `latency_ms` and ended at `now_ms`.
    /// Returns whether the window was cut.
    pub fn record(&mut self, outcome: &Outcome, latency_ms: f64, now_ms: i64) -> bool {
        if congested(outcome) {
            let quiet = (latency_ms.max(100.0)) as i64;
            if self.last_cut_ms.is_some_and(|t| now_ms - t < quiet) {
                return false;
            }
            self.last_cut_ms = Some(now_ms);
            let before = self.limit;
            self.limit = (self.limit / 2.0).max(1.0);
            return self.limit < before;
        }
        if outcome.is_success() {
            let base = self.baseline_ms.get_or_insert(latency_ms);
            // Growth only while latency holds: queueing at the receiver shows
            // as latency before it shows as errors.
            if latency_ms <= *base * 2.0 + 5.0 {
                self.limit = (self.limit + 1.0 / self.limit).min(self.max);
            }
            // Falls at once, rises slowly: a lasting slowdown becomes the
            // new normal only after many requests.
            *base = if latency_ms < *base {
                latency_ms
            } else {
                *base * 0.99 + latency_ms * 0.01
            };
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_once_per_burst_and_never_below_one() {
        let mut w = Window::new(10);
        assert_eq!(w.allowed(), 10);
        assert!(w.record(&Outcome::Status(503), 50.0, 1_000));
        assert_eq!(w.allowed(), 5);
        // The rest of the same burst: no further cut.
        assert!(!w.record(&Outcome::Timeout, 50.0, 1_020));
        assert_eq!(w.allowed(), 5);
        for (i, t) in [1_200, 1_400, 1_600, 1_800].iter().enumerate() {
            w.record(&Outcome::Status(429), 50.0, *t);
            assert!(w.allowed() >= 1, "{i}");
        }
        assert_eq!(w.allowed(), 1);
        // Client errors say nothing about load.
        let before = w.clone();
        w.record(&Outcome::Status(400), 50.0, 5_000);
        assert_eq!(w, before);
    }

    #[test]
    fn grows_back_while_successes_keep_their_latency() {
        let mut w = Window::new(10);
        for t in 0..4 {
            w.record(&Outcome::Status(500), 20.0, t * 1_000);
        }
        assert_eq!(w.allowed(), 1);
        let mut n = 0;
        while w.allowed() < 10 {
            w.record(&Outcome::Status(200), 20.0, 10_000);
            n += 1;
            assert!(n < 100, "never grew back");
        }
        assert!(n > 10, "additive, not a jump: {n}");
        w.record(&Outcome::Status(200), 20.0, 10_000);
        assert_eq!(w.allowed(), 10, "capped at endpoint_concurrency");

        // Latency that balloons stops the growth.
        let mut w = Window::new(10);
        w.record(&Outcome::Timeout, 20.0, 0);
        w.record(&Outcome::Status(200), 20.0, 1_000);
        let held = w.allowed();
        for _ in 0..50 {
            w.record(&Outcome::Status(200), 400.0, 1_000);
        }
        assert!(
            w.allowed() <= held + 1,
            "grew while latency was 20x: {}",
            w.allowed()
        );
    }
}
