//! The bind verdict (root only): each case of the matrix this kernel can produce, with real
//! sockets in a private network namespace. portscope's verdict is compared with its own probe
//! (it must not disagree) and with what the test's own bind, made the way a server would make
//! it, got.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

use common::netns::{Netns, ip};
use common::{BIN, require_root};
use serde_json::Value;

const CASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/bind_case.py");

/// A case set up inside a namespace, kept until dropped.
struct Case {
    child: Child,
    stdin: Option<ChildStdin>,
    line: Value,
}

impl Case {
    fn start(ns: &Netns, args: &[&str]) -> Case {
        let mut argv = vec!["ip", "netns", "exec", &ns.name, "python3", CASE];
        argv.extend(args);
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run bind_case.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        assert!(!line.is_empty(), "bind_case.py {args:?} did not start");
        let stdin = child.stdin.take();
        Case {
            child,
            stdin,
            line: serde_json::from_str(&line).expect("JSON ready line"),
        }
    }

    fn pid(&self) -> u64 {
        self.line["pid"].as_u64().expect("pid")
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The test's own bind inside `ns`: "ok" or the errno's name.
fn try_bind(ns: &Netns, args: &[&str]) -> String {
    let mut argv = vec!["netns", "exec", &ns.name, "python3", CASE, "try"];
    argv.extend(args);
    let output = Command::new("ip")
        .args(&argv)
        .output()
        .expect("run bind_case.py try");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// `portscope PORT --netns NS ARGS --json`: the first bind entry of the answer, and the exit.
fn verdict(ns: &Netns, port: u16, args: &[&str]) -> (Value, i32) {
    let port = port.to_string();
    let mut argv = vec![port.as_str(), "--netns", &ns.name, "--json"];
    argv.extend(args);
    let output = Command::new(BIN)
        .args(&argv)
        .stdin(Stdio::null())
        .output()
        .expect("run portscope");
    let code = output.status.code().unwrap_or(-1);
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "portscope {argv:?}: {e}: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let bind = doc["query"][0]["bind"][0].clone();
    assert!(
        bind.is_object(),
        "portscope {argv:?} gave no bind verdict: {doc}"
    );
    assert_eq!(
        bind["disagrees"], false,
        "the probe and the tables disagree: {bind}"
    );
    (bind, code)
}

/// The same in words, for the remedies.
fn words(ns: &Netns, port: u16, args: &[&str]) -> String {
    let port = port.to_string();
    let mut argv = vec![port.as_str(), "--netns", &ns.name];
    argv.extend(args);
    let output = Command::new(BIN)
        .args(&argv)
        .output()
        .expect("run portscope");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn blocker_kinds(bind: &Value) -> Vec<String> {
    bind["blockers"]
        .as_array()
        .expect("blockers")
        .iter()
        .map(|b| b["kind"].as_str().expect("kind").to_string())
        .collect()
}

/// portscope's outcome and the test's own bind say the same thing.
fn agree(bind: &Value, own: &str) {
    let expected = match own {
        "ok" => "ok",
        "EADDRINUSE" => "in_use",
        "EACCES" => "no_permission",
        "EADDRNOTAVAIL" => "no_address",
        other => panic!("the test's own bind failed with {other}"),
    };
    assert_eq!(
        bind["outcome"], expected,
        "own bind: {own}; portscope: {bind}"
    );
}

#[test]
fn a_socket_bound_but_not_listening_blocks_and_is_named() {
    if !require_root("a_socket_bound_but_not_listening_blocks_and_is_named") {
        return;
    }
    let ns = Netns::new("bb");
    let case = Case::start(&ns, &["bound", "0.0.0.0", "7001"]);
    let (bind, code) = verdict(&ns, 7001, &[]);
    assert_eq!(code, 0, "a port a bind is refused is in use: {bind}");
    agree(&bind, &try_bind(&ns, &["tcp", "0.0.0.0", "7001"]));
    assert_eq!(blocker_kinds(&bind), ["bound_not_listening"]);
    assert_eq!(bind["blockers"][0]["pids"][0], case.pid());
    // ss -tl does not see it; portscope says what it is.
    let text = words(&ns, 7001, &[]);
    assert!(
        text.contains("bound but not listening, held by python3 (pid"),
        "{text}"
    );
    // SO_REUSEADDR on both lets a bind through.
    drop(case);
    let case = Case::start(&ns, &["bound", "0.0.0.0", "7002", "reuseaddr"]);
    let (bind, _) = verdict(&ns, 7002, &["--bind", "0.0.0.0", "--reuseaddr"]);
    agree(
        &bind,
        &try_bind(&ns, &["tcp", "0.0.0.0", "7002", "reuseaddr"]),
    );
    assert_eq!(bind["outcome"], "ok");
    drop(case);
}

#[test]
fn time_wait_blocks_until_both_sides_set_reuseaddr() {
    if !require_root("time_wait_blocks_until_both_sides_set_reuseaddr") {
        return;
    }
    let ns = Netns::new("tw");
    // The old server without SO_REUSEADDR: a new one is refused even with it.
    let _old = Case::start(&ns, &["timewait", "7010"]);
    let (bind, code) = verdict(&ns, 7010, &[]);
    assert_eq!(code, 0);
    agree(&bind, &try_bind(&ns, &["tcp", "::", "7010"]));
    assert_eq!(blocker_kinds(&bind), ["time_wait"]);
    // The JSON keeps what would help apart from the sentence about the socket.
    assert_eq!(
        bind["blockers"][0]["remedy"], "set SO_REUSEADDR on your listener",
        "{bind}"
    );
    assert!(
        bind["blockers"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("tcp TIME_WAIT 127.0.0.1:7010")),
        "{bind}"
    );
    let left = bind["blockers"][0]["seconds_left"]
        .as_u64()
        .expect("seconds left");
    assert!(
        (1..=61).contains(&left),
        "TIME_WAIT lasts about 60 s: {left}"
    );
    let text = words(&ns, 7010, &[]);
    assert!(
        text.contains("left by a server that closed first: set SO_REUSEADDR on your listener"),
        "{text}"
    );
    let (bind, _) = verdict(&ns, 7010, &["--bind", "127.0.0.1", "--reuseaddr"]);
    agree(
        &bind,
        &try_bind(&ns, &["tcp", "127.0.0.1", "7010", "reuseaddr"]),
    );
    assert_eq!(bind["outcome"], "in_use");
    // The old server with SO_REUSEADDR: a new one with it binds.
    let _old = Case::start(&ns, &["timewait", "7011", "reuseaddr"]);
    let (bind, _) = verdict(&ns, 7011, &["--bind", "127.0.0.1", "--reuseaddr"]);
    agree(
        &bind,
        &try_bind(&ns, &["tcp", "127.0.0.1", "7011", "reuseaddr"]),
    );
    assert_eq!(bind["outcome"], "ok");
    let (bind, _) = verdict(&ns, 7011, &["--bind", "127.0.0.1"]);
    assert_eq!(
        bind["outcome"], "in_use",
        "without SO_REUSEADDR it still blocks"
    );
}

#[test]
fn an_outgoing_connection_on_the_port_blocks_and_points_at_the_range() {
    if !require_root("an_outgoing_connection_on_the_port_blocks_and_points_at_the_range") {
        return;
    }
    let ns = Netns::new("og");
    let case = Case::start(&ns, &["outgoing", "41000"]);
    assert_eq!(
        case.line["extra"]["local"], 41000,
        "the client got the port"
    );
    let (bind, code) = verdict(&ns, 41000, &["--bind", "0.0.0.0", "--reuseaddr"]);
    assert_eq!(code, 0);
    agree(
        &bind,
        &try_bind(&ns, &["tcp", "0.0.0.0", "41000", "reuseaddr"]),
    );
    assert!(
        blocker_kinds(&bind).contains(&"connection".to_string()),
        "{bind}"
    );
    let text = words(&ns, 41000, &[]);
    assert!(text.contains("ip_local_reserved_ports"), "{text}");
    assert!(text.contains(&format!("pid {}", case.pid())), "{text}");
}

#[test]
fn a_kernel_socket_blocks_with_no_process() {
    if !require_root("a_kernel_socket_blocks_with_no_process") {
        return;
    }
    let ns = Netns::new("vx");
    ip(&[
        "-n",
        &ns.name,
        "link",
        "add",
        "vx0",
        "type",
        "vxlan",
        "id",
        "42",
        "dstport",
        "4789",
        "local",
        "127.0.0.1",
        "dev",
        "lo",
    ]);
    ip(&["-n", &ns.name, "link", "set", "vx0", "up"]);
    let (bind, code) = verdict(&ns, 4789, &["--udp", "--bind"]);
    assert_eq!(code, 0, "{bind}");
    agree(&bind, &try_bind(&ns, &["udp", "::", "4789"]));
    let text = words(&ns, 4789, &["--udp", "--bind"]);
    assert!(text.contains("VXLAN"), "{text}");
    // Where every process can be read (pid 1 cannot be on some VMs), it is the kernel's.
    let hidden = bind["blockers"][0]["message"]
        .as_str()
        .is_some_and(|r| r.contains("owner hidden"));
    match hidden {
        true => assert_eq!(blocker_kinds(&bind), ["udp_socket"], "{bind}"),
        false => {
            assert_eq!(blocker_kinds(&bind), ["kernel"], "{bind}");
            assert!(
                text.contains("held by the kernel, not by a process"),
                "{text}"
            );
        }
    }
}

#[test]
fn addresses_overlap_as_the_kernel_says() {
    if !require_root("addresses_overlap_as_the_kernel_says") {
        return;
    }
    let ns = Netns::new("ov");
    // [::] without IPV6_V6ONLY covers 0.0.0.0 and 127.0.0.1.
    let _dual = Case::start(&ns, &["listener", "::", "7020"]);
    for addr in ["0.0.0.0", "127.0.0.1"] {
        let (bind, code) = verdict(&ns, 7020, &["--bind", addr]);
        assert_eq!(code, 0);
        agree(&bind, &try_bind(&ns, &["tcp", addr, "7020"]));
        assert_eq!(bind["outcome"], "in_use");
    }
    let text = words(&ns, 7020, &["--bind", "0.0.0.0"]);
    assert!(text.contains("covers IPv4 as well"), "{text}");
    // With IPV6_V6ONLY it does not.
    let _v6 = Case::start(&ns, &["listener", "::", "7021", "v6only"]);
    let (bind, _) = verdict(&ns, 7021, &["--bind", "0.0.0.0"]);
    agree(&bind, &try_bind(&ns, &["tcp", "0.0.0.0", "7021"]));
    assert_eq!(bind["outcome"], "ok");
    // Two specific addresses do not overlap; a wildcard covers a specific one.
    let _lo = Case::start(&ns, &["listener", "127.0.0.1", "7022"]);
    let (bind, _) = verdict(&ns, 7022, &["--bind", "0.0.0.0"]);
    agree(&bind, &try_bind(&ns, &["tcp", "0.0.0.0", "7022"]));
    assert_eq!(bind["outcome"], "in_use");
    let (bind, _) = verdict(&ns, 7022, &["--bind", "::1"]);
    agree(&bind, &try_bind(&ns, &["tcp", "::1", "7022"]));
    assert_eq!(bind["outcome"], "ok");
}

#[test]
fn reuseport_groups_are_one_users() {
    if !require_root("reuseport_groups_are_one_users") {
        return;
    }
    let ns = Netns::new("rp");
    let _group = Case::start(
        &ns,
        &["listener", "0.0.0.0", "7030", "reuseport", "as=65534"],
    );
    // As root: both set SO_REUSEPORT, but the group is nobody's.
    let (bind, code) = verdict(&ns, 7030, &["--bind", "0.0.0.0", "--reuseport"]);
    assert_eq!(code, 0);
    agree(
        &bind,
        &try_bind(&ns, &["tcp", "0.0.0.0", "7030", "reuseport"]),
    );
    assert_eq!(bind["outcome"], "in_use");
    let text = words(&ns, 7030, &["--bind", "0.0.0.0", "--reuseport"]);
    assert!(text.contains("belongs to uid 65534"), "{text}");
    // As nobody it joins the group.
    let (bind, _) = verdict(
        &ns,
        7030,
        &["--bind", "0.0.0.0", "--reuseport", "--as", "65534"],
    );
    agree(
        &bind,
        &try_bind(&ns, &["tcp", "0.0.0.0", "7030", "reuseport", "as=65534"]),
    );
    assert_eq!(bind["outcome"], "ok");
}

#[test]
fn a_privileged_port_or_a_missing_address_is_refused_but_not_in_use() {
    if !require_root("a_privileged_port_or_a_missing_address_is_refused_but_not_in_use") {
        return;
    }
    let ns = Netns::new("pa");
    let (bind, code) = verdict(&ns, 80, &["--bind", "--as", "65534"]);
    assert_eq!(code, 1, "EACCES is not in use: {bind}");
    agree(&bind, &try_bind(&ns, &["tcp", "::", "80", "as=65534"]));
    let text = words(&ns, 80, &["--bind", "--as", "65534"]);
    assert!(
        text.contains("ip_unprivileged_port_start is 1024 here"),
        "{text}"
    );
    // Not in use, and never "would succeed" either.
    assert!(
        text.contains("listener), but this bind is refused") && !text.contains("would succeed"),
        "{text}"
    );
    // The namespace's own setting counts.
    ns.sh("sysctl -qw net.ipv4.ip_unprivileged_port_start=80");
    let (bind, _) = verdict(&ns, 80, &["--bind", "--as", "65534"]);
    agree(&bind, &try_bind(&ns, &["tcp", "::", "80", "as=65534"]));
    assert_eq!(bind["outcome"], "ok");
    let (bind, code) = verdict(&ns, 7040, &["--bind", "192.0.2.7"]);
    assert_eq!(code, 1, "{bind}");
    agree(&bind, &try_bind(&ns, &["tcp", "192.0.2.7", "7040"]));
    assert_eq!(bind["outcome"], "no_address");
}

/// A closed connection the kernel is still finishing has no process, but it is not a socket
/// the kernel made (it used to be called "held by the kernel … vxlan").
#[test]
fn a_closed_connection_still_finishing_is_not_a_kernel_socket() {
    if !require_root("a_closed_connection_still_finishing_is_not_a_kernel_socket") {
        return;
    }
    let ns = Netns::new("fw");
    let _case = Case::start(&ns, &["finwait", "7060"]);
    let (bind, code) = verdict(&ns, 7060, &["--bind", "127.0.0.1"]);
    agree(&bind, &try_bind(&ns, &["tcp", "127.0.0.1", "7060"]));
    assert_eq!(code, 0, "{bind}");
    assert_eq!(blocker_kinds(&bind), ["connection"], "{bind}");
    let text = words(&ns, 7060, &["--bind", "127.0.0.1"]);
    assert!(
        text.contains("FIN_WAIT2")
            && text.contains("a closed connection the kernel is still finishing")
            && !text.contains("held by the kernel"),
        "{text}"
    );
    // SO_REUSEADDR on the new socket lets it bind beside the orphan (the old one had it off
    // here, so only the kernel's probe can tell; portscope must agree with it).
    let (bind, _) = verdict(&ns, 7060, &["--bind", "127.0.0.1", "--reuseaddr"]);
    agree(
        &bind,
        &try_bind(&ns, &["tcp", "127.0.0.1", "7060", "reuseaddr"]),
    );
}

/// Run inside a namespace over every namespace, the bind is tried where portscope runs, and
/// that namespace, not the host's, is the one a failed bind makes "in use".
#[test]
fn the_bind_verdict_is_about_the_namespace_portscope_runs_in() {
    if !require_root("the_bind_verdict_is_about_the_namespace_portscope_runs_in") {
        return;
    }
    let ns = Netns::new("here");
    let _case = Case::start(&ns, &["bound", "0.0.0.0", "7070"]);
    let output = Command::new("ip")
        .args([
            "netns", "exec", &ns.name, BIN, "7070", "--netns", "all", "--json",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run portscope inside the namespace");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let doc: Value = serde_json::from_slice(&output.stdout).expect("a JSON document");
    let entry = &doc["query"][0];
    assert_eq!(entry["verdict"], "in_use", "{entry}");
    let verdict_of = |name: &str| {
        entry["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["verdict"].clone())
    };
    assert_eq!(verdict_of(&ns.name), Some(Value::from("in_use")), "{entry}");
    assert_eq!(verdict_of("host"), Some(Value::from("free")), "{entry}");
    let text = Command::new("ip")
        .args(["netns", "exec", &ns.name, BIN, "7070", "--netns", "all"])
        .stdin(Stdio::null())
        .output()
        .expect("run portscope inside the namespace");
    let text = String::from_utf8_lossy(&text.stdout);
    let host_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("the host namespace"))
        .unwrap_or_default();
    assert!(
        !host_line.contains("a bind fails"),
        "the host's namespace is not where the bind was tried:\n{text}"
    );
}

/// `--netns NAME` shows that namespace's own ephemeral range, and marks its ports by it.
#[test]
fn one_namespace_shows_its_own_ephemeral_range() {
    if !require_root("one_namespace_shows_its_own_ephemeral_range") {
        return;
    }
    let ns = Netns::new("eph");
    ns.sh("sysctl -qw net.ipv4.ip_local_port_range='40000 40100'");
    let _case = Case::start(&ns, &["listener", "0.0.0.0", "40050"]);
    let output = Command::new(BIN)
        .args(["--once", "--json", "--netns", &ns.name])
        .stdin(Stdio::null())
        .output()
        .expect("run portscope");
    let doc: Value = serde_json::from_slice(&output.stdout).expect("a JSON document");
    assert_eq!(doc["ephemeral_range"]["low"], 40000, "{doc}");
    assert_eq!(doc["ephemeral_range"]["high"], 40100, "{doc}");
    let socket = doc["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .find(|s| s["port"] == 40050)
        .cloned()
        .unwrap_or_default();
    assert_eq!(socket["ephemeral"], true, "{doc}");
}

/// `--kill` and the query give one verdict: a port a bind is refused on is in use, not
/// "free; nothing to stop", and the kill names what blocks it (exit 5, nothing signalled).
#[test]
fn kill_says_in_use_where_the_query_does() {
    if !require_root("kill_says_in_use_where_the_query_does") {
        return;
    }
    let ns = Netns::new("kl");
    let case = Case::start(&ns, &["bound", "0.0.0.0", "7080"]);
    let (_, code) = verdict(&ns, 7080, &[]);
    assert_eq!(code, 0, "the query says in use");
    let output = Command::new(BIN)
        .args(["7080", "--kill", "--yes", "--netns", &ns.name])
        .stdin(Stdio::null())
        .output()
        .expect("run portscope --kill");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(
        text.contains("in use, but not by a listener") && text.contains("bound but not listening"),
        "{text}"
    );
    assert!(!text.contains("free"), "{text}");
    assert!(
        std::path::Path::new(&format!("/proc/{}", case.pid())).exists(),
        "nothing was signalled"
    );
}

#[test]
fn udp_sockets_share_only_with_reuseaddr_on_both() {
    if !require_root("udp_sockets_share_only_with_reuseaddr_on_both") {
        return;
    }
    let ns = Netns::new("ud");
    let _plain = Case::start(&ns, &["udp", "0.0.0.0", "7050"]);
    let (bind, _) = verdict(&ns, 7050, &["--udp", "--bind"]);
    agree(&bind, &try_bind(&ns, &["udp", "::", "7050"]));
    assert_eq!(bind["outcome"], "in_use");
    let _shared = Case::start(&ns, &["udp", "0.0.0.0", "7051", "reuseaddr"]);
    let (bind, _) = verdict(&ns, 7051, &["--udp", "--bind", "0.0.0.0", "--reuseaddr"]);
    agree(
        &bind,
        &try_bind(&ns, &["udp", "0.0.0.0", "7051", "reuseaddr"]),
    );
    assert_eq!(bind["outcome"], "ok");
    // TCP is another port altogether.
    let (bind, _) = verdict(&ns, 7050, &["--tcp", "--bind", "0.0.0.0"]);
    assert_eq!(bind["outcome"], "ok");
}
