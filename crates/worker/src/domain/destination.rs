//! Where a webhook may be delivered: public addresses only, unless the
//! operator allows a network explicitly (`WEBHOOK_ALLOWED_NETWORKS`).
//!
//! Without this rule an admin account (or whoever stole one) could make
//! the worker POST to anything the worker can reach: the database, Redis,
//! the services' own ports, a cloud metadata endpoint at 169.254.169.254.
//! So loopback, private, shared (CGNAT), link-local, multicast,
//! unspecified, broadcast and reserved ranges are refused, in IPv4 and
//! IPv6, including IPv4 addresses carried inside IPv6 (mapped, compatible,
//! 6to4, NAT64).
//!
//! Hosts are read the way resolvers and browsers read them, so the
//! numeric spellings of an address (`2130706433`, `0x7f.1`, `0177.0.0.1`,
//! `127.1`) are the address they spell, not a name to look up.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Networks the operator allows although they are not public.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist(Vec<IpNet>);

impl Allowlist {
    /// Parses `WEBHOOK_ALLOWED_NETWORKS` entries: CIDRs or single addresses.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("WEBHOOK_ALLOWED_NETWORKS: '{e}' is not an IP address or CIDR")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// Why an address is refused as a destination, or `None` when it is a
/// public address or in the allowlist.
pub fn refusal(ip: IpAddr, allow: &Allowlist) -> Option<&'static str> {
    if allow.permits(ip) {
        return None;
    }
    match canonical(ip) {
        IpAddr::V4(v4) => v4_refusal(v4),
        IpAddr::V6(v6) => v6_refusal(v6),
    }
}

/// An IPv4 address carried in IPv6 as the IPv4 address (mapped `::ffff:`).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn v4_refusal(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.is_broadcast()
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
    {
        Some("a reserved address")
    } else {
        None
    }
}

fn v6_refusal(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    if ip.is_multicast() {
        return Some("a multicast address");
    }
    if (s[0] & 0xfe00) == 0xfc00 {
        return Some("a private address");
    }
    if (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xffc0) == 0xfec0 {
        return Some("a link-local address");
    }
    // IPv4 inside IPv6: judged as the IPv4 address it carries.
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let carried = if s[..6] == [0; 6] {
        // ::a.b.c.d (deprecated "compatible" form).
        Some(embedded(s[6], s[7]))
    } else if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        // NAT64 64:ff9b::a.b.c.d
        Some(embedded(s[6], s[7]))
    } else if s[0] == 0x2002 {
        // 6to4 2002:aabb:ccdd::
        Some(embedded(s[1], s[2]))
    } else {
        None
    };
    carried.and_then(v4_refusal)
}

/// The address `host` spells, if it is one: an IPv6 literal (with or
/// without brackets) or IPv4 in any form a resolver accepts: dotted
/// decimal, one to four parts, each decimal, octal (`0` prefix) or hex
/// (`0x`), the last part filling the remaining bytes (WHATWG URL host
/// parsing, which `inet_aton` agrees with).
pub fn literal_ip(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(v6) = bare.parse::<Ipv6Addr>() {
        return Some(IpAddr::V6(v6));
    }
    numeric_ipv4(host).map(IpAddr::V4)
}

fn numeric_ipv4(host: &str) -> Option<Ipv4Addr> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let numbers = parts
        .iter()
        .map(|p| ipv4_number(p))
        .collect::<Option<Vec<u64>>>()?;
    let (last, leading) = numbers.split_last()?;
    if leading.iter().any(|&n| n > 255) {
        return None;
    }
    let room = 8 * (5 - numbers.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let mut value = *last;
    for (i, n) in leading.iter().enumerate() {
        value += n << (8 * (3 - i as u32));
    }
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        // "0x" alone is zero.
        return (radix == 16).then_some(0);
    }
    if digits.len() > 12 || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Names that always mean this machine, whatever DNS says.
pub fn is_local_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn numeric_forms_are_the_address_they_spell() {
        for form in [
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "0x7f.1",
            "0177.0.0.1",
            "127.1",
            "127.0.1",
            "0x7F.0.0.0x1",
            "127.0.0.1.",
        ] {
            assert_eq!(literal_ip(form), Some(ip("127.0.0.1")), "{form}");
        }
        assert_eq!(literal_ip("[::1]"), Some(ip("::1")));
        assert_eq!(literal_ip("::ffff:7f00:1"), Some(ip("::ffff:127.0.0.1")));
        for name in [
            "example.com",
            "1.2.3.4.5",
            "256.0.0.1",
            "1.2.3.0x1g",
            "09.1.1.1",
            "4294967296",
            "",
        ] {
            assert_eq!(literal_ip(name), None, "{name}");
        }
    }

    #[test]
    fn local_private_and_special_ranges_are_refused() {
        let none = Allowlist::default();
        for bad in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            assert!(refusal(ip(bad), &none).is_some(), "{bad} should be refused");
        }
        for good in [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:93.184.216.34",
        ] {
            assert_eq!(refusal(ip(good), &none), None, "{good}");
        }
    }

    #[test]
    fn the_allowlist_opens_exactly_its_networks() {
        let allow =
            Allowlist::parse(&["10.1.0.0/16".to_owned(), " 127.0.0.1 ".to_owned()]).unwrap();
        assert_eq!(refusal(ip("10.1.2.3"), &allow), None);
        assert_eq!(refusal(ip("127.0.0.1"), &allow), None);
        assert_eq!(refusal(ip("::ffff:127.0.0.1"), &allow), None);
        assert!(refusal(ip("10.2.0.1"), &allow).is_some());
        assert!(refusal(ip("127.0.0.2"), &allow).is_some());
        assert!(Allowlist::parse(&["ten.0.0.0/8".to_owned()]).is_err());
    }

    #[test]
    fn localhost_names() {
        assert!(is_local_name("localhost"));
        assert!(is_local_name("LocalHost."));
        assert!(is_local_name("api.localhost"));
        assert!(!is_local_name("localhost.example.com"));
    }
}
