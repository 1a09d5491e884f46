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
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fd::OwnedFd;

use super::super::mountinfo;

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

/// Routes 1 and 2: every task's namespace and every nsfs bind mount.
pub fn discover(pids: &[u32]) -> Discovery {
    let mut discovery = Discovery {
        own: inode_of(Path::new("/proc/thread-self/ns/net")).unwrap_or(0),
        ..Discovery::default()
    };
    let mut mount_namespaces: BTreeMap<u64, u32> = BTreeMap::new();
    for &pid in pids {
        visit_process(&mut discovery, pid);
        if let Some(mnt) = inode_of(&PathBuf::from(format!("/proc/{pid}/ns/mnt"))) {
            mount_namespaces.entry(mnt).or_insert(pid);
        }
    }
    for &pid in mount_namespaces.values() {
        visit_mounts(&mut discovery, pid);
    }
    discovery.host = host_namespace(&discovery);
    discovery
}

/// pid 1's namespace; where even root cannot look at pid 1, the kernel's fixed init inode.
fn host_namespace(discovery: &Discovery) -> Option<u64> {
    inode_of(Path::new("/proc/1/ns/net")).or_else(|| {
        discovery
            .found
            .contains_key(&NET_NS_INIT_INO)
            .then_some(NET_NS_INIT_INO)
    })
}

fn visit_process(discovery: &mut Discovery, pid: u32) {
    let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
    if let Some(inode) = inode_of(&path) {
        note(discovery, inode, &path, pid, Source::Process);
    }
    // A task dir's link count is 2 + its threads: look at the threads only where there are.
    let threads =
        fs::metadata(format!("/proc/{pid}/task")).map_or(0, |m| m.nlink().saturating_sub(2));
    if threads <= 1 {
        return;
    }
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        let path = task.path().join("ns/net");
        if let Some(inode) = inode_of(&path) {
            note(discovery, inode, &path, pid, Source::Thread);
        }
    }
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

/// The nsfs bind mounts of `pid`'s mount namespace, opened through its root.
fn visit_mounts(discovery: &mut Discovery, pid: u32) {
    let Ok(entries) = mountinfo::read(Path::new("/"), pid) else {
        return;
    };
    for mount in mountinfo::net_namespace_mounts(&entries) {
        let relative = mount
            .mount_point
            .strip_prefix("/")
            .unwrap_or(&mount.mount_point);
        let reachable = PathBuf::from(format!("/proc/{pid}/root")).join(relative);
        let found = match discovery.found.entry(mount.inode) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                let Some(fd) = open_namespace(&reachable, mount.inode) else {
                    continue;
                };
                entry.insert(Found::new(mount.inode, fd))
            }
        };
        found.sources.insert(Source::Mount);
        if !found.mounts.contains(&mount.mount_point) {
            found.mounts.push(mount.mount_point);
        }
    }
}

/// Opens a namespace file and checks it is still the one expected (a pid may have exited
/// and been reused since the stat).
pub fn open_namespace(path: &Path, inode: u64) -> Option<OwnedFd> {
    let file = fs::File::open(path).ok()?;
    let fd = OwnedFd::from(file);
    let now = rustix::fs::fstat(&fd).ok()?;
    (now.st_ino == inode).then_some(fd)
}

/// The inode of a namespace link (stat follows it to the nsfs inode).
pub fn inode_of(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

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
