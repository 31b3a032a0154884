//! `idempotency-key` support: the first response to a POST with a given key
//! is stored and replayed for later requests with the same key (the Svix SDKs
//! send one with every POST and reuse it when they retry).
//!
//! Keys are scoped by organisation and bound to the method and path they were
//! first used with. 5xx responses are not stored, so a retry after a server
//! failure runs again. A request still running holds the key; a duplicate
//! arriving meanwhile gets 409. A key whose request never finished (a crash)
//! is released after [`IN_PROGRESS_LEASE_MS`].

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hookd_core::store::IdempotencyStart;
use hookd_core::time::Timestamp;
use hookd_core::validate::Loc;

use super::error::ApiError;
use super::state::{AppState, Principal};

pub const IN_PROGRESS_LEASE_MS: i64 = 60_000;
const MAX_KEY_LEN: usize = 256;
const MAX_STORED_BODY: usize = 1024 * 1024;

pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(raw) = req.headers().get("idempotency-key") else {
        return next.run(req).await;
    };
    let key = match raw.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY_LEN => k.to_string(),
        _ => {
            return ApiError::field(
                Loc::header().field("idempotency-key"),
                "value_error",
                format!("idempotency-key must be 1-{MAX_KEY_LEN} visible ASCII characters"),
            )
            .into_response();
        }
    };
    let Some(principal) = req.extensions().get::<Principal>().cloned() else {
        return next.run(req).await;
    };
    let fingerprint = format!(
        "{} {}",
        req.method(),
        req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("")
    );
    let now = Timestamp::now();
    let start = state
        .store
        .idempotency_start(
            &principal.org_id,
            &key,
            &fingerprint,
            now,
            IN_PROGRESS_LEASE_MS,
        )
        .await;
    match start {
        Err(e) => ApiError::from(e).into_response(),
        Ok(IdempotencyStart::InProgress) => ApiError::Conflict(
            "a request with this idempotency-key is still being processed".into(),
        )
        .into_response(),
        Ok(IdempotencyStart::Done {
            fingerprint: first,
            status,
            body,
        }) => {
            if first != fingerprint {
                return ApiError::Conflict(format!(
                    "this idempotency-key was already used for a different request ({first})"
                ))
                .into_response();
            }
            replay(status, body)
        }
        Ok(IdempotencyStart::Started) => {
            let resp = next.run(req).await;
            let status = resp.status();
            // A 408 says the request never arrived in full: the retry that
            // follows must run, not replay the timeout.
            if status.is_server_error() || status == axum::http::StatusCode::REQUEST_TIMEOUT {
                let _ = state.store.idempotency_abort(&principal.org_id, &key).await;
                return resp;
            }
            let (parts, body) = resp.into_parts();
            let bytes = match axum::body::to_bytes(body, MAX_STORED_BODY).await {
                Ok(b) => b,
                Err(_) => {
                    let _ = state.store.idempotency_abort(&principal.org_id, &key).await;
                    return ApiError::Internal("response too large to store".into())
                        .into_response();
                }
            };
            let ttl_ms = state.config.idempotency_ttl_secs.saturating_mul(1000) as i64;
            let stored = state
                .store
                .idempotency_complete(
                    &principal.org_id,
                    &key,
                    status.as_u16(),
                    bytes.to_vec(),
                    now.0 + ttl_ms,
                )
                .await;
            if let Err(e) = stored {
                tracing::warn!(error = %e.chain(), "could not store idempotent response");
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}

fn replay(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let empty = body.is_empty();
    let mut resp = (status, body).into_response();
    if !empty {
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}
