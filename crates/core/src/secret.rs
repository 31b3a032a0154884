//! Endpoint signing secrets (`whsec_…`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

const PREFIX: &str = "whsec_";
/// Bytes of key material in a generated secret (Svix and the Standard Webhooks spec use 24).
pub const GENERATED_LEN: usize = 24;
const MIN_LEN: usize = 24;
const MAX_LEN: usize = 64;

/// An HMAC-SHA256 signing key as users see it: `whsec_` + base64 of the key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    key: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A fresh random secret.
    pub fn generate() -> Secret {
        Secret {
            key: crate::random::bytes(GENERATED_LEN),
        }
    }

    /// Parses `whsec_<base64>`, requiring 24 to 64 bytes of key material.
    pub fn parse(s: &str) -> Result<Secret, String> {
        let Some(b64) = s.strip_prefix(PREFIX) else {
            return Err(format!("secret must start with '{PREFIX}'"));
        };
        let key = crate::validate::decode_base64(b64)
            .ok_or_else(|| "secret must be 'whsec_' followed by base64".to_string())?;
        if !(MIN_LEN..=MAX_LEN).contains(&key.len()) {
            return Err(format!(
                "secret must encode between {MIN_LEN} and {MAX_LEN} bytes, got {}",
                key.len()
            ));
        }
        Ok(Secret { key })
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The `whsec_…` form, as stored and returned by the API.
    pub fn encode(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.key))
    }
}

/// The stored form of a user-given key (`whsec_…` or `whsk_…`), normalised to
/// standard padded base64; `None` if it is not a valid key.
pub fn normalize(s: &str) -> Option<String> {
    if s.starts_with("whsk_") {
        return hookd_webhooks::Key::parse(s).ok().map(|k| k.encode());
    }
    Secret::parse(s).ok().map(|k| k.encode())
}

/// What the API shows for a stored key: HMAC secrets as they are, ed25519
/// secret keys as their public key (`whpk_…`), which is all a receiver needs.
pub fn public_form(stored: &str) -> String {
    if stored.starts_with("whsk_")
        && let Ok(k) = hookd_webhooks::Key::parse(stored)
    {
        return k.public();
    }
    stored.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = Secret::generate();
        let enc = s.encode();
        assert!(enc.starts_with("whsec_"));
        assert_eq!(Secret::parse(&enc), Ok(s));
    }

    #[test]
    fn rejects_bad_secrets() {
        assert!(Secret::parse("nope").is_err());
        assert!(Secret::parse("whsec_!!!").is_err());
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err());
        // The published Standard Webhooks test secret is accepted.
        assert!(Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
    }

    #[test]
    fn ed25519_keys_show_their_public_half() {
        let sk = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
        assert_eq!(normalize(sk).as_deref(), Some(sk));
        assert_eq!(
            public_form(sk),
            "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
        );
        let hmac = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert_eq!(public_form(hmac), hmac);
        assert_eq!(normalize("whsk_short"), None);
    }
}
