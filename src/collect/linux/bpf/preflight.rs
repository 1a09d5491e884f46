//! What can be known before asking the kernel to load anything: capabilities, the pid
//! namespace, BTF. Each refusal names what is missing; the kernel has the last word anyway.
#![cfg_attr(not(portscope_bpf), allow(dead_code))]

use std::fs;
use std::path::Path;

use super::Unavailable;

pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Everything that must hold before loading is worth trying.
pub fn check() -> Result<(), Unavailable> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    check_status(&status)?;
    // NSpid counts the namespaces between /proc's and ours: with /proc mounted anew inside a
    // child pid namespace it says 1. The namespace itself says where we are.
    let own = fs::read_link("/proc/self/ns/pid").ok();
    if own.is_some_and(|ns| ns.as_os_str() != INIT_PID_NS) {
        return Err(child_pid_namespace());
    }
    if !Path::new(KERNEL_BTF).exists() {
        return Err(Unavailable::NoBtf);
    }
    Ok(())
}

/// The initial pid namespace (PROC_PID_INIT_INO), as `/proc/self/ns/pid` names it.
const INIT_PID_NS: &str = "pid:[4026531836]";

/// The iterator reports pids as the initial pid namespace numbers them; /proc here numbers
/// them differently, so its answers would name the wrong processes.
fn child_pid_namespace() -> Unavailable {
    Unavailable::Unsupported(
        "portscope runs in a child pid namespace; the kernel reports host pids".into(),
    )
}

/// The checks that read `/proc/self/status`; an unreadable status lets the kernel decide.
fn check_status(status: &str) -> Result<(), Unavailable> {
    if let Some(caps) = effective_caps(status)
        && !may_load_tracing(caps)
    {
        return Err(Unavailable::NotPermitted(
            "needs root, or CAP_BPF and CAP_PERFMON".into(),
        ));
    }
    if pid_namespace_depth(status) > 1 {
        return Err(child_pid_namespace());
    }
    Ok(())
}

/// The `CapEff:` mask of a `/proc/PID/status` text.
fn effective_caps(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// A tracing program that reads kernel memory needs bpf_capable() and perfmon_capable(); both
/// accept CAP_SYS_ADMIN too.
fn may_load_tracing(caps: u64) -> bool {
    let has = |cap: u32| caps & (1u64 << cap) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

/// How many pid namespaces deep this process is (the fields of `NSpid:`); 1 when unknown.
fn pid_namespace_depth(status: &str) -> usize {
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map_or(1, |ids| ids.split_whitespace().count().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "Name:\tportscope\nNSpid:\t4321\nCapEff:\t000001ffffffffff\n";

    #[test]
    fn root_passes() {
        assert_eq!(check_status(ROOT), Ok(()));
    }

    #[test]
    fn capabilities_decide_permission() {
        let bpf_and_perfmon = (1u64 << CAP_BPF) | (1u64 << CAP_PERFMON);
        assert!(may_load_tracing(bpf_and_perfmon));
        assert!(may_load_tracing(1 << CAP_SYS_ADMIN));
        assert!(!may_load_tracing(1 << CAP_BPF));
        assert!(!may_load_tracing(1 << CAP_PERFMON));
        assert!(!may_load_tracing(0));
    }

    #[test]
    fn a_plain_user_is_told_what_is_needed() {
        let user = "NSpid:\t4321\nCapEff:\t0000000000000000\n";
        let Err(Unavailable::NotPermitted(why)) = check_status(user) else {
            panic!("a user without capabilities must be refused");
        };
        assert!(why.contains("CAP_BPF"), "{why}");
    }

    #[test]
    fn a_child_pid_namespace_is_unsupported() {
        let container = "NSpid:\t98765\t12\nCapEff:\t000001ffffffffff\n";
        assert!(matches!(
            check_status(container),
            Err(Unavailable::Unsupported(_))
        ));
    }

    #[test]
    fn an_unreadable_status_lets_the_kernel_decide() {
        assert_eq!(check_status(""), Ok(()));
        assert_eq!(effective_caps("CapEff:\tnot-hex\n"), None);
    }
}
