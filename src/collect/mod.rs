//! The collector: OS socket tables → one immutable [`Snapshot`].
//!
//! Three sources stand behind small interfaces, chosen once per OS in [`Collector::new`]: the
//! socket tables, the owner map (socket → holding processes) and the process facts. Everything
//! else here is shared. No terminal or CLI types are used in this module.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
mod other;
mod users;

#[cfg(target_os = "linux")]
pub use linux::procstat;

/// Is this namespace there? One line saying why not, for a usage error.
pub fn check_netns(target: &crate::model::NetnsTarget) -> Result<(), String> {
    #[cfg(target_os = "linux")]
    return linux::netns::check(target);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = target;
        Err("network namespaces are a Linux thing".to_string())
    }
}

/// The scope portscope looks at when `--netns` is not given: every namespace when it runs in
/// the host's namespace, else the one it is in.
pub fn default_scope() -> NetnsScope {
    #[cfg(target_os = "linux")]
    if linux::in_host_namespace() {
        return NetnsScope::All;
    }
    NetnsScope::Current
}
/// The two owner-scan paths, public for the tests that compare them: the in-kernel map and the
/// `/proc` walk.
#[cfg(target_os = "linux")]
pub use linux::{OwnerIndex, OwnerScan, bindinfo, bpf};
pub use users::{primary_gid, resolve_user};

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap as HashMap;
pub use rustc_hash::FxHashSet;
use std::time::{Duration, Instant, SystemTime};

use crate::model::{
    Connections, HiddenReason, NetnsScope, NoneReason, Owner, OwnerMap, OwnerMapSource, PEERS_KEPT,
    PortRange, Process, Proto, SafeText, Selection, Snapshot, Socket, TableError, Visibility,
};
use users::UserNames;

/// Only when no table at all could be read is collection an error: otherwise the snapshot holds
/// what could be read and names the tables that could not (`Snapshot::table_errors`).
#[derive(Debug)]
pub enum CollectError {
    NoTable {
        errors: Vec<TableError>,
        /// The OS error behind the first table, kept as this error's source.
        source: Option<std::io::Error>,
    },
    /// `--owner-scan bpf`, and the in-kernel map cannot be used: why, in one line.
    OwnerScan(String),
}

impl CollectError {
    fn no_table(errors: Vec<TableError>) -> Self {
        let source = errors
            .iter()
            .find_map(|e| e.errno)
            .map(std::io::Error::from_raw_os_error);
        CollectError::NoTable { errors, source }
    }
}

impl std::fmt::Display for CollectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CollectError::NoTable { errors, .. } => {
                let lines: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
                f.write_str(&lines.join("; "))
            }
            CollectError::OwnerScan(why) => {
                write!(
                    f,
                    "{why} (asked for by --owner-scan bpf; auto would use the /proc walk)"
                )
            }
        }
    }
}

impl std::error::Error for CollectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CollectError::NoTable { source, .. } => source
                .as_ref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            CollectError::OwnerScan(_) => None,
        }
    }
}

/// `--owner-scan`: how holders are found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OwnerScanChoice {
    /// The in-kernel map where the kernel allows it, else the `/proc` walk, silently.
    #[default]
    Auto,
    /// The in-kernel map or nothing: collection fails when it cannot be used.
    Bpf,
    /// The `/proc` walk.
    Proc,
}

/// How a [`Collector`] reads: which namespaces, and how it finds holders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CollectorOptions {
    pub scope: NetnsScope,
    pub owner_scan: OwnerScanChoice,
}

/// What one collection should read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub selection: Selection,
    /// Also count established TCP connections per listener (the live view's CONNS).
    pub connections: bool,
}

/// What a bind would meet (see [`Collector::bind_context`]).
pub struct BindContext {
    pub existing: Vec<crate::bind::Existing>,
    /// The same sockets with their holders (for naming them).
    pub snapshot: Snapshot,
    pub setting: crate::bind::Setting,
    /// The namespace the verdict is about (None: ours).
    pub netns_path: Option<std::path::PathBuf>,
    /// Tables that could not be read (the verdict is then unknown).
    pub errors: Vec<TableError>,
}

/// The rows of the selected tables, and what went wrong with some of them.
#[derive(Clone, Debug, Default)]
pub struct TableRead {
    pub sockets: Vec<Socket>,
    pub errors: Vec<TableError>,
    pub warnings: Vec<String>,
    /// The namespaces the sockets are in, named (empty: only the current one).
    pub namespaces: BTreeMap<u64, crate::model::Netns>,
}

impl TableRead {
    pub(crate) fn merge(&mut self, more: TableRead) {
        self.sockets.extend(more.sockets);
        self.errors.extend(more.errors);
        self.warnings.extend(more.warnings);
        self.namespaces.extend(more.namespaces);
    }
}

/// What an owner scan saw that points at namespaces no table covered yet: nsfs fds held open,
/// and sockets whose inode no dump returned: (pid, fd, inode).
#[derive(Debug, Default)]
pub struct Hints {
    pub netns_fds: Vec<(u32, u32, u64)>,
    pub unknown_sockets: Vec<(u32, u32, u64)>,
    /// From a scan that knows each socket's namespace (the in-kernel map): one socket of each
    /// namespace holding none of the wanted sockets, as (pid, fd, namespace inode; 0 when it
    /// could not be read). Then only these are probed for a namespace, not every unknown socket.
    pub socket_namespaces: Option<Vec<(u32, u32, u64)>>,
}

impl Hints {
    pub fn is_empty(&self) -> bool {
        self.netns_fds.is_empty()
            && self.unknown_sockets.is_empty()
            && self.socket_namespaces.as_ref().is_none_or(Vec::is_empty)
    }
}

/// The kernel's socket tables of one OS.
trait SocketSource: Send {
    /// The sockets of the selected tables; a table that fails is reported, not fatal.
    fn read(&mut self, selection: Selection) -> TableRead;
    /// Established TCP connections (local and remote end), for counting per listener.
    fn established(&mut self, selection: Selection) -> Result<Vec<Socket>, TableError>;
    fn ephemeral_range(&self) -> Option<PortRange>;
    /// The tables of namespaces the owner scan pointed at (an nsfs fd, a socket of another
    /// namespace); nothing where namespaces are not a thing.
    fn extend(&mut self, _hints: &Hints, _selection: Selection) -> TableRead {
        TableRead::default()
    }
    /// Adds what only this source knows to a built snapshot (containers, published ports).
    fn annotate(&mut self, _snapshot: &mut Snapshot) {}
    /// Dump every table, even one the kernel counts as empty (see `dump_every_table`).
    fn dump_every_table(&mut self) {}
}

/// Who holds which socket.
trait OwnerSource: Send {
    /// Brings the owner map up to date for these sockets; true when it changed since the last
    /// update (always true where that is not known).
    fn update(&mut self, sockets: &[Socket]) -> bool;
    /// Who holds what, as of the last update.
    fn owners(&self, sockets: &[Socket]) -> Owners;
    /// What the last full scan saw of namespaces no table covers (see [`Hints`]).
    fn hints(&mut self) -> Hints {
        Hints::default()
    }
    /// Records holders found through the hints, for sockets the tables just gained.
    fn adopt(&mut self, _sockets: &[Socket], _hints: &Hints) {}
    /// Which map answered the last update, and why the in-kernel one did not.
    fn used(&mut self) -> OwnerMap {
        OwnerMap {
            source: OwnerMapSource::System,
            bpf_unavailable: Some("bpf: the in-kernel owner map is Linux only".to_string()),
        }
    }
}

/// Facts about the holding processes.
trait ProcessSource: Send {
    fn refresh(&mut self, pids: &BTreeSet<u32>, users: &mut UserNames) -> BTreeMap<u32, Process>;
}

/// What the owner source learned about the holders of a set of sockets.
#[derive(Debug, Default)]
struct Owners {
    by_inode: HashMap<u64, Vec<u32>>,
    /// (inode, pid) → that holder's fds for the socket, where the source sees them.
    fds: HashMap<(u64, u32), Vec<u32>>,
    /// Why some holders may be invisible; None when every process could be read.
    blindness: Option<HiddenReason>,
    /// The uids of the processes that could not be read, when they can be known.
    hidden_uids: Option<BTreeSet<u32>>,
    unreadable_pids: Vec<u32>,
    /// Our own uid when we are not root: a hidden socket of ours is held by one of our own
    /// processes that is not dumpable, not by "another user".
    own_uid: Option<u32>,
}

impl Owners {
    fn may_hide_uid(&self, uid: Option<u32>) -> bool {
        self.blindness.is_some()
            && match (&self.hidden_uids, uid) {
                (Some(uids), Some(uid)) => uids.contains(&uid),
                _ => true,
            }
    }
}

/// Long-lived, so the live view reuses its caches between refreshes.
pub struct Collector {
    sockets: Box<dyn SocketSource>,
    owners: Box<dyn OwnerSource>,
    processes: Box<dyn ProcessSource>,
    users: UserNames,
    host: SafeText,
    /// `--owner-scan bpf`: the in-kernel map or an error.
    require_bpf: bool,
    /// What the last refresh was built from, to tell when nothing changed.
    last: Option<Last>,
    /// Refreshes in a row that found the table and its holders unchanged and took the
    /// holders' facts as they were (see [`FACTS_CHECK_EVERY`]).
    facts_taken: u32,
    conns: ConnsPace,
    /// The namespaces looked at (the bind verdict's namespace; Linux only).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    scope: NetnsScope,
}

/// While the table and its holders stay the same, the live view reads the holders' facts (a
/// /proc stat each, to see a rename or a new parent) on one refresh in this many: on a host
/// with 1,000 holders the reads were a third of a refresh.
const FACTS_CHECK_EVERY: u32 = 5;

/// Counting connections (the live view's CONNS) walks every established TCP socket of the
/// host, whichever namespace asks: 50 ms of a core for 20,000 connections, most of a refresh.
/// So counts are taken again only when that keeps them under this share of one core, and at
/// least every [`CONNS_STALE_MAX`]; in between the last counts are shown.
const CONNS_SHARE: f64 = 0.01;
const CONNS_STALE_MAX: Duration = Duration::from_secs(30);

/// When connections were last counted, what it cost, and what it found.
#[derive(Default)]
struct ConnsPace {
    /// What was counted: another selection (a protocol toggled) counts again at once.
    selection: Option<Selection>,
    counted_at: Option<Instant>,
    cost: Duration,
    counts: BTreeMap<u64, Connections>,
    warnings: Vec<String>,
}

impl ConnsPace {
    fn due(&self, selection: Selection, now: Instant) -> bool {
        let wait = self.cost.div_f64(CONNS_SHARE).min(CONNS_STALE_MAX);
        self.selection != Some(selection)
            || self
                .counted_at
                .is_none_or(|at| now.saturating_duration_since(at) >= wait)
    }
}

/// The inputs of the last snapshot `refresh` built.
struct Last {
    request: Request,
    table: TablePrint,
    pids: BTreeSet<u32>,
    processes: BTreeMap<u32, Process>,
    connections: BTreeMap<u64, Connections>,
}

/// An order-independent fingerprint of a socket table and of what was wrong with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TablePrint {
    count: usize,
    sum: u64,
    problems: usize,
}

impl TablePrint {
    fn of(read: &TableRead) -> Self {
        use std::hash::BuildHasher;
        let build = rustc_hash::FxBuildHasher;
        let sum = read.sockets.iter().fold(0u64, |sum, s| {
            let key = (
                s.proto,
                s.local_addr,
                s.port,
                s.state,
                s.remote,
                s.inode,
                s.uid,
            );
            sum.wrapping_add(build.hash_one((key, s.v6only)))
        });
        TablePrint {
            count: read.sockets.len(),
            sum,
            problems: read.errors.len() + read.warnings.len(),
        }
    }
}

/// What a live refresh found.
#[derive(Debug)]
pub enum Refresh {
    /// Something changed: the whole new picture.
    Changed(Box<Snapshot>),
    /// The sockets, their holders and the holders' facts are as they were; only the clock and,
    /// when counted, the connections may have moved.
    Unchanged {
        taken_at: SystemTime,
        connections: Option<BTreeMap<u64, Connections>>,
    },
}

impl Default for Collector {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector {
    /// The sources of this OS, for the current network namespace.
    pub fn new() -> Self {
        Self::with_scope(NetnsScope::Current)
    }

    /// The sources of this OS, for the network namespaces in `scope` (on an OS without
    /// namespaces, the one there is).
    pub fn with_scope(scope: NetnsScope) -> Self {
        Self::with_options(CollectorOptions {
            scope,
            ..CollectorOptions::default()
        })
    }

    /// The sources of this OS as `options` choose them.
    pub fn with_options(options: CollectorOptions) -> Self {
        let CollectorOptions { scope, owner_scan } = options;
        #[cfg(target_os = "linux")]
        let (sockets, owners, processes) = linux::sources(scope.clone(), owner_scan);
        #[cfg(not(target_os = "linux"))]
        let (sockets, owners, processes) = other::sources();
        Collector {
            sockets,
            owners,
            processes,
            users: UserNames::default(),
            host: host_name(),
            require_bpf: owner_scan == OwnerScanChoice::Bpf,
            last: None,
            facts_taken: 0,
            conns: ConnsPace::default(),
            scope,
        }
    }

    /// Everything a bind of `proto`/`port` would meet in the namespace the verdict is about
    /// (the one `--netns` names, else ours): every socket on the port in any state, with its
    /// holders, their socket options where root can read them, and the namespace's settings.
    #[cfg(target_os = "linux")]
    pub fn bind_context(&mut self, proto: Proto, port: u16) -> std::io::Result<BindContext> {
        self.bind_context_in(None, proto, port)
    }

    /// [`Collector::bind_context`] in the namespace at `path` (None: the one the verdict is
    /// about), for the live view's details of a socket in any namespace.
    #[cfg(target_os = "linux")]
    pub fn bind_context_in(
        &mut self,
        path: Option<std::path::PathBuf>,
        proto: Proto,
        port: u16,
    ) -> std::io::Result<BindContext> {
        use crate::bind::Existing;
        let path = path.or_else(|| match &self.scope {
            NetnsScope::One(target) => Some(linux::netns::target_path(target)),
            _ => None,
        });
        let rows = linux::bindinfo::port_rows(path.as_deref(), proto, port)?;
        self.owners.update(&rows.sockets);
        let request = Request {
            selection: Selection {
                all_states: true,
                ..Selection::LISTENERS
            },
            connections: false,
        };
        let read = TableRead {
            sockets: rows.sockets.clone(),
            ..TableRead::default()
        };
        let snapshot = self.build(&request, read, Vec::new(), SystemTime::now());
        let root = rustix::process::geteuid().is_root();
        let key = |s: &Socket| (s.local_addr, s.port, s.remote, s.state, s.inode);
        let existing = rows
            .sockets
            .iter()
            .zip(&rows.details)
            .map(|(raw, detail)| {
                let socket = snapshot
                    .sockets
                    .iter()
                    .find(|s| key(s) == key(raw))
                    .cloned()
                    .unwrap_or_else(|| raw.clone());
                let options = socket
                    .owner
                    .pids()
                    .iter()
                    .filter(|_| root)
                    .find_map(|&pid| {
                        let fd = snapshot.fds.get(&(socket.inode, pid))?.first().copied()?;
                        linux::bindinfo::socket_options(pid, fd)
                    });
                // A closed TCP connection still finishing (FIN_WAIT, CLOSING, LAST_ACK,
                // TIME_WAIT) has no file and no process either, but it is an orphan of a
                // process's socket, not one the kernel made.
                let orphan = socket.proto == Proto::Tcp && socket.state.is_orphan();
                let kernel = socket.owner.pids().is_empty()
                    && !matches!(socket.owner, Owner::Hidden(_))
                    && !orphan
                    && (socket.inode == 0 || socket.uid == Some(0));
                Existing {
                    reuseaddr: options.map(|o| o.0),
                    reuseport: options.map(|o| o.1),
                    bound_dev: detail.interface,
                    expires_ms: detail.expires_ms,
                    kernel,
                    socket,
                }
            })
            .collect();
        Ok(BindContext {
            existing,
            snapshot,
            setting: rows.setting,
            netns_path: path,
            errors: rows.errors,
        })
    }

    /// This host's name, sanitized (what every snapshot calls it).
    pub fn host(&self) -> &SafeText {
        &self.host
    }

    /// The sockets `keep` accepts, without looking up owners: cheap, for polling a port.
    pub fn sockets(
        &mut self,
        selection: Selection,
        keep: &dyn Fn(&Socket) -> bool,
    ) -> Result<TableRead, CollectError> {
        let mut read = self.read_tables(selection)?;
        read.sockets.retain(|socket| keep(socket));
        Ok(read)
    }

    /// From now on every table is dumped, even one the kernel's per-namespace count says is
    /// empty: for an answer that may say "free". The count is a lockless per-CPU sum, and a
    /// socket hashed and unhashed within the microseconds it takes can make it read one low.
    pub fn dump_every_table(&mut self) {
        self.sockets.dump_every_table();
    }

    /// Reads the tables, keeps the sockets `keep` accepts, and looks up only their holders.
    pub fn collect(
        &mut self,
        request: &Request,
        keep: &dyn Fn(&Socket) -> bool,
    ) -> Result<Snapshot, CollectError> {
        let taken_at = SystemTime::now();
        let mut read = self.read_tables(request.selection)?;
        let (kept, left): (Vec<Socket>, Vec<Socket>) = std::mem::take(&mut read.sockets)
            .into_iter()
            .partition(|s| keep(s));
        read.sockets = kept;
        self.update_owners(&read.sockets)?;
        self.follow_hints(request.selection, keep, &mut read);
        // Only a filtered read can leave out what a published port leads to.
        let again = (!left.is_empty()).then(|| read.clone());
        let snapshot = self.build(request, read, Vec::new(), taken_at);
        // A published port leads to a listener the filter left out: look up its holders too.
        let related = behind_publications(&snapshot, &left);
        let Some(again) = again.filter(|_| !related.is_empty()) else {
            return Ok(snapshot);
        };
        let mut both = again.sockets.clone();
        both.extend(related.iter().cloned());
        self.update_owners(&both)?;
        Ok(self.build(request, again, related, taken_at))
    }

    /// For the live view: like [`Collector::collect`], but when the table, its holders and
    /// their facts are what they were at the last refresh, says so instead of building the
    /// same picture again (on a host with 100,000 listeners that is most of the work).
    pub fn refresh(
        &mut self,
        request: &Request,
        keep: &dyn Fn(&Socket) -> bool,
    ) -> Result<Refresh, CollectError> {
        let taken_at = SystemTime::now();
        let mut read = self.sockets(request.selection, keep)?;
        let mut owners_changed = self.update_owners(&read.sockets)?;
        owners_changed |= self.follow_hints(request.selection, keep, &mut read);
        let table = TablePrint::of(&read);
        let same = |l: &&Last| !owners_changed && l.table == table && l.request == *request;
        if let Some(last) = self.last.as_ref().filter(same) {
            // Same sockets, same (pid, fd) holding each: a process that took a dead holder's
            // pid holds sockets of its own, which changes the owners (and K and --kill check
            // start times anyway). What a holder changes in place (its name, its parent),
            // or a successor that inherited the very same fd, is seen at the next check.
            if self.facts_taken + 1 < FACTS_CHECK_EVERY {
                self.facts_taken += 1;
                return Ok(self.unchanged(request, &read.sockets, taken_at));
            }
            self.facts_taken = 0;
            let pids = last.pids.clone();
            let processes = self.processes.refresh(&pids, &mut self.users);
            if self.last.as_ref().is_some_and(|l| l.processes == processes) {
                return Ok(self.unchanged(request, &read.sockets, taken_at));
            }
        }
        self.facts_taken = 0;
        let snapshot = self.build(request, read, Vec::new(), taken_at);
        self.last = Some(Last {
            request: *request,
            table,
            pids: snapshot.processes.keys().copied().collect(),
            processes: snapshot.processes.clone(),
            connections: snapshot.connections.clone(),
        });
        Ok(Refresh::Changed(Box::new(snapshot)))
    }

    /// The owner source's update; with `--owner-scan bpf`, an error when the in-kernel map did
    /// not answer.
    fn update_owners(&mut self, sockets: &[Socket]) -> Result<bool, CollectError> {
        let changed = self.owners.update(sockets);
        if self.require_bpf {
            let used = self.owners.used();
            if used.source != OwnerMapSource::Bpf {
                let why = used
                    .bpf_unavailable
                    .unwrap_or_else(|| "bpf: not used".into());
                return Err(CollectError::OwnerScan(why));
            }
        }
        Ok(changed)
    }

    /// Namespaces the owner scan pointed at: dumps them and gives their sockets their holders.
    /// True when it added any.
    fn follow_hints(
        &mut self,
        selection: Selection,
        keep: &dyn Fn(&Socket) -> bool,
        read: &mut TableRead,
    ) -> bool {
        let hints = self.owners.hints();
        if hints.is_empty() {
            return false;
        }
        let mut more = self.sockets.extend(&hints, selection);
        more.sockets.retain(|s| keep(s));
        if more.sockets.is_empty() && more.namespaces.is_empty() {
            return false;
        }
        self.owners.adopt(&more.sockets, &hints);
        read.merge(more);
        true
    }

    fn unchanged(
        &mut self,
        request: &Request,
        sockets: &[Socket],
        taken_at: SystemTime,
    ) -> Refresh {
        let mut warnings = Vec::new();
        let connections = match request.connections {
            true => Some(self.connections(request.selection, sockets, &mut warnings)),
            false => None,
        };
        let moved = match (&connections, self.last.as_mut()) {
            (Some(now), Some(last)) if *now != last.connections => {
                last.connections = now.clone();
                connections
            }
            _ => None,
        };
        Refresh::Unchanged {
            taken_at,
            connections: moved,
        }
    }

    /// The snapshot of a table whose owners are up to date.
    fn build(
        &mut self,
        request: &Request,
        read: TableRead,
        related: Vec<Socket>,
        taken_at: SystemTime,
    ) -> Snapshot {
        let TableRead {
            mut sockets,
            errors,
            mut warnings,
            namespaces,
        } = read;
        let shown = sockets.len();
        sockets.extend(related);
        let owners = self.owners.owners(&sockets);
        for socket in &mut sockets {
            socket.owner = owner_of(socket, &owners);
        }
        let mut related = sockets.split_off(shown);
        sort_sockets(&mut sockets);
        let pids: BTreeSet<u32> = sockets
            .iter()
            .chain(&related)
            .flat_map(|s| s.owner.pids().iter().copied())
            .collect();
        let processes = self.processes.refresh(&pids, &mut self.users);
        for socket in sockets.iter_mut().chain(related.iter_mut()) {
            let owner = std::mem::replace(&mut socket.owner, Owner::None(NoneReason::NoHolder));
            socket.owner = settle_owner(owner, socket.uid, &processes, &owners);
        }
        let connections = match request.connections {
            true => self.connections(request.selection, &sockets, &mut warnings),
            false => BTreeMap::new(),
        };
        let uids: BTreeSet<u32> = sockets.iter().filter_map(|s| s.uid).collect();
        let users = uids
            .into_iter()
            .filter_map(|uid| Some((uid, self.users.name(uid)?)))
            .collect();
        warnings.append(&mut self.users.failures);
        let fds = holder_fds(&sockets, &owners);
        let mut snapshot = Snapshot {
            taken_at,
            host: self.host.clone(),
            sockets,
            processes,
            users,
            connections,
            fds,
            ephemeral: self.sockets.ephemeral_range(),
            visibility: Visibility {
                unreadable_pids: owners.unreadable_pids,
                owner_map: self.owners.used(),
            },
            table_errors: errors,
            namespaces,
            published: Vec::new(),
            related,
            warnings,
        };
        self.sockets.annotate(&mut snapshot);
        snapshot
    }

    fn read_tables(&mut self, selection: Selection) -> Result<TableRead, CollectError> {
        let read = self.sockets.read(selection);
        let wanted = [selection.tcp, selection.udp]
            .iter()
            .filter(|&&on| on)
            .count()
            * [selection.ipv4, selection.ipv6]
                .iter()
                .filter(|&&on| on)
                .count();
        // Fatal only when no table of any namespace could be read.
        let mut failed: BTreeMap<u64, usize> = BTreeMap::new();
        for error in &read.errors {
            *failed.entry(error.netns).or_default() += 1;
        }
        let mut dumped: Vec<u64> = read.namespaces.keys().copied().collect();
        if dumped.is_empty() {
            dumped.push(0);
        }
        let all_failed = dumped
            .iter()
            .all(|ns| failed.get(ns).is_some_and(|&n| n >= wanted));
        if wanted > 0 && !read.errors.is_empty() && all_failed {
            let mut errors = read.errors;
            dedup_errors(&mut errors);
            return Err(CollectError::no_table(errors));
        }
        Ok(read)
    }

    fn connections(
        &mut self,
        selection: Selection,
        listeners: &[Socket],
        warnings: &mut Vec<String>,
    ) -> BTreeMap<u64, Connections> {
        let started = Instant::now();
        if !self.conns.due(selection, started) {
            warnings.extend(self.conns.warnings.iter().cloned());
            return self.conns.counts.clone();
        }
        let mut problems = Vec::new();
        let counts = match self.sockets.established(selection) {
            Ok(rows) => count_connections(&rows, listeners),
            Err(error) => {
                problems.push(format!("{}; connections are not counted", error.message));
                BTreeMap::new()
            }
        };
        warnings.extend(problems.iter().cloned());
        self.conns = ConnsPace {
            selection: Some(selection),
            counted_at: Some(started),
            cost: started.elapsed(),
            counts: counts.clone(),
            warnings: problems,
        };
        counts
    }
}

/// Each established TCP connection counts for the listener that accepted it: the most specific
/// listener on its local port that takes its local address (exact address, then the family's
/// wildcard, then a dual-stack `[::]`).
fn count_connections(rows: &[Socket], listeners: &[Socket]) -> BTreeMap<u64, Connections> {
    if rows.is_empty() {
        return BTreeMap::new();
    }
    // Only the ports that have connections: a host may have 100,000 listeners and few.
    let ports: FxHashSet<u16> = rows.iter().map(|r| r.port).collect();
    let mut by_port: HashMap<u16, Vec<&Socket>> = HashMap::default();
    for listener in listeners
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.is_listener() && ports.contains(&s.port))
    {
        by_port.entry(listener.port).or_default().push(listener);
    }

    let mut counts: BTreeMap<u64, Connections> = BTreeMap::new();
    for row in rows {
        let Some(candidates) = by_port.get(&row.port) else {
            continue;
        };
        let best = candidates
            .iter()
            .filter_map(|l| Some((l.accepts(&row.local_addr)?, l.inode)))
            .max_by_key(|&(rank, _)| rank);
        if let Some((_, inode)) = best {
            let entry = counts.entry(inode).or_default();
            entry.count += 1;
            if let (Some(peer), true) = (row.remote, entry.peers.len() < PEERS_KEPT) {
                entry.peers.push(peer);
            }
        }
    }
    counts
}

/// The fds of the holders that made it into the snapshot (not of those that exited meanwhile).
fn holder_fds(sockets: &[Socket], owners: &Owners) -> BTreeMap<(u64, u32), Vec<u32>> {
    sockets
        .iter()
        .flat_map(|s| s.owner.pids().iter().map(move |&pid| (s.inode, pid)))
        .filter_map(|key| Some((key, owners.fds.get(&key)?.clone())))
        .collect()
}

fn owner_of(socket: &Socket, owners: &Owners) -> Owner {
    if socket.inode == 0 {
        return Owner::None(NoneReason::KernelHeld);
    }
    match (owners.by_inode.get(&socket.inode), owners.blindness) {
        (Some(pids), _) => Owner::Known(pids.clone()),
        (None, Some(reason)) => Owner::Hidden(own_reason(socket, owners).unwrap_or(reason)),
        (None, None) => Owner::None(NoneReason::NoHolder),
    }
}

/// A socket made by us, hidden while processes of ours could not be read: its holder is one of
/// our own non-dumpable processes.
fn own_reason(socket: &Socket, owners: &Owners) -> Option<HiddenReason> {
    let uid = socket.uid?;
    let hidden = owners.hidden_uids.as_ref()?;
    (owners.own_uid == Some(uid) && hidden.contains(&uid)).then_some(HiddenReason::NonDumpable)
}

/// After the process facts: a holder that exited during the scan is dropped, and a holder set
/// that may miss someone is marked partial. The socket's uid is that of the process that made
/// it; when no visible holder runs as that uid and a process we could not read might, the
/// holder that made it may be hidden (a root master whose workers run as nobody).
fn settle_owner(
    owner: Owner,
    uid: Option<u32>,
    processes: &BTreeMap<u32, Process>,
    owners: &Owners,
) -> Owner {
    let Owner::Known(mut pids) = owner else {
        return owner;
    };
    pids.retain(|pid| processes.contains_key(pid));
    if pids.is_empty() {
        return Owner::None(NoneReason::HolderExited);
    }
    let creator_seen = uid.is_none()
        || pids
            .iter()
            .any(|pid| processes.get(pid).and_then(|p| p.uid) == uid);
    match owners.blindness {
        Some(reason) if !creator_seen && owners.may_hide_uid(uid) => Owner::Partial(pids, reason),
        _ => Owner::Known(pids),
    }
}

/// Port first, then protocol and address: the order every front end shows.
fn sort_sockets(sockets: &mut [Socket]) {
    sockets.sort_unstable_by(|a, b| {
        (
            a.port,
            a.proto,
            a.family,
            a.local_addr,
            a.state,
            a.remote,
            a.inode,
        )
            .cmp(&(
                b.port,
                b.proto,
                b.family,
                b.local_addr,
                b.state,
                b.remote,
                b.inode,
            ))
    });
}

#[cfg(unix)]
fn host_name() -> SafeText {
    let name = nix_hostname();
    SafeText::from_bytes(&name)
}

#[cfg(target_os = "linux")]
fn nix_hostname() -> Vec<u8> {
    rustix::system::uname().nodename().to_bytes().to_vec()
}

#[cfg(all(unix, not(target_os = "linux")))]
fn nix_hostname() -> Vec<u8> {
    sysinfo::System::host_name()
        .unwrap_or_else(|_| "localhost".into())
        .into_bytes()
}

#[cfg(not(unix))]
fn host_name() -> SafeText {
    SafeText::new(&sysinfo::System::host_name().unwrap_or_else(|_| "localhost".into()))
}

/// The same table failing the same way in several namespaces is said once.
fn dedup_errors(errors: &mut Vec<TableError>) {
    let mut seen = BTreeSet::new();
    errors.retain(|e| seen.insert((e.proto, e.family, e.message.clone())));
}

/// Listeners a filter left out that a published port of the snapshot leads to.
fn behind_publications(snapshot: &Snapshot, everything: &[Socket]) -> Vec<Socket> {
    let mut related: Vec<Socket> = Vec::new();
    for publication in &snapshot.published {
        let Some(netns) = publication.target_netns else {
            continue;
        };
        // Where the port inside is not known, every listener inside may be the one.
        let port = publication.target.map(|(_, port)| port);
        let Some(front) = snapshot.socket_at(publication.socket) else {
            continue;
        };
        let inside = everything.iter().filter(|s| {
            s.netns == netns
                && port.is_none_or(|p| s.port == p)
                && s.proto == front.proto
                && s.is_listener()
        });
        for socket in inside {
            let key = (socket.netns, socket.inode);
            if snapshot.socket_at(key).is_none()
                && !related.iter().any(|r| (r.netns, r.inode) == key)
            {
                related.push(socket.clone());
            }
        }
    }
    related
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, SockState};
    use std::net::IpAddr;

    fn tcp(addr: &str, port: u16, state: SockState, inode: u64, v6only: Option<bool>) -> Socket {
        let local_addr: IpAddr = addr.parse().expect("address");
        Socket {
            proto: Proto::Tcp,
            family: Family::of(&local_addr),
            local_addr,
            port,
            remote: Some(("192.0.2.1".parse().expect("address"), 40000)),
            state,
            inode,
            uid: Some(0),
            v6only,
            netns: 0,
            owner: Owner::None(NoneReason::NoHolder),
        }
    }

    #[test]
    fn connections_count_for_the_listener_that_takes_them() {
        let listeners = [
            tcp("::1", 6379, SockState::Listen, 1, Some(true)),
            tcp("127.0.0.1", 6379, SockState::Listen, 2, None),
            tcp("::", 8080, SockState::Listen, 3, Some(false)),
            tcp("0.0.0.0", 9000, SockState::Listen, 4, None),
            tcp("::", 9000, SockState::Listen, 5, Some(true)),
        ];
        let rows = [
            tcp("127.0.0.1", 6379, SockState::Established, 0, None),
            tcp("127.0.0.1", 6379, SockState::Established, 0, None),
            tcp("::1", 6379, SockState::Established, 0, None),
            tcp("::ffff:10.0.0.1", 8080, SockState::Established, 0, None),
            tcp("10.0.0.1", 8080, SockState::Established, 0, None),
            tcp("10.0.0.1", 9000, SockState::Established, 0, None),
            tcp("fe80::1", 9000, SockState::Established, 0, None),
            tcp("10.0.0.1", 5555, SockState::Established, 0, None),
        ];
        let counts = count_connections(&rows, &listeners);
        let count = |inode: u64| counts.get(&inode).map_or(0, |c| c.count);
        assert_eq!(
            [count(1), count(2), count(3), count(4), count(5)],
            [1, 2, 2, 1, 1]
        );
    }
}
