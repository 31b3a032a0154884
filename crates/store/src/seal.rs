//! Sealing credentials at rest: with an encryption key configured, endpoint
//! signing secrets (current and rotated-out) and custom headers (which carry
//! auth tokens) are encrypted with ChaCha20-Poly1305 before any store writes
//! them, and opened when read. The key never reaches the database.
//!
//! A sealed value is `sealed:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`.
//! The key id (a hash of the key, not the key) says which key sealed it, so
//! a wrong key is a clear error instead of garbage signatures, and a
//! rotation knows what to re-seal. The associated data binds each value to
//! its row and column, so a sealed value moved to another endpoint does not open.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hookd_core::store::{StoreError, StoreResult};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";

/// One encryption key.
pub struct Key {
    id: String,
    key: LessSafeKey,
}

impl Key {
    /// Parses 32 bytes written as 64 hex characters.
    pub fn parse_hex(hex: &str) -> Result<Key, String> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("must be 32 bytes written as 64 hex characters".into());
        }
        let mut raw = [0u8; 32];
        for (i, byte) in raw.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| "must be 64 hex characters".to_string())?;
        }
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &raw)
            .map_err(|_| "is not a valid ChaCha20-Poly1305 key".to_string())?;
        let digest = Sha256::digest([b"hookd key id ".as_slice(), &raw].concat());
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Key {
            id,
            key: LessSafeKey::new(unbound),
        })
    }

    /// A short public name of the key (the first bytes of a hash of it).
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The key new values are sealed with, and the one being rotated out.
pub struct Keys {
    pub current: Key,
    pub previous: Option<Key>,
}

/// What a store seals with; with no keys, values are stored as they are.
#[derive(Default)]
pub struct Sealer {
    keys: Option<Keys>,
}

fn sealed_key_id(stored: &str) -> Option<&str> {
    stored.strip_prefix(PREFIX)?.split(':').next()
}

impl Sealer {
    pub fn new(keys: Option<Keys>) -> Sealer {
        Sealer { keys }
    }

    fn key(&self, id: &str) -> Option<&Key> {
        let keys = self.keys.as_ref()?;
        std::iter::once(&keys.current)
            .chain(keys.previous.as_ref())
            .find(|k| k.id == id)
    }

    /// Seals `plain` for the place `aad` names (`endpoints.secret:ep_…`).
    pub fn seal(&self, plain: &str, aad: &str) -> StoreResult<String> {
        let Some(keys) = &self.keys else {
            return Ok(plain.to_string());
        };
        let mut nonce = [0u8; NONCE_LEN];
        hookd_core::random::fill(&mut nonce);
        let mut buf = plain.as_bytes().to_vec();
        keys.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .map_err(|_| StoreError::backend("sealing a secret failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!(
            "{PREFIX}{}:{}",
            keys.current.id,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// Opens a stored value; values stored before sealing was configured
    /// read as they are.
    pub fn open(&self, stored: String, aad: &str) -> StoreResult<String> {
        let Some(id) = sealed_key_id(&stored) else {
            return Ok(stored);
        };
        let key = self.key(id).ok_or_else(|| {
            StoreError::backend(format!(
                "a secret is sealed with encryption key {id}, which is not configured \
                 (set encryption_key, or encryption_previous_key while rotating)"
            ))
        })?;
        let body = &stored[PREFIX.len() + id.len() + 1..];
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| StoreError::backend("a sealed secret is corrupt"))?;
        if raw.len() < NONCE_LEN {
            return Err(StoreError::backend("a sealed secret is corrupt"));
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let mut buf = sealed.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| StoreError::backend("a sealed secret is corrupt"))?;
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| {
                StoreError::backend(format!(
                    "a secret sealed with key {id} does not open: the database or the key was changed"
                ))
            })?;
        String::from_utf8(plain.to_vec())
            .map_err(|_| StoreError::backend("a sealed secret is not text"))
    }

    /// Whether a stored value should be sealed again: it is plaintext while
    /// a key is configured, or sealed with the key being rotated out.
    pub fn stale(&self, stored: &str) -> bool {
        match (&self.keys, sealed_key_id(stored)) {
            (Some(_), None) => true,
            (Some(keys), Some(id)) => id != keys.current.id,
            (None, _) => false,
        }
    }
}

/// The associated data of an endpoint's sealed column.
pub(crate) fn aad(id: &str, column: &str) -> String {
    format!("endpoints.{column}:{id}")
}

/// The credential columns of `endpoints`, in the order [`Sealer::reseal`] takes them.
pub(crate) const CREDENTIAL_COLS: [&str; 3] = ["secret", "old_secrets", "headers"];

impl Sealer {
    /// An endpoint's stored credential columns, sealed as they should be
    /// now (with the current key), or `None` when they already are. Every
    /// column is opened on the way, so a database sealed with a key that is
    /// not configured fails here, at start, rather than at the first delivery.
    pub fn reseal(&self, id: &str, cols: [String; 3]) -> StoreResult<Option<[String; 3]>> {
        let mut changed = false;
        let mut out: [String; 3] = Default::default();
        for (i, stored) in cols.into_iter().enumerate() {
            let aad = aad(id, CREDENTIAL_COLS[i]);
            let stale = self.stale(&stored);
            let plain = self.open(stored.clone(), &aad)?;
            out[i] = if stale {
                changed = true;
                self.seal(&plain, &aad)?
            } else {
                stored
            };
        }
        Ok(changed.then_some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const B: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    fn sealer(current: &str, previous: Option<&str>) -> Sealer {
        Sealer::new(Some(Keys {
            current: Key::parse_hex(current).unwrap_or_else(|e| panic!("{e}")),
            previous: previous.map(|p| Key::parse_hex(p).unwrap_or_else(|e| panic!("{e}"))),
        }))
    }

    #[test]
    fn keys_are_64_hex_characters() {
        assert!(Key::parse_hex(A).is_ok());
        assert!(Key::parse_hex(&A[2..]).is_err());
        assert!(Key::parse_hex(&A.replace('0', "g")).is_err());
    }

    #[test]
    fn sealed_values_open_only_in_their_place_with_their_key() -> StoreResult<()> {
        let s = sealer(A, None);
        let sealed = s.seal("whsec_secret", "endpoints.secret:ep_1")?;
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("whsec_secret"));
        assert_eq!(
            s.open(sealed.clone(), "endpoints.secret:ep_1")?,
            "whsec_secret"
        );
        assert_ne!(
            s.seal("whsec_secret", "endpoints.secret:ep_1")?,
            sealed,
            "random nonce"
        );
        assert!(
            s.open(sealed.clone(), "endpoints.secret:ep_2").is_err(),
            "moved to another row"
        );
        let wrong = sealer(B, None).open(sealed.clone(), "endpoints.secret:ep_1");
        assert!(wrong.is_err_and(|e| e.to_string().contains("not configured")));
        assert!(
            Sealer::default()
                .open(sealed, "endpoints.secret:ep_1")
                .is_err()
        );
        Ok(())
    }

    #[test]
    fn reseal_seals_plaintext_and_rotates_keys() -> StoreResult<()> {
        let cols = || ["whsec_x".to_string(), "[]".into(), "{}".into()];
        assert_eq!(Sealer::default().reseal("ep_1", cols())?, None);
        let old = sealer(A, None).reseal("ep_1", cols())?.unwrap_or_default();
        assert!(old.iter().all(|c| c.starts_with(PREFIX)));
        assert_eq!(
            sealer(A, None).reseal("ep_1", old.clone())?,
            None,
            "already current"
        );
        let rotated = sealer(B, Some(A)).reseal("ep_1", old)?.unwrap_or_default();
        let s = sealer(B, None);
        assert_eq!(
            s.open(rotated[0].clone(), "endpoints.secret:ep_1")?,
            "whsec_x"
        );
        assert_eq!(s.reseal("ep_1", rotated)?, None);
        Ok(())
    }
}
