//! The in-kernel owner map: a BPF `task_file` iterator (`bpf/task_sockets.bpf.c`) lists every
//! (process, fd) that holds a socket, so nothing has to readlink every open fd on the host.
//!
//! [`BpfOwnerMap`] keeps the loaded program between calls; each call attaches a fresh link,
//! creates an iterator from it and reads it to the end. Nothing is pinned: program, maps, link
//! and iterator are file descriptors of this process, so the kernel frees them when it exits,
//! however it exits. Where the build or the kernel does not allow it, every entry point returns
//! [`Unavailable`] with a one-line reason, and the caller keeps the `/proc` scan.

mod btf;
mod kernel_types;
#[cfg(portscope_bpf)]
mod loader;
#[cfg(not(portscope_bpf))]
#[path = "not_built.rs"]
mod loader;
mod preflight;
mod rows;
#[cfg(portscope_bpf)]
mod sys;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// One open fd that is a socket, as the kernel saw it during the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketFd {
    /// The process (thread group) id, as the initial pid namespace numbers it.
    pub pid: u32,
    pub fd: u32,
    /// The socket's inode: `socket:[N]` in `/proc/PID/fd`, `idiag_inode` in sock_diag.
    pub inode: u64,
    /// The inode of the socket's network namespace (`stat -L -c %i /proc/PID/ns/net`), 0 when
    /// it could not be read or was not asked for ([`LoadOptions::netns`]).
    pub netns: u64,
}

/// An open fd on a namespace file (nsfs: `/proc/PID/ns/*`, a bind mount under `/run/netns`),
/// of any type of namespace; [`BpfOwnerMap::walk`] reports them when asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamespaceFd {
    pub pid: u32,
    pub fd: u32,
    /// The namespace's inode (`readlink` shows `net:[N]`, `mnt:[N]`, …).
    pub inode: u64,
}

/// What one walk found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Walk {
    pub sockets: Vec<SocketFd>,
    /// Empty unless asked for.
    pub namespace_fds: Vec<NamespaceFd>,
}

/// Why the BPF path was not used, one line each, for `--verbose` and the JSON `collector`
/// field. Never fatal: the `/proc` scan gives the same answers, only slower.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// This binary was built without clang, so it carries no BPF program.
    #[error("bpf: not built in")]
    NotBuiltIn,
    #[error("bpf: no kernel BTF (/sys/kernel/btf/vmlinux is missing)")]
    NoBtf,
    /// Missing capabilities, or `bpf()` refused (lockdown, seccomp).
    #[error("bpf: not permitted: {0}")]
    NotPermitted(String),
    /// The kernel or the environment cannot give a correct answer this way.
    #[error("bpf: unsupported here: {0}")]
    Unsupported(String),
    /// The object, a relocation or the verifier refused the program.
    #[error("bpf: cannot load the owner map: {0}")]
    Load(String),
    /// Loaded, but attaching, filling the filter or reading the iterator failed.
    #[error("bpf: the owner map failed: {0}")]
    Failed(String),
}

/// When the namespace is read ([`LoadOptions::netns`]), sets of wanted inodes up to this size
/// are filtered in the kernel, which then reads it for the wanted sockets only. Larger sets, and
/// every set when it is not read, are filtered here as the rows arrive (same answer): without
/// the namespace, a kernel filter saves a 24-byte write per unwanted socket but costs a hash
/// lookup per socket and a map update per wanted inode, and measured slower.
pub const WANTED_IN_KERNEL_MAX: usize = 65_536;

/// True when this binary carries the BPF program (clang was found at build time).
pub fn built_in() -> bool {
    cfg!(portscope_bpf)
}

/// What a load fixes for every walk of that map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Fill in [`SocketFd::netns`] (on by default). Off, every row says 0 and walks cost less:
    /// the namespace is three dependent reads per socket, about a third of a walk of every
    /// socket (a filtered walk reads it for the wanted sockets only, and gains less).
    pub netns: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { netns: true }
    }
}

/// The loaded iterator program, reusable across calls: the live view refreshes every second,
/// and loading (reading the kernel's BTF, CO-RE relocation, the verifier) costs about as much
/// as a filtered walk; a call repeats none of it.
pub struct BpfOwnerMap {
    loaded: loader::Loaded,
}

impl BpfOwnerMap {
    /// Checks permissions and the kernel, then loads and verifies the program, with the
    /// default [`LoadOptions`].
    pub fn load() -> Result<Self, Unavailable> {
        Self::load_with(LoadOptions::default())
    }

    /// [`BpfOwnerMap::load`] with the given options.
    pub fn load_with(options: LoadOptions) -> Result<Self, Unavailable> {
        Ok(BpfOwnerMap {
            loaded: loader::Loaded::load(options)?,
        })
    }

    /// Every socket fd of every process, or only those whose inode is in `wanted`, in no
    /// particular order (a walk split by process joins the threads' shares). A process's fd table is walked once; a
    /// thread that unshared its fd table (`unshare(CLONE_FILES)`) adds its own rows under its
    /// process id, which `/proc/PID/fd` (the leader's table) does not show.
    pub fn socket_fds(
        &mut self,
        wanted: Option<&HashSet<u64>>,
    ) -> Result<Vec<SocketFd>, Unavailable> {
        self.walk(wanted, false).map(|walk| walk.sockets)
    }

    /// [`BpfOwnerMap::socket_fds`], and with `namespace_fds` every fd on a namespace file too
    /// (what the namespace collector follows to namespaces nothing else keeps).
    pub fn walk(
        &mut self,
        wanted: Option<&HashSet<u64>>,
        namespace_fds: bool,
    ) -> Result<Walk, Unavailable> {
        self.loaded.walk(wanted, namespace_fds, None)
    }

    /// [`BpfOwnerMap::walk`] of the processes `pids` (the caller's listing of /proc, which
    /// the walk, split by process, would otherwise list again).
    pub fn walk_of(
        &mut self,
        pids: &[u32],
        wanted: Option<&HashSet<u64>>,
        namespace_fds: bool,
    ) -> Result<Walk, Unavailable> {
        self.loaded.walk(wanted, namespace_fds, Some(pids))
    }
}

/// One-shot [`BpfOwnerMap::socket_fds`]: loads, walks once, and closes everything.
pub fn socket_fds(wanted: Option<&HashSet<u64>>) -> Result<Vec<SocketFd>, Unavailable> {
    socket_fds_with(wanted, LoadOptions::default())
}

/// [`socket_fds`] with the given options (`netns: false` when the caller does not need it).
pub fn socket_fds_with(
    wanted: Option<&HashSet<u64>>,
    options: LoadOptions,
) -> Result<Vec<SocketFd>, Unavailable> {
    BpfOwnerMap::load_with(options)?.socket_fds(wanted)
}

/// inode → every pid holding it, sorted and unique: the shape of the `/proc` scan's answer.
pub fn owners_by_inode(found: &[SocketFd]) -> HashMap<u64, Vec<u32>> {
    let mut owners: HashMap<u64, Vec<u32>> = HashMap::default();
    for socket in found {
        owners.entry(socket.inode).or_default().push(socket.pid);
    }
    for pids in owners.values_mut() {
        pids.sort_unstable();
        pids.dedup();
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd(pid: u32, fd: u32, inode: u64) -> SocketFd {
        SocketFd {
            pid,
            fd,
            inode,
            netns: 1,
        }
    }

    #[test]
    fn owners_are_grouped_by_inode_sorted_and_unique() {
        // A socket shared by a parent and a child, held twice by the parent (dup).
        let found = [fd(20, 3, 7), fd(10, 4, 7), fd(10, 5, 7), fd(10, 6, 8)];
        let owners = owners_by_inode(&found);
        assert_eq!(owners.len(), 2);
        assert_eq!(owners[&7], vec![10, 20]);
        assert_eq!(owners[&8], vec![10]);
    }

    #[test]
    fn each_reason_is_one_line_starting_with_bpf() {
        let reasons = [
            Unavailable::NotBuiltIn,
            Unavailable::NoBtf,
            Unavailable::NotPermitted("x".into()),
            Unavailable::Unsupported("x".into()),
            Unavailable::Load("x".into()),
            Unavailable::Failed("x".into()),
        ];
        for reason in reasons {
            let text = reason.to_string();
            assert!(text.starts_with("bpf: "), "{text}");
            assert!(!text.contains('\n'), "{text}");
        }
        assert_eq!(Unavailable::NotBuiltIn.to_string(), "bpf: not built in");
    }

    #[test]
    fn built_in_matches_what_loading_says() {
        if !built_in() {
            assert_eq!(BpfOwnerMap::load().err(), Some(Unavailable::NotBuiltIn));
        }
    }
}
