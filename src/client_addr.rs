//! The client's address: the peer, or what a trusted proxy says it is.
//!
//! Login throttling counts failures per client address, so the address must
//! not be something a client can choose. A client can write any
//! `x-forwarded-for` it likes; only a proxy the operator trusts
//! (`--trusted-proxies`) is believed, and only about the hop it appended
//! itself: the last one. Earlier hops were written by whoever connected to
//! that proxy and are ignored. This module is transport-free: the gRPC
//! adapter hands it the peer address and the header values.

use std::net::IpAddr;
use std::str::FromStr;

/// One trusted network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The proxies whose `x-forwarded-for` is believed: IP addresses and CIDR
/// networks. Empty by default: no header is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<Network>,
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// Parses a comma-separated list such as `10.0.0.0/8, 127.0.0.1, ::1`;
    /// blank entries are skipped, so the empty string is the empty list.
    fn from_str(list: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || {
                format!(
                    "`{}` is not an IP address or CIDR network; use a comma-separated list \
                     such as 10.0.0.0/8,127.0.0.1",
                    entry.escape_debug()
                )
            };
            let (addr, prefix) = match entry.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix)),
                None => (entry, None),
            };
            let addr = addr.parse::<IpAddr>().map_err(|_| bad())?.to_canonical();
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
                None => max,
            };
            networks.push(Network { addr, prefix });
        }
        Ok(Self { networks })
    }
}

impl TrustedProxies {
    /// Whether no proxy is trusted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    #[must_use]
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|n| n.contains(ip))
    }

    /// The client's address: the last hop of `forwarded_for` (the values of
    /// every `x-forwarded-for` entry, in order) when `peer` is a trusted
    /// proxy and that hop is an IP address; otherwise `peer` itself.
    #[must_use]
    pub fn client_addr<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .last()
            .and_then(|hop| hop.trim().parse::<IpAddr>().ok())
            .map_or(peer, |ip| ip.to_canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lists_of_addresses_and_networks_parse() {
        let proxies: TrustedProxies = " 10.0.0.0/8, 127.0.0.1 ,, ::1, 2001:db8::/32"
            .parse()
            .unwrap();
        assert!(proxies.trusts(ip("10.200.3.4")));
        assert!(proxies.trusts(ip("127.0.0.1")));
        assert!(proxies.trusts(ip("::ffff:127.0.0.1")));
        assert!(proxies.trusts(ip("::1")));
        assert!(proxies.trusts(ip("2001:db8:ffff::9")));
        assert!(!proxies.trusts(ip("11.0.0.1")));
        assert!(!proxies.trusts(ip("127.0.0.2")));
        assert!(!proxies.trusts(ip("2001:db9::1")));
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        let everything: TrustedProxies = "0.0.0.0/0".parse().unwrap();
        assert!(everything.trusts(ip("203.0.113.9")));
    }

    #[test]
    fn malformed_entries_are_refused_with_a_fix() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "10.0.0.1/x",
            "10.0.0",
        ] {
            let err = bad.parse::<TrustedProxies>().unwrap_err();
            // The flag and variable are named by `config`, which knows the source.
            assert!(err.contains(&format!("`{bad}`")), "{err}");
            assert!(err.contains("10.0.0.0/8"), "{err}");
        }
    }

    #[test]
    fn forwarded_for_from_an_untrusted_peer_is_ignored() {
        let proxies: TrustedProxies = "10.0.0.1".parse().unwrap();
        assert_eq!(
            proxies.client_addr(ip("192.0.2.5"), ["198.51.100.7"]),
            ip("192.0.2.5")
        );
        let nobody = TrustedProxies::default();
        assert_eq!(
            nobody.client_addr(ip("192.0.2.5"), ["198.51.100.7"]),
            ip("192.0.2.5")
        );
    }

    #[test]
    fn a_trusted_proxy_is_believed_about_the_last_hop_only() {
        let proxies: TrustedProxies = "10.0.0.1".parse().unwrap();
        // The client wrote "1.1.1.1, 2.2.2.2"; the proxy appended the real peer.
        assert_eq!(
            proxies.client_addr(ip("10.0.0.1"), ["1.1.1.1, 2.2.2.2, 198.51.100.7"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client_addr(ip("10.0.0.1"), ["1.1.1.1", "198.51.100.7 "]),
            ip("198.51.100.7")
        );
        // No header, or a last hop that is not an address: the peer it is.
        assert_eq!(proxies.client_addr(ip("10.0.0.1"), []), ip("10.0.0.1"));
        assert_eq!(
            proxies.client_addr(ip("10.0.0.1"), ["198.51.100.7, unknown"]),
            ip("10.0.0.1")
        );
    }
}
