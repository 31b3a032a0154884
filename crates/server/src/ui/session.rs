//! Who is looking: session cookies (dashboard and portal), the [`View`] of
//! one application that every app page gets, CSRF tokens, and form bodies.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use hookd_core::model::{Application, Capability, Scope};

use crate::api::error::ApiError;
use crate::api::state::{AppState, Principal};

/// The dashboard's session cookie (an org-scoped session token).
pub const DASHBOARD_COOKIE: &str = "hookd_dashboard";
/// The portal's session cookie (the portal token itself).
pub const PORTAL_COOKIE: &str = "hookd_portal";
/// How long a dashboard session lasts.
pub const DASHBOARD_SESSION_SECS: i64 = 12 * 3600;

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// Whether cookies should be `Secure`: hookd is reached over https.
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    crate::api::portal::public_base(state, headers).starts_with("https://")
}

/// A `Set-Cookie` value for a session token (`None`: clear the cookie).
/// The portal's cookie must travel inside a customer's iframe (a third-party
/// context), which browsers allow only with `SameSite=None; Secure`, and
/// partitioned per embedding site; over plain http it can only be `Lax`.
pub fn session_cookie(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    path: &str,
    value: Option<&str>,
    max_age: i64,
) -> HeaderValue {
    let secure = secure(state, headers);
    let same_site = if name == PORTAL_COOKIE && secure {
        "SameSite=None; Secure; Partitioned"
    } else if secure {
        "SameSite=Lax; Secure"
    } else {
        "SameSite=Lax"
    };
    let (value, max_age) = match value {
        Some(v) => (v, max_age),
        None => ("", 0),
    };
    let s = format!("{name}={value}; Path={path}; HttpOnly; {same_site}; Max-Age={max_age}");
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The CSRF token of a session: derived from its secret token, so it needs
/// no storage, and unguessable without the cookie (which scripts cannot read).
pub fn csrf_token(session_token: &str) -> String {
    let d = hookd_core::auth::hash_key(&format!("hookd csrf {session_token}"));
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Resolves a session token to its principal, as the API would a Bearer key.
pub async fn principal_of(state: &AppState, token: &str) -> Option<Principal> {
    let header = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    crate::api::auth::principal(state, Some(header)).await.ok()
}

/// One application as the viewer sees it: in the dashboard (the operator,
/// everything) or in the portal (a customer, within the token's capabilities).
pub struct View {
    pub state: AppState,
    pub app: Application,
    pub principal: Principal,
    pub csrf: String,
    /// `/ui/app/{id}` or `/portal`: where this application's pages live.
    pub base: String,
    pub portal: bool,
}

impl View {
    /// Whether the viewer may do what `cap` allows (the API's rule).
    pub fn can(&self, cap: Capability) -> bool {
        self.principal.can(cap)
    }

    /// Whether the viewer may make no changes at all.
    pub fn read_only(&self) -> bool {
        !self.can(Capability::ManageEndpoint) && !self.can(Capability::CreateAttempts)
    }

    /// Refuses unless the viewer may do what `cap` allows.
    pub fn require(&self, cap: Capability) -> Result<(), ApiError> {
        if self.can(cap) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this portal link lacks the {cap:?} capability"
            )))
        }
    }

    /// Refuses a change whose form did not carry this session's CSRF token.
    pub fn check_csrf(&self, form: &Form) -> Result<(), ApiError> {
        match form.get("csrf") {
            Some(t) if t == self.csrf => Ok(()),
            _ => Err(ApiError::Forbidden(
                "the form is stale or came from another site; reload the page".into(),
            )),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Sends a viewer without a session where they can get one.
fn no_session(portal: bool) -> Response {
    if portal {
        super::layout::message_page(
            "Portal link expired",
            "This portal session has expired or was revoked. Ask for a new link.",
        )
    } else {
        Redirect::to("/ui/login").into_response()
    }
}

impl FromRequestParts<AppState> for View {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<View, Response> {
        let portal = parts.uri.path().starts_with("/portal");
        let cookie_name = if portal {
            PORTAL_COOKIE
        } else {
            DASHBOARD_COOKIE
        };
        let token = cookie(&parts.headers, cookie_name).ok_or_else(|| no_session(portal))?;
        let principal = principal_of(state, &token)
            .await
            .ok_or_else(|| no_session(portal))?;
        let app_key = match (&principal.scope, portal) {
            (Scope::App(id), true) => id.clone(),
            (Scope::Org, false) => {
                let Path(params) =
                    Path::<std::collections::HashMap<String, String>>::from_request_parts(
                        parts, state,
                    )
                    .await
                    .map_err(|_| no_session(portal))?;
                params
                    .get("app")
                    .cloned()
                    .ok_or_else(|| no_session(portal))?
            }
            _ => return Err(no_session(portal)),
        };
        let app = state
            .app(&principal, &app_key)
            .await
            .map_err(|e| super::layout::error_page(&e))?;
        let base = if portal {
            "/portal".to_string()
        } else {
            format!("/ui/app/{}", app.id)
        };
        Ok(View {
            state: state.clone(),
            csrf: csrf_token(&token),
            app,
            principal,
            base,
            portal,
        })
    }
}

/// A submitted form: its fields in order (a field may repeat, e.g. checkboxes).
#[derive(Debug, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(serde_urlencoded::from_bytes(body).unwrap_or_default())
    }

    /// The first value of `name`, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}
