//! Finding every network namespace on the host, as the union of what each source sees:
//! every task's `ns/net` (a thread can sit in another namespace than its process), the nsfs
//! bind mounts in the mountinfo of each distinct mount namespace (`/run/netns`, docker's,
//! CNI's), and, from the owner scan, namespace fds held open and sockets no dump returned
//! (`SIOCGSKNS`). `ip netns` and `lsns` each find only some of these.
//!
//! Each namespace is opened (an nsfs fd) when it is found and dumped through that fd, so a
//! process exiting in between cannot make the dump land elsewhere; the fds are closed with the
//! discovery, after the dump: nothing stays pinned.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fd::OwnedFd;

use super::super::mountinfo;
use super::super::parallel::{self, Threads};

/// The init network namespace's inode on kernels that fix it (NET_NS_INIT_INO, 6.x).
pub const NET_NS_INIT_INO: u64 = 0xEFFF_FFF9;

/// How a namespace was found (several at once, often).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Process,
    Thread,
    Mount,
    HeldFd,
    Socket,
}

/// One namespace, opened.
#[derive(Debug)]
pub struct Found {
    pub inode: u64,
    pub fd: OwnedFd,
    pub sources: BTreeSet<Source>,
    /// Processes with a task in it (the first few).
    pub pids: Vec<u32>,
    /// Bind mounts of it, as seen in their mount namespace.
    pub mounts: Vec<PathBuf>,
    /// Processes holding it through an nsfs fd or a socket (route 3 and 4).
    pub held_by: Vec<u32>,
}

/// Every namespace found, and which one is whose.
#[derive(Debug, Default)]
pub struct Discovery {
    pub found: BTreeMap<u64, Found>,
    /// The namespace portscope runs in.
    pub own: u64,
    /// The namespace pid 1 runs in, when it can be told.
    pub host: Option<u64>,
}

/// Processes listed per namespace, at most (for naming; one is enough to act on).
const PIDS_KEPT: usize = 8;

impl Discovery {
    /// Adds a namespace found another way (an nsfs fd, a socket), already opened.
    pub fn add(&mut self, inode: u64, fd: OwnedFd, source: Source, holder: u32) -> bool {
        let fresh = !self.found.contains_key(&inode);
        let found = self
            .found
            .entry(inode)
            .or_insert_with(|| Found::new(inode, fd));
        found.sources.insert(source);
        if !found.held_by.contains(&holder) {
            found.held_by.push(holder);
        }
        fresh
    }
}

impl Found {
    fn new(inode: u64, fd: OwnedFd) -> Found {
        Found {
            inode,
            fd,
            sources: BTreeSet::new(),
            pids: Vec::new(),
            mounts: Vec::new(),
            held_by: Vec::new(),
        }
    }
}

/// What the last discoveries learned, so that the next one (a second later, in the live view)
/// need not look at every task and mount table again: a process keeps its namespaces, and a
/// mount namespace its mounts, from one second to the next. Every `FULL_EVERY` discoveries
/// all is looked at afresh (a thread may move with setns, a pid be reused, a mount added).
/// Only paths and inodes are kept, never an open namespace: nothing is pinned in between.
#[derive(Debug, Default)]
pub struct Memory {
    /// Per pid: where each of its tasks' namespaces was reached, and how.
    pids: HashMap<u32, Vec<(PathBuf, u64, Source)>>,
    /// Mount namespaces whose mount table was read.
    mount_tables: HashSet<u64>,
    /// The nsfs bind mounts seen: (namespace inode, path to reach it, mount point).
    mounts: Vec<(u64, PathBuf, PathBuf)>,
    discoveries: u32,
}

/// Every this many discoveries, everything is looked at afresh.
const FULL_EVERY: u32 = 10;

/// Routes 1 and 2, from scratch: every task's namespace and every nsfs bind mount.
#[cfg(test)]
pub fn discover(pids: &[u32]) -> Discovery {
    discover_with(&mut Memory::default(), pids)
}

/// Routes 1 and 2, looking only at what is new since the last discovery (see [`Memory`]).
pub fn discover_with(memory: &mut Memory, pids: &[u32]) -> Discovery {
    if memory.discoveries.is_multiple_of(FULL_EVERY) {
        memory.pids.clear();
        memory.mount_tables.clear();
        memory.mounts.clear();
    }
    memory.discoveries = memory.discoveries.wrapping_add(1);
    let mut discovery = Discovery {
        own: inode_of(Path::new("/proc/thread-self/ns/net")).unwrap_or(0),
        ..Discovery::default()
    };
    let live: HashSet<u32> = pids.iter().copied().collect();
    memory.pids.retain(|pid, _| live.contains(pid));
    let own_mnt = inode_of(Path::new("/proc/self/ns/mnt"));
    let own_user = inode_of(Path::new("/proc/self/ns/user"));
    // A few stats per new process (its namespace, its threads', its mount namespace's): on
    // every core, from a few dozen processes on.
    let fresh: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|pid| !memory.pids.contains_key(pid))
        .collect();
    let workers = parallel::workers(fresh.len(), 32);
    let visits = parallel::map(&fresh, workers, Threads::CallerMayWork, |&pid| {
        visit_process(pid, own_mnt, own_user)
    });
    let mut visits: HashMap<u32, Visit> = fresh
        .into_iter()
        .zip(visits)
        .filter_map(|(pid, visit)| Some((pid, visit?)))
        .collect();
    let mut new_tables: BTreeMap<u64, u32> = BTreeMap::new();
    for &pid in pids {
        if let Some(seen) = memory.pids.get(&pid) {
            for (path, inode, source) in seen {
                note(&mut discovery, *inode, path, pid, *source);
            }
            continue;
        }
        let Some(visit) = visits.remove(&pid) else {
            continue;
        };
        for (path, inode, source) in &visit.seen {
            note(&mut discovery, *inode, path, pid, *source);
        }
        memory.pids.insert(pid, visit.seen);
        if let Some(mnt) = visit.mount_table
            && !memory.mount_tables.contains(&mnt)
        {
            new_tables.entry(mnt).or_insert(pid);
        }
    }
    for (&mnt, &pid) in &new_tables {
        memory.mount_tables.insert(mnt);
        memory.mounts.extend(mounts_of(pid));
    }
    memory.mounts.retain(|(inode, reachable, mount_point)| {
        note_mount(&mut discovery, *inode, reachable, mount_point)
    });
    discovery.host = host_namespace(&discovery);
    discovery
}

/// The host's namespace: pid 1's; where even root cannot look at pid 1 (a sandboxed init),
/// kthreadd's (pid 2), which is always in the initial namespace.
pub fn host_inode() -> Option<u64> {
    inode_of(Path::new("/proc/1/ns/net"))
        .or_else(|| inode_of(Path::new("/proc/2/ns/net")))
        // Without root neither can be read: our own is the host's if it is the initial one.
        .or_else(|| {
            inode_of(Path::new("/proc/thread-self/ns/net")).filter(|&i| i == NET_NS_INIT_INO)
        })
}

/// The host's namespace; failing that, the kernel's fixed init inode if it was seen.
fn host_namespace(discovery: &Discovery) -> Option<u64> {
    host_inode().or_else(|| {
        discovery
            .found
            .contains_key(&NET_NS_INIT_INO)
            .then_some(NET_NS_INIT_INO)
    })
}

/// What one process shows of its namespaces.
struct Visit {
    /// Where each of its tasks' network namespaces was reached, and how.
    seen: Vec<(PathBuf, u64, Source)>,
    /// Its mount namespace, when its mount table may hold an nsfs bind mount the others lack:
    /// ours (where `ip netns`, docker, podman and CNI make theirs, and where they propagate
    /// from), and those made in another user namespace (rootless podman keeps its namespaces
    /// under /run/user/UID/netns there). A mount namespace made for one process (`ip netns
    /// exec` makes one per command) holds copies of ours: reading 50 of them costs more than
    /// all the rest of the discovery.
    mount_table: Option<u64>,
}

/// The namespaces of a process and of each of its threads.
fn visit_process(pid: u32, own_mnt: Option<u64>, own_user: Option<u64>) -> Visit {
    let mut seen = Vec::new();
    let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let mount_table = inode_of(&PathBuf::from(format!("/proc/{pid}/ns/mnt"))).filter(|&mnt| {
        Some(mnt) == own_mnt || inode_of(&PathBuf::from(format!("/proc/{pid}/ns/user"))) != own_user
    });
    let Some(own) = inode_of(&path) else {
        return Visit { seen, mount_table };
    };
    seen.push((path, own, Source::Process));
    // A task dir's link count is 2 + its threads: look at the threads only where there are.
    let threads =
        fs::metadata(format!("/proc/{pid}/task")).map_or(0, |m| m.nlink().saturating_sub(2));
    if threads > 1
        && let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task"))
    {
        for task in tasks.flatten() {
            let path = task.path().join("ns/net");
            if let Some(inode) = inode_of(&path).filter(|&i| i != own) {
                seen.push((path, inode, Source::Thread));
            }
        }
    }
    Visit { seen, mount_table }
}

/// Records that `pid` has a task in namespace `inode` (reachable at `path`), opening the
/// namespace the first time it is seen.
fn note(discovery: &mut Discovery, inode: u64, path: &Path, pid: u32, source: Source) {
    let found = match discovery.found.entry(inode) {
        std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
        std::collections::btree_map::Entry::Vacant(entry) => {
            let Some(fd) = open_namespace(path, inode) else {
                return;
            };
            entry.insert(Found::new(inode, fd))
        }
    };
    found.sources.insert(source);
    if found.pids.len() < PIDS_KEPT && !found.pids.contains(&pid) {
        found.pids.push(pid);
    }
}

/// The nsfs bind mounts of `pid`'s mount namespace: (inode, path through its root, mount point).
fn mounts_of(pid: u32) -> Vec<(u64, PathBuf, PathBuf)> {
    let Ok(entries) = mountinfo::read(Path::new("/"), pid) else {
        return Vec::new();
    };
    mountinfo::net_namespace_mounts(&entries)
        .into_iter()
        .map(|mount| {
            let relative = mount
                .mount_point
                .strip_prefix("/")
                .unwrap_or(&mount.mount_point);
            let reachable = PathBuf::from(format!("/proc/{pid}/root")).join(relative);
            (mount.inode, reachable, mount.mount_point)
        })
        .collect()
}

/// Notes a bind mount, opening the namespace through it the first time; false when it is
/// gone (unmounted, or its mount namespace with it).
fn note_mount(discovery: &mut Discovery, inode: u64, reachable: &Path, mount_point: &Path) -> bool {
    let found = match discovery.found.entry(inode) {
        std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
        std::collections::btree_map::Entry::Vacant(entry) => {
            let Some(fd) = open_namespace(reachable, inode) else {
                return false;
            };
            entry.insert(Found::new(inode, fd))
        }
    };
    found.sources.insert(Source::Mount);
    if !found.mounts.iter().any(|m| m == mount_point) {
        found.mounts.push(mount_point.to_path_buf());
    }
    true
}

/// Opens a namespace file and checks it is still the one expected (a pid may have exited
/// and been reused since the stat).
pub fn open_namespace(path: &Path, inode: u64) -> Option<OwnedFd> {
    let file = fs::File::open(path).ok()?;
    let fd = OwnedFd::from(file);
    let now = rustix::fs::fstat(&fd).ok()?;
    (now.st_ino == inode).then_some(fd)
}

/// The inode of a namespace: from the text of a `/proc/PID/ns/*` link (`net:[4026531840]`),
/// else from a stat (a bind mount of one, or a symlink to one). The kernel formats a link's text, where a stat
/// through it makes it find or build the namespace's nsfs dentry: 5 against 12 µs here, for
/// three links per process.
pub fn inode_of(path: &Path) -> Option<u64> {
    fs::read_link(path)
        .ok()
        .and_then(|text| link_inode(text.as_os_str().as_encoded_bytes()))
        // A bind mount, or a plain symlink to a namespace (`/run/netns/x -> /proc/N/ns/net`).
        .or_else(|| fs::metadata(path).ok().map(|m| m.ino()))
}

/// `net:[4026531840]` → 4026531840.
fn link_inode(text: &[u8]) -> Option<u64> {
    let start = text.iter().position(|&b| b == b'[')? + 1;
    let digits = text.get(start..text.len().checked_sub(1)?)?;
    (text.last() == Some(&b']'))
        .then(|| std::str::from_utf8(digits).ok()?.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_and_a_stat_give_the_same_inode() {
        let link = Path::new("/proc/self/ns/net");
        assert_eq!(
            inode_of(link),
            fs::metadata(link).ok().map(|m| m.ino()),
            "through the link's text"
        );
        assert_eq!(link_inode(b"net:[4026531840]"), Some(4026531840));
        // A plain symlink to a namespace link: its text is a path, so it is stat'ed.
        let dir = std::env::temp_dir().join(format!("psT-nslink-{}", std::process::id()));
        let _ = fs::remove_file(&dir);
        std::os::unix::fs::symlink(link, &dir).expect("symlink");
        assert_eq!(inode_of(&dir), inode_of(link), "through a symlink");
        let _ = fs::remove_file(&dir);
        assert_eq!(link_inode(b"net:[]"), None);
        assert_eq!(link_inode(b"net:[12"), None);
        assert_eq!(link_inode(b"socket:[x]"), None);
    }

    #[test]
    fn our_own_namespace_is_found() {
        let me = std::process::id();
        let discovery = discover(&[me]);
        assert_ne!(discovery.own, 0);
        let found = discovery.found.get(&discovery.own).expect("our namespace");
        assert!(found.pids.contains(&me));
        assert!(found.sources.contains(&Source::Process));
    }
}
