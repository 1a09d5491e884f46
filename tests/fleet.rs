//! The fleet outputs against the real tools that read them: Prometheus' own `promtool check
//! metrics`, a real node_exporter serving the textfile over HTTP, JSON lines parsed one by one,
//! and `--watch` following real listeners as they come and go. Every socket is held by a real
//! process (`tests/support/holder.py`); hostile process names travel through every format.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use common::{Holder, encode_hex, ephemeral_range, free_port, installed, portscope, skip};
use portscope::report::prometheus::escape_label_value;
use serde_json::Value;

/// A process name any local user could set: an escape sequence, quotes, backslashes, a
/// newline-looking `\n`, a real line feed and a byte that is not UTF-8 (15 bytes at most).
const HOSTILE_NAME: &[u8] = b"\x1b[31m\"\\n\n\\\"\xffx";

const NODE_EXPORTER: &str = "prometheus-node-exporter";

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("portscope-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("list the temporary directory")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child that is killed and reaped on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port outside the OS ephemeral range that nothing holds (so it is listed by default).
fn free_port_below_ephemeral() -> u16 {
    let (low, _) = ephemeral_range();
    let start = 20_000 + u16::try_from(std::process::id() % 5_000).expect("fits");
    (start..low.max(start + 1))
        .chain(10_000..start)
        .find(|&port| {
            TcpListener::bind(("0.0.0.0", port)).is_ok()
                && TcpListener::bind(("::", port)).is_ok()
                && UdpSocket::bind(("0.0.0.0", port)).is_ok()
        })
        .expect("a free port below the ephemeral range")
}

fn stdout_of(args: &[&str]) -> String {
    let output = portscope(args).output().expect("run portscope");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "portscope {args:?}: {stderr}");
    assert!(output.stderr.is_empty(), "portscope {args:?}: {stderr}");
    String::from_utf8(output.stdout).expect("output is UTF-8")
}

/// The sanitized name portscope gives a holder, as its JSON says.
fn shown_name(port: u16) -> String {
    let port = port.to_string();
    let text = stdout_of(&[&port, "--format", "jsonl", "-t"]);
    let controls = text
        .bytes()
        .filter(|&b| (b < 0x20 && b != b'\n') || b == 0x7f);
    assert_eq!(
        controls.count(),
        0,
        "no raw control byte in a JSON line: {text:?}"
    );
    let line: Value = serde_json::from_str(text.lines().next().expect("one line")).expect("JSON");
    line["processes"][0]["name"]
        .as_str()
        .expect("a holder name")
        .to_string()
}

/// `portscope_listener_sockets` samples whose labels include `port="PORT"`, as (line, value).
fn listener_samples(text: &str, port: u16) -> Vec<(String, String)> {
    let needle = format!("port=\"{port}\"");
    text.lines()
        .filter(|l| l.starts_with("portscope_listener_sockets{") && l.contains(&needle))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample has a value");
            (series.to_string(), value.to_string())
        })
        .collect()
}

/// Each family has one HELP and one TYPE, before its samples, and no label set twice.
fn assert_well_formed(text: &str) {
    let mut described: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert_eq!(kind, "gauge", "{line}");
            assert!(
                !described.contains(&name.to_string()),
                "second TYPE: {line}"
            );
            described.push(name.to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name = line.split(['{', ' ']).next().expect("a metric name");
        assert_eq!(described.last().map(String::as_str), Some(name), "{line}");
        let (series, value) = line.rsplit_once(' ').expect("value");
        assert!(
            value.parse::<f64>().is_ok(),
            "one value, no timestamp: {line}"
        );
        assert!(seen.insert(series.to_string()), "duplicate series: {line}");
    }
}

#[test]
fn promtool_accepts_the_metrics_with_a_hostile_name() {
    if !installed("promtool", "--version") {
        skip(
            "promtool_accepts_the_metrics",
            "promtool is not installed (make test-deps)",
        );
        return;
    }
    let holder = Holder::spawn(&["--name-hex", &encode_hex(HOSTILE_NAME), "tcp4", "udp4"]);
    let tcp = holder.one("tcp4").port;
    let udp = holder.one("udp4").port;
    let (tcp_arg, udp_arg) = (format!("{tcp}/tcp"), format!("{udp}/udp"));
    let args = [
        "--format",
        "prometheus",
        "--prometheus-all",
        &tcp_arg,
        &udp_arg,
    ];
    let text = stdout_of(&args);
    assert_well_formed(&text);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    promtool
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let checked = promtool.wait_with_output().expect("promtool ran");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(checked.status.success(), "promtool: {said}\n{text}");
    assert!(
        said.trim().is_empty(),
        "promtool found problems: {said}\n{text}"
    );
    let process = format!("process=\"{}\"", escape_label_value(&shown_name(tcp)));
    for port in [tcp, udp] {
        let samples = listener_samples(&text, port);
        assert_eq!(samples.len(), 1, "{port}: {text}");
        assert!(samples[0].0.contains(&process), "{process} in {samples:?}");
        assert_eq!(samples[0].1, "1", "{samples:?}");
    }
    // The raw bytes never reach the text: no ESC, no line feed inside a sample.
    assert!(!text.contains('\u{1b}'), "{text}");
}

/// A file that cannot be written is exit 4 with one line naming it, and nothing is left over.
#[test]
fn an_unwritable_textfile_is_exit_4_naming_the_file() {
    let dir = TempDir::new("textfile-missing");
    let file = dir.0.join("no-such-dir").join("portscope.prom");
    let output = portscope(&["--prometheus-textfile", file.to_str().expect("UTF-8")])
        .output()
        .expect("run portscope");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(file.to_str().expect("UTF-8")), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(dir.names().is_empty(), "{:?}", dir.names());
}

/// A real node_exporter on a free loopback port, reading only a temporary textfile directory.
fn start_node_exporter(dir: &Path) -> (Reaped, u16) {
    let port = TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let child = Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args([
            "--collector.disable-defaults",
            "--collector.textfile",
            "--web.disable-exporter-metrics",
        ])
        .arg(format!("--collector.textfile.directory={}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node_exporter");
    (Reaped(child), port)
}

/// `GET /metrics` over plain HTTP/1.0; None until the exporter answers 200.
fn scrape(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.lines()
        .next()
        .is_some_and(|status| status.contains(" 200 "))
        .then(|| body.to_string())
}

fn scrape_when_ready(exporter: &mut Reaped, port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(body) = scrape(port) {
            return body;
        }
        if let Ok(Some(status)) = exporter.0.try_wait() {
            panic!("node_exporter exited before answering: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "node_exporter did not answer on {port}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn node_exporter_serves_the_textfile_with_the_values_written() {
    if !installed(NODE_EXPORTER, "--version") {
        skip(
            "node_exporter_serves_the_textfile",
            "prometheus-node-exporter is not installed (make test-deps)",
        );
        return;
    }
    let dir = TempDir::new("textfile");
    let listed_port = free_port_below_ephemeral();
    let port_arg = listed_port.to_string();
    // Two SO_REUSEPORT sockets with one label set: one series whose value is 2.
    let pair = Holder::spawn(&[
        "--name-hex",
        &encode_hex(HOSTILE_NAME),
        "--port",
        &port_arg,
        "reuseport-pair",
    ]);
    // A listener inside the ephemeral range: counted, not listed.
    let ephemeral = Holder::spawn(&["--name", "psEphemeral", "tcp4"]);
    let ephemeral_port = ephemeral.one("tcp4").port;
    let file = dir.0.join("portscope.prom");
    let written = portscope(&["--prometheus-textfile", file.to_str().expect("UTF-8 path")])
        .output()
        .expect("run portscope");
    assert!(written.status.success(), "{written:?}");
    assert!(
        written.stdout.is_empty() && written.stderr.is_empty(),
        "{written:?}"
    );
    assert_eq!(
        dir.names(),
        ["portscope.prom"],
        "no temporary file is left behind"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&file).expect("stat").permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o644,
        "readable by an unprivileged node_exporter"
    );

    let (mut exporter, port) = start_node_exporter(&dir.0);
    let body = scrape_when_ready(&mut exporter, port);
    assert!(
        body.lines().any(|l| l == "node_textfile_scrape_error 0"),
        "{body}"
    );
    assert!(
        body.lines()
            .any(|l| l.starts_with("node_textfile_mtime_seconds{") && l.contains("portscope.prom")),
        "{body}"
    );
    let name = format!(
        "process=\"{}\"",
        escape_label_value(&shown_name(listed_port))
    );
    let samples = listener_samples(&body, listed_port);
    assert_eq!(samples.len(), 1, "{samples:?}\n{body}");
    assert!(samples[0].0.contains(&name), "{name} in {samples:?}");
    assert!(samples[0].0.contains("netns=\"host\""), "{samples:?}");
    assert_eq!(samples[0].1, "2", "two sockets, one series: {samples:?}");
    assert!(listener_samples(&body, ephemeral_port).is_empty(), "{body}");
    let omitted = body
        .lines()
        .find_map(|l| l.strip_prefix("portscope_series_omitted "))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("portscope_series_omitted");
    assert!(
        omitted >= 1.0,
        "the ephemeral listener is counted as omitted: {body}"
    );
    let version = format!(
        "portscope_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(body.lines().any(|l| l == version), "{version}\n{body}");
    drop((pair, ephemeral));
}

#[test]
fn jsonl_lines_parse_one_by_one_with_each_holders_fds() {
    let holder = Holder::spawn(&["--name", "psJsonl", "shared-child", "udp4"]);
    let shared = holder.one("shared-child");
    let udp = holder.one("udp4");
    let text = stdout_of(&["--format", "jsonl"]);
    let mut ours = Vec::new();
    for line in text.lines() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(value["schema"], 1, "{line}");
        assert!(
            value["host"].is_string() && value["taken_at"].is_string(),
            "{line}"
        );
        assert!(value["sockets"].is_null(), "one socket per line: {line}");
        let port = value["port"].as_u64().expect("port");
        if port == u64::from(shared.port) || port == u64::from(udp.port) {
            ours.push(value);
        }
    }
    assert!(text.ends_with('\n'), "every line ends in a newline");
    assert_eq!(ours.len(), 2, "{text}");
    for socket in &ours {
        let inode = socket["inode"].as_u64().expect("inode");
        for process in socket["processes"].as_array().expect("processes") {
            let pid = process["pid"].as_u64().expect("pid");
            let fds: Vec<u64> = process["fds"]
                .as_array()
                .expect("fds")
                .iter()
                .map(|f| f.as_u64().expect("fd"))
                .collect();
            assert_eq!(fds, fds_holding(pid, inode), "pid {pid}: {socket}");
        }
    }
    let shared_json = ours
        .iter()
        .find(|s| s["proto"] == "tcp")
        .expect("the shared socket");
    assert_eq!(common::socket_pids(shared_json), shared.pids);
}

/// The fds of `pid` that point at socket `inode`, read from /proc by the test itself.
fn fds_holding(pid: u64, inode: u64) -> Vec<u64> {
    let target = format!("socket:[{inode}]");
    let mut fds: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list the holder's fds")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let link = std::fs::read_link(entry.path()).ok()?;
            (link.as_os_str() == target.as_str())
                .then(|| entry.file_name().to_str()?.parse().ok())?
        })
        .collect();
    fds.sort_unstable();
    fds
}

/// A running `portscope --watch`, its lines arriving on a channel.
struct Watch {
    child: Reaped,
    lines: Receiver<String>,
}

impl Watch {
    fn start(args: &[&str]) -> Watch {
        Watch::spawn(portscope(args))
    }

    fn spawn(mut command: Command) -> Watch {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start portscope --watch");
        let stdout = child.stdout.take().expect("piped stdout");
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Watch {
            child: Reaped(child),
            lines,
        }
    }

    /// The next event, parsed; None when none came within `timeout`.
    fn next(&self, timeout: Duration) -> Option<Value> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")))
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    fn exit_within(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.0.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "portscope --watch did not end");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn watch_sees_a_listener_added_then_removed_within_two_intervals() {
    // Long enough that one collection on a loaded 2-core machine (about a second for a debug
    // build walking 700 processes) fits well within it.
    let interval = Duration::from_secs(2);
    let port = free_port();
    let port_arg = port.to_string();
    let mut watch = Watch::start(&[
        &port_arg,
        "-t",
        "--watch",
        "--format",
        "json",
        "--interval",
        "2s",
    ]);
    let first = watch
        .next(Duration::from_secs(10))
        .expect("the snapshot event");
    assert_eq!(
        (&first["event"], &first["seq"]),
        (&"snapshot".into(), &0.into())
    );
    assert_eq!(
        first["sockets"],
        serde_json::json!([]),
        "nothing on {port} yet"
    );

    let holder = Holder::spawn(&["--name", "psWatched", "--port", &port_arg, "tcp4"]);
    let added = watch
        .next(2 * interval)
        .expect("added within two intervals");
    assert_eq!(added["event"], "added", "{added}");
    assert_eq!(added["seq"], 1);
    assert_eq!(added["key"]["port"], port);
    assert_eq!(added["key"]["netns"], "host");
    assert_eq!(common::socket_pids(&added["socket"]), [holder.pid]);
    let fds = &added["socket"]["processes"][0]["fds"];
    assert!(fds.as_array().is_some_and(|f| !f.is_empty()), "{added}");

    drop(holder);
    let removed = watch
        .next(2 * interval)
        .expect("removed within two intervals");
    assert_eq!(removed["event"], "removed", "{removed}");
    assert_eq!(removed["key"], added["key"], "the same socket");
    assert_eq!(removed["seq"], 2);

    watch.signal("TERM");
    let status = watch.exit_within(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "SIGTERM ends the watch with exit 0");
}

#[test]
fn watch_jsonl_writes_the_first_state_one_socket_per_line() {
    let holder = Holder::spawn(&["--name", "psWatchL", "tcp4", "tcp6"]);
    let ports: Vec<String> = holder.sockets.iter().map(|s| s.port.to_string()).collect();
    let mut args: Vec<&str> = ports.iter().map(String::as_str).collect();
    args.extend(["-t", "--watch", "--format", "jsonl", "--interval", "1h"]);
    let mut watch = Watch::start(&args);
    for seq in 0..2 {
        let event = watch
            .next(Duration::from_secs(10))
            .expect("a snapshot line");
        assert_eq!(
            (&event["event"], &event["seq"]),
            (&"snapshot".into(), &seq.into())
        );
        assert_eq!(
            common::socket_pids(&event["socket"]),
            [holder.pid],
            "{event}"
        );
    }
    // SIGINT ends even an hour-long sleep at once.
    watch.signal("INT");
    assert_eq!(watch.exit_within(Duration::from_secs(5)).code(), Some(0));
}

/// A table that cannot be read is an `error` event, said once; its sockets are not `removed`,
/// and when it can be read again they are not `added` either.
#[test]
fn an_unreadable_table_is_an_error_not_a_burst_of_removed() {
    let holder = Holder::spawn(&["--name", "psFault", "tcp4", "udp4"]);
    let (tcp, udp) = (holder.one("tcp4").port, holder.one("udp4").port);
    let dir = TempDir::new("watch-fault");
    let flag = dir.0.join("udp-fails");
    let (tcp_arg, udp_arg) = (format!("{tcp}/tcp"), format!("{udp}/udp"));
    let mut command = portscope(&[&tcp_arg, &udp_arg, "--watch", "--format", "jsonl"]);
    command
        .args(["--interval", "500ms"])
        .env("LD_PRELOAD", common::shim())
        .env("PORTSCOPE_SHIM_NO_DIAG", "17")
        .env("PORTSCOPE_SHIM_NO_DIAG_WHILE", &flag);
    let mut watch = Watch::spawn(command);
    let mut first: Vec<String> = (0..2)
        .map(|_| {
            watch
                .next(Duration::from_secs(10))
                .expect("a snapshot line")
        })
        .map(|e| format!("{} {}", e["event"], e["key"]["proto"]))
        .collect();
    first.sort();
    assert_eq!(first, ["\"snapshot\" \"tcp\"", "\"snapshot\" \"udp\""]);

    std::fs::write(&flag, "").expect("make UDP fail");
    let mut errors = Vec::new();
    while let Some(event) = watch.next(Duration::from_secs(3)) {
        assert_eq!(
            event["event"], "error",
            "only errors while UDP fails: {event}"
        );
        errors.push(event["message"].as_str().expect("message").to_string());
    }
    errors.sort();
    assert_eq!(errors.len(), 2, "udp4 and udp6, each said once: {errors:?}");
    assert!(
        errors[0].contains("udp/ipv4") && errors[1].contains("udp/ipv6"),
        "{errors:?}"
    );

    std::fs::remove_file(&flag).expect("let UDP be read again");
    assert!(
        watch.next(Duration::from_secs(3)).is_none(),
        "the recovered table adds nothing"
    );
    drop(holder);
    let mut removed: Vec<String> = (0..2)
        .map(|_| watch.next(Duration::from_secs(5)).expect("removed"))
        .map(|e| format!("{} {}", e["event"], e["key"]["port"]))
        .collect();
    removed.sort();
    let mut expected = [format!("\"removed\" {tcp}"), format!("\"removed\" {udp}")];
    expected.sort();
    assert_eq!(removed, expected);
    watch.signal("TERM");
    assert_eq!(watch.exit_within(Duration::from_secs(5)).code(), Some(0));
}

#[test]
fn a_closed_stdout_ends_the_watch_with_exit_0() {
    let port = free_port().to_string();
    let mut child = portscope(&[&port, "--watch", "--json", "--interval", "1h"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start portscope --watch");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the snapshot line");
    assert!(first.contains("\"event\":\"snapshot\""), "{first}");
    // The reader goes away; nothing more would be written for an hour.
    drop(stdout);
    let mut watch = Watch {
        lines: mpsc::channel().1,
        child: Reaped(child),
    };
    let status = watch.exit_within(Duration::from_secs(5));
    let mut stderr = String::new();
    if let Some(mut pipe) = watch.child.0.stderr.take() {
        pipe.read_to_string(&mut stderr).expect("read stderr");
    }
    assert_eq!(status.code(), Some(0), "{status}: {stderr}");
    assert!(
        stderr.is_empty(),
        "a closed stdout is not an error: {stderr}"
    );
}
