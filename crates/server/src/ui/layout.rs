//! The page shell (navigation, theme, security headers) and the small
//! pieces every page uses: status badges, times, errors, forms.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hookd_core::time::Timestamp;
use maud::{DOCTYPE, Markup, html};

use super::session::View;
use crate::api::error::ApiError;
use crate::api::state::AppState;

/// What a page's navigation shows.
pub enum Nav<'a> {
    /// The sign-in page: no navigation.
    None,
    /// The dashboard's organisation-wide pages.
    Dashboard,
    /// One application's pages (dashboard or portal).
    App(&'a View),
}

/// Content-Security-Policy of a page: only hookd's own script and styles;
/// the portal may be framed by the configured origins, the dashboard by none.
pub fn csp(frame_ancestors: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {frame_ancestors}"
    )
}

/// The portal's `frame-ancestors`: itself and the configured origins.
pub fn portal_ancestors(state: &AppState) -> String {
    let list = state.config.portal_frame_ancestors.trim();
    if list.is_empty() {
        "'self'".into()
    } else {
        format!("'self' {list}")
    }
}

/// Wraps `body` in the page shell and adds the security headers.
pub fn page(state: &AppState, title: &str, nav: Nav<'_>, body: Markup) -> Response {
    let portal = matches!(&nav, Nav::App(v) if v.portal);
    let ancestors = if portal {
        portal_ancestors(state)
    } else {
        "'none'".into()
    };
    let logo = (portal && !state.config.portal_logo_url.is_empty())
        .then(|| state.config.portal_logo_url.clone());
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No icon: without this line browsers ask for /favicon.ico.
                link rel="icon" href="data:,";
                title { (title) " · hookd" }
                link rel="stylesheet" href="/ui/assets/hookd.css";
                link rel="stylesheet" href="/ui/assets/theme.css";
                script src="/ui/assets/hookd.js" defer {}
            }
            body {
                header.top {
                    @if let Some(src) = &logo {
                        img.logo src=(src) alt="";
                    }
                    @match &nav {
                        Nav::None => { span.brand { "hookd" } }
                        Nav::Dashboard => {
                            a.brand href="/ui" { "hookd" }
                            nav { a href="/ui" { "Applications" } }
                            (logout_form(None))
                        }
                        Nav::App(v) => {
                            @if v.portal {
                                span.brand { (v.app.name) }
                            } @else {
                                a.brand href="/ui" { "hookd" }
                            }
                            nav aria-label="Sections" {
                                @if !v.portal {
                                    a href=(v.base) { "Overview" }
                                }
                                a href=(v.url("/endpoints")) { "Endpoints" }
                                a href=(v.url("/messages")) { "Messages" }
                                a href=(v.url("/event-types")) { "Event types" }
                            }
                            @if !v.portal { (logout_form(Some(&v.csrf))) }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    let mut resp = (StatusCode::OK, markup).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp(&ancestors)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn logout_form(csrf: Option<&str>) -> Markup {
    html! {
        form.logout method="post" action="/ui/logout" {
            @if let Some(c) = csrf { input type="hidden" name="csrf" value=(c); }
            button.link type="submit" { "Sign out" }
        }
    }
}

/// A page with just a heading and a sentence (expired links, errors).
pub fn message_page(title: &str, text: &str) -> Response {
    let body = html! {
        section.card {
            h1 { (title) }
            p { (text) }
        }
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No icon: without this line browsers ask for /favicon.ico.
                link rel="icon" href="data:,";
                title { (title) " · hookd" }
                link rel="stylesheet" href="/ui/assets/hookd.css";
            }
            body { main { (body) } }
        }
    };
    let mut resp = (StatusCode::UNAUTHORIZED, markup).into_response();
    if let Ok(v) = HeaderValue::from_str(&csp("'self'")) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// An API error as a page, with the status the API would answer.
pub fn error_page(e: &ApiError) -> Response {
    let (status, text) = describe(e);
    let mut resp = message_page("Something went wrong", &text);
    *resp.status_mut() = status;
    resp
}

/// The status and a sentence for an API error (validation errors list each field).
pub fn describe(e: &ApiError) -> (StatusCode, String) {
    match e {
        ApiError::Validation(fields) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            fields
                .iter()
                .map(|f| {
                    let field = f
                        .loc
                        .iter()
                        .skip(1)
                        .map(|v| v.to_string().trim_matches('"').to_string())
                        .collect::<Vec<_>>()
                        .join(".");
                    format!("{field}: {}", f.msg)
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
        ApiError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
        ApiError::Timeout(m) => (StatusCode::GATEWAY_TIMEOUT, m.clone()),
        ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
        ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
        ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.clone()),
        ApiError::PayloadTooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m.clone()),
        ApiError::RequestTimeout(m) => (StatusCode::REQUEST_TIMEOUT, m.clone()),
        ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed".into()),
        ApiError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the store is unavailable; retry in a moment".into(),
        ),
        ApiError::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; it was logged".into(),
        ),
    }
}

/// A notice at the top of a page (`?ok=…` after a change, or an error).
pub fn notice(ok: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = ok { p.notice.ok role="status" { (m) } }
        @if let Some(m) = error { p.notice.error role="alert" { (m) } }
    }
}

/// A delivery status as a coloured badge.
pub fn status_badge(text: &str) -> Markup {
    html! { span class={ "badge " (text) } { (text) } }
}

/// A time as readers expect it (UTC, to the second), with the exact value on hover.
pub fn time(t: Timestamp) -> Markup {
    let full = t.to_rfc3339();
    let short = full.get(..19).unwrap_or(&full).replace('T', " ");
    html! { time datetime=(full) title=(full) { (short) " UTC" } }
}

/// A hidden CSRF field for the view's forms.
pub fn csrf(v: &View) -> Markup {
    html! { input type="hidden" name="csrf" value=(v.csrf); }
}

/// Pretty-printed JSON, or the text as it is when it is not JSON.
pub fn code_block(text: &str) -> Markup {
    let pretty = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string());
    html! { pre.code { code { (pretty) } } }
}

/// The theme stylesheet: the configured accent colour.
pub fn theme_css(state: &AppState) -> String {
    format!(":root {{ --accent: {}; }}\n", state.config.portal_color)
}
