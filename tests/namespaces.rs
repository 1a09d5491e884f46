//! Every network namespace (root only): namespaces made with `ip netns`, kept alive only by a
//! socket, a thread or an open fd, a port published by the real `docker-proxy`, and a real
//! podman container. portscope runs as a user would run it, without `--netns` (every
//! namespace, since the tests run in the host's), and is checked against `ss` run inside.
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::netns::Netns;
use common::ready::Ready;
use common::{BIN, Holder, as_u16, as_u32, require_root, skip, socket_list};
use serde_json::Value;

const KEEPER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/netns_keeper.py");
const PUBLISHED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/published_port.py"
);
const PODMAN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/podman_container.py"
);

/// A port outside the OS ephemeral range, so it never collides with the `free_port()` of the
/// tests running beside these (those come from the ephemeral range).
fn netns_port(salt: u16) -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mix = (std::process::id() ^ nanos) as u16;
    20_000 + (mix.wrapping_add(salt.wrapping_mul(97))) % 10_000
}

/// portscope as a user types it: no `--netns`, so every namespace.
fn portscope(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .output()
        .expect("run portscope")
}

fn json(args: &[&str], code: i32) -> Value {
    let output = portscope(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    serde_json::from_slice(&output.stdout).expect("portscope prints JSON")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The sockets of `doc` on `port`.
fn on_port(doc: &Value, port: u16) -> Vec<&Value> {
    socket_list(doc)
        .iter()
        .filter(|s| as_u16(&s["port"]) == port)
        .collect()
}

fn pids(socket: &Value) -> Vec<u32> {
    let mut pids: Vec<u32> = socket["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .map(|p| as_u32(&p["pid"]))
        .collect();
    pids.sort_unstable();
    pids
}

/// `(proto, port, pids)` of every listener `ss` sees inside `ns`.
fn ss_inside(ns: &str) -> BTreeSet<(String, u16, Vec<u32>)> {
    let output = Command::new("ip")
        .args(["netns", "exec", ns, "ss", "-tulpnH"])
        .output()
        .expect("run ss (iproute2)");
    assert!(output.status.success(), "ss in {ns}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let proto = fields.first()?.to_string();
            let port = fields.get(4)?.rsplit(':').next()?.parse().ok()?;
            let mut pids: Vec<u32> = line
                .split("pid=")
                .skip(1)
                .filter_map(|rest| rest.split(',').next()?.parse().ok())
                .collect();
            pids.sort_unstable();
            pids.dedup();
            Some((proto, port, pids))
        })
        .collect()
}

/// The same listeners as portscope's JSON names them in namespace `name`.
fn portscope_inside(doc: &Value, name: &str) -> BTreeSet<(String, u16, Vec<u32>)> {
    socket_list(doc)
        .iter()
        .filter(|s| s["netns"]["name"] == name)
        .map(|s| {
            let proto = s["proto"].as_str().expect("proto").to_string();
            (proto, as_u16(&s["port"]), pids(s))
        })
        .collect()
}

#[test]
fn every_namespace_by_default_named_and_as_ss_sees_it_inside() {
    if !require_root("every_namespace_by_default_named_and_as_ss_sees_it_inside") {
        return;
    }
    let a = Netns::new("na");
    let b = Netns::new("nb");
    let port = netns_port(1);
    let p = port.to_string();
    let in_a = Holder::spawn_with(
        &a.prefix(),
        &[
            "--name", "psTnsA", "--addr", "0.0.0.0", "--port", &p, "tcp4", "--addr", "::",
            "--port", &p, "udp6",
        ],
        None,
    );
    let in_b = Holder::spawn_with(
        &b.prefix(),
        &[
            "--name",
            "psTnsB",
            "--addr",
            "0.0.0.0",
            "--port",
            &p,
            "shared-child",
        ],
        None,
    );

    let doc = json(&["--once", "--json"], 0);
    for (ns, holder) in [(&a, &in_a), (&b, &in_b)] {
        let mine = portscope_inside(&doc, &ns.name);
        assert_eq!(
            mine,
            ss_inside(&ns.name),
            "{} as ss sees it inside",
            ns.name
        );
        let socket = on_port(&doc, port)
            .into_iter()
            .find(|s| s["netns"]["name"] == ns.name.as_str())
            .unwrap_or_else(|| panic!("port {port} in {}: {doc}", ns.name));
        assert_eq!(socket["netns"]["kind"], "named");
        assert_eq!(pids(socket), holder.all_pids());
        assert!(socket["netns"]["inode"].as_u64().is_some_and(|i| i > 0));
    }
    let listed: Vec<&Value> = doc["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .collect();
    assert!(listed.iter().any(|n| n["kind"] == "host"), "{doc}");
    let named_a = listed
        .iter()
        .find(|n| n["name"] == a.name.as_str())
        .expect("namespace a is listed");
    assert_eq!(named_a["paths"][0], format!("/run/netns/{}", a.name));

    // The table says which namespace each row is in.
    let output = portscope(&["--once"]);
    let table = text(&output);
    assert!(table.starts_with("NETNS"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&a.name) && l.contains(&format!(":{port}"))),
        "{table}"
    );

    // The port query answers per namespace: free here, held there, exit 0.
    let output = portscope(&[&p]);
    assert_eq!(output.status.code(), Some(0));
    let answer = text(&output);
    assert!(answer.contains("in use in 2 of"), "{answer}");
    assert!(
        answer
            .lines()
            .any(|l| l.contains("the host namespace")
                && l.contains("free (a bind here would succeed)")),
        "{answer}"
    );
    let line_a = format!("netns {}", a.name);
    assert!(
        answer
            .lines()
            .any(|l| l.contains(&line_a) && l.contains(&format!("psTnsA (pid {})", in_a.pid))),
        "{answer}"
    );
    let doc = json(&[&p, "--json"], 0);
    let places = doc["query"][0]["namespaces"].as_array().expect("places");
    let place = |name: &str| {
        places
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {places:?}"))
    };
    assert_eq!(place("host")["verdict"], "free");
    assert_eq!(place(&a.name)["verdict"], "held");
    assert_eq!(place(&b.name)["pids"].as_array().map(Vec::len), Some(2));

    // --netns picks one; the host's alone does not have it.
    let doc = json(&["--once", "--json", "--netns", &a.name], 0);
    assert!(
        socket_list(&doc)
            .iter()
            .all(|s| s["netns"]["name"] == a.name.as_str())
    );
    assert_eq!(
        on_port(&doc, port).len(),
        2,
        "tcp and udp in {}: {doc}",
        a.name
    );
    let output = portscope(&[&p, "--netns", "host"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));

    // An unknown name is one line, exit 2.
    let output = portscope(&["--once", "--netns", "psT-no-such-netns"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no network namespace named"), "{stderr}");
}

#[test]
fn namespaces_only_a_socket_a_thread_or_an_fd_keeps_are_found() {
    if !require_root("namespaces_only_a_socket_a_thread_or_an_fd_keeps_are_found") {
        return;
    }
    let mut keepers = Vec::new();
    for (i, mode) in ["socket", "thread", "fd"].into_iter().enumerate() {
        let ns = Netns::new(&format!("k{mode}"));
        let port = netns_port(10 + i as u16).to_string();
        // The keeper deletes the name: the namespace then lives only through it.
        let keeper = Ready::start(&["python3", KEEPER, mode, &ns.name, &port])
            .unwrap_or_else(|why| panic!("netns_keeper: {why}"));
        std::mem::forget(ns);
        keepers.push(keeper);
    }
    let listed = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let names = String::from_utf8_lossy(&listed.stdout).into_owned();
    let doc = json(&["--once", "--json"], 0);
    let namespaces = doc["namespaces"].as_array().expect("namespaces");
    for keeper in &keepers {
        let mode = keeper.line["mode"].as_str().expect("mode");
        let inode = keeper.line["netns_inode"].as_u64().expect("inode");
        let pid = as_u32(&keeper.line["pid"]);
        let found = namespaces
            .iter()
            .find(|n| n["inode"].as_u64() == Some(inode))
            .unwrap_or_else(|| panic!("{mode}: net:[{inode}] not found: {namespaces:?}"));
        let by = match mode {
            "socket" => "socket",
            "thread" => "thread",
            _ => "fd",
        };
        let found_by: Vec<&str> = found["found_by"]
            .as_array()
            .expect("found_by")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(found_by.contains(&by), "{mode}: {found}");
        assert!(
            !names.contains(&inode.to_string()),
            "ip netns does not list it"
        );
        if mode == "fd" {
            continue;
        }
        let port = as_u16(&keeper.line["port"]);
        let socket = on_port(&doc, port)
            .into_iter()
            .find(|s| s["netns"]["inode"].as_u64() == Some(inode))
            .unwrap_or_else(|| panic!("{mode}: the listener on {port}: {doc}"));
        assert_eq!(pids(socket), vec![pid], "{mode}");
        assert_eq!(socket["netns"]["kind"], "anonymous");
    }
}

/// The real docker-proxy between two namespaces: the host side's port leads to the listener
/// inside, or says plainly that nothing (or only loopback) takes it.
#[test]
fn a_published_port_is_seen_through_to_its_listener() {
    if !require_root("a_published_port_is_seen_through_to_its_listener") {
        return;
    }
    let cases: [(&str, &[&str], &str); 3] = [
        ("listening", &[], "listening"),
        ("nothing", &["--no-listener"], "nothing_listens"),
        ("loopback", &["--listen-addr", "127.0.0.1"], "loopback_only"),
    ];
    for (tag, extra, reach) in cases {
        let prefix = format!("psT{}{tag}", std::process::id() % 10_000);
        let mut argv = vec!["python3", PUBLISHED, "--prefix", &prefix];
        argv.extend(extra);
        let published = match Ready::start(&argv) {
            Ok(ready) => ready,
            Err(why) => return skip("a_published_port_is_seen_through_to_its_listener", &why),
        };
        let line = &published.line;
        let host_port = as_u16(&line["host_port"]).to_string();
        let proxy = as_u32(&line["proxy_pid"]);
        let doc = json(&[&host_port, "--json"], 0);
        let front = socket_list(&doc)
            .iter()
            .find(|s| pids(s) == vec![proxy])
            .unwrap_or_else(|| panic!("{tag}: the proxy's socket: {doc}"));
        let publication = &front["published"];
        assert_eq!(publication["forwarder"], "docker-proxy", "{tag}: {front}");
        assert_eq!(publication["reach"], reach, "{tag}: {front}");
        assert_eq!(publication["target_addr"], line["container_ip"]);
        // An `ip netns` namespace is not a container: no container name is made up for it.
        assert_eq!(publication["container"], Value::Null, "{tag}: {front}");
        let inside_ns = line["container_netns"].as_str().expect("container netns");
        let output = portscope(&[&host_port]);
        let answer = text(&output);
        let into = format!(
            "published by docker-proxy → netns {inside_ns} {}:{}",
            line["container_ip"].as_str().expect("ip"),
            line["container_port"]
        );
        assert!(answer.contains(&into), "{tag}: {answer}");
        match reach {
            "listening" => {
                let listener = as_u32(&line["listener_pid"]);
                assert_eq!(publication["inside"][0]["pids"][0], listener, "{front}");
                assert!(answer.contains(&format!("(pid {listener})")), "{answer}");
            }
            "nothing_listens" => assert!(answer.contains("nothing listens there inside")),
            _ => assert!(answer.contains("listens only on 127.0.0.1:"), "{answer}"),
        }
        if tag != "listening" {
            continue;
        }
        // --kill never signals the forwarder.
        let host_ns = line["host_netns"].as_str().expect("host netns");
        let output = portscope(&[&host_port, "--kill", "--yes", "--netns", host_ns]);
        assert_eq!(output.status.code(), Some(5), "{}", text(&output));
        let said = text(&output);
        assert!(
            said.contains("it is docker-proxy, forwarding a published port"),
            "{said}"
        );
        assert!(
            std::path::Path::new(&format!("/proc/{proxy}")).exists(),
            "docker-proxy still runs"
        );
    }
}

/// A port held in two namespaces is two ports: `--kill` asks which, then stops only that one.
#[test]
fn kill_asks_which_namespace_when_a_port_is_held_in_two() {
    if !require_root("kill_asks_which_namespace_when_a_port_is_held_in_two") {
        return;
    }
    let a = Netns::new("ka");
    let b = Netns::new("kb");
    let p = netns_port(20).to_string();
    let args = [
        "--name", "psTkill", "--addr", "0.0.0.0", "--port", &p, "tcp4",
    ];
    let in_a = Holder::spawn_with(&a.prefix(), &args, None);
    let in_b = Holder::spawn_with(&b.prefix(), &args, None);
    let alive = |pid: u32| std::path::Path::new(&format!("/proc/{pid}")).exists();

    let output = portscope(&[&p, "--kill", "--yes"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("held in 2 network namespaces"), "{stderr}");
    assert!(stderr.contains("--netns"), "{stderr}");
    assert!(alive(in_a.pid) && alive(in_b.pid), "nothing was signalled");

    let output = portscope(&[&p, "--kill", "--yes", "--netns", &a.name]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(in_a.pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !alive(in_a.pid) || is_zombie(in_a.pid),
        "the holder in {} was stopped",
        a.name
    );
    assert!(alive(in_b.pid), "the holder in {} was left alone", b.name);
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

/// Without root, the other namespaces come from /proc/PID/net of a process inside: the socket
/// is shown, its owner honestly hidden.
#[test]
fn without_root_other_namespaces_are_read_from_proc_net() {
    if !require_root("without_root_other_namespaces_are_read_from_proc_net") {
        return;
    }
    let a = Netns::new("nr");
    let p = netns_port(30);
    let port = p.to_string();
    let holder = Holder::spawn_with(
        &a.prefix(),
        &[
            "--name", "psTnr", "--addr", "0.0.0.0", "--port", &port, "tcp4",
        ],
        None,
    );
    let output = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "--once",
            "--json",
        ])
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let socket = on_port(&doc, p)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("the listener of pid {} in {}: {doc}", holder.pid, a.name));
    assert_eq!(socket["owner"], "hidden", "{socket}");
    assert_ne!(socket["netns"]["kind"], "host", "{socket}");
}

/// A real podman container: conmon holds the published host port, the container's namespace
/// is named after the container, and its listener is found inside.
#[test]
fn a_podman_container_is_named_and_its_port_seen_through() {
    if !require_root("a_podman_container_is_named_and_its_port_seen_through") {
        return;
    }
    let name = format!("psT{}web", std::process::id());
    let host_port = netns_port(40).to_string();
    let container = match Ready::start(&[
        "python3",
        PODMAN,
        "--name",
        &name,
        "--host-ip",
        "127.0.0.1",
        "--host-port",
        &host_port,
    ]) {
        Ok(ready) => ready,
        Err(why) => {
            return skip(
                "a_podman_container_is_named_and_its_port_seen_through",
                &why,
            );
        }
    };
    let line = &container.line;
    let inside_pid = as_u32(&line["pid"]);
    let conmon = as_u32(&line["conmon_pid"]);

    let doc = json(&["--once", "--json"], 0);
    let inside = socket_list(&doc)
        .iter()
        .find(|s| pids(s).contains(&inside_pid))
        .unwrap_or_else(|| panic!("httpd's listener inside: {doc}"));
    assert_eq!(inside["netns"]["kind"], "container", "{inside}");
    assert_eq!(inside["netns"]["name"], name.as_str());
    assert_eq!(inside["netns"]["container"]["runtime"], "podman");
    assert_eq!(inside["netns"]["container"]["id"], line["id"]);
    let holder = &inside["processes"][0];
    assert!(
        holder["container"]
            .as_str()
            .is_some_and(|c| c.contains(name.as_str())),
        "{holder}"
    );

    let output = portscope(&[&host_port]);
    let answer = text(&output);
    assert_eq!(output.status.code(), Some(0), "{answer}");
    assert!(
        answer.contains(&format!("conmon (pid {conmon})")),
        "{answer}"
    );
    assert!(
        answer.contains(&format!("published by conmon → container {name}")),
        "{answer}"
    );
    assert!(answer.contains(&format!("(pid {inside_pid})")), "{answer}");
    let output = portscope(&[&host_port, "--kill", "--yes"]);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let said = text(&output);
    assert!(said.contains("podman stop"), "{said}");
}

/// Inside a namespace that is not the host's, looking at it alone (the default there), its
/// sockets are labelled with its own name in every output, never as the host's.
#[test]
fn the_current_namespace_is_named_not_called_host() {
    if !require_root("the_current_namespace_is_named_not_called_host") {
        return;
    }
    let ns = Netns::new("cur");
    let _holder = Holder::spawn_with(&ns.prefix(), &["--addr", "0.0.0.0", "tcp4"], None);
    let run = |args: &[&str]| {
        let output = Command::new("ip")
            .args(["netns", "exec", &ns.name, BIN])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run portscope inside the namespace");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let metrics = run(&["--once", "--format", "prometheus", "--prometheus-all"]);
    assert!(
        metrics.contains(&format!("netns=\"{}\"", ns.name)) && !metrics.contains("netns=\"host\""),
        "{metrics}"
    );
    let doc: Value = serde_json::from_str(&run(&["--once", "--json"])).expect("JSON");
    let names: Vec<&str> = doc["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names, [ns.name.as_str()], "{doc}");
    assert_eq!(
        doc["namespaces"][0]["sockets"],
        socket_list(&doc).len(),
        "{doc}"
    );
}
