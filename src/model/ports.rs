//! Port facts as the IANA registry defines them, plus where a socket can be reached from.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use super::Proto;

/// The forms a port argument may take, for error messages.
pub const PORT_FORMS: &str = "forms: 3000, :3000, 3000/tcp, 3000/udp, 8000-8100";

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

    /// The machine-readable name, as JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RangeGroup::WellKnown => "well-known",
            RangeGroup::Registered => "registered",
            RangeGroup::Dynamic => "dynamic",
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

/// One port or an inclusive range of ports, optionally of one protocol: what a user asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub low: u16,
    pub high: u16,
    pub proto: Option<Proto>,
}

impl PortSpec {
    pub fn matches(&self, proto: Proto, port: u16) -> bool {
        self.covers(port) && self.proto.is_none_or(|p| p == proto)
    }

    /// The port number is in the range, whatever the protocol.
    pub fn covers(&self, port: u16) -> bool {
        (self.low..=self.high).contains(&port)
    }

    /// How many port numbers the spec covers.
    pub fn width(&self) -> usize {
        usize::from(self.high - self.low) + 1
    }

    pub fn is_single(&self) -> bool {
        self.low == self.high
    }

    /// Parses `3000`, `:3000`, `3000/udp`, `8000-8100`, `8000-8100/tcp`. Only plain decimal
    /// digits: `+3000`, `0x50`, `-1` and `3000.0` are refused rather than guessed at.
    pub fn parse(text: &str) -> Result<PortSpec, String> {
        if text.is_empty() {
            return Err(format!("empty port; {PORT_FORMS}"));
        }
        let body = text.strip_prefix(':').unwrap_or(text);
        let (numbers, proto) = match body.split_once('/') {
            Some((numbers, proto)) => (numbers, Some(parse_proto(proto)?)),
            None => (body, None),
        };
        let (low, high) = match numbers.split_once('-') {
            Some((low, high)) if !low.is_empty() => (parse_port(low)?, parse_port(high)?),
            _ => {
                let port = parse_port(numbers)?;
                (port, port)
            }
        };
        if low > high {
            return Err(format!(
                "range {low}-{high} is reversed; write {high}-{low}"
            ));
        }
        Ok(PortSpec { low, high, proto })
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)?;
        } else {
            write!(f, "{}-{}", self.low, self.high)?;
        }
        match self.proto {
            Some(proto) => write!(f, "/{}", proto.as_str()),
            None => Ok(()),
        }
    }
}

fn parse_proto(text: &str) -> Result<Proto, String> {
    match text.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        _ => Err(format!(
            "unknown protocol '{text}': use tcp or udp; {PORT_FORMS}"
        )),
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    let range = "a port is a whole number from 1 to 65535";
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{range}; {PORT_FORMS}"));
    }
    match text.parse::<u32>() {
        Ok(port @ 1..=65535) => u16::try_from(port).map_err(|_| range.to_string()),
        _ => Err(format!("{text} is out of range: {range}")),
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

    /// The machine-readable name, as JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::Loopback => "loopback",
            Exposure::All => "all",
            Exposure::Specific => "specific",
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
pub(crate) fn canonical(addr: &IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(*v6), IpAddr::V4),
        v4 => *v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(low: u16, high: u16, proto: Option<Proto>) -> PortSpec {
        PortSpec { low, high, proto }
    }

    #[test]
    fn accepted_port_forms() {
        let cases = [
            ("3000", spec(3000, 3000, None)),
            (":5432", spec(5432, 5432, None)),
            ("53/udp", spec(53, 53, Some(Proto::Udp))),
            ("80/TCP", spec(80, 80, Some(Proto::Tcp))),
            ("8000-8100", spec(8000, 8100, None)),
            (":8000-8100/tcp", spec(8000, 8100, Some(Proto::Tcp))),
            ("1", spec(1, 1, None)),
            ("65535", spec(65535, 65535, None)),
        ];
        for (text, expected) in cases {
            assert_eq!(PortSpec::parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn refused_port_forms() {
        for text in [
            "",
            "0",
            "65536",
            "-1",
            "abc",
            "3010-3000",
            "+3000",
            "0x50",
            "3000/sctp",
            "3000/",
            ":",
            "3000-",
            "-3000",
            " 3000",
            "3000.0",
            "99999999999999999999",
            "1-2-3",
        ] {
            assert!(PortSpec::parse(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn port_matching_is_exact() {
        let s = PortSpec::parse("3000").expect("valid");
        assert!(s.matches(Proto::Tcp, 3000) && s.matches(Proto::Udp, 3000));
        assert!(!s.matches(Proto::Tcp, 30001) && !s.matches(Proto::Tcp, 300));
        let udp = PortSpec::parse("3000/udp").expect("valid");
        assert!(!udp.matches(Proto::Tcp, 3000) && udp.covers(3000));
        assert_eq!(PortSpec::parse("1-65535").map(|s| s.width()), Ok(65535));
    }

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
