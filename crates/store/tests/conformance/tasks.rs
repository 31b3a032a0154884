//! Background tasks: created running, listed per organisation with filters
//! and pages, progressed and ended once; dead nodes' tasks failed with their
//! progress kept. Also the message walks the replaying tasks use.

use hookd_core::ids::{self, Kind};
use hookd_core::model::{BackgroundTask, TaskKind, TaskStatus};
use hookd_core::store::{NextStep, Order, ReplayFilter, TaskFilter};
use hookd_core::time::Timestamp;
use serde_json::json;

use crate::support::*;

fn task(org: &str, app: Option<&str>, kind: TaskKind, node: &str, at: i64) -> BackgroundTask {
    BackgroundTask::start(ids::new_id(Kind::Task), org, app, kind, node, Timestamp(at))
}

conformance! {
    async fn tasks_are_listed_per_org_with_filters_and_pages(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let org_id = org.id.as_str();
        let other = s.ensure_org("other").await.unwrap();
        let mut ids = Vec::new();
        for (app, kind) in [
            (Some("app_a"), TaskKind::EndpointRecover),
            (Some("app_b"), TaskKind::EndpointReplay),
            (Some("app_a"), TaskKind::EndpointReplay),
            (None, TaskKind::ApplicationStats),
        ] {
            let t = s.create_task(task(&org.id, app, kind, "n1", 1_000)).await.unwrap();
            ids.push(t.id);
            tick().await;
        }
        let theirs = s.create_task(task(&other.id, None, TaskKind::EndpointRecover, "n1", 1_000)).await.unwrap();

        let got = s.get_task(&org.id, &ids[0]).await.unwrap().unwrap();
        assert_eq!(got.kind, TaskKind::EndpointRecover);
        assert_eq!(got.status, TaskStatus::Running);
        assert_eq!(got.app_id.as_deref(), Some("app_a"));
        assert_eq!(got.node.as_deref(), Some("n1"));
        assert_eq!(got.data, json!({}));
        assert_eq!((got.created_at, got.updated_at), (Timestamp(1_000), Timestamp(1_000)));
        assert!(s.get_task(&org.id, &theirs.id).await.unwrap().is_none(), "another org's");
        assert!(s.get_task(&org.id, "qtask_nope").await.unwrap().is_none());

        check_pagination(&ids, |lq| async move {
            s.list_tasks(org_id, &lq, &TaskFilter::default()).await.unwrap().map(|t| t.id)
        })
        .await;
        let list = |f: TaskFilter| async move {
            s.list_tasks(org_id, &asc(50), &f).await.unwrap().data.into_iter().map(|t| t.id).collect::<Vec<_>>()
        };
        assert_eq!(
            list(TaskFilter { kind: Some(TaskKind::EndpointReplay), ..Default::default() }).await,
            [ids[1].clone(), ids[2].clone()]
        );
        assert_eq!(
            list(TaskFilter { app_id: Some("app_a".into()), ..Default::default() }).await,
            [ids[0].clone(), ids[2].clone()]
        );
        assert!(s.finish_task(&ids[2], TaskStatus::Finished, &json!({"messagesSent": 1}), Timestamp(2_000)).await.unwrap());
        assert_eq!(
            list(TaskFilter { status: Some(TaskStatus::Finished), ..Default::default() }).await,
            [ids[2].clone()]
        );
        assert_eq!(
            list(TaskFilter {
                app_id: Some("app_a".into()),
                status: Some(TaskStatus::Running),
                kind: Some(TaskKind::EndpointReplay),
            })
            .await,
            Vec::<String>::new()
        );
        let newest = s.list_tasks(&org.id, &q(1, Order::Descending, None), &TaskFilter::default()).await.unwrap();
        assert_eq!(newest.data[0].id, ids[3]);
    }

    async fn tasks_progress_then_end_once(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let t = s.create_task(task(&org.id, Some("app_a"), TaskKind::EndpointRecover, "n1", 1_000)).await.unwrap();
        assert!(s.update_task(&t.id, &json!({"messagesSent": 5}), Timestamp(1_500)).await.unwrap());
        let got = s.get_task(&org.id, &t.id).await.unwrap().unwrap();
        assert_eq!(got.data, json!({"messagesSent": 5}));
        assert_eq!(got.updated_at, Timestamp(1_500));
        assert_eq!(got.created_at, Timestamp(1_000));

        assert!(s.finish_task(&t.id, TaskStatus::Failed, &json!({"error": "x"}), Timestamp(2_000)).await.unwrap());
        // Ended: neither progress nor a second end changes it.
        assert!(!s.update_task(&t.id, &json!({"messagesSent": 9}), Timestamp(3_000)).await.unwrap());
        assert!(!s.finish_task(&t.id, TaskStatus::Finished, &json!({}), Timestamp(3_000)).await.unwrap());
        assert_eq!(s.touch_tasks(std::slice::from_ref(&t.id), Timestamp(3_000)).await.unwrap(), 0);
        let got = s.get_task(&org.id, &t.id).await.unwrap().unwrap();
        assert_eq!(got.status, TaskStatus::Failed);
        assert_eq!(got.data, json!({"error": "x"}));
        assert_eq!(got.updated_at, Timestamp(2_000));
        assert!(!s.update_task("qtask_nope", &json!({}), Timestamp(1)).await.unwrap());
    }

    async fn tasks_of_stopped_and_dead_nodes_fail_with_their_progress(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let mine = s.create_task(task(&org.id, None, TaskKind::EndpointReplay, "me", 1_000)).await.unwrap();
        let done = s.create_task(task(&org.id, None, TaskKind::EndpointReplay, "me", 1_000)).await.unwrap();
        s.finish_task(&done.id, TaskStatus::Finished, &json!({"messagesSent": 1}), Timestamp(1_100)).await.unwrap();
        let elsewhere = s.create_task(task(&org.id, None, TaskKind::EndpointReplay, "you", 1_000)).await.unwrap();
        s.update_task(&mine.id, &json!({"messagesSent": 3}), Timestamp(1_200)).await.unwrap();

        assert_eq!(s.fail_node_tasks("me", "stopped", Timestamp(5_000)).await.unwrap(), 1);
        let got = s.get_task(&org.id, &mine.id).await.unwrap().unwrap();
        assert_eq!(got.status, TaskStatus::Failed);
        assert_eq!(got.data, json!({"messagesSent": 3, "error": "stopped"}));
        assert_eq!(got.updated_at, Timestamp(5_000));
        let kept = s.get_task(&org.id, &done.id).await.unwrap().unwrap();
        assert_eq!(kept.status, TaskStatus::Finished, "ended tasks stay as they ended");
        assert_eq!(s.get_task(&org.id, &elsewhere.id).await.unwrap().unwrap().status, TaskStatus::Running);

        // "you" heartbeats: its task lives however old its progress.
        let now = Timestamp::now();
        let lease = 10_000;
        let old = Timestamp(now.0 - 60_000);
        let live = s.create_task(task(&org.id, None, TaskKind::EndpointRecover, "alive", old.0)).await.unwrap();
        let fresh = s.create_task(task(&org.id, None, TaskKind::EndpointRecover, "gone", now.0)).await.unwrap();
        let touched = s.create_task(task(&org.id, None, TaskKind::EndpointRecover, "gone", old.0)).await.unwrap();
        s.heartbeat("alive", now, lease).await.unwrap();
        assert_eq!(s.touch_tasks(std::slice::from_ref(&touched.id), now).await.unwrap(), 1);
        // Left: "you"'s task (no heartbeat, progress at 1 000 ms).
        assert_eq!(s.fail_dead_tasks(now, lease, "dead").await.unwrap(), 1);
        let got = s.get_task(&org.id, &elsewhere.id).await.unwrap().unwrap();
        assert_eq!(got.status, TaskStatus::Failed);
        assert_eq!(got.data, json!({"error": "dead"}));
        for t in [&live, &fresh, &touched] {
            assert_eq!(s.get_task(&org.id, &t.id).await.unwrap().unwrap().status, TaskStatus::Running, "{}", t.node.as_deref().unwrap_or(""));
        }
        assert_eq!(s.fail_dead_tasks(now, lease, "dead").await.unwrap(), 0);
    }

    async fn unrouted_and_replayable_messages_walk_in_id_order(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let other = s.create_app(app(&org.id, Some("other"))).await.unwrap();
        let mut before = Vec::new();
        for t in ["a", "b", "c"] {
            before.push(s.create_message(&a.id, msg(t)).await.unwrap().0.id);
        }
        s.create_message(&other.id, msg("a")).await.unwrap();
        let ep = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let (routed, _) = s.create_message(&a.id, msg("a")).await.unwrap();
        assert!(s.expunge_message(&a.id, &before[2]).await.unwrap());
        let window = (Timestamp(0), Timestamp(i64::MAX));

        let first = s.unrouted_messages(&a.id, &ep, window.0, window.1, None, 1).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].id.as_str(), first[0].event_type.as_str()), (before[0].as_str(), "a"));
        let rest = s.unrouted_messages(&a.id, &ep, window.0, window.1, Some(&first[0].id), 10).await.unwrap();
        assert_eq!(rest.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), [before[1].clone()], "expunged and routed ones are left out");
        let none = s.unrouted_messages(&a.id, &ep, Timestamp(0), Timestamp(1), None, 10).await.unwrap();
        assert!(none.is_empty(), "outside the window");

        // Once sent there, a message is routed.
        s.requeue(&a.id, &ep, std::slice::from_ref(&before[0]), Timestamp::now(), None).await.unwrap();
        let left = s.unrouted_messages(&a.id, &ep, window.0, window.1, None, 10).await.unwrap();
        assert_eq!(left.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), [before[1].clone()]);

        // Replayable: deliveries to the endpoint, filtered.
        s.record_attempts(vec![attempt(&a.id, &routed.id, &ep, 500, Timestamp::now(), NextStep::Fail)]).await.unwrap();
        let all = s.replayable_message_ids(&a.id, &ep, &ReplayFilter::window(window.0, window.1), None, 10).await.unwrap();
        let mut want = vec![before[0].clone(), routed.id.clone()];
        want.sort();
        assert_eq!(all, want);
        let failed = ReplayFilter { status_code_class: Some(500), ..ReplayFilter::window(window.0, window.1) };
        assert_eq!(s.replayable_message_ids(&a.id, &ep, &failed, None, 10).await.unwrap(), std::slice::from_ref(&routed.id));
        let typed = ReplayFilter { event_types: Some(strings(&["b"])), ..ReplayFilter::window(window.0, window.1) };
        assert!(s.replayable_message_ids(&a.id, &ep, &typed, None, 10).await.unwrap().is_empty());
    }

    async fn an_app_is_purged_in_batches(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let other = s.create_app(app(&org.id, Some("other"))).await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(s.create_message(&a.id, msg("a")).await.unwrap().0.id);
        }
        let (theirs, _) = s.create_message(&other.id, msg("a")).await.unwrap();
        assert!(s.expunge_message(&a.id, &ids[1]).await.unwrap());
        let before = Timestamp(Timestamp::now().0 + 1);
        let b1 = s.expunge_app_messages(&a.id, before, None, 2).await.unwrap();
        assert_eq!((b1.expunged, b1.last.as_deref()), (1, Some(ids[1].as_str())), "one was expunged before");
        let b2 = s.expunge_app_messages(&a.id, before, b1.last.as_deref(), 2).await.unwrap();
        assert_eq!((b2.expunged, b2.last.as_deref()), (1, Some(ids[2].as_str())));
        let b3 = s.expunge_app_messages(&a.id, before, b2.last.as_deref(), 2).await.unwrap();
        assert_eq!((b3.expunged, b3.last), (0, None));
        for id in &ids {
            assert_eq!(s.get_message(&a.id, id).await.unwrap().unwrap().payload.get(), "{}");
        }
        assert_ne!(s.get_message(&other.id, &theirs.id).await.unwrap().unwrap().payload.get(), "{}");
    }
}
