//! Retention: expired payloads and response bodies go, nothing else does.

use hookd_core::store::{NewMessage, NextStep};
use hookd_core::time::Timestamp;

use crate::support::*;

fn expiring(at: Timestamp) -> NewMessage {
    NewMessage {
        expires_at: at,
        ..msg("a")
    }
}

conformance! {
    async fn retention_expunges_what_expired_and_nothing_else(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let mut a = app(&org.id, Some("kept"));
        a.retention_days = Some(3);
        let a = s.create_app(a).await.unwrap();
        assert_eq!(s.get_app(&org.id, "kept").await.unwrap().unwrap().retention_days, Some(3));
        let ep = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let now = Timestamp::now();
        let (old1, _) = s.create_message(&a.id, expiring(Timestamp(now.0 - 2))).await.unwrap();
        let (old2, _) = s.create_message(&a.id, expiring(Timestamp(now.0 - 1))).await.unwrap();
        let (fresh, _) = s.create_message(&a.id, expiring(Timestamp(now.0 + 60_000))).await.unwrap();
        let t = Timestamp::now();
        s.record_attempts(vec![
            attempt(&a.id, &old1.id, &ep, 200, t, NextStep::Success),
            attempt(&a.id, &fresh.id, &ep, 200, t, NextStep::Success),
        ])
        .await
        .unwrap();
        let response_of = |m: String| {
            let (app, ep) = (a.id.clone(), ep.clone());
            async move {
                let page = s
                    .list_attempts_by_message(&app, &m, &asc(10), &Default::default())
                    .await
                    .unwrap();
                assert!(page.data.iter().all(|x| x.endpoint_id == ep));
                page.data[0].response.clone()
            }
        };
        assert!(!response_of(old1.id.clone()).await.is_empty());

        // Bounded batches: one at a time, oldest expiry first.
        assert_eq!(s.expunge_expired(now, 1).await.unwrap(), 1);
        assert_eq!(s.get_message(&a.id, &old1.id).await.unwrap().unwrap().payload.get(), "{}");
        assert_ne!(s.get_message(&a.id, &old2.id).await.unwrap().unwrap().payload.get(), "{}");
        assert_eq!(s.expunge_expired(now, 10).await.unwrap(), 1);
        assert_eq!(s.expunge_expired(now, 10).await.unwrap(), 0, "nothing is expunged twice");
        assert_eq!(response_of(old1.id.clone()).await, "");
        // The unexpired message and its attempt are untouched.
        let kept = s.get_message(&a.id, &fresh.id).await.unwrap().unwrap();
        assert_eq!(kept.payload.get(), msg("a").payload.get());
        assert!(!response_of(fresh.id.clone()).await.is_empty());
        // The message itself, its id and metadata stay listed.
        assert_eq!(s.list_messages(&a.id, &asc(10), &Default::default()).await.unwrap().data.len(), 3);
    }

    async fn expunging_one_message(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let other = s.create_app(app(&org.id, Some("other"))).await.unwrap();
        let (m, _) = s.create_message(&a.id, msg("a")).await.unwrap();
        assert!(!s.expunge_message(&other.id, &m.id).await.unwrap(), "scoped by application");
        assert!(s.expunge_message(&a.id, &m.id).await.unwrap());
        assert_eq!(s.get_message(&a.id, &m.id).await.unwrap().unwrap().payload.get(), "{}");
        assert!(!s.expunge_message(&a.id, "msg_doesnotexist00000000000000").await.unwrap());
    }

    async fn expunging_one_attempts_response_body(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let other = s.create_app(app(&org.id, Some("other"))).await.unwrap();
        let ep = s.create_endpoint(endpoint(&a.id)).await.unwrap().id;
        let (m, _) = s.create_message(&a.id, msg("a")).await.unwrap();
        let (m2, _) = s.create_message(&a.id, msg("a")).await.unwrap();
        let t = Timestamp::now();
        let mut first = attempt(&a.id, &m.id, &ep, 500, t, NextStep::Retry(t));
        first.attempt.sent_headers = Some([("webhook-id".to_string(), m.id.clone())].into());
        first.attempt.response_headers = Some(vec![("x-a".into(), "1".into())]);
        let second = attempt(&a.id, &m.id, &ep, 200, t, NextStep::Success);
        let (id1, id2) = (first.attempt.id.clone(), second.attempt.id.clone());
        s.record_attempts(vec![first, second]).await.unwrap();
        assert!(!s.expunge_attempt_content(&other.id, &m.id, &id1).await.unwrap(), "scoped by application");
        assert!(!s.expunge_attempt_content(&a.id, &m2.id, &id1).await.unwrap(), "scoped by message");
        assert!(s.expunge_attempt_content(&a.id, &m.id, &id1).await.unwrap());
        let gone = s.get_attempt(&a.id, &m.id, &id1).await.unwrap().unwrap();
        assert_eq!(gone.response, "");
        // The rest of the attempt, its headers included, stays.
        assert_eq!(gone.response_status_code, 500);
        assert_eq!(gone.response_headers, Some(vec![("x-a".to_string(), "1".to_string())]));
        assert_eq!(gone.sent_headers.unwrap()["webhook-id"], m.id);
        let kept = s.get_attempt(&a.id, &m.id, &id2).await.unwrap().unwrap();
        assert_eq!(kept.response, "status 200");
        assert_ne!(s.get_message(&a.id, &m.id).await.unwrap().unwrap().payload.get(), "{}");
        assert!(!s.expunge_attempt_content(&a.id, &m.id, "atmpt_doesnotexist0000000000000").await.unwrap());
    }
}
