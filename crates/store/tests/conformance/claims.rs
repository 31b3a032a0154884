//! Work sharing between nodes: claims, ownership at ingest, heartbeats.

use std::collections::HashSet;

use hookd_core::store::{NewMessage, NextStep};
use hookd_core::time::Timestamp;

use crate::support::*;

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
}
