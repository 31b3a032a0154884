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

/// What a restricted (portal) token needs to make this request: a
/// capability, or `None` when such tokens may not make it at all (sending
/// messages, changing the application, organisation-wide calls are for the
/// application's owner, not its customers).
pub fn required_capability(method: &str, path: &str) -> Option<crate::model::Capability> {
    use crate::model::Capability::*;
    let path = path.trim_end_matches('/');
    let read = matches!(method, "GET" | "HEAD");
    let under_endpoint = path.contains("/endpoint/") || path.ends_with("/endpoint");
    if path.contains("/transformation") {
        return Some(if read {
            ViewBase
        } else {
            ManageTransformations
        });
    }
    // Any token may end its own session.
    if path == "/api/v1/auth/logout" {
        return Some(ViewBase);
    }
    if path.ends_with("/secret") && read {
        return Some(ViewEndpointSecret);
    }
    if read {
        return Some(ViewBase);
    }
    if path.ends_with("/secret/rotate") {
        return Some(ManageEndpointSecret);
    }
    let attempts = [
        "/resend",
        "/recover",
        "/replay-missing",
        "/bulk-replay",
        "/send-example",
        "/msg/test-attempt",
    ];
    if attempts.iter().any(|a| path.ends_with(a)) {
        return Some(CreateAttempts);
    }
    if under_endpoint {
        return Some(ManageEndpoint);
    }
    None
}

#[cfg(test)]
mod capability_tests {
    use super::required_capability as req;
    use crate::model::Capability::*;

    #[test]
    fn portal_requests_map_to_capabilities() {
        let ep = "/api/v1/app/app_1/endpoint/ep_1";
        assert_eq!(req("GET", ep), Some(ViewBase));
        assert_eq!(
            req("GET", &format!("{ep}/secret")),
            Some(ViewEndpointSecret)
        );
        assert_eq!(
            req("POST", &format!("{ep}/secret/rotate")),
            Some(ManageEndpointSecret)
        );
        assert_eq!(req("PATCH", ep), Some(ManageEndpoint));
        assert_eq!(
            req("POST", "/api/v1/app/app_1/endpoint"),
            Some(ManageEndpoint)
        );
        assert_eq!(req("DELETE", ep), Some(ManageEndpoint));
        assert_eq!(req("POST", &format!("{ep}/recover")), Some(CreateAttempts));
        assert_eq!(
            req("POST", "/api/v1/app/app_1/msg/msg_1/endpoint/ep_1/resend"),
            Some(CreateAttempts)
        );
        assert_eq!(
            req("PATCH", &format!("{ep}/transformation")),
            Some(ManageTransformations)
        );
        assert_eq!(
            req("POST", "/api/v1/app/app_1/msg"),
            None,
            "sending is the owner's"
        );
        assert_eq!(req("DELETE", "/api/v1/app/app_1"), None);
        assert_eq!(req("GET", "/api/v1/app/app_1/msg"), Some(ViewBase));
    }
}
