//! Messages: routing and fan-out, eventId, lookups, payloads, listings with
//! filters, destinations and an endpoint's messages.

use hookd_core::model::DeliveryStatus;
use hookd_core::store::{AttemptFilter, Conflict, MessageFilter, NextStep, Store, StoreError};
use hookd_core::time::Timestamp;
use serde_json::value::RawValue;

use crate::support::*;

/// An application with endpoints that each test a routing rule.
struct Routing {
    app: String,
    all: String,
    only_a: String,
    chan_x: String,
    disabled: String,
    a_on_y: String,
}

async fn routing(s: &dyn Store) -> Routing {
    let org = s.ensure_org("acme").await.unwrap();
    let app = s.create_app(app(&org.id, None)).await.unwrap().id;
    let all = s.create_endpoint(endpoint(&app)).await.unwrap().id;
    let mut e = endpoint(&app);
    e.filter_types = Some(strings(&["a"]));
    let only_a = s.create_endpoint(e).await.unwrap().id;
    let mut e = endpoint(&app);
    e.channels = Some(strings(&["x", "z"]));
    let chan_x = s.create_endpoint(e).await.unwrap().id;
    let mut e = endpoint(&app);
    e.disabled = true;
    let disabled = s.create_endpoint(e).await.unwrap().id;
    let mut e = endpoint(&app);
    e.filter_types = Some(strings(&["a"]));
    e.channels = Some(strings(&["y"]));
    let a_on_y = s.create_endpoint(e).await.unwrap().id;
    Routing {
        app,
        all,
        only_a,
        chan_x,
        disabled,
        a_on_y,
    }
}

fn with_channels(event_type: &str, channels: &[&str]) -> hookd_core::store::NewMessage {
    let mut m = msg(event_type);
    m.channels = Some(strings(channels));
    m
}

conformance! {
    async fn fan_out_follows_filters_channels_and_disabled(cx) {
        let s = &*cx.store;
        let r = routing(s).await;
        let cases: Vec<(hookd_core::store::NewMessage, Vec<&String>)> = vec![
            (msg("a"), vec![&r.all, &r.only_a]),
            (msg("b"), vec![&r.all]),
            (with_channels("a", &["x"]), vec![&r.all, &r.only_a, &r.chan_x]),
            (with_channels("b", &["z", "q"]), vec![&r.all, &r.chan_x]),
            (with_channels("a", &["y"]), vec![&r.all, &r.only_a, &r.a_on_y]),
            (with_channels("b", &["y"]), vec![&r.all]),
        ];
        for (i, (m, want)) in cases.into_iter().enumerate() {
            let (stored, deliveries) = s.create_message(&r.app, m).await.unwrap();
            let mut want: Vec<String> = want.into_iter().cloned().collect();
            want.sort();
            let mut got: Vec<String> = deliveries.iter().map(|d| d.endpoint_id.clone()).collect();
            got.sort();
            assert_eq!(got, want, "case {i}");
            assert!(!got.contains(&r.disabled));
            for d in &deliveries {
                assert_eq!(d.msg_id, stored.id);
                assert_eq!(d.status, DeliveryStatus::Pending);
                assert_eq!(d.attempts, 0);
                assert_eq!(d.next_attempt_at, Some(stored.timestamp));
            }
            // What was returned is what was stored.
            let dests = s.list_destinations(&r.app, &stored.id, &asc(10)).await.unwrap();
            let stored_ids: Vec<String> = dests.data.iter().map(|(e, _)| e.id.clone()).collect();
            assert_eq!(stored_ids, want, "case {i}: stored deliveries");
            for (_, d) in &dests.data {
                assert!(deliveries.contains(d));
            }
        }
    }

    async fn only_endpoint_overrides_routing(cx) {
        let s = &*cx.store;
        let r = routing(s).await;
        let mut m = msg("b");
        m.only_endpoint = Some(r.only_a.clone());
        let (_, d) = s.create_message(&r.app, m).await.unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].endpoint_id, r.only_a);
        // A disabled endpoint gets nothing, even when named.
        let mut m = msg("a");
        m.only_endpoint = Some(r.disabled.clone());
        let (stored, d) = s.create_message(&r.app, m).await.unwrap();
        assert!(d.is_empty());
        assert!(s.list_destinations(&r.app, &stored.id, &asc(10)).await.unwrap().data.is_empty());
        assert!(s.get_message(&r.app, &stored.id).await.unwrap().is_some(), "the message is stored");
    }

    async fn event_id_is_unique_per_app_and_atomic(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let b = s.create_app(app(&org.id, None)).await.unwrap();
        s.create_endpoint(endpoint(&a.id)).await.unwrap();
        let mut m = held("a");
        m.event_id = Some("evt-1".into());
        let (first, _) = s.create_message(&a.id, m.clone()).await.unwrap();
        let err = s.create_message(&a.id, m.clone()).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(Conflict::EventId)), "{err:?}");
        // Nothing of the refused message was kept.
        let listed = s.list_messages(&a.id, &asc(10), &MessageFilter::default()).await.unwrap();
        assert_eq!(listed.data.len(), 1);
        assert_eq!(s.queued_deliveries(Timestamp::now()).await.unwrap().len(), 1);
        // Another application may use the same eventId.
        let (other, _) = s.create_message(&b.id, m).await.unwrap();
        assert_eq!(s.get_message(&a.id, "evt-1").await.unwrap().unwrap().id, first.id);
        assert_eq!(s.get_message(&b.id, "evt-1").await.unwrap().unwrap().id, other.id);
        // Messages without eventId never conflict.
        s.create_message(&a.id, held("a")).await.unwrap();
        s.create_message(&a.id, held("a")).await.unwrap();
    }

    async fn get_by_id_and_event_id_keeps_the_payload_verbatim(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let b = s.create_app(app(&org.id, None)).await.unwrap();
        // Key order, duplicate keys, spacing, number spelling and escapes
        // must survive byte for byte (a JSON column type would not keep them).
        let payload = "{ \"z\":1,\"a\" : [1.0, 2e3, -0, 1.50],\"dup\":1,\"dup\":2,\"s\":\"\\u00e9\\n\\u0000\",\"é\":null }";
        let mut m = msg("user.created");
        m.payload = RawValue::from_string(payload.into()).unwrap();
        m.event_id = Some("evt_42".into());
        m.channels = Some(strings(&["b", "a"]));
        m.tags = Some(strings(&["t1"]));
        let (stored, _) = s.create_message(&a.id, m).await.unwrap();
        assert!(stored.id.starts_with("msg_"));
        assert_eq!(stored.payload.get(), payload);
        for key in [stored.id.as_str(), "evt_42"] {
            let got = s.get_message(&a.id, key).await.unwrap().unwrap();
            assert_eq!(got.id, stored.id);
            assert_eq!(got.app_id, a.id);
            assert_eq!(got.payload.get(), payload);
            assert_eq!(got.event_type, "user.created");
            assert_eq!(got.event_id.as_deref(), Some("evt_42"));
            assert_eq!(got.channels, Some(strings(&["b", "a"])));
            assert_eq!(got.tags, Some(strings(&["t1"])));
            assert_eq!(got.timestamp, stored.timestamp);
        }
        assert!(s.get_message(&b.id, &stored.id).await.unwrap().is_none(), "scoped by app");
        assert!(s.get_message(&b.id, "evt_42").await.unwrap().is_none());
        let by_id = s.get_message_by_id(&stored.id).await.unwrap().unwrap();
        assert_eq!(by_id.payload.get(), payload);
        assert!(s.get_message_by_id("msg_nope").await.unwrap().is_none());
    }

    async fn list_filters_and_paginates(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let b = s.create_app(app(&org.id, None)).await.unwrap();
        let specs: [(&str, Option<&[&str]>); 6] = [
            ("a", None),
            ("b", Some(&["x"])),
            ("a", Some(&["y", "x"])),
            ("c", Some(&["y"])),
            ("b", None),
            ("a", Some(&["xx"])),
        ];
        let mut made = Vec::new();
        for (et, ch) in specs {
            let mut m = msg(et);
            m.channels = ch.map(strings);
            made.push(s.create_message(&a.id, m).await.unwrap().0);
            s.create_message(&b.id, msg(et)).await.unwrap();
            tick().await;
        }
        let ids = |idx: &[usize]| idx.iter().map(|&i| made[i].id.clone()).collect::<Vec<_>>();
        let list = |f: MessageFilter| {
            let app = a.id.clone();
            async move {
                s.list_messages(&app, &asc(100), &f).await.unwrap()
                    .data.into_iter().map(|m| m.id).collect::<Vec<_>>()
            }
        };
        assert_eq!(list(MessageFilter::default()).await, ids(&[0, 1, 2, 3, 4, 5]));
        let f = MessageFilter { event_types: Some(strings(&["a", "c"])), ..Default::default() };
        assert_eq!(list(f).await, ids(&[0, 2, 3, 5]));
        let f = MessageFilter { event_types: Some(vec![]), ..Default::default() };
        assert_eq!(list(f).await, ids(&[0, 1, 2, 3, 4, 5]), "an empty type list filters nothing");
        let f = MessageFilter { channel: Some("x".into()), ..Default::default() };
        assert_eq!(list(f).await, ids(&[1, 2]), "whole channel names only");
        let f = MessageFilter {
            channel: Some("y".into()),
            event_types: Some(strings(&["a"])),
            ..Default::default()
        };
        assert_eq!(list(f).await, ids(&[2]));
        let f = MessageFilter { after: Some(made[1].timestamp), ..Default::default() };
        assert_eq!(list(f).await, ids(&[2, 3, 4, 5]), "after is exclusive");
        let f = MessageFilter { before: Some(made[4].timestamp), ..Default::default() };
        assert_eq!(list(f).await, ids(&[0, 1, 2, 3]), "before is exclusive");
        let f = MessageFilter {
            after: Some(made[0].timestamp),
            before: Some(made[5].timestamp),
            event_types: Some(strings(&["b"])),
            ..Default::default()
        };
        assert_eq!(list(f).await, ids(&[1, 4]));

        let want = ids(&[0, 1, 2, 3, 4, 5]);
        let app_id = &a.id;
        check_pagination(&want, move |q| async move {
            s.list_messages(app_id, &q, &MessageFilter::default()).await.unwrap().map(|m| m.id)
        })
        .await;
        // Filters and pagination together.
        let typed = ids(&[0, 2, 3, 5]);
        check_pagination(&typed, move |q| async move {
            let f = MessageFilter { event_types: Some(strings(&["a", "c"])), ..Default::default() };
            s.list_messages(app_id, &q, &f).await.unwrap().map(|m| m.id)
        })
        .await;
    }

    async fn destinations_list_paginates(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let b = s.create_app(app(&org.id, None)).await.unwrap();
        let mut eps = Vec::new();
        for _ in 0..4 {
            eps.push(s.create_endpoint(endpoint(&a.id)).await.unwrap().id);
        }
        let (m, _) = s.create_message(&a.id, msg("a")).await.unwrap();
        s.record_attempt(attempt(&a.id, &m.id, &eps[1], 200, Timestamp::now(), NextStep::Success))
            .await
            .unwrap();
        let page = s.list_destinations(&a.id, &m.id, &asc(10)).await.unwrap();
        assert_eq!(page.data.len(), 4);
        let (e, d) = &page.data[1];
        assert_eq!(e.id, eps[1]);
        assert_eq!(*e, s.get_endpoint_by_id(&eps[1]).await.unwrap().unwrap());
        assert_eq!(d.status, DeliveryStatus::Success);
        assert_eq!(d.attempts, 1);
        assert_eq!(d.next_attempt_at, None);
        assert!(s.list_destinations(&b.id, &m.id, &asc(10)).await.unwrap().data.is_empty());
        let (app_id, msg_id) = (&a.id, &m.id);
        check_pagination(&eps, move |q| async move {
            s.list_destinations(app_id, msg_id, &q).await.unwrap().map(|(e, _)| e.id)
        })
        .await;
    }

    async fn endpoint_messages_filter_and_paginate(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let ep = s.create_endpoint(endpoint(&a.id)).await.unwrap();
        let mut only_b = endpoint(&a.id);
        only_b.filter_types = Some(strings(&["b"]));
        let only_b = s.create_endpoint(only_b).await.unwrap();
        let mut made = Vec::new();
        for (i, et) in ["a", "b", "a", "b", "c"].iter().enumerate() {
            let mut m = msg(et);
            if i % 2 == 0 {
                m.channels = Some(strings(&["even"]));
            }
            made.push(s.create_message(&a.id, m).await.unwrap().0);
            tick().await;
        }
        let now = Timestamp::now();
        s.record_attempts(vec![
            attempt(&a.id, &made[0].id, &ep.id, 200, now, NextStep::Success),
            attempt(&a.id, &made[1].id, &ep.id, 500, now, NextStep::Fail),
            attempt(&a.id, &made[3].id, &ep.id, 200, now, NextStep::Success),
        ])
        .await
        .unwrap();
        let ids = |idx: &[usize]| idx.iter().map(|&i| made[i].id.clone()).collect::<Vec<_>>();
        let list = |endpoint: String, f: AttemptFilter| {
            let app = a.id.clone();
            async move {
                s.list_endpoint_messages(&app, &endpoint, &asc(100), &f).await.unwrap()
                    .data.into_iter().map(|(m, d)| {
                        assert_eq!(m.id, d.msg_id);
                        assert_eq!(d.endpoint_id, endpoint);
                        m.id
                    }).collect::<Vec<_>>()
            }
        };
        assert_eq!(list(ep.id.clone(), AttemptFilter::default()).await, ids(&[0, 1, 2, 3, 4]));
        assert_eq!(list(only_b.id.clone(), AttemptFilter::default()).await, ids(&[1, 3]));
        let f = AttemptFilter { status: Some(DeliveryStatus::Success), ..Default::default() };
        assert_eq!(list(ep.id.clone(), f).await, ids(&[0, 3]));
        let f = AttemptFilter { status: Some(DeliveryStatus::Pending), ..Default::default() };
        assert_eq!(list(ep.id.clone(), f).await, ids(&[2, 4]));
        let f = AttemptFilter { status: Some(DeliveryStatus::Fail), ..Default::default() };
        assert_eq!(list(ep.id.clone(), f).await, ids(&[1]));
        let by_msg = |msg: MessageFilter| AttemptFilter { msg, ..Default::default() };
        let f = by_msg(MessageFilter { event_types: Some(strings(&["a", "c"])), ..Default::default() });
        assert_eq!(list(ep.id.clone(), f).await, ids(&[0, 2, 4]));
        let f = by_msg(MessageFilter { channel: Some("even".into()), ..Default::default() });
        assert_eq!(list(ep.id.clone(), f).await, ids(&[0, 2, 4]));
        let f = by_msg(MessageFilter {
            after: Some(made[0].timestamp),
            before: Some(made[4].timestamp),
            ..Default::default()
        });
        assert_eq!(list(ep.id.clone(), f).await, ids(&[1, 2, 3]));

        let page = s.list_endpoint_messages(&a.id, &ep.id, &asc(1), &AttemptFilter::default()).await.unwrap();
        let (m, d) = &page.data[0];
        assert_eq!(m.payload.get(), made[0].payload.get());
        assert_eq!(d.status, DeliveryStatus::Success);
        assert_eq!(d.attempts, 1);

        let want = ids(&[0, 1, 2, 3, 4]);
        let (app_id, ep_id) = (&a.id, &ep.id);
        check_pagination(&want, move |q| async move {
            s.list_endpoint_messages(app_id, ep_id, &q, &AttemptFilter::default())
                .await
                .unwrap()
                .map(|(m, _)| m.id)
        })
        .await;
    }
}
