//! The snapshot every front end reads: sockets, the processes that hold them, and port facts.
//!
//! Nothing here touches the OS or a terminal. Strings that came from the OS are stored as
//! [`SafeText`], which can only be built by passing through the sanitizer, so no output path can
//! print a raw process name by mistake.

pub mod ports;
pub mod services;
mod text;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use serde::Serialize;

pub use ports::{Exposure, PortRange, RangeGroup};
pub use text::SafeText;

/// Transport protocol: TCP/80 and UDP/80 are different sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Self {
        if addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }
}

/// Socket state. TCP states as the kernel names them; UDP is `Unconn` (bound, not connected:
/// a listener) or `Established` (connected: a client, not a listener).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum SockState {
    #[serde(rename = "LISTEN")]
    Listen,
    #[serde(rename = "UNCONN")]
    Unconn,
    #[serde(rename = "ESTABLISHED")]
    Established,
    #[serde(rename = "SYN_SENT")]
    SynSent,
    #[serde(rename = "SYN_RECV")]
    SynRecv,
    #[serde(rename = "FIN_WAIT1")]
    FinWait1,
    #[serde(rename = "FIN_WAIT2")]
    FinWait2,
    #[serde(rename = "TIME_WAIT")]
    TimeWait,
    #[serde(rename = "CLOSE")]
    Close,
    #[serde(rename = "CLOSE_WAIT")]
    CloseWait,
    #[serde(rename = "LAST_ACK")]
    LastAck,
    #[serde(rename = "CLOSING")]
    Closing,
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

impl SockState {
    pub fn as_str(self) -> &'static str {
        match self {
            SockState::Listen => "LISTEN",
            SockState::Unconn => "UNCONN",
            SockState::Established => "ESTABLISHED",
            SockState::SynSent => "SYN_SENT",
            SockState::SynRecv => "SYN_RECV",
            SockState::FinWait1 => "FIN_WAIT1",
            SockState::FinWait2 => "FIN_WAIT2",
            SockState::TimeWait => "TIME_WAIT",
            SockState::Close => "CLOSE",
            SockState::CloseWait => "CLOSE_WAIT",
            SockState::LastAck => "LAST_ACK",
            SockState::Closing => "CLOSING",
            SockState::Unknown => "UNKNOWN",
        }
    }
}

/// Why nobody is named as the holder of a socket. `Hidden` means "in use, owner not visible to
/// us"; it is never reported as free.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HiddenReason {
    /// Not root: other users' /proc/<pid>/fd cannot be read.
    NotRoot,
    /// Root, but without CAP_SYS_PTRACE (e.g. in a container), so some fd tables are unreadable.
    NoPtraceCap,
    /// /proc is mounted with hidepid: other users' processes are not listed at all.
    HidePid,
    /// portscope runs in a child PID namespace; holders outside it are invisible.
    OtherPidNamespace,
    /// /proc is missing or unreadable, so no owner could be looked up.
    NoProc,
    /// Some processes' fd tables could not be read (e.g. non-dumpable processes).
    Unreadable,
}

impl HiddenReason {
    pub fn describe(self) -> &'static str {
        match self {
            HiddenReason::NotRoot => {
                "not root: other users' processes cannot be inspected (run with sudo)"
            }
            HiddenReason::NoPtraceCap => {
                "root without CAP_SYS_PTRACE: some processes cannot be inspected"
            }
            HiddenReason::HidePid => {
                "/proc is mounted with hidepid: other users' processes are invisible (run with sudo)"
            }
            HiddenReason::OtherPidNamespace => {
                "portscope runs in a child PID namespace: holders outside it are invisible"
            }
            HiddenReason::NoProc => {
                "/proc is not mounted or unreadable: owners cannot be looked up"
            }
            HiddenReason::Unreadable => {
                "some processes' file descriptors could not be read: the holder may be one of them"
            }
        }
    }
}

/// Why a socket that we could fully inspect has no holding process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoneReason {
    /// Inode 0: the kernel holds it alone (TIME_WAIT, an orphaned connection).
    KernelHeld,
    /// No process in this PID namespace holds the fd: in flight over a unix socket, or held by a
    /// process in another PID namespace that shares this network namespace.
    NoHolder,
}

impl NoneReason {
    pub fn describe(self) -> &'static str {
        match self {
            NoneReason::KernelHeld => "held by the kernel alone (no file descriptor)",
            NoneReason::NoHolder => {
                "no visible process holds it (in flight over a unix socket, or held from another PID namespace)"
            }
        }
    }
}

/// Who holds a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Every process holding an fd to the socket, sorted by pid.
    Known(Vec<u32>),
    Hidden(HiddenReason),
    None(NoneReason),
}

impl Owner {
    pub fn pids(&self) -> &[u32] {
        match self {
            Owner::Known(pids) => pids,
            _ => &[],
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Owner::Known(_) => "known",
            Owner::Hidden(_) => "hidden",
            Owner::None(_) => "none",
        }
    }

    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Owner::Known(_) => None,
            Owner::Hidden(r) => Some(r.describe()),
            Owner::None(r) => Some(r.describe()),
        }
    }
}

/// One socket from the kernel's tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    pub proto: Proto,
    pub family: Family,
    pub local_addr: IpAddr,
    pub port: u16,
    /// The peer, for connected sockets.
    pub remote: Option<(IpAddr, u16)>,
    pub state: SockState,
    pub inode: u64,
    pub uid: u32,
    pub owner: Owner,
}

impl Socket {
    /// A TCP socket in LISTEN or a UDP socket that is bound and not connected.
    pub fn is_listener(&self) -> bool {
        matches!(self.state, SockState::Listen | SockState::Unconn)
    }

    pub fn range(&self) -> RangeGroup {
        RangeGroup::of(self.port)
    }

    pub fn exposure(&self) -> Exposure {
        Exposure::of(&self.local_addr)
    }

    pub fn service(&self) -> Option<&'static str> {
        services::iana_name(self.proto == Proto::Udp, self.port)
    }

    pub fn hint(&self) -> Option<&'static str> {
        services::dev_hint(self.port)
    }

    /// `127.0.0.1:3000`, `[::]:3000`.
    pub fn local_endpoint(&self) -> String {
        endpoint(&self.local_addr, self.port)
    }
}

pub fn endpoint(addr: &IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// Facts about one process that holds at least one socket in the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub name: SafeText,
    pub cmdline: Vec<SafeText>,
    pub exe: Option<SafeText>,
    pub cwd: Option<SafeText>,
    pub uid: Option<u32>,
    pub user: Option<SafeText>,
    pub ppid: Option<u32>,
    pub parent_name: Option<SafeText>,
    /// Seconds since the Unix epoch.
    pub start_time: Option<u64>,
}

impl Process {
    /// The command line joined by spaces, or the name when there is none (kernel threads).
    pub fn command(&self) -> String {
        if self.cmdline.is_empty() {
            return format!("[{}]", self.name);
        }
        let parts: Vec<&str> = self.cmdline.iter().map(SafeText::as_str).collect();
        parts.join(" ")
    }

    /// Like [`Process::command`], with the program's directory left out
    /// (`python3 app.py` for `/usr/bin/python3 app.py`), for narrow columns.
    pub fn short_command(&self) -> String {
        let Some((program, args)) = self.cmdline.split_first() else {
            return self.command();
        };
        let program = program.as_str();
        // A program that rewrote its title ("nginx: worker process") is shown as it is.
        let base = match program.contains(' ') {
            true => program,
            false => program.rsplit('/').next().unwrap_or(program),
        };
        std::iter::once(base)
            .chain(args.iter().map(SafeText::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Established TCP connections to one local port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Connections {
    pub count: usize,
    /// The first few peers, for the details pane.
    pub peers: Vec<(IpAddr, u16)>,
}

/// How many peers a snapshot keeps per port; the count is always exact.
pub const PEERS_KEPT: usize = 64;

/// What the collector could and could not see, for the summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Visibility {
    /// Processes whose fd table could not be read, sorted.
    pub unreadable_pids: Vec<u32>,
}

/// One immutable picture of the host's sockets. Every front end reads only this.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub taken_at: SystemTime,
    pub sockets: Vec<Socket>,
    pub processes: BTreeMap<u32, Process>,
    /// Socket uid → user name, for sockets whose owner is hidden.
    pub users: BTreeMap<u32, SafeText>,
    /// Established TCP connections by local port, for listening ports (live view only).
    pub connections: BTreeMap<u16, Connections>,
    /// This OS's own ephemeral port range, when known.
    pub ephemeral: Option<PortRange>,
    pub visibility: Visibility,
    pub warnings: Vec<String>,
}

impl Snapshot {
    pub fn user_name(&self, uid: u32) -> Option<&SafeText> {
        self.users.get(&uid)
    }

    pub fn holders<'a>(&'a self, socket: &'a Socket) -> impl Iterator<Item = &'a Process> + 'a {
        socket
            .owner
            .pids()
            .iter()
            .filter_map(|pid| self.processes.get(pid))
    }

    pub fn in_ephemeral(&self, port: u16) -> bool {
        self.ephemeral.is_some_and(|r| r.contains(port))
    }

    /// Names a few of the processes we could not inspect, e.g. ` (unreadable: pid 1)`.
    fn unreadable_note(&self) -> String {
        let pids = &self.visibility.unreadable_pids;
        if pids.is_empty() || pids.len() > 5 {
            return String::new();
        }
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        let noun = if pids.len() == 1 { "pid" } else { "pids" };
        format!(" (unreadable: {noun} {})", list.join(", "))
    }

    /// One line per reason, counting the sockets whose owner is hidden or absent.
    pub fn owner_summary(&self) -> Vec<String> {
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for socket in &self.sockets {
            if let Owner::Hidden(reason) = socket.owner {
                *counts.entry(reason.describe()).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .map(|(why, n)| {
                let noun = if n == 1 { "socket has" } else { "sockets have" };
                format!("{n} {noun} a hidden owner: {why}{}", self.unreadable_note())
            })
            .collect()
    }
}
