//! Who the client is, for rate limits and `X-Forwarded-For`.
//!
//! The client address is the socket peer. `X-Forwarded-For` is believed only
//! when the peer is a trusted proxy (`TRUSTED_PROXIES`: IPs or CIDRs); then
//! the chain is read from the right, skipping trusted hops, and the first
//! untrusted address is the client (entries further left were written by
//! that client and prove nothing).

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    str::FromStr,
};

use http::HeaderMap;
use ipnet::IpNet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TRUSTED_PROXIES: '{0}' is not an IP address or CIDR (e.g. 10.0.0.0/8, ::1)")]
pub struct ProxyListError(String);

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, ProxyListError> {
        let nets = entries
            .iter()
            .map(|e| {
                let e = e.as_ref().trim();
                IpNet::from_str(e)
                    .map(|n| n.trunc())
                    .or_else(|_| IpAddr::from_str(e).map(IpNet::from))
                    .map_err(|_| ProxyListError(e.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { nets })
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address of a request that arrived from `peer`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        for entry in forwarded_for(headers).iter().rev() {
            match parse_entry(entry) {
                Some(ip) if self.contains(ip) => client = ip,
                Some(ip) => return ip,
                // Garbage written past a trusted hop: stop at the last good one.
                None => return client,
            }
        }
        client
    }
}

/// All `X-Forwarded-For` entries, in order, across repeated headers.
pub fn forwarded_for(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`.
fn parse_entry(s: &str) -> Option<IpAddr> {
    IpAddr::from_str(s)
        .ok()
        .or_else(|| SocketAddr::from_str(s).ok().map(|a| a.ip()))
        .or_else(|| {
            s.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| IpAddr::from_str(r).ok())
        })
        .map(|ip| ip.to_canonical())
}

/// The key a client is rate-limited under: IPv4 as is, IPv6 by its /64
/// (one subscriber usually holds a whole /64, and could rotate within it).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            IpAddr::V6(Ipv6Addr::new(seg[0], seg[1], seg[2], seg[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn parses_ips_and_cidrs_and_refuses_garbage() {
        let t = TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.7", "::1", "fd00::/8"]).unwrap();
        assert!(t.contains(ip("10.1.2.3")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("::1")));
        assert!(t.contains(ip("fd12::1")));
        // IPv4-mapped IPv6 peers match IPv4 entries.
        assert!(t.contains(ip("::ffff:10.0.0.1")));
        let err = TrustedProxies::parse(&["10.0.0.0/33"]).unwrap_err();
        assert!(err.to_string().contains("'10.0.0.0/33'"));
        assert!(TrustedProxies::parse(&["proxy.local"]).is_err());
    }

    #[test]
    fn untrusted_peer_xff_is_ignored() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let h = xff(&["1.1.1.1"]);
        assert_eq!(t.client_ip(ip("203.0.113.9"), &h), ip("203.0.113.9"));
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(ip("127.0.0.1"), &h), ip("127.0.0.1"));
    }

    #[test]
    fn trusted_peer_gives_rightmost_untrusted() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        // Client forged 6.6.6.6; the real client is 198.51.100.7; 10.0.0.2 is an inner proxy.
        let h = xff(&["6.6.6.6, 198.51.100.7", "10.0.0.2"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("198.51.100.7"));
        // Ports and brackets are tolerated.
        let h = xff(&["198.51.100.7:5555"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("198.51.100.7"));
        let h = xff(&["[2001:db8::1]:443"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("2001:db8::1"));
    }

    #[test]
    fn all_trusted_or_missing_or_garbage() {
        let t = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        let h = xff(&["10.0.0.3, 10.0.0.2"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.3"));
        let h = xff(&["1.2.3.4, nonsense, 10.0.0.2"]);
        assert_eq!(t.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.2"));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_eq!(limit_key(ip("203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(limit_key(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
    }
}
