//! The retry policy: what to do after an attempt, as pure functions.
//!
//! The default schedule follows the delivery contract: the first attempt is
//! immediate, then retries after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h,
//! each with ±20 % jitter. A 2xx is success; 410 Gone disables the endpoint;
//! a delivery blocked by the SSRF policy is not retried (retrying cannot
//! change the answer); everything else is retried until the schedule is
//! exhausted. For 429/502/503/504 a `Retry-After` is honoured: the retry is
//! never earlier than the receiver asked, up to [`MAX_RETRY_AFTER`].

use std::time::{Duration, SystemTime};

/// Longest `Retry-After` honoured; beyond it the schedule's own delay is used.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(6 * 3600);
/// Jitter applied to each scheduled delay, as a fraction.
pub const JITTER: f64 = 0.2;

/// Most retries a schedule may have (the server's `retry_schedule`, and an
/// event type's own).
pub const MAX_RETRIES: usize = 50;
/// Longest delay of one retry.
pub const MAX_DELAY: Duration = Duration::from_secs(30 * 86_400);

/// Delays between attempts: entry `i` is the wait after attempt `i + 1` fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule(pub Vec<Duration>);

impl Default for Schedule {
    fn default() -> Schedule {
        let s = |n| Duration::from_secs(n);
        Schedule(vec![
            s(5),
            s(5 * 60),
            s(30 * 60),
            s(2 * 3600),
            s(5 * 3600),
            s(10 * 3600),
            s(10 * 3600),
        ])
    }
}

impl Schedule {
    /// Parses `1s,2s,5m,1h` (units ms, s, m, h; a bare number is seconds).
    pub fn parse(s: &str) -> Result<Schedule, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let d = parse_duration(part)?;
            if d > MAX_DELAY {
                return Err(format!("'{part}' is longer than 30 days"));
            }
            out.push(d);
        }
        if out.len() > MAX_RETRIES {
            return Err(format!("at most {MAX_RETRIES} retries"));
        }
        Ok(Schedule(out))
    }

    /// An event type's schedule as stored: delays in whole seconds.
    pub fn from_secs(secs: &[u32]) -> Schedule {
        Schedule(
            secs.iter()
                .map(|s| Duration::from_secs(u64::from(*s)))
                .collect(),
        )
    }

    /// Total attempts a delivery gets (the first plus one per entry).
    pub fn max_attempts(&self) -> usize {
        self.0.len() + 1
    }

    /// Delay before the next attempt after `attempts_made` attempts failed,
    /// with `jitter` in [-1, 1] scaled to ±[`JITTER`]; `None` once exhausted.
    pub fn next_delay(&self, attempts_made: usize, jitter: f64) -> Option<Duration> {
        let base = *self.0.get(attempts_made.checked_sub(1)?)?;
        let factor = 1.0 + JITTER * jitter.clamp(-1.0, 1.0);
        Some(base.mul_f64(factor))
    }
}

/// Parses `500ms`, `5s`, `5m`, `2h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 5s, 10m or 2h"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(format!("'{s}' has an unknown unit (use ms, s, m, h or d)")),
    };
    if !(0.0..=3650.0 * 86400.0).contains(&secs) {
        return Err(format!("'{s}' is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// What happened on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP response with this status.
    Status(u16),
    Timeout,
    Connect,
    Dns,
    Tls,
    /// Refused by the SSRF policy (non-public address, or plain http in https-only mode).
    Blocked,
    /// Anything else that prevented a response (e.g. a malformed response).
    Other,
}

impl Outcome {
    /// The error class stored with the attempt, when there was no HTTP response.
    pub fn error_class(&self) -> Option<&'static str> {
        match self {
            Outcome::Status(_) => None,
            Outcome::Timeout => Some("timeout"),
            Outcome::Connect => Some("connect"),
            Outcome::Dns => Some("dns"),
            Outcome::Tls => Some("tls"),
            Outcome::Blocked => Some("blocked"),
            Outcome::Other => Some("other"),
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Status(s) if (200..300).contains(s))
    }
}

/// What the delivery does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Success,
    /// Try again after this delay.
    Retry(Duration),
    /// Give up: the schedule is exhausted or retrying cannot help.
    Fail,
    /// 410 Gone: give up and disable the endpoint.
    Disable,
}

/// Decides the next step after attempt number `attempts_made` (1-based).
pub fn decide(
    outcome: &Outcome,
    attempts_made: usize,
    schedule: &Schedule,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Decision {
    match outcome {
        o if o.is_success() => return Decision::Success,
        Outcome::Status(410) => return Decision::Disable,
        Outcome::Blocked => return Decision::Fail,
        _ => {}
    }
    let Some(delay) = schedule.next_delay(attempts_made, jitter) else {
        return Decision::Fail;
    };
    let honours_retry_after = matches!(outcome, Outcome::Status(429 | 502 | 503 | 504));
    match retry_after {
        Some(ra) if honours_retry_after && ra <= MAX_RETRY_AFTER => Decision::Retry(delay.max(ra)),
        _ => Decision::Retry(delay),
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn default_schedule_is_the_published_one() {
        let s = Schedule::default();
        let expected = [5, 300, 1800, 7200, 18000, 36000, 36000];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(s.next_delay(i + 1, 0.0), Some(secs(*e)));
        }
        assert_eq!(s.next_delay(8, 0.0), None);
        assert_eq!(s.max_attempts(), 8);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let s = Schedule::default();
        assert_eq!(s.next_delay(1, 1.0), Some(Duration::from_secs(6)));
        assert_eq!(s.next_delay(1, -1.0), Some(Duration::from_secs(4)));
        assert_eq!(s.next_delay(1, 7.0), Some(Duration::from_secs(6)));
    }

    #[test]
    fn parses_schedules() {
        assert_eq!(
            Schedule::parse("1s, 2s,500ms,5m,1h"),
            Ok(Schedule(vec![
                secs(1),
                secs(2),
                Duration::from_millis(500),
                secs(300),
                secs(3600)
            ]))
        );
        assert_eq!(Schedule::parse("3"), Ok(Schedule(vec![secs(3)])));
        assert_eq!(Schedule::parse(""), Ok(Schedule(vec![])));
        assert!(Schedule::parse("1x").is_err());
        assert!(Schedule::parse("soon").is_err());
        assert!(Schedule::parse("31d").is_err());
        assert_eq!(parse_duration("90d"), Ok(secs(90 * 86_400)));
        let fifty_one = vec!["1s"; MAX_RETRIES + 1].join(",");
        assert!(Schedule::parse(&fifty_one).is_err());
        assert_eq!(
            Schedule::from_secs(&[1, 0, 3600]),
            Schedule(vec![secs(1), secs(0), secs(3600)])
        );
    }

    #[test]
    fn decisions() {
        let s = Schedule(vec![secs(1), secs(2)]);
        let d = |o: Outcome, n: usize, ra: Option<u64>| decide(&o, n, &s, ra.map(secs), 0.0);
        assert_eq!(d(Outcome::Status(200), 1, None), Decision::Success);
        assert_eq!(d(Outcome::Status(204), 3, None), Decision::Success);
        assert_eq!(d(Outcome::Status(500), 1, None), Decision::Retry(secs(1)));
        assert_eq!(d(Outcome::Status(301), 2, None), Decision::Retry(secs(2)));
        assert_eq!(d(Outcome::Status(500), 3, None), Decision::Fail);
        assert_eq!(d(Outcome::Status(410), 1, None), Decision::Disable);
        assert_eq!(d(Outcome::Blocked, 1, None), Decision::Fail);
        assert_eq!(d(Outcome::Timeout, 1, None), Decision::Retry(secs(1)));
        // Retry-After is honoured for 429/502/503/504 only, and never shortens the wait.
        assert_eq!(
            d(Outcome::Status(429), 1, Some(30)),
            Decision::Retry(secs(30))
        );
        assert_eq!(
            d(Outcome::Status(503), 2, Some(1)),
            Decision::Retry(secs(2))
        );
        assert_eq!(
            d(Outcome::Status(500), 1, Some(30)),
            Decision::Retry(secs(1))
        );
        // An absurd Retry-After falls back to the schedule; exhaustion still wins.
        assert_eq!(
            d(Outcome::Status(429), 1, Some(100_000)),
            Decision::Retry(secs(1))
        );
        assert_eq!(d(Outcome::Status(429), 3, Some(5)), Decision::Fail);
    }

    #[test]
    fn retry_after_formats() {
        let now = SystemTime::UNIX_EPOCH + secs(784_111_777);
        assert_eq!(parse_retry_after("120", now), Some(secs(120)));
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:57 GMT", now),
            Some(secs(20))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("later", now), None);
    }
}
