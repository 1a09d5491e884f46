//! `--owner-scan bpf` against `--owner-scan proc`, through the built binary: the same sockets,
//! the same holders with the same fds and process facts, the same namespaces, in a real
//! namespace fixture (a namespace made with `ip netns`, one only a socket keeps, one only an
//! open nsfs fd keeps), with a listener shared by three processes and one handed to a child.
//!
//! Root only: not root, each test prints `skipped: <test>: needs root`; with `CI=true` nothing
//! may be skipped (and the in-kernel map must load).
#![cfg(target_os = "linux")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Output, Stdio};

use common::netns::Netns;
use common::ready::Ready;
use common::{BIN, Holder, as_u32, is_root, require_root, socket_list};
use serde_json::Value;

const KEEPER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/netns_keeper.py");

fn portscope(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .output()
        .expect("run portscope")
}

/// `portscope ARGS --owner-scan HOW --json`; it must say it used `how`.
fn json_by(how: &str, args: &[&str]) -> Value {
    let mut argv = args.to_vec();
    argv.extend(["--owner-scan", how, "--json"]);
    let output = portscope(&argv);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{argv:?}: {:?} {stderr}",
        output.status
    );
    let doc: Value = serde_json::from_slice(&output.stdout).expect("portscope prints JSON");
    assert_eq!(doc["collector"]["owner_scan"], how, "{argv:?}: {stderr}");
    doc
}

/// Sockets by inode (every socket the tests compare has one).
fn by_inode(doc: &Value) -> BTreeMap<u64, &Value> {
    socket_list(doc)
        .iter()
        .filter_map(|s| Some((s["inode"].as_u64().filter(|&i| i != 0)?, s)))
        .collect()
}

fn namespaces(doc: &Value) -> BTreeMap<u64, &Value> {
    doc["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .filter_map(|n| Some((n["inode"].as_u64()?, n)))
        .collect()
}

fn socket_pids(socket: &Value) -> BTreeSet<u32> {
    socket["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .map(|p| as_u32(&p["pid"]))
        .collect()
}

/// The one way the two may differ: a process whose fd table `/proc` refuses even root (pid 1
/// of a sandbox, say) leaves the walk unsure ("hidden"), while the kernel's walk reads it and
/// knows.
fn sees_past_unreadable(bpf: &Value, proc: &Value) -> bool {
    let unsure = matches!(proc["owner"].as_str(), Some("hidden" | "partial"))
        && proc["owner_reason"]
            .as_str()
            .is_some_and(|r| r.contains("file descriptors could not be read"));
    let sure = matches!(bpf["owner"].as_str(), Some("known" | "none"));
    // What the walk did see, the map saw too.
    let seen = |doc: &Value| socket_pids(doc);
    unsure && sure && seen(proc).is_subset(&seen(bpf))
}

/// What differs between the two documents: (about the fixture, about the rest of the host).
/// A socket or namespace of the fixture must be in both and be the same; of the rest, only
/// those in both are compared (the host is shared: listeners come and go between two runs).
fn differences(
    bpf: &Value,
    proc: &Value,
    ours: &BTreeSet<u32>,
    our_namespaces: &BTreeSet<u64>,
) -> (Vec<String>, Vec<String>) {
    let (mut fixture, mut host) = (Vec::new(), Vec::new());
    let (b, p) = (by_inode(bpf), by_inode(proc));
    let inodes: BTreeSet<u64> = b.keys().chain(p.keys()).copied().collect();
    for inode in inodes {
        let (from_bpf, from_proc) = (b.get(&inode), p.get(&inode));
        let of_fixture = [from_bpf, from_proc]
            .into_iter()
            .flatten()
            .any(|s| !socket_pids(s).is_disjoint(ours));
        let line = format!("socket {inode}:\n  bpf:  {from_bpf:?}\n  proc: {from_proc:?}");
        match (from_bpf, from_proc) {
            (Some(x), Some(y)) if x == y => {}
            (Some(_), Some(_)) if of_fixture => fixture.push(line),
            (Some(x), Some(y)) if sees_past_unreadable(x, y) => {}
            (Some(_), Some(_)) => host.push(line),
            _ if of_fixture => fixture.push(line),
            _ => {}
        }
    }
    let (b, p) = (namespaces(bpf), namespaces(proc));
    for inode in b.keys().chain(p.keys()).copied().collect::<BTreeSet<u64>>() {
        let (from_bpf, from_proc) = (b.get(&inode), p.get(&inode));
        let line = format!("namespace {inode}:\n  bpf:  {from_bpf:?}\n  proc: {from_proc:?}");
        let mine = our_namespaces.contains(&inode);
        // A process of the rest of the host held it for a moment: the portscope of a test
        // running beside this one keeps a namespace fd open while it reads that namespace.
        let visitor = [from_bpf, from_proc]
            .into_iter()
            .flatten()
            .filter_map(|n| n["pid"].as_u64())
            .any(|pid| u32::try_from(pid).is_ok_and(|pid| !ours.contains(&pid)));
        match (from_bpf, from_proc) {
            (Some(x), Some(y)) if x == y => {}
            (Some(_), Some(_)) if mine && visitor => host.push(line),
            _ if mine => fixture.push(line),
            (Some(_), Some(_)) => host.push(line),
            _ => {}
        }
    }
    (fixture, host)
}

/// Runs both paths with `args` until they agree on the rest of the host (three tries: other
/// tests may be changing it); the fixture must agree every time. Returns the last pair.
fn agree(args: &[&str], ours: &BTreeSet<u32>, our_namespaces: &BTreeSet<u64>) -> (Value, Value) {
    let mut last = Vec::new();
    for _ in 0..3 {
        let bpf = json_by("bpf", args);
        let proc = json_by("proc", args);
        let (fixture, host) = differences(&bpf, &proc, ours, our_namespaces);
        assert!(
            fixture.is_empty(),
            "{args:?}: bpf and proc disagree on the fixture:\n{}",
            fixture.join("\n")
        );
        if host.is_empty() {
            return (bpf, proc);
        }
        last = host;
    }
    panic!(
        "{args:?}: bpf and proc disagree three times:\n{}",
        last.join("\n")
    );
}

fn bpf_required(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    let probe = portscope(&[
        "--once",
        "--json",
        "--owner-scan",
        "bpf",
        "--netns",
        "current",
    ]);
    if probe.status.success() {
        return true;
    }
    let why = String::from_utf8_lossy(&probe.stderr).trim().to_string();
    common::skip(test, &why);
    false
}

fn inode_of(path: &str) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {path}: {e}"))
        .ino()
}

#[test]
fn bpf_and_proc_give_the_same_answers_socket_by_socket_pid_by_pid() {
    let test = "bpf_and_proc_give_the_same_answers_socket_by_socket_pid_by_pid";
    if !bpf_required(test) {
        return;
    }
    let ns = Netns::new("os");
    let ns_inode = inode_of(&format!("/run/netns/{}", ns.name));
    // In the namespace: a listener shared with a forked child, one shared by a prefork master
    // and two workers, two SO_REUSEPORT listeners made in children, a connected UDP socket.
    let inside = Holder::spawn_with(
        &ns.prefix(),
        &[
            "shared-child",
            "prefork-as=0",
            "reuseport-pair",
            "udp-connected",
            "tcp6",
        ],
        None,
    );
    // On the host too.
    let outside = Holder::spawn(&["shared-child", "prefork-as=0", "udp6"]);
    // Namespaces that only a socket, or only an open nsfs fd, keep alive.
    let mut keepers = Vec::new();
    for (i, mode) in ["socket", "fd"].into_iter().enumerate() {
        let kept = Netns::new(&format!("ok{mode}"));
        let port = (23_000 + std::process::id() % 1000 + i as u32).to_string();
        let keeper = Ready::start(&["python3", KEEPER, mode, &kept.name, &port])
            .unwrap_or_else(|why| panic!("netns_keeper: {why}"));
        // The keeper deleted the name; the namespace lives only through it.
        std::mem::forget(kept);
        keepers.push(keeper);
    }

    let mut ours: BTreeSet<u32> = inside.all_pids().into_iter().collect();
    ours.extend(outside.all_pids());
    ours.extend(keepers.iter().map(|k| as_u32(&k.line["pid"])));
    let mut our_namespaces: BTreeSet<u64> = [ns_inode].into();
    our_namespaces.extend(
        keepers
            .iter()
            .filter_map(|k| k.line["netns_inode"].as_u64()),
    );

    // Every listener of every namespace.
    let (bpf, _) = agree(&["--once"], &ours, &our_namespaces);
    let sockets = by_inode(&bpf);
    for holder in [&inside, &outside] {
        for held in &holder.sockets {
            let found = socket_list(&bpf).iter().find(|s| {
                s["port"].as_u64() == Some(u64::from(held.port))
                    && s["proto"] == held.proto()
                    && socket_pids(s) == held.pids.iter().copied().collect()
            });
            assert!(
                found.is_some() || !held.listening,
                "{held:?} is not in {sockets:?}"
            );
        }
    }
    let shared = inside.one("shared-child");
    assert_eq!(shared.pids.len(), 2, "{shared:?}");
    assert_eq!(inside.one("prefork").pids.len(), 3);
    let found_ns = namespaces(&bpf);
    for inode in &our_namespaces {
        assert!(found_ns.contains_key(inode), "net:[{inode}]: {found_ns:?}");
    }

    // Every socket of the fixture's processes, connections too.
    let mut pid_args = vec!["--once", "--all"];
    let pid_texts: Vec<String> = ours.iter().map(u32::to_string).collect();
    for pid in &pid_texts {
        pid_args.extend(["--pid", pid.as_str()]);
    }
    let (all, _) = agree(&pid_args, &ours, &our_namespaces);
    assert!(
        socket_list(&all)
            .iter()
            .any(|s| s["state"] == "ESTABLISHED"),
        "the connected UDP socket: {all}"
    );

    // A port query: the same answer, holders and all.
    let port = inside.one("prefork").port.to_string();
    let bpf = json_by("bpf", &[&port]);
    let proc = json_by("proc", &[&port]);
    assert_eq!(bpf["query"], proc["query"]);
    assert_eq!(bpf["sockets"], proc["sockets"]);
}

#[test]
fn owner_scan_bpf_without_the_kernel_allowing_it_is_one_line_and_exit_3() {
    // As root, drop to nobody; otherwise we are already unprivileged.
    let prefix: Vec<&str> = match is_root() {
        true => vec![
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        false => vec![],
    };
    let run = |args: &[&str]| {
        let mut argv = prefix.clone();
        argv.push(BIN);
        argv.extend(args);
        Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()
            .expect("run portscope")
    };
    let refused = run(&["--once", "--owner-scan", "bpf"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("portscope: bpf: ") && stderr.contains("--owner-scan bpf"),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty());

    // auto falls back to the /proc walk, quietly unless asked.
    let quiet = run(&["--once", "--json"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stderr.is_empty(), "{:?}", quiet.stderr);
    let doc: Value = serde_json::from_slice(&quiet.stdout).expect("JSON");
    assert_eq!(doc["collector"]["owner_scan"], "proc");
    let why = doc["collector"]["bpf_unavailable"]
        .as_str()
        .expect("a reason");
    assert!(why.starts_with("bpf: "), "{why}");

    let verbose = run(&["--once", "--verbose"]);
    let said = String::from_utf8_lossy(&verbose.stderr);
    assert_eq!(verbose.status.code(), Some(0));
    assert!(said.contains("/proc walk") && said.contains(why), "{said}");
}

#[test]
fn owner_scan_proc_says_so() {
    let doc = json_by("proc", &["--once", "--netns", "current"]);
    assert_eq!(
        doc["collector"]["bpf_unavailable"],
        "bpf: not asked for (--owner-scan proc)"
    );
}

/// In a child pid namespace (with its own /proc) the kernel's pids are not the ones /proc
/// shows: the in-kernel map must not be used there, and auto falls back quietly.
#[test]
fn a_child_pid_namespace_falls_back_to_the_proc_walk() {
    let test = "a_child_pid_namespace_falls_back_to_the_proc_walk";
    if !require_root(test) {
        return;
    }
    let inside = |args: &[&str]| {
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", BIN])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run unshare (util-linux)")
    };
    let refused = inside(&["--once", "--netns", "current", "--owner-scan", "bpf"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("child pid namespace"), "{stderr}");
    let auto = inside(&["--once", "--netns", "current", "--json"]);
    assert_eq!(auto.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&auto.stdout).expect("JSON");
    assert_eq!(doc["collector"]["owner_scan"], "proc", "{doc}");
}
