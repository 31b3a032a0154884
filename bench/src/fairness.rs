//! The fairness scenario: how much one application's burst delays another's
//! deliveries.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{
    Api, Args, FreshDb, Hookd, analyse, closed_loop, message_body, report_latency, start_receiver,
    wait_for,
};

/// Tenant fairness: one application sends a burst of `--backlog` messages as
/// fast as `--concurrency` senders go, while another sends one message every
/// 50 ms. Reports the quiet application's delivery latency alone and during
/// the burst: a noisy neighbour should not delay it.
pub async fn fairness(args: &Args) -> anyhow::Result<()> {
    const QUIET: u64 = 1 << 40;
    let base = Instant::now();
    let (addr, r) = start_receiver(base, None).await?;
    let dir = tempfile::tempdir()?;
    let fresh = FreshDb::new(args)?;
    let hookd = Hookd::start(args, dir, fresh.url.clone()).await?;
    let api = Arc::new(Api::new(&hookd.url));
    // bench-0 (endpoint 0) is the noisy one, bench-1 (endpoint 1) the quiet one.
    api.setup(2, 1, addr).await?;
    let size = args.payload;
    let quiet = move |api: Arc<Api>, from: u64, n: u64| async move {
        for i in 0..n {
            let sent = base.elapsed().as_micros() as u64;
            let _ = api
                .post(
                    "/api/v1/app/bench-1/msg",
                    message_body(QUIET + from + i, sent, size),
                )
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    quiet(api.clone(), 0, 40).await;
    wait_for(&r.count, 40, Duration::from_secs(10)).await;
    let alone: Vec<u64> = {
        let seen = r.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut l: Vec<u64> = seen
            .rows
            .iter()
            .filter(|row| row.0 == 1)
            .map(|row| row.2)
            .collect();
        l.sort_unstable();
        l
    };
    let mark = r.seen.lock().unwrap_or_else(|e| e.into_inner()).rows.len();
    let burst_n = args.backlog;
    let make: Arc<dyn Fn(u64) -> (String, String) + Send + Sync> = Arc::new(move |seq| {
        let sent = base.elapsed().as_micros() as u64;
        (
            "/api/v1/app/bench-0/msg".to_string(),
            message_body(seq, sent, size),
        )
    });
    let started = Instant::now();
    let noisy = tokio::spawn(closed_loop(
        args.concurrency,
        burst_n,
        make,
        api.clone(),
        base,
    ));
    // The quiet application keeps sending while the burst is accepted and drained.
    let side = {
        let api = api.clone();
        let r = r.clone();
        tokio::spawn(async move {
            let mut i = 40;
            while r.count.load(Ordering::Relaxed) < burst_n + 40
                && started.elapsed() < Duration::from_secs(600)
            {
                quiet(api.clone(), i, 1).await;
                i += 1;
            }
            i - 40
        })
    };
    let res = noisy.await?;
    let quiet_sent = side.await?;
    wait_for(
        &r.count,
        40 + res.accepted + quiet_sent,
        Duration::from_secs(args.drain_timeout),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during: Vec<u64> = {
        let seen = r.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut l: Vec<u64> = seen.rows[mark..]
            .iter()
            .filter(|row| row.0 == 1)
            .map(|row| row.2)
            .collect();
        l.sort_unstable();
        l
    };
    let pairs = (0..burst_n)
        .map(|s| (0u32, s))
        .chain((0..40 + quiet_sent).map(|i| (1u32, QUIET + i)));
    let d = analyse(&r, pairs);
    println!(
        "== fairness: application A sends {burst_n} messages ({} senders) while application B sends one every 50 ms",
        args.concurrency
    );
    println!(
        "  A: accepted {} in {:.2} s ({:.0} messages/s), all delivered after {:.2} s",
        res.accepted,
        res.elapsed.as_secs_f64(),
        res.accepted as f64 / res.elapsed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    report_latency("B's delivery latency alone", &alone);
    report_latency(
        &format!(
            "B's delivery latency during A's burst ({} messages)",
            during.len()
        ),
        &during,
    );
    println!(
        "  duplicates {}, missing after drain {}",
        d.duplicates, d.missing
    );
    hookd.stop();
    Ok(())
}
