//! How both stores turn domain values into column values and back: JSON text
//! for lists and maps, the message payload verbatim. Sharing these keeps the
//! two stores' stored forms, and so their behaviour, identical.

use serde_json::value::RawValue;

/// `v` as JSON text (lists, maps, schemas).
pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub(crate) fn json_opt<T: serde::Serialize>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(json)
}

/// Unreadable JSON (only possible after outside edits) reads as the default.
pub(crate) fn from_json<T: serde::de::DeserializeOwned + Default>(s: Option<String>) -> T {
    s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

pub(crate) fn from_json_opt<T: serde::de::DeserializeOwned>(s: Option<String>) -> Option<T> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

/// A stored payload, exactly as it was received.
pub(crate) fn raw_payload(s: String) -> Box<RawValue> {
    RawValue::from_string(s).unwrap_or_else(|_| {
        // Stored payloads were validated JSON on the way in; an unreadable one
        // (disk corruption) is shown as null rather than failing the listing.
        RawValue::from_string("null".into()).unwrap_or_default()
    })
}
