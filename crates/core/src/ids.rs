//! Prefixed, time-sortable identifiers (`app_…`, `ep_…`, `msg_…`).
//!
//! An id is a prefix plus 27 base62 characters encoding 20 bytes: a 48-bit
//! millisecond timestamp, a 16-bit per-process sequence and 96 random bits.
//! The alphabet is in ASCII order and the width is fixed, so ids sort by
//! creation time both as strings and in the database; cursor pagination
//! relies on that.

use std::sync::Mutex;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ENCODED_LEN: usize = 27;

/// The kinds of object hookd names, with their Svix-compatible prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Org,
    App,
    Endpoint,
    Message,
    Attempt,
    Key,
    /// A background task (Svix's `QueueBackgroundTask`).
    Task,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Org => "org_",
            Kind::App => "app_",
            Kind::Endpoint => "ep_",
            Kind::Message => "msg_",
            Kind::Attempt => "atmpt_",
            Kind::Key => "key_",
            Kind::Task => "qtask_",
        }
    }
}

static LAST: Mutex<(u64, u16)> = Mutex::new((0, 0));

/// A new id of the given kind, strictly greater than any id this process made before.
pub fn new_id(kind: Kind) -> String {
    let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
    let (ms, seq) = {
        // A poisoned lock only means another thread panicked mid-update of two
        // integers; the values are still usable.
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        let next = if now > last.0 {
            (now, 0)
        } else if last.1 == u16::MAX {
            (last.0 + 1, 0)
        } else {
            (last.0, last.1 + 1)
        };
        *last = next;
        next
    };
    let mut bytes = [0u8; 20];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6..8].copy_from_slice(&seq.to_be_bytes());
    crate::random::fill(&mut bytes[8..]);
    let mut out = String::with_capacity(kind.prefix().len() + ENCODED_LEN);
    out.push_str(kind.prefix());
    out.push_str(&encode(bytes));
    out
}

/// True when `s` has the shape of an id of `kind` (prefix plus 27 base62 chars).
pub fn is_id(kind: Kind, s: &str) -> bool {
    match s.strip_prefix(kind.prefix()) {
        Some(rest) => rest.len() == ENCODED_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric()),
        None => false,
    }
}

/// The smallest id of `kind` that could have been made at `ms` (for time-range queries on ids).
pub fn floor_for_millis(kind: Kind, ms: i64) -> String {
    let mut bytes = [0u8; 20];
    bytes[..6].copy_from_slice(&(ms.max(0) as u64).to_be_bytes()[2..]);
    format!("{}{}", kind.prefix(), encode(bytes))
}

fn encode(mut n: [u8; 20]) -> String {
    let mut digits = [b'0'; ENCODED_LEN];
    for slot in digits.iter_mut().rev() {
        let mut rem: u32 = 0;
        for byte in n.iter_mut() {
            let acc = (rem << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            rem = acc % 62;
        }
        *slot = ALPHABET[rem as usize];
    }
    digits.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_fixed_width() {
        let id = new_id(Kind::App);
        assert!(id.starts_with("app_"));
        assert_eq!(id.len(), 4 + 27);
        assert!(is_id(Kind::App, &id));
        assert!(!is_id(Kind::Endpoint, &id));
        assert!(!is_id(Kind::App, "app_short"));
    }

    #[test]
    fn ids_sort_in_creation_order() {
        let ids: Vec<String> = (0..5000).map(|_| new_id(Kind::Message)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn max_value_fits_width() {
        assert_eq!(encode([0xff; 20]).len(), 27);
        assert_eq!(encode([0; 20]), "0".repeat(27));
    }

    #[test]
    fn floor_is_below_ids_of_that_millisecond() {
        let id = new_id(Kind::Message);
        let now = chrono::Utc::now().timestamp_millis();
        assert!(floor_for_millis(Kind::Message, now - 1000) < id);
        assert!(floor_for_millis(Kind::Message, now + 1000) > id);
    }
}
