//! Lane ownership across nodes: an ordered (FIFO) endpoint keeps its order
//! through several nodes and a killed owner, and a node restarted under its
//! name takes its previous run's work over at once.

use super::*;

/// Records the order of successful deliveries and the most requests in
/// flight at once; answers 500 to the first `fail_first` requests.
#[derive(Clone, Default)]
struct OrderReceiver {
    log: Arc<Mutex<Vec<String>>>,
    requests: Arc<std::sync::atomic::AtomicUsize>,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    max_in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

impl OrderReceiver {
    async fn start(fail_first: usize) -> (OrderReceiver, String) {
        use std::sync::atomic::Ordering::SeqCst;
        let r = OrderReceiver::default();
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, _body: Bytes| {
                let s = state.clone();
                async move {
                    let now = s.in_flight.fetch_add(1, SeqCst) + 1;
                    s.max_in_flight.fetch_max(now, SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    s.in_flight.fetch_sub(1, SeqCst);
                    if s.requests.fetch_add(1, SeqCst) < fail_first {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                        s.log.lock().unwrap().push(id.to_string());
                    }
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (r, url)
    }

    /// Each message's first successful delivery, in arrival order.
    fn first_arrivals(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let log = self.log.lock().unwrap();
        log.iter().filter(|id| seen.insert(*id)).cloned().collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ordered_endpoint_keeps_its_order_across_nodes_and_a_killed_owner() {
    let Some(admin) = admin_url() else { return };
    let _serial = SERIAL.lock().await;
    let db = Db::create(&admin, "fifo");
    let (receiver, hook) = OrderReceiver::start(2).await;
    let mut nodes = Vec::new();
    for i in 0..3 {
        let name = format!("n{i}");
        nodes.push(Node::start(&db.url, &[("HOOKD_NODE_ID", name.as_str())]).await);
    }
    let client = reqwest::Client::new();
    let (s, _) = post(
        &client,
        &nodes[0].base,
        "/api/v1/app",
        json!({"name": "mn", "uid": "mn"}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, ep) = post(
        &client,
        &nodes[1].base,
        "/api/v1/app/mn/endpoint",
        json!({"url": hook, "fifo": true}),
    )
    .await;
    assert_eq!(s, 201, "{ep}");
    let ep = ep["id"].as_str().unwrap().to_string();

    // One after another, round-robin over the nodes' APIs: acceptance order
    // is the order each got its 202.
    let mut accepted: Vec<String> = Vec::new();
    let send = |base: String, i: usize| {
        let client = client.clone();
        async move {
            let (s, m) = post(
                &client,
                &base,
                "/api/v1/app/mn/msg",
                json!({"eventType": "t", "payload": {"i": i}}),
            )
            .await;
            assert_eq!(s, 202, "{m}");
            m["id"].as_str().unwrap().to_string()
        }
    };
    for i in 0..30 {
        accepted.push(send(nodes[i % 3].base.clone(), i).await);
    }
    let owner = wait_for(
        Duration::from_secs(30),
        "the lane to have an owner and deliveries",
        || {
            let (client, base, ep) = (client.clone(), nodes[0].base.clone(), ep.clone());
            let receiver = receiver.clone();
            async move {
                let stats: Value = client
                    .get(format!("{base}/api/v1/app/mn/endpoint/{ep}/stats"))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                let owner = stats["fifo"]["owner"].as_str()?.to_string();
                (receiver.first_arrivals().len() >= 10).then_some(owner)
            }
        },
    )
    .await;
    // Kill the lane's owner mid-stream; the rest goes through the others.
    let killed = (0..3)
        .find(|i| owner.starts_with(&format!("n{i}-")))
        .expect("owner is a node");
    nodes[killed].child.kill().unwrap();
    nodes[killed].child.wait().unwrap();
    let alive: Vec<String> = (0..3)
        .filter(|i| *i != killed)
        .map(|i| nodes[i].base.clone())
        .collect();
    for i in 30..45 {
        accepted.push(send(alive[i % 2].clone(), i).await);
    }
    let arrived = wait_for(Duration::from_secs(40), "every message to arrive", || {
        let receiver = receiver.clone();
        let n = accepted.len();
        async move {
            let a = receiver.first_arrivals();
            (a.len() >= n).then_some(a)
        }
    })
    .await;
    assert_eq!(arrived, accepted, "delivered in acceptance order");
    // At most the request the killed node had in flight overlaps another.
    let max = receiver
        .max_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(max <= 2, "{max} requests in flight at once");
    let stats: Value = client
        .get(format!("{}/api/v1/app/mn/endpoint/{ep}/stats", alive[0]))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_owner = stats["fifo"]["owner"].as_str().unwrap_or_default();
    assert!(
        !new_owner.starts_with(&format!("n{killed}-")),
        "ownership moved: {stats}"
    );
    assert_ne!(new_owner, "", "{stats}");
}

async fn wait_for<T, F, Fut>(within: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_restarted_under_its_name_resumes_at_once() {
    let Some(admin) = admin_url() else { return };
    let _serial = SERIAL.lock().await;
    let db = Db::create(&admin, "rename");
    // A lease this long would hold the killed node's work for a minute.
    let settings = [
        ("HOOKD_NODE_ID", "web-1"),
        ("HOOKD_LEASE_TIMEOUT_SECS", "60"),
    ];
    let mut node = Node::start(&db.url, &settings).await;
    let client = reqwest::Client::new();
    let (s, _) = post(
        &client,
        &node.base,
        "/api/v1/app",
        json!({"name": "mn", "uid": "mn"}),
    )
    .await;
    assert_eq!(s, 201);
    // The receiver is down: every delivery waits for a retry, held by the node.
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let (s, _) = post(
        &client,
        &node.base,
        "/api/v1/app/mn/endpoint",
        json!({"url": hook}),
    )
    .await;
    assert_eq!(s, 201);
    let mut accepted = Vec::new();
    for i in 0..20 {
        let (s, m) = post(
            &client,
            &node.base,
            "/api/v1/app/mn/msg",
            json!({"eventType": "t", "payload": {"i": i}}),
        )
        .await;
        assert_eq!(s, 202, "{m}");
        accepted.push(m["id"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    node.child.kill().unwrap();
    node.child.wait().unwrap();

    // The receiver comes up on that port; the node restarts under its name.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (receiver, _) = Receiver::serve(listener, Duration::ZERO, StatusCode::OK);
    let restarted = Instant::now();
    let _node = Node::start(&db.url, &settings).await;
    // Well within the 60 s lease: the previous run was retired at start.
    wait_all_arrived(&receiver, &accepted, Duration::from_secs(20)).await;
    eprintln!(
        "restart under the same name: all 20 delivered {:.1} s after the restart",
        restarted.elapsed().as_secs_f64()
    );
}
