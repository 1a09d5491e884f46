//! Linux: sockets from netlink sock_diag (read by our own dump, see `diag.rs`), owners from our
//! own /proc fd scan, process facts from bounded /proc reads.

pub mod bindinfo;
pub mod bpf;
mod bpf_scan;
pub mod cgroup;
pub mod containers;
mod diag;
mod facts;
pub mod forwarders;
pub mod mountinfo;
pub mod netns;
mod owners;
mod parallel;
mod procfs;
pub mod procstat;
mod visibility;

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashSet;
use std::fs;

use super::users::UserNames;
use super::{Hints, OwnerScanChoice, OwnerSource, Owners, ProcessSource};
use super::{SocketSource, TableRead};
use crate::model::{
    Family, NetnsScope, OwnerMap, PortRange, Process, Proto, Selection, Socket, TableError,
};
use owners::{FullScan, ProcScan};

pub use owners::{OwnerIndex, OwnerScan};

/// This OS's three sources, for the namespaces in `scope`, with holders found as `owner_scan`
/// says: the one place the owner-scan path is chosen.
pub(super) fn sources(
    scope: NetnsScope,
    owner_scan: OwnerScanChoice,
) -> (
    Box<dyn SocketSource>,
    Box<dyn OwnerSource>,
    Box<dyn ProcessSource>,
) {
    let all = scope == NetnsScope::All;
    let tables: Box<dyn SocketSource> = match scope {
        NetnsScope::Current => Box::new(DiagTables {
            here: current_namespace(),
        }),
        scope => Box::new(netns::NetnsTables::new(scope)),
    };
    let discover = all && rustix::process::geteuid().is_root();
    let mut owners = IndexedOwners {
        index: OwnerIndex::default(),
        wanted: FxHashSet::default(),
        full: full_scan(owner_scan, discover),
    };
    owners.index.discover = discover;
    (
        tables,
        Box::new(owners),
        Box::new(facts::ProcessFacts::new()),
    )
}

/// What makes the full owner scans.
fn full_scan(choice: OwnerScanChoice, discover: bool) -> Box<dyn FullScan> {
    let proc = |why: &str| {
        Box::new(ProcScan {
            why: why.to_string(),
        })
    };
    match choice {
        OwnerScanChoice::Proc => proc("bpf: not asked for (--owner-scan proc)"),
        // The map would name processes whose /proc entries we cannot read: they would look
        // like holders that exited.
        _ if visibility::hides_processes() => {
            proc("bpf: /proc is mounted with hidepid, so the holders it finds could not be named")
        }
        // Loading the program (~5 ms) and a thread per core cost more than walking a small
        // host's fd tables (make bench, small fixture, 34 processes: 18.5 ms against 12.5 ms;
        // about even at ~120); it pays from a few hundred processes on (medium, 316: 77.5 ms
        // against 204 ms).
        OwnerScanChoice::Auto | OwnerScanChoice::Bpf => {
            // One listing serves both the choice and the first walk.
            let pids = owners::list_pids().ok();
            let few = pids.as_ref().is_some_and(|p| p.len() < BPF_FROM_PROCESSES);
            if choice == OwnerScanChoice::Auto && few {
                return proc(&format!(
                    "bpf: not needed: fewer than {BPF_FROM_PROCESSES} processes, where the /proc walk is faster than loading the program"
                ));
            }
            Box::new(bpf_scan::BpfScan::start(discover, pids))
        }
    }
}

/// From how many processes `--owner-scan auto` loads the in-kernel map.
const BPF_FROM_PROCESSES: usize = 250;

/// Does portscope run in the host's network namespace (pid 1's)? Then it looks at every
/// namespace by default; inside another (`ip netns exec`, a container) at that one.
pub fn in_host_namespace() -> bool {
    let own = netns::discover::inode_of(std::path::Path::new("/proc/thread-self/ns/net"));
    let host = netns::discover::host_inode()
        .or_else(|| own.filter(|&i| i == netns::discover::NET_NS_INIT_INO));
    own.is_some() && own == host
}

/// The tables of the current network namespace, through sock_diag.
struct DiagTables {
    /// The namespace, when it is not the host's: its sockets are then labelled by its name
    /// (an `ip netns` name, or `netns:[inode]`), never as the host's.
    here: Option<crate::model::Netns>,
}

/// The namespace portscope runs in, when it is not the host's (inside `ip netns exec`, a
/// container): named as `ip netns` names it, when a bind mount under /run/netns keeps it.
fn current_namespace() -> Option<crate::model::Netns> {
    use crate::model::{Netns, NetnsKind, SafeText};
    if in_host_namespace() {
        return None;
    }
    let own = netns::discover::inode_of(std::path::Path::new("/proc/thread-self/ns/net"))?;
    let named = fs::read_dir("/run/netns").ok().and_then(|dir| {
        dir.flatten()
            .find(|entry| netns::discover::inode_of(&entry.path()) == Some(own))
            .map(|entry| SafeText::from_path(std::path::Path::new(&entry.file_name())))
    });
    Some(Netns {
        inode: own,
        id: None,
        kind: match named {
            Some(_) => NetnsKind::Named,
            None => NetnsKind::Anonymous,
        },
        name: named.unwrap_or_else(|| SafeText::new(&format!("netns:[{own}]"))),
        container: None,
        pid: Some(std::process::id()),
        paths: Vec::new(),
        found_by: vec!["process"],
        current: true,
    })
}

pub(super) const FAMILIES: [Family; 2] = [Family::Ipv4, Family::Ipv6];
pub(super) const PROTOS: [Proto; 2] = [Proto::Tcp, Proto::Udp];

impl SocketSource for DiagTables {
    fn read(&mut self, selection: Selection) -> TableRead {
        let mut read = read_tables(&mut diag::Dumper::new(), selection, 0, None);
        // Sockets of "the current namespace only" keep netns 0; its entry says which it is.
        if let Some(here) = &self.here {
            read.namespaces.insert(0, here.clone());
        }
        read
    }

    fn established(&mut self, selection: Selection) -> Result<Vec<Socket>, TableError> {
        established_rows(&mut diag::Dumper::new(), selection, 0)
    }

    /// `/proc/sys/net/ipv4/ip_local_port_range` of this network namespace.
    fn ephemeral_range(&self) -> Option<PortRange> {
        own_ephemeral_range()
    }
}

/// `/proc/sys/net/ipv4/ip_local_port_range` of the calling thread's network namespace.
pub(super) fn own_ephemeral_range() -> Option<PortRange> {
    let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    PortRange::parse_pair(&text)
}

/// How many sockets each table of the calling thread's network namespace holds, from
/// `/proc/thread-self/net/sockstat` and `sockstat6`: the kernel's own count, per namespace, of
/// the sockets in its hashes (TCP listeners and connections; every bound UDP socket; not
/// TIME_WAIT or bound-only TCP sockets). A dump of an empty table still walks the whole
/// host-wide listening or UDP hash (16,384 buckets: 25–55 µs here), so a namespace with only
/// IPv4 TCP listeners needs one dump, not four.
///
/// The count is a sum of per-CPU counters read without a lock: it reads one low for each
/// socket hashed and unhashed again within the microseconds the sum takes (its removal
/// counted, its arrival not), so a busy namespace's one listener could, very rarely, be
/// skipped for one picture. A port query, whose answer may be "free", therefore dumps every
/// table (`Collector::dump_every_table`). Before Linux 5.2 ("proc: fix /proc/net/* after
/// setns(2)") a thread's `/proc/.../net` could still show the namespace it left, and the
/// workers enter several in turn: there, nothing is read and every table is dumped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct TableCounts {
    /// Per family (IPv4, IPv6) and protocol (TCP, UDP); None where the file did not say.
    inuse: [[Option<u64>; 2]; 2],
}

impl TableCounts {
    pub(super) fn read() -> Self {
        let mut counts = TableCounts::default();
        if !procfs_follows_setns() {
            return counts;
        }
        for (path, family) in [
            ("/proc/thread-self/net/sockstat", 0),
            ("/proc/thread-self/net/sockstat6", 1),
        ] {
            if let Ok(text) = fs::read_to_string(path) {
                counts.parse(&text, family);
            }
        }
        counts
    }

    /// Lines like `TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1` and `UDP6: inuse 2`.
    fn parse(&mut self, text: &str, family: usize) {
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let proto = match words.next() {
                Some("TCP:" | "TCP6:") => 0,
                Some("UDP:" | "UDP6:") => 1,
                _ => continue,
            };
            if words.next() == Some("inuse") {
                self.inuse[family][proto] = words.next().and_then(|n| n.parse().ok());
            }
        }
    }

    /// True only when the kernel said the table holds no socket.
    fn empty(&self, family: Family, proto: Proto) -> bool {
        let family = usize::from(family == Family::Ipv6);
        let proto = usize::from(proto == Proto::Udp);
        self.inuse[family][proto] == Some(0)
    }
}

/// Does a thread's `/proc/thread-self/net` follow it into the namespace it enters? From Linux
/// 5.2 on (see [`TableCounts`]).
fn procfs_follows_setns() -> bool {
    static FOLLOWS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FOLLOWS.get_or_init(|| {
        let uname = rustix::system::uname();
        release_at_least(&uname.release().to_string_lossy(), (5, 2))
    })
}

/// `6.18.44-fc-v1045` against (5, 2).
fn release_at_least(release: &str, wanted: (u32, u32)) -> bool {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    match (major, minor) {
        (Some(major), Some(minor)) => (major, minor) >= wanted,
        _ => false,
    }
}

/// Every selected table of the calling thread's network namespace, its sockets tagged with
/// `netns` (0: "the current one", when no other is looked at). With `counts`, a table the
/// kernel counts as empty is not dumped when only listeners are asked for (the counts leave
/// out TIME_WAIT and bound-only TCP sockets).
pub(super) fn read_tables(
    dumper: &mut diag::Dumper,
    selection: Selection,
    netns: u64,
    counts: Option<&TableCounts>,
) -> TableRead {
    let of = match netns {
        0 => String::new(),
        inode => format!(" of net:[{inode}]"),
    };
    let mut read = TableRead::default();
    for family in FAMILIES.into_iter().filter(|f| selection.has_family(*f)) {
        for proto in PROTOS.into_iter().filter(|p| selection.has_proto(*p)) {
            if !selection.all_states && counts.is_some_and(|c| c.empty(family, proto)) {
                continue;
            }
            let request = diag::Request::new(family, proto, !selection.all_states);
            match dumper.dump(request) {
                Ok(dump) => {
                    if !dump.consistent {
                        read.warnings.push(format!(
                            "the {} table{of} kept changing while it was read; some sockets may be missing or shown twice",
                            request.name()
                        ));
                    }
                    read.sockets.extend(dump.sockets.into_iter().map(|mut s| {
                        s.netns = netns;
                        s
                    }));
                }
                Err(error) => read.errors.push(TableError {
                    netns,
                    ..table_error(request, &error)
                }),
            }
        }
    }
    read
}

/// The established TCP connections of the calling thread's network namespace, tagged with
/// `netns` as [`read_tables`] does.
pub(super) fn established_rows(
    dumper: &mut diag::Dumper,
    selection: Selection,
    netns: u64,
) -> Result<Vec<Socket>, TableError> {
    let mut rows = Vec::new();
    for family in FAMILIES.into_iter().filter(|f| selection.has_family(*f)) {
        let request = diag::Request::established(family);
        let dump = dumper.dump(request).map_err(|e| TableError {
            netns,
            ..table_error(request, &e)
        })?;
        rows.extend(dump.sockets.into_iter().map(|mut s| {
            s.netns = netns;
            s
        }));
    }
    Ok(rows)
}

/// One line naming the table and what the kernel said.
pub(super) fn table_error(request: diag::Request, error: &std::io::Error) -> TableError {
    let table = request.name();
    let message = match error.raw_os_error() {
        Some(code) if code == rustix::io::Errno::NOENT.raw_os_error() => format!(
            "cannot read the socket table {table}: the kernel has no sock_diag handler for it (is the {}_diag module missing?)",
            request.proto.as_str()
        ),
        _ => format!("cannot read the socket table {table} (netlink sock_diag): {error}"),
    };
    TableError {
        netns: 0,
        proto: request.proto,
        family: request.family,
        message,
        errno: error.raw_os_error(),
    }
}

/// Owners from full scans (the in-kernel map or the /proc walk) and the index's cheap
/// refreshes in between, remembering what it learned between refreshes.
struct IndexedOwners {
    index: OwnerIndex,
    /// The inodes of the last update.
    wanted: FxHashSet<u64>,
    full: Box<dyn FullScan>,
}

impl OwnerSource for IndexedOwners {
    fn update(&mut self, sockets: &[Socket]) -> bool {
        self.wanted = sockets
            .iter()
            .map(|s| s.inode)
            .filter(|&i| i != 0)
            .collect();
        self.index.update_with(&self.wanted, self.full.as_mut())
    }

    fn used(&mut self) -> OwnerMap {
        self.full.used()
    }

    fn hints(&mut self) -> Hints {
        self.index.take_hints()
    }

    fn adopt(&mut self, sockets: &[Socket], hints: &Hints) {
        let new: FxHashSet<u64> = sockets
            .iter()
            .map(|s| s.inode)
            .filter(|&i| i != 0)
            .collect();
        let found = hints
            .unknown_sockets
            .iter()
            .copied()
            .filter(|(_, _, inode)| new.contains(inode));
        self.index.adopt(found);
        self.wanted.extend(new);
    }

    fn owners(&self, _sockets: &[Socket]) -> Owners {
        let scan = self.index.scan(&self.wanted);
        let blind = visibility::blindness(&scan);
        let euid = rustix::process::geteuid();
        Owners {
            by_inode: scan.owners,
            fds: scan.fds,
            blindness: blind.reason,
            hidden_uids: blind.hidden_uids,
            unreadable_pids: scan.unreadable,
            own_uid: (!euid.is_root()).then_some(euid.as_raw()),
        }
    }
}

impl ProcessSource for facts::ProcessFacts {
    fn refresh(&mut self, pids: &BTreeSet<u32>, users: &mut UserNames) -> BTreeMap<u32, Process> {
        facts::ProcessFacts::refresh(self, pids, users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table counted as empty is skipped only when counts are handed in (a port query hands
    /// none: its answer may be "free").
    #[test]
    fn a_table_counted_empty_is_skipped_only_with_counts() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let zero = TableCounts {
            inuse: [[Some(0); 2]; 2],
        };
        let has = |counts: Option<&TableCounts>| {
            let read = read_tables(&mut diag::Dumper::new(), Selection::LISTENERS, 0, counts);
            read.sockets
                .iter()
                .any(|s| s.port == port && s.proto == Proto::Tcp)
        };
        assert!(has(None), "every table dumped without counts");
        assert!(!has(Some(&zero)), "a table counted empty is skipped");
        assert!(
            has(Some(&TableCounts::read())),
            "the kernel counts our listener"
        );
    }

    #[test]
    fn counts_are_trusted_only_where_procfs_follows_setns() {
        assert!(release_at_least("6.18.44-fc-v1045", (5, 2)));
        assert!(release_at_least("5.2.0", (5, 2)));
        assert!(release_at_least("5.10", (5, 2)));
        assert!(!release_at_least("5.1.21", (5, 2)));
        assert!(!release_at_least("4.18.0-553.el8_10.x86_64", (5, 2)));
        assert!(!release_at_least("", (5, 2)));
        assert!(!release_at_least("6", (5, 2)));
    }

    #[test]
    fn table_counts_come_from_the_inuse_fields() {
        let mut counts = TableCounts::default();
        counts.parse(
            "sockets: used 226\nTCP: inuse 5 orphan 0 tw 3 alloc 7 mem 1\nUDP: inuse 0 mem 2\nUDPLITE: inuse 4\n",
            0,
        );
        counts.parse("TCP6: inuse 0\nUDP6: inuse 2\nUDPLITE6: inuse 0\n", 1);
        assert!(!counts.empty(Family::Ipv4, Proto::Tcp));
        assert!(counts.empty(Family::Ipv4, Proto::Udp));
        assert!(counts.empty(Family::Ipv6, Proto::Tcp));
        assert!(!counts.empty(Family::Ipv6, Proto::Udp));
        // A file not read (IPv6 off) or a field not understood: dump the table anyway.
        let mut unread = TableCounts::default();
        unread.parse("TCP: inuse many\n", 0);
        assert!(!unread.empty(Family::Ipv4, Proto::Tcp));
        assert!(!unread.empty(Family::Ipv6, Proto::Udp));
    }
}
