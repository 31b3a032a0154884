//! The organisation's pages: signing in and out, the applications, one
//! application's overview (endpoint health, attempts over time, recent
//! messages), opening its portal; and the portal's entry, which exchanges
//! the link's token for a session cookie.

use crate::api::extract::RawBody;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use hookd_core::auth::{generate_key, hash_key};
use hookd_core::model::{KeyKind, NewToken, Scope};
use hookd_core::store::EndpointHealth;
use hookd_core::time::Timestamp;
use maud::{Markup, html};

use super::layout::{self, Nav, notice, status_badge, time};
use super::pages;
use super::session::{
    self, DASHBOARD_COOKIE, DASHBOARD_SESSION_SECS, Form, PORTAL_COOKIE, View, cookie,
};
use crate::api::extract::{Path as ApiPath, RawQuery};
use crate::api::state::AppState;

const HOUR_MS: i64 = 3_600_000;

fn login_form(error: Option<&str>) -> Markup {
    html! {
        section.card.narrow {
            h1 { "Sign in to hookd" }
            (notice(None, error))
            form.stack method="post" action="/ui/login" {
                label { "Organisation API key"
                    input type="password" name="key" required autocomplete="current-password" placeholder="hk_…"; }
                button type="submit" { "Sign in" }
            }
            p { small { "Create a key with " code { "hookd token create" } "." } }
        }
    }
}

pub async fn login_page(State(state): State<AppState>) -> Response {
    layout::page(&state, "Sign in", Nav::None, login_form(None))
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let form = Form::parse(&body);
    let key = form.get("key").unwrap_or("");
    let principal = match session::principal_of(&state, key).await {
        Some(p) if p.scope == Scope::Org && p.capabilities.is_none() => p,
        Some(_) => {
            let mut r = layout::page(
                &state,
                "Sign in",
                Nav::None,
                login_form(Some(
                    "This key is limited to one application: open its portal link instead.",
                )),
            );
            *r.status_mut() = axum::http::StatusCode::FORBIDDEN;
            return r;
        }
        None => {
            let mut r = layout::page(
                &state,
                "Sign in",
                Nav::None,
                login_form(Some("That key is not valid.")),
            );
            *r.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            return r;
        }
    };
    let token = generate_key();
    let issued = state
        .store
        .issue_token(NewToken {
            org_id: principal.org_id,
            scope: Scope::Org,
            kind: KeyKind::Dashboard,
            name: Some("dashboard session".into()),
            hash: hash_key(&token),
            expires_at: Timestamp(Timestamp::now().0 + DASHBOARD_SESSION_SECS * 1000),
            capabilities: None,
            session_id: None,
        })
        .await;
    if let Err(e) = issued {
        return layout::error_page(&e.into());
    }
    let c = session::session_cookie(
        &state,
        &headers,
        DASHBOARD_COOKIE,
        "/ui",
        Some(&token),
        DASHBOARD_SESSION_SECS,
    );
    ([(header::SET_COOKIE, c)], Redirect::to("/ui")).into_response()
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let form = Form::parse(&body);
    if let Some(token) = cookie(&headers, DASHBOARD_COOKIE)
        && form
            .get("csrf")
            .is_none_or(|c| c == session::csrf_token(&token))
        && let Some(p) = session::principal_of(&state, &token).await
        && let Some(id) = p.key_id
    {
        let _ = state.store.revoke_api_key(&id).await;
        state.keys.clear();
    }
    let c = session::session_cookie(&state, &headers, DASHBOARD_COOKIE, "/ui", None, 0);
    ([(header::SET_COOKIE, c)], Redirect::to("/ui/login")).into_response()
}

/// The dashboard's own session (organisation pages, no application yet).
async fn org_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Option<(crate::api::state::Principal, String)> {
    let token = cookie(headers, DASHBOARD_COOKIE)?;
    let p = session::principal_of(state, &token).await?;
    (p.scope == Scope::Org).then(|| (p, session::csrf_token(&token)))
}

pub async fn home(State(state): State<AppState>, headers: HeaderMap, query: RawQuery) -> Response {
    let Some((p, _)) = org_session(&state, &headers).await else {
        return Redirect::to("/ui/login").into_response();
    };
    let mut q = vec![("limit".to_string(), "50".to_string())];
    q.extend(query.0.iter().filter(|(k, _)| k == "iterator").cloned());
    let list =
        crate::api::application::list_applications(State(state.clone()), Extension(p), RawQuery(q))
            .await;
    let Json(list) = match list {
        Ok(l) => l,
        Err(e) => return layout::error_page(&e),
    };
    let body = html! {
        h1 { "Applications" }
        @if list.data.is_empty() {
            p.empty { "No applications yet. Create one with the API: " code { "POST /api/v1/app" } "." }
        } @else {
            div.scroll { table {
                thead { tr { th { "Name" } th { "Uid" } th { "Id" } th { "Created" } } }
                tbody { @for a in &list.data {
                    tr {
                        td { a href=(format!("/ui/app/{}", a.id)) { (a.name) } }
                        td { (a.uid.clone().unwrap_or_default()) }
                        td { code { (a.id) } }
                        td { (time(a.created_at)) }
                    }
                } }
            } }
        }
        @if let Some(it) = list.iterator.filter(|_| !list.done) {
            p { a href=(format!("/ui?iterator={it}")) { "More applications →" } }
        }
    };
    layout::page(&state, "Applications", Nav::Dashboard, body)
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".into(), |r| format!("{:.1} %", r * 100.0))
}

/// Why an endpoint is disabled, as far as its record tells.
fn why_disabled(h: &EndpointHealth) -> &'static str {
    match (h.last_failure_status, h.failing_since) {
        (Some(410), _) => "the receiver answered 410 Gone",
        (_, Some(_)) => "failing without a success for too long",
        _ => "disabled by a user",
    }
}

/// The live part of the overview: endpoint health and recent messages.
async fn overview_live(v: &View) -> Result<Markup, crate::api::error::ApiError> {
    let state = &v.state;
    let now = Timestamp::now();
    let eps = crate::api::endpoint::list_endpoints(
        State(state.clone()),
        Extension(v.principal.clone()),
        ApiPath(v.app.id.clone()),
        RawQuery(vec![("limit".into(), "250".into())]),
    )
    .await?
    .0
    .data;
    let health = state.store.endpoint_health(&v.app.id, now).await?;
    let cells: Vec<Markup> = eps
        .iter()
        .map(|e| {
            let h = health.iter().find(|h| h.endpoint_id == e.id).cloned().unwrap_or_default();
            html! {
                td { (percent(EndpointHealth::rate(h.hour))) small { " of " (h.hour.0 + h.hour.1) } }
                td { (percent(EndpointHealth::rate(h.day))) small { " of " (h.day.0 + h.day.1) } }
                td {
                    @if let Some(t) = h.last_failure { (time(t))
                        @if let Some(s) = h.last_failure_status { " " code { (if s == 0 { "no response".to_string() } else { s.to_string() }) } } }
                    @else { "—" }
                    @if e.disabled { br; small.why { "Disabled: " (why_disabled(&h)) } }
                }
            }
        })
        .collect();
    let buckets = state
        .store
        .attempt_buckets(
            &v.app.id,
            None,
            Timestamp(now.0 - 24 * HOUR_MS),
            now,
            HOUR_MS,
        )
        .await?;
    let Json(msgs) = crate::api::message::list_messages(
        State(state.clone()),
        Extension(v.principal.clone()),
        ApiPath(v.app.id.clone()),
        RawQuery(vec![("limit".into(), "10".into())]),
    )
    .await?;
    let mut recent = Vec::new();
    for m in &msgs.data {
        let Json(d) = crate::api::message::list_message_destinations(
            State(state.clone()),
            Extension(v.principal.clone()),
            ApiPath((v.app.id.clone(), m.id.clone())),
            RawQuery(vec![("limit".into(), "50".into())]),
        )
        .await?;
        recent.push((m, d.data));
    }
    Ok(html! {
        div id="overview" data-refresh=(format!("/ui/app/{}/live", v.app.id)) {
            h2 { "Endpoints" }
            (pages::endpoints_table(v, &eps, Some(&cells)))
            h2 { "Attempts, last 24 hours" }
            (super::chart::attempts(&buckets, "Last 24 hours"))
            h2 { "Recent messages" }
            @if recent.is_empty() { p.empty { "No messages yet." } } @else {
                div.scroll { table {
                    thead { tr { th { "Time" } th { "Event type" } th { "Message" } th { "Went to" } } }
                    tbody { @for (m, dests) in &recent {
                        tr {
                            td { (time(m.timestamp)) }
                            td { code { (m.event_type) } }
                            td { a href=(v.url(&format!("/message/{}", m.id))) { code { (m.id) } } }
                            td { @if dests.is_empty() { "no endpoint" }
                                @for d in dests { span.dest { (status_badge(d.status_text)) " " (d.endpoint.url) } } }
                        }
                    } }
                } }
            }
        }
    })
}

pub async fn overview(v: View, query: RawQuery) -> Response {
    let live = match overview_live(&v).await {
        Ok(m) => m,
        Err(e) => return layout::error_page(&e),
    };
    let ok = query
        .0
        .iter()
        .find(|(k, _)| k == "ok")
        .map(|(_, v)| v.as_str());
    let body = html! {
        (notice(ok, None))
        div.heading {
            h1 { (v.app.name) }
            form method="post" action=(format!("/ui/app/{}/portal", v.app.id)) {
                (layout::csrf(&v))
                button.secondary type="submit" { "Open the portal as this application" }
            }
        }
        p { "Id " code { (v.app.id) } @if let Some(u) = &v.app.uid { " · uid " code { (u) } } }
        (live)
    };
    layout::page(&v.state, &v.app.name.clone(), Nav::App(&v), body)
}

pub async fn live_overview(v: View) -> Response {
    match overview_live(&v).await {
        Ok(m) => m.into_response(),
        Err(e) => layout::error_page(&e),
    }
}

pub async fn open_portal(v: View, headers: HeaderMap, RawBody(body): RawBody) -> Response {
    let form = Form::parse(&body);
    if let Err(e) = v.check_csrf(&form) {
        return layout::error_page(&e);
    }
    // A short-lived token: the operator looks, then closes the tab.
    match crate::api::portal::issue_portal_token(&v.state, &v.app, None, 3600, None).await {
        Ok(token) => {
            let base = crate::api::portal::public_base(&v.state, &headers);
            Redirect::to(&format!("{base}/portal/#key={token}")).into_response()
        }
        Err(e) => layout::error_page(&e),
    }
}

/// The portal's entry: with a session, its endpoints; without one, a page
/// whose script posts the token from the link's fragment to `/portal/session`.
pub async fn portal_home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, PORTAL_COOKIE)
        && let Some(p) = session::principal_of(&state, &token).await
        && matches!(p.scope, Scope::App(_))
    {
        return Redirect::to("/portal/endpoints").into_response();
    }
    let body = html! {
        section.card.narrow id="portal-login" {
            h1 { "Opening the portal…" }
            p.empty id="portal-missing" hidden { "This link has no access token. Ask for a new portal link." }
            noscript { p { "The portal needs JavaScript to read its link." } }
        }
    };
    let mut resp = layout::page(&state, "Portal", Nav::None, body);
    if let Ok(v) =
        axum::http::HeaderValue::from_str(&layout::csp(&layout::portal_ancestors(&state)))
    {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

pub async fn portal_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let form = Form::parse(&body);
    let key = form.get("key").unwrap_or("");
    match session::principal_of(&state, key).await {
        Some(p) if matches!(p.scope, Scope::App(_)) => {
            let c = session::session_cookie(
                &state,
                &headers,
                PORTAL_COOKIE,
                "/portal",
                Some(key),
                7 * 86_400,
            );
            ([(header::SET_COOKIE, c)], Redirect::to("/portal/endpoints")).into_response()
        }
        _ => layout::message_page(
            "Portal link expired",
            "This portal link has expired or was revoked. Ask for a new link.",
        ),
    }
}
