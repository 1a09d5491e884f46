//! Without root: the listeners of other namespaces from `/proc/<pid>/net/{tcp,tcp6,udp,udp6}`,
//! which any user may read for any process. One visible process per namespace is enough; the
//! namespaces are told apart by the inode of that file (the namespace file itself is not
//! readable for another user's process). Owners are then known only for your own processes.

use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::MetadataExt;

use super::discover;
use crate::collect::TableRead;
use crate::model::{
    Family, Netns, NetnsKind, NoneReason, Owner, Proto, SafeText, Selection, SockState, Socket,
};

/// The TCP state LISTEN and the UDP "bound, not connected" state, in /proc/net's hex.
const TCP_LISTEN: &str = "0A";
const UDP_UNCONNECTED: &str = "07";

/// The listeners of every namespace other than ours that a visible process is in.
pub fn read_others(selection: Selection, pids: &[u32]) -> TableRead {
    let own = fs::metadata("/proc/thread-self/net/tcp").map_or(0, |m| m.ino());
    let mut seen = BTreeSet::from([own]);
    let mut read = TableRead::default();
    for &pid in pids {
        let Ok(meta) = fs::metadata(format!("/proc/{pid}/net/tcp")) else {
            continue;
        };
        if !seen.insert(meta.ino()) {
            continue;
        }
        // Our own process's namespace file is readable: use its real inode.
        let netns = discover::inode_of(std::path::Path::new(&format!("/proc/{pid}/ns/net")))
            .unwrap_or(meta.ino());
        let before = read.sockets.len();
        for (proto, family, file) in FILES {
            if selection.has_proto(proto) && selection.has_family(family) {
                let text =
                    fs::read_to_string(format!("/proc/{pid}/net/{file}")).unwrap_or_default();
                read.sockets
                    .extend(parse(&text, proto, netns, selection.all_states));
            }
        }
        if read.sockets.len() > before {
            read.namespaces.insert(netns, anonymous(netns, pid));
        }
    }
    read
}

const FILES: [(Proto, Family, &str); 4] = [
    (Proto::Tcp, Family::Ipv4, "tcp"),
    (Proto::Tcp, Family::Ipv6, "tcp6"),
    (Proto::Udp, Family::Ipv4, "udp"),
    (Proto::Udp, Family::Ipv6, "udp6"),
];

fn anonymous(netns: u64, pid: u32) -> Netns {
    Netns {
        inode: netns,
        id: None,
        kind: NetnsKind::Anonymous,
        name: SafeText::new(&format!("netns of pid {pid}")),
        container: None,
        pid: Some(pid),
        paths: Vec::new(),
        found_by: vec!["process"],
        current: false,
    }
}

/// The rows of one /proc/net table (the first line is its header).
fn parse(text: &str, proto: Proto, netns: u64, all_states: bool) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|line| row(line, proto, netns))
        .filter(|s| all_states || s.is_listener())
        .collect()
}

/// `sl local rem st tx:rx tr:when retrnsmt uid timeout inode …`
fn row(line: &str, proto: Proto, netns: u64) -> Option<Socket> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local_addr, port) = endpoint(fields.get(1)?)?;
    let remote = endpoint(fields.get(2)?)?;
    let code = *fields.get(3)?;
    let state = match (proto, code) {
        (Proto::Tcp, TCP_LISTEN) => SockState::Listen,
        (Proto::Udp, UDP_UNCONNECTED) if remote.1 == 0 => SockState::Unconn,
        (Proto::Udp, _) => SockState::Established,
        _ => SockState::Unknown,
    };
    Some(Socket {
        proto,
        family: Family::of(&local_addr),
        local_addr,
        port,
        remote: (!matches!(state, SockState::Listen | SockState::Unconn)).then_some(remote),
        state,
        inode: fields.get(9)?.parse().ok()?,
        uid: fields.get(7)?.parse().ok(),
        v6only: None,
        netns,
        owner: Owner::None(NoneReason::NoHolder),
    })
}

/// `0100007F:1F90` (IPv4, the address a little-endian word) or 32 hex digits of four
/// little-endian words (IPv6), then the port in plain hex.
fn endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let addr = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(addr, 16).ok()?.swap_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((addr, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_decode_both_families() {
        assert_eq!(
            endpoint("0100007F:1F90"),
            Some(("127.0.0.1".parse().expect("ip"), 8080))
        );
        assert_eq!(
            endpoint("00000000000000000000000001000000:0050"),
            Some(("::1".parse().expect("ip"), 80))
        );
        assert_eq!(endpoint("zz:1"), None);
    }

    #[test]
    fn rows_become_listeners() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:0BB8 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0000000000000000 100 0 0 10 0";
        let sockets = parse(table, Proto::Tcp, 7, false);
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets[0].port, 3000);
        assert_eq!(sockets[0].inode, 4242);
        assert_eq!(sockets[0].uid, Some(1000));
        assert_eq!(sockets[0].netns, 7);
        assert_eq!(parse(table, Proto::Tcp, 7, true).len(), 2);
    }
}
