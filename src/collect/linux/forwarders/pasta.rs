//! pasta and slirp4netns, the user-mode network stacks of rootless containers: which ports
//! pasta forwards (its `-t`/`-u` specs) and which namespace each serves.

use std::ffi::OsStr;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::args::{Args, Style, Valued, parse_str};
use super::{Forwarder, ForwarderKind, NetnsHint, PortMap};
use crate::model::Proto;

/// pasta's options that take a value (`pasta --help`, 2023.03, plus later additions).
const PASTA_VALUED: &[&str] = &[
    "l",
    "log-file",
    "log-size",
    "runas",
    "I",
    "ns-ifname",
    "F",
    "fd",
    "p",
    "pcap",
    "P",
    "pid",
    "m",
    "mtu",
    "a",
    "address",
    "n",
    "netmask",
    "M",
    "mac-addr",
    "g",
    "gateway",
    "i",
    "interface",
    "o",
    "outbound",
    "outbound-if4",
    "outbound-if6",
    "D",
    "dns",
    "S",
    "search",
    "dns-forward",
    "dns-host",
    "t",
    "tcp-ports",
    "u",
    "udp-ports",
    "T",
    "tcp-ns",
    "U",
    "udp-ns",
    "userns",
    "netns",
    "ns-mac-addr",
    "map-host-loopback",
    "map-guest-addr",
];

/// `pasta … -t 8080:80 -u 5353 --netns /run/user/1000/netns/netns-… [PID]`. Without `-t`
/// (or `-u`) pasta forwards every port bound in the namespace ("auto").
pub(super) fn pasta<A: AsRef<[u8]>>(args: &[A]) -> Forwarder {
    let args = Args::parse(args, Style::Getopt, Valued::Only(PASTA_VALUED));
    let mut forwarder = Forwarder::of(ForwarderKind::Pasta);
    for (proto, names) in [
        (Proto::Tcp, ["t", "tcp-ports"]),
        (Proto::Udp, ["u", "udp-ports"]),
    ] {
        let specs = args.values(&names);
        if specs.is_empty() {
            forwarder.ports.push(every_port(proto));
        }
        for spec in specs {
            forwarder.ports.extend(pasta_spec(proto, spec));
        }
    }
    forwarder.netns = args
        .value(&["netns"])
        .map(|p| NetnsHint::Path(PathBuf::from(OsStr::from_bytes(p))))
        .or_else(|| pid_hint(args.positional.first()));
    forwarder
}

fn pid_hint(arg: Option<&&[u8]>) -> Option<NetnsHint> {
    parse_str::<u32>(arg?).map(NetnsHint::Pid)
}

fn every_port(proto: Proto) -> PortMap {
    PortMap {
        proto,
        host_addr: None,
        host_first: 1,
        host_last: u16::MAX,
        target_first: 1,
    }
}

/// One `-t`/`-u` spec: `none`, `auto`, `all`, or a comma list of
/// `[ADDR[%IFACE]/]FIRST[-LAST][:TARGET[-TARGETLAST]]` and `~FIRST[-LAST]` exclusions (only
/// exclusions: every other port).
fn pasta_spec(proto: Proto, spec: &[u8]) -> Vec<PortMap> {
    match spec {
        b"none" => return Vec::new(),
        b"auto" | b"all" => return vec![every_port(proto)],
        _ => {}
    }
    let (excluded, included): (Vec<&[u8]>, Vec<&[u8]>) = spec
        .split(|&b| b == b',')
        .partition(|item| item.starts_with(b"~"));
    let mut maps: Vec<PortMap> = included
        .iter()
        .filter_map(|item| pasta_item(proto, item))
        .collect();
    if maps.is_empty() && !excluded.is_empty() {
        maps.push(every_port(proto));
    }
    for range in excluded.iter().filter_map(|item| port_range(&item[1..])) {
        maps = maps.into_iter().flat_map(|m| subtract(m, range)).collect();
    }
    maps
}

fn pasta_item(proto: Proto, item: &[u8]) -> Option<PortMap> {
    let (address, ports) = match item.iter().rposition(|&b| b == b'/') {
        Some(at) => (Some(&item[..at]), &item[at + 1..]),
        None => (None, item),
    };
    // `ADDR%IFACE` or `%IFACE`: only the address matters here.
    let host_addr = address
        .and_then(|a| a.split(|&b| b == b'%').next())
        .and_then(parse_str::<IpAddr>);
    let (host, target) = match ports.iter().position(|&b| b == b':') {
        Some(at) => (&ports[..at], Some(&ports[at + 1..])),
        None => (ports, None),
    };
    let (host_first, host_last) = port_range(host)?;
    let target_first = match target {
        Some(t) => port_range(t)?.0,
        None => host_first,
    };
    Some(PortMap {
        proto,
        host_addr,
        host_first,
        host_last,
        target_first,
    })
}

/// `8080` or `8080-8090`.
fn port_range(text: &[u8]) -> Option<(u16, u16)> {
    let (first, last) = match text.iter().position(|&b| b == b'-') {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, text),
    };
    let (first, last) = (parse_str::<u16>(first)?, parse_str::<u16>(last)?);
    (first <= last).then_some((first, last))
}

/// `map` without host ports `lo..=hi`: nothing, itself, or the one or two parts outside.
fn subtract(map: PortMap, (lo, hi): (u16, u16)) -> Vec<PortMap> {
    if hi < map.host_first || lo > map.host_last {
        return vec![map];
    }
    let part = |first: u16, last: u16| PortMap {
        host_first: first,
        host_last: last,
        target_first: map.target_first.wrapping_add(first - map.host_first),
        ..map
    };
    let mut parts = Vec::new();
    if lo > map.host_first {
        parts.push(part(map.host_first, lo - 1));
    }
    if hi < map.host_last {
        parts.push(part(hi + 1, map.host_last));
    }
    parts
}

const SLIRP_VALUED: &[&str] = &[
    "e",
    "exit-fd",
    "r",
    "ready-fd",
    "m",
    "mtu",
    "a",
    "api-socket",
    "cidr",
    "netns-type",
    "userns-path",
    "outbound-addr",
    "outbound-addr6",
    "macaddress",
    "target-type",
];

/// `slirp4netns [OPTIONS] PID|PATH TAPNAME`; a path with `--netns-type=path`. Ports come
/// over its API socket, not the command line.
pub(super) fn slirp4netns<A: AsRef<[u8]>>(args: &[A]) -> Forwarder {
    let args = Args::parse(args, Style::Getopt, Valued::Only(SLIRP_VALUED));
    let mut forwarder = Forwarder::of(ForwarderKind::Slirp4netns);
    let first = args.positional.first();
    forwarder.netns = if args.value(&["netns-type"]) == Some(b"path") {
        first.map(|p| NetnsHint::Path(PathBuf::from(OsStr::from_bytes(p))))
    } else {
        pid_hint(first)
    };
    forwarder
}

#[cfg(test)]
mod tests {
    use super::super::recognise;
    use super::*;

    fn argv(line: &str) -> Vec<Vec<u8>> {
        line.split(' ').map(|a| a.as_bytes().to_vec()).collect()
    }

    fn map(proto: Proto, host: (u16, u16), target: u16) -> PortMap {
        PortMap {
            proto,
            host_addr: None,
            host_first: host.0,
            host_last: host.1,
            target_first: target,
        }
    }

    #[test]
    fn pasta_port_specs() {
        let line = "/usr/bin/pasta --config-net -t 8080-8080:80-80 --dns-forward 169.254.0.1 -u none -T none -U none --no-map-gw --quiet --netns /run/user/1000/netns/netns-3b1c";
        let found = recognise(b"pasta.avx2", &argv(line)).expect("pasta");
        assert_eq!(found.kind, ForwarderKind::Pasta);
        assert_eq!(found.ports, vec![map(Proto::Tcp, (8080, 8080), 80)]);
        assert_eq!(
            found.netns,
            Some(NetnsHint::Path("/run/user/1000/netns/netns-3b1c".into()))
        );

        let cases: Vec<(&str, Vec<PortMap>)> = vec![
            ("22", vec![map(Proto::Tcp, (22, 22), 22)]),
            ("22:23", vec![map(Proto::Tcp, (22, 22), 23)]),
            (
                "22,25",
                vec![map(Proto::Tcp, (22, 22), 22), map(Proto::Tcp, (25, 25), 25)],
            ),
            ("22-80:32-90", vec![map(Proto::Tcp, (22, 80), 32)]),
            (
                "5-25,~10-20",
                vec![map(Proto::Tcp, (5, 9), 5), map(Proto::Tcp, (21, 25), 21)],
            ),
            (
                "~25",
                vec![
                    map(Proto::Tcp, (1, 24), 1),
                    map(Proto::Tcp, (26, 65535), 26),
                ],
            ),
            ("none", vec![]),
            ("auto", vec![map(Proto::Tcp, (1, 65535), 1)]),
            ("80-20", vec![]),
        ];
        for (spec, expected) in cases {
            assert_eq!(pasta_spec(Proto::Tcp, spec.as_bytes()), expected, "{spec}");
        }
        let bound = pasta_spec(Proto::Tcp, b"192.0.2.1%eth0/5");
        assert_eq!(bound[0].host_addr, "192.0.2.1".parse().ok());
        assert_eq!(pasta_spec(Proto::Tcp, b"%eth0/5")[0].host_addr, None);
        let range = map(Proto::Tcp, (22, 80), 32);
        assert_eq!(range.target_of(Proto::Tcp, 30), Some(40));
        assert_eq!(range.target_of(Proto::Tcp, 81), None);
    }

    #[test]
    fn pasta_defaults_glued_values_and_pids() {
        let found = recognise(b"pasta", &argv("pasta -t8080:80 -f 4242")).expect("pasta");
        assert_eq!(found.target_port(Proto::Tcp, 8080), Some(80));
        // No -u at all: pasta forwards whatever is bound inside.
        assert_eq!(found.target_port(Proto::Udp, 5353), Some(5353));
        assert_eq!(found.netns, Some(NetnsHint::Pid(4242)));
        let long = recognise(
            b"pasta",
            &argv("pasta --tcp-ports=9000 --udp-ports 53:5353"),
        )
        .expect("pasta");
        assert_eq!(long.target_port(Proto::Tcp, 9000), Some(9000));
        assert_eq!(long.target_port(Proto::Udp, 53), Some(5353));
    }

    #[test]
    fn slirp4netns_targets() {
        let by_pid = argv(
            "slirp4netns --disable-host-loopback --mtu=65520 --enable-sandbox -c -e 3 -r 4 4242 tap0",
        );
        let found = recognise(b"slirp4netns", &by_pid).expect("slirp");
        assert_eq!(found.netns, Some(NetnsHint::Pid(4242)));
        let by_path =
            argv("slirp4netns -c -e 3 -r 4 --netns-type=path /run/user/1000/netns/cni-1 tap0");
        let found = recognise(b"slirp4netns", &by_path).expect("slirp");
        assert_eq!(
            found.netns,
            Some(NetnsHint::Path("/run/user/1000/netns/cni-1".into()))
        );
    }
}
