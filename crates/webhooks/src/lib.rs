//! Sign and verify webhooks per the [Standard Webhooks](https://www.standardwebhooks.com/) spec.
//!
//! A webhook carries three headers: `webhook-id` (a unique message id),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`, a
//! space-separated list of `v1,<base64 HMAC-SHA256>` and/or
//! `v1a,<base64 ed25519>` signatures over `"{id}.{timestamp}.{body}"`.
//! Several signatures let a sender sign with an old and a new key while a
//! secret is being rotated; a receiver accepts the webhook if any matches.
//! Svix sends the same headers named `svix-id`, `svix-timestamp` and
//! `svix-signature`; [`Verifier::verify_headers`] accepts either.
//!
//! Keys are written as `whsec_<base64>` (a shared HMAC secret),
//! `whsk_<base64>` (an ed25519 secret key: 32-byte seed + 32-byte public key)
//! and `whpk_<base64>` (an ed25519 public key, for receivers).
//!
//! What this crate guarantees:
//! - signatures are compared in constant time;
//! - the timestamp is checked against a tolerance window (±5 minutes by
//!   default, [`DEFAULT_TOLERANCE_SECS`]) before any signature, so a replayed
//!   webhook is refused even with a valid signature;
//! - every rejection is a typed [`Error`] that says why.
//!
//! # Signing
//! ```
//! use hookd_webhooks::{Key, sign};
//! let key = Key::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
//! let sig = sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#, &[key]);
//! assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
//! # Ok::<(), hookd_webhooks::Error>(())
//! ```
//!
//! # Verifying
//! ```
//! use hookd_webhooks::{Verifier, Error};
//! let v = Verifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
//! let ok = v.verify_at(
//!     "msg_p5jXN8AQM9LWM0D4loKWxJek",
//!     "1614265330",
//!     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
//!     br#"{"test": 2432232314}"#,
//!     1614265330,
//! );
//! assert!(ok.is_ok());
//! let late = v.verify_at("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
//!     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", br#"{"test": 2432232314}"#, 1614265330 + 301);
//! assert!(matches!(late, Err(Error::TimestampTooOld { .. })));
//! # Ok::<(), hookd_webhooks::Error>(())
//! ```
//!
//! With the request's headers as name/value pairs (an `http::HeaderMap`
//! works as is):
//! ```
//! use hookd_webhooks::Verifier;
//! let v = Verifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
//! let headers = [
//!     ("Svix-Id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
//!     ("Svix-Timestamp", "1614265330"),
//!     ("Svix-Signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
//! ];
//! v.verify_headers_at(headers, br#"{"test": 2432232314}"#, 1614265330)?;
//! # Ok::<(), hookd_webhooks::Error>(())
//! ```
#![warn(missing_docs)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Default tolerance between the webhook's timestamp and the receiver's clock, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a key, header or signature was rejected.
///
/// The variants are stable; new ones may be added (the enum is
/// `#[non_exhaustive]`), so match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key is not `whsec_`/`whsk_`/`whpk_` followed by valid base64 of the right length.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A required header is absent or empty (the value is its name).
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header's value is not valid UTF-8 (the value is its name).
    #[error("header {0} is not valid UTF-8")]
    InvalidHeaderValue(&'static str),
    /// The `webhook-timestamp` header is not an integer.
    #[error("invalid webhook-timestamp header: {0:?} is not a Unix timestamp in seconds")]
    InvalidTimestamp(String),
    /// The timestamp is older than the tolerance allows (a replay, or a clock far behind).
    #[error("timestamp too old: {age} s old, tolerance is {tolerance} s")]
    TimestampTooOld {
        /// How many seconds before the receiver's clock the timestamp is.
        age: i64,
        /// The tolerance in force, in seconds.
        tolerance: i64,
    },
    /// The timestamp is further in the future than the tolerance allows.
    #[error("timestamp too new: {ahead} s in the future, tolerance is {tolerance} s")]
    TimestampTooNew {
        /// How many seconds after the receiver's clock the timestamp is.
        ahead: i64,
        /// The tolerance in force, in seconds.
        tolerance: i64,
    },
    /// The signature header has no entry of the form `v1,<base64>` or `v1a,<base64>`.
    #[error("malformed webhook-signature header: {0}")]
    MalformedSignature(String),
    /// The header only has signatures of the other scheme than the key's:
    /// `v1a` (ed25519) signatures checked with a `whsec_` secret, or `v1`
    /// (HMAC) signatures checked with an ed25519 key.
    #[error(
        "the webhook-signature header has only {found} signatures, but the key checks {expected} signatures ({hint})"
    )]
    SchemeMismatch {
        /// The scheme the key verifies: `v1` or `v1a`.
        expected: &'static str,
        /// The scheme the header's signatures use.
        found: &'static str,
        /// Which key to use instead.
        hint: &'static str,
    },
    /// Signatures were present, but none matches this key.
    #[error("no signature matches: wrong secret, or the body was changed")]
    NoMatchingSignature,
}

/// A signing key: an HMAC secret or an ed25519 secret key.
///
/// Parse one from its text form with [`Key::parse`]; the `Debug` output
/// never shows the key material.
#[derive(Clone)]
pub enum Key {
    /// A shared HMAC-SHA256 secret (`whsec_…`): signs `v1` signatures, and
    /// the receiver verifies with the same secret.
    Hmac(Vec<u8>),
    /// An ed25519 secret key (`whsk_…`): signs `v1a` signatures; the
    /// receiver verifies with its public key (`whpk_…`, see [`Key::public`]).
    Ed25519(Box<SigningKey>),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Hmac(_) => f.write_str("Key::Hmac(..)"),
            Key::Ed25519(_) => f.write_str("Key::Ed25519(..)"),
        }
    }
}

/// Decodes base64 in any of its common alphabets, with or without padding
/// (secrets are pasted from many places).
fn decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .ok()
}

impl Key {
    /// Parses `whsec_…` or `whsk_…`.
    ///
    /// The base64 may be standard or URL-safe, padded or not. A `whsk_` key
    /// is the 32-byte seed, optionally followed by the 32-byte public key
    /// (which must then match the seed).
    ///
    /// ```
    /// use hookd_webhooks::{Error, Key};
    /// assert!(Key::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    /// assert!(matches!(Key::parse("sk_live_123"), Err(Error::InvalidKey(_))));
    /// ```
    pub fn parse(s: &str) -> Result<Key, Error> {
        if let Some(b64) = s.strip_prefix("whsec_") {
            let bytes = decode(b64)
                .ok_or_else(|| Error::InvalidKey("whsec_ key is not valid base64".into()))?;
            if bytes.is_empty() {
                return Err(Error::InvalidKey("whsec_ key is empty".into()));
            }
            return Ok(Key::Hmac(bytes));
        }
        if let Some(b64) = s.strip_prefix("whsk_") {
            let bytes = decode(b64)
                .ok_or_else(|| Error::InvalidKey("whsk_ key is not valid base64".into()))?;
            let seed: [u8; 32] = match bytes.len() {
                32 | 64 => bytes[..32]
                    .try_into()
                    .map_err(|_| Error::InvalidKey("whsk_ key has a bad length".into()))?,
                n => {
                    return Err(Error::InvalidKey(format!(
                        "whsk_ key must encode 32 or 64 bytes, got {n}"
                    )));
                }
            };
            let key = SigningKey::from_bytes(&seed);
            if bytes.len() == 64 && key.verifying_key().as_bytes()[..] != bytes[32..] {
                return Err(Error::InvalidKey(
                    "whsk_ key's public half does not match its secret half".into(),
                ));
            }
            return Ok(Key::Ed25519(Box::new(key)));
        }
        if s.starts_with("whpk_") {
            return Err(Error::InvalidKey(
                "whpk_ is a public key: it can verify (Verifier::new) but not sign".into(),
            ));
        }
        Err(Error::InvalidKey(
            "key must start with whsec_ or whsk_".into(),
        ))
    }

    /// A new ed25519 key from the given 32 bytes of randomness (its seed).
    pub fn ed25519_from_seed(seed: [u8; 32]) -> Key {
        Key::Ed25519(Box::new(SigningKey::from_bytes(&seed)))
    }

    /// The key in its text form (`whsec_…` or `whsk_…`).
    pub fn encode(&self) -> String {
        match self {
            Key::Hmac(k) => format!("whsec_{}", STANDARD.encode(k)),
            Key::Ed25519(k) => {
                let mut both = k.to_bytes().to_vec();
                both.extend_from_slice(k.verifying_key().as_bytes());
                format!("whsk_{}", STANDARD.encode(both))
            }
        }
    }

    /// What a receiver needs to verify: the same `whsec_` secret, or the `whpk_` public key.
    pub fn public(&self) -> String {
        match self {
            Key::Hmac(_) => self.encode(),
            Key::Ed25519(k) => format!("whpk_{}", STANDARD.encode(k.verifying_key().as_bytes())),
        }
    }

    /// One signature entry (`v1,…` or `v1a,…`) over `id.timestamp.payload`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, payload: &[u8]) -> String {
        let ts = timestamp.to_string();
        match self {
            Key::Hmac(secret) => {
                let mac = hmac_of(secret, msg_id, &ts, payload);
                format!("v1,{}", STANDARD.encode(mac))
            }
            Key::Ed25519(k) => {
                let content = signed_content(msg_id, &ts, payload);
                format!("v1a,{}", STANDARD.encode(k.sign(&content).to_bytes()))
            }
        }
    }
}

fn signed_content(msg_id: &str, ts: &str, payload: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(msg_id.len() + ts.len() + payload.len() + 2);
    content.extend_from_slice(msg_id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(ts.as_bytes());
    content.push(b'.');
    content.extend_from_slice(payload);
    content
}

fn hmac_of(secret: &[u8], msg_id: &str, ts: &str, payload: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

/// The `webhook-signature` header value: one entry per key, space-separated.
///
/// Sign with both keys during a rotation; a receiver holding either accepts.
/// ```
/// use hookd_webhooks::{Key, Verifier, sign};
/// let old = Key::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
/// let new = Key::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?;
/// let header = sign("msg_1", 1700000000, b"{}", &[new, old.clone()]);
/// Verifier::new(&old.encode())?.verify_at("msg_1", "1700000000", &header, b"{}", 1700000000)?;
/// # Ok::<(), hookd_webhooks::Error>(())
/// ```
pub fn sign(msg_id: &str, timestamp: i64, payload: &[u8], keys: &[Key]) -> String {
    keys.iter()
        .map(|k| k.sign(msg_id, timestamp, payload))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Clone)]
enum VerifyKey {
    Hmac(Vec<u8>),
    Ed25519(VerifyingKey),
}

/// Verifies webhooks for one receiver key (`whsec_…`, `whpk_…`, or `whsk_…`).
///
/// A `Verifier` is cheap to clone and can be shared between threads; build
/// one per endpoint secret at start-up.
#[derive(Clone)]
pub struct Verifier {
    key: VerifyKey,
    tolerance: i64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.key {
            VerifyKey::Hmac(_) => "v1 (HMAC-SHA256)",
            VerifyKey::Ed25519(_) => "v1a (ed25519)",
        };
        f.debug_struct("Verifier")
            .field("scheme", &scheme)
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

/// The names of the three headers in one naming family.
struct Names {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const WEBHOOK_NAMES: Names = Names {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};

const SVIX_NAMES: Names = Names {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

impl Verifier {
    /// A verifier for `key`: a `whsec_` secret (checks `v1` signatures), a
    /// `whpk_` public key or a `whsk_` secret key (check `v1a` signatures).
    ///
    /// Fails with [`Error::InvalidKey`] when the key is none of these.
    pub fn new(key: &str) -> Result<Verifier, Error> {
        let key = if let Some(b64) = key.strip_prefix("whpk_") {
            let bytes = decode(b64)
                .ok_or_else(|| Error::InvalidKey("whpk_ key is not valid base64".into()))?;
            let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                Error::InvalidKey(format!(
                    "whpk_ key must encode 32 bytes, got {}",
                    bytes.len()
                ))
            })?;
            VerifyKey::Ed25519(
                VerifyingKey::from_bytes(&arr)
                    .map_err(|_| Error::InvalidKey("whpk_ key is not an ed25519 point".into()))?,
            )
        } else {
            match Key::parse(key) {
                Ok(Key::Hmac(k)) => VerifyKey::Hmac(k),
                Ok(Key::Ed25519(k)) => VerifyKey::Ed25519(k.verifying_key()),
                Err(Error::InvalidKey(_)) if !key.starts_with("wh") => {
                    return Err(Error::InvalidKey(
                        "key must start with whsec_, whpk_ or whsk_".into(),
                    ));
                }
                Err(e) => return Err(e),
            }
        };
        Ok(Verifier {
            key,
            tolerance: DEFAULT_TOLERANCE_SECS,
        })
    }

    /// Accept timestamps up to `secs` away from now (default 300).
    pub fn with_tolerance(mut self, secs: i64) -> Verifier {
        self.tolerance = secs;
        self
    }

    /// The tolerance in force, in seconds.
    pub fn tolerance(&self) -> i64 {
        self.tolerance
    }

    /// Verifies against the system clock.
    ///
    /// `payload` must be the raw request body, before any JSON parsing: the
    /// signature covers its exact bytes.
    pub fn verify(
        &self,
        msg_id: &str,
        timestamp: &str,
        signature: &str,
        payload: &[u8],
    ) -> Result<(), Error> {
        self.verify_at(msg_id, timestamp, signature, payload, unix_now())
    }

    /// Verifies a request given its headers as name/value pairs: the
    /// `webhook-*` headers, or the `svix-*` ones when there are no
    /// `webhook-*` headers. Names are matched case-insensitively, so an
    /// `http::HeaderMap` (by reference) can be passed directly.
    ///
    /// Uses the system clock; see [`Verifier::verify_headers_at`].
    pub fn verify_headers<K, V>(
        &self,
        headers: impl IntoIterator<Item = (K, V)>,
        payload: &[u8],
    ) -> Result<(), Error>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        self.verify_headers_at(headers, payload, unix_now())
    }

    /// [`Verifier::verify_headers`] as if the current time were `now` (Unix seconds).
    pub fn verify_headers_at<K, V>(
        &self,
        headers: impl IntoIterator<Item = (K, V)>,
        payload: &[u8],
        now: i64,
    ) -> Result<(), Error>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        // [webhook-id, webhook-timestamp, webhook-signature, svix-id, svix-timestamp, svix-signature]
        let mut found: [Option<Vec<u8>>; 6] = Default::default();
        let all = [
            WEBHOOK_NAMES.id,
            WEBHOOK_NAMES.timestamp,
            WEBHOOK_NAMES.signature,
            SVIX_NAMES.id,
            SVIX_NAMES.timestamp,
            SVIX_NAMES.signature,
        ];
        for (name, value) in headers {
            if let Some(i) = all
                .iter()
                .position(|n| n.eq_ignore_ascii_case(name.as_ref().trim()))
                && found[i].is_none()
            {
                found[i] = Some(value.as_ref().to_vec());
            }
        }
        let use_svix =
            found[..3].iter().all(Option::is_none) && found[3..].iter().any(Option::is_some);
        let (names, values) = if use_svix {
            (&SVIX_NAMES, &found[3..])
        } else {
            (&WEBHOOK_NAMES, &found[..3])
        };
        let text = |i: usize, name: &'static str| -> Result<&str, Error> {
            match &values[i] {
                None => Err(Error::MissingHeader(name)),
                Some(v) => std::str::from_utf8(v).map_err(|_| Error::InvalidHeaderValue(name)),
            }
        };
        let id = text(0, names.id)?;
        let timestamp = text(1, names.timestamp)?;
        let signature = text(2, names.signature)?;
        self.check(names, id, timestamp, signature, payload, now)
    }

    /// Verifies as if the current time were `now` (Unix seconds).
    pub fn verify_at(
        &self,
        msg_id: &str,
        timestamp: &str,
        signature: &str,
        payload: &[u8],
        now: i64,
    ) -> Result<(), Error> {
        self.check(&WEBHOOK_NAMES, msg_id, timestamp, signature, payload, now)
    }

    fn check(
        &self,
        names: &Names,
        msg_id: &str,
        timestamp: &str,
        signature: &str,
        payload: &[u8],
        now: i64,
    ) -> Result<(), Error> {
        if msg_id.is_empty() {
            return Err(Error::MissingHeader(names.id));
        }
        if timestamp.trim().is_empty() {
            return Err(Error::MissingHeader(names.timestamp));
        }
        if signature.trim().is_empty() {
            return Err(Error::MissingHeader(names.signature));
        }
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| Error::InvalidTimestamp(timestamp.to_string()))?;
        let age = now.saturating_sub(ts);
        if age > self.tolerance {
            return Err(Error::TimestampTooOld {
                age,
                tolerance: self.tolerance,
            });
        }
        if -age > self.tolerance {
            return Err(Error::TimestampTooNew {
                ahead: -age,
                tolerance: self.tolerance,
            });
        }
        let ts_text = timestamp.trim();
        // Entries of the key's scheme that decoded, and of the other scheme.
        let mut own = 0;
        let mut other = 0;
        let mut first_problem: Option<String> = None;
        for entry in signature.split_whitespace() {
            let Some((version, sig)) = entry.split_once(',') else {
                first_problem.get_or_insert_with(|| {
                    format!("{entry:?} is not of the form v1,<base64> or v1a,<base64>")
                });
                continue;
            };
            if version != "v1" && version != "v1a" {
                first_problem
                    .get_or_insert_with(|| format!("unknown signature version {version:?}"));
                continue;
            }
            let Some(sig) = decode(sig) else {
                first_problem
                    .get_or_insert_with(|| format!("{version} signature is not valid base64"));
                continue;
            };
            match (&self.key, version) {
                (VerifyKey::Hmac(secret), "v1") => {
                    own += 1;
                    let expected = hmac_of(secret, msg_id, ts_text, payload);
                    if bool::from(expected[..].ct_eq(&sig[..])) {
                        return Ok(());
                    }
                }
                (VerifyKey::Ed25519(pk), "v1a") => {
                    own += 1;
                    let Ok(sig) = ed25519_dalek::Signature::from_slice(&sig) else {
                        continue;
                    };
                    let content = signed_content(msg_id, ts_text, payload);
                    if pk.verify(&content, &sig).is_ok() {
                        return Ok(());
                    }
                }
                _ => other += 1,
            }
        }
        if own > 0 {
            return Err(Error::NoMatchingSignature);
        }
        if other > 0 {
            return Err(match self.key {
                VerifyKey::Hmac(_) => Error::SchemeMismatch {
                    expected: "v1",
                    found: "v1a",
                    hint: "verify ed25519 signatures with the endpoint's whpk_ public key",
                },
                VerifyKey::Ed25519(_) => Error::SchemeMismatch {
                    expected: "v1a",
                    found: "v1",
                    hint: "verify HMAC signatures with the endpoint's whsec_ secret",
                },
            });
        }
        Err(Error::MalformedSignature(first_problem.unwrap_or_else(
            || "expected space-separated entries like v1,<base64>".into(),
        )))
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> serde_json::Value {
        let text = include_str!("../tests/vectors.json");
        serde_json::from_str(text).expect("vectors parse")
    }

    #[test]
    fn hmac_known_answers() {
        let v = vectors();
        for case in v["hmac_sha256"].as_array().expect("cases") {
            let key = Key::parse(case["secret"].as_str().expect("secret")).expect("key");
            let id = case["msg_id"].as_str().expect("id");
            let ts = case["timestamp"].as_i64().expect("ts");
            let payload = case["payload"].as_str().expect("payload").as_bytes();
            let sig = case["signature"].as_str().expect("sig");
            assert_eq!(key.sign(id, ts, payload), sig);
            let verifier = Verifier::new(case["secret"].as_str().expect("secret")).expect("v");
            assert_eq!(
                verifier.verify_at(id, &ts.to_string(), sig, payload, ts),
                Ok(())
            );
            if let Some(wrong) = case["a_wrong_signature"].as_str() {
                assert_eq!(
                    verifier.verify_at(id, &ts.to_string(), wrong, payload, ts),
                    Err(Error::NoMatchingSignature)
                );
            }
        }
    }

    #[test]
    fn ed25519_key_pair_round_trips() {
        let v = vectors();
        let sk = v["ed25519_key_pair"]["secret_key"].as_str().expect("sk");
        let pk = v["ed25519_key_pair"]["public_key"].as_str().expect("pk");
        let key = Key::parse(sk).expect("key");
        assert_eq!(key.public(), pk);
        assert_eq!(key.encode(), sk);
        let sig = key.sign("msg_1", 1000, b"{}");
        assert!(sig.starts_with("v1a,"));
        let verifier = Verifier::new(pk).expect("v");
        assert_eq!(
            verifier.verify_at("msg_1", "1000", &sig, b"{}", 1000),
            Ok(())
        );
        assert_eq!(
            verifier.verify_at("msg_1", "1000", &sig, b"{ }", 1000),
            Err(Error::NoMatchingSignature)
        );
    }

    #[test]
    fn several_signatures_any_may_match() {
        let old = Key::Hmac(vec![1; 24]);
        let new = Key::Hmac(vec![2; 24]);
        let header = sign("msg_1", 5, b"x", &[new, old.clone()]);
        assert_eq!(header.split(' ').count(), 2);
        let v = Verifier::new(&old.encode()).expect("v");
        assert_eq!(v.verify_at("msg_1", "5", &header, b"x", 5), Ok(()));
    }

    #[test]
    fn rejections_say_why() {
        let key = Key::Hmac(vec![7; 24]);
        let v = Verifier::new(&key.encode()).expect("v");
        let sig = key.sign("m", 100, b"b");
        assert!(matches!(
            v.verify_at("m", "100", &sig, b"b", 100 + 301),
            Err(Error::TimestampTooOld { .. })
        ));
        assert!(matches!(
            v.verify_at("m", "100", &sig, b"b", 100 - 301),
            Err(Error::TimestampTooNew { .. })
        ));
        assert_eq!(
            v.verify_at("m", "abc", &sig, b"b", 100),
            Err(Error::InvalidTimestamp("abc".into()))
        );
        assert_eq!(
            v.verify_at("m", "100", "garbage", b"b", 100),
            Err(Error::MalformedSignature(
                "\"garbage\" is not of the form v1,<base64> or v1a,<base64>".into()
            ))
        );
        assert_eq!(
            v.verify_at("m", "100", "v2,AAAA", b"b", 100),
            Err(Error::MalformedSignature(
                "unknown signature version \"v2\"".into()
            ))
        );
        assert_eq!(
            v.verify_at("m", "100", "v1,***", b"b", 100),
            Err(Error::MalformedSignature(
                "v1 signature is not valid base64".into()
            ))
        );
        // A malformed entry next to a valid one does not hide the valid one.
        assert_eq!(
            v.verify_at("m", "100", &format!("junk {sig}"), b"b", 100),
            Ok(())
        );
        assert_eq!(
            v.verify_at("m", "100", &sig, b"b", 100 + 300),
            Ok(()),
            "exactly the tolerance is accepted"
        );
        assert_eq!(
            v.verify_at("m", "100", &sig, b"b", 100 + 301),
            Err(Error::TimestampTooOld {
                age: 301,
                tolerance: 300
            })
        );
        assert_eq!(
            v.verify_at("m", "   ", &sig, b"b", 100),
            Err(Error::MissingHeader("webhook-timestamp"))
        );
        assert_eq!(
            v.verify_at("m", "100", " ", b"b", 100),
            Err(Error::MissingHeader("webhook-signature"))
        );
        assert_eq!(
            v.verify_at("", "100", &sig, b"b", 100),
            Err(Error::MissingHeader("webhook-id"))
        );
        assert_eq!(
            v.verify_at("m", "100", &sig, b"tampered", 100),
            Err(Error::NoMatchingSignature)
        );
        assert!(Verifier::new("nope").is_err());
        assert!(Verifier::new("whsec_***").is_err());
        assert!(Verifier::new("whpk_AAAA").is_err());
    }

    #[test]
    fn scheme_mismatch_is_named() {
        let hmac = Key::Hmac(vec![3; 24]);
        let ed = Key::ed25519_from_seed([9; 32]);
        let ed_sig = ed.sign("m", 10, b"x");
        let hmac_sig = hmac.sign("m", 10, b"x");
        let v = Verifier::new(&hmac.encode()).expect("v");
        assert!(matches!(
            v.verify_at("m", "10", &ed_sig, b"x", 10),
            Err(Error::SchemeMismatch {
                expected: "v1",
                found: "v1a",
                ..
            })
        ));
        let v = Verifier::new(&ed.public()).expect("v");
        assert!(matches!(
            v.verify_at("m", "10", &hmac_sig, b"x", 10),
            Err(Error::SchemeMismatch {
                expected: "v1a",
                found: "v1",
                ..
            })
        ));
        // Both schemes in one header: the matching one is used.
        let both = format!("{hmac_sig} {ed_sig}");
        assert_eq!(v.verify_at("m", "10", &both, b"x", 10), Ok(()));
        let v = Verifier::new(&ed.encode()).expect("a whsk_ key verifies too");
        assert_eq!(v.verify_at("m", "10", &both, b"x", 10), Ok(()));
    }

    #[test]
    fn headers_by_name_either_family() {
        let key = Key::Hmac(vec![5; 32]);
        let v = Verifier::new(&key.encode()).expect("v");
        let sig = key.sign("msg_1", 50, b"{}");
        let webhook = [
            ("Webhook-Id", "msg_1"),
            ("webhook-timestamp", "50"),
            ("WEBHOOK-SIGNATURE", sig.as_str()),
            ("content-type", "application/json"),
        ];
        assert_eq!(v.verify_headers_at(webhook, b"{}", 50), Ok(()));
        let svix = [
            ("svix-id", "msg_1"),
            ("svix-timestamp", "50"),
            ("svix-signature", sig.as_str()),
        ];
        assert_eq!(v.verify_headers_at(svix, b"{}", 50), Ok(()));
        assert_eq!(
            v.verify_headers_at(svix[..2].iter().copied(), b"{}", 50),
            Err(Error::MissingHeader("svix-signature"))
        );
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            v.verify_headers_at(none, b"{}", 50),
            Err(Error::MissingHeader("webhook-id"))
        );
        let bad_utf8: [(&str, &[u8]); 3] = [
            ("webhook-id", b"msg_\xff"),
            ("webhook-timestamp", b"50"),
            ("webhook-signature", sig.as_bytes()),
        ];
        assert_eq!(
            v.verify_headers_at(bad_utf8, b"{}", 50),
            Err(Error::InvalidHeaderValue("webhook-id"))
        );
        assert_eq!(
            v.verify_headers_at(webhook, b"{ }", 50),
            Err(Error::NoMatchingSignature)
        );
    }

    #[test]
    fn key_errors_say_what_is_wrong() {
        let msg = |k: &str| match Verifier::new(k) {
            Err(Error::InvalidKey(m)) => m,
            other => panic!("{k}: {other:?}"),
        };
        assert!(msg("secret").contains("whsec_, whpk_ or whsk_"));
        assert!(msg("whsec_").contains("empty"));
        assert!(msg("whsec_***").contains("base64"));
        assert!(msg("whpk_AAAA").contains("32 bytes"));
        assert!(msg("whsk_AAAA").contains("32 or 64 bytes"));
        assert!(
            matches!(Key::parse("whpk_AAAA"), Err(Error::InvalidKey(m)) if m.contains("public key"))
        );
        let debug = format!(
            "{:?}",
            Verifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("v")
        );
        assert!(!debug.contains("MfKQ"), "{debug}");
    }
}
