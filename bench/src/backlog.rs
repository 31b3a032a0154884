//! The backlog scenario: deliveries queued while the receiver is down, then
//! drained by a restarted hookd once it is back.

use super::*;

/// A receiver that is down the hard way: it accepts connections and never
/// answers, so deliveries pile up behind each endpoint's few hung requests
/// without being attempted.
async fn blackhole() -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    Ok((addr, task))
}

pub async fn backlog(args: &Args) -> anyhow::Result<()> {
    let base = Instant::now();
    let (addr, hole) = blackhole().await?;
    let dir = tempfile::tempdir()?;
    let env = [
        ("HOOKD_REQUEST_TIMEOUT_SECS", "300"),
        ("HOOKD_SHUTDOWN_TIMEOUT_SECS", "1"),
    ];
    let fresh = FreshDb::new(args)?;
    let hookd = Hookd::start_with(args, dir, fresh.url.clone(), &env).await?;
    let api = Arc::new(Api::new(&hookd.url));
    let ids = Arc::new(api.setup(args.apps, 1, addr).await?);
    let n_apps = ids.len() as u64;
    let size = args.payload;
    let make: Arc<dyn Fn(u64) -> (String, String) + Send + Sync> = {
        let ids = ids.clone();
        Arc::new(move |seq| {
            let app = &ids[(seq % n_apps) as usize];
            (format!("/api/v1/app/{app}/msg"), message_body(seq, 0, size))
        })
    };
    let res = closed_loop(args.concurrency, args.backlog, make, api, base).await;
    let queued_rss = hookd.rss_kb("VmRSS");
    let dir = hookd.stop();
    let db = fresh.url.clone();
    // The receiver comes back on the same address; hookd restarts and drains
    // the backlog it finds in its database.
    hole.abort();
    let _ = hole.await;
    let listener = TcpListener::bind(addr)?;
    let (_, r) = start_receiver(base, Some(listener)).await?;
    let restart = Instant::now();
    let hookd = Hookd::start(args, dir, db).await?;
    let cpu0 = hookd.cpu_seconds();
    let mut peak_rss = 0;
    let deadline = Instant::now() + Duration::from_secs(args.drain_timeout.max(300));
    while r.count.load(Ordering::Relaxed) < res.accepted && Instant::now() < deadline {
        peak_rss = peak_rss.max(hookd.rss_kb("VmRSS"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained_in = restart.elapsed();
    let d = analyse(&r, (0..args.backlog).map(|s| ((s % n_apps) as u32, s)));
    let span = (d.last_arrival_us - d.first_arrival_us) as f64 / 1e6;
    println!(
        "== backlog: {} deliveries queued while the receiver was down (hookd RSS {:.1} MB), drained after a restart",
        res.accepted,
        queued_rss as f64 / 1024.0
    );
    println!(
        "  drained {} in {:.2} s from restart ({:.2} s first to last arrival): {:.0} deliveries/s",
        d.delivered,
        drained_in.as_secs_f64(),
        span,
        d.delivered as f64 / span.max(1e-9)
    );
    println!(
        "  hookd: {:.2} CPU s, peak RSS while draining {:.1} MB (VmHWM {:.1} MB)",
        hookd.cpu_seconds() - cpu0,
        peak_rss as f64 / 1024.0,
        hookd.rss_kb("VmHWM") as f64 / 1024.0
    );
    println!(
        "  duplicates {}, missing after drain {}",
        d.duplicates, d.missing
    );
    hookd.stop();
    Ok(())
}
