//! Real sockets held by real processes, inspected by the built binary: exact listeners, exact
//! holder pids, filters, port queries, exit codes and output failures.
#![cfg(target_os = "linux")]

mod common;

use std::fs::{self, File};
use std::process::Stdio;

use common::{
    Held, Holder, Tuple, ephemeral_range, euid, find_socket, free_port, pids_in_answer, portscope,
    query_summary, range_of, run, run_json, run_json_code, socket_list, tuple_of, tuples,
    user_name,
};
use serde_json::Value;

/// The holder most tests use: every kind of socket the tests care about.
const EVERYTHING: &[&str] = &[
    "tcp4",
    "tcp6",
    "udp4",
    "udp6",
    "udp-connected",
    "shared-child",
    "reuseport-pair",
];

/// Which of a holder's sockets a filter keeps.
type Keep = dyn Fn(&Held) -> bool;

/// The listeners `pid` holds, as portscope must report them.
fn listeners_of(holder: &Holder, pid: u32) -> Vec<Tuple> {
    holder.tuples(|s| s.listening && s.pids.contains(&pid))
}

/// Checks every field of one reported socket against what the holder bound.
fn assert_fields(socket: &Value, held: &Held, holder: &Holder) {
    let (low, high) = ephemeral_range();
    let what = format!("{} {}:{}", held.kind, held.addr, held.port);
    assert_eq!(tuple_of(socket), held.tuple(), "{what}");
    assert_eq!(socket["family"], held.family(), "{what}: family");
    let state = match (held.proto(), held.listening) {
        ("tcp", true) => "LISTEN",
        ("udp", true) => "UNCONN",
        _ => "ESTABLISHED",
    };
    assert_eq!(socket["state"], state, "{what}: state");
    match &held.peer {
        Some((addr, port)) => {
            assert_eq!(socket["remote_addr"], addr.as_str(), "{what}: remote_addr");
            assert_eq!(socket["remote_port"], *port, "{what}: remote_port");
        }
        None => {
            assert_eq!(socket["remote_addr"], Value::Null, "{what}: remote_addr");
            assert_eq!(socket["remote_port"], Value::Null, "{what}: remote_port");
        }
    }
    assert_eq!(socket["range"], range_of(held.port), "{what}: range");
    let ephemeral = (low..=high).contains(&held.port);
    assert_eq!(socket["ephemeral"], ephemeral, "{what}: ephemeral");
    assert_eq!(socket["exposure"], "loopback", "{what}: exposure");
    assert_eq!(socket["owner"], "known", "{what}: owner");
    assert_eq!(socket["owner_reason"], Value::Null, "{what}: owner_reason");
    assert_eq!(socket["uid"], euid(), "{what}: uid");
    assert!(
        socket["inode"].as_u64().is_some_and(|i| i > 0),
        "{what}: inode"
    );
    let user = user_name();
    for process in socket["processes"].as_array().expect("processes") {
        assert_eq!(process["name"], holder.name().as_str(), "{what}: name");
        assert_eq!(process["uid"], euid(), "{what}: process uid");
        assert_eq!(process["user"], user.as_str(), "{what}: process user");
        let cmdline: Vec<&str> = process["cmdline"]
            .as_array()
            .expect("cmdline")
            .iter()
            .map(|a| a.as_str().expect("cmdline arg"))
            .collect();
        assert!(
            cmdline.contains(&common::HOLDER),
            "{what}: cmdline {cmdline:?} names the holder script"
        );
    }
}

fn pid_args(pid: u32) -> [String; 4] {
    [
        "--once".into(),
        "--json".into(),
        "--pid".into(),
        pid.to_string(),
    ]
}

fn run_strings(args: &[String]) -> Value {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_json(&args)
}

#[test]
fn each_pid_sees_exactly_its_listeners_with_every_holder() {
    let holder = Holder::spawn(&["--name", "psTeach", "tcp4", "udp4"]);
    let everything = Holder::spawn(&[&["--name", "psTevery"], EVERYTHING].concat());
    for h in [&holder, &everything] {
        for pid in h.all_pids() {
            let doc = run_strings(&pid_args(pid));
            assert_eq!(tuples(&doc), listeners_of(h, pid), "--pid {pid}");
            for socket in socket_list(&doc) {
                let held = h
                    .sockets
                    .iter()
                    .find(|s| s.tuple() == tuple_of(socket))
                    .expect("reported socket was bound by the holder");
                assert_fields(socket, held, h);
            }
        }
    }
    // The parent holds tcp4, tcp6, udp4, udp6, the connect target and the shared socket.
    let shared = everything.one("shared-child");
    assert_eq!(shared.pids.len(), 2, "shared socket: parent and child");
    assert_eq!(listeners_of(&everything, everything.pid).len(), 6);
    // The child holds exactly the shared socket, with both pids.
    let child = shared.pids.iter().find(|&&p| p != everything.pid);
    let child = *child.expect("child pid");
    assert_eq!(listeners_of(&everything, child), vec![shared.tuple()]);
    // The reuseport pair: two sockets on one port, one pid each.
    let pair = everything.with_role("reuseport-pair");
    assert_eq!(pair.len(), 2);
    assert_eq!(pair[0].port, pair[1].port);
    assert_ne!(pair[0].pids, pair[1].pids);
    let all_pids: Vec<String> = everything
        .all_pids()
        .iter()
        .flat_map(|p| ["--pid".to_string(), p.to_string()])
        .collect();
    let doc = run_strings(&[&["--once".into(), "--json".into()], &all_pids[..]].concat());
    let listeners = everything.tuples(|s| s.listening);
    assert_eq!(listeners.len(), 8);
    assert_eq!(tuples(&doc), listeners, "every pid at once");
    // The connected UDP socket is no listener.
    let connected = everything.one("udp-connected");
    assert!(
        socket_list(&doc)
            .iter()
            .all(|s| s["port"] != connected.port),
        "connected UDP socket listed as a listener"
    );
}

#[test]
fn all_shows_the_connected_udp_socket_as_established() {
    let holder = Holder::spawn(&["--name", "psTall", "tcp4", "udp-connected"]);
    let pid = holder.pid.to_string();
    let doc = run_json(&["--once", "--json", "--pid", &pid]);
    assert_eq!(tuples(&doc), holder.tuples(|s| s.listening));
    let doc = run_json(&["--once", "--json", "--all", "--pid", &pid]);
    assert_eq!(tuples(&doc), holder.tuples(|_| true));
    assert_eq!(socket_list(&doc).len(), 3);
    for held in &holder.sockets {
        assert_fields(find_socket(&doc, held.proto(), held.port), held, &holder);
    }
    let connected = holder.one("udp-connected");
    let socket = find_socket(&doc, "udp", connected.port);
    assert_eq!(socket["state"], "ESTABLISHED");
    // The human table with --all shows the state and the peer.
    let output = run(&["--once", "--all", "--pid", &pid]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).expect("UTF-8 table");
    let target = holder.one("udp-target");
    let row = text
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{}", connected.port)))
        .unwrap_or_else(|| panic!("no row for the connected socket:\n{text}"));
    assert!(row.contains("ESTABLISHED"), "{row}");
    assert!(row.contains(&format!("127.0.0.1:{}", target.port)), "{row}");
}

#[test]
fn query_json_names_every_holder() {
    let holder = Holder::spawn(&["--name", "psTqjson", "shared-child", "reuseport-pair"]);
    let shared = holder.one("shared-child");
    let spec = format!("{}/tcp", shared.port);
    let doc = run_json(&[&spec, "--json"]);
    assert_eq!(tuples(&doc), vec![shared.tuple()]);
    assert_fields(&socket_list(&doc)[0], shared, &holder);
    assert_eq!(
        query_summary(&doc),
        serde_json::json!([{"spec": spec, "held": true, "sockets": 1, "other_sockets": 0}])
    );
    let pair = holder.with_role("reuseport-pair");
    let port = pair[0].port.to_string();
    let doc = run_json(&[&port, "--json", "--tcp"]);
    assert_eq!(tuples(&doc), holder.tuples(|s| s.role == "reuseport-pair"));
    assert_eq!(
        query_summary(&doc),
        serde_json::json!([{"spec": port, "held": true, "sockets": 2, "other_sockets": 0}])
    );
}

#[test]
fn query_text_names_every_holder() {
    let holder = Holder::spawn(&["--name", "psTqtext", "shared-child", "reuseport-pair"]);
    let shared = holder.one("shared-child");
    let spec = format!("{}/tcp", shared.port);
    let output = run(&[&spec]);
    let text = String::from_utf8(output.stdout).expect("UTF-8 answer");
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(output.stderr.is_empty());
    assert_eq!(pids_in_answer(&text), shared.pids, "{text}");
    assert!(
        text.starts_with(&format!("Port {spec}: in use (1 socket, 2 processes)\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("  tcp LISTEN 127.0.0.1:{}  ", shared.port)),
        "{text}"
    );
    let pid_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("pid "))
        .collect();
    assert!(
        pid_lines.iter().all(|l| l.contains("  psTqtext  user ")),
        "{text}"
    );

    let pair = holder.with_role("reuseport-pair");
    let spec = format!("{}/tcp", pair[0].port);
    let output = run(&[&spec]);
    let text = String::from_utf8(output.stdout).expect("UTF-8 answer");
    assert_eq!(output.status.code(), Some(0), "{text}");
    let mut pids: Vec<u32> = pair.iter().flat_map(|s| s.pids.clone()).collect();
    pids.sort_unstable();
    assert_eq!(pids_in_answer(&text), pids, "{text}");
    assert!(
        text.starts_with(&format!("Port {spec}: in use (2 sockets, 2 processes)\n")),
        "{text}"
    );
}

#[test]
fn a_free_port_exits_1() {
    let port = free_port().to_string();
    let doc = run_json_code(&[&port, "--json"], 1);
    assert_eq!(socket_list(&doc).len(), 0);
    assert_eq!(
        query_summary(&doc),
        serde_json::json!([{"spec": port, "held": false, "sockets": 0, "other_sockets": 0}])
    );
    let output = run(&[&port]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stderr.is_empty());
    // Free means a bind would succeed: portscope tried, for both protocols.
    let any = match std::path::Path::new("/proc/net/if_inet6").exists() {
        true => "[::]",
        false => "0.0.0.0",
    };
    assert_eq!(
        String::from_utf8(output.stdout).expect("UTF-8"),
        format!(
            "Port {port}: free (no TCP or UDP listener)\n  a bind to tcp {any}:{port} would succeed (tried)\n  a bind to udp {any}:{port} would succeed (tried)\n"
        )
    );
}

#[test]
fn port_matching_is_exact() {
    // X and 10*X+1, like 3000 and 30001.
    let holder = Holder::spawn(&["--name", "psTexact", "neighbours"]);
    let low = holder.one("neighbour-low");
    let high = holder.one("neighbour-high");
    assert_eq!(u32::from(high.port), u32::from(low.port) * 10 + 1);
    let pid = holder.pid.to_string();
    for held in [low, high] {
        let port = held.port.to_string();
        // Without any pid filter: every socket reported is on exactly this port.
        let doc = run_json(&[&port, "--json", "--tcp", "-4"]);
        assert!(
            socket_list(&doc).iter().all(|s| s["port"] == held.port),
            "query {port}: {:?}",
            tuples(&doc)
        );
        let doc = run_json(&[&port, "--json", "--pid", &pid]);
        assert_eq!(tuples(&doc), vec![held.tuple()], "query {port}");
    }
    // Prefixes and suffixes of a held port are not that port.
    let x = low.port.to_string();
    let trimmed = |text: &str| text[1..].trim_start_matches('0').to_string();
    let neighbours = [
        (low.port / 10).to_string(),
        trimmed(&x),
        (low.port * 10).to_string(),
        (low.port * 10 + 2).to_string(),
        (low.port + 1).to_string(),
        (low.port - 1).to_string(),
        trimmed(&high.port.to_string()),
    ];
    for other in neighbours {
        if other.is_empty() || other == x || other == high.port.to_string() {
            continue;
        }
        let doc = run_json_code(&[&other, "--json", "--pid", &pid], 1);
        assert_eq!(tuples(&doc), Vec::<Tuple>::new(), "query {other}");
    }
}

#[test]
fn protocol_and_family_filters() {
    let holder = Holder::spawn(&["--name", "psTfilter", "tcp4", "tcp6", "udp4", "udp6"]);
    let pid = holder.pid.to_string();
    let cases: &[(&[&str], &Keep)] = &[
        (&[], &|_| true),
        (&["--tcp"], &|s| s.proto() == "tcp"),
        (&["-t"], &|s| s.proto() == "tcp"),
        (&["--udp"], &|s| s.proto() == "udp"),
        (&["-u"], &|s| s.proto() == "udp"),
        (&["-4"], &|s| s.family() == "ipv4"),
        (&["--ipv6"], &|s| s.family() == "ipv6"),
        (&["-6"], &|s| s.family() == "ipv6"),
        (&["-t", "-6"], &|s| s.kind == "tcp6"),
        (&["-u", "-4"], &|s| s.kind == "udp4"),
        (&["-t", "-u"], &|_| true),
        (&["-4", "-6"], &|_| true),
    ];
    for (flags, keep) in cases {
        let mut args = vec!["--once", "--json", "--pid", &pid];
        args.extend(flags.iter());
        let doc = run_json(&args);
        assert_eq!(tuples(&doc), holder.tuples(keep), "flags {flags:?}");
    }
}

#[test]
fn process_and_user_filters() {
    let holder = Holder::spawn(&["--name", "psTprocFilt", "tcp4", "udp6", "shared-child"]);
    let mine = holder.tuples(|s| s.listening);
    assert_eq!(mine.len(), 3);
    for name in ["psTprocFilt", "PSTPROCFILT", "pstprocf"] {
        let doc = run_json(&["--once", "--json", "--process", name]);
        assert_eq!(tuples(&doc), mine, "--process {name}");
    }
    let doc = run_json(&["--once", "--json", "--process", "psTprocFiltX"]);
    assert_eq!(tuples(&doc), Vec::<Tuple>::new());

    let pid = holder.pid.to_string();
    let uid = euid().to_string();
    let user = user_name();
    for who in [user.as_str(), uid.as_str()] {
        let doc = run_json(&["--once", "--json", "--pid", &pid, "--user", who]);
        assert_eq!(tuples(&doc), mine, "--user {who}");
    }
    let other = if euid() == 65534 { "0" } else { "65534" };
    let doc = run_json(&["--once", "--json", "--pid", &pid, "--user", other]);
    assert_eq!(tuples(&doc), Vec::<Tuple>::new(), "--user {other}");
    if common::is_root() {
        let doc = run_json(&["--once", "--json", "--pid", &pid, "--user", "root"]);
        assert_eq!(tuples(&doc), mine, "--user root");
    }
}

/// The sockets of a query document that `pid` holds (a range may catch other processes' too).
fn held_by(doc: &Value, pid: u32) -> Vec<Tuple> {
    let mut held: Vec<Tuple> = socket_list(doc)
        .iter()
        .map(tuple_of)
        .filter(|t| t.3.contains(&pid))
        .collect();
    held.sort();
    held
}

#[test]
fn ranges_protocol_forms_and_several_ports() {
    let holder = Holder::spawn(&["--name", "psTranges", "tcp4", "tcp4", "udp4", "udp4"]);
    let pid = holder.pid.to_string();
    let mut ports: Vec<u16> = holder.sockets.iter().map(|s| s.port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4, "four distinct ports: {ports:?}");
    // A range covering the middle two ports.
    let (lo, hi) = (ports[1], ports[2]);
    let spec = format!("{lo}-{hi}");
    let doc = run_json(&[&spec, "--json", "--pid", &pid]);
    let inside = holder.tuples(|s| (lo..=hi).contains(&s.port));
    assert_eq!(held_by(&doc, holder.pid), inside, "range {spec}");
    // A range may also hold other processes' sockets (the query names every holder).
    assert_eq!(doc["query"][0]["held"], true, "{doc}");
    assert!(doc["query"][0]["sockets"].as_u64() >= Some(2), "{doc}");
    // The range with a protocol, and the ':' form.
    for proto in ["tcp", "udp"] {
        let spec = format!(":{}-{}/{proto}", ports[0], ports[3]);
        let doc = run_json(&[&spec, "--json", "--pid", &pid]);
        assert_eq!(
            held_by(&doc, holder.pid),
            holder.tuples(|s| s.proto() == proto),
            "{spec}"
        );
    }
    let udp = &holder.with_role("udp4")[0];
    let tcp = &holder.with_role("tcp4")[0];
    let doc = run_json(&[&format!("{}/udp", udp.port), "--json", "--pid", &pid]);
    assert_eq!(held_by(&doc, holder.pid), vec![udp.tuple()]);
    let doc = run_json(&[&format!(":{}", udp.port), "--json", "--pid", &pid]);
    assert_eq!(held_by(&doc, holder.pid), vec![udp.tuple()]);
    // The same number over the other protocol is free.
    let spec = format!("{}/tcp", udp.port);
    let doc = run_json_code(&[&spec, "--json", "--pid", &pid], 1);
    assert_eq!(held_by(&doc, holder.pid), Vec::<Tuple>::new());
    let spec = format!("{}/udp", tcp.port);
    let doc = run_json_code(&[&spec, "--json", "--pid", &pid], 1);
    assert_eq!(held_by(&doc, holder.pid), Vec::<Tuple>::new());

    // Several ports at once: one held over TCP, one over UDP, one free.
    let free = free_port().to_string();
    let specs = [
        tcp.port.to_string(),
        format!("{}/udp", udp.port),
        free.clone(),
    ];
    let doc = run_json(&[&specs[0], &specs[1], &specs[2], "--json", "--pid", &pid]);
    let mut expected = vec![tcp.tuple(), udp.tuple()];
    expected.sort();
    assert_eq!(held_by(&doc, holder.pid), expected);
    assert_eq!(
        query_summary(&doc),
        serde_json::json!([
            {"spec": specs[0], "held": true, "sockets": 1, "other_sockets": 0},
            {"spec": specs[1], "held": true, "sockets": 1, "other_sockets": 0},
            {"spec": free, "held": false, "sockets": 0, "other_sockets": 0},
        ])
    );
    let output = run(&[&specs[0], &specs[1], &specs[2], "--pid", &pid]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(
        pids_in_answer(&text),
        vec![holder.pid, holder.pid],
        "{text}"
    );
    assert!(text.contains(&format!("Port {free}: free")), "{text}");
    // Every one free: exit 1.
    let spec = format!("{}/udp", tcp.port);
    let doc = run_json_code(&[&spec, &free, "--json", "--pid", &pid], 1);
    assert_eq!(
        query_summary(&doc),
        serde_json::json!([
            {"spec": spec, "held": false, "sockets": 0, "other_sockets": 0},
            {"spec": free, "held": false, "sockets": 0, "other_sockets": 0},
        ])
    );
}

#[test]
fn table_lists_each_listener_once() {
    let holder = Holder::spawn(&["--name", "psTtable", "tcp4", "udp6", "shared-child"]);
    let pid = holder.pid.to_string();
    let output = run(&["--once", "--pid", &pid]);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty());
    let text = String::from_utf8(output.stdout).expect("UTF-8 table");
    let mut rows: Vec<(String, String)> = text
        .lines()
        .filter(|l| l.starts_with("tcp ") || l.starts_with("udp "))
        .map(|l| {
            let mut fields = l.split_whitespace();
            let proto = fields.next().expect("proto").to_string();
            let endpoint = fields.next().expect("endpoint").trim_end_matches('*');
            (proto, endpoint.to_string())
        })
        .collect();
    rows.sort();
    let mut expected: Vec<(String, String)> = holder
        .sockets
        .iter()
        .map(|s| {
            let endpoint = if s.family() == "ipv6" {
                format!("[{}]:{}", s.addr, s.port)
            } else {
                format!("{}:{}", s.addr, s.port)
            };
            (s.proto().to_string(), endpoint)
        })
        .collect();
    expected.sort();
    assert_eq!(rows, expected, "{text}");
    assert!(text.starts_with("PROTO  ADDRESS:PORT"), "{text}");
    let shared = holder.one("shared-child");
    let row = text
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{}", shared.port)))
        .expect("shared row");
    assert!(row.contains(&format!("  {} +1  ", holder.pid)), "{row}");
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    // Enough sockets that the table is far larger than a pipe buffer.
    let holder = Holder::spawn(&["--name", "psTpipe", "many-udp4=900"]);
    let full = run(&["--once", "--process", "psTpipe"]);
    assert_eq!(full.status.code(), Some(0));
    assert!(full.stdout.len() > 96 * 1024, "{} bytes", full.stdout.len());
    let rows = full
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"udp "))
        .count();
    assert_eq!(rows, 900, "one row per socket");
    let status_file =
        std::env::temp_dir().join(format!("portscope-pipe-{}.status", std::process::id()));
    let status_path = status_file.to_str().expect("UTF-8 temp path").to_string();
    let output = std::process::Command::new("sh")
        .args([
            "-c",
            r#"("$0" --netns current --once; echo $? > "$1") | head -1"#,
            common::BIN,
            &status_path,
        ])
        .env_remove("COLUMNS")
        .output()
        .expect("run sh");
    let status = fs::read_to_string(&status_file).expect("status file");
    let _ = fs::remove_file(&status_file);
    drop(holder);
    assert_eq!(
        status.trim(),
        "0",
        "portscope exit status when head closes the pipe"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "",
        "nothing on stderr"
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.starts_with(b"PROTO"), "{:?}", output.stdout);
    assert_eq!(output.stdout.iter().filter(|&&b| b == b'\n').count(), 1);
}

fn to_dev_full(args: &[&str]) -> std::process::Output {
    let full = File::options()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    portscope(args)
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .output()
        .expect("run portscope")
}

fn assert_one_error_line(stderr: &[u8], what: &str) {
    let text = String::from_utf8(stderr.to_vec()).expect("UTF-8 stderr");
    assert!(text.ends_with('\n'), "{what}: stderr {text:?}");
    assert_eq!(text.lines().count(), 1, "{what}: stderr {text:?}");
    assert!(text.starts_with("portscope: "), "{what}: stderr {text:?}");
    assert!(
        text.len() > "portscope: \n".len(),
        "{what}: stderr {text:?}"
    );
    assert!(!text.contains("panicked"), "{what}: stderr {text:?}");
}

#[test]
fn a_full_disk_exits_4_with_one_line() {
    let holder = Holder::spawn(&["--name", "psTfull", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    let free = free_port().to_string();
    let cases: [&[&str]; 5] = [
        &["--once"],
        &["--once", "--json"],
        &[&port],
        &[&free, "--json"],
        &["--completions", "bash"],
    ];
    for args in cases {
        let output = to_dev_full(args);
        assert_eq!(output.status.code(), Some(4), "{args:?}");
        assert_one_error_line(&output.stderr, &format!("{args:?}"));
        let text = String::from_utf8_lossy(&output.stderr);
        assert!(text.contains("No space left on device"), "{args:?}: {text}");
    }
}

#[test]
fn help_version_and_man_to_a_full_disk_say_why() {
    for args in [&["--help"][..], &["--version"], &["--man"]] {
        let output = to_dev_full(args);
        assert_eq!(output.status.code(), Some(4), "{args:?}");
        assert_one_error_line(&output.stderr, &format!("{args:?}"));
    }
}

#[test]
fn completions_and_man_page() {
    let output = run(&["--completions", "bash"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty());
    let text = String::from_utf8(output.stdout).expect("UTF-8 completions");
    assert!(text.contains("_portscope()"), "{text}");
    assert!(text.contains("--interval"), "{text}");
    let output = run(&["--man"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty());
    let text = String::from_utf8(output.stdout).expect("UTF-8 man page");
    assert!(
        text.starts_with(".ie") || text.contains(".TH portscope"),
        "{text}"
    );
    assert!(text.contains("\\-\\-once"), "{text}");
}

/// Two holders with the same parent (this test process, which holds no listener): both name
/// it. sysinfo once dropped a parent listed twice in one refresh, so only a lone child named it.
#[test]
fn holders_sharing_a_parent_all_name_it() {
    let first = Holder::spawn(&["tcp4"]);
    let second = Holder::spawn(&["tcp4"]);
    let args: Vec<String> = ["--once", "--json", "--pid"]
        .iter()
        .map(|s| s.to_string())
        .chain([
            first.pid.to_string(),
            "--pid".into(),
            second.pid.to_string(),
        ])
        .collect();
    let doc = run_strings(&args);
    let parents: Vec<(u32, Value)> = socket_list(&doc)
        .iter()
        .flat_map(|s| s["processes"].as_array().cloned().unwrap_or_default())
        .map(|p| (common::as_u32(&p["ppid"]), p["parent_name"].clone()))
        .collect();
    assert_eq!(parents.len(), 2, "{doc}");
    for (ppid, name) in parents {
        assert_eq!(ppid, std::process::id());
        assert!(name.is_string(), "parent {ppid} has no name: {doc}");
    }
}

/// A python3 script that listens on a loopback port (`s`) and forks a `child` that keeps it
/// for two minutes, then runs `rest`.
fn shared_with_a_child(rest: &str) -> String {
    let start = "import os, socket, sys, time\n\
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
        child = os.fork()\n\
        if child == 0:\n    time.sleep(120); os._exit(0)\n";
    format!("{start}{rest}")
}

/// The live view takes an unchanged holder's facts as they were on most refreshes; what a
/// holder changes in place (here its parent: re-parented when the parent exits) is still
/// seen within a few refreshes.
#[test]
fn a_holder_re_parented_in_place_is_seen_by_the_live_refresh() {
    use portscope::collect::{Collector, Refresh, Request};
    use portscope::model::Selection;

    let script = shared_with_a_child(
        "port = s.getsockname()[1]; s.close()\n\
        print(port, child, flush=True)\n\
        sys.stdin.readline()\n",
    );
    let mut parent = common::Script::start(&script);
    let words = parent.numbers();
    let port = u16::try_from(words[0]).expect("a port");
    let child = u32::try_from(words[1]).expect("a pid");
    parent.also_kill(child);

    let request = Request {
        selection: Selection {
            tcp: true,
            udp: false,
            ipv4: true,
            ipv6: false,
            all_states: false,
        },
        connections: false,
    };
    let keep = |s: &portscope::model::Socket| s.port == port;
    let mut collector = Collector::new();
    let ppid_now = |refresh: Refresh| match refresh {
        Refresh::Changed(snapshot) => Some(snapshot.processes.get(&child).and_then(|p| p.ppid)),
        Refresh::Unchanged { .. } => None,
    };
    let first = collector.refresh(&request, &keep).expect("refresh");
    assert_eq!(
        ppid_now(first),
        Some(Some(parent.pid())),
        "the child's first parent"
    );

    parent.say("exit");
    parent.wait();
    let mut seen = None;
    // The collector reads unchanged holders' facts on one refresh in five.
    for _ in 0..5 {
        if let Some(ppid) = ppid_now(collector.refresh(&request, &keep).expect("refresh")) {
            seen = Some(ppid);
            break;
        }
    }
    let seen = seen.expect("5 refreshes never noticed the new parent");
    assert!(seen.is_some_and(|p| p != parent.pid()), "ppid {seen:?}");
}

/// A listener shared by a parent and its child; the parent closes its fd (the socket lives on
/// in the child). The live index, which re-checks holdings cheaply between full scans, drops
/// the parent within a few refreshes.
#[test]
fn a_holder_that_closes_a_shared_socket_is_dropped_by_the_live_index() {
    use portscope::collect::{FxHashSet, OwnerIndex};

    let script = shared_with_a_child(
        "print(os.fstat(s.fileno()).st_ino, child, flush=True)\n\
        sys.stdin.readline(); s.close(); print('closed', flush=True)\n\
        sys.stdin.readline()\n",
    );
    let mut parent = common::Script::start(&script);
    let words = parent.numbers();
    let inode = words[0];
    let child = u32::try_from(words[1]).expect("a pid");
    parent.also_kill(child);

    let wanted: FxHashSet<u64> = [inode].into_iter().collect();
    let mut index = OwnerIndex::default();
    index.update(&wanted);
    let both = vec![parent.pid().min(child), parent.pid().max(child)];
    assert_eq!(index.scan(&wanted).owners.get(&inode), Some(&both));

    parent.say("close");
    assert_eq!(parent.line(), "closed");
    let mut owners = None;
    // The index checks holders' fd counts on one refresh in five.
    for _ in 0..5 {
        index.update(&wanted);
        owners = index.scan(&wanted).owners.get(&inode).cloned();
        if owners.as_deref() == Some(&[child][..]) {
            break;
        }
    }
    assert_eq!(owners, Some(vec![child]), "the parent closed its fd");
}
