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
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn principal(
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
        });
    }
    if let Some(p) = state.keys.get(&hash) {
        return Ok(p);
    }
    match state.store.find_api_key(hash).await? {
        Some(k) => {
            let p = Principal {
                org_id: k.org_id,
                scope: k.scope,
            };
            state.keys.put(hash, &p);
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
    map: std::sync::Mutex<std::collections::HashMap<[u8; 32], (Principal, std::time::Instant)>>,
}

impl KeyCache {
    fn get(&self, hash: &[u8; 32]) -> Option<Principal> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(p, _)| p.clone())
    }

    fn put(&self, hash: [u8; 32], p: &Principal) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= KEY_CACHE_MAX {
            map.clear();
        }
        map.insert(hash, (p.clone(), std::time::Instant::now()));
    }
}
