//! What payload filters cost the ingest path: per message, the payload is
//! parsed once (only when some endpoint has a filter); per endpoint, its
//! cached filter is looked up and evaluated. Run with
//! `cargo run --release -p hookd-core --example filter_bench`.

use std::cell::OnceCell;
use std::hint::black_box;
use std::time::Instant;

use hookd_core::filter::Filter;
use hookd_core::model::Route;
use serde_json::value::RawValue;

fn per_op(n: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

fn main() {
    // A 1 KB payload of the kind webhooks carry.
    let items: Vec<String> = (0..12)
        .map(|i| format!(r#"{{"sku":"SKU-{i:04}","qty":{i},"price":{}.99}}"#, i * 3))
        .collect();
    let text = format!(
        r#"{{"type":"invoice.paid","data":{{"id":"in_1Nv0ABC","amount":15000,"currency":"usd","customer":{{"id":"cus_42","email":"a@example.com","tier":"gold"}},"items":[{}]}}}}"#,
        items.join(",")
    );
    let payload = RawValue::from_string(text).unwrap_or_default();
    let filter = r#"data.amount >= 10000 and data.currency in ["usd", "eur"] and data.customer.tier == "gold" and not exists(data.test)"#;
    let route = |f: Option<&str>| Route {
        id: "ep_1".into(),
        filter_types: None,
        channels: None,
        filter: f.map(Filter::cached),
        fifo: false,
    };
    let with = route(Some(filter));
    let without = route(None);
    let n = 200_000;

    let parse = per_op(n, || {
        black_box(Filter::parse(black_box(filter)).is_ok());
    });
    let lookup = per_op(n, || {
        black_box(Filter::cached(black_box(filter)));
    });
    let payload_parse = per_op(n, || {
        black_box(serde_json::from_str::<serde_json::Value>(payload.get()).is_ok());
    });
    let parsed = OnceCell::new();
    with.matches_payload(&payload, &parsed);
    let eval = per_op(n, || {
        black_box(with.matches_payload(black_box(&payload), &parsed));
    });
    let none = per_op(n, || {
        black_box(without.matches_payload(black_box(&payload), &OnceCell::new()));
    });
    println!("payload: {} bytes; filter: {filter}", payload.get().len());
    println!("filter parse (once per process, cached):   {parse:>8.0} ns");
    println!("cached lookup (per endpoint, per message): {lookup:>8.0} ns");
    println!("payload parse (once per message, if any endpoint filters): {payload_parse:>8.0} ns");
    println!("evaluation (per filtered endpoint):        {eval:>8.0} ns");
    println!("an endpoint without a filter:              {none:>8.1} ns");
    println!(
        "per filtered endpoint in a fan-out of 10: {:.2} µs (lookup + evaluation + a tenth of the payload parse)",
        (lookup + eval + payload_parse / 10.0) / 1000.0
    );
}
