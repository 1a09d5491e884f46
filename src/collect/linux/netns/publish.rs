//! Published ports, seen through: a host socket held by a known forwarder (docker-proxy,
//! dockerd, conmon, rootlessport, rootlesskit, pasta, slirp4netns) leads into a container's
//! namespace; this finds which, and whether anything there takes the traffic.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use super::super::containers::{ContainerIndex, ContainerInfo};
use super::super::forwarders::stop::{ContainerTarget, stop_container};
use super::super::forwarders::{self, Forwarder, ForwarderKind, NetnsHint};
use super::discover;
use crate::model::{NetnsKind, Process, Publication, Reach, Snapshot, Socket};

/// Every listener of the snapshot held by a forwarder, with where it leads.
pub fn publications(
    snapshot: &Snapshot,
    addresses: &BTreeMap<u64, Vec<IpAddr>>,
    containers: &ContainerIndex,
) -> Vec<Publication> {
    // Recognised once per process: a host may have 100,000 listeners and no forwarder.
    let forwarders: BTreeMap<u32, Forwarder> = snapshot
        .processes
        .values()
        .filter_map(|p| Some((p.pid, recognise(p)?)))
        .collect();
    if forwarders.is_empty() {
        return Vec::new();
    }
    let mut found = Vec::new();
    for socket in snapshot.sockets.iter().filter(|s| s.is_listener()) {
        if !socket
            .owner
            .pids()
            .iter()
            .any(|pid| forwarders.contains_key(pid))
        {
            continue;
        }
        let forwarder = snapshot
            .holders_lead_first(socket)
            .into_iter()
            .find_map(|p| Some((p, forwarders.get(&p.pid)?.clone())));
        if let Some((process, forwarder)) = forwarder {
            let context = Context {
                snapshot,
                addresses,
                containers,
            };
            found.push(context.publication(socket, process, &forwarder));
        }
    }
    found
}

/// Does a forwarder hold any socket of the snapshot?
pub fn any_forwarder(snapshot: &Snapshot) -> bool {
    snapshot.processes.values().any(|p| recognise(p).is_some())
}

/// The forwarders that hold published ports (a shim or kube-proxy does not).
fn recognise(process: &Process) -> Option<Forwarder> {
    let argv: Vec<&[u8]> = process
        .cmdline
        .iter()
        .map(|a| a.as_str().as_bytes())
        .collect();
    let forwarder = forwarders::recognise(process.comm.as_str().as_bytes(), &argv)?;
    (!matches!(
        forwarder.kind,
        ForwarderKind::ContainerdShim | ForwarderKind::KubeProxy
    ))
    .then_some(forwarder)
}

struct Context<'a> {
    snapshot: &'a Snapshot,
    addresses: &'a BTreeMap<u64, Vec<IpAddr>>,
    containers: &'a ContainerIndex,
}

impl Context<'_> {
    fn publication(&self, socket: &Socket, process: &Process, fw: &Forwarder) -> Publication {
        let container = self.container(socket, fw);
        let (ip, port) = self.target(socket, fw, container);
        let target_netns = self.target_netns(ip, fw, container);
        let (inside, reach) = match target_netns {
            Some(ns) => self.inside(socket, ns, ip, port),
            None => (Vec::new(), Reach::Unknown),
        };
        // A container's name, from its runtime's state or the forwarder's own arguments; never
        // the name of a namespace that is not a container (the text names that one itself).
        let label = container
            .map(ContainerInfo::label)
            .or_else(|| fw.container_name.clone())
            .or_else(|| {
                target_netns
                    .and_then(|ns| self.snapshot.namespaces.get(&ns))
                    .filter(|n| matches!(n.kind, NetnsKind::Container | NetnsKind::Pod))
                    .map(|n| n.name.clone())
            });
        Publication {
            socket: (socket.netns, socket.inode),
            forwarder: fw.kind.as_str(),
            forwarder_pid: process.pid,
            container: label,
            target: ip.zip(port),
            target_netns,
            inside,
            reach,
            stop: self.stop(fw, container),
        }
    }

    /// The container the forwarder works for, when the state files know it.
    fn container(&self, socket: &Socket, fw: &Forwarder) -> Option<&ContainerInfo> {
        if let Some(id) = &fw.container_id
            && let Some(info) = self.containers.by_id(id.as_str())
        {
            return Some(info);
        }
        if let Some(ip) = fw.target.map(|t| t.ip())
            && let Some(info) = self.containers.by_ip(ip)
        {
            return Some(info);
        }
        // dockerd holding a published port itself (userland proxy off): its state says whose.
        let published = self.containers.by_published(socket.proto, socket.port);
        published.first().map(|(info, _)| *info)
    }

    /// Where traffic goes: the forwarder's own word, else the container's published port.
    fn target(
        &self,
        socket: &Socket,
        fw: &Forwarder,
        container: Option<&ContainerInfo>,
    ) -> (Option<IpAddr>, Option<u16>) {
        if let Some(target) = fw.target {
            return (Some(target.ip()), Some(target.port()));
        }
        let port = fw.target_port(socket.proto, socket.port).or_else(|| {
            container?
                .published
                .iter()
                .find(|p| p.proto == socket.proto && p.host_port == socket.port)
                .map(|p| p.container_port)
        });
        let ip = container.and_then(|c| c.addresses.first().copied());
        (ip, port)
    }

    /// The namespace whose interfaces have the target address; else the container's own.
    fn target_netns(
        &self,
        ip: Option<IpAddr>,
        fw: &Forwarder,
        container: Option<&ContainerInfo>,
    ) -> Option<u64> {
        if let Some(ip) = ip.filter(|ip| !ip.is_loopback() && !ip.is_unspecified()) {
            let owner = self
                .addresses
                .iter()
                .find(|(_, list)| list.contains(&ip))
                .map(|(&ns, _)| ns);
            if owner.is_some() {
                return owner;
            }
        }
        if let Some(container) = container {
            let by_path = container.netns_path.as_deref().and_then(discover::inode_of);
            let by_pid = container
                .pid
                .and_then(|pid| discover::inode_of(Path::new(&format!("/proc/{pid}/ns/net"))));
            if let Some(ns) = by_path.or(by_pid) {
                return Some(ns);
            }
        }
        match &fw.netns {
            Some(NetnsHint::Pid(pid)) => {
                discover::inode_of(Path::new(&format!("/proc/{pid}/ns/net")))
            }
            Some(NetnsHint::Path(path)) => discover::inode_of(path),
            None => None,
        }
    }

    /// The listeners inside that take the forwarded traffic, and whether any does.
    fn inside(
        &self,
        socket: &Socket,
        ns: u64,
        ip: Option<IpAddr>,
        port: Option<u16>,
    ) -> (Vec<(u64, u64)>, Reach) {
        let candidates: Vec<&Socket> = self
            .snapshot
            .sockets
            .iter()
            .chain(&self.snapshot.related)
            .filter(|s| s.netns == ns && s.proto == socket.proto && s.is_listener())
            .filter(|s| port.is_none_or(|p| s.port == p))
            .collect();
        if port.is_none() {
            let all = candidates.iter().map(|s| (s.netns, s.inode)).collect();
            return (all, Reach::Unknown);
        }
        let takes = |s: &&&Socket| match ip {
            Some(ip) => s.accepts(&ip).is_some(),
            None => !s.local_addr.is_loopback(),
        };
        let taking: Vec<(u64, u64)> = candidates
            .iter()
            .filter(takes)
            .map(|s| (s.netns, s.inode))
            .collect();
        let reach = match (taking.is_empty(), candidates.is_empty()) {
            (false, _) => Reach::Listening,
            (true, true) => Reach::NothingListens,
            (true, false) => Reach::LoopbackOnly,
        };
        let shown = match reach {
            Reach::LoopbackOnly => candidates.iter().map(|s| (s.netns, s.inode)).collect(),
            _ => taking,
        };
        (shown, reach)
    }

    /// The command that stops what is behind the port (never the forwarder).
    fn stop(&self, fw: &Forwarder, container: Option<&ContainerInfo>) -> Option<String> {
        if let Some(info) = container {
            return Some(stop_container(&ContainerTarget::from(info)).to_string());
        }
        let runtime = fw.runtime()?;
        let id = fw.container_id.as_ref().or(fw.container_name.as_ref())?;
        let mut target = ContainerTarget::new(runtime, id);
        target.name = fw.container_name.as_ref();
        Some(stop_container(&target).to_string())
    }
}
