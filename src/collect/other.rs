//! macOS, Windows and the BSDs: netstat2 reports sockets and their pids together.
//! Owners come from its `associated_pids`; the UDP connected state is not available here, so
//! every bound UDP socket counts as a listener.

use std::collections::HashMap;

use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, TcpState};

use super::{CollectError, Owners, Tables};
use crate::model::{Family, HiddenReason, NoneReason, Owner, PortRange, Proto, SockState, Socket};

pub fn socket_table(tables: Tables) -> Result<Vec<Socket>, CollectError> {
    let mut families = AddressFamilyFlags::empty();
    families.set(AddressFamilyFlags::IPV4, tables.ipv4);
    families.set(AddressFamilyFlags::IPV6, tables.ipv6);
    let mut protocols = ProtocolFlags::empty();
    protocols.set(ProtocolFlags::TCP, tables.tcp);
    protocols.set(ProtocolFlags::UDP, tables.udp);
    let rows = netstat2::get_sockets_info(families, protocols)
        .map_err(|e| CollectError::table("tcp/udp", e))?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, info)| to_socket(i, info))
        .collect())
}

fn to_socket(index: usize, info: netstat2::SocketInfo) -> Socket {
    let (proto, local_addr, port, state, remote) = match &info.protocol_socket_info {
        ProtocolSocketInfo::Tcp(tcp) => {
            let state = if tcp.state == TcpState::Listen {
                SockState::Listen
            } else if tcp.state == TcpState::Established {
                SockState::Established
            } else {
                SockState::Unknown
            };
            let remote = (state != SockState::Listen).then_some((tcp.remote_addr, tcp.remote_port));
            (Proto::Tcp, tcp.local_addr, tcp.local_port, state, remote)
        }
        ProtocolSocketInfo::Udp(udp) => (
            Proto::Udp,
            udp.local_addr,
            udp.local_port,
            SockState::Unconn,
            None,
        ),
    };
    // No inodes here: the row index stands in as the key, and the pids travel in `owner`.
    let owner = match info.associated_pids.as_slice() {
        [] => Owner::Hidden(HiddenReason::Unreadable),
        pids => Owner::Known(pids.to_vec()),
    };
    Socket {
        proto,
        family: Family::of(&local_addr),
        local_addr,
        port,
        remote,
        state,
        inode: index as u64 + 1,
        uid: 0,
        owner,
    }
}

/// Nothing to remember here: netstat2 reports owners with the sockets.
#[derive(Debug, Default)]
pub struct OwnerIndex;

pub fn find_owners(_index: &mut OwnerIndex, sockets: &[Socket]) -> Owners {
    let by_inode: HashMap<u64, Vec<u32>> = sockets
        .iter()
        .filter_map(|s| match &s.owner {
            Owner::Known(pids) => Some((s.inode, pids.clone())),
            _ => None,
        })
        .collect();
    Owners {
        by_inode,
        unowned: Owner::None(NoneReason::NoHolder),
        unreadable_pids: Vec::new(),
    }
}

/// Connection counts are not collected on this OS yet.
pub fn connections(
    _tables: Tables,
    _listeners: &[Socket],
) -> Result<std::collections::BTreeMap<u16, crate::model::Connections>, CollectError> {
    Ok(std::collections::BTreeMap::new())
}

pub fn ephemeral_range() -> Option<PortRange> {
    None
}
