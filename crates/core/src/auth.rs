//! API keys: generation and hashing. Keys are stored only as SHA-256 hashes;
//! they are 32 random bytes, so a fast hash is enough (no password stretching needed).

use sha2::{Digest, Sha256};

/// Prefix of every key hookd issues, so leaked keys are recognisable by scanners.
pub const KEY_PREFIX: &str = "hk_";

/// A new API key: `hk_` + 43 URL-safe base64 characters.
pub fn generate_key() -> String {
    use base64::Engine as _;
    let bytes = crate::random::bytes(32);
    format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The hash under which a key is stored and looked up.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_stably() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_ne!(hash_key(&a), hash_key(&b));
    }
}
