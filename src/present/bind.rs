//! The words of the bind verdict: what was asked, what happened, what stands in the way and
//! what would help.

use super::{Role, count};
use crate::bind::{
    BindAsk, BindReport, Blocker, BlockerKind, Certainty, Existing, Expected, Outcome, Probe,
};
use crate::model::{Proto, Snapshot, Socket, endpoint};

/// `tcp [::]:3000 (SO_REUSEADDR) as nobody`.
pub fn ask_words(report: &BindReport) -> String {
    let ask = &report.ask;
    let mut words = format!("{} {}", ask.proto.as_str(), endpoint(&ask.addr, ask.port));
    let options: Vec<&str> = [
        (ask.reuseaddr, "SO_REUSEADDR"),
        (ask.reuseport, "SO_REUSEPORT"),
        (ask.addr.is_ipv6() && ask.v6only, "IPV6_V6ONLY"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect();
    if !options.is_empty() {
        words.push_str(&format!(" ({})", options.join(", ")));
    }
    if let Some(user) = &report.user {
        words.push_str(&format!(" as {user}"));
    }
    words
}

fn tried(report: &BindReport) -> String {
    match &report.probe {
        Probe::NotTried(why) => format!(" (not tried: {why}; from the socket tables)"),
        Probe::Failed("listen", _) => " (tried: bind() succeeded, listen() failed)".to_string(),
        _ => " (tried)".to_string(),
    }
}

/// The verdict on one asked bind, and how it should look.
pub fn outcome_line(report: &BindReport) -> (String, Role) {
    let what = format!("a bind to {}", ask_words(report));
    let tried = tried(report);
    let ask = &report.ask;
    match report.outcome() {
        Outcome::Ok => (format!("{what} would succeed{tried}"), Role::Free),
        Outcome::InUse => (format!("{what} fails with EADDRINUSE{tried}"), Role::Warn),
        Outcome::NoPermission => {
            let start = report
                .setting
                .unprivileged_start
                .map(|s| format!("ip_unprivileged_port_start is {s} here"))
                .unwrap_or_else(|| "a privileged port".to_string());
            (
                format!(
                    "{what} is refused (EACCES){tried}: port {} needs root or CAP_NET_BIND_SERVICE; {start}",
                    ask.port
                ),
                Role::Warn,
            )
        }
        Outcome::NoAddress => {
            let listed = report
                .setting
                .addresses
                .as_ref()
                .is_some_and(|list| list.contains(&ask.addr));
            let why = match (listed, ask.addr.is_ipv6()) {
                (true, true) => format!(
                    "{} is on an interface but not usable yet: an IPv6 address is refused while duplicate address detection runs (wait, or configure it with nodad)",
                    ask.addr
                ),
                _ => format!(
                    "{} is not an address of this namespace's interfaces; IP_FREEBIND or net.ipv4.ip_nonlocal_bind=1 would allow it",
                    ask.addr
                ),
            };
            (
                format!("{what} is refused (EADDRNOTAVAIL){tried}: {why}"),
                Role::Warn,
            )
        }
        Outcome::Failed(code) => (
            format!("{what} fails with errno {code}{tried}"),
            Role::Error,
        ),
        Outcome::Unknown => (
            format!(
                "{what} may fail{tried}: it depends on socket options of another process that only root can read"
            ),
            Role::Warn,
        ),
    }
}

/// When the kernel's answer is not what the tables predicted, say so: the kernel is right.
pub fn disagreement(report: &BindReport) -> Option<String> {
    if !report.disagrees() {
        return None;
    }
    let expected = match report.prediction.expected() {
        Expected::Ok => "no conflict",
        Expected::InUse | Expected::MaybeInUse => "a conflict",
        Expected::NoPermission => "a missing privilege",
        Expected::NoAddress => "a missing address",
    };
    Some(format!(
        "the socket tables showed {expected}, but the kernel decided otherwise: something portscope cannot see is involved (a BPF or LSM bind hook, a socket of another namespace sharing the port)"
    ))
}

/// One line for a socket that stands in the way, with what would help.
pub fn blocker_line(report: &BindReport, blocker: &Blocker, existing: &Existing) -> String {
    let (what, remedy) = blocker_parts(report, blocker, existing);
    match remedy {
        Some(remedy) => format!("{what}: {remedy}"),
        None => what,
    }
}

/// A blocker in words, apart: the socket and why it is in the way, and what would help (the
/// JSON's `message` and `remedy`), when something would.
pub fn blocker_parts(
    report: &BindReport,
    blocker: &Blocker,
    existing: &Existing,
) -> (String, Option<String>) {
    let socket = &existing.socket;
    let place = socket_words(socket);
    let holders = holder_words(&report.snapshot, socket);
    let ask = &report.ask;
    // A socket with no file (TIME_WAIT, a closed connection still finishing) has options no
    // one can read; the others' root reads through their holder.
    let unless = match (blocker.certainty, socket.owner.pids().is_empty()) {
        (Certainty::Blocks, _) => "",
        (Certainty::Unless, true) => {
            " (unless the socket it came from set SO_REUSEADDR; with no file left, its options cannot be read)"
        }
        (Certainty::Unless, false) => {
            " (unless it set SO_REUSEADDR/SO_REUSEPORT; its options could not be read, which needs root)"
        }
    };
    let dual = match blocker.dual_stack {
        true => " ([::] without IPV6_V6ONLY covers IPv4 as well)",
        false => "",
    };
    let owned = |s: &str| Some(s.to_string());
    let (body, remedy): (String, Option<String>) = match blocker.kind {
        BlockerKind::Listener if blocker.other_uid => (
            format!(
                "listening{holders}: both set SO_REUSEPORT, but it belongs to uid {}, and a SO_REUSEPORT group is one user's",
                socket
                    .uid
                    .map_or_else(|| "?".to_string(), |u| u.to_string())
            ),
            None,
        ),
        BlockerKind::Listener => (format!("listening{holders}{dual}"), None),
        BlockerKind::BoundInactive => (
            format!("bound but not listening{holders}; ss -tl does not show it"),
            owned("it blocks binds until it is closed, or SO_REUSEADDR is set on both sockets"),
        ),
        BlockerKind::TimeWait => {
            let left = existing
                .expires_ms
                .map(|ms| format!(" for {} s more", ms.div_ceil(1000)))
                .unwrap_or_default();
            // A peer on an ephemeral port was a client: this end was its server. Otherwise
            // (a client that bound this port itself) say only which side closed.
            let from_client = socket.remote.is_some_and(|(_, port)| {
                report.setting.ephemeral.is_some_and(|r| r.contains(port))
            });
            let who = match from_client {
                true => "a server that closed first",
                false => "a connection this side closed first",
            };
            match ask.reuseaddr {
                false => (
                    format!("TIME_WAIT{left}, left by {who}"),
                    owned("set SO_REUSEADDR on your listener"),
                ),
                true => (
                    format!("TIME_WAIT{left}, left by {who}, without SO_REUSEADDR"),
                    owned("wait, or have both sockets set it"),
                ),
            }
        }
        BlockerKind::Connection
            if socket.state.is_orphan() && report.snapshot.holders(socket).next().is_none() =>
        {
            let left = existing
                .expires_ms
                .map(|ms| format!(" for {} s more", ms.div_ceil(1000)))
                .unwrap_or_else(|| " until net.ipv4.tcp_fin_timeout".to_string());
            (
                format!(
                    "a closed connection the kernel is still finishing ({}{left})",
                    socket.state.as_str()
                ),
                owned("set SO_REUSEADDR on your listener"),
            )
        }
        BlockerKind::Connection => {
            let range = report.setting.ephemeral.filter(|r| r.contains(ask.port));
            match range {
                Some(range) => (
                    format!(
                        "a connection{holders} was given {} as its local port: {} is inside this OS's ephemeral range {range}",
                        ask.port, ask.port
                    ),
                    owned(
                        "add it to net.ipv4.ip_local_reserved_ports, or move the service out of the range",
                    ),
                ),
                None => (
                    format!("a connection{holders} still uses it as its local port"),
                    owned(
                        "once it closes the port is free; SO_REUSEADDR on both sockets lets a server bind beside it",
                    ),
                ),
            }
        }
        BlockerKind::Udp => (
            format!("bound{holders}{dual}{}", tunnel_hint(socket)),
            owned("SO_REUSEADDR on both sockets would share it"),
        ),
        BlockerKind::Kernel => (
            format!(
                "held by the kernel, not by a process{}",
                kernel_hint(socket.proto, socket.port)
            ),
            None,
        ),
    };
    // The "unless" is about the socket, so it stays with it when there is no remedy to follow.
    match remedy {
        Some(remedy) => (
            format!("{place}: {body}"),
            Some(format!("{remedy}{unless}")),
        ),
        None => (format!("{place}: {body}{unless}"), None),
    }
}

/// `TIME_WAIT 127.0.0.1:3000 ↔ 127.0.0.1:51822`, `tcp 0.0.0.0:3000`.
fn socket_words(socket: &Socket) -> String {
    let mut words = format!(
        "{} {} {}",
        socket.proto.as_str(),
        socket.state.as_str(),
        socket.local_endpoint()
    );
    if let Some((addr, port)) = socket.remote {
        words.push_str(&format!(" ↔ {}", endpoint(&addr, port)));
    }
    words
}

/// ` (nginx, pid 400)`, ` (owner hidden: …)`, or nothing.
fn holder_words(snapshot: &Snapshot, socket: &Socket) -> String {
    let holders = snapshot.holders_lead_first(socket);
    if holders.is_empty() {
        return match &socket.owner {
            crate::model::Owner::Hidden(reason) => {
                format!(" (owner hidden: {})", reason.describe())
            }
            _ => String::new(),
        };
    }
    let names: Vec<String> = holders
        .iter()
        .take(3)
        .map(|p| format!("{} (pid {})", p.name, p.pid))
        .collect();
    let more = match holders.len() > 3 {
        true => format!(" and {}", count(holders.len() - 3, "other", "others")),
        false => String::new(),
    };
    format!(", held by {}{more}", names.join(", "))
}

/// A UDP socket whose holder cannot be seen, on a port kernel tunnels use, is probably the
/// kernel's.
fn tunnel_hint(socket: &Socket) -> &'static str {
    let hidden = matches!(socket.owner, crate::model::Owner::Hidden(_));
    match (hidden, socket.proto, socket.port) {
        (true, Proto::Udp, 4789 | 8472 | 6081 | 51820) => {
            " (on a port kernel tunnels use: if no process holds it, the kernel does: VXLAN 4789/8472, Geneve 6081, WireGuard 51820; see ip -d link)"
        }
        _ => "",
    }
}

/// What a kernel-held socket on this port usually is.
fn kernel_hint(proto: Proto, port: u16) -> &'static str {
    match (proto, port) {
        (Proto::Udp, 4789) => " (VXLAN's port: a vxlan device; see ip -d link)",
        (Proto::Udp, 8472) => {
            " (the Linux VXLAN default, flannel's: a vxlan device; see ip -d link)"
        }
        (Proto::Udp, 6081) => " (Geneve's port: a geneve device; see ip -d link)",
        (Proto::Udp, 51820) => " (WireGuard's usual port: see wg show)",
        (_, 2049) => " (NFS: nfsd)",
        _ => " (a vxlan, geneve or WireGuard device, nfsd or lockd; see ip -d link)",
    }
}

/// True when the ask is as the defaults make it (for the short form of the line).
pub fn is_default(ask: &BindAsk) -> bool {
    !ask.reuseaddr && !ask.reuseport
}
