//! Routing (event-type filters, channels, disabled endpoints) and isolation:
//! an endpoint that hangs does not delay anyone else's deliveries.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{TestApp, id, spawn_app, spawn_app_with, wait_until};
use crate::receiver::{Receiver, Reply};

const WAIT: Duration = Duration::from_secs(10);

fn ids_at(r: &Receiver) -> BTreeSet<String> {
    r.requests()
        .iter()
        .map(|c| c.header("webhook-id").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_only_matching_enabled_endpoints() {
    let (typed, channeled, all, disabled) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    let app = spawn_app().await;
    let app_id = id(&app.create_app("routing").await);
    let ep_typed = id(&app
        .create_endpoint(
            &app_id,
            json!({"url": typed.url, "filterTypes": ["invoice.paid"]}),
        )
        .await);
    let ep_channeled = id(&app
        .create_endpoint(
            &app_id,
            json!({"url": channeled.url, "channels": ["eu", "vip"]}),
        )
        .await);
    let both = Receiver::start().await;
    let ep_both = id(&app
        .create_endpoint(
            &app_id,
            json!({"url": both.url, "filterTypes": ["invoice.paid"], "channels": ["vip"]}),
        )
        .await);
    let ep_all = id(&app.create_endpoint(&app_id, json!({"url": all.url})).await);
    let ep_disabled = id(&app
        .create_endpoint(&app_id, json!({"url": disabled.url, "disabled": true}))
        .await);

    let send = |event_type: &'static str, channels: Option<Vec<&'static str>>| {
        let app = &app;
        let app_id = &app_id;
        async move {
            let mut body = json!({"eventType": event_type, "payload": {"x": 1}});
            if let Some(c) = channels {
                body["channels"] = json!(c);
            }
            id(&app.send_message(app_id, body).await)
        }
    };
    let paid_no_channel = send("invoice.paid", None).await;
    let other_eu = send("user.created", Some(vec!["eu"])).await;
    let other_us = send("user.created", Some(vec!["us"])).await;
    let paid_vip = send("invoice.paid", Some(vec!["us", "vip"])).await;
    let other_none = send("user.created", None).await;

    let expected: BTreeMap<&str, (&Receiver, &String, Vec<&String>)> = BTreeMap::from([
        (
            "typed",
            (&typed, &ep_typed, vec![&paid_no_channel, &paid_vip]),
        ),
        (
            "channeled",
            (&channeled, &ep_channeled, vec![&other_eu, &paid_vip]),
        ),
        (
            "all",
            (
                &all,
                &ep_all,
                vec![
                    &paid_no_channel,
                    &other_eu,
                    &other_us,
                    &paid_vip,
                    &other_none,
                ],
            ),
        ),
        ("both", (&both, &ep_both, vec![&paid_vip])),
        ("disabled", (&disabled, &ep_disabled, vec![])),
    ]);
    for (name, (receiver, _, msgs)) in &expected {
        let want: BTreeSet<String> = msgs.iter().map(|m| m.to_string()).collect();
        wait_until(WAIT, &format!("{name} to receive {want:?}"), || async {
            (ids_at(receiver) == want).then_some(())
        })
        .await;
    }
    // The destination listings agree: deliveries exist only where routed.
    for m in [
        &paid_no_channel,
        &other_eu,
        &other_us,
        &paid_vip,
        &other_none,
    ] {
        let want: BTreeSet<String> = expected
            .values()
            .filter(|(_, _, msgs)| msgs.contains(&m))
            .map(|(_, ep, _)| ep.to_string())
            .collect();
        let got: BTreeSet<String> = app
            .destinations(&app_id, m)
            .await
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, want, "destinations of {m}");
    }
    // Settled: nothing more arrives anywhere, and nothing twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (name, (receiver, _, msgs)) in &expected {
        assert_eq!(receiver.count(), msgs.len(), "{name}");
    }
}

/// Sends `n` messages concurrently; returns (message id, when its 202 came).
async fn send_burst(app: &Arc<TestApp>, app_id: &str, n: usize) -> Vec<(String, Instant)> {
    let mut set = JoinSet::new();
    for i in 0..n {
        let (app, app_id) = (app.clone(), app_id.to_string());
        set.spawn(async move {
            let id = id(&app
                .send_message(
                    &app_id,
                    json!({"eventType": "load.test", "payload": {"i": i}}),
                )
                .await);
            (id, Instant::now())
        });
    }
    set.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_delay_others() {
    let slow = Receiver::always(Reply::hang()).await;
    let fast_same_app = Receiver::start().await;
    let fast_other_app = Receiver::start().await;
    let app = Arc::new(spawn_app_with(&[("request_timeout_secs", "5")]).await);
    let app1 = id(&app.create_app("isolation-1").await);
    let app2 = id(&app.create_app("isolation-2").await);
    let slow_ep = id(&app.create_endpoint(&app1, json!({"url": slow.url})).await);
    app.create_endpoint(&app1, json!({"url": fast_same_app.url}))
        .await;
    app.create_endpoint(&app2, json!({"url": fast_other_app.url}))
        .await;

    let started = Instant::now();
    let (sent1, sent2) = tokio::join!(send_burst(&app, &app1, 20), send_burst(&app, &app2, 20));
    for (name, receiver, sent) in [
        ("same app", &fast_same_app, &sent1),
        ("other app", &fast_other_app, &sent2),
    ] {
        let reqs = receiver.wait_for(20, WAIT).await;
        for (msg, accepted) in sent {
            let r = reqs
                .iter()
                .find(|r| r.header("webhook-id") == msg)
                .unwrap_or_else(|| panic!("{name}: {msg} not delivered"));
            let latency = r.at.saturating_duration_since(*accepted);
            assert!(
                latency < Duration::from_secs(2),
                "{name}: {msg} delivered {latency:?} after it was accepted"
            );
        }
    }
    // All of that happened while the slow endpoint was still stuck: its
    // requests are hanging and not one of its attempts has finished.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the check ran after the slow endpoint's timeout"
    );
    assert!(slow.count() >= 1, "the slow endpoint got nothing");
    assert!(
        app.attempts_by_endpoint(&app1, &slow_ep).await.is_empty(),
        "the slow endpoint's attempts should still be in flight"
    );
    let received: BTreeSet<String> = ids_at(&fast_same_app);
    assert!(sent1.iter().all(|(m, _)| received.contains(m)));
}
