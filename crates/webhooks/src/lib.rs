//! Sign and verify webhooks per the [Standard Webhooks](https://www.standardwebhooks.com/) spec.
//!
//! A webhook carries three headers: `webhook-id` (a unique message id),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`, a
//! space-separated list of `v1,<base64 HMAC-SHA256>` and/or
//! `v1a,<base64 ed25519>` signatures over `"{id}.{timestamp}.{body}"`.
//! Several signatures let a sender sign with an old and a new key while a
//! secret is being rotated; a receiver accepts the webhook if any matches.
//!
//! Keys are written as `whsec_<base64>` (a shared HMAC secret),
//! `whsk_<base64>` (an ed25519 secret key: 32-byte seed + 32-byte public key)
//! and `whpk_<base64>` (an ed25519 public key, for receivers).
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

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Default tolerance between the webhook's timestamp and the receiver's clock.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a key, header or signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The key is not `whsec_`/`whsk_`/`whpk_` followed by valid base64 of the right length.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A required header is absent or empty.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The `webhook-timestamp` header is not an integer.
    #[error("invalid webhook-timestamp header: {0:?} is not a Unix timestamp in seconds")]
    InvalidTimestamp(String),
    /// The timestamp is older than the tolerance allows (a replay, or a clock far behind).
    #[error("timestamp too old: {age} s old, tolerance is {tolerance} s")]
    TimestampTooOld { age: i64, tolerance: i64 },
    /// The timestamp is further in the future than the tolerance allows.
    #[error("timestamp too new: {ahead} s in the future, tolerance is {tolerance} s")]
    TimestampTooNew { ahead: i64, tolerance: i64 },
    /// The signature header has no entry of the form `v1,<base64>` or `v1a,<base64>`.
    #[error("malformed webhook-signature header: {0}")]
    MalformedSignature(String),
    /// Signatures were present, but none matches this key.
    #[error("no signature matches: wrong secret, or the body was changed")]
    NoMatchingSignature,
}

/// A signing key: an HMAC secret or an ed25519 secret key.
#[derive(Clone)]
pub enum Key {
    Hmac(Vec<u8>),
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
        Err(Error::InvalidKey(
            "key must start with whsec_ or whsk_".into(),
        ))
    }

    /// A new random ed25519 key from the given 32 bytes of randomness.
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
                let mut content = Vec::with_capacity(msg_id.len() + ts.len() + payload.len() + 2);
                content.extend_from_slice(msg_id.as_bytes());
                content.push(b'.');
                content.extend_from_slice(ts.as_bytes());
                content.push(b'.');
                content.extend_from_slice(payload);
                format!("v1a,{}", STANDARD.encode(k.sign(&content).to_bytes()))
            }
        }
    }
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
pub fn sign(msg_id: &str, timestamp: i64, payload: &[u8], keys: &[Key]) -> String {
    keys.iter()
        .map(|k| k.sign(msg_id, timestamp, payload))
        .collect::<Vec<_>>()
        .join(" ")
}

enum VerifyKey {
    Hmac(Vec<u8>),
    Ed25519(VerifyingKey),
}

/// Verifies webhooks for one receiver key (`whsec_…`, `whpk_…`, or `whsk_…`).
pub struct Verifier {
    key: VerifyKey,
    tolerance: i64,
}

impl Verifier {
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
            match Key::parse(key)? {
                Key::Hmac(k) => VerifyKey::Hmac(k),
                Key::Ed25519(k) => VerifyKey::Ed25519(k.verifying_key()),
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

    /// Verifies against the system clock.
    pub fn verify(
        &self,
        msg_id: &str,
        timestamp: &str,
        signature: &str,
        payload: &[u8],
    ) -> Result<(), Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.verify_at(msg_id, timestamp, signature, payload, now)
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
        if msg_id.is_empty() {
            return Err(Error::MissingHeader("webhook-id"));
        }
        if timestamp.is_empty() {
            return Err(Error::MissingHeader("webhook-timestamp"));
        }
        if signature.trim().is_empty() {
            return Err(Error::MissingHeader("webhook-signature"));
        }
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| Error::InvalidTimestamp(timestamp.to_string()))?;
        if now - ts > self.tolerance {
            return Err(Error::TimestampTooOld {
                age: now - ts,
                tolerance: self.tolerance,
            });
        }
        if ts - now > self.tolerance {
            return Err(Error::TimestampTooNew {
                ahead: ts - now,
                tolerance: self.tolerance,
            });
        }
        let mut well_formed = 0;
        for entry in signature.split_whitespace() {
            let Some((version, sig)) = entry.split_once(',') else {
                continue;
            };
            let Some(sig) = decode(sig) else { continue };
            match (&self.key, version) {
                (VerifyKey::Hmac(secret), "v1") => {
                    well_formed += 1;
                    let expected = hmac_of(secret, msg_id, timestamp.trim(), payload);
                    if bool::from(expected[..].ct_eq(&sig[..])) {
                        return Ok(());
                    }
                }
                (VerifyKey::Ed25519(pk), "v1a") => {
                    well_formed += 1;
                    let Ok(sig) = ed25519_dalek::Signature::from_slice(&sig) else {
                        continue;
                    };
                    let mut content = Vec::with_capacity(msg_id.len() + payload.len() + 16);
                    content.extend_from_slice(msg_id.as_bytes());
                    content.push(b'.');
                    content.extend_from_slice(timestamp.trim().as_bytes());
                    content.push(b'.');
                    content.extend_from_slice(payload);
                    if pk.verify(&content, &sig).is_ok() {
                        return Ok(());
                    }
                }
                (_, "v1") | (_, "v1a") => well_formed += 1,
                _ => {}
            }
        }
        if well_formed == 0 {
            return Err(Error::MalformedSignature(
                "expected space-separated entries like v1,<base64>".into(),
            ));
        }
        Err(Error::NoMatchingSignature)
    }
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
                "expected space-separated entries like v1,<base64>".into()
            ))
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
}
