//! What a port query and `--kill` say of a port, against real holders: filters never turn a held
//! port into "free", one verdict for both paths, one block per process, full names, real user
//! names, and a holder set that may be incomplete says so.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::symlink;
use std::process::{Command, Stdio};

use common::{
    Holder, free_port, is_root, pids_in_answer, query_summary, require_root, run, run_json,
    run_json_code, run_with, socket_list,
};
use serde_json::json;

fn text(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `portscope 80 --udp` asks about udp/80: free (exit 1), and the answer names tcp/80.
#[test]
fn a_protocol_flag_narrows_the_question_and_names_the_rest() {
    let holder = Holder::spawn(&["--name", "psNarrow", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    for args in [vec![port.as_str(), "--udp"], vec![&format!("{port}/udp")]] {
        let output = run(&args);
        let answer = text(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {answer}");
        assert!(answer.contains(": free (no UDP listener)"), "{answer}");
        assert!(
            answer.contains(&format!(
                "tcp 127.0.0.1:{port} is in use by psNarrow (pid {}) — not asked about",
                holder.pid
            )),
            "{answer}"
        );
    }
    let doc = run_json_code(&[&port, "-6", "--json"], 1);
    let not_asked = &doc["query"][0]["not_asked"];
    assert_eq!(not_asked[0]["proto"], "tcp", "{doc}");
    assert_eq!(not_asked[0]["pids"], json!([holder.pid]), "{doc}");
}

/// `--pid`, `--user` and `--process` never change held/free: the port is in use by holders
/// outside the filter (exit 0), and the answer names them.
#[test]
fn a_holder_filter_never_makes_a_held_port_free() {
    let holder = Holder::spawn(&["--name", "psFiltered", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    let other_uid = if common::euid() == 65534 {
        "0"
    } else {
        "65534"
    };
    for filter in [
        ["--process", "apache"],
        ["--pid", "99999"],
        ["--user", other_uid],
    ] {
        let output = run(&[&port, filter[0], filter[1]]);
        let answer = text(&output);
        assert_eq!(output.status.code(), Some(0), "{filter:?}: {answer}");
        assert!(answer.contains(": in use (1 socket"), "{answer}");
        assert!(answer.contains("every holder is outside"), "{answer}");
        assert!(
            answer.contains(&format!("pid {} (psFiltered", holder.pid)),
            "{answer}"
        );
        let doc = run_json(&[&port, filter[0], filter[1], "--json"]);
        assert_eq!(doc["query"][0]["held"], true, "{doc}");
        assert_eq!(doc["query"][0]["holders_left_out"], json!([holder.pid]));
    }
}

/// `--kill` with a filter that matches no holder refuses (exit 5), names who it left, and
/// signals nothing.
#[test]
fn kill_with_a_filter_that_matches_no_holder_refuses() {
    let holder = Holder::spawn(&["--name", "psKeep", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    let output = run(&[&port, "--kill", "--process", "apache", "--yes"]);
    let answer = text(&output);
    assert_eq!(output.status.code(), Some(5), "{answer}");
    assert!(
        answer.contains(&format!(
            "pid {} (psKeep) is left alone: outside the --pid/--user/--process filter",
            holder.pid
        )),
        "{answer}"
    );
    assert!(
        answer.contains("Nothing to signal: no holder matches --process apache."),
        "{answer}"
    );
    assert!(!answer.contains("free"), "{answer}");
    let doc = run_json(&[&port, "--json"]);
    assert_eq!(socket_list(&doc).len(), 1, "the holder still holds it");
}

/// Only a connection uses the port (its listener is gone): a bind would fail, so it is in use,
/// and `--kill` says the same instead of "free".
#[test]
fn a_port_used_only_by_a_connection_is_in_use_for_query_and_kill() {
    let holder = Holder::spawn(&["--name", "psConn", "conn-only"]);
    let port = holder.one("conn-only").port.to_string();
    let output = run(&[&port]);
    let answer = text(&output);
    assert_eq!(output.status.code(), Some(0), "{answer}");
    // The bind verdict says why: a connection has the port as its local port.
    assert!(
        answer.contains("in use: no TCP or UDP listener, but a bind fails"),
        "{answer}"
    );
    assert!(answer.contains("fails with EADDRINUSE (tried)"), "{answer}");
    assert!(answer.contains("ESTABLISHED"), "{answer}");
    assert!(
        answer.contains(&format!(
            "a connection, held by psConn (pid {})",
            holder.pid
        )),
        "{answer}"
    );
    let doc = run_json(&[&port, "--json"]);
    assert_eq!(doc["query"][0]["verdict"], "connections", "{doc}");
    assert_eq!(doc["query"][0]["held"], true, "{doc}");

    let output = run(&[&port, "--kill", "--yes"]);
    let answer = text(&output);
    assert_eq!(output.status.code(), Some(5), "{answer}");
    assert!(answer.contains("in use, but not by a listener"), "{answer}");
    assert!(!answer.contains("free"), "{answer}");
}

/// A process holding two sockets of the port gets one block, with both sockets listed.
#[test]
fn a_query_shows_each_process_once_with_its_sockets() {
    let first = Holder::spawn(&["--name", "psTwoA", "tcp4"]);
    let port = first.one("tcp4").port;
    drop(first);
    let holder = Holder::spawn(&[
        "--name",
        "psTwo",
        "--port",
        &port.to_string(),
        "tcp4",
        "--port",
        &port.to_string(),
        "tcp6",
    ]);
    let output = run(&[&port.to_string()]);
    let answer = text(&output);
    assert_eq!(output.status.code(), Some(0), "{answer}");
    assert_eq!(pids_in_answer(&answer), vec![holder.pid], "{answer}");
    assert!(answer.contains("(2 sockets, 1 process)"), "{answer}");
    assert!(
        answer.contains(&format!("holds   tcp 127.0.0.1:{port}, tcp [::1]:{port}")),
        "{answer}"
    );
}

/// The kill prompt names every socket the signal reaches, not only the asked one.
#[test]
fn the_kill_plan_lists_what_else_the_targets_hold() {
    let holder = Holder::spawn(&["--name", "psAlso", "tcp4", "udp4"]);
    let tcp = holder.one("tcp4").port;
    let udp = holder.one("udp4").port;
    let output = Command::new(common::BIN)
        .args([&format!("{tcp}/tcp"), "--kill", "--yes", "--timeout", "2s"])
        .stdin(Stdio::null())
        .output()
        .expect("run portscope");
    let answer = text(&output);
    assert!(
        answer.contains(&format!(
            "also    udp 127.0.0.1:{udp} (the signal reaches these too)"
        )),
        "{answer}"
    );
    assert_eq!(output.status.code(), Some(0), "{answer}");
}

/// comm is the program name cut at 15 bytes; where argv[0] is that name in full, the full
/// name is shown (and comm kept in JSON).
#[test]
fn a_name_cut_at_15_bytes_is_shown_whole() {
    let dir = std::env::temp_dir().join(format!("ps-fullname-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let link = dir.join("portscope-test-long-daemon");
    let python = String::from_utf8(
        Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3")
            .stdout,
    )
    .expect("path");
    let _ = std::fs::remove_file(&link);
    symlink(python.trim(), &link).expect("symlink");
    let holder = Holder::spawn_full(&[], link.to_str().expect("path"), &["tcp4"], None);
    let port = holder.one("tcp4").port.to_string();
    let doc = run_json(&[&port, "--json"]);
    let process = &socket_list(&doc)[0]["processes"][0];
    assert_eq!(process["comm"], "portscope-test-", "{doc}");
    assert_eq!(process["name"], "portscope-test-long-daemon", "{doc}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A free port is free for the query and for --kill alike.
#[test]
fn a_free_port_is_free_for_both_paths() {
    let port = free_port().to_string();
    assert_eq!(run(&[&port]).status.code(), Some(1));
    let output = run(&[&port, "--kill", "--yes"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(text(&output), format!("{port}: free; nothing to stop\n"));
}

/// Names through the system's user database: a system user with a nologin shell and a uid
/// above 65535 is named, `--user NAME` finds it, and an unknown name is a usage error.
#[test]
fn users_are_named_through_the_user_database() {
    let test = "users_are_named_through_the_user_database";
    let unknown = run(&["--once", "--user", "no-such-user-portscope"]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("no such user"), "{stderr}");
    if !require_root(test) {
        return;
    }
    let user = TempUser::create("pstestnl", 70123);
    let holder = Holder::spawn_as(70123, &["--name", "psNologin", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    let doc = run_json(&[&port, "--json"]);
    let socket = &socket_list(&doc)[0];
    assert_eq!(socket["uid"], 70123, "{doc}");
    assert_eq!(socket["user"], user.name, "{doc}");
    assert_eq!(socket["processes"][0]["user"], user.name, "{doc}");
    let doc = run_json(&["--once", "--json", "--user", &user.name]);
    assert_eq!(socket_list(&doc).len(), 1, "--user {}: {doc}", user.name);
}

/// A user made for one test (useradd, nologin shell), removed afterwards.
struct TempUser {
    name: String,
}

impl TempUser {
    fn create(name: &str, uid: u32) -> TempUser {
        let _ = Command::new("userdel").arg(name).status();
        let status = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "--uid",
                &uid.to_string(),
                "--user-group",
                name,
            ])
            .status()
            .expect("run useradd");
        assert!(status.success(), "useradd {name}");
        TempUser {
            name: name.to_string(),
        }
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// As nobody, a root master's socket shows its nobody workers as holders, and says more may be
/// hidden; `--kill` says so up front and names no false outcome.
#[test]
fn a_holder_set_that_may_be_incomplete_says_so() {
    if !require_root("a_holder_set_that_may_be_incomplete_says_so") {
        return;
    }
    let holder = Holder::spawn(&["--name", "psMaster", "prefork-as=65534"]);
    let socket = holder.one("prefork");
    let port = socket.port.to_string();
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let doc = common::run_json_with(&nobody, &[&port, "--json"], 0);
    let seen = &socket_list(&doc)[0];
    assert_eq!(seen["owner"], "partial", "{doc}");
    let reason = seen["owner_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("not root"), "{doc}");
    assert_eq!(common::socket_pids(seen), holder.children, "the workers");
    let output = run_with(&nobody, &[&port]);
    let answer = text(&output);
    assert!(answer.contains("more holders may be hidden"), "{answer}");
    let table = text(&run_with(&nobody, &["--once"]));
    assert!(table.contains(" +?"), "{table}");
    assert!(
        table.contains("may have more holders than shown"),
        "{table}"
    );
    // Root sees all three and nothing partial.
    let doc = run_json(&[&port, "--json"]);
    assert_eq!(socket_list(&doc)[0]["owner"], "known");
    assert!(is_root());
    assert_eq!(query_summary(&doc)[0]["held"], true);
}

/// As nobody, `--kill` on the master's port warns that hidden holders may keep it.
#[test]
fn kill_warns_up_front_when_hidden_holders_may_keep_the_port() {
    if !require_root("kill_warns_up_front_when_hidden_holders_may_keep_the_port") {
        return;
    }
    let holder = Holder::spawn(&["--name", "psMaster2", "prefork-as=65534"]);
    let port = holder.one("prefork").port.to_string();
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let output = run_with(&nobody, &[&port, "--kill", "--yes", "--timeout", "1s"]);
    let answer = text(&output);
    let plan_end = answer.find("\nsent ").unwrap_or(answer.len());
    let plan = &answer[..plan_end];
    assert!(
        plan.contains("may stay open: holders portscope cannot see may keep it"),
        "{answer}"
    );
    // The master (root, hidden) keeps the socket: the port is still held, said once.
    assert_eq!(output.status.code(), Some(6), "{answer}");
    let still: Vec<&str> = answer
        .lines()
        .filter(|l| l.contains("is still held"))
        .collect();
    assert_eq!(still.len(), 1, "one line for the one socket: {answer}");
    assert!(
        !answer.contains("inherited the same socket from a signalled process"),
        "{answer}"
    );
}
