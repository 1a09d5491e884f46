//! "Would a bind succeed?" with the kernel's rules, as a pure function over what the socket
//! tables show; the collector then confirms it with a real `bind()` (and `listen()`) probe,
//! whose errno is the truth.
//!
//! The rules (Linux 6.x, `net/ipv4/inet_connection_sock.c:inet_bind_conflict`,
//! `net/ipv4/udp.c:udp_lib_lport_inuse`): two sockets on one port of one protocol in one
//! network namespace conflict when their addresses overlap (a wildcard covers every address
//! of its family; `[::]` without IPV6_V6ONLY covers IPv4 too; a v4-mapped address is IPv4) and
//! neither exception holds:
//! * SO_REUSEADDR on both, and the other is not listening (TCP); on both (UDP);
//! * SO_REUSEPORT on both, and the same owner uid (or, TCP, the other is in TIME_WAIT).
//!
//! A socket bound to a device (SO_BINDTODEVICE) conflicts with an unbound one.

use std::net::IpAddr;

use crate::model::{Proto, SockState, Socket, canonical};

/// One concrete bind to ask about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindAsk {
    pub proto: Proto,
    pub addr: IpAddr,
    pub port: u16,
    pub reuseaddr: bool,
    pub reuseport: bool,
    /// IPV6_V6ONLY for an IPv6 address (the system default, `net.ipv6.bindv6only`, when not
    /// asked).
    pub v6only: bool,
    /// The uid the bind runs as.
    pub uid: u32,
    /// It may bind ports below `ip_unprivileged_port_start` (root, or CAP_NET_BIND_SERVICE).
    pub privileged: bool,
}

/// A socket already on the port, with the options that decide whether it conflicts (None:
/// not known, since reading them needs root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Existing {
    pub socket: Socket,
    pub reuseaddr: Option<bool>,
    pub reuseport: Option<bool>,
    /// SO_BINDTODEVICE's interface index (0: none).
    pub bound_dev: u32,
    /// Milliseconds left on its timer (TIME_WAIT), when the kernel says.
    pub expires_ms: Option<u32>,
    /// The kernel holds it (vxlan, geneve, WireGuard, NFS): no process has it open.
    pub kernel: bool,
}

/// What kind of socket stands in the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockerKind {
    Listener,
    /// TCP, bound but not listening (TCP_BOUND_INACTIVE).
    BoundInactive,
    TimeWait,
    /// A connection (or a connecting socket) with this port as its local port.
    Connection,
    /// A UDP socket bound to the port.
    Udp,
    /// A socket only the kernel holds.
    Kernel,
}

impl BlockerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockerKind::Listener => "listener",
            BlockerKind::BoundInactive => "bound_not_listening",
            BlockerKind::TimeWait => "time_wait",
            BlockerKind::Connection => "connection",
            BlockerKind::Udp => "udp_socket",
            BlockerKind::Kernel => "kernel",
        }
    }
}

/// Does it block for certain, or only if an option portscope cannot see is off?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Certainty {
    Blocks,
    /// It blocks unless the other socket set SO_REUSEADDR / SO_REUSEPORT, which is not known.
    Unless,
}

/// One socket that would make the bind fail with EADDRINUSE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    /// An index into the `existing` list the prediction was made from.
    pub index: usize,
    pub kind: BlockerKind,
    pub certainty: Certainty,
    /// `[::]` without IPV6_V6ONLY, covering the asked IPv4 address (or the other way round).
    pub dual_stack: bool,
    /// Both set SO_REUSEPORT, but another uid owns it.
    pub other_uid: bool,
}

/// The verdict portscope predicts, before the probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prediction {
    pub blockers: Vec<Blocker>,
    /// EACCES: the port is below this many and the bind is not privileged.
    pub needs_privilege: Option<u16>,
    /// EADDRNOTAVAIL: the address is on no interface of the namespace.
    pub address_missing: bool,
}

/// The errno a bind is expected to fail with, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    Ok,
    InUse,
    /// In use, unless an option of another socket that cannot be seen is set.
    MaybeInUse,
    NoPermission,
    NoAddress,
}

impl Prediction {
    pub fn expected(&self) -> Expected {
        // The kernel checks the address, then the privilege, then the port.
        if self.address_missing {
            Expected::NoAddress
        } else if self.needs_privilege.is_some() {
            Expected::NoPermission
        } else if self
            .blockers
            .iter()
            .any(|b| b.certainty == Certainty::Blocks)
        {
            Expected::InUse
        } else if self.blockers.is_empty() {
            Expected::Ok
        } else {
            Expected::MaybeInUse
        }
    }
}

/// What the namespace says about the bind besides its sockets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Setting {
    /// `net.ipv4.ip_unprivileged_port_start` of the namespace.
    pub unprivileged_start: Option<u16>,
    /// The addresses of its interfaces (None: not known, so never called missing).
    pub addresses: Option<Vec<IpAddr>>,
    /// `net.ipv4.ip_nonlocal_bind` / `net.ipv6.ip_nonlocal_bind`.
    pub nonlocal_bind: bool,
    /// `net.ipv4.ip_local_port_range` of the namespace: where outgoing connections get ports.
    pub ephemeral: Option<crate::model::PortRange>,
    /// Security modules that may refuse a bind the socket tables allow (`SELinux
    /// (enforcing)`, `AppArmor profile …`): their rules are not read, only named.
    pub hooks: Vec<String>,
}

/// The kernel's verdict on `ask`, from the sockets on its port and the namespace's settings.
pub fn predict(ask: &BindAsk, existing: &[Existing], setting: &Setting) -> Prediction {
    let blockers = existing
        .iter()
        .enumerate()
        .filter(|(_, e)| e.socket.proto == ask.proto && e.socket.port == ask.port)
        .filter_map(|(index, e)| conflict(ask, e).map(|b| Blocker { index, ..b }))
        .collect();
    let needs_privilege = setting
        .unprivileged_start
        .filter(|&start| ask.port < start && ask.port != 0 && !ask.privileged);
    let address_missing = !ask.addr.is_unspecified()
        && !canonical(&ask.addr).is_loopback()
        && !setting.nonlocal_bind
        && setting
            .addresses
            .as_ref()
            .is_some_and(|list| !list.iter().any(|a| canonical(a) == canonical(&ask.addr)));
    Prediction {
        blockers,
        needs_privilege,
        address_missing,
    }
}

/// Whether `existing` stands in the way of `ask` (the index is filled in by the caller).
fn conflict(ask: &BindAsk, existing: &Existing) -> Option<Blocker> {
    let socket = &existing.socket;
    let dual_stack = overlap(ask.addr, ask.v6only, socket.local_addr, socket.v6only)?;
    let kind = kind_of(existing);
    let time_wait = socket.state == SockState::TimeWait;
    let listening = socket.state == SockState::Listen;
    // SO_REUSEADDR on both (and, for TCP, the other not listening).
    let reuse_exempt = match ask.proto {
        Proto::Tcp => ask.reuseaddr && !listening,
        Proto::Udp => ask.reuseaddr,
    };
    let reuse = tri(reuse_exempt, existing.reuseaddr);
    // SO_REUSEPORT on both, and the same uid (TCP: or the other in TIME_WAIT).
    let same_uid =
        socket.uid.is_none_or(|uid| uid == ask.uid) || (ask.proto == Proto::Tcp && time_wait);
    let port_exempt = ask.reuseport && same_uid;
    let reuseport = tri(port_exempt, existing.reuseport);
    let other_uid = ask.reuseport && !same_uid && existing.reuseport != Some(false);
    let certainty = match (reuse, reuseport) {
        (Some(true), _) | (_, Some(true)) => return None,
        (Some(false), Some(false)) => Certainty::Blocks,
        _ => Certainty::Unless,
    };
    // A device-bound socket never yields to an unbound one through the options either way;
    // the exceptions above still apply (the kernel checks them first).
    let _ = existing.bound_dev;
    Some(Blocker {
        index: 0,
        kind,
        certainty,
        dual_stack,
        other_uid,
    })
}

/// An exemption that needs the other socket's option too: Some(true) when it applies,
/// Some(false) when it does not, None when that depends on an option not known.
fn tri(ours_allow: bool, theirs: Option<bool>) -> Option<bool> {
    match (ours_allow, theirs) {
        (false, _) => Some(false),
        (true, Some(set)) => Some(set),
        (true, None) => None,
    }
}

fn kind_of(existing: &Existing) -> BlockerKind {
    if existing.kernel {
        return BlockerKind::Kernel;
    }
    match (existing.socket.proto, existing.socket.state) {
        (_, SockState::Listen) => BlockerKind::Listener,
        (Proto::Tcp, SockState::Bound) => BlockerKind::BoundInactive,
        (_, SockState::TimeWait) => BlockerKind::TimeWait,
        (Proto::Udp, SockState::Unconn) => BlockerKind::Udp,
        _ => BlockerKind::Connection,
    }
}

/// Do two local addresses overlap for a bind? Some(dual_stack) when they do: true when only
/// because an IPv6 wildcard without IPV6_V6ONLY covers IPv4.
pub fn overlap(a: IpAddr, a_v6only: bool, b: IpAddr, b_v6only: Option<bool>) -> Option<bool> {
    let b_v6only = b_v6only.unwrap_or(false);
    let (ca, cb) = (canonical(&a), canonical(&b));
    let hit = match (ca, cb) {
        (IpAddr::V4(x), IpAddr::V4(y)) => x == y || x.is_unspecified() || y.is_unspecified(),
        (IpAddr::V6(x), IpAddr::V6(y)) => x == y || x.is_unspecified() || y.is_unspecified(),
        (IpAddr::V6(x), IpAddr::V4(_)) => return (x.is_unspecified() && !a_v6only).then_some(true),
        (IpAddr::V4(_), IpAddr::V6(y)) => return (y.is_unspecified() && !b_v6only).then_some(true),
    };
    hit.then_some(false)
}

/// What the probe's bind (and listen) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    Ok,
    /// Failed at this step (`bind` or `listen`) with this errno.
    Failed(&'static str, i32),
    /// Not tried, and why.
    NotTried(String),
}

/// The errno numbers the verdict speaks of (Linux's; the same on every Linux architecture).
pub const EADDRINUSE: i32 = 98;
pub const EADDRNOTAVAIL: i32 = 99;
pub const EACCES: i32 = 13;
pub const EPERM: i32 = 1;

/// The name of an errno `bind(2)` and `listen(2)` document (Linux numbers).
pub fn errno_name(code: i32) -> &'static str {
    match code {
        EADDRINUSE => "EADDRINUSE",
        EADDRNOTAVAIL => "EADDRNOTAVAIL",
        EACCES => "EACCES",
        EPERM => "EPERM",
        22 => "EINVAL",
        97 => "EAFNOSUPPORT",
        _ => "error",
    }
}

/// What a bind does, all said: the probe's errno when it ran, else the prediction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    InUse,
    NoPermission,
    NoAddress,
    /// Another errno.
    Failed(i32),
    /// Not probed, and the prediction depends on what cannot be seen.
    Unknown,
}

/// One asked bind, with what stands in its way and what the kernel said.
#[derive(Clone, Debug)]
pub struct BindReport {
    pub ask: BindAsk,
    /// The user the bind runs as, by name (`--as`), when not the caller.
    pub user: Option<String>,
    pub existing: Vec<Existing>,
    pub prediction: Prediction,
    pub probe: Probe,
    pub setting: Setting,
    /// Holders of the existing sockets, for their names.
    pub snapshot: crate::model::Snapshot,
    /// Tables of the namespace that could not be read.
    pub errors: Vec<String>,
}

impl BindReport {
    pub fn outcome(&self) -> Outcome {
        match &self.probe {
            Probe::Ok => Outcome::Ok,
            Probe::Failed(_, EADDRINUSE) => Outcome::InUse,
            Probe::Failed(_, EACCES | EPERM) => Outcome::NoPermission,
            Probe::Failed(_, EADDRNOTAVAIL) => Outcome::NoAddress,
            Probe::Failed(_, code) => Outcome::Failed(*code),
            Probe::NotTried(_) => match self.prediction.expected() {
                Expected::Ok => Outcome::Ok,
                Expected::InUse => Outcome::InUse,
                Expected::NoPermission => Outcome::NoPermission,
                Expected::NoAddress => Outcome::NoAddress,
                Expected::MaybeInUse => Outcome::Unknown,
            },
        }
    }

    /// The probe ran and said something other than what the tables predicted.
    pub fn disagrees(&self) -> bool {
        if matches!(self.probe, Probe::NotTried(_)) {
            return false;
        }
        let outcome = self.outcome();
        match self.prediction.expected() {
            Expected::Ok => outcome != Outcome::Ok,
            Expected::InUse => outcome != Outcome::InUse,
            Expected::MaybeInUse => !matches!(outcome, Outcome::Ok | Outcome::InUse),
            Expected::NoPermission => outcome != Outcome::NoPermission,
            Expected::NoAddress => outcome != Outcome::NoAddress,
        }
    }

    /// The blockers that explain the outcome: all of them when the bind fails; none when it
    /// succeeded (an "unless" blocker then had the option set).
    pub fn blockers(&self) -> Vec<(&Blocker, &Existing)> {
        if matches!(self.outcome(), Outcome::Ok) {
            return Vec::new();
        }
        self.prediction
            .blockers
            .iter()
            .filter_map(|b| Some((b, self.existing.get(b.index)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, NoneReason, Owner};

    fn sock(proto: Proto, addr: &str, state: SockState, uid: u32, v6only: Option<bool>) -> Socket {
        let local_addr: IpAddr = addr.parse().expect("address");
        Socket {
            proto,
            family: Family::of(&local_addr),
            local_addr,
            port: 3000,
            remote: None,
            state,
            inode: 1,
            uid: Some(uid),
            v6only,
            netns: 0,
            owner: Owner::None(NoneReason::NoHolder),
        }
    }

    fn existing(socket: Socket, reuseaddr: Option<bool>, reuseport: Option<bool>) -> Existing {
        Existing {
            socket,
            reuseaddr,
            reuseport,
            bound_dev: 0,
            expires_ms: None,
            kernel: false,
        }
    }

    fn ask(proto: Proto, addr: &str) -> BindAsk {
        BindAsk {
            proto,
            addr: addr.parse().expect("address"),
            port: 3000,
            reuseaddr: false,
            reuseport: false,
            v6only: false,
            uid: 1000,
            privileged: false,
        }
    }

    fn expect(ask: &BindAsk, list: &[Existing]) -> Expected {
        predict(ask, list, &Setting::default()).expected()
    }

    #[test]
    fn the_matrix_of_addresses() {
        use SockState::Listen;
        let l = |addr, v6only| {
            vec![existing(
                sock(Proto::Tcp, addr, Listen, 1000, v6only),
                Some(true),
                Some(false),
            )]
        };
        let with_reuse = |mut a: BindAsk| {
            a.reuseaddr = true;
            a
        };
        // 1, 2, 3: a wildcard covers a specific address both ways, reuse or not.
        assert_eq!(
            expect(&with_reuse(ask(Proto::Tcp, "0.0.0.0")), &l("0.0.0.0", None)),
            Expected::InUse
        );
        assert_eq!(
            expect(
                &with_reuse(ask(Proto::Tcp, "127.0.0.1")),
                &l("0.0.0.0", None)
            ),
            Expected::InUse
        );
        assert_eq!(
            expect(&ask(Proto::Tcp, "0.0.0.0"), &l("127.0.0.1", None)),
            Expected::InUse
        );
        // 4: two specific addresses do not.
        assert_eq!(
            expect(&ask(Proto::Tcp, "10.9.0.1"), &l("127.0.0.1", None)),
            Expected::Ok
        );
        // 5, 6: [::] without v6only covers IPv4; with it, not.
        assert_eq!(
            expect(&ask(Proto::Tcp, "127.0.0.1"), &l("::", Some(false))),
            Expected::InUse
        );
        assert_eq!(
            expect(&ask(Proto::Tcp, "0.0.0.0"), &l("::", Some(true))),
            Expected::Ok
        );
        // 7: the new socket's v6only decides the other way round.
        let mut dual = ask(Proto::Tcp, "::");
        assert_eq!(expect(&dual, &l("0.0.0.0", None)), Expected::InUse);
        dual.v6only = true;
        assert_eq!(expect(&dual, &l("0.0.0.0", None)), Expected::Ok);
        // 8, 9: [::1] is not 127.0.0.1; a v4-mapped address is.
        assert_eq!(
            expect(&ask(Proto::Tcp, "127.0.0.1"), &l("::1", Some(false))),
            Expected::Ok
        );
        assert_eq!(
            expect(
                &ask(Proto::Tcp, "127.0.0.1"),
                &l("::ffff:127.0.0.1", Some(false))
            ),
            Expected::InUse
        );
    }

    #[test]
    fn reuse_rules() {
        // 11: bound, not listening: SO_REUSEADDR on both lets the bind through.
        let bound = vec![existing(
            sock(Proto::Tcp, "0.0.0.0", SockState::Bound, 1000, None),
            Some(true),
            Some(false),
        )];
        assert_eq!(expect(&ask(Proto::Tcp, "0.0.0.0"), &bound), Expected::InUse);
        let mut reuse = ask(Proto::Tcp, "0.0.0.0");
        reuse.reuseaddr = true;
        assert_eq!(expect(&reuse, &bound), Expected::Ok);
        // 14: TIME_WAIT with its SO_REUSEADDR unknown: it depends.
        let tw = vec![existing(
            sock(Proto::Tcp, "127.0.0.1", SockState::TimeWait, 0, None),
            None,
            None,
        )];
        assert_eq!(expect(&ask(Proto::Tcp, "127.0.0.1"), &tw), Expected::InUse);
        assert_eq!(expect(&reuse, &tw), Expected::MaybeInUse);
        // 13: SO_REUSEPORT groups are per uid.
        let rp = vec![existing(
            sock(Proto::Tcp, "0.0.0.0", SockState::Listen, 1000, None),
            Some(false),
            Some(true),
        )];
        let mut port = ask(Proto::Tcp, "0.0.0.0");
        port.reuseport = true;
        assert_eq!(expect(&port, &rp), Expected::Ok);
        port.uid = 65534;
        let prediction = predict(&port, &rp, &Setting::default());
        assert_eq!(prediction.expected(), Expected::InUse);
        assert!(prediction.blockers[0].other_uid);
        // 17: UDP reuse is symmetric, and protocols are separate.
        let udp = vec![existing(
            sock(Proto::Udp, "0.0.0.0", SockState::Unconn, 1000, None),
            Some(true),
            Some(false),
        )];
        let mut u = ask(Proto::Udp, "0.0.0.0");
        assert_eq!(expect(&u, &udp), Expected::InUse);
        u.reuseaddr = true;
        assert_eq!(expect(&u, &udp), Expected::Ok);
        assert_eq!(expect(&ask(Proto::Tcp, "0.0.0.0"), &udp), Expected::Ok);
    }

    #[test]
    fn privilege_and_address() {
        let setting = Setting {
            unprivileged_start: Some(1024),
            addresses: Some(vec!["10.0.0.2".parse().expect("address")]),
            nonlocal_bind: false,
            ephemeral: None,
            hooks: Vec::new(),
        };
        let mut low = ask(Proto::Tcp, "0.0.0.0");
        low.port = 80;
        assert_eq!(
            predict(&low, &[], &setting).expected(),
            Expected::NoPermission
        );
        low.privileged = true;
        assert_eq!(predict(&low, &[], &setting).expected(), Expected::Ok);
        let away = ask(Proto::Tcp, "192.0.2.7");
        assert_eq!(
            predict(&away, &[], &setting).expected(),
            Expected::NoAddress
        );
        let here = ask(Proto::Tcp, "10.0.0.2");
        assert_eq!(predict(&here, &[], &setting).expected(), Expected::Ok);
        let lo = ask(Proto::Tcp, "127.0.0.5");
        assert_eq!(predict(&lo, &[], &setting).expected(), Expected::Ok);
    }
}
