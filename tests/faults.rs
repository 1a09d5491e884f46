//! Faults the host can throw at portscope, made real: a kernel without a diag handler, a holder
//! that exits mid-scan, a full fd table (a preload shim, `tests/support/shim.c`), hidepid and a
//! mount point that is not UTF-8, a user namespace, a clock outside RFC 3339, closed pipes and
//! full disks during `--kill`, and command lines of megabytes. Each answer must be the true one.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

use common::{
    BIN, HOLDER, Holder, find_socket, portscope, require_root, run, run_json, run_shimmed,
    run_with, socket_list,
};
use serde_json::Value;

fn json_of(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The kernel has no UDP diag handler (the dump ends with NLMSG_DONE carrying -ENOENT): a held
/// udp port is never "free", a query says the table is unreadable (exit 3), and `--once` warns
/// and shows the other tables.
#[test]
fn a_missing_diag_handler_is_an_unreadable_table_not_a_free_port() {
    let holder = Holder::spawn(&["--name", "psNoDiag", "tcp4", "udp4"]);
    let udp = holder.one("udp4").port.to_string();
    let tcp = holder.one("tcp4").port.to_string();
    let no_udp = [("PORTSCOPE_SHIM_NO_DIAG", "17")];

    let output = run_shimmed(&[&format!("{udp}/udp")], &no_udp);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no sock_diag handler"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("free"));

    // A port the readable tables show as held is answered.
    let output = run_shimmed(&[&format!("{tcp}/tcp")], &no_udp);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));

    let output = run_shimmed(&["--once", "--json"], &no_udp);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let doc = json_of(&output);
    assert!(socket_list(&doc).iter().any(|s| s["proto"] == "tcp"));
    assert!(socket_list(&doc).iter().all(|s| s["proto"] != "udp"));
    let unreadable = doc["unreadable_tables"].as_array().expect("array");
    assert_eq!(unreadable.len(), 2, "udp/ipv4 and udp/ipv6: {doc}");
    let table = run_shimmed(&["--once"], &no_udp);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("note: cannot read the socket table udp/ipv4"),
        "{text}"
    );
    assert!(text.contains(&format!(":{tcp}")), "{text}");

    // Every table gone: nothing to show is an error, not an empty list.
    let output = run_shimmed(&["--once", "--udp"], &no_udp);
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
}

/// A holder that exits while portscope reads it leaves no "known" owner without a process.
#[test]
fn a_holder_that_exits_mid_scan_is_not_a_known_owner() {
    let mut child = Command::new("python3")
        .args([HOLDER, "--name", "psExits", "tcp4"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start holder");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready line");
    let ready: Value = serde_json::from_str(&line).expect("ready JSON");
    let pid = ready["pid"].as_u64().expect("pid").to_string();
    let port = ready["sockets"][0]["port"]
        .as_u64()
        .expect("port")
        .to_string();
    // Reap it the moment it dies, as a parent would (its stdin stays open: EOF ends it).
    let stdin = child.stdin.take();
    let reaper = std::thread::spawn(move || child.wait());
    let output = run_shimmed(&[&port, "--json"], &[("PORTSCOPE_SHIM_EXIT_PID", &pid)]);
    drop(stdin);
    let _ = reaper.join();
    let doc = json_of(&output);
    let socket = &socket_list(&doc)[0];
    assert_ne!(socket["owner"], "known", "{doc}");
    assert_eq!(socket["owner"], "none", "{doc}");
    assert_eq!(
        socket["owner_reason"], "its holder exited while portscope was reading it",
        "{doc}"
    );
}

/// A full fd table while reading /proc is said as such: never "exited", never "no holder".
/// (The /proc walk's case: the in-kernel map opens no fd directory.)
#[test]
fn running_out_of_fds_is_not_taken_for_an_exited_process() {
    let holder = Holder::spawn(&["--name", "psNoFds", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    let pid = holder.pid.to_string();
    let output = run_shimmed(
        &[&port, "--json", "--owner-scan", "proc"],
        &[("PORTSCOPE_SHIM_EMFILE_PID", &pid)],
    );
    let doc = json_of(&output);
    let socket = &socket_list(&doc)[0];
    assert_eq!(socket["owner"], "hidden", "{doc}");
    let reason = socket["owner_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("ran out of file descriptors"), "{doc}");
}

/// A process name that is not UTF-8 does not make its holder unstoppable.
#[test]
fn a_holder_with_a_non_utf8_name_can_be_stopped() {
    let holder = Holder::spawn(&["--name-hex", "ff6e67696e78", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    let output = run(&[&port, "--kill", "--yes", "--timeout", "3s"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{text}{}",
        stderr_of(&output)
    );
    assert!(
        text.contains(&format!("sent SIGTERM to pid {} (\\xffnginx)", holder.pid)),
        "{text}"
    );
}

/// Under hidepid=2 (and with a mount point elsewhere that is not UTF-8), another user's
/// listener is "owner hidden", never "no visible process holds it".
#[test]
fn hidepid_is_seen_past_a_mount_point_that_is_not_utf8() {
    if !require_root("hidepid_is_seen_past_a_mount_point_that_is_not_utf8") {
        return;
    }
    let holder = Holder::spawn(&["--name", "psHidden", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    let dir = std::env::temp_dir().join(OsStr::from_bytes(b"ps-hidepid-\xff\xfe"));
    let script = r#"mkdir -p "$PS_DIR" && mount -t tmpfs none "$PS_DIR" \
        && mount -t proc -o hidepid=2 proc /proc \
        && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$PS_BIN" "$PS_PORT" --json"#;
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .env("PS_DIR", &dir)
        .env("PS_BIN", BIN)
        .env("PS_PORT", &port)
        .output()
        .expect("run unshare");
    let _ = std::fs::remove_dir(&dir);
    let doc = json_of(&output);
    let socket = &socket_list(&doc)[0];
    assert_eq!(socket["owner"], "hidden", "{doc}");
    let reason = socket["owner_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("hidepid"), "{doc}");
}

/// Your own process that is not dumpable is yours, not "another user's".
#[test]
fn your_own_non_dumpable_process_is_named_as_such() {
    if !require_root("your_own_non_dumpable_process_is_named_as_such") {
        return;
    }
    let holder = Holder::spawn_as(65534, &["--name", "psNoDump", "--non-dumpable", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let output = run_with(&nobody, &[&port, "--json"]);
    let doc = json_of(&output);
    let socket = &socket_list(&doc)[0];
    assert_eq!(socket["owner"], "hidden", "{doc}");
    let reason = socket["owner_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("not dumpable"), "{doc}");
}

/// Root inside a user namespace is not root outside it.
#[test]
fn root_in_a_user_namespace_is_not_full_root() {
    if !require_root("root_in_a_user_namespace_is_not_full_root") {
        return;
    }
    let holder = Holder::spawn_as(65534, &["--name", "psOutside", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    let output = run_with(
        &["unshare", "--user", "--map-root-user"],
        &[&port, "--json"],
    );
    let doc = json_of(&output);
    let socket = &socket_list(&doc)[0];
    assert_eq!(socket["owner"], "hidden", "{doc}");
    let reason = socket["owner_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("user namespace"), "{doc}");
}

/// A private network namespace for the kill tests that must not be able to reach anything but
/// their own holder, even if portscope regressed.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("psf{tag}{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        let _ = Command::new("ip")
            .args(["netns", "exec", &name, "ip", "link", "set", "lo", "up"])
            .status();
        Netns { name }
    }

    fn prefix(&self) -> [&str; 4] {
        ["ip", "netns", "exec", self.name.as_str()]
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// One `--yes` over a wide range is not enough to stop every holder on the host.
#[test]
fn a_wide_kill_needs_all_holders() {
    if !require_root("a_wide_kill_needs_all_holders") {
        return;
    }
    let ns = Netns::new("wide");
    let holder = Holder::spawn_with(&ns.prefix(), &["--name", "psWide", "tcp4"], None);
    let output = run_with(&ns.prefix(), &["1-65535", "--kill", "--yes"]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("--all-holders"), "{stderr}");
    assert!(stderr.contains("65535 port numbers"), "{stderr}");
    assert!(std::path::Path::new(&format!("/proc/{}", holder.pid)).exists());
    let output = run_with(
        &ns.prefix(),
        &[
            "1-65535",
            "--kill",
            "--yes",
            "--all-holders",
            "--timeout",
            "3s",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

/// `--kill --yes | true`: a closed stdout is a refusal (exit 5, nothing signalled), never a
/// quiet success.
#[test]
fn a_kill_with_a_closed_stdout_signals_nothing_and_says_so() {
    let holder = Holder::spawn(&["--name", "psPipe", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let output = portscope(&[&port, "--kill", "--yes"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run portscope");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("nothing was signalled"), "{stderr}");
    assert!(std::path::Path::new(&format!("/proc/{}", holder.pid)).exists());
    let doc = run_json(&[&port, "--json"]);
    assert_eq!(socket_list(&doc).len(), 1, "still held");
}

/// `--kill --format json` is one JSON document with what was planned, sent and found.
#[test]
fn kill_reports_in_json() {
    let holder = Holder::spawn(&["--name", "psJsonKill", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    let output = run(&[&port, "--kill", "--yes", "--json", "--timeout", "3s"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let doc = json_of(&output);
    assert_eq!(doc["result"], "signalled", "{doc}");
    assert_eq!(doc["targets"][0]["pid"], holder.pid, "{doc}");
    assert_eq!(doc["targets"][0]["sent"], "signalled", "{doc}");
    assert_eq!(doc["outcome"][0]["free"], true, "{doc}");
}

/// A stderr that cannot be written does not turn a refusal into a panic (exit 101).
#[test]
fn a_refusal_with_an_unwritable_stderr_keeps_exit_5() {
    let holder = Holder::spawn(&["--name", "psFullErr", "tcp4"]);
    let port = holder.one("tcp4").port.to_string();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let output = portscope(&[&port, "--kill"])
        .stderr(full)
        .output()
        .expect("run portscope");
    assert_eq!(output.status.code(), Some(5));
    assert!(std::path::Path::new(&format!("/proc/{}", holder.pid)).exists());
}

/// A command line of 2 MB is read only as far as any output shows (4 KiB), with its true
/// length said.
#[test]
fn a_huge_command_line_is_capped_with_its_length_kept() {
    let holder = Holder::spawn(&["--argv-pad", "2000000", "--name", "psHugeArgv", "tcp4"]);
    let port = holder.one("tcp4").port;
    let doc = run_json(&[&port.to_string(), "--json"]);
    let socket = find_socket(&doc, "tcp", port);
    let process = &socket["processes"][0];
    assert_eq!(process["cmdline_truncated"], true, "{process}");
    let bytes = process["cmdline_bytes"].as_u64().unwrap_or_default();
    assert!(bytes > 2_000_000, "{process}");
    let kept: usize = process["cmdline"]
        .as_array()
        .expect("cmdline")
        .iter()
        .map(|a| a.as_str().map_or(0, str::len))
        .sum();
    assert!(kept <= 4096, "kept {kept} bytes");
    let text = String::from_utf8_lossy(&run(&[&port.to_string()]).stdout).into_owned();
    assert!(text.contains("bytes in all)"), "{text}");
}

/// A clock before 1970 or after the year 9999 is not a panic: the time is unknown.
#[test]
fn a_clock_outside_rfc3339_is_unknown_not_a_panic() {
    for seconds in ["-3600", "253402300800"] {
        let output = run_shimmed(&["--once", "--json"], &[("PORTSCOPE_SHIM_CLOCK", seconds)]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{seconds}: {}",
            stderr_of(&output)
        );
        let doc = json_of(&output);
        assert_eq!(doc["taken_at"], Value::Null, "{seconds}");
    }
}

/// Without /proc the ephemeral range is unknown: `null`, never `false`.
#[test]
fn an_unknown_ephemeral_range_is_null() {
    if !require_root("an_unknown_ephemeral_range_is_null") {
        return;
    }
    let holder = Holder::spawn(&["--name", "psNoProc", "tcp4"]);
    let port = holder.one("tcp4").port;
    let script = r#"umount -l /proc && exec "$PS_BIN" "$PS_PORT" --json"#;
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .env("PS_BIN", BIN)
        .env("PS_PORT", port.to_string())
        .output()
        .expect("run unshare");
    let doc = json_of(&output);
    assert_eq!(doc["ephemeral_range"], Value::Null, "{doc}");
    let socket = find_socket(&doc, "tcp", port);
    assert_eq!(socket["ephemeral"], Value::Null, "{doc}");
    assert_eq!(socket["owner"], "hidden", "{doc}");
}
