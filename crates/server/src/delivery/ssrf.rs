//! SSRF policy: which addresses deliveries may connect to.
//!
//! By default only public unicast addresses are allowed. The check runs on
//! the addresses a host name actually resolves to (inside the HTTP client's
//! resolver, so DNS rebinding cannot slip past an earlier check) and, since
//! the resolver never sees them, on IP literals in the URL before sending.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("blocked by SSRF policy: {addr} is a {class} address (allow it with allowed_subnets)")]
pub struct Blocked {
    pub addr: IpAddr,
    pub class: &'static str,
}

/// A host name that did not resolve.
#[derive(Debug, thiserror::Error)]
#[error("DNS lookup of {host} failed: {reason}")]
pub struct DnsFailure {
    pub host: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub allowed: Vec<IpNet>,
}

/// The class of a non-public address, `None` for a public one.
pub fn non_public_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry an
            // IPv4 address that is what really gets reached.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_class(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let v4 =
                    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                return v4_class(v4);
            }
            v6_class(v6)
        }
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [127, ..] => "loopback",
        [10, ..] => "private",
        [172, b, ..] if (16..32).contains(&b) => "private",
        [192, 168, ..] => "private",
        [169, 254, 169, 254] => "cloud metadata",
        [169, 254, ..] => "link-local",
        [100, b, ..] if (64..128).contains(&b) => "CGNAT",
        [0, ..] => "unspecified",
        [a, ..] if (224..240).contains(&a) => "multicast",
        [a, ..] if a >= 240 => "reserved",
        [192, 0, 0, _] => "reserved",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [198, b, ..] if b == 18 || b == 19 => "benchmarking",
        _ => return None,
    })
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_multicast() {
        "multicast"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link-local"
    } else if s[0] & 0xfe00 == 0xfc00 {
        // Includes fd00:ec2::254, the AWS metadata service over IPv6.
        "unique-local"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if s[0..6] == [0, 0, 0, 0, 0, 0] {
        // IPv4-compatible (deprecated) addresses.
        "reserved"
    } else {
        return None;
    })
}

impl Policy {
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        let Some(class) = non_public_class(ip) else {
            return Ok(());
        };
        if self.allowed.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        // An allowed v4 range also covers the v4-mapped form of its addresses.
        if let IpAddr::V6(v6) = ip
            && let Some(v4) = v6.to_ipv4_mapped()
            && self.allowed.iter().any(|net| net.contains(&IpAddr::V4(v4)))
        {
            return Ok(());
        }
        Err(Blocked { addr: ip, class })
    }
}

/// A resolver for the HTTP client that drops every address the policy refuses.
#[derive(Clone)]
pub struct PolicyResolver {
    pub policy: Arc<Policy>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                    Box::new(DnsFailure {
                        host: host.clone(),
                        reason: e.to_string(),
                    })
                })?
                .collect();
            let mut first_block = None;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(b) => {
                        first_block.get_or_insert(b);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                return Err(match first_block {
                    Some(b) => Box::new(b) as Box<dyn std::error::Error + Send + Sync>,
                    None => Box::new(DnsFailure {
                        host,
                        reason: "no addresses".into(),
                    }),
                });
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_refused() {
        let p = Policy::default();
        for bad in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(p.check(ip(bad)).is_err(), "{bad} should be blocked");
        }
        for good in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(p.check(ip(good)), Ok(()), "{good} should be allowed");
        }
        assert_eq!(
            p.check(ip("169.254.169.254")).unwrap_err().class,
            "cloud metadata"
        );
    }

    #[test]
    fn allow_list_opens_ranges() {
        let p = Policy {
            allowed: vec!["127.0.0.0/8".parse().unwrap(), "fc00::/7".parse().unwrap()],
        };
        assert_eq!(p.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(p.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(p.check(ip("fd12::1")), Ok(()));
        assert!(p.check(ip("10.0.0.1")).is_err());
        assert!(p.check(ip("::1")).is_err());
    }
}
