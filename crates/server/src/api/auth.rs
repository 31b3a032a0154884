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
    match state.store.find_api_key(hash).await? {
        Some(k) => Ok(Principal {
            org_id: k.org_id,
            scope: k.scope,
        }),
        None => Err(ApiError::Unauthorized("invalid API key".into())),
    }
}
