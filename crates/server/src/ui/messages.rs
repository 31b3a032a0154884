//! One application's message log and each message's page: where it went,
//! its attempts, resend; shared by the dashboard and the portal.

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use hookd_core::model::Capability;
use maud::{Markup, html};

use super::layout::{self, Nav, code_block, csrf, status_badge, time};
use super::pages::{
    Params, attempts_table, done, fail, load_endpoints, load_event_types, notices, param, q,
};
use super::session::{Form, View};
use crate::api::error::ApiResult;
use crate::api::extract::{Path as ApiPath, RawBody, RawQuery};
use crate::api::types::MessageOut;
use crate::api::{actions, attempt, message};

/// A page of the message log: each message with its status at the chosen
/// endpoint, the next page's iterator, and whether this is the last page.
type MessageRows = (
    Vec<(MessageOut, Option<&'static str>)>,
    Option<String>,
    bool,
);

pub async fn messages(v: View, query: RawQuery) -> Response {
    let get = |k: &str| {
        query
            .0
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let (event_type, status, endpoint_id) = (get("event_type"), get("status"), get("endpoint"));
    let to_rfc = |s: Option<String>| s.map(|s| if s.len() == 16 { format!("{s}:00Z") } else { s });
    let (after, before, iterator) = (to_rfc(get("after")), to_rfc(get("before")), get("iterator"));
    let mut api_q: Vec<(&str, String)> = vec![("limit", "50".into())];
    if let Some(t) = &event_type {
        api_q.push(("event_types", t.clone()));
    }
    if let Some(a) = &after {
        api_q.push(("after", a.clone()));
    }
    if let Some(b) = &before {
        api_q.push(("before", b.clone()));
    }
    if let Some(i) = &iterator {
        api_q.push(("iterator", i.clone()));
    }
    let eps = load_endpoints(&v).await.unwrap_or_default();
    let types = load_event_types(&v).await.unwrap_or_default();
    // A status is per endpoint: with one chosen, list what went there.
    let listed: ApiResult<MessageRows> = async {
        match &endpoint_id {
            Some(ep) => {
                if let Some(s) = &status {
                    api_q.push(("status", s.clone()));
                }
                let pairs: Vec<(&str, &str)> =
                    api_q.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let Json(l) = message::list_endpoint_messages(
                    axum::extract::State(v.state.clone()),
                    Extension(v.principal.clone()),
                    ApiPath((v.app.id.clone(), ep.clone())),
                    q(&pairs),
                )
                .await?;
                Ok((
                    l.data
                        .into_iter()
                        .map(|m| (m.msg, Some(m.status_text)))
                        .collect(),
                    l.iterator,
                    l.done,
                ))
            }
            None => {
                let pairs: Vec<(&str, &str)> =
                    api_q.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let Json(l) = message::list_messages(
                    axum::extract::State(v.state.clone()),
                    Extension(v.principal.clone()),
                    ApiPath(v.app.id.clone()),
                    q(&pairs),
                )
                .await?;
                Ok((
                    l.data.into_iter().map(|m| (m, None)).collect(),
                    l.iterator,
                    l.done,
                ))
            }
        }
    }
    .await;
    let (rows, next, is_done) = match listed {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let next_link = next.filter(|_| !is_done).map(|it| {
        let mut pairs: Vec<(String, String)> = query
            .0
            .iter()
            .filter(|(k, _)| k != "iterator")
            .cloned()
            .collect();
        pairs.push(("iterator".into(), it));
        format!(
            "{}?{}",
            v.url("/messages"),
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    });
    let body = html! {
        h1 { "Messages" }
        form.filters method="get" action=(v.url("/messages")) {
            label { "Event type" select name="event_type" {
                option value="" { "any" }
                @for t in &types { option value=(t.name) selected[event_type.as_deref() == Some(t.name.as_str())] { (t.name) } }
            } }
            label { "Endpoint" select name="endpoint" {
                option value="" { "any" }
                @for e in &eps { option value=(e.id) selected[endpoint_id.as_deref() == Some(e.id.as_str())] { (e.url) } }
            } }
            label { "Status " small { "(with an endpoint)" } select name="status" {
                option value="" { "any" }
                @for (n, label) in [("0", "success"), ("1", "pending"), ("2", "fail"), ("4", "canceled")] {
                    option value=(n) selected[status.as_deref() == Some(n)] { (label) }
                }
            } }
            label { "After" input type="datetime-local" name="after" value=(get("after").unwrap_or_default()); }
            label { "Before" input type="datetime-local" name="before" value=(get("before").unwrap_or_default()); }
            button type="submit" { "Filter" }
        }
        @if rows.is_empty() { p.empty { "No messages match." } } @else {
            div.scroll { table {
                thead { tr { th { "Time" } th { "Event type" } th { "Message" } @if endpoint_id.is_some() { th { "Status" } } } }
                tbody { @for (m, st) in &rows {
                    tr {
                        td { (time(m.timestamp)) }
                        td { code { (m.event_type) } }
                        td { a href=(v.url(&format!("/message/{}", m.id))) { code { (m.id) } }
                            @if let Some(e) = &m.event_id { " " small { (e) } } }
                        @if let Some(s) = st { td { (status_badge(s)) } }
                    }
                } }
            } }
        }
        @if let Some(link) = next_link { p { a href=(link) { "Older messages →" } } }
    };
    layout::page(&v.state, "Messages", Nav::App(&v), body)
}

/// Where a message went, refreshed in place while deliveries are under way.
async fn destinations(v: &View, msg: &str) -> ApiResult<Markup> {
    let Json(list) = message::list_message_destinations(
        axum::extract::State(v.state.clone()),
        Extension(v.principal.clone()),
        ApiPath((v.app.id.clone(), msg.to_string())),
        q(&[("limit", "250")]),
    )
    .await?;
    let Json(attempts) = attempt::list_attempts_by_msg(
        axum::extract::State(v.state.clone()),
        Extension(v.principal.clone()),
        ApiPath((v.app.id.clone(), msg.to_string())),
        q(&[("limit", "100")]),
    )
    .await?;
    let resend = v.can(Capability::CreateAttempts);
    Ok(html! {
        div id="destinations" data-refresh=(v.url(&format!("/live/message/{msg}"))) {
            h2 { "Destinations" }
            @if list.data.is_empty() { p.empty { "No endpoint takes this message." } } @else {
                div.scroll { table {
                    thead { tr { th { "Endpoint" } th { "Status" } th { "Next attempt" } @if resend { th {} } } }
                    tbody { @for d in &list.data {
                        tr {
                            td { a href=(v.url(&format!("/endpoint/{}", d.endpoint.id))) { (d.endpoint.url) } }
                            td { (status_badge(d.status_text)) }
                            td { @if let Some(t) = d.next_attempt { (time(t)) } @else { "—" } }
                            @if resend {
                                td { form method="post" action=(v.url(&format!("/message/{msg}/resend/{}", d.endpoint.id))) {
                                    (csrf(v)) button.secondary type="submit" { "Resend" }
                                } }
                            }
                        }
                    } }
                } }
            }
            h2 { "Attempts" }
            (attempts_table(v, &attempts.data, true))
        }
    })
}

pub async fn message(v: View, Path(p): Path<Params>, query: RawQuery) -> Response {
    let msg_id = param(&p, "msg");
    let m = match message::get_message(
        axum::extract::State(v.state.clone()),
        Extension(v.principal.clone()),
        ApiPath((v.app.id.clone(), msg_id.clone())),
        q(&[]),
    )
    .await
    {
        Ok(Json(m)) => m,
        Err(e) => return fail(e),
    };
    let dest = match destinations(&v, &m.id).await {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let body = html! {
        (notices(&query))
        h1 { "Message " code { (m.id) } }
        dl {
            dt { "Event type" } dd { code { (m.event_type) } }
            @if let Some(e) = &m.event_id { dt { "Event id" } dd { code { (e) } } }
            dt { "Accepted" } dd { (time(m.timestamp)) }
            @if let Some(at) = m.deliver_at { dt { "Scheduled for" } dd { (time(at)) } }
            @if let Some(c) = &m.channels { dt { "Channels" } dd { (c.join(", ")) } }
        }
        details open { summary { "Payload" } (code_block(m.payload.get())) }
        (dest)
    };
    layout::page(&v.state, &format!("Message {}", m.id), Nav::App(&v), body)
}

pub async fn live_message(v: View, Path(p): Path<Params>) -> Response {
    match destinations(&v, &param(&p, "msg")).await {
        Ok(d) => d.into_response(),
        Err(e) => fail(e),
    }
}

pub async fn resend(v: View, Path(p): Path<Params>, RawBody(body): RawBody) -> Response {
    let (msg, ep) = (param(&p, "msg"), param(&p, "ep"));
    let form = Form::parse(&body);
    let sent = async {
        v.check_csrf(&form)?;
        v.require(Capability::CreateAttempts)?;
        actions::resend_message(
            axum::extract::State(v.state.clone()),
            Extension(v.principal.clone()),
            ApiPath((v.app.id.clone(), msg.clone(), ep.clone())),
        )
        .await
    }
    .await;
    let here = v.url(&format!("/message/{msg}"));
    match sent {
        Ok(_) => done(&here, "Resent."),
        Err(e) => {
            let enc: String =
                url::form_urlencoded::byte_serialize(layout::describe(&e).1.as_bytes()).collect();
            Redirect::to(&format!("{here}?error={enc}")).into_response()
        }
    }
}
