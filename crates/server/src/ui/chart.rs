//! Attempts over time as an inline SVG bar chart: successes stacked under
//! failures per bucket, each bar titled with its counts (no script needed).

use hookd_core::store::Bucket;
use maud::{Markup, html};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 160.0;

pub fn attempts(buckets: &[Bucket], label: &str) -> Markup {
    let max = buckets
        .iter()
        .map(|b| b.succeeded + b.failed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = buckets.len().max(1) as f64;
    let slot = WIDTH / n;
    let bar = (slot * 0.8).max(1.0);
    let total: (i64, i64) = buckets
        .iter()
        .fold((0, 0), |(s, f), b| (s + b.succeeded, f + b.failed));
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(format!("{label}: {} succeeded, {} failed", total.0, total.1)) {
                @for (i, b) in buckets.iter().enumerate() {
                    @let x = i as f64 * slot + (slot - bar) / 2.0;
                    @let ok_h = b.succeeded as f64 / max * (HEIGHT - 4.0);
                    @let fail_h = b.failed as f64 / max * (HEIGHT - 4.0);
                    g {
                        title { (b.start.to_rfc3339()) ": " (b.succeeded) " succeeded, " (b.failed) " failed" }
                        rect.ok x=(format!("{x:.1}")) y=(format!("{:.1}", HEIGHT - ok_h)) width=(format!("{bar:.1}")) height=(format!("{ok_h:.1}")) {}
                        rect.fail x=(format!("{x:.1}")) y=(format!("{:.1}", HEIGHT - ok_h - fail_h)) width=(format!("{bar:.1}")) height=(format!("{fail_h:.1}")) {}
                    }
                }
            }
            figcaption { (label) ": " span.ok { (total.0) " succeeded" } ", " span.fail { (total.1) " failed" } }
        }
    }
}
