//! When a socket has no holder in our scan, is that because nobody holds it, or because we could
//! not see? Decided from evidence: what the scan could not open, who we are, how /proc is
//! mounted and which PID namespace we are in.

use std::fs;

use super::owners::OwnerScan;
use crate::model::HiddenReason;

/// The inode of the initial PID namespace (PROC_PID_INIT_INO in the kernel).
const INIT_PID_NS: &str = "pid:[4026531836]";
/// Bit of CAP_SYS_PTRACE in the capability masks of /proc/self/status.
const CAP_SYS_PTRACE: u32 = 19;

/// The reason to give for sockets without a visible holder, or None when we saw everything.
pub fn hidden_reason(scan: &OwnerScan) -> Option<HiddenReason> {
    if !scan.proc_readable {
        return Some(HiddenReason::NoProc);
    }
    if in_child_pid_namespace() {
        return Some(HiddenReason::OtherPidNamespace);
    }
    let root = rustix::process::geteuid().is_root();
    let full_sight = root && has_cap_sys_ptrace();
    if !full_sight && proc_hidepid() {
        return Some(HiddenReason::HidePid);
    }
    if scan.unreadable.is_empty() {
        return None;
    }
    Some(if !root {
        HiddenReason::NotRoot
    } else if !full_sight {
        HiddenReason::NoPtraceCap
    } else {
        HiddenReason::Unreadable
    })
}

fn in_child_pid_namespace() -> bool {
    fs::read_link("/proc/self/ns/pid")
        .map(|target| target.as_os_str() != INIT_PID_NS)
        .unwrap_or(false)
}

fn has_cap_sys_ptrace() -> bool {
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_PTRACE) != 0)
}

/// True when the /proc we read is mounted with hidepid=1/2/invisible/noaccess.
fn proc_hidepid() -> bool {
    let Ok(mounts) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    mounts
        .lines()
        .filter(|line| line.split(' ').nth(4) == Some("/proc"))
        .any(|line| line.split([' ', ',']).any(is_hiding_option))
}

fn is_hiding_option(option: &str) -> bool {
    option
        .strip_prefix("hidepid=")
        .is_some_and(|value| !matches!(value, "0" | "off"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidepid_values() {
        assert!(is_hiding_option("hidepid=2"));
        assert!(is_hiding_option("hidepid=invisible"));
        assert!(is_hiding_option("hidepid=noaccess"));
        assert!(!is_hiding_option("hidepid=0"));
        assert!(!is_hiding_option("hidepid=off"));
        assert!(!is_hiding_option("rw"));
    }

    #[test]
    fn unreadable_proc_is_reported_as_such() {
        let scan = OwnerScan::default();
        assert_eq!(hidden_reason(&scan), Some(HiddenReason::NoProc));
    }
}
