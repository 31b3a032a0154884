//! One application's pages, the same for the operator (dashboard) and the
//! application's customers (portal): endpoints and the event catalogue (the
//! message pages are in `messages`), and the helpers both use. Every read and change goes
//! through the API's own handlers, as the viewer, so scoping, validation
//! and delivery behave exactly as over the API.

use crate::api::extract::RawBody;
use axum::body::Bytes;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use hookd_core::model::Capability;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::layout::{self, Nav, code_block, csrf, notice, status_badge, time};
use super::session::{Form, View};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{JsonBody, Path as ApiPath, RawQuery, parse_json};
use crate::api::types::{EndpointOut, EventTypeOut, MessageAttemptOut};
use crate::api::{actions, attempt, endpoint, event_type};

pub(super) type Params = std::collections::HashMap<String, String>;

pub(super) fn q(pairs: &[(&str, &str)]) -> RawQuery {
    RawQuery(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

pub(super) fn param(p: &Params, name: &str) -> String {
    p.get(name).cloned().unwrap_or_default()
}

/// Renders an error where a page would have been.
pub(super) fn fail(e: ApiError) -> Response {
    layout::error_page(&e)
}

/// After a change: back to `to`, with a notice.
pub(super) fn done(to: &str, ok: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let enc: String = url::form_urlencoded::byte_serialize(ok.as_bytes()).collect();
    Redirect::to(&format!("{to}{sep}ok={enc}")).into_response()
}

/// The `ok`/`error` notices a redirect carried.
pub(super) fn notices(query: &RawQuery) -> Markup {
    let get = |k: &str| {
        query
            .0
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    notice(get("ok"), get("error"))
}

// ---------- endpoints ----------

pub(super) async fn load_endpoints(v: &View) -> ApiResult<Vec<EndpointOut>> {
    let Json(list) = endpoint::list_endpoints(
        axum::extract::State(v.state.clone()),
        Extension(v.principal.clone()),
        ApiPath(v.app.id.clone()),
        q(&[("limit", "250")]),
    )
    .await?;
    Ok(list.data)
}

pub(super) async fn load_event_types(v: &View) -> ApiResult<Vec<EventTypeOut>> {
    let Json(list) = event_type::list_event_types(
        axum::extract::State(v.state.clone()),
        Extension(v.principal.clone()),
        q(&[("limit", "250"), ("with_content", "true")]),
    )
    .await?;
    Ok(list.data)
}

/// The endpoints table (also part of the dashboard's overview).
pub fn endpoints_table(v: &View, eps: &[EndpointOut], health: Option<&[Markup]>) -> Markup {
    html! {
        @if eps.is_empty() {
            p.empty { "No endpoints yet." }
        } @else {
            div.scroll { table {
                thead { tr {
                    th { "URL" } th { "Event types" } th { "State" }
                    @if health.is_some() { th { "Last hour" } th { "Last day" } th { "Last failure" } }
                } }
                tbody {
                    @for (i, e) in eps.iter().enumerate() {
                        tr {
                            td { a href=(v.url(&format!("/endpoint/{}", e.id))) { (e.url) }
                                @if !e.description.is_empty() { br; small { (e.description) } } }
                            td { (e.filter_types.as_ref().map(|t| t.join(", ")).unwrap_or_else(|| "all".into())) }
                            td { @if e.disabled { (status_badge("disabled")) } @else { (status_badge("enabled")) } }
                            @if let Some(h) = health { @if let Some(cells) = h.get(i) { (cells) } }
                        }
                    }
                }
            } }
        }
    }
}

pub async fn endpoints(v: View, query: RawQuery) -> Response {
    let eps = match load_endpoints(&v).await {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let body = html! {
        (notices(&query))
        div.heading {
            h1 { "Endpoints" }
            @if v.can(Capability::ManageEndpoint) {
                a.button href=(v.url("/endpoints/new")) { "Add endpoint" }
            }
        }
        (endpoints_table(&v, &eps, None))
    };
    layout::page(&v.state, "Endpoints", Nav::App(&v), body)
}

/// The endpoint form: new (`ep: None`) or editing an endpoint.
fn endpoint_form(
    v: &View,
    ep: Option<&EndpointOut>,
    types: &[EventTypeOut],
    error: Option<&str>,
    form: Option<&Form>,
) -> Markup {
    let val = |name: &str, current: Option<String>| -> String {
        form.and_then(|f| f.get(name).map(String::from))
            .or(current)
            .unwrap_or_default()
    };
    let chosen: Vec<String> = match (form, ep) {
        (Some(f), _) => f.all("eventTypes"),
        (None, Some(e)) => e.filter_types.clone().unwrap_or_default(),
        (None, None) => vec![],
    };
    let action = match ep {
        Some(e) => v.url(&format!("/endpoint/{}", e.id)),
        None => v.url("/endpoints"),
    };
    html! {
        (notice(None, error))
        form.stack method="post" action=(action) {
            (csrf(v))
            label { "URL" input type="url" name="url" required value=(val("url", ep.map(|e| e.url.clone()))) placeholder="https://example.com/webhooks"; }
            label { "Description" input type="text" name="description" value=(val("description", ep.map(|e| e.description.clone()))); }
            fieldset {
                legend { "Event types " small { "(none chosen: all of them)" } }
                @if types.is_empty() { p.empty { "The catalogue is empty: every event is sent." } }
                @for t in types {
                    label.check {
                        input type="checkbox" name="eventTypes" value=(t.name) checked[chosen.contains(&t.name)];
                        " " (t.name)
                        @if !t.description.is_empty() { small { " — " (t.description) } }
                    }
                }
            }
            label { "Channels " small { "(comma-separated, optional)" }
                input type="text" name="channels" value=(val("channels", ep.and_then(|e| e.channels.clone()).map(|c| c.join(", ")))); }
            label { "Payload filter " small { "(optional, e.g. " code { "data.amount >= 100 and data.currency in [\"usd\"]" } ")" }
                input type="text" name="filter" value=(val("filter", ep.and_then(|e| e.filter.clone()))); }
            label.check {
                input type="checkbox" name="fifo" value="on" checked[form.map_or(ep.is_some_and(|e| e.fifo), |f| f.get("fifo").is_some())];
                " Ordered delivery " small { "(FIFO: one message at a time, in order; a failing message holds back the rest)" }
            }
            label { "Rate limit " small { "(messages per second, optional)" }
                input type="number" name="rateLimit" min="1" value=(val("rateLimit", ep.and_then(|e| e.rate_limit).map(|r| r.to_string()))); }
            @if ep.is_none() {
                label { "Custom headers " small { "(one per line: Name: value)" }
                    textarea name="headers" rows="3" { (val("headers", None)) } }
            }
            button type="submit" { @if ep.is_some() { "Save" } @else { "Create endpoint" } }
        }
    }
}

/// The API's JSON for an endpoint form (the API validates it and names fields).
fn endpoint_json(f: &Form, with_headers: bool) -> ApiResult<Value> {
    let mut body = json!({
        "url": f.get("url").unwrap_or(""),
        "description": f.get("description").unwrap_or(""),
    });
    let types = f.all("eventTypes");
    body["filterTypes"] = if types.is_empty() {
        Value::Null
    } else {
        json!(types)
    };
    body["channels"] = match f.get("channels") {
        Some(c) => json!(
            c.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        ),
        None => Value::Null,
    };
    body["filter"] = f.get("filter").map_or(Value::Null, |s| json!(s));
    body["fifo"] = json!(f.get("fifo").is_some());
    body["rateLimit"] = match f.get("rateLimit") {
        Some(r) => match r.parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => {
                return Err(ApiError::field(
                    hookd_core::validate::Loc::body().field("rateLimit"),
                    "type_error.integer",
                    "the rate limit must be a whole number",
                ));
            }
        },
        None => Value::Null,
    };
    if with_headers && let Some(text) = f.get("headers") {
        let mut headers = serde_json::Map::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Some((k, val)) = line.split_once(':') else {
                return Err(ApiError::field(
                    hookd_core::validate::Loc::body().field("headers"),
                    "value_error",
                    format!("'{line}' is not 'Name: value'"),
                ));
            };
            headers.insert(k.trim().to_string(), json!(val.trim()));
        }
        body["headers"] = Value::Object(headers);
    }
    Ok(body)
}

pub async fn new_endpoint(v: View) -> Response {
    if let Err(e) = v.require(Capability::ManageEndpoint) {
        return fail(e);
    }
    let types = load_event_types(&v).await.unwrap_or_default();
    let body = html! { h1 { "Add endpoint" } (endpoint_form(&v, None, &types, None, None)) };
    layout::page(&v.state, "Add endpoint", Nav::App(&v), body)
}

pub async fn create_endpoint(v: View, RawBody(body): RawBody) -> Response {
    let form = Form::parse(&body);
    let made = async {
        v.check_csrf(&form)?;
        v.require(Capability::ManageEndpoint)?;
        let json = endpoint_json(&form, true)?;
        let body = parse_json(json.to_string().as_bytes())?;
        endpoint::create_endpoint(
            axum::extract::State(v.state.clone()),
            Extension(v.principal.clone()),
            ApiPath(v.app.id.clone()),
            JsonBody(body),
        )
        .await
    }
    .await;
    match made {
        Ok((_, Json(ep))) => done(&v.url(&format!("/endpoint/{}", ep.id)), "Endpoint created."),
        Err(e) => {
            let types = load_event_types(&v).await.unwrap_or_default();
            let (_, text) = layout::describe(&e);
            let page = html! { h1 { "Add endpoint" } (endpoint_form(&v, None, &types, Some(&text), Some(&form))) };
            let mut resp = layout::page(&v.state, "Add endpoint", Nav::App(&v), page);
            *resp.status_mut() = layout::describe(&e).0;
            resp
        }
    }
}

async fn load_endpoint(v: &View, ep: &str) -> ApiResult<EndpointOut> {
    let Json(e) = endpoint::get_endpoint(
        axum::extract::State(v.state.clone()),
        Extension(v.principal.clone()),
        ApiPath((v.app.id.clone(), ep.to_string())),
    )
    .await?;
    Ok(e)
}

async fn endpoint_attempts(v: &View, ep: &str) -> ApiResult<Vec<MessageAttemptOut>> {
    let Json(list) = attempt::list_attempts_by_endpoint(
        axum::extract::State(v.state.clone()),
        Extension(v.principal.clone()),
        ApiPath((v.app.id.clone(), ep.to_string())),
        q(&[("limit", "50")]),
    )
    .await?;
    Ok(list.data)
}

/// An attempt table; `show_endpoint` for a message's attempts.
pub(super) fn attempts_table(
    v: &View,
    attempts: &[MessageAttemptOut],
    show_endpoint: bool,
) -> Markup {
    html! {
        @if attempts.is_empty() { p.empty { "No attempts yet." } } @else {
            div.scroll { table.attempts {
                thead { tr {
                    th { "Time" } th { "Status" } th { "Response" } th { "Latency" }
                    @if show_endpoint { th { "Endpoint" } } @else { th { "Message" } }
                } }
                tbody { @for a in attempts {
                    tr {
                        td { (time(a.timestamp)) }
                        td { (status_badge(a.status_text)) " "
                            @if a.response_status_code > 0 { code { (a.response_status_code) } }
                            @if let Some(c) = &a.error_class { " " span.class { (c) } } }
                        td { details { summary { "body" } (code_block(&a.response)) } }
                        td { (a.response_duration_ms) " ms" }
                        @if show_endpoint {
                            td { a href=(v.url(&format!("/endpoint/{}", a.endpoint_id))) { code { (a.endpoint_id) } } }
                        } @else {
                            td { a href=(v.url(&format!("/message/{}", a.msg_id))) { code { (a.msg_id) } } }
                        }
                    }
                } }
            } }
        }
    }
}

/// An endpoint's attempts, refreshed in place by the page script.
fn live_attempts(v: &View, ep: &str, attempts: &[MessageAttemptOut]) -> Markup {
    html! {
        div id="attempts" data-refresh=(v.url(&format!("/live/endpoint/{ep}"))) {
            (attempts_table(v, attempts, false))
        }
    }
}

pub async fn live_endpoint(v: View, Path(p): Path<Params>) -> Response {
    let ep = param(&p, "ep");
    match endpoint_attempts(&v, &ep).await {
        Ok(a) => live_attempts(&v, &ep, &a).into_response(),
        Err(e) => fail(e),
    }
}

pub async fn endpoint(v: View, Path(p): Path<Params>, query: RawQuery) -> Response {
    endpoint_page(v, &param(&p, "ep"), &query, None, None).await
}

async fn endpoint_page(
    v: View,
    ep_id: &str,
    query: &RawQuery,
    secret: Option<String>,
    error: Option<String>,
) -> Response {
    let ep = match load_endpoint(&v, ep_id).await {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let types = load_event_types(&v).await.unwrap_or_default();
    let attempts = endpoint_attempts(&v, &ep.id).await.unwrap_or_default();
    let stats = actions::get_endpoint_stats(
        axum::extract::State(v.state.clone()),
        Extension(v.principal.clone()),
        ApiPath((v.app.id.clone(), ep.id.clone())),
        q(&[]),
    )
    .await
    .map(|Json(s)| s)
    .ok();
    let action = |name: &str| v.url(&format!("/endpoint/{}/{name}", ep.id));
    let manage = v.can(Capability::ManageEndpoint);
    let body = html! {
        (notices(query))
        (notice(None, error.as_deref()))
        div.heading {
            h1 { (ep.url) }
            @if ep.disabled { (status_badge("disabled")) } @else { (status_badge("enabled")) }
        }
        @if let Some(s) = &stats {
            p.stats { "Delivered " strong { (s.success) } " · pending " strong { (s.pending) }
                " · sending " strong { (s.sending) } " · failed " strong { (s.fail) } }
        }
        div.grid {
            section.card {
                h2 { "Settings" }
                @if manage { (endpoint_form(&v, Some(&ep), &types, None, None)) } @else {
                    dl {
                        dt { "Description" } dd { (ep.description) }
                        dt { "Event types" } dd { (ep.filter_types.as_ref().map(|t| t.join(", ")).unwrap_or_else(|| "all".into())) }
                        @if let Some(f) = &ep.filter { dt { "Payload filter" } dd { code { (f) } } }
                        @if ep.fifo { dt { "Delivery" } dd { "ordered (FIFO)" } }
                    }
                }
                @if manage {
                    form method="post" action=(action(if ep.disabled { "enable" } else { "disable" })) {
                        (csrf(&v))
                        button.secondary type="submit" { @if ep.disabled { "Enable" } @else { "Disable" } }
                    }
                }
            }
            section.card {
                h2 { "Signing secret" }
                @if let Some(s) = &secret {
                    p { code.secret { (s) } }
                } @else if v.can(Capability::ViewEndpointSecret) {
                    form method="post" action=(action("secret")) { (csrf(&v)) button.secondary type="submit" { "Reveal secret" } }
                } @else { p.empty { "This link may not show the secret." } }
                @if v.can(Capability::ManageEndpointSecret) {
                    form method="post" action=(action("rotate")) data-confirm="Rotate the secret? The old one keeps signing for a day." {
                        (csrf(&v)) button.secondary type="submit" { "Rotate secret" }
                    }
                }
                @if v.can(Capability::CreateAttempts) {
                    h2 { "Send an example" }
                    form.inline method="post" action=(action("example")) {
                        (csrf(&v))
                        label { "Event type "
                            select name="eventType" required {
                                @for t in &types { option value=(t.name) { (t.name) } }
                            }
                        }
                        button type="submit" { "Send example" }
                    }
                    h2 { "Recover failed messages" }
                    form.inline method="post" action=(action("recover")) {
                        (csrf(&v))
                        label { "Since " input type="datetime-local" name="since" required; }
                        button type="submit" { "Resend failed" }
                    }
                }
                @if manage {
                    form method="post" action=(action("delete")) data-confirm="Delete this endpoint and its delivery history?" {
                        (csrf(&v)) button.danger type="submit" { "Delete endpoint" }
                    }
                }
            }
        }
        h2 { "Attempts" }
        (live_attempts(&v, &ep.id, &attempts))
    };
    layout::page(&v.state, &ep.url, Nav::App(&v), body)
}

pub async fn update_endpoint(v: View, Path(p): Path<Params>, RawBody(body): RawBody) -> Response {
    let ep_id = param(&p, "ep");
    let form = Form::parse(&body);
    let changed = async {
        v.check_csrf(&form)?;
        v.require(Capability::ManageEndpoint)?;
        let json = endpoint_json(&form, false)?;
        endpoint::patch_endpoint(
            axum::extract::State(v.state.clone()),
            Extension(v.principal.clone()),
            ApiPath((v.app.id.clone(), ep_id.clone())),
            JsonBody(parse_json(json.to_string().as_bytes())?),
        )
        .await
    }
    .await;
    match changed {
        Ok(_) => done(&v.url(&format!("/endpoint/{ep_id}")), "Saved."),
        Err(e) => {
            let text = layout::describe(&e).1;
            endpoint_page(v, &ep_id, &RawQuery(vec![]), None, Some(text)).await
        }
    }
}

pub async fn endpoint_action(v: View, Path(p): Path<Params>, RawBody(body): RawBody) -> Response {
    let (ep_id, name) = (param(&p, "ep"), param(&p, "action"));
    let form = Form::parse(&body);
    if let Err(e) = v.check_csrf(&form) {
        return fail(e);
    }
    let (state, principal) = (
        axum::extract::State(v.state.clone()),
        Extension(v.principal.clone()),
    );
    let path = ApiPath((v.app.id.clone(), ep_id.clone()));
    let here = v.url(&format!("/endpoint/{ep_id}"));
    let result: ApiResult<String> = async {
        match name.as_str() {
            "enable" | "disable" => {
                v.require(Capability::ManageEndpoint)?;
                let patch = parse_json(
                    json!({"disabled": name == "disable"})
                        .to_string()
                        .as_bytes(),
                )?;
                let _ = endpoint::patch_endpoint(state, principal, path, JsonBody(patch)).await?;
                Ok(if name == "disable" {
                    "Endpoint disabled."
                } else {
                    "Endpoint enabled."
                }
                .into())
            }
            "rotate" => {
                v.require(Capability::ManageEndpointSecret)?;
                let _ =
                    endpoint::rotate_endpoint_secret(state, principal, path, RawBody(Bytes::new()))
                        .await?;
                Ok("Secret rotated; the previous one keeps signing for the grace period.".into())
            }
            "example" => {
                v.require(Capability::CreateAttempts)?;
                let body = parse_json(
                    json!({"eventType": form.get("eventType").unwrap_or("")})
                        .to_string()
                        .as_bytes(),
                )?;
                let (_, Json(m)) =
                    actions::send_example(state, principal, path, JsonBody(body)).await?;
                Ok(format!("Example sent as {}.", m.id))
            }
            "recover" => {
                v.require(Capability::CreateAttempts)?;
                let since = form.get("since").map(|s| {
                    // A browser's datetime-local has no zone: the viewer's time, taken as UTC.
                    if s.len() == 16 {
                        format!("{s}:00Z")
                    } else {
                        s.to_string()
                    }
                });
                let body = parse_json(json!({"since": since}).to_string().as_bytes())?;
                let _ = crate::api::tasks::recover_endpoint(state, principal, path, JsonBody(body))
                    .await?;
                Ok("Failed messages are being resent.".into())
            }
            "delete" => {
                v.require(Capability::ManageEndpoint)?;
                endpoint::delete_endpoint(state, principal, path).await?;
                Ok("deleted".into())
            }
            _ => Err(ApiError::NotFound("no such action".into())),
        }
    }
    .await;
    match (name.as_str(), result) {
        ("secret", _) => {
            let shown = async {
                v.require(Capability::ViewEndpointSecret)?;
                let Json(s) = endpoint::get_endpoint_secret(
                    axum::extract::State(v.state.clone()),
                    Extension(v.principal.clone()),
                    ApiPath((v.app.id.clone(), ep_id.clone())),
                )
                .await?;
                Ok::<_, ApiError>(s.key)
            }
            .await;
            match shown {
                Ok(key) => endpoint_page(v, &ep_id, &RawQuery(vec![]), Some(key), None).await,
                Err(e) => fail(e),
            }
        }
        ("delete", Ok(_)) => done(&v.url("/endpoints"), "Endpoint deleted."),
        (_, Ok(msg)) => done(&here, &msg),
        (_, Err(e)) => {
            let text = layout::describe(&e).1;
            endpoint_page(v, &ep_id, &RawQuery(vec![]), None, Some(text)).await
        }
    }
}

// ---------- event catalogue ----------

pub async fn event_types(v: View) -> Response {
    let types = match load_event_types(&v).await {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let body = html! {
        h1 { "Event types" }
        @if types.is_empty() { p.empty { "No event types are defined." } }
        @for t in &types {
            section.card {
                h2 { code { (t.name) } @if t.deprecated { " " (status_badge("deprecated")) } }
                @if !t.description.is_empty() { p { (t.description) } }
                @if let Some(example) = schema_example(t) {
                    details { summary { "Example payload" } (code_block(&example)) }
                }
                @if let Some(schemas) = &t.schemas {
                    details { summary { "Schema" } (code_block(&schemas.to_string())) }
                }
            }
        }
    };
    layout::page(&v.state, "Event types", Nav::App(&v), body)
}

/// The first example of the newest schema version, as `send-example` uses.
fn schema_example(t: &EventTypeOut) -> Option<String> {
    let versions = t.schemas.as_ref()?.as_object()?;
    let newest = versions.values().next_back()?;
    Some(newest.get("examples")?.get(0)?.to_string())
}
