//! Shared state of the HTTP API and the authenticated principal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookd_core::model::{Application, Scope};
use hookd_core::store::Store;

use super::error::{ApiError, ApiResult};
use crate::config::Config;
use crate::delivery::Engine;

/// How long a cached application is trusted without asking the store.
/// Changes made through this process invalidate it at once; the TTL only
/// bounds how stale a change made elsewhere (another node) can look.
const APP_CACHE_TTL: Duration = Duration::from_secs(5);
const APP_CACHE_MAX: usize = 10_000;

/// Applications by (organisation, id or uid): every message send resolves one.
#[derive(Default)]
pub struct AppCache {
    map: Mutex<HashMap<(String, String), (Application, Instant)>>,
}

impl AppCache {
    fn get(&self, org_id: &str, key: &str) -> Option<Application> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(org_id.to_string(), key.to_string()))
            .filter(|(_, at)| at.elapsed() < APP_CACHE_TTL)
            .map(|(a, _)| a.clone())
    }

    fn put(&self, org_id: &str, key: &str, app: &Application) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= APP_CACHE_MAX {
            map.clear();
        }
        map.insert(
            (org_id.to_string(), key.to_string()),
            (app.clone(), Instant::now()),
        );
    }

    /// Forgets every entry of this application (by id and by uid).
    pub fn invalidate(&self, app_id: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (a, _)| a.id != app_id);
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    /// Organisation of `HOOKD_ADMIN_TOKEN`.
    pub default_org_id: String,
    pub admin_token_hash: Option<[u8; 32]>,
    pub engine: Engine,
    pub apps: Arc<AppCache>,
    pub keys: Arc<super::auth::KeyCache>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub admission: Arc<super::admission::Admission>,
}

/// Who is calling: the organisation and what the key may reach.
#[derive(Debug, Clone)]
pub struct Principal {
    pub org_id: String,
    pub scope: Scope,
    /// The key's id; `None` for the configured admin token.
    pub key_id: Option<String>,
    /// What a portal token may do; `None`: whatever its scope allows.
    pub capabilities: Option<Vec<hookd_core::model::Capability>>,
    /// The portal session a token was issued for.
    pub session_id: Option<String>,
}

impl Principal {
    /// The principal of a stored key.
    pub fn of_key(k: hookd_core::model::ApiKey) -> Principal {
        Principal {
            org_id: k.org_id,
            scope: k.scope,
            key_id: Some(k.id),
            capabilities: k.capabilities,
            session_id: k.session_id,
        }
    }

    /// Whether this principal may do what `cap` allows.
    pub fn can(&self, cap: hookd_core::model::Capability) -> bool {
        self.capabilities
            .as_ref()
            .is_none_or(|held| cap.granted_by(held))
    }
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
    /// When a message accepted now for `app` expires: its own retention
    /// (ms) if it asked for one, else the application's, else the server's.
    pub fn expiry(&self, app: &Application, own_ms: Option<i64>) -> hookd_core::time::Timestamp {
        let ms = own_ms
            .or(app.retention_days.map(|d| i64::from(d) * 86_400_000))
            .unwrap_or(self.config.retention().as_millis() as i64);
        hookd_core::time::Timestamp(hookd_core::time::Timestamp::now().0.saturating_add(ms))
    }

    /// The endpoint of `app` named by a path parameter (id or uid), or a 404.
    pub async fn endpoint(
        &self,
        app: &Application,
        id_or_uid: &str,
    ) -> ApiResult<hookd_core::model::Endpoint> {
        self.store
            .get_endpoint(&app.id, id_or_uid)
            .await?
            .ok_or_else(|| ApiError::not_found("endpoint"))
    }

    /// The message of `app` named by a path parameter (id or eventId), or a 404.
    pub async fn message(
        &self,
        app: &Application,
        id_or_event_id: &str,
    ) -> ApiResult<hookd_core::model::Message> {
        self.store
            .get_message(&app.id, id_or_event_id)
            .await?
            .ok_or_else(|| ApiError::not_found("message"))
    }

    /// The application named by a path parameter (id or uid), as the caller may see it.
    /// Other organisations' applications, and for app-scoped keys other
    /// applications, are indistinguishable from missing ones.
    pub async fn app(&self, p: &Principal, id_or_uid: &str) -> ApiResult<Application> {
        let app = match self.apps.get(&p.org_id, id_or_uid) {
            Some(app) => app,
            None => {
                let app = self
                    .store
                    .get_app(&p.org_id, id_or_uid)
                    .await?
                    .ok_or_else(|| ApiError::not_found("application"))?;
                self.apps.put(&p.org_id, id_or_uid, &app);
                app
            }
        };
        match &p.scope {
            Scope::App(only) if *only != app.id => Err(ApiError::not_found("application")),
            _ => Ok(app),
        }
    }
}
