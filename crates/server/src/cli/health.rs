//! `hookd health`: asks a running hookd's `/api/v1/health` and exits 0 only
//! on a 200, so a container image or a service manager can check the server
//! without curl.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::UsageError;
use crate::config::Config;

#[derive(Args)]
pub struct HealthArgs {
    /// Base URL of the server, e.g. http://127.0.0.1:8071 [default: the
    /// server's own `listen` setting (--config, HOOKD_LISTEN), on loopback]
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    timeout: u64,
}

/// The URL a process on the same host reaches `listen` at: a wildcard
/// address is not one to connect to, its family's loopback is.
fn local_base(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// The server to ask: `--url`, else the server configuration's `listen`.
pub fn base_url(
    args: &HealthArgs,
    config: impl FnOnce() -> Result<Config, String>,
) -> anyhow::Result<String> {
    if let Some(url) = &args.url {
        return Ok(url.trim_end_matches('/').to_string());
    }
    let config = config().map_err(|e| UsageError(format!("configuration error: {e}")))?;
    let listen = config.listen_addr().map_err(UsageError)?;
    Ok(local_base(listen))
}

pub async fn run(base: String, args: &HealthArgs) -> anyhow::Result<()> {
    let url = format!("{base}/api/v1/health");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout.max(1)))
        .no_proxy()
        .build()
        .context("cannot build the HTTP client")?;
    let resp = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach hookd at {url}"))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .with_context(|| format!("cannot read the answer of {url}"))?;
    println!("{body}");
    if status.is_success() {
        Ok(())
    } else {
        anyhow::bail!("hookd at {url} is not healthy ({status})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_is_asked_on_loopback() {
        let base = |s: &str| local_base(s.parse().unwrap_or_else(|e| panic!("{s}: {e}")));
        assert_eq!(base("0.0.0.0:8071"), "http://127.0.0.1:8071");
        assert_eq!(base("[::]:8071"), "http://[::1]:8071");
        assert_eq!(base("10.1.2.3:80"), "http://10.1.2.3:80");
    }
}
