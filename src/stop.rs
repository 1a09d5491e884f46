//! Stopping the holders of a port, safely.
//!
//! Every holder is opened as a pidfd *before* anyone is asked to confirm, and re-verified just
//! before the signal (same start time, still holds the socket, still alive). The signal goes
//! through the pidfd, so it can only reach the process that was shown, never a process that
//! reused its pid. Pids that must never be signalled are refused up front.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::model::{Owner, Proto, SafeText, Snapshot, Socket};

/// The signals `--signal` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    Term,
    Int,
    Hup,
    Kill,
    Quit,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Term => "SIGTERM",
            StopSignal::Int => "SIGINT",
            StopSignal::Hup => "SIGHUP",
            StopSignal::Kill => "SIGKILL",
            StopSignal::Quit => "SIGQUIT",
        }
    }

    pub fn number(self) -> i32 {
        match self {
            StopSignal::Hup => 1,
            StopSignal::Int => 2,
            StopSignal::Quit => 3,
            StopSignal::Kill => 9,
            StopSignal::Term => 15,
        }
    }
}

impl FromStr for StopSignal {
    type Err = String;

    /// `TERM`, `SIGTERM`, `term` or `15`; likewise INT (2), HUP (1), KILL (9), QUIT (3).
    fn from_str(text: &str) -> Result<Self, String> {
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        match name {
            "TERM" | "15" => Ok(StopSignal::Term),
            "INT" | "2" => Ok(StopSignal::Int),
            "HUP" | "1" => Ok(StopSignal::Hup),
            "KILL" | "9" => Ok(StopSignal::Kill),
            "QUIT" | "3" => Ok(StopSignal::Quit),
            _ => Err("use TERM, INT, HUP, KILL or QUIT (or 15, 2, 1, 9, 3)".to_string()),
        }
    }
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a pid is never signalled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    InitOrKernel,
    NotAPid,
    Myself,
    MyParent,
    KernelThread,
    /// The process exited, or its pid now belongs to another process.
    Gone,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::InitOrKernel => "pid 0 and pid 1 are never signalled",
            Refusal::NotAPid => "not a valid process id (must fit a positive pid_t)",
            Refusal::Myself => "that is portscope itself",
            Refusal::MyParent => "that is portscope's parent (your shell or sudo)",
            Refusal::KernelThread => "that is a kernel thread",
            Refusal::Gone => "it has exited (or its pid was reused)",
        })
    }
}

/// The checks that need nothing but the number.
pub fn refuse_pid(pid: u32, own: u32, parent: Option<u32>) -> Option<Refusal> {
    if pid == 0 || pid == 1 {
        return Some(Refusal::InitOrKernel);
    }
    if i32::try_from(pid).is_err() {
        return Some(Refusal::NotAPid);
    }
    if pid == own {
        return Some(Refusal::Myself);
    }
    if Some(pid) == parent {
        return Some(Refusal::MyParent);
    }
    None
}

/// A socket a target holds, as shown to the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldSocket {
    pub proto: Proto,
    pub endpoint: String,
    pub port: u16,
    pub inode: u64,
}

impl fmt::Display for HeldSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.proto.as_str(), self.endpoint)
    }
}

/// One process that will be signalled, with everything the user is shown about it.
#[derive(Debug)]
pub struct Target {
    pub pid: u32,
    pub name: SafeText,
    pub user: Option<SafeText>,
    pub exe: Option<SafeText>,
    pub command: String,
    pub start_time: Option<u64>,
    pub sockets: Vec<HeldSocket>,
    handle: os::Handle,
}

/// What will be done, before confirmation.
#[derive(Debug, Default)]
pub struct Plan {
    pub targets: Vec<Target>,
    pub refused: Vec<(u32, SafeText, Refusal)>,
    /// Sockets on the port whose holder cannot be seen (so cannot be signalled).
    pub hidden: Vec<(HeldSocket, u32, &'static str)>,
}

/// Every holder of every given socket, each once, with its pidfd already open.
pub fn plan(snapshot: &Snapshot, sockets: &[&Socket]) -> Plan {
    let own = std::process::id();
    let parent = os::parent_pid();
    let mut plan = Plan::default();
    let mut by_pid: BTreeMap<u32, Vec<HeldSocket>> = BTreeMap::new();
    for socket in sockets {
        let held = HeldSocket {
            proto: socket.proto,
            endpoint: socket.local_endpoint(),
            port: socket.port,
            inode: socket.inode,
        };
        match &socket.owner {
            Owner::Known(pids) => pids
                .iter()
                .for_each(|&pid| by_pid.entry(pid).or_default().push(held.clone())),
            Owner::Hidden(reason) => plan.hidden.push((held, socket.uid, reason.describe())),
            Owner::None(_) => {}
        }
    }
    for (pid, sockets) in by_pid {
        let Some(process) = snapshot.processes.get(&pid) else {
            plan.refused.push((pid, SafeText::new("?"), Refusal::Gone));
            continue;
        };
        let refusal = refuse_pid(pid, own, parent).or_else(|| os::refuse_process(pid));
        if let Some(refusal) = refusal {
            plan.refused.push((pid, process.name.clone(), refusal));
            continue;
        }
        match os::Handle::open(pid) {
            Some(handle) => plan.targets.push(Target {
                pid,
                name: process.name.clone(),
                user: process.user.clone(),
                exe: process.exe.clone(),
                command: process.command(),
                start_time: process.start_time,
                sockets,
                handle,
            }),
            None => plan
                .refused
                .push((pid, process.name.clone(), Refusal::Gone)),
        }
    }
    plan
}

/// What happened when a target was to be signalled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    Signalled,
    /// Re-verification failed: nothing was sent.
    Skipped(Refusal),
    /// The target no longer holds any of the sockets it was shown with: nothing was sent.
    NoLongerHolds,
    PermissionDenied,
    Failed(String),
}

/// Re-verifies the target, then signals it through its pidfd.
pub fn signal(target: &Target, signal: StopSignal) -> Sent {
    if !target.handle.is_same_process() {
        return Sent::Skipped(Refusal::Gone);
    }
    if !target
        .sockets
        .iter()
        .any(|s| os::holds_socket(target.pid, s.inode))
    {
        return Sent::NoLongerHolds;
    }
    // Alive *after* the /proc reads: the pid was not freed in between, so they were about it.
    if !target.handle.is_alive() {
        return Sent::Skipped(Refusal::Gone);
    }
    target.handle.send(signal)
}

impl Target {
    /// True once the process has exited.
    pub fn exited(&self) -> bool {
        !self.handle.is_alive()
    }
}

#[cfg(target_os = "linux")]
mod os {
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

    /// A pidfd plus the start time seen when it was opened.
    #[derive(Debug)]
    pub struct Handle {
        pid: u32,
        pidfd: OwnedFd,
        start_ticks: u64,
    }

    impl Handle {
        pub fn open(pid: u32) -> Option<Self> {
            let raw = i32::try_from(pid).ok()?;
            let start_ticks = procstat::identity(pid)?.start_ticks;
            let pidfd = pidfd_open(Pid::from_raw(raw)?, PidfdFlags::empty()).ok()?;
            // The pid may have been reused between the stat read and pidfd_open: check again.
            let still = procstat::identity(pid)?.start_ticks == start_ticks;
            still.then_some(Handle {
                pid,
                pidfd,
                start_ticks,
            })
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
}

#[cfg(not(target_os = "linux"))]
mod os {
    use super::{Refusal, Sent, StopSignal};

    pub fn parent_pid() -> Option<u32> {
        None
    }

    pub fn refuse_process(_pid: u32) -> Option<Refusal> {
        None
    }

    pub fn holds_socket(_pid: u32, _inode: u64) -> bool {
        false
    }

    /// Without pidfds a signal could hit a reused pid, so nothing is ever sent here.
    #[derive(Debug)]
    pub struct Handle;

    impl Handle {
        pub fn open(_pid: u32) -> Option<Self> {
            None
        }
        pub fn is_same_process(&self) -> bool {
            false
        }
        pub fn is_alive(&self) -> bool {
            false
        }
        pub fn send(&self, _signal: StopSignal) -> Sent {
            Sent::Failed("stopping processes is only supported on Linux".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangerous_pids_are_refused_before_anything_else() {
        let own = 5000;
        let parent = Some(4999);
        assert_eq!(refuse_pid(0, own, parent), Some(Refusal::InitOrKernel));
        assert_eq!(refuse_pid(1, own, parent), Some(Refusal::InitOrKernel));
        assert_eq!(refuse_pid(u32::MAX, own, parent), Some(Refusal::NotAPid));
        assert_eq!(
            refuse_pid(2_147_483_648, own, parent),
            Some(Refusal::NotAPid)
        );
        assert_eq!(refuse_pid(own, own, parent), Some(Refusal::Myself));
        assert_eq!(refuse_pid(4999, own, parent), Some(Refusal::MyParent));
        assert_eq!(refuse_pid(1234, own, parent), None);
    }

    #[test]
    fn signal_names_and_numbers() {
        for (text, signal) in [
            ("TERM", StopSignal::Term),
            ("sigterm", StopSignal::Term),
            ("15", StopSignal::Term),
            ("KILL", StopSignal::Kill),
            ("9", StopSignal::Kill),
            ("int", StopSignal::Int),
            ("HUP", StopSignal::Hup),
            ("SIGQUIT", StopSignal::Quit),
        ] {
            assert_eq!(text.parse::<StopSignal>(), Ok(signal), "{text}");
        }
        for bad in ["STOP", "0", "-1", "", "SIGUSR1", "65"] {
            assert!(bad.parse::<StopSignal>().is_err(), "{bad}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn kernel_threads_are_refused() {
        // kthreadd is pid 2 on Linux.
        assert_eq!(os::refuse_process(2), Some(Refusal::KernelThread));
    }
}
