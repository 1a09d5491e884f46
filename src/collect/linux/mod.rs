//! Linux: sockets from netlink sock_diag (through netstat2), owners from our own /proc scan.

pub mod bpf;
mod diag;
mod owners;
pub mod procstat;
mod visibility;

pub use owners::{OwnerIndex, OwnerScan};

use std::collections::{BTreeMap, HashSet};
use std::fs;

use super::{CollectError, Owners, Tables};
use crate::model::{Connections, Family, NoneReason, Owner, PEERS_KEPT, PortRange, Proto, Socket};

/// Every TCP and UDP socket of the requested families in this network namespace (only the
/// listeners when `tables.listeners_only`).
pub fn socket_table(tables: Tables) -> Result<Vec<Socket>, CollectError> {
    let families = [(tables.ipv4, Family::Ipv4), (tables.ipv6, Family::Ipv6)];
    let protos = [(tables.tcp, Proto::Tcp), (tables.udp, Proto::Udp)];
    let mut sockets = Vec::new();
    for (_, family) in families.into_iter().filter(|(on, _)| *on) {
        for (_, proto) in protos.into_iter().filter(|(on, _)| *on) {
            let request = diag::Request::new(family, proto, tables.listeners_only);
            let rows = diag::dump(request).map_err(|e| {
                CollectError::table(format!("{} (netlink sock_diag)", request.name()), e)
            })?;
            sockets.extend(rows);
        }
    }
    Ok(sockets)
}

/// Established TCP connections grouped by local port, for the ports of `listeners`.
pub fn connections(
    tables: Tables,
    listeners: &[Socket],
) -> Result<BTreeMap<u16, Connections>, CollectError> {
    let ports: HashSet<u16> = listeners
        .iter()
        .filter(|s| s.proto == Proto::Tcp)
        .map(|s| s.port)
        .collect();
    let mut by_port: BTreeMap<u16, Connections> = BTreeMap::new();
    let families = [(tables.ipv4, Family::Ipv4), (tables.ipv6, Family::Ipv6)];
    for (_, family) in families.into_iter().filter(|(on, _)| *on) {
        let request = diag::Request::established(family);
        let rows = diag::dump(request).map_err(|e| {
            CollectError::table(format!("{} (netlink sock_diag)", request.name()), e)
        })?;
        for row in rows.iter().filter(|r| ports.contains(&r.port)) {
            let entry = by_port.entry(row.port).or_default();
            entry.count += 1;
            if let (Some(peer), true) = (row.remote, entry.peers.len() < PEERS_KEPT) {
                entry.peers.push(peer);
            }
        }
    }
    Ok(by_port)
}

/// Finds every holder of the given sockets, and what to say about the ones without.
pub fn find_owners(index: &mut OwnerIndex, sockets: &[Socket]) -> Owners {
    let wanted: HashSet<u64> = sockets
        .iter()
        .map(|s| s.inode)
        .filter(|&i| i != 0)
        .collect();
    let scan = index.resolve(&wanted);
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
