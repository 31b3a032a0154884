//! The delivery queue: what the engine resumes at start, giving up,
//! requeueing, failed-message windows, endpoint statistics, and work
//! sharing between nodes (claims, ownership at ingest, heartbeats).

use std::collections::HashSet;

use hookd_core::model::{DeliveryStatus, Endpoint};
use hookd_core::store::{EndpointStats, NewMessage, NextStep, QueuedDelivery};
use hookd_core::time::Timestamp;

use crate::support::*;

conformance! {
    async fn queued_deliveries_are_due_in_order(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let e1 = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let e2 = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let (m1, _) = s.create_message(&a.id, held("a")).await.unwrap();
        tick().await;
        let (m2, _) = s.create_message(&a.id, held("a")).await.unwrap();
        let far = Timestamp(m2.timestamp.0 + 3_600_000);
        let near = Timestamp(m2.timestamp.0 + 60_000);
        s.record_attempts(vec![
            attempt(&a.id, &m1.id, &e1, 500, Timestamp::now(), NextStep::Retry(far)),
            attempt(&a.id, &m1.id, &e2, 200, Timestamp::now(), NextStep::Success),
            attempt(&a.id, &m2.id, &e1, 500, Timestamp::now(), NextStep::Retry(near)),
            attempt(&a.id, &m2.id, &e2, 500, Timestamp::now(), NextStep::Fail),
        ])
        .await
        .unwrap();
        let (m3, _) = s.create_message(&a.id, held("a")).await.unwrap();
        let now = Timestamp(m3.timestamp.0 + 10);
        let q = s.queued_deliveries(now).await.unwrap();
        let got: Vec<(String, String, i64, Timestamp)> = q
            .iter()
            .map(|d| (d.msg_id.clone(), d.endpoint_id.clone(), d.attempts, d.due))
            .collect();
        assert_eq!(
            got,
            vec![
                (m3.id.clone(), e1.clone(), 0, m3.timestamp),
                (m3.id.clone(), e2.clone(), 0, m3.timestamp),
                (m2.id.clone(), e1.clone(), 1, near),
                (m1.id.clone(), e1.clone(), 1, far),
            ]
        );
        assert!(q.iter().all(|d| d.app_id == a.id && !d.manual));
        let dests = s.list_destinations(&a.id, &m3.id, &asc(10)).await.unwrap();
        assert!(dests.data.iter().all(|(_, d)| d.status == DeliveryStatus::Pending));
    }

    async fn fail_delivery_only_gives_up_on_queued_ones(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let ep = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let (m1, _) = s.create_message(&a.id, msg("a")).await.unwrap();
        let (m2, _) = s.create_message(&a.id, msg("a")).await.unwrap();
        s.record_attempt(attempt(&a.id, &m2.id, &ep, 200, Timestamp::now(), NextStep::Success))
            .await
            .unwrap();
        s.fail_delivery(&m1.id, &ep).await.unwrap();
        s.fail_delivery(&m2.id, &ep).await.unwrap();
        s.fail_delivery("msg_missing", &ep).await.unwrap();
        let status = |m: String| {
            let app = a.id.clone();
            async move {
                let page = s.list_destinations(&app, &m, &asc(10)).await.unwrap();
                let (_, d) = page.data.into_iter().next().unwrap();
                (d.status, d.next_attempt_at, d.attempts)
            }
        };
        assert_eq!(status(m1.id.clone()).await, (DeliveryStatus::Fail, None, 0));
        assert_eq!(status(m2.id.clone()).await.0, DeliveryStatus::Success, "a finished delivery stays");
        assert!(s.queued_deliveries(Timestamp::now()).await.unwrap().is_empty());
    }

    async fn requeue_creates_or_resets_manual_deliveries(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let b = s.create_app(app(&org.id, None)).await.unwrap();
        let mut e = endpoint(&a.id);
        e.filter_types = Some(strings(&["only.this"]));
        let ep = s.create_endpoint(e).await.unwrap().id;
        let (routed, d) = s.create_message(&a.id, held("only.this")).await.unwrap();
        assert_eq!(d.len(), 1);
        let (unrouted, d) = s.create_message(&a.id, held("other")).await.unwrap();
        assert!(d.is_empty());
        let (foreign, _) = s.create_message(&b.id, held("only.this")).await.unwrap();
        s.record_attempt(attempt(&a.id, &routed.id, &ep, 500, Timestamp::now(), NextStep::Fail))
            .await
            .unwrap();

        let now = Timestamp(Timestamp::now().0 + 1_000);
        let ids = vec![
            routed.id.clone(),
            unrouted.id.clone(),
            foreign.id.clone(),
            "msg_missing".to_string(),
        ];
        let out = s.requeue(&a.id, &ep, &ids, now, Some("node-1")).await.unwrap();
        let want = |m: &str| QueuedDelivery {
            msg_id: m.to_string(),
            endpoint_id: ep.clone(),
            app_id: a.id.clone(),
            attempts: 0,
            due: now,
            manual: true,
        };
        assert_eq!(out, vec![want(&routed.id), want(&unrouted.id)], "foreign and missing are skipped");
        for m in [&routed, &unrouted] {
            let page = s.list_destinations(&a.id, &m.id, &asc(10)).await.unwrap();
            let (_, d) = &page.data[0];
            assert_eq!((d.status, d.attempts, d.next_attempt_at), (DeliveryStatus::Pending, 0, Some(now)));
        }
        assert!(s.list_destinations(&b.id, &foreign.id, &asc(10)).await.unwrap().data.iter().all(|(e, _)| e.id != ep));
        let queued = s.queued_deliveries(Timestamp(now.0 - 1)).await.unwrap();
        let manual: Vec<(String, bool)> = queued.iter().map(|q| (q.msg_id.clone(), q.manual)).collect();
        assert!(manual.contains(&(routed.id.clone(), true)));
        assert!(manual.contains(&(unrouted.id.clone(), true)));
        // An attempt clears the manual flag.
        s.record_attempt(attempt(&a.id, &routed.id, &ep, 500, now, NextStep::Retry(now)))
            .await
            .unwrap();
        let queued = s.queued_deliveries(now).await.unwrap();
        let q = queued.iter().find(|q| q.msg_id == routed.id).unwrap();
        assert!(!q.manual);
        assert_eq!(q.attempts, 1);
    }

    async fn failed_message_ids_in_a_window(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let ep = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let other = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let mut ms = Vec::new();
        for _ in 0..4 {
            ms.push(s.create_message(&a.id, msg("a")).await.unwrap().0);
            tick().await;
        }
        let now = Timestamp::now();
        s.record_attempts(vec![
            attempt(&a.id, &ms[0].id, &ep, 500, now, NextStep::Fail),
            attempt(&a.id, &ms[1].id, &ep, 200, now, NextStep::Success),
            attempt(&a.id, &ms[2].id, &ep, 410, now, NextStep::Fail),
            attempt(&a.id, &ms[3].id, &ep, 500, now, NextStep::Fail),
            attempt(&a.id, &ms[1].id, &other, 500, now, NextStep::Fail),
        ])
        .await
        .unwrap();
        let ids = |idx: &[usize]| idx.iter().map(|&i| ms[i].id.clone()).collect::<Vec<_>>();
        let window = |since: Timestamp, until: Timestamp| {
            let (app, ep) = (a.id.clone(), ep.clone());
            async move { s.failed_message_ids(&app, &ep, since, until).await.unwrap() }
        };
        let end = Timestamp(now.0 + 1);
        assert_eq!(window(Timestamp(0), end).await, ids(&[0, 2, 3]));
        assert_eq!(window(ms[0].timestamp, ms[3].timestamp).await, ids(&[0, 2]), "since inclusive, until exclusive");
        assert_eq!(window(ms[1].timestamp, end).await, ids(&[2, 3]));
        assert!(window(end, Timestamp(end.0 + 1000)).await.is_empty());
        let org2 = s.ensure_org("globex").await.unwrap();
        let b = s.create_app(app(&org2.id, None)).await.unwrap();
        assert!(s.failed_message_ids(&b.id, &ep, Timestamp(0), end).await.unwrap().is_empty());
    }

    async fn endpoint_stats_count_by_status(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let ep = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let other = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let mut ms = Vec::new();
        for _ in 0..6 {
            ms.push(s.create_message(&a.id, msg("a")).await.unwrap().0);
            tick().await;
        }
        let now = Timestamp::now();
        s.record_attempts(vec![
            attempt(&a.id, &ms[0].id, &ep, 200, now, NextStep::Success),
            attempt(&a.id, &ms[1].id, &ep, 200, now, NextStep::Success),
            attempt(&a.id, &ms[2].id, &ep, 500, now, NextStep::Fail),
            attempt(&a.id, &ms[3].id, &ep, 500, now, NextStep::Retry(now)),
        ])
        .await
        .unwrap();
        assert_eq!(
            s.endpoint_stats(&a.id, &ep, None, None).await.unwrap(),
            EndpointStats { success: 2, pending: 3, fail: 1, canceled: 0 }
        );
        assert_eq!(
            s.endpoint_stats(&a.id, &other, None, None).await.unwrap(),
            EndpointStats { success: 0, pending: 6, fail: 0, canceled: 0 }
        );
        // Windows on the delivery's creation time: since inclusive, until exclusive.
        assert_eq!(
            s.endpoint_stats(&a.id, &ep, Some(ms[2].timestamp), Some(ms[5].timestamp)).await.unwrap(),
            EndpointStats { success: 0, pending: 2, fail: 1, canceled: 0 }
        );
        assert_eq!(
            s.endpoint_stats(&a.id, &ep, Some(ms[5].timestamp), None).await.unwrap(),
            EndpointStats { success: 0, pending: 1, fail: 0, canceled: 0 }
        );
        assert_eq!(
            s.endpoint_stats(&a.id, &ep, None, Some(ms[1].timestamp)).await.unwrap(),
            EndpointStats { success: 1, pending: 0, fail: 0, canceled: 0 }
        );
        let b = s.create_app(app(&org.id, None)).await.unwrap();
        assert_eq!(s.endpoint_stats(&b.id, &ep, None, None).await.unwrap(), EndpointStats::default());
    }

    async fn concurrent_writers_on_shared_rows_do_not_fail(cx) {
        // Two nodes record attempts on the same deliveries in opposite orders
        // while messages arrive, then the application is deleted under them:
        // every call must succeed (PostgreSQL must not deadlock).
        let nodes = [cx.store.clone(), cx.reopen()];
        let s = &*nodes[0];
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap().id;
        let mut eps = Vec::new();
        for _ in 0..4 {
            eps.push(s.create_endpoint(endpoint(&a)).await.unwrap().id);
        }
        let mut pairs = Vec::new();
        for _ in 0..6 {
            let (m, _) = s.create_message(&a, msg("a")).await.unwrap();
            for e in &eps {
                pairs.push((m.id.clone(), e.clone()));
            }
        }
        let storm = |rounds: usize| {
            let mut tasks = Vec::new();
            for (n, node) in nodes.iter().enumerate() {
                let (node, a, mut pairs) = (node.clone(), a.clone(), pairs.clone());
                if n % 2 == 1 {
                    pairs.reverse();
                }
                tasks.push(tokio::spawn(async move {
                    for _ in 0..rounds {
                        let now = Timestamp::now();
                        let batch = pairs
                            .iter()
                            .map(|(m, e)| attempt(&a, m, e, 500, now, NextStep::Retry(now)))
                            .collect();
                        node.record_attempts(batch).await.unwrap();
                    }
                }));
            }
            tasks
        };
        let mut tasks = storm(10);
        for node in nodes.iter() {
            let (node, a) = (node.clone(), a.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    node.create_message(&a, msg("a")).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let stats = s.endpoint_stats(&a, &eps[0], None, None).await.unwrap();
        assert_eq!(stats.pending, 26);
        let atts = s
            .list_attempts_by_endpoint(&a, &eps[0], &asc(1000), &Default::default())
            .await
            .unwrap();
        assert_eq!(atts.data.len(), 2 * 10 * 6);

        let mut tasks = storm(5);
        let (node, org_id, app_id) = (nodes[1].clone(), org.id.clone(), a.clone());
        tasks.push(tokio::spawn(async move {
            assert!(node.delete_app(&org_id, &app_id).await.unwrap());
        }));
        for t in tasks {
            t.await.unwrap();
        }
        assert!(s.get_app_by_id(&a).await.unwrap().is_none());
        assert_eq!(cx.count(&format!("SELECT COUNT(*) FROM attempts WHERE app_id = '{a}'")).await, 0);
    }
}

const DEAD_AFTER: i64 = 30_000;

fn owned(event_type: &str, owner: &str) -> NewMessage {
    NewMessage {
        owner: Some(owner.to_string()),
        ..msg(event_type)
    }
}

conformance! {
    async fn claims_hand_out_due_unheld_deliveries_once(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let ep = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let (m1, _) = s.create_message(&a.id, msg("a")).await.unwrap();
        tick().await;
        let (m2, _) = s.create_message(&a.id, msg("a")).await.unwrap();
        tick().await;
        let (held, _) = s.create_message(&a.id, owned("a", "node-b")).await.unwrap();
        s.heartbeat("node-b", Timestamp::now(), DEAD_AFTER).await.unwrap();
        let now = Timestamp::now();

        // Limit and due order are respected; what node-b holds is not touched.
        let first = s.claim_due("node-a", now, DEAD_AFTER, 1, false).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].msg_id, m1.id);
        assert_eq!((first[0].endpoint_id.as_str(), first[0].app_id.as_str()), (ep.as_str(), a.id.as_str()));
        let rest = s.claim_due("node-a", now, DEAD_AFTER, 10, false).await.unwrap();
        assert_eq!(rest.iter().map(|q| q.msg_id.clone()).collect::<Vec<_>>(), vec![m2.id.clone()]);
        // Nothing is handed out twice, to the same node or another.
        assert!(s.claim_due("node-a", now, DEAD_AFTER, 10, false).await.unwrap().is_empty());
        assert!(s.claim_due("node-c", now, DEAD_AFTER, 10, false).await.unwrap().is_empty());
        // A restarted node-a takes back what it held before.
        let again = s.claim_due("node-a", now, DEAD_AFTER, 10, true).await.unwrap();
        assert_eq!(again.len(), 2);
        assert!(again.iter().all(|q| q.msg_id != held.id));
    }

    async fn a_dead_nodes_deliveries_are_taken_over(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let ep = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let start = Timestamp::now();
        s.heartbeat("node-b", start, DEAD_AFTER).await.unwrap();
        let (m1, _) = s.create_message(&a.id, owned("a", "node-b")).await.unwrap();
        let (m2, _) = s.create_message(&a.id, owned("a", "node-b")).await.unwrap();
        // node-b scheduled m2 for a retry an hour from now, then died.
        let later = Timestamp(start.0 + 3_600_000);
        s.record_attempts(vec![attempt(&a.id, &m2.id, &ep, 500, Timestamp::now(), NextStep::Retry(later))])
            .await
            .unwrap();
        // While node-b is alive nobody else gets its deliveries.
        let alive_at = Timestamp(start.0 + DEAD_AFTER - 1);
        assert!(s.claim_due("node-a", alive_at, DEAD_AFTER, 10, false).await.unwrap().is_empty());
        // Once its heartbeat is older than the lease timeout, the due one is taken over…
        let dead_at = Timestamp(start.0 + DEAD_AFTER + 1);
        let taken = s.claim_due("node-a", dead_at, DEAD_AFTER, 10, false).await.unwrap();
        assert_eq!(taken.iter().map(|q| q.msg_id.clone()).collect::<Vec<_>>(), vec![m1.id.clone()]);
        // …and the retry when it falls due, not before.
        let due_later = Timestamp(later.0 + 1);
        let retry = s.claim_due("node-a", due_later, DEAD_AFTER, 10, false).await.unwrap();
        assert_eq!(retry.len(), 1);
        assert_eq!((retry[0].msg_id.as_str(), retry[0].attempts, retry[0].due), (m2.id.as_str(), 1, later));
    }

    async fn concurrent_claimers_never_share_a_delivery(cx) {
        let s = cx.store.clone();
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        for _ in 0..4 {
            s.create_endpoint(endpoint(&a.id)).await.unwrap();
        }
        for _ in 0..60 {
            s.create_message(&a.id, msg("a")).await.unwrap();
        }
        let total = 60 * 4;
        let mut tasks = Vec::new();
        for n in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let me = format!("node-{n}");
                let mut got = Vec::new();
                loop {
                    let batch = s.claim_due(&me, Timestamp::now(), DEAD_AFTER, 7, false).await.unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    got.extend(batch.into_iter().map(|q| (q.msg_id, q.endpoint_id)));
                }
                got
            }));
        }
        let mut seen = HashSet::new();
        let mut claimed = 0;
        for t in tasks {
            for key in t.await.unwrap() {
                claimed += 1;
                assert!(seen.insert(key.clone()), "{key:?} was claimed twice");
            }
        }
        assert_eq!(claimed, total);
    }

    async fn heartbeats_count_the_nodes_alive(cx) {
        let s = &*cx.store;
        let t0 = Timestamp::now();
        assert_eq!(s.heartbeat("n1", t0, 1_000).await.unwrap(), 1);
        assert_eq!(s.heartbeat("n2", Timestamp(t0.0 + 10), 1_000).await.unwrap(), 2);
        // n1 beats again; n2 falls silent past the window.
        assert_eq!(s.heartbeat("n1", Timestamp(t0.0 + 2_000), 1_000).await.unwrap(), 1);
        assert_eq!(s.heartbeat("n2", Timestamp(t0.0 + 2_500), 1_000).await.unwrap(), 2);
    }

    async fn requeued_deliveries_belong_to_the_requeuing_node(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let ep = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let (m, _) = s.create_message(&a.id, owned("a", "api-node")).await.unwrap();
        s.heartbeat("worker", Timestamp::now(), DEAD_AFTER).await.unwrap();
        s.heartbeat("api-node", Timestamp::now(), DEAD_AFTER).await.unwrap();
        let now = Timestamp::now();
        let q = s.requeue(&a.id, &ep, std::slice::from_ref(&m.id), now, Some("worker")).await.unwrap();
        assert_eq!(q.len(), 1);
        // Held by "worker" now: "api-node" restarting does not take it back…
        assert!(s.claim_due("api-node", now, DEAD_AFTER, 10, true).await.unwrap().is_empty());
        // …and an unowned requeue is anyone's.
        s.requeue(&a.id, &ep, std::slice::from_ref(&m.id), now, None).await.unwrap();
        assert_eq!(s.claim_due("api-node", now, DEAD_AFTER, 10, false).await.unwrap().len(), 1);
    }

    async fn scheduled_messages_wait_unheld_and_cancel_by_creation_time(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let ep = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let at = Timestamp(Timestamp::now().0 + 3_600_000);
        let (m, d) = s
            .create_message(&a.id, NewMessage { deliver_at: Some(at), ..msg("a") })
            .await
            .unwrap();
        assert_eq!(m.deliver_at, Some(at));
        assert_eq!(d[0].next_attempt_at, Some(at));
        assert_eq!(s.get_message_by_id(&m.id).await.unwrap().unwrap().deliver_at, Some(at));
        // Held by nobody: not resumed at start, claimed only once due.
        assert!(s.queued_deliveries(Timestamp::now()).await.unwrap().is_empty());
        assert!(s.claim_due("node-a", Timestamp::now(), 30_000, 10, false).await.unwrap().is_empty());
        let due = s.claim_due("node-a", Timestamp(at.0 + 1), 30_000, 10, false).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].due, at);

        // cancel-msgs: pending deliveries of messages created before the cut.
        let (m2, _) = s.create_message(&a.id, held("a")).await.unwrap();
        tick().await;
        let cut = Timestamp::now();
        tick().await;
        let (m3, _) = s.create_message(&a.id, held("a")).await.unwrap();
        s.record_attempt(attempt(&a.id, &m2.id, &ep, 200, Timestamp::now(), NextStep::Success)).await.unwrap();
        assert_eq!(s.cancel_deliveries(&ep, cut, Timestamp::now()).await.unwrap(), 1, "m only: m2 succeeded");
        for (id, want) in [
            (&m.id, DeliveryStatus::Canceled),
            (&m2.id, DeliveryStatus::Success),
            (&m3.id, DeliveryStatus::Pending),
        ] {
            let page = s.list_destinations(&a.id, id, &asc(10)).await.unwrap();
            assert_eq!(page.data[0].1.status, want, "{id}");
        }
        let queued: Vec<String> = s.queued_deliveries(Timestamp::now()).await.unwrap().into_iter().map(|q| q.msg_id).collect();
        assert!(!queued.contains(&m.id), "{queued:?}");
        assert!(queued.contains(&m3.id), "{queued:?}");
        let stats = s.endpoint_stats(&a.id, &ep, None, None).await.unwrap();
        assert_eq!(stats.canceled, 1, "{stats:?}");
        assert_eq!(s.cancel_deliveries(&ep, cut, Timestamp::now()).await.unwrap(), 0, "twice");
    }
}

fn ordered(app_id: &str) -> Endpoint {
    Endpoint {
        fifo: true,
        ..endpoint(app_id)
    }
}

conformance! {
    async fn an_ordered_lanes_head_is_its_oldest_pending_delivery(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let ep = s.create_endpoint(ordered(&a.id)).await.unwrap();
        assert!(ep.fifo, "the setting is stored");
        assert!(s.get_endpoint_by_id(&ep.id).await.unwrap().unwrap().fifo);
        assert_eq!(s.lane(&ep.id).await.unwrap().head, None);
        let (m1, _) = s.create_message(&a.id, owned("a", "node-a")).await.unwrap();
        tick().await;
        let (m2, _) = s.create_message(&a.id, owned("a", "node-a")).await.unwrap();
        let head = s.lane(&ep.id).await.unwrap().head.unwrap();
        assert_eq!((head.msg_id.as_str(), head.attempts), (m1.id.as_str(), 0));
        // The head fails and waits for a retry: the lane is blocked on it.
        let later = Timestamp(Timestamp::now().0 + 60_000);
        s.record_attempts(vec![attempt(&a.id, &m1.id, &ep.id, 500, Timestamp::now(), NextStep::Retry(later))])
            .await
            .unwrap();
        let head = s.lane(&ep.id).await.unwrap().head.unwrap();
        assert_eq!((head.msg_id.as_str(), head.attempts), (m1.id.as_str(), 1));
        assert_eq!(head.next_attempt_at, Some(later));
        // Given up: the next message is the head.
        s.record_attempts(vec![attempt(&a.id, &m1.id, &ep.id, 500, Timestamp::now(), NextStep::Fail)])
            .await
            .unwrap();
        assert_eq!(s.lane(&ep.id).await.unwrap().head.unwrap().msg_id, m2.id);
    }

    async fn scheduled_deliveries_are_counted_while_they_wait(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        s.create_endpoint(endpoint(&a.id)).await.unwrap();
        s.create_endpoint(endpoint(&a.id)).await.unwrap();
        let now = Timestamp::now();
        assert_eq!(s.count_scheduled(now).await.unwrap(), 0);
        let at = Timestamp(now.0 + 3_600_000);
        s.create_message(&a.id, NewMessage { deliver_at: Some(at), ..msg("a") }).await.unwrap();
        // Due now, or held by a node: not waiting in the store.
        s.create_message(&a.id, msg("a")).await.unwrap();
        s.create_message(&a.id, owned("a", "node-a")).await.unwrap();
        tick().await;
        let now = Timestamp::now();
        assert_eq!(s.count_scheduled(now).await.unwrap(), 2, "one message, two endpoints");
        assert_eq!(s.count_scheduled(Timestamp(at.0 + 1)).await.unwrap(), 0);
    }
}

conformance! {
    async fn a_node_restarted_under_its_name_takes_over_at_once(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        s.create_endpoint(endpoint(&a.id)).await.unwrap();
        let now = Timestamp::now();
        for node in ["web-1-aaaa", "web-10-bbbb", "web_1-cccc"] {
            s.heartbeat(node, now, DEAD_AFTER).await.unwrap();
        }
        let (m, _) = s.create_message(&a.id, owned("a", "web-1-aaaa")).await.unwrap();
        s.create_message(&a.id, owned("a", "web-10-bbbb")).await.unwrap();
        s.create_message(&a.id, owned("a", "web_1-cccc")).await.unwrap();
        // web-1-aaaa was killed a moment ago; its heartbeat is still fresh.
        s.heartbeat("web-1-dddd", now, DEAD_AFTER).await.unwrap();
        assert!(s.claim_due("web-1-dddd", now, DEAD_AFTER, 10, false).await.unwrap().is_empty());
        // Only the previous life of web-1 is retired: not web-10, and `_` is no wildcard.
        assert_eq!(s.retire_previous_lives("web-1", "web-1-dddd").await.unwrap(), 1);
        let taken = s.claim_due("web-1-dddd", Timestamp::now(), DEAD_AFTER, 10, false).await.unwrap();
        assert_eq!(taken.iter().map(|q| q.msg_id.clone()).collect::<Vec<_>>(), vec![m.id]);
    }
}
