//! Linux: pidfds (pidfd_open, pidfd_send_signal) and /proc identity checks.

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, getppid, pidfd_open, pidfd_send_signal};

use super::{Refusal, Sent, StopSignal};
use crate::collect::procstat;

pub fn parent_pid() -> Option<u32> {
    getppid().map(|pid| pid.as_raw_nonzero().get().unsigned_abs())
}

pub fn refuse_process(pid: u32) -> Option<Refusal> {
    match procstat::identity(pid) {
        Some(identity) if identity.kernel_thread => Some(Refusal::KernelThread),
        Some(_) => None,
        None => Some(Refusal::Gone),
    }
}

pub fn holds_socket(pid: u32, inode: u64) -> bool {
    procstat::holds_socket(pid, inode)
}

/// A pidfd plus the start time of the process it was opened for.
#[derive(Debug)]
pub struct Handle {
    pid: u32,
    pidfd: OwnedFd,
    start_ticks: u64,
}

impl Handle {
    /// Opens a pidfd for `pid`, if it is still the process the snapshot described
    /// (`expected_ticks`, its start time; 0 when the snapshot did not know it).
    pub fn open(pid: u32, expected_ticks: u64) -> Result<Self, Refusal> {
        let raw = i32::try_from(pid).map_err(|_| Refusal::NotAPid)?;
        let start_ticks = procstat::identity(pid).ok_or(Refusal::Gone)?.start_ticks;
        if expected_ticks != 0 && start_ticks != expected_ticks {
            return Err(Refusal::Gone);
        }
        let pid_value = Pid::from_raw(raw).ok_or(Refusal::NotAPid)?;
        let pidfd = pidfd_open(pid_value, PidfdFlags::empty()).map_err(|_| Refusal::Gone)?;
        // The pid may have been reused between the stat read and pidfd_open: check again.
        let still = procstat::identity(pid).is_some_and(|i| i.start_ticks == start_ticks);
        match still {
            true => Ok(Handle {
                pid,
                pidfd,
                start_ticks,
            }),
            false => Err(Refusal::Gone),
        }
    }

    pub fn is_same_process(&self) -> bool {
        procstat::identity(self.pid).is_some_and(|i| i.start_ticks == self.start_ticks)
            && self.is_alive()
    }

    /// A pidfd becomes readable when its process exits.
    pub fn is_alive(&self) -> bool {
        let mut fds = [PollFd::new(&self.pidfd, PollFlags::IN)];
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        matches!(poll(&mut fds, Some(&zero)), Ok(0))
    }

    pub fn send(&self, signal: StopSignal) -> Sent {
        let Some(signal) = Signal::from_named_raw(signal.number()) else {
            return Sent::Failed("unknown signal".into());
        };
        match pidfd_send_signal(&self.pidfd, signal) {
            Ok(()) => Sent::Signalled,
            Err(Errno::PERM | Errno::ACCESS) => Sent::PermissionDenied,
            Err(Errno::SRCH) => Sent::Skipped(Refusal::Gone),
            Err(e) => Sent::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel thread, found by its flags rather than assumed to be pid 2 (in a container
    /// there is none to see).
    fn some_kernel_thread() -> Option<u32> {
        std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|&pid| procstat::identity(pid).is_some_and(|i| i.kernel_thread))
    }

    #[test]
    fn kernel_threads_are_refused() {
        let Some(pid) = some_kernel_thread() else {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v != "true"),
                "no kernel thread visible in CI"
            );
            eprintln!("skipped: kernel_threads_are_refused: no kernel thread is visible here");
            return;
        };
        assert_eq!(refuse_process(pid), Some(Refusal::KernelThread));
        assert_eq!(refuse_process(std::process::id()), None);
    }

    #[test]
    fn a_handle_for_another_start_time_is_refused() {
        let me = std::process::id();
        let ticks = procstat::identity(me).map(|i| i.start_ticks).unwrap_or(0);
        assert!(Handle::open(me, ticks).is_ok());
        assert_eq!(Handle::open(me, ticks + 1).err(), Some(Refusal::Gone));
    }
}
