//! Port facts as the IANA registry defines them, plus where a socket can be reached from.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// The three IANA ranges (RFC 6335).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RangeGroup {
    /// 0–1023: binding needs root or CAP_NET_BIND_SERVICE.
    #[serde(rename = "well-known")]
    WellKnown,
    /// 1024–49151.
    Registered,
    /// 49152–65535: clients get these for outgoing connections.
    Dynamic,
}

impl RangeGroup {
    pub const ALL: [RangeGroup; 3] = [
        RangeGroup::WellKnown,
        RangeGroup::Registered,
        RangeGroup::Dynamic,
    ];

    pub fn of(port: u16) -> Self {
        match port {
            0..=1023 => RangeGroup::WellKnown,
            1024..=49151 => RangeGroup::Registered,
            _ => RangeGroup::Dynamic,
        }
    }

    /// One sentence for the help screen.
    pub fn explain(self) -> &'static str {
        match self {
            RangeGroup::WellKnown => "system services; binding needs root or CAP_NET_BIND_SERVICE",
            RangeGroup::Registered => "assigned by IANA to applications; any user may bind them",
            RangeGroup::Dynamic => "never assigned; the OS hands them to clients as source ports",
        }
    }

    /// The heading used in tables and the TUI.
    pub fn title(self) -> &'static str {
        match self {
            RangeGroup::WellKnown => "Well-known 0–1023",
            RangeGroup::Registered => "Registered 1024–49151",
            RangeGroup::Dynamic => "Dynamic/private 49152–65535",
        }
    }
}

/// An inclusive port range, such as the OS's ephemeral range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    pub fn contains(self, port: u16) -> bool {
        (self.low..=self.high).contains(&port)
    }

    /// Parses the two numbers of `/proc/sys/net/ipv4/ip_local_port_range`.
    pub fn parse_pair(text: &str) -> Option<Self> {
        let mut numbers = text.split_whitespace().map(str::parse::<u16>);
        let low = numbers.next()?.ok()?;
        let high = numbers.next()?.ok()?;
        (low <= high).then_some(PortRange { low, high })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.low, self.high)
    }
}

/// Who can reach a socket, judged by its local address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Exposure {
    /// 127.0.0.0/8 or ::1: this host only.
    Loopback,
    /// 0.0.0.0 or [::]: every interface, reachable from the network.
    All,
    /// One specific address.
    Specific,
}

impl Exposure {
    pub fn of(addr: &IpAddr) -> Self {
        let addr = canonical(addr);
        if addr.is_loopback() {
            Exposure::Loopback
        } else if addr.is_unspecified() {
            Exposure::All
        } else {
            Exposure::Specific
        }
    }

    /// Short text for tables.
    pub fn label(self) -> &'static str {
        match self {
            Exposure::Loopback => "local only",
            Exposure::All => "all interfaces",
            Exposure::Specific => "one address",
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are judged as the IPv4 address they carry.
fn canonical(addr: &IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(*v6), IpAddr::V4),
        v4 => *v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_iana_boundaries() {
        let cases = [
            (0, RangeGroup::WellKnown),
            (1023, RangeGroup::WellKnown),
            (1024, RangeGroup::Registered),
            (49151, RangeGroup::Registered),
            (49152, RangeGroup::Dynamic),
            (65535, RangeGroup::Dynamic),
        ];
        for (port, group) in cases {
            assert_eq!(RangeGroup::of(port), group, "port {port}");
        }
    }

    #[test]
    fn exposure_by_address() {
        let cases = [
            ("127.0.0.1", Exposure::Loopback),
            ("127.8.9.10", Exposure::Loopback),
            ("::1", Exposure::Loopback),
            ("::ffff:127.0.0.1", Exposure::Loopback),
            ("0.0.0.0", Exposure::All),
            ("::", Exposure::All),
            ("192.0.2.7", Exposure::Specific),
            ("fe80::1", Exposure::Specific),
        ];
        for (text, exposure) in cases {
            let addr: IpAddr = text.parse().expect("test address");
            assert_eq!(Exposure::of(&addr), exposure, "{text}");
        }
    }

    #[test]
    fn ephemeral_range_parses_proc_format() {
        let range = PortRange::parse_pair("32768\t60999\n").expect("parses");
        assert_eq!(
            range,
            PortRange {
                low: 32768,
                high: 60999
            }
        );
        assert!(range.contains(32768) && range.contains(60999));
        assert!(!range.contains(32767) && !range.contains(61000));
        assert_eq!(PortRange::parse_pair("9 3"), None);
        assert_eq!(PortRange::parse_pair("garbage"), None);
    }
}
