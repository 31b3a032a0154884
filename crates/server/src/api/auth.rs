//! Bearer-token authentication: resolves `Authorization: Bearer <key>` to a
//! [`Principal`] and stores it in the request's extensions.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hookd_core::auth::hash_key;
use hookd_core::model::Scope;

use super::error::ApiError;
use super::state::{AppState, Principal};

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let header = req.headers().get(AUTHORIZATION).cloned();
    match principal(&state, header).await {
        Ok(p) => {
            if let Err(e) = permitted(&p, req.method().as_str(), req.uri().path()) {
                return e.into_response();
            }
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// A restricted (portal) token may make only the requests its capabilities allow.
fn permitted(p: &Principal, method: &str, path: &str) -> Result<(), ApiError> {
    if p.capabilities.is_none() {
        return Ok(());
    }
    match hookd_core::auth::required_capability(method, path) {
        Some(cap) if p.can(cap) => Ok(()),
        Some(cap) => Err(ApiError::Forbidden(format!(
            "this token lacks the {cap:?} capability"
        ))),
        None => Err(ApiError::Forbidden(
            "portal tokens cannot make this request".into(),
        )),
    }
}

pub(crate) async fn principal(
    state: &AppState,
    header: Option<axum::http::HeaderValue>,
) -> Result<Principal, ApiError> {
    let header = header.ok_or_else(|| {
        ApiError::Unauthorized("missing Authorization header (expected 'Bearer <key>')".into())
    })?;
    let header = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("invalid Authorization header".into()))?;
    let key = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("invalid Authorization header (expected 'Bearer <key>')".into())
        })?;
    let hash = hash_key(key);
    // Comparing hashes keeps the admin-token check constant-time with
    // respect to the secret's content.
    if state.admin_token_hash == Some(hash) {
        return Ok(Principal {
            org_id: state.default_org_id.clone(),
            scope: Scope::Org,
            key_id: None,
            capabilities: None,
            session_id: None,
        });
    }
    if let Some(p) = state.keys.get(&hash) {
        return Ok(p);
    }
    match state
        .store
        .find_api_key(hash, hookd_core::time::Timestamp::now())
        .await?
    {
        Some(k) => {
            let expires_at = k.expires_at;
            let p = Principal::of_key(k);
            state.keys.put(hash, &p, expires_at);
            Ok(p)
        }
        None => Err(ApiError::Unauthorized("invalid API key".into())),
    }
}

/// How long a verified key is trusted without asking the store again. A
/// revocation (`hookd token revoke`, which works on the database directly)
/// takes effect within this time.
pub const KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
const KEY_CACHE_MAX: usize = 10_000;

/// Keys verified recently, by hash: saves a store read on every request.
#[derive(Default)]
pub struct KeyCache {
    map: std::sync::Mutex<std::collections::HashMap<[u8; 32], Cached>>,
}

struct Cached {
    principal: Principal,
    at: std::time::Instant,
    /// A token's own expiry, which the cache must not outlive.
    expires_at: Option<hookd_core::time::Timestamp>,
}

impl KeyCache {
    fn get(&self, hash: &[u8; 32]) -> Option<Principal> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = hookd_core::time::Timestamp::now();
        map.get(hash)
            .filter(|c| c.at.elapsed() < KEY_CACHE_TTL && c.expires_at.is_none_or(|e| e > now))
            .map(|c| c.principal.clone())
    }

    fn put(&self, hash: [u8; 32], p: &Principal, expires_at: Option<hookd_core::time::Timestamp>) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= KEY_CACHE_MAX {
            map.clear();
        }
        let cached = Cached {
            principal: p.clone(),
            at: std::time::Instant::now(),
            expires_at,
        };
        map.insert(hash, cached);
    }

    /// Forgets every cached key (after tokens were expired or revoked here).
    pub fn clear(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
