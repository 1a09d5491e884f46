//! netstat2 as an independent oracle (issue 15). On Linux portscope reads sock_diag and /proc
//! itself; netstat2 reads the same kernel tables through code of its own. Inside the project's
//! namespace fixture (bench/fixture.py, plus a holder with the cases the fixture lacks), both
//! are asked for the listening sockets at the same moment (portscope's read between two of
//! netstat2's that agree) and must agree on each one: protocol, local address, port, inode and
//! the pids that hold it.
//!
//! What netstat2 does differently, and how the comparison allows for it:
//! - It dumps every state and has no state for UDP, so a connected UDP socket looks like a bound
//!   one. The holder's `udp-connected` socket (it names it itself) is taken out of netstat2's
//!   rows; every other UDP row must be a portscope listener.
//! - It gives one row per socket with every pid (from a hash set, in no order), and an empty
//!   list when it found no holder; pids are compared where netstat2 has them, and a guard
//!   checks that it had them for every row here, or the pid comparison would prove nothing.
#![cfg(target_os = "linux")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Holder, require_root};
use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, TcpState};
use portscope::collect::{Collector, Request};
use portscope::model::{Proto, Selection};
use serde_json::Value;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/fixture.py");

/// One listening socket as both sides are compared; the tables are keyed by inode.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    proto: &'static str,
    local: IpAddr,
    port: u16,
    /// Sorted; empty when the source named no holder.
    pids: Vec<u32>,
}

type Table = BTreeMap<u64, Row>;

impl Row {
    /// `tcp 127.0.0.1:80 (inode 1234)`: how a disagreement names the socket.
    fn name(&self, inode: u64) -> String {
        let endpoint = portscope::model::endpoint(&self.local, self.port);
        format!("{} {endpoint} (inode {inode})", self.proto)
    }
}

/// `bench/fixture.py --size small` in its own namespace, stopped (SIGTERM: it kills its holders
/// and deletes the namespace) on drop.
struct Fixture {
    netns: String,
    manifest: PathBuf,
    log: PathBuf,
    child: Child,
}

impl Fixture {
    fn start() -> Fixture {
        let netns = format!("psorc{}", std::process::id());
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let manifest = tmp.join(format!("{netns}.json"));
        let ready = tmp.join(format!("{netns}.ready"));
        let log = tmp.join(format!("{netns}.log"));
        let stderr = File::create(&log).expect("create the fixture's log");
        let child = Command::new("python3")
            .arg(FIXTURE)
            .args(["--netns", &netns, "--size", "small", "--hold", "600"])
            .arg("--manifest")
            .arg(&manifest)
            .arg("--ready-file")
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start bench/fixture.py");
        let mut fixture = Fixture {
            netns,
            manifest,
            log,
            child,
        };
        fixture.wait_ready();
        fixture
    }

    fn wait_ready(&mut self) {
        let stdout = self
            .child
            .stdout
            .take()
            .expect("the fixture's stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the fixture's ready line");
        assert!(
            line.starts_with("ready"),
            "bench/fixture.py did not start ({line:?}); its log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// The inodes of every socket the fixture's manifest says it holds.
    fn inodes(&self) -> BTreeSet<u64> {
        let text = std::fs::read_to_string(&self.manifest).expect("read the fixture's manifest");
        let manifest: Value = serde_json::from_str(&text).expect("the manifest is JSON");
        let processes = manifest["processes"].as_array().expect("processes");
        let sockets = processes.iter().flat_map(|p| {
            let tcp = p["tcp"].as_array().expect("tcp sockets").iter();
            tcp.chain(p["udp"].as_array().expect("udp sockets").iter())
        });
        sockets
            .map(|s| s["inode"].as_u64().expect("inode"))
            .collect()
    }

    fn prefix(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.netns]
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        // It did not stop in time: kill it; its holders exit when their lifeline closes.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// Runs `read` on a thread moved into the network namespace `netns` (setns affects only the
/// calling thread, so the test process and its other threads stay where they are). Netlink
/// sockets belong to the namespace of the thread that opens them; /proc/<pid>/fd does not
/// depend on it.
fn in_netns<T: Send>(netns: &str, read: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{netns}");
    let ns = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    thread::scope(|scope| {
        let reader = scope.spawn(move || {
            rustix::thread::move_into_link_name_space(
                ns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .unwrap_or_else(|e| panic!("setns into {path}: {e}"));
            read()
        });
        reader.join().expect("the reader thread")
    })
}

/// netstat2's listeners: TCP in LISTEN and every UDP row that is not one of `connected_udp`
/// (local address and port; netstat2 cannot tell a connected UDP socket from a bound one).
fn netstat2_listeners(connected_udp: &BTreeSet<(IpAddr, u16)>) -> Table {
    let families = AddressFamilyFlags::IPV4 | AddressFamilyFlags::IPV6;
    let protocols = ProtocolFlags::TCP | ProtocolFlags::UDP;
    let rows = netstat2::get_sockets_info(families, protocols).expect("netstat2 get_sockets_info");
    let mut table = Table::new();
    for info in rows {
        let (proto, listening) = match &info.protocol_socket_info {
            ProtocolSocketInfo::Tcp(tcp) => ("tcp", tcp.state == TcpState::Listen),
            ProtocolSocketInfo::Udp(udp) => (
                "udp",
                !connected_udp.contains(&(udp.local_addr, udp.local_port)),
            ),
        };
        if !listening {
            continue;
        }
        let mut pids = info.associated_pids.clone();
        pids.sort_unstable();
        let row = Row {
            proto,
            local: info.local_addr(),
            port: info.local_port(),
            pids,
        };
        let inode = u64::from(info.inode);
        let earlier = table.insert(inode, row.clone());
        assert!(
            earlier.is_none(),
            "netstat2 lists {} twice",
            row.name(inode)
        );
    }
    table
}

/// portscope's listeners through the library's own collector.
fn portscope_listeners() -> Table {
    let request = Request {
        selection: Selection::LISTENERS,
        connections: false,
    };
    let snapshot = Collector::new()
        .collect(&request, &|_| true)
        .expect("portscope collects");
    assert!(
        snapshot.table_errors.is_empty() && snapshot.warnings.is_empty(),
        "portscope: {:?} {:?}",
        snapshot.table_errors,
        snapshot.warnings
    );
    let mut table = Table::new();
    for socket in snapshot.sockets {
        let proto = match socket.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        let row = Row {
            proto,
            local: socket.local_addr,
            port: socket.port,
            pids: socket.owner.pids().to_vec(),
        };
        let earlier = table.insert(socket.inode, row.clone());
        assert!(
            earlier.is_none(),
            "portscope lists {} twice",
            row.name(socket.inode)
        );
    }
    table
}

/// Both tables of one moment: portscope's read between two of netstat2's that agree, so a
/// process that came or went meanwhile (nothing in the fixture should) is never taken for a
/// disagreement.
fn same_moment(connected_udp: &BTreeSet<(IpAddr, u16)>) -> (Table, Table) {
    for _ in 0..3 {
        let before = netstat2_listeners(connected_udp);
        let portscope = portscope_listeners();
        if netstat2_listeners(connected_udp) == before {
            return (before, portscope);
        }
    }
    panic!("the fixture's listeners kept changing over three tries");
}

/// Every way the two tables disagree, one line per socket, naming it.
fn disagreements(netstat2: &Table, portscope: &Table) -> Vec<String> {
    let mut lines = Vec::new();
    for (inode, theirs) in netstat2 {
        let name = theirs.name(*inode);
        match portscope.get(inode) {
            None => lines.push(format!("{name}: netstat2 lists it, portscope does not")),
            Some(ours)
                if (ours.proto, ours.local, ours.port)
                    != (theirs.proto, theirs.local, theirs.port) =>
            {
                lines.push(format!("{name}: portscope has it as {}", ours.name(*inode)));
            }
            Some(ours) if !theirs.pids.is_empty() && ours.pids != theirs.pids => {
                lines.push(format!(
                    "{name}: held by {:?} says netstat2, by {:?} says portscope",
                    theirs.pids, ours.pids
                ))
            }
            Some(_) => {}
        }
    }
    for (inode, ours) in portscope.iter().filter(|(i, _)| !netstat2.contains_key(i)) {
        lines.push(format!(
            "{}: portscope lists it, netstat2 does not",
            ours.name(*inode)
        ));
    }
    lines
}

#[test]
fn netstat2_and_portscope_agree_on_every_listener_of_the_fixture() {
    let test = "netstat2_and_portscope_agree_on_every_listener_of_the_fixture";
    if !require_root(test) {
        return;
    }
    let fixture = Fixture::start();
    // What the fixture lacks: a connected UDP socket (netstat2's blind spot), a socket shared
    // with a child, two SO_REUSEPORT sockets on one port, and IPv6 of both protocols.
    let items = [
        "udp-connected",
        "shared-child",
        "reuseport-pair",
        "tcp6",
        "udp6",
    ];
    let holder = Holder::spawn_with(&fixture.prefix(), &items, None);
    let connected: BTreeSet<(IpAddr, u16)> = holder
        .sockets
        .iter()
        .filter(|s| !s.listening)
        .map(|s| (s.addr.parse().expect("holder address"), s.port))
        .collect();
    assert_eq!(connected.len(), 1, "the holder's connected UDP socket");

    let (netstat2, portscope) = in_netns(&fixture.netns, || same_moment(&connected));

    // The oracle must see what the fixture built, or agreeing would prove nothing.
    let listening = holder.sockets.iter().filter(|s| s.listening).count();
    let expected = fixture.inodes();
    let missing: Vec<&u64> = expected
        .iter()
        .filter(|i| !netstat2.contains_key(i))
        .collect();
    assert!(
        missing.is_empty(),
        "netstat2 misses the fixture's inodes {missing:?}"
    );
    assert_eq!(
        netstat2.len(),
        expected.len() + listening,
        "netstat2's listeners"
    );
    let unheld: Vec<String> = netstat2
        .iter()
        .filter(|(_, row)| row.pids.is_empty())
        .map(|(inode, row)| row.name(*inode))
        .collect();
    assert!(
        unheld.is_empty(),
        "netstat2 names no holder of {unheld:?}: as root it must"
    );

    let lines = disagreements(&netstat2, &portscope);
    assert!(
        lines.is_empty(),
        "netstat2 and portscope disagree:\n{}",
        lines.join("\n")
    );

    // And the comparison itself catches what it is for: a lost socket and a lost holder.
    let (lost, lost_holder) = lose_a_socket_and_a_holder(portscope);
    let lines = disagreements(&netstat2, &lost_holder);
    assert!(
        lines.iter().any(|l| l.contains(&lost.0)),
        "a lost socket: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains(&lost.1)),
        "a lost holder: {lines:?}"
    );
}

/// portscope's table with its first UDP listener removed and one holder of the first shared
/// socket dropped; returns the names of both sockets and the table.
fn lose_a_socket_and_a_holder(mut table: Table) -> ((String, String), Table) {
    let (udp, _) = table
        .iter()
        .find(|(_, r)| r.proto == "udp")
        .map(|(i, r)| (*i, r.clone()))
        .expect("a UDP listener");
    let gone = table.remove(&udp).expect("present").name(udp);
    let (shared, row) = table
        .iter_mut()
        .find(|(_, r)| r.pids.len() > 1)
        .expect("a socket with two holders");
    row.pids.pop();
    let thinned = row.name(*shared);
    ((gone, thinned), table)
}
