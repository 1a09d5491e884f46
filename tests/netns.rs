//! Root only: a fresh network namespace holds nothing but our holders, so portscope's whole
//! listing can be checked exactly, on real well-known ports, and the ephemeral range can be set.
#![cfg(target_os = "linux")]

mod common;

use common::netns::Netns;
use common::{
    Holder, Tuple, find_socket, pids_in_answer, query_summary, require_root, run_json_with,
    run_with, socket_list, tuples,
};
use serde_json::{Value, json};

fn all_tuples(holders: &[&Holder]) -> Vec<Tuple> {
    let mut all: Vec<Tuple> = holders
        .iter()
        .flat_map(|h| h.tuples(|s| s.listening))
        .collect();
    all.sort();
    all
}

#[test]
fn a_fresh_namespace_lists_exactly_its_well_known_holders() {
    if !require_root("a_fresh_namespace_lists_exactly_its_well_known_holders") {
        return;
    }
    let ns = Netns::new("wk");
    let prefix = ns.prefix();

    // Nothing is bound yet.
    let doc = run_json_with(&prefix, &["--once", "--json"], 0);
    assert_eq!(socket_list(&doc).len(), 0, "empty namespace: {doc}");
    let doc = run_json_with(&prefix, &["22", "--json"], 1);
    assert_eq!(
        query_summary(&doc),
        json!([{"spec": "22", "held": false, "sockets": 0, "other_sockets": 0}])
    );

    let a = Holder::spawn_with(
        &prefix,
        &[
            "--name", "psTnsA", "--addr", "0.0.0.0", "--port", "22", "tcp4", "--port", "443",
            "tcp4", "--port", "53", "udp4",
        ],
        None,
    );
    let b = Holder::spawn_with(
        &prefix,
        &[
            "--name",
            "psTnsB",
            "--addr",
            "0.0.0.0",
            "--port",
            "80",
            "shared-child",
        ],
        None,
    );
    let shared = b.one("shared-child");
    assert_eq!(shared.pids.len(), 2, "parent and child hold port 80");

    let doc = run_json_with(&prefix, &["--once", "--json"], 0);
    assert_eq!(tuples(&doc), all_tuples(&[&a, &b]));
    let expected = json!({
        "tcp/22": "ssh", "tcp/80": "http", "tcp/443": "https", "udp/53": "domain"
    });
    for socket in socket_list(&doc) {
        let key = format!(
            "{}/{}",
            socket["proto"].as_str().expect("proto"),
            socket["port"]
        );
        assert_eq!(socket["service"], expected[&key], "{key}: service");
        assert_eq!(socket["range"], "well-known", "{key}");
        assert_eq!(socket["exposure"], "all", "{key}");
        assert_eq!(socket["owner"], "known", "{key}");
        assert_eq!(socket["ephemeral"], false, "{key}");
        assert_eq!(socket["local_addr"], "0.0.0.0", "{key}");
        let state = if socket["proto"] == "tcp" {
            "LISTEN"
        } else {
            "UNCONN"
        };
        assert_eq!(socket["state"], state, "{key}");
    }
    assert_eq!(doc["warnings"], json!([]));

    // Who holds port 80? Both holders, by pid, in the human answer and in JSON.
    let output = run_with(&prefix, &["80"]);
    let text = String::from_utf8(output.stdout).expect("UTF-8 answer");
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert_eq!(pids_in_answer(&text), shared.pids, "{text}");
    // Run inside the namespace, the answer says which one it is about (not the host's).
    let mut lines = text.lines();
    let head = lines.next().unwrap_or_default();
    assert!(
        head.starts_with("Port 80 in netns psT")
            && head.ends_with(": in use (1 socket, 2 processes)"),
        "{text}"
    );
    assert_eq!(
        lines.next(),
        Some("  tcp LISTEN 0.0.0.0:80  all interfaces  service http"),
        "{text}"
    );
    let doc = run_json_with(&prefix, &["80", "--json"], 0);
    assert_eq!(tuples(&doc), vec![shared.tuple()]);
    let doc = run_json_with(&prefix, &["22", "443/tcp", "53/udp", "80/udp", "--json"], 0);
    assert_eq!(
        query_summary(&doc),
        json!([
            {"spec": "22", "held": true, "sockets": 1, "other_sockets": 0},
            {"spec": "443/tcp", "held": true, "sockets": 1, "other_sockets": 0},
            {"spec": "53/udp", "held": true, "sockets": 1, "other_sockets": 0},
            {"spec": "80/udp", "held": false, "sockets": 0, "other_sockets": 0},
        ])
    );
    assert_eq!(tuples(&doc), all_tuples(&[&a]));

    // The table: one group, four rows.
    let output = run_with(&prefix, &["--once"]);
    let text = String::from_utf8(output.stdout).expect("UTF-8 table");
    assert_eq!(output.status.code(), Some(0), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "header, group, four rows:\n{text}");
    assert_eq!(lines[1], "Well-known 0–1023 (4)", "{text}");
    let mut rows: Vec<&str> = lines[2..]
        .iter()
        .map(|l| l.split_whitespace().nth(1).expect("endpoint"))
        .collect();
    rows.sort_unstable();
    assert_eq!(
        rows,
        ["0.0.0.0:22", "0.0.0.0:443", "0.0.0.0:53", "0.0.0.0:80"],
        "{text}"
    );
    assert!(
        lines[2..].iter().all(|l| l.contains("all interfaces")),
        "{text}"
    );
    let row80 = lines
        .iter()
        .find(|l| l.contains("0.0.0.0:80 "))
        .expect("row for port 80");
    assert!(row80.contains(&format!("  {} +1  ", b.pid)), "{row80}");

    // The host's own tables do not contain the namespace's sockets.
    let pid = a.pid.to_string();
    let doc = run_json_with(&[], &["--once", "--json", "--all", "--pid", &pid], 0);
    assert_eq!(socket_list(&doc).len(), 0, "outside the namespace: {doc}");
}

#[test]
fn the_ephemeral_flag_follows_the_namespace_range() {
    if !require_root("the_ephemeral_flag_follows_the_namespace_range") {
        return;
    }
    let host_range = common::ephemeral_range();
    let ns = Netns::new("eph");
    ns.sh("echo '20000 20100' > /proc/sys/net/ipv4/ip_local_port_range");
    let prefix = ns.prefix();
    let holder = Holder::spawn_with(
        &prefix,
        &[
            "--name", "psTnsEph", "--port", "20050", "tcp4", "--port", "30000", "tcp4", "--port",
            "20000", "udp4", "--port", "20100", "udp4", "--port", "19999", "tcp4", "--port",
            "20101", "tcp4",
        ],
        None,
    );
    assert_eq!(
        common::ephemeral_range(),
        host_range,
        "the host's range is untouched"
    );
    let doc = run_json_with(&prefix, &["--once", "--json"], 0);
    assert_eq!(doc["ephemeral_range"], json!({"low": 20000, "high": 20100}));
    assert_eq!(tuples(&doc), all_tuples(&[&holder]));
    let expected = [
        ("tcp", 20050, true),
        ("tcp", 30000, false),
        ("udp", 20000, true),
        ("udp", 20100, true),
        ("tcp", 19999, false),
        ("tcp", 20101, false),
    ];
    for (proto, port, ephemeral) in expected {
        let socket: &Value = find_socket(&doc, proto, port);
        assert_eq!(socket["ephemeral"], ephemeral, "{proto}/{port}");
        assert_eq!(socket["range"], "registered", "{proto}/{port}");
    }
    // The table marks exactly the ports inside the range and explains the mark.
    let output = run_with(&prefix, &["--once"]);
    let text = String::from_utf8(output.stdout).expect("UTF-8 table");
    assert_eq!(output.status.code(), Some(0), "{text}");
    let mut marked: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.starts_with("127.0.0.1:") && w.ends_with('*'))
        .collect();
    marked.sort_unstable();
    assert_eq!(
        marked,
        ["127.0.0.1:20000*", "127.0.0.1:20050*", "127.0.0.1:20100*"],
        "{text}"
    );
    assert!(
        text.contains("* inside this OS's ephemeral range 20000–20100"),
        "{text}"
    );
}
