//! Per-application admission to the accept path: at most
//! `accept_concurrency_per_app` messages of one application are being
//! accepted (body read, validated, committed) at a time; the rest of its
//! requests wait their turn, in arrival order, before their body is read.
//!
//! Why: every message shares one group commit. Without a bound, an
//! application sending with 64 connections fills each commit batch and
//! lengthens every commit cycle, and a quiet application's single message
//! waits behind all of it. With the bound, the burst's excess waits idle
//! (costing no CPU and no writer time), so another application's message
//! finds short batches and is accepted within about one commit cycle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use super::state::{AppState, Principal};

/// Turnstiles of the applications seen lately.
pub struct Admission {
    per_app: usize,
    gates: Mutex<HashMap<(String, String), Arc<Semaphore>>>,
}

/// Idle turnstiles are forgotten once this many are kept.
const KEPT: usize = 10_000;

impl Admission {
    /// `per_app` 0: no bound.
    pub fn new(per_app: usize) -> Admission {
        Admission {
            per_app,
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for the application's turn; the permit is its turn.
    async fn enter(&self, org_id: &str, app: &str) -> Option<OwnedSemaphorePermit> {
        if self.per_app == 0 {
            return None;
        }
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
            if gates.len() >= KEPT {
                // A gate nobody holds or waits on is full: dropping it loses nothing.
                let full = self.per_app;
                gates.retain(|_, g| Arc::strong_count(g) > 1 || g.available_permits() < full);
            }
            gates
                .entry((org_id.to_string(), app.to_string()))
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_app)))
                .clone()
        };
        gate.acquire_owned().await.ok()
    }
}

/// The caller's turn to have a message of the application in the path
/// accepted; taken before the body is read, held until the handler returns.
pub struct AcceptTurn(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl FromRequestParts<AppState> for AcceptTurn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // `/api/v1/app/{app_id}/msg`: the application as the caller names it
        // (id or uid; both name the same application to a fair caller).
        let app = parts
            .uri
            .path()
            .trim_start_matches("/api/v1/app/")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let org = parts
            .extensions
            .get::<Principal>()
            .map(|p| p.org_id.clone())
            .unwrap_or_default();
        Ok(AcceptTurn(state.admission.enter(&org, &app).await))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_application_waits_for_its_own_turn_only() {
        let a = Admission::new(2);
        let t1 = a.enter("org", "noisy").await;
        let t2 = a.enter("org", "noisy").await;
        assert!(t1.is_some() && t2.is_some());
        // A third of the same application waits ...
        let third = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            a.enter("org", "noisy"),
        )
        .await;
        assert!(third.is_err(), "the noisy application had to wait");
        // ... another application does not.
        let quiet = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            a.enter("org", "quiet"),
        )
        .await;
        assert!(quiet.is_ok_and(|p| p.is_some()));
        drop(t1);
        let next = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            a.enter("org", "noisy"),
        )
        .await;
        assert!(next.is_ok(), "a finished turn lets the next one in");
        assert!(Admission::new(0).enter("org", "x").await.is_none());
    }
}
