//! Who holds each socket: one pass over `/proc/<pid>/fd`, spread across the cores.
//!
//! A complete owner map needs one readlink per open fd on the host, so that is all this does per
//! fd: `readlinkat` relative to the already-open fd directory (no path walk), into a stack
//! buffer, and a lookup in the set of inodes the caller cares about. No stat, no SELinux label,
//! no allocation per fd.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::ffi::CStr;
use std::fs;
use std::mem::MaybeUninit;

use rustix::fd::OwnedFd;
use rustix::fs::{OFlags, RawDir, readlinkat_raw};
use rustix::io::Errno;

use super::parallel::{self, Threads};
use crate::collect::Hints;
use crate::model::{OwnerMap, OwnerMapSource};

/// The owners found for the wanted inodes, and what could not be looked at.
#[derive(Debug, Default)]
pub struct OwnerScan {
    /// inode → every pid holding an fd to it, sorted and unique.
    pub owners: HashMap<u64, Vec<u32>>,
    /// (inode, pid) → the fds through which that pid holds it, sorted.
    pub fds: HashMap<(u64, u32), Vec<u32>>,
    /// Processes whose fd table could not be read (permission), sorted.
    pub unreadable: Vec<u32>,
    /// False when /proc itself could not be listed.
    pub proc_readable: bool,
    /// portscope ran out of file descriptors (or memory) opening an fd directory.
    pub exhausted: bool,
}

/// How a full scan finds every holder of the wanted sockets: the `/proc` walk ([`ProcScan`]) or
/// the in-kernel map (`bpf_scan.rs`). The index's cheap refreshes in between are the same for
/// both: they look only at new processes and at known holders.
pub(super) trait FullScan: Send {
    /// The holders of `wanted` among every process (`pids` is what /proc listed just before),
    /// and with `discover` the namespace hints, as parts to merge.
    fn scan(&mut self, pids: &[u32], wanted: &HashSet<u64>, discover: bool) -> Vec<Partial>;
    /// Which map the scans come from, and why not the in-kernel one.
    fn used(&mut self) -> OwnerMap;
}

/// One `readlinkat` per open fd of every process, spread across the cores.
#[derive(Debug, Default)]
pub(super) struct ProcScan {
    /// Why the in-kernel map is not used (`bpf: …`).
    pub why: String,
}

impl FullScan for ProcScan {
    fn scan(&mut self, pids: &[u32], wanted: &HashSet<u64>, discover: bool) -> Vec<Partial> {
        scan_parallel(pids, wanted, discover)
    }

    fn used(&mut self) -> OwnerMap {
        OwnerMap {
            source: OwnerMapSource::Proc,
            bpf_unavailable: Some(self.why.clone()),
        }
    }
}

/// A full scan runs at least this often in the live view, to catch what the cheap refresh
/// cannot see: an existing process that received an existing socket (SCM_RIGHTS, dup).
const FULL_SCAN_EVERY: u32 = 30;

/// Holders' numbers of open fds (a stat of `/proc/PID/fd` each) are looked at on one cheap
/// refresh in this many: what they catch, a holder that closed its fd of a socket that lives
/// on in another process, is rare, and on a host with 1,000 holders the stats were a seventh
/// of each refresh. A socket that closes, a new one and a new process are seen at once.
const COUNTS_CHECK_EVERY: u32 = 5;

/// Remembers which fd of which process held which socket, so a refresh re-reads only what may
/// have changed: new processes are scanned; a known holder whose number of open fds changed
/// (the size of `/proc/<pid>/fd`, one stat) has its holdings re-checked with one readlinkat
/// each; and a socket with no known holder (a new listener, a handed-off socket) triggers a
/// full scan. What the cheap refresh cannot see (an fd closed and another opened in one
/// interval while its socket lives on elsewhere) is caught by the periodic full scan. One-shot
/// use (a fresh index) is simply a full scan.
#[derive(Debug, Default)]
pub struct OwnerIndex {
    /// pid → (fd, inode) for every wanted socket it held at the last look.
    holdings: HashMap<u32, Vec<(u32, u64)>>,
    pids: HashSet<u32>,
    /// Wanted inodes the last full scan found no holder for.
    orphans: HashSet<u64>,
    unreadable: HashSet<u32>,
    /// pid → its number of open fds when its holdings were last read (0: not known).
    fd_counts: HashMap<u32, u64>,
    exhausted: bool,
    /// Also note, on full scans, nsfs fds and sockets no table asked about (the namespace
    /// collector follows them to namespaces it has not seen).
    pub discover: bool,
    /// What the last full scan noted, until taken.
    hints: Hints,
    listing: Listing,
    refreshes_since_full: u32,
    primed: bool,
}

/// Whether /proc could be listed at the last update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Listing {
    #[default]
    Listed,
    NoProc,
    Exhausted,
}

impl OwnerIndex {
    /// The holders of `wanted` inodes, as exact as a full scan.
    pub fn resolve(&mut self, wanted: &HashSet<u64>) -> OwnerScan {
        self.update(wanted);
        self.scan(wanted)
    }

    /// Brings the index up to date for `wanted`; true when what it knows changed since the
    /// last update (so the live view can skip rebuilding a picture that is the same).
    pub fn update(&mut self, wanted: &HashSet<u64>) -> bool {
        self.update_with(wanted, &mut ProcScan::default())
    }

    /// [`OwnerIndex::update`], with full scans made by `full`.
    pub(super) fn update_with(&mut self, wanted: &HashSet<u64>, full: &mut dyn FullScan) -> bool {
        let before = (self.listing, self.stamp());
        let pids = match list_pids() {
            Ok(pids) => pids,
            Err(error) => {
                *self = OwnerIndex::default();
                self.listing = match error {
                    ListError::NoProc => Listing::NoProc,
                    ListError::Exhausted => Listing::Exhausted,
                };
                return before != (self.listing, self.stamp());
            }
        };
        self.listing = Listing::Listed;
        if self.needs_full_scan(wanted) {
            self.full_scan(&pids, wanted, full);
        } else {
            self.refresh(&pids, wanted);
            if self.has_unexplained(wanted) {
                self.full_scan(&pids, wanted, full);
            }
        }
        before != (self.listing, self.stamp())
    }

    /// The owners of `wanted` as of the last update.
    pub fn scan(&self, wanted: &HashSet<u64>) -> OwnerScan {
        match self.listing {
            Listing::NoProc => OwnerScan::default(),
            Listing::Exhausted => OwnerScan {
                proc_readable: true,
                exhausted: true,
                ..OwnerScan::default()
            },
            Listing::Listed => self.result(wanted),
        }
    }

    /// The nsfs fds and unknown sockets the last full scan noted (once).
    pub fn take_hints(&mut self) -> Hints {
        std::mem::take(&mut self.hints)
    }

    /// Holdings found through hints, for inodes just added to what is wanted.
    pub fn adopt(&mut self, holdings: impl IntoIterator<Item = (u32, u32, u64)>) {
        for (pid, fd, inode) in holdings {
            let held = self.holdings.entry(pid).or_default();
            if !held.contains(&(fd, inode)) {
                held.push((fd, inode));
            }
        }
    }

    /// A fingerprint of everything the owners are built from: which pid holds which socket
    /// at which fd, who could not be read, whether fds ran out.
    fn stamp(&self) -> u64 {
        use std::hash::BuildHasher;
        let build = rustc_hash::FxBuildHasher;
        let mut sum = 0u64;
        for (pid, held) in &self.holdings {
            for entry in held {
                sum = sum.wrapping_add(build.hash_one((pid, entry)));
            }
        }
        for pid in &self.unreadable {
            sum = sum.wrapping_add(build.hash_one(("unreadable", pid)));
        }
        build.hash_one((sum, self.exhausted, self.unreadable.len()))
    }

    fn needs_full_scan(&self, wanted: &HashSet<u64>) -> bool {
        !self.primed || self.refreshes_since_full >= FULL_SCAN_EVERY || self.has_unexplained(wanted)
    }

    fn held_inodes(&self) -> HashSet<u64> {
        self.holdings
            .values()
            .flatten()
            .map(|&(_, inode)| inode)
            .collect()
    }

    /// A wanted socket with no known holder that the last full scan did not already explain.
    fn has_unexplained(&self, wanted: &HashSet<u64>) -> bool {
        let held = self.held_inodes();
        wanted
            .iter()
            .any(|inode| !held.contains(inode) && !self.orphans.contains(inode))
    }

    fn full_scan(&mut self, pids: &[u32], wanted: &HashSet<u64>, full: &mut dyn FullScan) {
        self.holdings.clear();
        self.unreadable.clear();
        self.fd_counts.clear();
        self.exhausted = false;
        let parts = full.scan(pids, wanted, self.discover);
        let early = parts.iter().any(|p| p.early);
        self.hints = Hints::default();
        for part in &parts {
            self.hints.netns_fds.extend(&part.netns_fds);
            self.hints.unknown_sockets.extend(&part.unknown);
            if let Some(namespaces) = &part.socket_namespaces {
                let all = self.hints.socket_namespaces.get_or_insert_default();
                all.extend(namespaces);
            }
        }
        self.record(parts);
        self.pids = pids.iter().copied().collect();
        let held = self.held_inodes();
        // After an early walk, the next update scans again for what it lacked.
        self.orphans = match early {
            true => HashSet::default(),
            false => wanted.difference(&held).copied().collect(),
        };
        self.refreshes_since_full = 0;
        self.primed = true;
    }

    fn refresh(&mut self, pids: &[u32], wanted: &HashSet<u64>) {
        let current: HashSet<u32> = pids.iter().copied().collect();
        self.holdings.retain(|pid, _| current.contains(pid));
        self.fd_counts.retain(|pid, _| current.contains(pid));
        self.unreadable.retain(|pid| current.contains(pid));
        self.exhausted = false;
        let check_counts = (self.refreshes_since_full + 1).is_multiple_of(COUNTS_CHECK_EVERY);
        self.verify_holdings(wanted, check_counts);
        let new: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|pid| !self.pids.contains(pid))
            .collect();
        self.record(scan_parallel(&new, wanted, false));
        self.pids = current;
        self.orphans.retain(|inode| wanted.contains(inode));
        self.refreshes_since_full += 1;
    }

    /// Keeps a holding only if its fd still points at the same socket; a process whose number
    /// of open fds did not change is taken as it was (one stat instead of a readlinkat per
    /// holding: a process holding 500 listeners costs one syscall per refresh). Without
    /// `check_counts` only holdings of sockets no longer wanted are dropped.
    fn verify_holdings(&mut self, wanted: &HashSet<u64>, check_counts: bool) {
        let mut link = [0u8; 64];
        let exhausted = &mut self.exhausted;
        let fd_counts = &mut self.fd_counts;
        self.holdings.retain(|&pid, held| {
            held.retain(|&(_, inode)| wanted.contains(&inode));
            if held.is_empty() || !check_counts {
                return true;
            }
            let known = fd_counts.get(&pid).copied().unwrap_or(0);
            let now = fd_count(pid);
            if known != 0 && now == Some(known) {
                return true;
            }
            let dir = match open_fd_dir(pid) {
                Ok(dir) => dir,
                // Could not look: keep what we knew, and say the picture may be stale.
                Err(Errno::MFILE | Errno::NFILE | Errno::NOMEM) => {
                    *exhausted = true;
                    return true;
                }
                // A table /proc refuses that the in-kernel map read: keep what it saw until
                // the next full scan (the /proc walk never finds holdings there).
                Err(Errno::ACCESS | Errno::PERM) => return true,
                Err(_) => return false,
            };
            fd_counts.insert(pid, open_count(&dir));
            held.retain(|&(fd, inode)| {
                let name = fd.to_string();
                let len = readlinkat_raw(&dir, name.as_str(), &mut link[..]).unwrap_or(0);
                link.get(..len).and_then(parse_socket_link) == Some(inode)
            });
            true
        });
    }

    fn record(&mut self, parts: Vec<Partial>) {
        for part in parts {
            self.exhausted |= part.exhausted;
            self.unreadable.extend(part.unreadable);
            self.fd_counts.extend(part.fd_counts);
            for (inode, pid, fd) in part.found {
                self.holdings.entry(pid).or_default().push((fd, inode));
            }
        }
    }

    fn result(&self, wanted: &HashSet<u64>) -> OwnerScan {
        let mut owners: HashMap<u64, Vec<u32>> = HashMap::default();
        let mut fds: HashMap<(u64, u32), Vec<u32>> = HashMap::default();
        for (&pid, held) in &self.holdings {
            for &(fd, inode) in held.iter().filter(|(_, inode)| wanted.contains(inode)) {
                owners.entry(inode).or_default().push(pid);
                fds.entry((inode, pid)).or_default().push(fd);
            }
        }
        for pids in owners.values_mut().chain(fds.values_mut()) {
            pids.sort_unstable();
            pids.dedup();
        }
        let mut unreadable: Vec<u32> = self.unreadable.iter().copied().collect();
        unreadable.sort_unstable();
        OwnerScan {
            owners,
            fds,
            unreadable,
            proc_readable: true,
            exhausted: self.exhausted,
        }
    }
}

/// Walks every process's fd table once and records the holders of `wanted` inodes.
#[cfg(test)]
pub fn scan(wanted: &HashSet<u64>) -> OwnerScan {
    OwnerIndex::default().resolve(wanted)
}

/// Does `pid` hold an fd to any of `wanted` right now?
pub fn scan_one(pid: u32, wanted: &HashSet<u64>) -> bool {
    let mut partial = Partial::default();
    let mut dents = Vec::with_capacity(DENTS_BUFFER);
    scan_pid(pid, wanted, false, &mut partial, dents.spare_capacity_mut());
    !partial.found.is_empty()
}

pub enum ListError {
    /// /proc is not mounted (or not readable at all).
    NoProc,
    /// Out of file descriptors or memory while listing it.
    Exhausted,
}

/// Every socket inode `pid` holds (one readlinkat per fd of that process only).
pub fn sockets_of(pid: u32) -> Vec<u64> {
    let Ok(dir_fd) = open_fd_dir(pid) else {
        return Vec::new();
    };
    let mut dents = Vec::with_capacity(DENTS_BUFFER);
    let mut dir = RawDir::new(&dir_fd, dents.spare_capacity_mut());
    let mut link = [0u8; 64];
    let mut inodes = Vec::new();
    while let Some(Ok(entry)) = dir.next() {
        if let Ok(Some(inode)) = socket_inode(&dir_fd, entry.file_name(), &mut link) {
            inodes.push(inode);
        }
    }
    inodes
}

/// Numeric entries of /proc.
pub fn list_pids() -> Result<Vec<u32>, ListError> {
    let classify = |error: std::io::Error| match Errno::from_io_error(&error) {
        Some(Errno::MFILE | Errno::NFILE | Errno::NOMEM) => ListError::Exhausted,
        _ => ListError::NoProc,
    };
    // An unmounted /proc is usually an empty directory: listing it "works" and finds nobody.
    fs::metadata("/proc/self/fd").map_err(classify)?;
    let entries = fs::read_dir("/proc").map_err(classify)?;
    let pids = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect();
    Ok(pids)
}

/// What one scan worker (or the in-kernel walk) found.
#[derive(Debug, Default)]
pub(super) struct Partial {
    /// (inode, pid, fd)
    pub found: Vec<(u64, u32, u32)>,
    /// With `discover`: nsfs fds (pid, fd, namespace inode) and sockets not wanted
    /// (pid, fd, socket inode).
    pub netns_fds: Vec<(u32, u32, u64)>,
    pub unknown: Vec<(u32, u32, u64)>,
    /// With `discover`, from a scan that knows each socket's namespace: see
    /// [`Hints::socket_namespaces`].
    pub socket_namespaces: Option<Vec<(u32, u32, u64)>>,
    pub unreadable: Vec<u32>,
    /// pid → open fds when scanned, for processes that hold a wanted socket.
    pub fd_counts: Vec<(u32, u64)>,
    pub exhausted: bool,
    /// Made before the socket tables were read (the BPF path's first walk): a wanted socket
    /// it lacks may have been bound since, so it is not taken to have no holder.
    pub early: bool,
}

/// Workers take pids from a shared counter, so one process with 20,000 fds does not leave the
/// other cores idle.
pub(super) fn scan_parallel(pids: &[u32], wanted: &HashSet<u64>, discover: bool) -> Vec<Partial> {
    if wanted.is_empty() && !discover {
        return Vec::new();
    }
    let init = || (Partial::default(), Vec::with_capacity(DENTS_BUFFER));
    let work = |(partial, dents): &mut (Partial, Vec<u8>), _: usize, &pid: &u32| {
        scan_pid(pid, wanted, discover, partial, dents.spare_capacity_mut());
    };
    let workers = parallel::workers(pids.len(), 32);
    parallel::fold(pids, workers, Threads::CallerMayWork, init, work)
        .into_iter()
        .map(|(partial, _)| partial)
        .collect()
}

/// The number of open fds of `pid`: the size the kernel gives `/proc/<pid>/fd` (Linux 6.2 and
/// later; 0, meaning unknown, before).
fn fd_count(pid: u32) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(format!("/proc/{pid}/fd"))
        .ok()
        .map(|m| m.size())
}

/// The same, from an open fd directory (counting itself is not a concern: it is ours).
fn open_count(dir: &OwnedFd) -> u64 {
    rustix::fs::fstat(dir).map_or(0, |st| u64::try_from(st.st_size).unwrap_or(0))
}

/// Opens `/proc/<pid>/fd` (through libc's open, so a test shim can make it fail as a full fd
/// table would).
fn open_fd_dir(pid: u32) -> Result<OwnedFd, Errno> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_o_directory())
        .open(format!("/proc/{pid}/fd"))
        .map(OwnedFd::from)
        .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))
}

fn libc_o_directory() -> i32 {
    OFlags::DIRECTORY.bits() as i32
}

/// One getdents64 call lists about 1,000 fds with a buffer this size.
const DENTS_BUFFER: usize = 32 * 1024;

fn scan_pid(
    pid: u32,
    wanted: &HashSet<u64>,
    discover: bool,
    partial: &mut Partial,
    dents: &mut [MaybeUninit<u8>],
) {
    let dir_fd = match open_fd_dir(pid) {
        Ok(fd) => fd,
        // The process exited mid-scan, or is a zombie: it holds nothing.
        Err(Errno::NOENT | Errno::SRCH) => return,
        // Out of file descriptors or memory: this process was not looked at, which is not the
        // same as "holds nothing".
        Err(Errno::MFILE | Errno::NFILE | Errno::NOMEM) => {
            partial.exhausted = true;
            partial.unreadable.push(pid);
            return;
        }
        // Refused (EACCES, EPERM) or any other failure: its sockets are hidden from us.
        Err(_) => {
            partial.unreadable.push(pid);
            return;
        }
    };
    // Counted before the links are read: a change while reading shows at the next refresh.
    let count = open_count(&dir_fd);
    let found_before = partial.found.len();
    // RawDir borrows the fd, so the same open directory serves getdents and readlinkat.
    let mut dir = RawDir::new(&dir_fd, dents);
    let mut link = [0u8; 64];
    while let Some(Ok(entry)) = dir.next() {
        if discover {
            let noted =
                note_for_discovery(&dir_fd, entry.file_name(), pid, wanted, partial, &mut link);
            if let Err(Errno::ACCESS | Errno::PERM) = noted {
                partial.unreadable.push(pid);
                return;
            }
            continue;
        }
        match socket_inode(&dir_fd, entry.file_name(), &mut link) {
            Ok(Some(inode)) if wanted.contains(&inode) => {
                partial
                    .found
                    .push((inode, pid, fd_number(entry.file_name())));
            }

            // Listing worked but reading the links is refused (an LSM, or a process that
            // turned non-dumpable): its sockets are hidden from us, not absent.
            Err(Errno::ACCESS | Errno::PERM) => {
                partial.unreadable.push(pid);
                return;
            }
            _ => {}
        }
    }
    if partial.found.len() > found_before {
        partial.fd_counts.push((pid, count));
    }
}

/// One fd of a discovery scan: a wanted socket is found as usual; another socket, or an nsfs
/// fd (`net:[N]`), is noted for the namespace collector.
fn note_for_discovery(
    dir: &OwnedFd,
    name: &CStr,
    pid: u32,
    wanted: &HashSet<u64>,
    partial: &mut Partial,
    link: &mut [u8; 64],
) -> Result<(), Errno> {
    if name.to_bytes().first() == Some(&b'.') {
        return Ok(());
    }
    let len = readlinkat_raw(dir, name, &mut link[..])?;
    let target = link.get(..len).unwrap_or_default();
    let fd = fd_number(name);
    if let Some(inode) = parse_socket_link(target) {
        match wanted.contains(&inode) {
            true => partial.found.push((inode, pid, fd)),
            false => partial.unknown.push((pid, fd, inode)),
        }
    } else if let Some(ns) = parse_netns_link(target) {
        partial.netns_fds.push((pid, fd, ns));
    } else if target == b"/" {
        // An nsfs fd opened through a bind mount that is gone since (`ip netns del`) reads
        // as "/": only its device tells it from the root directory.
        if let (Ok(stat), Some(nsfs)) = (
            rustix::fs::statat(dir, name, rustix::fs::AtFlags::empty()),
            nsfs_device(),
        ) && stat.st_dev == nsfs
        {
            partial.netns_fds.push((pid, fd, stat.st_ino));
        }
    }
    Ok(())
}

/// The device number of nsfs, where every namespace file lives.
fn nsfs_device() -> Option<u64> {
    static DEVICE: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *DEVICE.get_or_init(|| rustix::fs::stat("/proc/self/ns/net").ok().map(|s| s.st_dev))
}

/// The inode of a `net:[4026532178]` link (an nsfs fd of a network namespace).
pub fn parse_netns_link(target: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(b"net:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The inode of a `socket:[12345]` link, None for every other kind of fd.
fn socket_inode(dir: &OwnedFd, name: &CStr, link: &mut [u8; 64]) -> Result<Option<u64>, Errno> {
    if name.to_bytes().first() == Some(&b'.') {
        return Ok(None);
    }
    let len = readlinkat_raw(dir, name, &mut link[..])?;
    Ok(link.get(..len).and_then(parse_socket_link))
}

fn fd_number(name: &CStr) -> u32 {
    name.to_str()
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX)
}

pub fn parse_socket_link(target: &[u8]) -> Option<u64> {
    let digits = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn parses_only_socket_links() {
        assert_eq!(parse_socket_link(b"socket:[12345]"), Some(12345));
        assert_eq!(parse_socket_link(b"pipe:[12345]"), None);
        assert_eq!(parse_socket_link(b"/tmp/socket:[1]"), None);
        assert_eq!(parse_socket_link(b"socket:[]"), None);
        assert_eq!(parse_socket_link(b"socket:[12a]"), None);
        assert_eq!(parse_netns_link(b"net:[4026532178]"), Some(4_026_532_178));
        assert_eq!(parse_netns_link(b"mnt:[4026532178]"), None);
    }

    #[test]
    fn finds_this_process_as_holder_of_its_own_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let fd_path = format!("/proc/self/fd/{}", {
            use std::os::fd::AsRawFd;
            listener.as_raw_fd()
        });
        let inode = fs::metadata(fd_path).expect("stat fd").ino();
        let scan = scan(&HashSet::from_iter([inode]));
        assert!(scan.proc_readable);
        assert_eq!(scan.owners.get(&inode), Some(&vec![std::process::id()]));
    }

    /// The BPF path's first walk runs before the tables are read: a socket bound in between
    /// is in the table but not in the walk. It must not be taken for a socket without a
    /// holder, which the live view would believe until the next periodic full scan (30 s).
    #[test]
    fn a_socket_newer_than_the_early_walk_is_looked_for_again() {
        struct EarlyThenProc {
            scans: u32,
        }
        impl FullScan for EarlyThenProc {
            fn scan(
                &mut self,
                pids: &[u32],
                wanted: &HashSet<u64>,
                discover: bool,
            ) -> Vec<Partial> {
                self.scans += 1;
                match self.scans {
                    // The walk made before the listener below existed.
                    1 => vec![Partial {
                        early: true,
                        ..Partial::default()
                    }],
                    _ => scan_parallel(pids, wanted, discover),
                }
            }
            fn used(&mut self) -> OwnerMap {
                OwnerMap::default()
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let fd_path = format!("/proc/self/fd/{}", {
            use std::os::fd::AsRawFd;
            listener.as_raw_fd()
        });
        let inode = fs::metadata(fd_path).expect("stat fd").ino();
        let wanted = HashSet::from_iter([inode]);
        let mut full = EarlyThenProc { scans: 0 };
        let mut index = OwnerIndex::default();
        index.update_with(&wanted, &mut full);
        assert!(!index.scan(&wanted).owners.contains_key(&inode));
        index.update_with(&wanted, &mut full);
        assert_eq!(full.scans, 2, "the next refresh scans again");
        assert_eq!(
            index.scan(&wanted).owners.get(&inode),
            Some(&vec![std::process::id()])
        );
    }
}
