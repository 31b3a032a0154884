//! PostgreSQL-only behaviour: connection failures are `Unavailable` and
//! bounded in time, concurrent nodes migrate once, a newer schema is refused.

use std::time::{Duration, Instant};

use hookd_core::store::{NextStep, Store, StoreError};
use hookd_core::time::Timestamp;
use hookd_store::PgUrl;
use hookd_store::postgres::PostgresStore;

use crate::support::*;

#[tokio::test]
async fn an_unreachable_server_is_unavailable_quickly() {
    // Nothing listens on port 1 of the loopback address.
    let started = Instant::now();
    let err = hookd_store::open("postgres://postgres@127.0.0.1:1/hookd")
        .err()
        .unwrap();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_nodes_migrate_once() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let db = TestDatabase::create(&admin).await;
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async { hookd_store::open(&url).map(|_| ()) })
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let client = pg_connect(&strip_hookd_params(&db.url)).await;
    let versions: i64 = client
        .query_one("SELECT COUNT(*) FROM hookd_schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    db.drop_now().await;
    for r in results {
        r.unwrap();
    }
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count() as i64;
    assert_eq!(versions, files, "each migration applied once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let db = TestDatabase::create(&admin).await;
    hookd_store::open(&db.url).unwrap();
    let client = pg_connect(&strip_hookd_params(&db.url)).await;
    client
        .batch_execute("INSERT INTO hookd_schema_migrations VALUES (99, 0)")
        .await
        .unwrap();
    let err = hookd_store::open(&db.url).err();
    db.drop_now().await;
    let err = err.unwrap();
    assert!(
        matches!(&err, StoreError::Backend { .. }) && err.to_string().contains("newer"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_is_unavailable_not_a_hang() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let db = TestDatabase::create(&admin).await;
    let url = PgUrl::parse(&with_query(&strip_hookd_params(&db.url), "pool_size=1")).unwrap();
    let store = PostgresStore::connect(&url, Default::default())
        .await
        .unwrap();
    let held = store.pool().get().await.unwrap();
    let started = Instant::now();
    let err = store.ping().await.err();
    let waited = started.elapsed();
    drop(held);
    let after = store.ping().await;
    drop(store);
    db.drop_now().await;
    assert!(
        err.as_ref().is_some_and(StoreError::is_unavailable),
        "{err:?}"
    );
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    after.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_server_is_unavailable_then_recovers() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let db = TestDatabase::create(&admin).await;
    let store = hookd_store::open(&db.url).unwrap();
    store.ping().await.unwrap();
    // Every connection of the store is killed, as a server restart would.
    let admin_client = pg_connect(&admin).await;
    admin_client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&db.name()],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first = store.ping().await;
    // The broken connection is not reused: the next call reconnects.
    let second = store.ping().await;
    drop(store);
    db.drop_now().await;
    if let Err(e) = &first {
        assert!(e.is_unavailable(), "{e:?}");
    }
    second.unwrap();
}

/// An ordered endpoint's lane has one owner among nodes sharing the store:
/// its deliveries are held by nobody until the owner claims them, nobody
/// else claims them, and a dead owner's lane (retrying head included,
/// however far off its retry) moves to a live node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ordered_lane_has_one_owner_and_moves_when_it_dies() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let db = TestDatabase::create(&admin).await;
    let s = hookd_store::open(&db.url).unwrap();
    let body = async move {
        const WINDOW: i64 = 30_000;
        let org = s.ensure_org("acme").await.unwrap();
        let a = s.create_app(app(&org.id, None)).await.unwrap();
        let ep = s
            .create_endpoint(hookd_core::model::Endpoint {
                fifo: true,
                ..endpoint(&a.id)
            })
            .await
            .unwrap();
        let start = Timestamp::now();
        s.heartbeat("node-a", start, WINDOW).await.unwrap();
        s.heartbeat("node-b", start, WINDOW).await.unwrap();
        // Accepted by node-a, but not held by it: the lane has no owner yet.
        let (m1, mine) = s.create_message(&a.id, held_by("node-a")).await.unwrap();
        assert!(
            mine.is_empty(),
            "an ordered endpoint's delivery is left to claim"
        );
        let lane = s
            .claim_due("node-b", Timestamp::now(), WINDOW, 10, false)
            .await
            .unwrap();
        assert_eq!(lane.iter().map(|q| &q.msg_id).collect::<Vec<_>>(), [&m1.id]);
        let lane = s.lane(&ep.id).await.unwrap();
        assert_eq!(lane.owner.as_deref(), Some("node-b"));
        assert_eq!(lane.head.unwrap().msg_id, m1.id);
        // Later messages go to node-b only, whoever accepted them.
        let (m2, _) = s.create_message(&a.id, held_by("node-a")).await.unwrap();
        assert!(
            s.claim_due("node-a", Timestamp::now(), WINDOW, 10, false)
                .await
                .unwrap()
                .is_empty()
        );
        // node-b's head fails and is retried an hour from now; then node-b dies.
        let later = Timestamp(Timestamp::now().0 + 3_600_000);
        s.record_attempts(vec![attempt(
            &a.id,
            &m1.id,
            &ep.id,
            500,
            Timestamp::now(),
            NextStep::Retry(later),
        )])
        .await
        .unwrap();
        let after = Timestamp(Timestamp::now().0 + WINDOW + 1_000);
        s.heartbeat("node-a", after, WINDOW).await.unwrap();
        let taken = s
            .claim_due("node-a", after, WINDOW, 10, false)
            .await
            .unwrap();
        let mut ids: Vec<&String> = taken.iter().map(|q| &q.msg_id).collect();
        ids.sort();
        assert_eq!(
            ids,
            [&m1.id, &m2.id],
            "the head with its far-off retry, and the rest"
        );
        assert_eq!(
            s.lane(&ep.id).await.unwrap().owner.as_deref(),
            Some("node-a")
        );
    };
    let outcome = tokio::spawn(body).await;
    db.drop_now().await;
    outcome.unwrap();
}

fn held_by(node: &str) -> hookd_core::store::NewMessage {
    hookd_core::store::NewMessage {
        owner: Some(node.to_string()),
        ..msg("a")
    }
}
