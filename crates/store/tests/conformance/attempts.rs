//! Recording attempts and their effects on deliveries and endpoints, and the
//! attempt listings.

use hookd_core::model::{DeliveryStatus, TriggerType};
use hookd_core::store::{
    AttemptEffects, AttemptFilter, DisableReason, MessageFilter, NextStep, Store,
};
use hookd_core::time::Timestamp;

use crate::support::*;

struct Setup {
    app: String,
    ep: String,
    msg: String,
}

async fn setup(s: &dyn Store) -> Setup {
    let org = s.ensure_org("acme").await.unwrap();
    let app = s.create_app(app(&org.id, None)).await.unwrap().id;
    let ep = s.create_endpoint(endpoint(&app)).await.unwrap().id;
    let (m, _) = s.create_message(&app, held("a")).await.unwrap();
    Setup { app, ep, msg: m.id }
}

async fn delivery(s: &dyn Store, x: &Setup) -> hookd_core::model::Delivery {
    let page = s.list_destinations(&x.app, &x.msg, &asc(10)).await.unwrap();
    page.data.into_iter().find(|(e, _)| e.id == x.ep).unwrap().1
}

conformance! {
    async fn success_is_stored_with_every_field(cx) {
        let s = &*cx.store;
        let x = setup(s).await;
        let at = Timestamp::now();
        let mut r = attempt(&x.app, &x.msg, &x.ep, 204, at, NextStep::Success);
        // A response body may hold anything, U+0000 included.
        r.attempt.response = "ok \u{0} ünï 🦀".into();
        r.attempt.trigger_type = TriggerType::Manual;
        r.attempt.response_duration_ms = 1234;
        r.attempt.error_class = None;
        let id = r.attempt.id.clone();
        let effects = s.record_attempt(r).await.unwrap();
        assert_eq!(effects, AttemptEffects { attempts: 1, ..Default::default() });

        let got = s.get_attempt(&x.app, &x.msg, &id).await.unwrap().unwrap();
        assert_eq!(got.id, id);
        assert_eq!(got.msg_id, x.msg);
        assert_eq!(got.endpoint_id, x.ep);
        assert_eq!(got.url, "https://receiver.example/hook");
        assert_eq!(got.response, "ok \u{0} ünï 🦀");
        assert_eq!(got.response_status_code, 204);
        assert_eq!(got.response_duration_ms, 1234);
        assert_eq!(got.status, DeliveryStatus::Success);
        assert_eq!(got.trigger_type, TriggerType::Manual);
        assert_eq!(got.error_class, None);
        assert_eq!(got.timestamp, at);
        assert!(got.msg.is_none());

        let d = delivery(s, &x).await;
        assert_eq!(d.status, DeliveryStatus::Success);
        assert_eq!(d.attempts, 1);
        assert_eq!(d.next_attempt_at, None);
        assert!(s.queued_deliveries(Timestamp::now()).await.unwrap().is_empty());

        // Scoped by application and message.
        let org = s.ensure_org("acme").await.unwrap();
        let other = s.create_app(app(&org.id, None)).await.unwrap();
        assert!(s.get_attempt(&other.id, &x.msg, &id).await.unwrap().is_none());
        assert!(s.get_attempt(&x.app, "msg_other", &id).await.unwrap().is_none());
    }

    async fn retries_track_failing_since_until_a_success(cx) {
        let s = &*cx.store;
        let x = setup(s).await;
        let t0 = Timestamp(Timestamp::now().0 - 60_000);
        let mut r = attempt(&x.app, &x.msg, &x.ep, 0, t0, NextStep::Retry(Timestamp(t0.0 + 5_000)));
        r.attempt.error_class = Some("timeout".into());
        let id = r.attempt.id.clone();
        let e = s.record_attempt(r).await.unwrap();
        assert_eq!(e, AttemptEffects { attempts: 1, failing_since: Some(t0), ..Default::default() });
        let d = delivery(s, &x).await;
        assert_eq!(d.status, DeliveryStatus::Pending);
        assert_eq!(d.next_attempt_at, Some(Timestamp(t0.0 + 5_000)));
        let got = s.get_attempt(&x.app, &x.msg, &id).await.unwrap().unwrap();
        assert_eq!(got.status, DeliveryStatus::Fail);
        assert_eq!(got.error_class.as_deref(), Some("timeout"));
        let q = s.queued_deliveries(Timestamp::now()).await.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].due, Timestamp(t0.0 + 5_000));
        assert_eq!(q[0].attempts, 1);
        assert!(!q[0].manual);

        // A later failure keeps the start of the run.
        let t1 = Timestamp(t0.0 + 5_000);
        let e = s
            .record_attempt(attempt(&x.app, &x.msg, &x.ep, 503, t1, NextStep::Retry(Timestamp(t1.0 + 300_000))))
            .await
            .unwrap();
        assert_eq!(e, AttemptEffects { attempts: 2, failing_since: Some(t0), ..Default::default() });

        // A success ends the run; the next failure starts a new one.
        let (m2, _) = s.create_message(&x.app, held("a")).await.unwrap();
        let e = s
            .record_attempt(attempt(&x.app, &m2.id, &x.ep, 200, Timestamp(t1.0 + 1), NextStep::Success))
            .await
            .unwrap();
        assert_eq!(e, AttemptEffects { attempts: 1, ..Default::default() });
        let t2 = Timestamp(t1.0 + 10);
        let e = s
            .record_attempt(attempt(&x.app, &x.msg, &x.ep, 500, t2, NextStep::Fail))
            .await
            .unwrap();
        assert_eq!(e, AttemptEffects { attempts: 3, failing_since: Some(t2), ..Default::default() });
        let d = delivery(s, &x).await;
        assert_eq!(d.status, DeliveryStatus::Fail);
        assert_eq!(d.next_attempt_at, None);
        assert_eq!(d.attempts, 3);
    }

    async fn auto_disable_after_a_long_failing_run(cx) {
        let s = &*cx.store;
        let x = setup(s).await;
        let day = 24 * 3600 * 1000;
        let t0 = Timestamp(1_700_000_000_000);
        let mut r = attempt(&x.app, &x.msg, &x.ep, 500, t0, NextStep::Retry(Timestamp(t0.0 + 1)));
        r.disable_after_ms = 5 * day;
        assert_eq!(s.record_attempt(r).await.unwrap().disabled, None);
        // Just short of the limit: still enabled.
        let mut r = attempt(&x.app, &x.msg, &x.ep, 500, Timestamp(t0.0 + 5 * day - 1), NextStep::Retry(t0));
        r.disable_after_ms = 5 * day;
        assert_eq!(s.record_attempt(r).await.unwrap().disabled, None);
        assert!(!s.get_endpoint_by_id(&x.ep).await.unwrap().unwrap().disabled);
        // At the limit: disabled, once.
        let at = Timestamp(t0.0 + 5 * day);
        let mut r = attempt(&x.app, &x.msg, &x.ep, 500, at, NextStep::Retry(t0));
        r.disable_after_ms = 5 * day;
        let e = s.record_attempt(r).await.unwrap();
        assert_eq!(
            e,
            AttemptEffects {
                disabled: Some(DisableReason::Failing),
                failing_since: Some(t0),
                attempts: 3,
                gone: false
            }
        );
        let ep = s.get_endpoint_by_id(&x.ep).await.unwrap().unwrap();
        assert!(ep.disabled);
        assert_eq!(ep.updated_at, at);
        let mut r = attempt(&x.app, &x.msg, &x.ep, 500, Timestamp(at.0 + 1), NextStep::Fail);
        r.disable_after_ms = 5 * day;
        assert_eq!(s.record_attempt(r).await.unwrap().disabled, None, "already disabled");
        // A disabled endpoint receives no new messages.
        let (_, d) = s.create_message(&x.app, msg("a")).await.unwrap();
        assert!(d.is_empty());
    }

    async fn gone_410_disables_at_once(cx) {
        let s = &*cx.store;
        let x = setup(s).await;
        let at = Timestamp::now();
        let e = s
            .record_attempt(attempt(&x.app, &x.msg, &x.ep, 410, at, NextStep::FailAndDisable))
            .await
            .unwrap();
        assert_eq!(
            e,
            AttemptEffects {
                disabled: Some(DisableReason::Gone),
                failing_since: Some(at),
                attempts: 1,
                gone: false
            }
        );
        assert_eq!(delivery(s, &x).await.status, DeliveryStatus::Fail);
        assert!(s.get_endpoint_by_id(&x.ep).await.unwrap().unwrap().disabled);
    }

    async fn an_attempt_on_a_deleted_delivery_is_gone(cx) {
        let s = &*cx.store;
        let x = setup(s).await;
        let ep2 = s.create_endpoint(endpoint(&x.app)).await.unwrap().id;
        let (m2, _) = s.create_message(&x.app, msg("a")).await.unwrap();
        s.delete_endpoint(&x.app, &x.ep).await.unwrap();
        let now = Timestamp::now();
        let batch = vec![
            attempt(&x.app, &m2.id, &ep2, 200, now, NextStep::Success),
            attempt(&x.app, &x.msg, &x.ep, 500, now, NextStep::Retry(now)),
            attempt(&x.app, &m2.id, &ep2, 500, now, NextStep::Retry(now)),
        ];
        let gone_id = batch[1].attempt.id.clone();
        let effects = s.record_attempts(batch).await.unwrap();
        assert_eq!(
            effects,
            vec![
                AttemptEffects { attempts: 1, ..Default::default() },
                AttemptEffects { gone: true, ..Default::default() },
                AttemptEffects { attempts: 2, failing_since: Some(now), ..Default::default() },
            ],
            "effects come back in batch order"
        );
        assert!(s.get_attempt(&x.app, &x.msg, &gone_id).await.unwrap().is_none());
        assert_eq!(cx.count(&format!("SELECT COUNT(*) FROM attempts WHERE endpoint_id = '{}'", x.ep)).await, 0);
        assert!(s.record_attempts(vec![]).await.unwrap().is_empty());
    }

    async fn listings_filter_and_paginate(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let e1 = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let e2 = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let mut m = msg("order.created");
        m.channels = Some(strings(&["eu"]));
        let (m1, _) = s.create_message(&a.id, m).await.unwrap();
        let (m2, _) = s.create_message(&a.id, msg("order.deleted")).await.unwrap();
        let t = Timestamp(1_800_000_000_000);
        // (message, endpoint, status code, next, time offset)
        let plan = [
            (&m1, &e1, 0, NextStep::Retry(t), 0),
            (&m1, &e1, 503, NextStep::Retry(t), 10),
            (&m1, &e1, 200, NextStep::Success, 20),
            (&m1, &e2, 302, NextStep::Retry(t), 30),
            (&m1, &e2, 404, NextStep::Fail, 40),
            (&m2, &e1, 201, NextStep::Success, 50),
            (&m2, &e2, 500, NextStep::Retry(t), 60),
        ];
        let mut ids = Vec::new();
        for (m, e, code, next, dt) in plan {
            let r = attempt(&a.id, &m.id, e, code, Timestamp(t.0 + dt), next);
            ids.push(r.attempt.id.clone());
            s.record_attempt(r).await.unwrap();
        }
        let pick = |idx: &[usize]| idx.iter().map(|&i| ids[i].clone()).collect::<Vec<_>>();
        let by_ep = |ep: String, f: AttemptFilter| {
            let app = a.id.clone();
            async move {
                s.list_attempts_by_endpoint(&app, &ep, &asc(100), &f).await.unwrap()
                    .data.into_iter().map(|a| a.id).collect::<Vec<_>>()
            }
        };
        let by_msg = |m: String, f: AttemptFilter| {
            let app = a.id.clone();
            async move {
                s.list_attempts_by_message(&app, &m, &asc(100), &f).await.unwrap()
                    .data.into_iter().map(|a| a.id).collect::<Vec<_>>()
            }
        };
        let none = AttemptFilter::default;
        assert_eq!(by_ep(e1.clone(), none()).await, pick(&[0, 1, 2, 5]));
        assert_eq!(by_ep(e2.clone(), none()).await, pick(&[3, 4, 6]));
        assert_eq!(by_msg(m1.id.clone(), none()).await, pick(&[0, 1, 2, 3, 4]));
        assert_eq!(by_msg(m2.id.clone(), none()).await, pick(&[5, 6]));

        let f = AttemptFilter { status: Some(DeliveryStatus::Success), ..none() };
        assert_eq!(by_ep(e1.clone(), f).await, pick(&[2, 5]));
        let f = AttemptFilter { status: Some(DeliveryStatus::Fail), ..none() };
        assert_eq!(by_msg(m1.id.clone(), f).await, pick(&[0, 1, 3, 4]));
        for (class, want) in [(0, vec![0]), (200, vec![2, 5]), (300, vec![3]), (400, vec![4]), (500, vec![1, 6]), (100, vec![])] {
            let f = AttemptFilter { status_code_class: Some(class), ..none() };
            let mut got = by_ep(e1.clone(), f.clone()).await;
            got.extend(by_ep(e2.clone(), f).await);
            got.sort();
            assert_eq!(got, pick(&want), "class {class}");
        }
        let f = AttemptFilter { endpoint_id: Some(e2.clone()), ..none() };
        assert_eq!(by_msg(m1.id.clone(), f).await, pick(&[3, 4]));
        let f = AttemptFilter { msg: MessageFilter { event_types: Some(strings(&["order.deleted"])), ..Default::default() }, ..none() };
        assert_eq!(by_ep(e1.clone(), f).await, pick(&[5]));
        let f = AttemptFilter { msg: MessageFilter { channel: Some("eu".into()), ..Default::default() }, ..none() };
        assert_eq!(by_ep(e1.clone(), f).await, pick(&[0, 1, 2]));
        let f = AttemptFilter {
            msg: MessageFilter {
                after: Some(Timestamp(t.0 + 10)),
                before: Some(Timestamp(t.0 + 50)),
                ..Default::default()
            },
            ..none()
        };
        assert_eq!(by_ep(e1.clone(), f).await, pick(&[2]), "bounds are exclusive");

        // with_msg attaches the message to each attempt.
        let f = AttemptFilter { with_msg: true, ..none() };
        let page = s.list_attempts_by_endpoint(&a.id, &e1, &asc(100), &f).await.unwrap();
        let attached: Vec<String> = page.data.iter().map(|a| a.msg.as_ref().unwrap().id.clone()).collect();
        assert_eq!(attached, vec![m1.id.clone(), m1.id.clone(), m1.id.clone(), m2.id.clone()]);
        assert_eq!(page.data[0].msg.as_ref().unwrap().payload.get(), m1.payload.get());
        let page = s.list_attempts_by_message(&a.id, &m2.id, &asc(100), &f).await.unwrap();
        assert!(page.data.iter().all(|a| a.msg.as_ref().unwrap().id == m2.id));
        let page = s.list_attempts_by_message(&a.id, &m2.id, &asc(100), &none()).await.unwrap();
        assert!(page.data.iter().all(|a| a.msg.is_none()));

        // Scoped by application.
        let other = s.create_app(app(&org.id, None)).await.unwrap();
        assert!(s.list_attempts_by_endpoint(&other.id, &e1, &asc(100), &none()).await.unwrap().data.is_empty());
        assert!(s.list_attempts_by_message(&other.id, &m1.id, &asc(100), &none()).await.unwrap().data.is_empty());

        let (app_id, ep, mid) = (&a.id, &e1, &m1.id);
        check_pagination(&pick(&[0, 1, 2, 5]), move |q| async move {
            s.list_attempts_by_endpoint(app_id, ep, &q, &AttemptFilter::default()).await.unwrap().map(|a| a.id)
        })
        .await;
        check_pagination(&pick(&[0, 1, 2, 3, 4]), move |q| async move {
            let f = AttemptFilter { with_msg: true, ..AttemptFilter::default() };
            s.list_attempts_by_message(app_id, mid, &q, &f).await.unwrap().map(|a| a.id)
        })
        .await;
    }

    async fn health_counts_the_hour_and_the_day_and_buckets_attempts(cx) {
        let s = &*cx.store;
        let x = setup(s).await;
        let now = Timestamp::now();
        let hour = 3_600_000;
        let at = |ago: i64| Timestamp(now.0 - ago);
        for (ago, code, next) in [
            (10 * 60_000, 200, NextStep::Success),
            (20 * 60_000, 500, NextStep::Retry(now)),
            (5 * hour, 200, NextStep::Success),
            (6 * hour, 0, NextStep::Retry(now)),
            (30 * hour, 500, NextStep::Retry(now)),
        ] {
            s.record_attempt(attempt(&x.app, &x.msg, &x.ep, code, at(ago), next)).await.unwrap();
        }
        let health = s.endpoint_health(&x.app, now).await.unwrap();
        let h = health.iter().find(|h| h.endpoint_id == x.ep).unwrap();
        assert_eq!(h.hour, (1, 1));
        assert_eq!(h.day, (2, 2), "the 30-hour-old attempt is outside the day");
        assert_eq!(h.last_failure, Some(at(20 * 60_000)));
        assert_eq!(h.last_failure_status, Some(500));

        let b = s.attempt_buckets(&x.app, None, at(24 * hour), now, hour).await.unwrap();
        assert_eq!(b.len(), 24);
        assert_eq!(b.iter().map(|b| b.succeeded).sum::<i64>(), 2);
        assert_eq!(b.iter().map(|b| b.failed).sum::<i64>(), 2);
        assert_eq!((b[23].succeeded, b[23].failed), (1, 1), "the last hour");
        let other = s.attempt_buckets(&x.app, Some("ep_other"), at(24 * hour), now, hour).await.unwrap();
        assert!(other.iter().all(|b| b.succeeded == 0 && b.failed == 0));
    }
}
