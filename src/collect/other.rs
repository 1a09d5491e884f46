//! macOS, Windows and the BSDs: netstat2 reports sockets and their pids together; sysinfo
//! gives the process facts. The UDP connected state is not available here, so every bound UDP
//! socket counts as a listener, and the socket's uid is unknown.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, TcpState};
use rustc_hash::FxHashMap as HashMap;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

use super::users::UserNames;
use super::{OwnerSource, Owners, ProcessSource, SocketSource, TableRead};
use crate::model::{
    Family, Owner, PortRange, Process, Proto, SafeText, Selection, SockState, Socket, TableError,
};

pub(super) fn sources() -> (
    Box<dyn SocketSource>,
    Box<dyn OwnerSource>,
    Box<dyn ProcessSource>,
) {
    (
        Box::new(Netstat2Tables),
        Box::new(CarriedOwners),
        Box::new(SysinfoFacts::default()),
    )
}

struct Netstat2Tables;

impl SocketSource for Netstat2Tables {
    fn read(&mut self, selection: Selection) -> TableRead {
        let mut read = TableRead::default();
        for proto in [Proto::Tcp, Proto::Udp] {
            if !selection.has_proto(proto) {
                continue;
            }
            match rows(selection, proto) {
                Ok(sockets) => read.sockets.extend(sockets),
                Err(message) => {
                    for family in [Family::Ipv4, Family::Ipv6] {
                        read.errors.push(TableError {
                            netns: 0,
                            proto,
                            family,
                            message: message.clone(),
                            errno: None,
                        });
                    }
                }
            }
        }
        read.sockets.retain(|s| selection.keeps(s));
        read
    }

    fn established(&mut self, selection: Selection) -> Result<Vec<Socket>, TableError> {
        let mut all = selection;
        all.udp = false;
        all.all_states = true;
        let mut read = self.read(all);
        read.sockets.retain(|s| s.state == SockState::Established);
        match read.errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(read.sockets),
        }
    }

    fn ephemeral_range(&self) -> Option<PortRange> {
        None
    }
}

/// What makes one socket: local address and port, state, and the peer.
type SocketKey = (IpAddr, u16, SockState, Option<(IpAddr, u16)>);

/// One protocol's rows, merged: netstat2 gives one row per process and socket, portscope one
/// socket with every holder.
fn rows(selection: Selection, proto: Proto) -> Result<Vec<Socket>, String> {
    let mut families = AddressFamilyFlags::empty();
    families.set(AddressFamilyFlags::IPV4, selection.ipv4);
    families.set(AddressFamilyFlags::IPV6, selection.ipv6);
    let protocols = match proto {
        Proto::Tcp => ProtocolFlags::TCP,
        Proto::Udp => ProtocolFlags::UDP,
    };
    let infos = netstat2::get_sockets_info(families, protocols)
        .map_err(|e| format!("cannot read the socket table {}: {e}", proto.as_str()))?;
    let mut merged: BTreeMap<SocketKey, Socket> = BTreeMap::new();
    for info in infos {
        let socket = to_socket(&info);
        let key = (socket.local_addr, socket.port, socket.state, socket.remote);
        let entry = merged.entry(key).or_insert(socket);
        if let Owner::Known(pids) = &mut entry.owner {
            pids.extend(info.associated_pids.iter().copied());
            pids.sort_unstable();
            pids.dedup();
        }
    }
    // No inodes here: a running number stands in as the key.
    Ok(merged
        .into_values()
        .enumerate()
        .map(|(i, mut s)| {
            s.inode = i as u64 + 1;
            s
        })
        .collect())
}

fn to_socket(info: &netstat2::SocketInfo) -> Socket {
    let (proto, local_addr, port, state, remote) = match &info.protocol_socket_info {
        ProtocolSocketInfo::Tcp(tcp) => {
            let state = match tcp.state {
                TcpState::Listen => SockState::Listen,
                TcpState::Established => SockState::Established,
                _ => SockState::Unknown,
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
    Socket {
        proto,
        family: Family::of(&local_addr),
        local_addr,
        port,
        remote,
        state,
        inode: 0,
        uid: None,
        v6only: None,
        netns: 0,
        owner: Owner::Known(Vec::new()),
    }
}

/// netstat2 reports owners with the sockets; they travel in `Socket::owner`.
struct CarriedOwners;

impl OwnerSource for CarriedOwners {
    fn update(&mut self, _sockets: &[Socket]) -> bool {
        true
    }

    fn owners(&self, sockets: &[Socket]) -> Owners {
        let by_inode: HashMap<u64, Vec<u32>> = sockets
            .iter()
            .filter(|s| !s.owner.pids().is_empty())
            .map(|s| (s.inode, s.owner.pids().to_vec()))
            .collect();
        // Without privileges netstat2 just reports no pids: unknown, not "nobody".
        Owners {
            by_inode,
            blindness: Some(crate::model::HiddenReason::Unreadable),
            ..Owners::default()
        }
    }
}

#[derive(Default)]
struct SysinfoFacts {
    system: Option<System>,
}

impl ProcessSource for SysinfoFacts {
    fn refresh(&mut self, pids: &BTreeSet<u32>, _users: &mut UserNames) -> BTreeMap<u32, Process> {
        if self.system.is_none() {
            self.system = System::new().ok();
        }
        let Some(system) = self.system.as_mut() else {
            return BTreeMap::new();
        };
        let wanted: Vec<Pid> = pids.iter().map(|&p| Pid::from_u32(p)).collect();
        let kind = ProcessRefreshKind::nothing()
            .with_cmd(UpdateKind::Always)
            .with_exe(UpdateKind::Always)
            .with_cwd(UpdateKind::Always)
            .with_user(UpdateKind::Always);
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&wanted), true, kind);
        pids.iter()
            .filter_map(|&pid| system.process(Pid::from_u32(pid)))
            .map(|p| (p.pid().as_u32(), describe(p, system)))
            .collect()
    }
}

fn describe(process: &sysinfo::Process, system: &System) -> Process {
    let name = SafeText::from_os(process.name());
    Process {
        pid: process.pid().as_u32(),
        start_ticks: process.start_time(),
        comm: name.clone(),
        name,
        cmdline: process.cmd().iter().map(|a| SafeText::from_os(a)).collect(),
        cmdline_cut: None,
        exe: process.exe().map(SafeText::from_path),
        cwd: process.cwd().map(SafeText::from_path),
        // On Windows a user is a SID, not a number; unknown is unknown.
        uid: None,
        user: None,
        ppid: process.parent().map(Pid::as_u32),
        parent_name: process
            .parent()
            .and_then(|ppid| system.process(ppid))
            .map(|parent| SafeText::from_os(parent.name())),
        start_time: Some(process.start_time()).filter(|&t| t > 0),
        container: None,
        unit: None,
    }
}
