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

pub(crate) use ports::canonical;
pub use ports::{Exposure, PORT_FORMS, PortRange, PortSpec, RangeGroup};
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

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

/// Which sockets are wanted: protocols, families, and listeners only or every state. The CLI,
/// the collector (which tables to dump) and the live view's toggles all speak this one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selection {
    pub tcp: bool,
    pub udp: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Every state (connections, TIME_WAIT, …), not only listeners.
    pub all_states: bool,
}

impl Default for Selection {
    fn default() -> Self {
        Selection::LISTENERS
    }
}

impl Selection {
    /// Every listener of both protocols and families.
    pub const LISTENERS: Selection = Selection {
        tcp: true,
        udp: true,
        ipv4: true,
        ipv6: true,
        all_states: false,
    };

    pub fn has_proto(&self, proto: Proto) -> bool {
        match proto {
            Proto::Tcp => self.tcp,
            Proto::Udp => self.udp,
        }
    }

    pub fn has_family(&self, family: Family) -> bool {
        match family {
            Family::Ipv4 => self.ipv4,
            Family::Ipv6 => self.ipv6,
        }
    }

    /// Protocol, family and state all wanted.
    pub fn keeps(&self, socket: &Socket) -> bool {
        self.has_proto(socket.proto)
            && self.has_family(socket.family)
            && (self.all_states || socket.is_listener())
    }

    /// Both protocols and both families: nothing narrowed.
    pub fn is_whole(&self) -> bool {
        self.tcp && self.udp && self.ipv4 && self.ipv6
    }

    /// The protocols and families shown, such as `tcp v4`, when narrowed.
    pub fn narrowed_label(&self) -> Option<String> {
        if self.is_whole() {
            return None;
        }
        let names: Vec<&str> = [
            (self.tcp, "tcp"),
            (self.udp, "udp"),
            (self.ipv4, "v4"),
            (self.ipv6, "v6"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
        Some(names.join(" "))
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
    /// A TCP socket bound to a port but neither listening nor connected (the kernel's
    /// TCP_BOUND_INACTIVE dump): invisible to `ss -ta`, yet it blocks binds.
    #[serde(rename = "BOUND")]
    Bound,
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

impl SockState {
    /// A TCP state a socket can be in after its process closed it: the kernel finishes the
    /// connection on its own (it no longer has a file, so no process holds it).
    pub fn is_orphan(self) -> bool {
        matches!(
            self,
            SockState::FinWait1
                | SockState::FinWait2
                | SockState::Closing
                | SockState::LastAck
                | SockState::TimeWait
        )
    }

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
            SockState::Bound => "BOUND",
            SockState::Unknown => "UNKNOWN",
        }
    }
}

/// Why some or all holders of a socket cannot be named. `Hidden` means "in use, owner not visible
/// to us"; it is never reported as free.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HiddenReason {
    /// Not root: other users' /proc/<pid>/fd cannot be read.
    NotRoot,
    /// Our own processes that are not dumpable (setuid, or prctl(PR_SET_DUMPABLE, 0)): their fd
    /// tables need root even though they run as us.
    NonDumpable,
    /// Root, but without CAP_SYS_PTRACE (e.g. in a container), so some fd tables are unreadable.
    NoPtraceCap,
    /// Root inside a user namespace: processes owned outside it cannot be inspected.
    UserNamespace,
    /// /proc is mounted with hidepid: other users' processes are not listed at all.
    HidePid,
    /// portscope runs in a child PID namespace; holders outside it are invisible.
    OtherPidNamespace,
    /// /proc is missing or unreadable, so no owner could be looked up.
    NoProc,
    /// portscope ran out of file descriptors (or memory) while reading /proc.
    OutOfFds,
    /// Some processes' fd tables could not be read even as root (an LSM, or a kernel refusal).
    Unreadable,
}

impl HiddenReason {
    pub fn describe(self) -> &'static str {
        match self {
            HiddenReason::NotRoot => {
                "not root: other users' processes cannot be inspected (run with sudo)"
            }
            HiddenReason::NonDumpable => {
                "some of your own processes are not dumpable (setuid or PR_SET_DUMPABLE): their file descriptors need root to read"
            }
            HiddenReason::NoPtraceCap => {
                "root without CAP_SYS_PTRACE: some processes cannot be inspected"
            }
            HiddenReason::UserNamespace => {
                "root only inside a user namespace: processes outside it cannot be inspected"
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
            HiddenReason::OutOfFds => {
                "portscope ran out of file descriptors reading /proc (raise ulimit -n)"
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
    /// Its holders exited while portscope was reading them.
    HolderExited,
}

impl NoneReason {
    pub fn describe(self) -> &'static str {
        match self {
            NoneReason::KernelHeld => "held by the kernel alone (no file descriptor)",
            NoneReason::NoHolder => {
                "no visible process holds it (in flight over a unix socket, or held from another PID namespace)"
            }
            NoneReason::HolderExited => "its holder exited while portscope was reading it",
        }
    }
}

/// Who holds a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Every process holding an fd to the socket, sorted by pid.
    Known(Vec<u32>),
    /// These processes hold it, but others may too: some fd tables could not be read and none
    /// of the visible holders has the socket's uid.
    Partial(Vec<u32>, HiddenReason),
    Hidden(HiddenReason),
    None(NoneReason),
}

impl Owner {
    pub fn pids(&self) -> &[u32] {
        match self {
            Owner::Known(pids) | Owner::Partial(pids, _) => pids,
            _ => &[],
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Owner::Known(_) => "known",
            Owner::Partial(..) => "partial",
            Owner::Hidden(_) => "hidden",
            Owner::None(_) => "none",
        }
    }

    /// Why holders are missing, if any may be.
    pub fn hidden_reason(&self) -> Option<HiddenReason> {
        match self {
            Owner::Partial(_, reason) | Owner::Hidden(reason) => Some(*reason),
            _ => None,
        }
    }

    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Owner::Known(_) => None,
            Owner::Partial(_, r) | Owner::Hidden(r) => Some(r.describe()),
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
    /// The uid of the process that made the socket (None where the OS does not say).
    pub uid: Option<u32>,
    /// For an IPv6 socket: IPV6_V6ONLY (false: `[::]` also takes IPv4). None when unknown.
    pub v6only: Option<bool>,
    /// The network namespace the socket lives in (its nsfs inode; 0 where not known). A port
    /// number is per namespace: two sockets on :3000 in two namespaces do not conflict.
    pub netns: u64,
    pub owner: Owner,
}

impl Socket {
    /// A TCP socket in LISTEN or a UDP socket that is bound and not connected.
    pub fn is_listener(&self) -> bool {
        matches!(self.state, SockState::Listen | SockState::Unconn)
    }

    /// How well this listener matches traffic to `local` on its port: Some(2) for its exact
    /// address, Some(1) as the wildcard of that family, Some(0) as a dual-stack `[::]` taking
    /// IPv4; None when it does not take it. The most specific listener wins, as in the kernel.
    pub fn accepts(&self, local: &IpAddr) -> Option<u8> {
        let (mine, theirs) = (ports::canonical(&self.local_addr), ports::canonical(local));
        if mine == theirs {
            return Some(2);
        }
        match (mine, theirs) {
            (IpAddr::V4(a), IpAddr::V4(_)) if a.is_unspecified() => Some(1),
            (IpAddr::V6(a), IpAddr::V6(_)) if a.is_unspecified() => Some(1),
            (IpAddr::V6(a), IpAddr::V4(_)) if a.is_unspecified() && self.v6only != Some(true) => {
                Some(0)
            }
            _ => None,
        }
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// What makes this process *this* process: its start time in clock ticks since boot. A
    /// reused pid gets a new one; 0 when unknown.
    pub start_ticks: u64,
    /// The name to show: the kernel's `comm`, or the program's full name when `comm` is that
    /// name cut at 15 bytes (`systemd-resolve` → `systemd-resolved`).
    pub name: SafeText,
    /// The kernel's `comm`, as set by exec or `prctl(PR_SET_NAME)`.
    pub comm: SafeText,
    pub cmdline: Vec<SafeText>,
    /// The command line was longer than what portscope reads (see `CMDLINE_CAP`); its whole
    /// length in bytes when the kernel tells.
    pub cmdline_cut: Option<Option<u64>>,
    pub exe: Option<SafeText>,
    pub cwd: Option<SafeText>,
    pub uid: Option<u32>,
    pub user: Option<SafeText>,
    pub ppid: Option<u32>,
    pub parent_name: Option<SafeText>,
    /// Seconds since the Unix epoch.
    pub start_time: Option<u64>,
    /// The container it runs in (`docker web-1`), from its cgroup.
    pub container: Option<SafeText>,
    /// The systemd unit it runs in (`nginx.service`), from its cgroup.
    pub unit: Option<SafeText>,
}

/// How much of a command line is read and kept: more than any output shows.
pub const CMDLINE_CAP: usize = 4096;

impl Process {
    /// The command line joined by spaces, or the name when there is none (kernel threads).
    pub fn command(&self) -> String {
        if self.cmdline.is_empty() {
            return format!("[{}]", self.name);
        }
        let parts: Vec<&str> = self.cmdline.iter().map(SafeText::as_str).collect();
        let mut command = parts.join(" ");
        match self.cmdline_cut {
            Some(Some(total)) => command.push_str(&format!(" … ({total} bytes in all)")),
            Some(None) => command.push_str(" …"),
            None => {}
        }
        command
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

/// Which network namespaces a collection looks at (`--netns`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NetnsScope {
    /// The namespace portscope runs in.
    #[default]
    Current,
    /// Every namespace on the host.
    All,
    /// One namespace.
    One(NetnsTarget),
}

/// A namespace named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetnsTarget {
    /// pid 1's.
    Host,
    /// An `ip netns` name (`/run/netns/NAME`).
    Name(String),
    /// An nsfs file (a bind mount, `/proc/PID/ns/net`).
    Path(std::path::PathBuf),
    /// The namespace of a process.
    Pid(u32),
}

impl NetnsScope {
    /// `all`, `host`, `current`, `pid:N`, a path (with a `/`), or an `ip netns` name.
    pub fn parse(text: &str) -> Result<NetnsScope, String> {
        let scope = match text {
            "" => return Err("empty; use all, host, current, pid:N, a path or a name".into()),
            "all" => NetnsScope::All,
            "current" => NetnsScope::Current,
            "host" => NetnsScope::One(NetnsTarget::Host),
            _ => match text.strip_prefix("pid:") {
                Some(pid) => NetnsScope::One(NetnsTarget::Pid(
                    pid.parse()
                        .map_err(|_| format!("'{pid}' is not a pid; use pid:N"))?,
                )),
                None if text.contains('/') => {
                    NetnsScope::One(NetnsTarget::Path(std::path::PathBuf::from(text)))
                }
                None => NetnsScope::One(NetnsTarget::Name(text.to_string())),
            },
        };
        Ok(scope)
    }
}

/// What a network namespace is.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetnsKind {
    /// The namespace pid 1 is in.
    Host,
    /// An `ip netns` name (a bind mount under /run/netns).
    Named,
    Container,
    /// A Kubernetes pod (its sandbox holds the namespace).
    Pod,
    /// A systemd unit with `PrivateNetwork=`.
    Unit,
    /// Nothing names it: shown as `netns:[inode]` and a process inside.
    Anonymous,
}

/// A container, as far as the runtime's state files (or its monitor's command line) name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerFacts {
    pub runtime: &'static str,
    pub id: SafeText,
    pub name: Option<SafeText>,
    pub image: Option<SafeText>,
    /// `namespace/pod` for a Kubernetes pod.
    pub pod: Option<SafeText>,
}

/// One network namespace of the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Netns {
    /// The nsfs inode (`net:[4026532178]`): what sockets refer to.
    pub inode: u64,
    /// NS_GET_ID: a 64-bit id the kernel never reuses (inodes can be). None where unknown.
    pub id: Option<u64>,
    pub kind: NetnsKind,
    /// The short label every front end shows: `host`, `t_a`, `web-1`, `netns:[4026532178]`.
    pub name: SafeText,
    pub container: Option<ContainerFacts>,
    /// A process inside it (the first seen), for "(pid N)" and `nsenter -t N -n`.
    pub pid: Option<u32>,
    /// Bind mounts that keep it (`/run/netns/t_a`).
    pub paths: Vec<SafeText>,
    /// What it was found through (`process`, `thread`, `mount`, `fd`, `socket`).
    pub found_by: Vec<&'static str>,
    /// portscope runs in it: "here" for the bind verdict.
    pub current: bool,
}

/// Where a host port published by a forwarder (docker-proxy, dockerd, conmon, pasta…) leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    /// The forwarder's socket: (netns, inode).
    pub socket: (u64, u64),
    pub forwarder: &'static str,
    pub forwarder_pid: u32,
    /// The container it publishes, when known.
    pub container: Option<SafeText>,
    /// The address and port traffic is sent to, when the forwarder says.
    pub target: Option<(IpAddr, u16)>,
    /// The namespace that traffic arrives in, when known.
    pub target_netns: Option<u64>,
    /// The listeners inside that take it: (netns, inode).
    pub inside: Vec<(u64, u64)>,
    pub reach: Reach,
    /// The command that stops it properly (`docker stop web-1`).
    pub stop: Option<String>,
}

/// Whether anything inside takes what a published port forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// A listener inside takes it.
    Listening,
    /// Nothing listens on the port inside.
    NothingListens,
    /// Something listens, but only on loopback inside: forwarded traffic is refused.
    LoopbackOnly,
    /// Where it leads could not be found out.
    Unknown,
}

/// Established TCP connections accepted by one listening socket.
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
    /// Where the holders came from.
    pub owner_map: OwnerMap,
}

/// Which owner map named the holders (`--owner-scan`), and why the in-kernel one did not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnerMap {
    pub source: OwnerMapSource,
    /// Why the in-kernel map was not used, one line starting with `bpf: `; None when it was.
    pub bpf_unavailable: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerMapSource {
    /// The walk of `/proc/PID/fd`, one readlink per open fd on the host.
    #[default]
    Proc,
    /// The in-kernel map: a BPF `task_file` iterator.
    Bpf,
    /// What the OS's own socket API says (netstat2, where there is no `/proc`).
    System,
}

impl OwnerMapSource {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerMapSource::Proc => "proc",
            OwnerMapSource::Bpf => "bpf",
            OwnerMapSource::System => "system",
        }
    }
}

/// A kernel table that could not be read: its sockets are missing from the snapshot, so no
/// port in it may be called free.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableError {
    /// The network namespace it belongs to (0: the current one, when only that is read).
    pub netns: u64,
    pub proto: Proto,
    pub family: Family,
    /// One line naming the table and the OS error.
    pub message: String,
    /// The OS error number behind it, when there is one.
    pub errno: Option<i32>,
}

/// One immutable picture of the host's sockets. Every front end reads only this.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub taken_at: SystemTime,
    /// This host's name, sanitized.
    pub host: SafeText,
    pub sockets: Vec<Socket>,
    pub processes: BTreeMap<u32, Process>,
    /// Socket uid → user name, for every socket uid that has a name.
    pub users: BTreeMap<u32, SafeText>,
    /// Established TCP connections by listening socket (its inode), for the live view.
    pub connections: BTreeMap<u64, Connections>,
    /// (socket inode, holder pid) → that holder's fd numbers for the socket, sorted (osquery's
    /// `listening_ports.fd`). Empty where the OS does not tell (netstat2).
    pub fds: BTreeMap<(u64, u32), Vec<u32>>,
    /// This OS's own ephemeral port range, when known.
    pub ephemeral: Option<PortRange>,
    pub visibility: Visibility,
    /// Tables that could not be read (the snapshot holds the others).
    pub table_errors: Vec<TableError>,
    /// The network namespaces the sockets are in, by inode (empty: only the current one, and
    /// sockets carry netns 0).
    pub namespaces: BTreeMap<u64, Netns>,
    /// Host ports that forward into containers.
    pub published: Vec<Publication>,
    /// Sockets a filter left out that a shown one leads to (the listener inside a container
    /// behind a published port), with their holders. No front end lists them as rows.
    pub related: Vec<Socket>,
    /// Other things the user should know about this snapshot, one line each.
    pub warnings: Vec<String>,
}

impl Snapshot {
    pub fn user_name(&self, uid: Option<u32>) -> Option<&SafeText> {
        self.users.get(&uid?)
    }

    pub fn holders<'a>(&'a self, socket: &'a Socket) -> impl Iterator<Item = &'a Process> + 'a {
        socket
            .owner
            .pids()
            .iter()
            .filter_map(|pid| self.processes.get(pid))
    }

    /// The holder a row names: the one heading the process tree of the holders (the parent of
    /// the others, as a prefork master is of its workers); among several such, the oldest.
    pub fn lead_holder<'a>(&'a self, socket: &'a Socket) -> Option<&'a Process> {
        let pids = socket.owner.pids();
        let is_root = |p: &&Process| p.ppid.is_none_or(|ppid| !pids.contains(&ppid));
        self.holders(socket)
            .filter(is_root)
            .min_by_key(|p| (p.start_time.unwrap_or(u64::MAX), p.start_ticks, p.pid))
    }

    /// The holders with the lead first, then the others by pid.
    pub fn holders_lead_first<'a>(&'a self, socket: &'a Socket) -> Vec<&'a Process> {
        let lead = self.lead_holder(socket).map(|p| p.pid);
        let mut holders: Vec<&Process> = self.holders(socket).collect();
        holders.sort_by_key(|p| (Some(p.pid) != lead, p.pid));
        holders
    }

    /// The fds through which `pid` holds `socket`, sorted; empty when unknown.
    pub fn fds_of(&self, socket: &Socket, pid: u32) -> &[u32] {
        self.fds
            .get(&(socket.inode, pid))
            .map_or(&[], Vec::as_slice)
    }

    pub fn in_ephemeral(&self, port: u16) -> bool {
        self.ephemeral.is_some_and(|r| r.contains(port))
    }

    /// The namespace a socket is in, when the snapshot spans several.
    pub fn netns_of(&self, socket: &Socket) -> Option<&Netns> {
        self.namespaces.get(&socket.netns)
    }

    /// The namespace a bind verdict is about: the only one looked at, or, with every one looked
    /// at, ours; 0 when only the current one was read.
    pub fn verdict_netns(&self) -> u64 {
        match self.namespaces.len() {
            0 => 0,
            1 => self.namespaces.keys().next().copied().unwrap_or(0),
            // Every namespace: the one portscope runs in (where a bind is tried), which is
            // the host's unless it runs inside another (`ip netns exec`, a container).
            _ => self
                .namespaces
                .values()
                .find(|n| n.current)
                .or_else(|| self.namespaces.values().find(|n| n.kind == NetnsKind::Host))
                .map_or(0, |n| n.inode),
        }
    }

    /// More than one namespace has sockets here: the front ends then say which is which.
    pub fn spans_namespaces(&self) -> bool {
        let mut seen = self.sockets.iter().map(|s| s.netns);
        let Some(first) = seen.next() else {
            return false;
        };
        seen.any(|n| n != first)
    }

    /// Where a forwarder's socket leads, if it is one.
    pub fn publication(&self, socket: &Socket) -> Option<&Publication> {
        self.published
            .iter()
            .find(|p| p.socket == (socket.netns, socket.inode))
    }

    /// The socket with this (netns, inode), shown or related.
    pub fn socket_at(&self, key: (u64, u64)) -> Option<&Socket> {
        self.sockets
            .iter()
            .chain(&self.related)
            .find(|s| (s.netns, s.inode) == key)
    }

    /// Was the table this socket would be in unreadable?
    pub fn table_failed(&self, proto: Proto, family: Family) -> Option<&TableError> {
        self.table_errors
            .iter()
            .find(|e| e.proto == proto && e.family == family)
    }

    /// One line per failed table; the same failure in every namespace is said once.
    pub fn table_error_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut done: Vec<&str> = Vec::new();
        for error in &self.table_errors {
            if done.contains(&error.message.as_str()) {
                continue;
            }
            let namespaces: Vec<u64> = self
                .table_errors
                .iter()
                .filter(|e| e.message == error.message)
                .map(|e| e.netns)
                .collect();
            let everywhere = self.namespaces.len() <= 1
                || self.namespaces.keys().all(|ns| namespaces.contains(ns));
            let place = match everywhere {
                true if self.namespaces.len() > 1 => " (in every network namespace)".to_string(),
                true => String::new(),
                false => {
                    let names: Vec<String> =
                        namespaces.iter().map(|ns| self.netns_name(*ns)).collect();
                    format!(" (in {})", names.join(", "))
                }
            };
            lines.push(format!(
                "{}{place}; its sockets are not shown",
                error.message
            ));
            done.push(&error.message);
        }
        lines
    }

    /// The short name of a namespace of this snapshot (`net:[N]` when it has none).
    pub fn netns_name(&self, inode: u64) -> String {
        match self.namespaces.get(&inode) {
            Some(netns) => netns.name.to_string(),
            None => format!("net:[{inode}]"),
        }
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

    /// One line per reason, counting the sockets whose owner is hidden or may be incomplete.
    pub fn owner_summary(&self) -> Vec<String> {
        let mut hidden: BTreeMap<HiddenReason, usize> = BTreeMap::new();
        let mut partial: BTreeMap<HiddenReason, usize> = BTreeMap::new();
        for socket in &self.sockets {
            match socket.owner {
                Owner::Hidden(reason) => *hidden.entry(reason).or_default() += 1,
                Owner::Partial(_, reason) => *partial.entry(reason).or_default() += 1,
                _ => {}
            }
        }
        let note = self.unreadable_note();
        let hidden = hidden.into_iter().map(|(why, n)| {
            let noun = if n == 1 { "socket has" } else { "sockets have" };
            format!("{n} {noun} a hidden owner: {}{note}", why.describe())
        });
        let partial = partial.into_iter().map(|(why, n)| {
            let noun = if n == 1 { "socket" } else { "sockets" };
            format!(
                "{n} {noun} may have more holders than shown: {}{note}",
                why.describe()
            )
        });
        hidden.chain(partial).collect()
    }

    /// Every warning line: unreadable tables, collection notes, hidden owners.
    pub fn notes(&self) -> Vec<String> {
        self.table_error_lines()
            .into_iter()
            .chain(self.warnings.iter().cloned())
            .chain(self.owner_summary())
            .collect()
    }
}
