//! The operator dashboard (`/ui/`) and the customer portal (`/portal/`):
//! server-rendered HTML over the same handlers the API serves, so every rule
//! (validation, scoping, capabilities, delivery) is the API's.
//!
//! | module | owns |
//! | --- | --- |
//! | `session` | sign-in, session cookies, CSRF, who the viewer is ([`View`]) |
//! | `layout` | the page shell, security headers, shared pieces |
//! | `pages` | one application's endpoint and event-type pages, shared by dashboard and portal |
//! | `messages` | one application's message log and message pages, shared likewise |
//! | `dashboard` | the organisation's pages: applications, overview, sign-in |
//! | `chart` | attempts over time, as inline SVG |
//!
//! The dashboard signs in with an organisation API key and keeps a short-lived
//! session token in an HttpOnly cookie; the portal exchanges the token in its
//! link's fragment for one. Both check a CSRF token on every change. Pages
//! refresh their live parts with a small script (`assets/hookd.js`); nothing
//! is downloaded at run time.

mod chart;
mod dashboard;
mod layout;
mod messages;
mod pages;
mod session;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::state::AppState;

pub use session::View;

const CSS: &str = include_str!("assets/hookd.css");
const JS: &str = include_str!("assets/hookd.js");

/// The routes of one application's pages under `prefix` (the dashboard's
/// `/ui/app/{app}` or the portal's `/portal`).
fn app_pages(prefix: &str) -> Router<AppState> {
    let r = |p: &str| format!("{prefix}{p}");
    Router::new()
        .route(
            &r("/endpoints"),
            get(pages::endpoints).post(pages::create_endpoint),
        )
        .route(&r("/endpoints/new"), get(pages::new_endpoint))
        .route(
            &r("/endpoint/{ep}"),
            get(pages::endpoint).post(pages::update_endpoint),
        )
        .route(&r("/endpoint/{ep}/{action}"), post(pages::endpoint_action))
        .route(&r("/event-types"), get(pages::event_types))
        .route(&r("/messages"), get(messages::messages))
        .route(&r("/message/{msg}"), get(messages::message))
        .route(&r("/message/{msg}/resend/{ep}"), post(messages::resend))
        .route(&r("/live/message/{msg}"), get(messages::live_message))
        .route(&r("/live/endpoint/{ep}"), get(pages::live_endpoint))
}

/// The dashboard, the portal and their assets.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(dashboard::home))
        .route(
            "/ui/login",
            get(dashboard::login_page).post(dashboard::login),
        )
        .route("/ui/logout", post(dashboard::logout))
        .route("/ui/app/{app}", get(dashboard::overview))
        .route("/ui/app/{app}/live", get(dashboard::live_overview))
        .route("/ui/app/{app}/portal", post(dashboard::open_portal))
        .route("/ui/assets/hookd.css", get(css))
        .route("/ui/assets/hookd.js", get(js))
        .route("/ui/assets/theme.css", get(theme))
        .route("/portal", get(dashboard::portal_home))
        .route("/portal/session", post(dashboard::portal_session))
        .merge(app_pages("/ui/app/{app}"))
        .merge(app_pages("/portal"))
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

/// The configured accent colour, as a stylesheet (inline styles are refused
/// by the pages' Content-Security-Policy).
async fn theme(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        layout::theme_css(&state),
    )
        .into_response()
}
