//! Shared state of the HTTP API and the authenticated principal.

use std::sync::Arc;

use hookd_core::model::{Application, Scope};
use hookd_core::store::Store;

use super::error::{ApiError, ApiResult};
use crate::config::Config;
use crate::delivery::Engine;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    /// Organisation of `HOOKD_ADMIN_TOKEN`.
    pub default_org_id: String,
    pub admin_token_hash: Option<[u8; 32]>,
    pub engine: Engine,
}

/// Who is calling: the organisation and what the key may reach.
#[derive(Debug, Clone)]
pub struct Principal {
    pub org_id: String,
    pub scope: Scope,
}

impl Principal {
    /// Organisation-wide operations (creating applications, managing event types).
    pub fn require_org_scope(&self) -> ApiResult<()> {
        match self.scope {
            Scope::Org => Ok(()),
            Scope::App(_) => Err(ApiError::Forbidden(
                "this key is limited to one application".into(),
            )),
        }
    }
}

impl AppState {
    /// The application named by a path parameter (id or uid), as the caller may see it.
    /// Other organisations' applications, and for app-scoped keys other
    /// applications, are indistinguishable from missing ones.
    pub async fn app(&self, p: &Principal, id_or_uid: &str) -> ApiResult<Application> {
        let app = self
            .store
            .get_app(&p.org_id, id_or_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("application"))?;
        match &p.scope {
            Scope::App(only) if *only != app.id => Err(ApiError::not_found("application")),
            _ => Ok(app),
        }
    }
}
