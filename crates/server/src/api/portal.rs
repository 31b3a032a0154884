//! Customer portal access (Svix `Authentication`): issuing an application's
//! portal token and link, and expiring them. A portal token is a hashed,
//! expiring key scoped to one application, restricted to its capabilities;
//! it opens the portal (`/portal/`) and works as a Bearer key on the API.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use hookd_core::auth::{generate_key, hash_key};
use hookd_core::model::{Application, Capability, KeyKind, NewToken, Scope};
use hookd_core::time::Timestamp;
use hookd_core::validate::{Checker, Loc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, HttpErrorOut, HttpValidationError};
use super::extract::{OptionalJsonBody, Path};
use super::state::{AppState, Principal};
use super::types::ApplicationIn;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(app_portal_access))
        .routes(routes!(expire_all))
        .routes(routes!(whoami))
        .routes(routes!(logout))
}

/// Longest and shortest lives of a portal token, in seconds (Svix's bounds).
const EXPIRY: std::ops::RangeInclusive<i64> = 3_600..=604_800;

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct AppPortalAccessIn {
    /// Created when the application in the path (a uid) does not exist yet.
    pub application: Option<ApplicationIn>,
    /// Deprecated: the same as `capabilities: ["ViewBase"]`.
    pub read_only: Option<bool>,
    /// What the token may do (default: everything); must include `ViewBase`.
    pub capabilities: Option<Vec<Capability>>,
    /// Accepted for compatibility; hookd has no feature flags.
    pub feature_flags: Option<Vec<String>>,
    /// Seconds the token is valid for, 3600 to 604800 (default 604800).
    pub expiry: Option<i64>,
    /// Tokens of one session can be expired together (`expire-all`).
    pub session_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AppPortalAccessOut {
    /// The portal, with the token in the fragment (not sent to servers or logged by proxies).
    pub url: String,
    pub token: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationTokenExpireIn {
    /// Seconds until the tokens expire, 0 to 259200 (default 0: now).
    pub expiry: Option<i64>,
    /// Only the tokens issued for these sessions.
    pub session_ids: Option<Vec<String>>,
}

fn session_id(c: &mut Checker, loc: &Loc, id: &str) {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@_-".contains(&b));
    if !ok {
        c.error(
            loc,
            "value_error.str.regex",
            "a session id is 1-64 letters, digits, '@', '_' or '-'",
        );
    }
}

/// Issues a portal token for `app`; returns the token.
pub async fn issue_portal_token(
    state: &AppState,
    app: &Application,
    capabilities: Option<Vec<Capability>>,
    expiry_secs: i64,
    session_id: Option<String>,
) -> ApiResult<String> {
    let token = generate_key();
    state
        .store
        .issue_token(NewToken {
            org_id: app.org_id.clone(),
            scope: Scope::App(app.id.clone()),
            kind: KeyKind::Portal,
            name: Some("portal".into()),
            hash: hash_key(&token),
            expires_at: Timestamp(Timestamp::now().0 + expiry_secs * 1000),
            capabilities,
            session_id,
        })
        .await?;
    Ok(token)
}

/// The base URL users reach hookd at: `public_url`, else the request's host.
pub fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    if !state.config.public_url.is_empty() {
        return state.config.public_url.trim_end_matches('/').to_string();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or("127.0.0.1");
    let proto = header("x-forwarded-proto").unwrap_or("http");
    format!("{proto}://{host}")
}

/// Get a link to the application's customer portal, and its token.
#[utoipa::path(post, path = "/api/v1/auth/app-portal-access/{app_id}", tag = "Authentication",
    params(("app_id" = String, Path, description = "id or uid (with `application` in the body, created if missing)")),
    request_body = AppPortalAccessIn,
    responses((status = 200, body = AppPortalAccessOut), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn app_portal_access(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<AppPortalAccessIn>,
) -> ApiResult<Json<AppPortalAccessOut>> {
    p.require_org_scope()?;
    let mut c = Checker::new();
    let b = Loc::body();
    let expiry = body.expiry.unwrap_or(*EXPIRY.end());
    if !EXPIRY.contains(&expiry) {
        c.error(
            &b.field("expiry"),
            "value_error.number",
            "expiry must be between 3600 and 604800 seconds",
        );
    }
    if let Some(s) = &body.session_id {
        session_id(&mut c, &b.field("sessionId"), s);
    }
    let capabilities = match (body.capabilities, body.read_only) {
        (Some(caps), _) => {
            if !caps.contains(&Capability::ViewBase) {
                c.error(
                    &b.field("capabilities"),
                    "value_error",
                    "capabilities must include ViewBase",
                );
            }
            // Every capability is the same as no restriction.
            (!Capability::ALL.iter().all(|a| caps.contains(a))).then_some(caps)
        }
        (None, Some(true)) => Some(vec![Capability::ViewBase]),
        (None, _) => None,
    };
    c.finish(())?;
    let app = match state.app(&p, &app_id).await {
        Ok(app) => app,
        Err(ApiError::NotFound(m)) => match body.application {
            Some(mut a) if !hookd_core::ids::is_id(hookd_core::ids::Kind::App, &app_id) => {
                a.uid = Some(app_id);
                super::application::create_or_get(&state, &p, a, true)
                    .await?
                    .1
            }
            _ => return Err(ApiError::NotFound(m)),
        },
        Err(e) => return Err(e),
    };
    let token = issue_portal_token(&state, &app, capabilities, expiry, body.session_id).await?;
    Ok(Json(AppPortalAccessOut {
        url: format!("{}/portal/#key={token}", public_base(&state, &headers)),
        token,
    }))
}

/// Expire the application's portal tokens (all, or those of some sessions).
#[utoipa::path(post, path = "/api/v1/auth/app/{app_id}/expire-all", tag = "Authentication",
    params(("app_id" = String, Path, description = "id or uid")),
    request_body = ApplicationTokenExpireIn,
    responses((status = 204), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut),
        (status = 404, body = HttpErrorOut), (status = 422, body = HttpValidationError)))]
pub async fn expire_all(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(app_id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<ApplicationTokenExpireIn>,
) -> ApiResult<StatusCode> {
    p.require_org_scope()?;
    let mut c = Checker::new();
    let b = Loc::body();
    let expiry = body.expiry.unwrap_or(0);
    if !(0..=259_200).contains(&expiry) {
        c.error(
            &b.field("expiry"),
            "value_error.number",
            "expiry must be between 0 and 259200 seconds",
        );
    }
    if let Some(ids) = &body.session_ids {
        if ids.len() > 1000 {
            c.error(
                &b.field("sessionIds"),
                "value_error.list.max_items",
                "at most 1000 session ids",
            );
        }
        for (i, id) in ids.iter().enumerate() {
            session_id(&mut c, &b.field("sessionIds").index(i), id);
        }
    }
    c.finish(())?;
    let app = state.app(&p, &app_id).await?;
    let at = Timestamp(Timestamp::now().0 + expiry * 1000);
    state
        .store
        .expire_portal_tokens(&app.id, at, body.session_ids.as_deref())
        .await?;
    // Cached verifications must not outlive the tokens.
    state.keys.clear();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoamiOut {
    /// The organisation of the token.
    pub env_id: Option<String>,
    /// The application the token is limited to, if any.
    pub app_id: Option<String>,
    /// Always null: hookd has no streams.
    pub stream_app_id: Option<String>,
    /// `RegionalAuthToken` for an organisation's API keys, `Unknown` for
    /// application-scoped keys and portal tokens.
    pub permission_source: String,
    /// The portal session the token was issued for.
    pub session_id: Option<String>,
}

/// Who the token in the request is: its organisation and, if limited to one, its application.
#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "Authentication",
    responses((status = 200, body = WhoamiOut), (status = 401, body = HttpErrorOut)))]
pub async fn whoami(Extension(p): Extension<Principal>) -> Json<WhoamiOut> {
    let app_id = match &p.scope {
        Scope::App(id) => Some(id.clone()),
        Scope::Org => None,
    };
    Json(WhoamiOut {
        env_id: Some(p.org_id),
        permission_source: if app_id.is_some() {
            "Unknown"
        } else {
            "RegionalAuthToken"
        }
        .into(),
        app_id,
        stream_app_id: None,
        session_id: p.session_id,
    })
}

/// Log out an application token (a portal token or an application-scoped
/// key): it stops working at once. Organisation keys cannot log out (403):
/// revoke them with `hookd token revoke`.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "Authentication",
    responses((status = 204), (status = 401, body = HttpErrorOut), (status = 403, body = HttpErrorOut)))]
pub async fn logout(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<StatusCode> {
    let (Scope::App(_), Some(key_id)) = (&p.scope, &p.key_id) else {
        return Err(ApiError::Forbidden(
            "only application tokens can log out; revoke organisation keys with `hookd token revoke`".into(),
        ));
    };
    state.store.revoke_api_key(key_id).await?;
    state.keys.clear();
    Ok(StatusCode::NO_CONTENT)
}
