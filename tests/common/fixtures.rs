//! The fixed host the golden reports and the live view's render tests are drawn from, built
//! once here so both test the same picture.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use portscope::model::{
    Connections, Family, HiddenReason, NoneReason, Owner, PortRange, Process, Proto, SafeText,
    Snapshot, SockState, Socket, Visibility,
};

/// The fixed host's clock: 2026-11-18T… (every age is measured from here).
pub const T0: u64 = 1_795_000_000;

/// The process name any local user could set: escape sequence, C1 CSI, bidi override.
pub const HOSTILE: &str = "evil\u{1b}[31m\u{9b}2J\u{202e}txt";

pub fn addr(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

pub fn socket(
    proto: Proto,
    local: &str,
    port: u16,
    state: SockState,
    inode: u64,
    uid: u32,
    owner: Owner,
) -> Socket {
    let local_addr = addr(local);
    Socket {
        proto,
        family: Family::of(&local_addr),
        local_addr,
        port,
        remote: None,
        state,
        inode,
        uid: Some(uid),
        v6only: local_addr.is_ipv6().then_some(false),
        netns: 0,
        owner,
    }
}

pub fn process(pid: u32, name: &str, cmdline: &[&str], user: (u32, &str), ppid: u32) -> Process {
    Process {
        pid,
        start_ticks: 1_000 + u64::from(pid),
        name: SafeText::new(name),
        comm: SafeText::new(&name.chars().take(15).collect::<String>()),
        cmdline: cmdline.iter().map(|a| SafeText::new(a)).collect(),
        cmdline_cut: None,
        exe: Some(SafeText::new(&format!("/usr/bin/{name}"))),
        cwd: Some(SafeText::new("/")),
        uid: Some(user.0),
        user: Some(SafeText::new(user.1)),
        ppid: Some(ppid),
        parent_name: Some(SafeText::new(if ppid == 1 { "systemd" } else { "parent" })),
        start_time: Some(T0 - 3_600 - u64::from(pid)),
        container: None,
        unit: None,
    }
}

pub fn listen(proto: Proto, local: &str, port: u16, inode: u64, uid: u32, owner: Owner) -> Socket {
    let state = match proto {
        Proto::Tcp => SockState::Listen,
        Proto::Udp => SockState::Unconn,
    };
    socket(proto, local, port, state, inode, uid, owner)
}

fn known(pids: &[u32]) -> Owner {
    Owner::Known(pids.to_vec())
}

/// Eleven listeners over the three ranges (one shared by three nginx processes, one with a
/// hidden owner, one held by nobody, one with a hostile name) and one established connection
/// that only `--all` / `a` shows. In the registered range each sort key gives a different
/// order:
///
/// | port | process      | pid  | user  |
/// |------|--------------|------|-------|
/// | 3000 | node         | 5000 | dev   |
/// | 5353 | avahi-daemon | 700  | avahi |
/// | 5432 | (hidden)     | ?    | alice |
/// | 8080 | python3      | 2500 | bob   |
pub fn fixed_host() -> Snapshot {
    let mut established = socket(
        Proto::Tcp,
        "192.0.2.10",
        22,
        SockState::Established,
        30,
        0,
        known(&[901]),
    );
    established.remote = Some((addr("198.51.100.7"), 50123));
    let sockets = vec![
        listen(Proto::Udp, "127.0.0.53", 53, 11, 991, known(&[310])),
        listen(Proto::Tcp, "0.0.0.0", 80, 12, 0, known(&[400, 401, 402])),
        listen(Proto::Tcp, "0.0.0.0", 22, 10, 0, known(&[900])),
        established,
        listen(Proto::Tcp, "::", 3000, 13, 1000, known(&[5000])),
        listen(
            Proto::Tcp,
            "127.0.0.1",
            5432,
            14,
            1001,
            Owner::Hidden(HiddenReason::NotRoot),
        ),
        listen(Proto::Tcp, "192.0.2.10", 8080, 15, 1002, known(&[2500])),
        listen(Proto::Udp, "0.0.0.0", 5353, 17, 107, known(&[700])),
        listen(
            Proto::Udp,
            "0.0.0.0",
            51820,
            16,
            0,
            Owner::None(NoneReason::NoHolder),
        ),
        listen(Proto::Tcp, "127.0.0.1", 52000, 18, 1000, known(&[1200])),
        listen(Proto::Tcp, "0.0.0.0", 55555, 19, 1002, known(&[6000])),
    ];
    let processes = [
        process(
            310,
            "systemd-resolved",
            &["/lib/systemd/systemd-resolved"],
            (991, "systemd-resolve"),
            1,
        ),
        process(
            400,
            "nginx",
            &["nginx: master process /usr/sbin/nginx"],
            (0, "root"),
            1,
        ),
        process(
            401,
            "nginx",
            &["nginx: worker process"],
            (33, "www-data"),
            400,
        ),
        process(
            402,
            "nginx",
            &["nginx: worker process"],
            (33, "www-data"),
            400,
        ),
        process(
            700,
            "avahi-daemon",
            &["avahi-daemon: running"],
            (107, "avahi"),
            1,
        ),
        process(900, "sshd", &["/usr/sbin/sshd", "-D"], (0, "root"), 1),
        process(901, "sshd", &["sshd: dev@pts/0"], (0, "root"), 900),
        process(
            1200,
            "code",
            &["/usr/bin/code", "--listen"],
            (1000, "dev"),
            1,
        ),
        process(
            2500,
            "python3",
            &["/usr/bin/python3", "-m", "http.server", "8080"],
            (1002, "bob"),
            1,
        ),
        process(
            5000,
            "node",
            &["node", "server.js", "--port", "3000"],
            (1000, "dev"),
            4999,
        ),
        process(6000, HOSTILE, &[HOSTILE, "--arg\r"], (1002, "bob"), 1),
    ];
    let users = BTreeMap::from([
        (0, SafeText::new("root")),
        (33, SafeText::new("www-data")),
        (107, SafeText::new("avahi")),
        (991, SafeText::new("systemd-resolve")),
        (1000, SafeText::new("dev")),
        (1001, SafeText::new("alice")),
        (1002, SafeText::new("bob")),
    ]);
    let peers = |list: &[(&str, u16)]| list.iter().map(|&(a, p)| (addr(a), p)).collect();
    let connections = BTreeMap::from([
        (
            12,
            Connections {
                count: 5,
                peers: peers(&[
                    ("198.51.100.20", 40001),
                    ("2001:db8::7", 40002),
                    ("203.0.113.9", 40003),
                ]),
            },
        ),
        (
            10,
            Connections {
                count: 1,
                peers: peers(&[("198.51.100.7", 50123)]),
            },
        ),
    ]);
    let fds = holder_fds(&sockets);
    Snapshot {
        taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(T0),
        host: SafeText::new("testhost"),
        fds,
        sockets,
        processes: processes.into_iter().map(|p| (p.pid, p)).collect(),
        users,
        connections,
        ephemeral: Some(PortRange {
            low: 32768,
            high: 60999,
        }),
        visibility: Visibility {
            unreadable_pids: vec![],
            ..Visibility::default()
        },
        table_errors: vec![],
        namespaces: BTreeMap::new(),
        published: vec![],
        related: vec![],
        warnings: vec![],
    }
}

/// Each holder holds its socket at fd 3 + inode % 4; the nginx master (400) holds port 80 twice
/// (fds 6 and 9, as after a dup), as a reloaded master does.
fn holder_fds(sockets: &[Socket]) -> BTreeMap<(u64, u32), Vec<u32>> {
    let mut fds: BTreeMap<(u64, u32), Vec<u32>> = sockets
        .iter()
        .flat_map(|s| s.owner.pids().iter().map(move |&pid| (s.inode, pid)))
        .map(|(inode, pid)| ((inode, pid), vec![3 + (inode % 4) as u32]))
        .collect();
    fds.insert((12, 400), vec![6, 9]);
    fds
}

/// The fixed host without its hidden-owner socket (so the header has no summary line).
pub fn without_hidden() -> Snapshot {
    let mut snapshot = fixed_host();
    snapshot
        .sockets
        .retain(|s| !matches!(s.owner, Owner::Hidden(_)));
    snapshot
}
