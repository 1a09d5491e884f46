//! Every network namespace and container: discovery (`discover.rs`), a dump of each namespace
//! from inside it by a few worker threads that enter one after another (below), names for namespaces and holders
//! (`names.rs`), where published ports lead (`publish.rs`), and, without root, the tables of
//! one visible process per namespace (`procnet.rs`).
//!
//! One host-wide owner scan serves every namespace: socket inodes come from one sockfs, so the
//! scan's inode → pids map is matched against every namespace's dump, keyed by (netns, inode).

pub mod discover;
mod names;
mod procnet;
mod publish;
mod sys;

pub use sys::enter;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, OwnedFd};

use super::containers::ContainerIndex;
use super::diag;
use super::parallel::{self, Threads};
use super::{FAMILIES, PROTOS};
use crate::collect::{Hints, SocketSource, TableRead};
use crate::model::{
    Family, NetnsScope, NetnsTarget, PortRange, Proto, Selection, Snapshot, Socket, TableError,
};
use discover::{Discovery, Source};

/// How often (in refreshes) the container state files are read again.
const RELOAD_CONTAINERS_EVERY: u32 = 10;
/// Sockets checked with SIOCGSKNS per collection, at most.
const SOCKET_PROBES: usize = 4096;
/// Connections are counted in every namespace each refresh up to this many namespaces;
/// beyond, the host's (and ours) each time and the others a few at a time, in turn. Each
/// count walks the kernel's one global table of established sockets, whichever namespace
/// asks, so 50 namespaces on a host with 80,000 connections would walk it 100 times a second.
const CONNS_EVERY_TIME: usize = 8;
const CONNS_IN_TURN: usize = 1;
/// ... and only every this many refreshes.
const CONNS_TURN_EVERY: u32 = 3;

/// The socket tables of every namespace in scope.
pub struct NetnsTables {
    scope: NetnsScope,
    containers: ContainerIndex,
    refreshes: u32,
    /// Namespaces only a socket or an nsfs fd keeps: (pid, fd) to reach them again.
    remembered: Vec<(u32, u32, Source)>,
    /// Per namespace: the addresses of its interfaces (for where a forwarder leads).
    addresses: BTreeMap<u64, Vec<IpAddr>>,
    /// The namespaces of the last read, named.
    discovery: Discovery,
    ephemeral: Option<PortRange>,
    /// The last established connections counted in each namespace, and whose turn is next.
    connections: BTreeMap<u64, Vec<Socket>>,
    conns_turn: usize,
    /// What discovery learned last time (paths and inodes; nothing held open).
    memory: discover::Memory,
    /// The namespaces whose last read had TCP listeners (only they have connections to count).
    tcp_listening: std::collections::BTreeSet<u64>,
    /// Holders' cgroups, for their container and unit labels.
    cgroups: names::CgroupCache,
    /// Dump tables the kernel counts as empty too (a port query).
    every_table: bool,
}

impl NetnsTables {
    pub fn new(scope: NetnsScope) -> Self {
        NetnsTables {
            scope,
            containers: ContainerIndex::default(),
            refreshes: 0,
            remembered: Vec::new(),
            addresses: BTreeMap::new(),
            discovery: Discovery::default(),
            ephemeral: None,
            connections: BTreeMap::new(),
            conns_turn: 0,
            memory: discover::Memory::default(),
            tcp_listening: std::collections::BTreeSet::new(),
            cgroups: names::CgroupCache::default(),
            every_table: false,
        }
    }

    /// The namespaces to dump this time.
    fn targets(&mut self) -> Result<Discovery, TableError> {
        let pids = super::owners::list_pids().unwrap_or_default();
        match &self.scope {
            NetnsScope::All => {
                let mut discovery = discover::discover_with(&mut self.memory, &pids);
                self.reacquire(&mut discovery);
                Ok(discovery)
            }
            NetnsScope::Current => Ok(only_current()),
            NetnsScope::One(target) => one(target),
        }
    }

    /// Namespaces found last time through a socket or an nsfs fd, opened again the same way.
    fn reacquire(&mut self, discovery: &mut Discovery) {
        self.remembered.retain(|&(pid, fd, source)| {
            let Some(ns) = open_held(pid, fd, source) else {
                return false;
            };
            let Some(inode) = rustix::fs::fstat(&ns).ok().map(|st| st.st_ino) else {
                return false;
            };
            discovery.add(inode, ns, source, pid);
            true
        });
    }

    fn reload_containers(&mut self) {
        if self.refreshes.is_multiple_of(RELOAD_CONTAINERS_EVERY) {
            self.containers = ContainerIndex::load(Path::new("/"));
        }
        self.refreshes += 1;
    }
}

impl SocketSource for NetnsTables {
    fn read(&mut self, selection: Selection) -> TableRead {
        self.reload_containers();
        let discovery = match self.targets() {
            Ok(discovery) => discovery,
            // The namespace could not be opened: no table of it can be read.
            Err(error) => {
                let errors = FAMILIES
                    .into_iter()
                    .filter(|f| selection.has_family(*f))
                    .flat_map(|family| {
                        PROTOS
                            .into_iter()
                            .filter(|p| selection.has_proto(*p))
                            .map(move |proto| (family, proto))
                    })
                    .map(|(family, proto)| TableError {
                        family,
                        proto,
                        ..error.clone()
                    })
                    .collect();
                return TableRead {
                    errors,
                    ..TableRead::default()
                };
            }
        };
        // Without root only our own namespace can be entered: the others come from
        // /proc/<pid>/net of a process inside.
        let others = match (&self.scope, is_root()) {
            (NetnsScope::All, false) => {
                let pids = super::owners::list_pids().unwrap_or_default();
                Some(procnet::read_others(selection, &pids))
            }
            _ => None,
        };
        let discovery = match others {
            Some(_) => only_current(),
            None => discovery,
        };
        let mut read = dump_all(&discovery, selection, self.every_table);
        let only = match discovery.found.len() {
            1 => discovery.found.keys().next().copied(),
            _ => None,
        };
        self.ephemeral = only
            .and_then(|inode| read.ranges.get(&inode))
            .or_else(|| read.ranges.get(&discovery.host.unwrap_or(discovery.own)))
            .or_else(|| read.ranges.get(&discovery.own))
            .copied()
            .flatten();
        let mut table = std::mem::take(&mut read.table);
        table.namespaces = names::name_all(&discovery, &self.containers);
        self.tcp_listening = table
            .sockets
            .iter()
            .filter(|s| s.proto == Proto::Tcp && s.is_listener())
            .map(|s| s.netns)
            .collect();
        if let Some(others) = others {
            table.merge(others);
        }
        self.discovery = discovery;
        table
    }

    fn extend(&mut self, hints: &Hints, selection: Selection) -> TableRead {
        if !matches!(self.scope, NetnsScope::All) || hints.is_empty() || !is_root() {
            return TableRead::default();
        }
        let mut found = Discovery {
            own: self.discovery.own,
            host: self.discovery.host,
            ..Discovery::default()
        };
        let known = |inode: &u64| self.discovery.found.contains_key(inode);
        for &(pid, fd, inode) in &hints.netns_fds {
            if known(&inode) || found.found.contains_key(&inode) {
                continue;
            }
            if let Some(ns) =
                open_held(pid, fd, Source::HeldFd).filter(|ns| sys::is_net_namespace(ns))
                && found.add(inode, ns, Source::HeldFd, pid)
            {
                self.remembered.push((pid, fd, Source::HeldFd));
            }
        }
        let probes: Vec<(u32, u32)> = match &hints.socket_namespaces {
            Some(one_each) => one_each
                .iter()
                .filter(|(_, _, inode)| !known(inode))
                .map(|&(pid, fd, _)| (pid, fd))
                .collect(),
            None => probe_order(&hints.unknown_sockets, self.refreshes),
        };
        for (pid, fd) in probes {
            let Some(ns) = open_held(pid, fd, Source::Socket) else {
                continue;
            };
            let Some(inode) = rustix::fs::fstat(&ns).ok().map(|st| st.st_ino) else {
                continue;
            };
            if !known(&inode) && found.add(inode, ns, Source::Socket, pid) {
                self.remembered.push((pid, fd, Source::Socket));
            }
        }
        if found.found.is_empty() {
            return TableRead::default();
        }
        let mut read = dump_all(&found, selection, self.every_table);
        if hints.socket_namespaces.is_none() && hints.unknown_sockets.len() > SOCKET_PROBES {
            read.table.warnings.push(format!(
                "{} sockets were not checked for a namespace of their own (at most {SOCKET_PROBES} are)",
                hints.unknown_sockets.len() - SOCKET_PROBES
            ));
        }
        let mut table = std::mem::take(&mut read.table);
        table.namespaces = names::name_all(&found, &self.containers);
        for (inode, ns) in found.found {
            self.discovery.found.insert(inode, ns);
        }
        table
    }

    fn established(&mut self, selection: Selection) -> Result<Vec<Socket>, TableError> {
        let found = &self.discovery.found;
        let listening = &self.tcp_listening;
        self.connections
            .retain(|inode, _| found.contains_key(inode) && listening.contains(inode));
        let wanted: Vec<u64> = found
            .keys()
            .copied()
            .filter(|i| listening.contains(i))
            .collect();
        let everyone = wanted.len() <= CONNS_EVERY_TIME;
        let always = [Some(self.discovery.own), self.discovery.host];
        let others: Vec<u64> = wanted
            .iter()
            .copied()
            .filter(|i| !always.contains(&Some(*i)))
            .collect();
        let mut now: Vec<u64> = wanted
            .iter()
            .copied()
            .filter(|i| everyone || always.contains(&Some(*i)) || !self.connections.contains_key(i))
            .collect();
        if !everyone && !others.is_empty() && self.refreshes.is_multiple_of(CONNS_TURN_EVERY) {
            for step in 0..CONNS_IN_TURN.min(others.len()) {
                now.push(others[(self.conns_turn + step) % others.len()]);
            }
            self.conns_turn = (self.conns_turn + CONNS_IN_TURN) % others.len();
        }
        now.sort_unstable();
        now.dedup();
        let list: Vec<(&u64, &discover::Found)> =
            now.iter().filter_map(|i| found.get_key_value(i)).collect();
        let counted = in_each_of(self.discovery.own, &list, |inode| {
            super::established_rows(&mut diag::Dumper::new(), selection, inode)
        });
        let mut first_error = None;
        for (inode, result) in counted {
            match result {
                Ok(Ok(rows)) => {
                    self.connections.insert(inode, rows);
                }
                // Could not be entered (gone, or refused): nothing to count there.
                Err(_) => {
                    self.connections.insert(inode, Vec::new());
                }
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        let rows: Vec<Socket> = self.connections.values().flatten().cloned().collect();
        match (rows.is_empty(), first_error) {
            (true, Some(error)) => Err(error),
            _ => Ok(rows),
        }
    }

    fn ephemeral_range(&self) -> Option<PortRange> {
        self.ephemeral
    }

    fn dump_every_table(&mut self) {
        self.every_table = true;
    }

    fn annotate(&mut self, snapshot: &mut Snapshot) {
        names::label_holders(&mut snapshot.processes, &self.containers, &mut self.cgroups);
        // The namespaces' addresses tell where a forwarder leads: read only when one holds a
        // port (each read enters every namespace once more).
        self.addresses = match publish::any_forwarder(snapshot) {
            true => addresses_of(&self.discovery),
            false => BTreeMap::new(),
        };
        snapshot.published = publish::publications(snapshot, &self.addresses, &self.containers);
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Only the namespace portscope runs in.
fn only_current() -> Discovery {
    let own = discover::inode_of(Path::new("/proc/thread-self/ns/net")).unwrap_or(0);
    let mut discovery = Discovery {
        own,
        ..Discovery::default()
    };
    if let Some(fd) = discover::open_namespace(Path::new("/proc/thread-self/ns/net"), own) {
        discovery.add(own, fd, Source::Process, std::process::id());
    }
    discovery.host = discover::host_inode();
    discovery
}

/// `--netns NAME|PATH|pid:N|host`: that one namespace.
fn one(target: &NetnsTarget) -> Result<Discovery, TableError> {
    let path = target_path(target);
    let unreadable = |error: io::Error| TableError {
        netns: 0,
        proto: Proto::Tcp,
        family: Family::Ipv4,
        message: format!(
            "cannot open the network namespace {}: {error}",
            crate::model::SafeText::from_path(&path)
        ),
        errno: error.raw_os_error(),
    };
    let inode = fs::metadata(&path).map_err(unreadable)?;
    let inode = std::os::unix::fs::MetadataExt::ino(&inode);
    let fd = discover::open_namespace(&path, inode)
        .ok_or_else(|| unreadable(io::Error::other("it changed while it was opened")))?;
    let mut discovery = only_current();
    discovery.found.clear();
    let source = match target {
        NetnsTarget::Name(_) | NetnsTarget::Path(_) => Source::Mount,
        _ => Source::Process,
    };
    discovery.add(inode, fd, source, 0);
    if let Some(found) = discovery.found.get_mut(&inode)
        && matches!(target, NetnsTarget::Name(_) | NetnsTarget::Path(_))
    {
        found.mounts.push(path);
        found.held_by.clear();
    }
    Ok(discovery)
}

/// Is the namespace `--netns` names there? One line saying why not.
pub fn check(target: &NetnsTarget) -> Result<(), String> {
    let path = target_path(target);
    let shown = crate::model::SafeText::from_path(&path);
    match fs::metadata(&path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => match target {
            NetnsTarget::Name(name) => Err(format!(
                "no network namespace named '{}' in /run/netns (known: {})",
                crate::model::SafeText::new(name),
                known_names()
            )),
            NetnsTarget::Pid(pid) => Err(format!("no process {pid}")),
            _ => Err(format!("{shown} does not exist")),
        },
        Err(error) => Err(format!("cannot open {shown}: {error}")),
    }
}

/// The `ip netns` names, for the message about an unknown one.
fn known_names() -> String {
    let names: Vec<String> = fs::read_dir("/run/netns")
        .map(|dir| {
            dir.flatten()
                .map(|e| crate::model::SafeText::from_os(&e.file_name()).to_string())
                .collect()
        })
        .unwrap_or_default();
    match names.is_empty() {
        true => "none".to_string(),
        false => names.join(", "),
    }
}

/// Where a `--netns` target lives in the filesystem.
pub fn target_path(target: &NetnsTarget) -> PathBuf {
    match target {
        // pid 1's; where even root may not read it (a sandboxed init), kthreadd's, which is
        // always in the initial namespace.
        NetnsTarget::Host => ["/proc/1/ns/net", "/proc/2/ns/net"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| fs::metadata(p).is_ok())
            .unwrap_or_else(|| PathBuf::from("/proc/1/ns/net")),
        NetnsTarget::Name(name) => Path::new("/run/netns").join(name),
        NetnsTarget::Path(path) => path.clone(),
        NetnsTarget::Pid(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
    }
}

/// Which unknown sockets to check, at most SOCKET_PROBES: one of each holder in turn (a
/// process with 10,000 connections must not crowd out the one whose socket alone keeps a
/// namespace), starting further along each refresh so that, over time, every one is checked.
fn probe_order(unknown: &[(u32, u32, u64)], turn: u32) -> Vec<(u32, u32)> {
    let mut by_pid: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &(pid, fd, _) in unknown {
        by_pid.entry(pid).or_default().push(fd);
    }
    let mut order = Vec::with_capacity(SOCKET_PROBES.min(unknown.len()));
    for depth in 0.. {
        let mut any = false;
        for (&pid, fds) in &by_pid {
            if depth >= fds.len() {
                continue;
            }
            any = true;
            let start = (turn as usize).wrapping_mul(SOCKET_PROBES) % fds.len();
            order.push((pid, fds[(start + depth) % fds.len()]));
            if order.len() == SOCKET_PROBES {
                return order;
            }
        }
        if !any {
            break;
        }
    }
    order
}

/// Opens the namespace of an nsfs fd or of a socket that `pid` holds as `fd`.
fn open_held(pid: u32, fd: u32, source: Source) -> Option<OwnedFd> {
    let raw = i32::try_from(pid).ok()?;
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(raw)?,
        rustix::process::PidfdFlags::empty(),
    )
    .ok()?;
    let target = i32::try_from(fd).ok()?;
    let copy =
        rustix::process::pidfd_getfd(&pidfd, target, rustix::process::PidfdGetfdFlags::empty())
            .ok()?;
    match source {
        Source::Socket => sys::socket_netns(&copy).ok(),
        _ => Some(copy),
    }
}

/// What the dumps of several namespaces gave.
#[derive(Default)]
struct Dumped {
    table: TableRead,
    /// The ephemeral port range of the host's (and our) namespace.
    ranges: BTreeMap<u64, Option<PortRange>>,
}

/// One namespace's dump, made on a thread inside it.
struct NsDump {
    inode: u64,
    read: TableRead,
    range: Option<PortRange>,
}

/// Every found namespace's interface addresses.
fn addresses_of(discovery: &Discovery) -> BTreeMap<u64, Vec<IpAddr>> {
    in_each(discovery, |_| interface_addresses())
        .into_iter()
        .map(|(inode, addresses)| (inode, addresses.unwrap_or_default()))
        .collect()
}

/// Runs `work` inside each found namespace, in the order found, on a few worker threads that
/// each enter one namespace after another. A thread per namespace would cost more than the
/// dump it makes (50 namespaces: 50 thread starts against 50 setns calls). A namespace that
/// cannot be entered (gone since discovery, or owned by another user namespace) gives its
/// error instead.
fn in_each<T: Send>(
    discovery: &Discovery,
    work: impl Fn(u64) -> T + Sync,
) -> Vec<(u64, io::Result<T>)> {
    let list: Vec<(&u64, &discover::Found)> = discovery.found.iter().collect();
    in_each_of(discovery.own, &list, work)
}

/// [`in_each`] for some of the namespaces; `own` is the caller's.
fn in_each_of<T: Send>(
    own: u64,
    list: &[(&u64, &discover::Found)],
    work: impl Fn(u64) -> T + Sync,
) -> Vec<(u64, io::Result<T>)> {
    let workers = parallel::workers(list.len(), 1);
    // Each worker starts in the caller's namespace.
    let init = || (own, Vec::new());
    let run = |(here, done): &mut (u64, Vec<(usize, io::Result<T>)>),
               index: usize,
               &(&inode, found): &(&u64, &discover::Found)| {
        if *here != inode {
            if let Err(error) = sys::enter(found.fd.as_fd()) {
                done.push((index, Err(error)));
                return;
            }
            *here = inode;
        }
        done.push((index, Ok(work(inode))));
    };
    let parts = parallel::fold(list, workers, Threads::Own, init, run);
    let results = parallel::in_order(list.len(), parts.into_iter().map(|(_, d)| d).collect());
    list.iter()
        .zip(results)
        .map(|(&(&inode, _), result)| {
            let result = result.unwrap_or_else(|| Err(io::Error::other("panicked")));
            (inode, result)
        })
        .collect()
}

/// Dumps every found namespace from inside it.
fn dump_all(discovery: &Discovery, selection: Selection, every_table: bool) -> Dumped {
    let mut dumped = Dumped::default();
    // The range the snapshot shows: the one namespace looked at (`--netns NAME`), else the
    // host's and ours.
    let wants_range = |inode: u64| {
        inode == discovery.own || Some(inode) == discovery.host || discovery.found.len() == 1
    };
    let results = in_each(discovery, |inode| {
        dump_in(inode, wants_range(inode), selection, every_table)
    });
    for (inode, result) in results {
        merge(&mut dumped, inode, result);
    }
    dumped
}

fn merge(dumped: &mut Dumped, inode: u64, result: io::Result<NsDump>) {
    match result {
        Ok(dump) => {
            dumped.table.sockets.extend(dump.read.sockets);
            dumped.table.errors.extend(dump.read.errors);
            dumped.table.warnings.extend(dump.read.warnings);
            dumped.ranges.insert(dump.inode, dump.range);
        }
        // Gone since discovery, or setns refused (a user namespace owned by someone else):
        // the others are still shown.
        Err(error) => dumped.table.warnings.push(format!(
            "network namespace net:[{inode}] was skipped: {}",
            explain_enter(&error)
        )),
    }
}

fn explain_enter(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(code) if code == rustix::io::Errno::PERM.raw_os_error() => {
            "entering it was refused (it belongs to another user namespace)".to_string()
        }
        Some(code) if code == rustix::io::Errno::INVAL.raw_os_error() => {
            "it no longer exists".to_string()
        }
        _ => error.to_string(),
    }
}

/// In the calling thread's namespace (`inode`): the tables, and the ephemeral range when
/// wanted. The netlink socket is made here, so it belongs to that namespace.
fn dump_in(inode: u64, want_range: bool, selection: Selection, every_table: bool) -> NsDump {
    let counts = (!every_table).then(super::TableCounts::read);
    let read = super::read_tables(&mut diag::Dumper::new(), selection, inode, counts.as_ref());
    let range = want_range.then(super::own_ephemeral_range).flatten();
    NsDump { inode, read, range }
}

/// The addresses of this thread's namespace's interfaces.
fn interface_addresses() -> Vec<IpAddr> {
    let Ok(addresses) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addresses
        .filter_map(|a| a.address)
        .filter_map(|a| {
            a.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        })
        .collect()
}
