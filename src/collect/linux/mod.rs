//! Linux: sockets from netlink sock_diag (through netstat2), owners from our own /proc scan.

mod owners;
mod udp_state;
mod visibility;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::IpAddr;

use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, SocketInfo, TcpState};

use super::{CollectError, Owners, Tables};
use crate::model::{Family, NoneReason, Owner, PortRange, Proto, SockState, Socket};

/// Every TCP and UDP socket of the requested families in this network namespace.
pub fn socket_table(tables: Tables) -> Result<Vec<Socket>, CollectError> {
    let mut families = AddressFamilyFlags::empty();
    families.set(AddressFamilyFlags::IPV4, tables.ipv4);
    families.set(AddressFamilyFlags::IPV6, tables.ipv6);
    let mut protocols = ProtocolFlags::empty();
    protocols.set(ProtocolFlags::TCP, tables.tcp);
    protocols.set(ProtocolFlags::UDP, tables.udp);
    if families.is_empty() || protocols.is_empty() {
        return Ok(Vec::new());
    }
    let connected_udp = if tables.udp {
        udp_state::connected_udp(tables.ipv4, tables.ipv6)
            .map_err(|e| CollectError::table("udp (netlink sock_diag)", e))?
    } else {
        HashMap::new()
    };
    let rows = netstat2::iterate_sockets_info_without_pids(families, protocols)
        .map_err(|e| CollectError::table("tcp/udp (netlink sock_diag)", e))?;
    rows.map(|row| {
        row.map(|info| to_socket(info, &connected_udp))
            .map_err(|e| CollectError::table("tcp/udp (netlink sock_diag)", e))
    })
    .collect()
}

fn to_socket(info: SocketInfo, connected_udp: &HashMap<u64, (IpAddr, u16)>) -> Socket {
    let inode = u64::from(info.inode);
    let (proto, local_addr, port, state, remote) = match info.protocol_socket_info {
        ProtocolSocketInfo::Tcp(tcp) => {
            let state = tcp_state(tcp.state);
            let remote = (state != SockState::Listen).then_some((tcp.remote_addr, tcp.remote_port));
            (Proto::Tcp, tcp.local_addr, tcp.local_port, state, remote)
        }
        ProtocolSocketInfo::Udp(udp) => {
            let remote = connected_udp.get(&inode).copied();
            let state = if remote.is_some() {
                SockState::Established
            } else {
                SockState::Unconn
            };
            (Proto::Udp, udp.local_addr, udp.local_port, state, remote)
        }
    };
    Socket {
        proto,
        family: if local_addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        },
        local_addr,
        port,
        remote,
        state,
        inode,
        uid: info.uid,
        owner: Owner::None(NoneReason::NoHolder),
    }
}

fn tcp_state(state: TcpState) -> SockState {
    match state {
        TcpState::Listen => SockState::Listen,
        TcpState::Established => SockState::Established,
        TcpState::SynSent => SockState::SynSent,
        TcpState::SynReceived => SockState::SynRecv,
        TcpState::FinWait1 => SockState::FinWait1,
        TcpState::FinWait2 => SockState::FinWait2,
        TcpState::TimeWait => SockState::TimeWait,
        TcpState::Closed => SockState::Close,
        TcpState::CloseWait => SockState::CloseWait,
        TcpState::LastAck => SockState::LastAck,
        TcpState::Closing => SockState::Closing,
        TcpState::DeleteTcb | TcpState::Unknown => SockState::Unknown,
    }
}

/// Finds every holder of the given sockets, and what to say about the ones without.
pub fn find_owners(sockets: &[Socket]) -> Owners {
    let wanted: HashSet<u64> = sockets
        .iter()
        .map(|s| s.inode)
        .filter(|&i| i != 0)
        .collect();
    let scan = owners::scan(&wanted);
    let unowned = match visibility::hidden_reason(&scan) {
        Some(reason) => Owner::Hidden(reason),
        None => Owner::None(NoneReason::NoHolder),
    };
    Owners {
        by_inode: scan.owners,
        unowned,
        unreadable_pids: scan.unreadable,
    }
}

/// `/proc/sys/net/ipv4/ip_local_port_range` of this network namespace.
pub fn ephemeral_range() -> Option<PortRange> {
    let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    PortRange::parse_pair(&text)
}
