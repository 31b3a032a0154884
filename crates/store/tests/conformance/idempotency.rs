//! Idempotency keys: start, complete, abort, expiry, the in-progress lease.

use hookd_core::store::IdempotencyStart;
use hookd_core::time::Timestamp;

const LEASE: i64 = 30_000;

conformance! {
    async fn start_complete_replay(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let t = Timestamp(1_000_000);
        assert_eq!(s.idempotency_start(&org.id, "k1", "fp-a", t, LEASE).await.unwrap(), IdempotencyStart::Started);
        assert_eq!(
            s.idempotency_start(&org.id, "k1", "fp-b", Timestamp(t.0 + 1), LEASE).await.unwrap(),
            IdempotencyStart::InProgress
        );
        let body = b"{\"id\":\"msg_1\"}\0\xff".to_vec();
        s.idempotency_complete(&org.id, "k1", 202, body.clone(), t.0 + 86_400_000).await.unwrap();
        assert_eq!(
            s.idempotency_start(&org.id, "k1", "fp-b", Timestamp(t.0 + 2), LEASE).await.unwrap(),
            IdempotencyStart::Done { fingerprint: "fp-a".into(), status: 202, body }
        );
        // Keys belong to one organisation.
        let other = s.ensure_org("globex").await.unwrap();
        assert_eq!(s.idempotency_start(&other.id, "k1", "fp", t, LEASE).await.unwrap(), IdempotencyStart::Started);
    }

    async fn abort_forgets_only_unfinished_keys(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let t = Timestamp(1_000_000);
        s.idempotency_start(&org.id, "k", "fp", t, LEASE).await.unwrap();
        s.idempotency_abort(&org.id, "k").await.unwrap();
        assert_eq!(s.idempotency_start(&org.id, "k", "fp2", t, LEASE).await.unwrap(), IdempotencyStart::Started);
        s.idempotency_complete(&org.id, "k", 200, b"ok".to_vec(), t.0 + 1_000).await.unwrap();
        s.idempotency_abort(&org.id, "k").await.unwrap();
        assert_eq!(
            s.idempotency_start(&org.id, "k", "fp3", t, LEASE).await.unwrap(),
            IdempotencyStart::Done { fingerprint: "fp2".into(), status: 200, body: b"ok".to_vec() }
        );
        s.idempotency_abort(&org.id, "never-started").await.unwrap();
        s.idempotency_complete(&org.id, "never-started", 200, vec![], t.0).await.unwrap();
        assert_eq!(
            s.idempotency_start(&org.id, "never-started", "fp", t, LEASE).await.unwrap(),
            IdempotencyStart::Started,
            "completing an unknown key stores nothing"
        );
    }

    async fn leases_and_answers_expire(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let t = Timestamp(1_000_000);
        s.idempotency_start(&org.id, "k", "fp1", t, 100).await.unwrap();
        let at = |dt: i64| Timestamp(t.0 + dt);
        assert_eq!(s.idempotency_start(&org.id, "k", "x", at(50), 100).await.unwrap(), IdempotencyStart::InProgress);
        assert_eq!(
            s.idempotency_start(&org.id, "k", "x", at(100), 100).await.unwrap(),
            IdempotencyStart::InProgress,
            "the lease includes its last millisecond"
        );
        // The lease ran out (the request died): a new request takes over.
        assert_eq!(s.idempotency_start(&org.id, "k", "fp2", at(101), 100).await.unwrap(), IdempotencyStart::Started);
        s.idempotency_complete(&org.id, "k", 201, b"second".to_vec(), t.0 + 1_000).await.unwrap();
        assert_eq!(
            s.idempotency_start(&org.id, "k", "x", at(1_000), 100).await.unwrap(),
            IdempotencyStart::Done { fingerprint: "fp2".into(), status: 201, body: b"second".to_vec() }
        );
        assert_eq!(s.idempotency_start(&org.id, "k", "fp3", at(1_001), 100).await.unwrap(), IdempotencyStart::Started);
    }

    async fn expired_keys_are_swept(cx) {
        let s = &*cx.store;
        let org = s.ensure_org("acme").await.unwrap();
        let t = Timestamp(1_000_000);
        for i in 0..5 {
            s.idempotency_start(&org.id, &format!("old{i}"), "fp", t, 10).await.unwrap();
        }
        s.idempotency_complete(&org.id, "old0", 200, vec![], t.0 + 10).await.unwrap();
        s.idempotency_start(&org.id, "live", "fp", t, 1_000_000).await.unwrap();
        assert_eq!(cx.count("SELECT COUNT(*) FROM idempotency_keys").await, 6);
        s.idempotency_start(&org.id, "new", "fp", Timestamp(t.0 + 100), 10).await.unwrap();
        assert_eq!(cx.count("SELECT COUNT(*) FROM idempotency_keys").await, 2, "live and new remain");
    }

    async fn concurrent_starts_have_one_winner(cx) {
        let nodes = [cx.store.clone(), cx.reopen()];
        let org = nodes[0].ensure_org("acme").await.unwrap();
        let now = Timestamp::now();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = nodes[i % 2].clone();
            let org = org.id.clone();
            tasks.push(tokio::spawn(async move {
                s.idempotency_start(&org, "same", &format!("fp{i}"), now, LEASE).await
            }));
        }
        let mut started = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(IdempotencyStart::Started) => started += 1,
                Ok(IdempotencyStart::InProgress) => {}
                other => panic!("unexpected: {other:?}"),
            }
        }
        assert_eq!(started, 1);
    }
}
