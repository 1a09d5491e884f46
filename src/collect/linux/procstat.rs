//! Identity facts about one process, read fresh, for stopping it safely.

use rustc_hash::FxHashSet;

use super::owners::scan_one;
use super::procfs;

/// What makes a process *this* process: its start time in clock ticks since boot (a reused pid
/// gets a new one), and whether it is a kernel thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub start_ticks: u64,
    pub kernel_thread: bool,
}

/// Read as bytes: a process name that is not UTF-8 must not make a process unstoppable.
pub fn identity(pid: u32) -> Option<Identity> {
    let stat = procfs::stat(pid).ok()?;
    Some(Identity {
        start_ticks: stat.start_ticks,
        kernel_thread: stat.kernel_thread,
    })
}

/// Does `pid` hold an fd to socket `inode` right now?
pub fn holds_socket(pid: u32, inode: u64) -> bool {
    scan_one(pid, &FxHashSet::from_iter([inode]))
}

/// Every socket inode `pid` holds right now (for "the signal also frees …").
pub fn socket_inodes(pid: u32) -> Vec<u64> {
    super::owners::sockets_of(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_identified() {
        let me = identity(std::process::id()).expect("own stat");
        assert!(!me.kernel_thread && me.start_ticks > 0);
    }
}
