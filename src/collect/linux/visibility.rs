//! When a socket has no holder in our scan, is that because nobody holds it, or because we could
//! not see? Decided from evidence: what the scan could not open, who we are (and in which user
//! namespace), how /proc is mounted and which PID namespace we are in.

use std::collections::BTreeSet;
use std::fs;

use super::owners::OwnerScan;
use super::procfs;
use crate::model::HiddenReason;

/// The inode of the initial PID namespace (PROC_PID_INIT_INO in the kernel).
const INIT_PID_NS: &str = "pid:[4026531836]";
/// Bit of CAP_SYS_PTRACE in the capability masks of /proc/self/status.
const CAP_SYS_PTRACE: u32 = 19;

/// What the scan could not see, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blindness {
    /// The reason to give for sockets without a visible holder; None when we saw everything.
    pub reason: Option<HiddenReason>,
    /// The effective uids of the processes we could not read; None when they cannot be known
    /// (hidepid, another PID namespace, no /proc).
    pub hidden_uids: Option<BTreeSet<u32>>,
}

pub fn blindness(scan: &OwnerScan) -> Blindness {
    let reason = hidden_reason(scan);
    let enumerable = matches!(
        reason,
        Some(
            HiddenReason::NotRoot
                | HiddenReason::NonDumpable
                | HiddenReason::NoPtraceCap
                | HiddenReason::Unreadable
        )
    );
    let hidden_uids = match reason {
        None => Some(BTreeSet::new()),
        // A process that exited since cannot hide anything any more: skip it.
        Some(_) if enumerable => Some(
            scan.unreadable
                .iter()
                .filter_map(|&pid| procfs::euid(pid))
                .collect::<BTreeSet<u32>>(),
        ),
        Some(_) => None,
    };
    Blindness {
        reason,
        hidden_uids,
    }
}

fn hidden_reason(scan: &OwnerScan) -> Option<HiddenReason> {
    if !scan.proc_readable {
        return Some(HiddenReason::NoProc);
    }
    if scan.exhausted {
        return Some(HiddenReason::OutOfFds);
    }
    if in_child_pid_namespace() {
        return Some(HiddenReason::OtherPidNamespace);
    }
    let euid = rustix::process::geteuid();
    let root = euid.is_root() && in_initial_user_namespace();
    let full_sight = root && has_cap_sys_ptrace();
    if !full_sight && proc_hidepid() {
        return Some(HiddenReason::HidePid);
    }
    if scan.unreadable.is_empty() {
        return None;
    }
    Some(if euid.is_root() && !root {
        HiddenReason::UserNamespace
    } else if !root {
        let me = euid.as_raw();
        let all_mine = scan
            .unreadable
            .iter()
            .all(|&pid| procfs::euid(pid) == Some(me));
        match all_mine {
            true => HiddenReason::NonDumpable,
            false => HiddenReason::NotRoot,
        }
    } else if !full_sight {
        HiddenReason::NoPtraceCap
    } else {
        HiddenReason::Unreadable
    })
}

/// Are other users' processes hidden from us in /proc (hidepid, and not root with
/// CAP_SYS_PTRACE)? Then a holder found another way could not be named.
pub fn hides_processes() -> bool {
    let full_sight =
        rustix::process::geteuid().is_root() && in_initial_user_namespace() && has_cap_sys_ptrace();
    !full_sight && proc_hidepid()
}

fn in_child_pid_namespace() -> bool {
    fs::read_link("/proc/self/ns/pid")
        .map(|target| target.as_os_str() != INIT_PID_NS)
        .unwrap_or(false)
}

/// Root counts as root everywhere only in the initial user namespace, whose uid map is the
/// identity over all 2^32 - 1 ids.
fn in_initial_user_namespace() -> bool {
    fs::read("/proc/self/uid_map").is_ok_and(|map| is_identity_map(&map))
}

fn is_identity_map(map: &[u8]) -> bool {
    let text = String::from_utf8_lossy(map);
    let fields: Vec<&str> = text.split_ascii_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

fn has_cap_sys_ptrace() -> bool {
    let Ok(status) = procfs::read_capped("/proc/self/status", 8192) else {
        return false;
    };
    procfs::status_field(&status, b"CapEff:")
        .and_then(|hex| std::str::from_utf8(hex).ok())
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0)
}

/// True when the /proc we read is mounted with hidepid=1/2/invisible/noaccess. mountinfo is
/// read as bytes: a mount point anywhere may hold any byte.
fn proc_hidepid() -> bool {
    let Ok(mounts) = fs::read("/proc/self/mountinfo") else {
        return false;
    };
    mounts_hide_pids(&mounts)
}

fn mounts_hide_pids(mountinfo: &[u8]) -> bool {
    mountinfo
        .split(|&b| b == b'\n')
        .filter(|line| line.split(|&b| b == b' ').nth(4) == Some(b"/proc"))
        .any(|line| {
            line.split(|&b| b == b' ' || b == b',')
                .any(is_hiding_option)
        })
}

fn is_hiding_option(option: &[u8]) -> bool {
    option
        .strip_prefix(b"hidepid=")
        .is_some_and(|value| !matches!(value, b"0" | b"off"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidepid_values() {
        assert!(is_hiding_option(b"hidepid=2"));
        assert!(is_hiding_option(b"hidepid=invisible"));
        assert!(is_hiding_option(b"hidepid=noaccess"));
        assert!(!is_hiding_option(b"hidepid=0"));
        assert!(!is_hiding_option(b"hidepid=off"));
        assert!(!is_hiding_option(b"rw"));
    }

    #[test]
    fn hidepid_is_found_past_a_mount_point_that_is_not_utf8() {
        let mountinfo = b"30 1 0:5 / /mnt/\xff\xfe rw - tmpfs tmpfs rw\n\
            22 1 0:21 / /proc rw,nosuid - proc proc rw,hidepid=invisible\n";
        assert!(mounts_hide_pids(mountinfo));
        let plain = b"22 1 0:21 / /proc rw,nosuid - proc proc rw\n";
        assert!(!mounts_hide_pids(plain));
    }

    #[test]
    fn only_the_full_identity_map_is_the_initial_user_namespace() {
        assert!(is_identity_map(b"         0          0 4294967295\n"));
        assert!(!is_identity_map(b"         0       1000          1\n"));
        assert!(!is_identity_map(b""));
    }

    #[test]
    fn unreadable_proc_is_reported_as_such() {
        let scan = OwnerScan::default();
        assert_eq!(hidden_reason(&scan), Some(HiddenReason::NoProc));
        assert_eq!(blindness(&scan).hidden_uids, None);
    }
}
