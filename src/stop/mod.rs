//! Stopping the holders of a port, safely.
//!
//! Every holder is opened as a pidfd *before* anyone is asked to confirm, checked against the
//! snapshot it was shown from (same start time, so a pid reused since is refused), and checked
//! again just before the signal (same start time, still holds the socket, still alive). The
//! signal goes through the pidfd, so it can only reach the process that was shown. Pids that must
//! never be signalled are refused up front. The pidfd parts are per OS (`linux.rs`, `other.rs`).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as os;
#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
use other as os;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::filter::HolderFilter;
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
    /// This OS has no pidfds: a signal could hit a process that reused the pid.
    Unsupported,
    /// It forwards a published port for a container: stopping it breaks the container's
    /// networking and the port comes back. The words say what stops the container instead.
    Forwarder(String),
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
            Refusal::Unsupported => "stopping processes safely needs pidfds (Linux only)",
            Refusal::Forwarder(words) => words,
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

/// A socket as shown to the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldSocket {
    /// Its network namespace (0 when only the current one was read).
    pub netns: u64,
    pub proto: Proto,
    pub endpoint: String,
    pub port: u16,
    pub inode: u64,
}

impl HeldSocket {
    pub fn of(socket: &Socket) -> Self {
        HeldSocket {
            netns: socket.netns,
            proto: socket.proto,
            endpoint: socket.local_endpoint(),
            port: socket.port,
            inode: socket.inode,
        }
    }
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
    /// The asked-for sockets it holds.
    pub sockets: Vec<HeldSocket>,
    /// Its other listening sockets: the signal reaches them too.
    pub also: Vec<HeldSocket>,
    handle: os::Handle,
}

/// A socket that will stay open after the signals, and why.
#[derive(Debug, PartialEq, Eq)]
pub enum StaysOpen {
    /// Processes that are not signalled hold it too (refused, or outside the filter).
    HeldBy(HeldSocket, Vec<u32>),
    /// Its holders cannot all be seen.
    MaybeHidden(HeldSocket, &'static str),
}

/// What will be done, before confirmation.
#[derive(Debug, Default)]
pub struct Plan {
    pub targets: Vec<Target>,
    pub refused: Vec<(u32, SafeText, Refusal)>,
    /// Holders the `--pid`/`--user`/`--process` filter left alone.
    pub left_out: Vec<(u32, SafeText)>,
    /// Sockets on the port whose holder cannot be seen at all (so cannot be signalled):
    /// (socket, its uid, why).
    pub hidden: Vec<(HeldSocket, Option<u32>, &'static str)>,
    pub stays_open: Vec<StaysOpen>,
}

/// Every holder of every given socket that `filter` accepts, each once, with its pidfd already
/// open and its identity checked against the snapshot.
pub fn plan(snapshot: &Snapshot, sockets: &[&Socket], filter: &HolderFilter) -> Plan {
    let own = std::process::id();
    let parent = os::parent_pid();
    let mut plan = Plan::default();
    let mut by_pid: BTreeMap<u32, Vec<HeldSocket>> = BTreeMap::new();
    for socket in sockets {
        let held = HeldSocket::of(socket);
        if let Owner::Hidden(reason) = &socket.owner {
            plan.hidden
                .push((held.clone(), socket.uid, reason.describe()));
        }
        for process in snapshot.holders_lead_first(socket) {
            match filter.matches_process(process) {
                true => by_pid.entry(process.pid).or_default().push(held.clone()),
                false => push_once(&mut plan.left_out, (process.pid, process.name.clone())),
            }
        }
    }
    for (pid, held) in by_pid {
        let Some(process) = snapshot.processes.get(&pid) else {
            plan.refused.push((pid, SafeText::new("?"), Refusal::Gone));
            continue;
        };
        let refusal = refuse_pid(pid, own, parent)
            .or_else(|| forwarder(snapshot, pid, sockets))
            .or_else(|| os::refuse_process(pid));
        if let Some(refusal) = refusal {
            plan.refused.push((pid, process.name.clone(), refusal));
            continue;
        }
        match os::Handle::open(pid, process.start_ticks) {
            Ok(handle) => plan.targets.push(Target {
                pid,
                name: process.name.clone(),
                user: process.user.clone(),
                exe: process.exe.clone(),
                command: process.command(),
                start_time: process.start_time,
                also: also_held(snapshot, pid, sockets),
                sockets: held,
                handle,
            }),
            Err(refusal) => plan.refused.push((pid, process.name.clone(), refusal)),
        }
    }
    if !plan.targets.is_empty() {
        plan.stays_open = stays_open(sockets, &plan);
    }
    plan
}

/// Is `pid` the forwarder of a published port among `sockets`? Then it is never signalled.
fn forwarder(snapshot: &Snapshot, pid: u32, sockets: &[&Socket]) -> Option<Refusal> {
    let publication = sockets
        .iter()
        .filter_map(|s| snapshot.publication(s))
        .find(|p| p.forwarder_pid == pid)?;
    let whose = match (&publication.container, publication.target_netns) {
        (_, Some(ns)) if snapshot.namespaces.contains_key(&ns) => {
            crate::present::netns_words_of(snapshot, ns)
        }
        (Some(name), _) => format!("container {name}"),
        _ => "a container".to_string(),
    };
    let advice = match &publication.stop {
        Some(command) => format!("; to free the port, stop the container: {command}"),
        None => "; to free the port, stop the container it publishes".to_string(),
    };
    Some(Refusal::Forwarder(format!(
        "it is {}, forwarding a published port of {whose}{advice}",
        publication.forwarder
    )))
}

fn push_once<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The other listeners of the snapshot that `pid` holds.
fn also_held(snapshot: &Snapshot, pid: u32, asked: &[&Socket]) -> Vec<HeldSocket> {
    snapshot
        .sockets
        .iter()
        .filter(|s| s.is_listener() && s.owner.pids().contains(&pid))
        .filter(|s| !asked.iter().any(|a| a.inode == s.inode && a.port == s.port))
        .map(HeldSocket::of)
        .collect()
}

/// Asked-for sockets that the planned signals will not close.
fn stays_open(sockets: &[&Socket], plan: &Plan) -> Vec<StaysOpen> {
    let targets: Vec<u32> = plan.targets.iter().map(|t| t.pid).collect();
    let mut open = Vec::new();
    for socket in sockets {
        let held = HeldSocket::of(socket);
        let others: Vec<u32> = socket
            .owner
            .pids()
            .iter()
            .copied()
            .filter(|pid| !targets.contains(pid))
            .collect();
        if !others.is_empty() {
            open.push(StaysOpen::HeldBy(held.clone(), others));
        }
        if let Owner::Partial(_, reason) = &socket.owner {
            open.push(StaysOpen::MaybeHidden(held, reason.describe()));
        }
    }
    open
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
}
