//! `portscope PORT --kill` against real processes: the built binary signals real holders (from
//! `tests/support/holder.py` and `tests/support/kill_helpers.py`), asks on a real terminal (a
//! private tmux server), refuses dangerous pids, and never signals a process that reused the
//! pid of the one it showed (a fresh PID namespace makes the reuse deterministic).
//!
//! Every process is owned by a guard that kills it on drop; nothing waits a fixed time: each
//! wait polls for its condition until a deadline.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fd::OwnedFd;
use rustix::process::{Pid, PidfdFlags, pidfd_open};
use serde_json::Value;

use common::{
    BIN, HOLDER, as_u16, as_u32, free_port, installed, is_root, portscope, require_root, skip,
    user_name,
};

const HELPERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/kill_helpers.py");

/// How long any one condition may take to come true.
const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

/// Signal numbers (the same on every Linux architecture).
const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;

const REFUSE_NO_TTY: &str = "portscope: refusing to send SIGTERM without confirmation: standard input is not a terminal (add --yes)\n";
const GONE: &str = "nothing sent: it has exited (or its pid was reused)";
const PID_1: &str = "is left alone: pid 0 and pid 1 are never signalled";
const MYSELF: &str = "is left alone: that is portscope itself";
const MY_PARENT: &str = "is left alone: that is portscope's parent (your shell or sudo)";

// ---------------------------------------------------------------------------------------------
// Processes

/// A helper process that prints one JSON line when ready and then blocks on its stdin. Dropping
/// it closes stdin (it then exits on its own) and kills its process group if it does not exit
/// promptly.
struct Proc {
    argv: Vec<String>,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    ready: Value,
}

impl Proc {
    fn spawn(argv: &[&str]) -> Proc {
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        // The guard owns the process from here on, so a missing ready line still cleans up.
        let mut proc = Proc {
            argv: argv.iter().map(ToString::to_string).collect(),
            child,
            stdin,
            stdout,
            ready: Value::Null,
        };
        proc.ready = proc.read_json("its ready line");
        proc
    }

    /// `python3 kill_helpers.py ARGS...`
    fn helper(args: &[&str]) -> Proc {
        let mut argv = vec!["python3", HELPERS];
        argv.extend(args);
        Proc::spawn(&argv)
    }

    /// `python3 holder.py ARGS...`
    fn holder(args: &[&str]) -> Proc {
        let mut argv = vec!["python3", HOLDER];
        argv.extend(args);
        Proc::spawn(&argv)
    }

    fn read_json(&mut self, what: &str) -> Value {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{:?}: cannot read {what}: {e}", self.argv));
        assert!(
            !line.trim().is_empty(),
            "{:?} ended without {what} (its stderr is above)",
            self.argv
        );
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{:?}: {what} is not JSON ({e}): {line:?}", self.argv))
    }

    /// Sends one command line and reads the one JSON line that answers it.
    fn request(&mut self, command: &str) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{command}").expect("write a command");
        stdin.flush().expect("flush a command");
        self.read_json(&format!("the answer to {command:?}"))
    }

    fn pid(&self) -> u32 {
        as_u32(&self.ready["pid"])
    }

    /// The port of a kill_helpers.py listener, or of holder.py's first socket.
    fn port(&self) -> u16 {
        match &self.ready["port"] {
            Value::Null => as_u16(&self.ready["sockets"][0]["port"]),
            port => as_u16(port),
        }
    }

    /// holder.py: the pids of the processes it forked.
    fn children(&self) -> Vec<u32> {
        self.ready["children"]
            .as_array()
            .expect("children is an array")
            .iter()
            .map(as_u32)
            .collect()
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits (polling) until the process has exited, and reaps it.
    fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{:?} (pid {}) did not exit",
                self.argv,
                self.child.id()
            );
            thread::sleep(POLL);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                _ => break,
            }
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pidfd on a process that is not our child: tells whether *that* process has exited, even
/// once it is a zombie nobody reaps, and never confuses it with a process that reused its pid.
struct PidWatch {
    pid: u32,
    fd: OwnedFd,
}

impl PidWatch {
    fn open(pid: u32) -> PidWatch {
        let raw = i32::try_from(pid).expect("pid fits pid_t");
        let fd = pidfd_open(Pid::from_raw(raw).expect("pid > 0"), PidfdFlags::empty())
            .unwrap_or_else(|e| panic!("pidfd_open({pid}): {e}"));
        PidWatch { pid, fd }
    }

    fn exited_within(&self, limit: Duration) -> bool {
        let timeout = Timespec::try_from(limit).expect("timeout fits a timespec");
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        poll(&mut fds, Some(&timeout)).unwrap_or_else(|e| panic!("poll pidfd {}: {e}", self.pid))
            > 0
    }

    fn alive(&self) -> bool {
        !self.exited_within(Duration::ZERO)
    }
}

/// The signals pending for a process (thread and shared masks together).
fn pending(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .filter_map(|l| {
            l.strip_prefix("SigPnd:")
                .or_else(|| l.strip_prefix("ShdPnd:"))
        })
        .map(|mask| u64::from_str_radix(mask.trim(), 16).expect("hex signal mask"))
        .fold(0, |all, mask| all | mask)
}

// ---------------------------------------------------------------------------------------------
// Running portscope

/// The outcome of one portscope run.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// `portscope ARGS...` with stdin from /dev/null.
fn run(args: &[&str]) -> Run {
    portscope(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run portscope {args:?}: {e}"))
        .into()
}

/// The report of a helper that ran portscope itself (parent-runs, ns-init-holder).
fn run_of(report: &Value) -> Run {
    Run {
        code: report["code"]
            .as_i64()
            .map(|c| i32::try_from(c).expect("exit code")),
        stdout: report["stdout"].as_str().expect("stdout").to_string(),
        stderr: report["stderr"].as_str().expect("stderr").to_string(),
    }
}

/// True if `text` names `pid N` (not just the start of a longer number).
fn mentions_pid(text: &str, pid: u32) -> bool {
    let needle = format!("pid {pid}");
    text.match_indices(&needle).any(|(at, _)| {
        !text[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// Asserts that `lines` appear in `text` in this order.
fn assert_in_order(text: &str, lines: &[&str]) {
    let mut from = 0;
    for line in lines {
        match text[from..].find(line) {
            Some(at) => from += at + line.len(),
            None => panic!("missing (or out of order): {line:?}\nin:\n{text}"),
        }
    }
}

/// `portscope PORT` (a query, not a kill) still finds a listener on the port.
fn port_is_held(port: u16) -> bool {
    run(&[&port.to_string()]).code == Some(0)
}

// ---------------------------------------------------------------------------------------------
// A real terminal

/// Single-quotes `text` for sh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// One private tmux server (`tmux -L pskill-<pid>-<tag>`) running one command in a 250×50
/// pane; the shell records the command's exit status in a file and keeps the pane open. Only
/// this server is killed on drop.
struct Tty {
    server: String,
    exit_file: PathBuf,
    socket: Option<PathBuf>,
}

impl Tty {
    fn start(tag: &str, command: &str) -> Tty {
        let server = format!("pskill-{}-{tag}", std::process::id());
        let exit_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{server}.exit"));
        let _ = fs::remove_file(&exit_file);
        let mut tty = Tty {
            server,
            exit_file,
            socket: None,
        };
        let script = format!(
            "{command}; echo EXIT=$? > {}; exec cat",
            quote(&tty.exit_file.to_string_lossy())
        );
        let output = Command::new("tmux")
            .args(["-L", &tty.server, "-f", "/dev/null"])
            .args(["new-session", "-d", "-s", "ps", "-x", "250", "-y", "50"])
            .arg(format!("sh -c {}", quote(&script)))
            .output()
            .expect("run tmux new-session");
        assert!(output.status.success(), "tmux new-session: {output:?}");
        let socket = tty.tmux(&["display-message", "-p", "-t", "ps", "#{socket_path}"]);
        tty.socket = Some(PathBuf::from(
            String::from_utf8_lossy(&socket.stdout).trim(),
        ));
        tty
    }

    fn tmux(&self, args: &[&str]) -> Output {
        let output = Command::new("tmux")
            .args(["-L", &self.server])
            .args(args)
            .output()
            .expect("run tmux");
        assert!(output.status.success(), "tmux {args:?}: {output:?}");
        output
    }

    /// The whole pane, history included, wrapped lines joined.
    fn screen(&self) -> String {
        let output = self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "ps"]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        let mut previous = String::new();
        loop {
            let screen = self.screen();
            // Two equal captures in a row: tmux can be read while a frame is half drawn.
            if ready(&screen) && screen == previous {
                return screen;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            previous = screen;
            thread::sleep(POLL);
        }
    }

    /// Types `text` (may be empty), then presses Enter.
    fn answer(&self, text: &str) {
        if !text.is_empty() {
            self.tmux(&["send-keys", "-t", "ps", "-l", text]);
        }
        self.tmux(&["send-keys", "-t", "ps", "Enter"]);
    }

    /// Waits for the command to end; its exit status.
    fn wait_exit(&self) -> i32 {
        let start = Instant::now();
        loop {
            if let Ok(text) = fs::read_to_string(&self.exit_file)
                && text.ends_with('\n')
            {
                let code = text.trim().strip_prefix("EXIT=").expect("EXIT= line");
                return code.parse().expect("exit status");
            }
            assert!(
                start.elapsed() < DEADLINE,
                "the command did not exit; screen:\n{}",
                self.screen()
            );
            thread::sleep(POLL);
        }
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.server, "kill-server"])
            .output();
        if let Some(socket) = &self.socket {
            let _ = fs::remove_file(socket);
        }
        let _ = fs::remove_file(&self.exit_file);
    }
}

// ---------------------------------------------------------------------------------------------
// PID namespaces

/// `unshare --pid --fork --mount-proc --kill-child` (with `--user --map-root-user` when not
/// root), or None (after a skip line) when unshare is missing or does not work here.
fn unshare_prefix(test: &str) -> Option<Vec<&'static str>> {
    if !installed("unshare", "--version") {
        skip(test, "unshare (util-linux) is not installed");
        return None;
    }
    let mut prefix = vec!["unshare"];
    if !is_root() {
        prefix.extend(["--user", "--map-root-user"]);
    }
    prefix.extend(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    let works = Command::new(prefix[0])
        .args(&prefix[1..])
        .arg("true")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        skip(test, &format!("{} does not work here", prefix.join(" ")));
        return None;
    }
    Some(prefix)
}

/// The host pid of the namespace's init: the only child of the `unshare --fork` process.
fn ns_init_host_pid(unshare: u32) -> u32 {
    let path = format!("/proc/{unshare}/task/{unshare}/children");
    let start = Instant::now();
    loop {
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let children: Vec<u32> = text
            .split_whitespace()
            .map(|p| p.parse().expect("pid"))
            .collect();
        match children[..] {
            [init] => return init,
            [] => {}
            _ => panic!("unshare has several children: {children:?}"),
        }
        assert!(start.elapsed() < DEADLINE, "unshare has no child");
        thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn sigterm_frees_the_port() {
    let mut holder = Proc::helper(&["listen", "--name", "ps-term-me"]);
    let (pid, port) = (holder.pid(), holder.port());
    let run = run(&[&port.to_string(), "--kill", "--yes"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stderr, "", "{run:?}");
    assert_in_order(
        &run.stdout,
        &[
            "SIGTERM will be sent to 1 process:\n",
            &format!("  pid {pid}  ps-term-me  user {}  started ", user_name()),
            "\n    exe     /",
            "\n    command ",
            "kill_helpers.py listen --name ps-term-me\n",
            &format!("    holds   tcp 127.0.0.1:{port}\n"),
            &format!("sent SIGTERM to pid {pid} (ps-term-me)\n"),
            &format!("port {port} is free\n"),
        ],
    );
    let status = holder.wait_exit();
    assert_eq!(status.signal(), Some(SIGTERM), "{status:?}");
    assert!(!port_is_held(port), "port {port} is still held");
}

#[test]
fn nothing_on_the_port_exits_1() {
    let port = free_port();
    for args in [vec!["--kill", "--yes"], vec!["--kill"]] {
        let mut argv = vec![port.to_string()];
        argv.extend(args.iter().map(ToString::to_string));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let run = run(&argv);
        assert_eq!(run.code, Some(1), "{argv:?}: {run:?}");
        assert_eq!(run.stdout, format!("{port}: free; nothing to stop\n"));
        assert_eq!(run.stderr, "", "{run:?}");
    }
}

#[test]
fn a_holder_that_ignores_sigterm_needs_force() {
    let mut holder = Proc::helper(&["listen", "--name", "ps-stubborn", "--ignore-term"]);
    let (pid, port) = (holder.pid(), holder.port());
    let p = port.to_string();

    let run1 = run(&[&p, "--kill", "--yes", "--timeout", "1s"]);
    assert_eq!(run1.code, Some(6), "{run1:?}");
    assert_in_order(
        &run1.stdout,
        &[
            &format!("sent SIGTERM to pid {pid} (ps-stubborn)\n"),
            &format!(
                "port {port}/tcp is still held by pid {pid} (ps-stubborn): it is still running after SIGTERM; add --force to send SIGKILL after the timeout\n"
            ),
        ],
    );
    assert!(!run1.stdout.contains("is free"), "{run1:?}");
    assert!(holder.running(), "the holder ignores SIGTERM");
    assert!(port_is_held(port));

    let run2 = run(&[&p, "--kill", "--yes", "--timeout", "1s", "--force"]);
    assert_eq!(run2.code, Some(0), "{run2:?}");
    assert_in_order(
        &run2.stdout,
        &[
            &format!("sent SIGTERM to pid {pid} (ps-stubborn)\n"),
            "still held after 1s: sending SIGKILL\n",
            &format!("sent SIGKILL to pid {pid} (ps-stubborn)\n"),
            &format!("port {port} is free\n"),
        ],
    );
    assert_eq!(holder.wait_exit().signal(), Some(SIGKILL));
}

#[test]
fn signal_kill_frees_a_holder_that_ignores_sigterm() {
    let mut holder = Proc::helper(&["listen", "--name", "ps-stubborn", "--ignore-term"]);
    let (pid, port) = (holder.pid(), holder.port());
    let run = run(&[&port.to_string(), "--kill", "--yes", "--signal", "KILL"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_in_order(
        &run.stdout,
        &[
            "SIGKILL will be sent to 1 process:\n",
            &format!("sent SIGKILL to pid {pid} (ps-stubborn)\n"),
            &format!("port {port} is free\n"),
        ],
    );
    assert!(!run.stdout.contains("SIGTERM"), "{run:?}");
    assert_eq!(holder.wait_exit().signal(), Some(SIGKILL));
}

#[test]
fn every_holder_of_a_shared_listener_is_signalled() {
    let mut holder = Proc::holder(&["shared-child"]);
    let port = holder.port();
    let children = holder.children();
    assert_eq!(children.len(), 1, "{:?}", holder.ready);
    let child = PidWatch::open(children[0]);
    assert!(child.alive(), "the forked child died early");
    let run = run(&[&port.to_string(), "--kill", "--yes"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .starts_with("SIGTERM will be sent to 2 processes:\n"),
        "{run:?}"
    );
    for pid in [holder.pid(), child.pid] {
        assert!(
            run.stdout.contains(&format!("  pid {pid}  ")),
            "pid {pid} is not listed: {run:?}"
        );
        assert!(
            run.stdout.contains(&format!("sent SIGTERM to pid {pid} (")),
            "pid {pid} is not signalled: {run:?}"
        );
    }
    assert_eq!(
        run.stdout
            .matches(&format!("holds   tcp 127.0.0.1:{port}\n"))
            .count(),
        2,
        "{run:?}"
    );
    assert!(run.stdout.ends_with(&format!("port {port} is free\n")));
    assert_eq!(holder.wait_exit().signal(), Some(SIGTERM));
    assert!(child.exited_within(DEADLINE), "the forked child is alive");
}

#[test]
fn both_sides_of_a_reuseport_pair_are_signalled() {
    let mut holder = Proc::holder(&["reuseport-pair"]);
    let port = holder.port();
    let children: Vec<PidWatch> = holder.children().into_iter().map(PidWatch::open).collect();
    assert_eq!(children.len(), 2, "{:?}", holder.ready);
    let run = run(&[&port.to_string(), "--kill", "--yes"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .starts_with("SIGTERM will be sent to 2 processes:\n"),
        "{run:?}"
    );
    for child in &children {
        let pid = child.pid;
        assert!(run.stdout.contains(&format!("  pid {pid}  ")), "{run:?}");
        assert!(
            run.stdout.contains(&format!("sent SIGTERM to pid {pid} (")),
            "{run:?}"
        );
    }
    assert!(run.stdout.ends_with(&format!("port {port} is free\n")));
    for child in &children {
        assert!(child.exited_within(DEADLINE), "pid {} is alive", child.pid);
    }
    // The parent holds neither socket: not listed, not signalled.
    assert!(!mentions_pid(&run.stdout, holder.pid()), "{run:?}");
    assert!(holder.running(), "the parent was not a holder");
}

#[test]
fn without_a_terminal_nothing_is_sent() {
    // The holder blocks TERM/INT/HUP/QUIT: anything sent would stay pending, visibly.
    let mut holder = Proc::helper(&["listen", "--name", "ps-keep-me", "--block"]);
    let (pid, port) = (holder.pid(), holder.port());
    let run1 = run(&[&port.to_string(), "--kill"]);
    assert_eq!(run1.code, Some(5), "{run1:?}");
    assert_eq!(run1.stderr, REFUSE_NO_TTY, "{run1:?}");
    assert!(
        run1.stdout.starts_with(&format!(
            "SIGTERM will be sent to 1 process:\n  pid {pid}  ps-keep-me  "
        )),
        "{run1:?}"
    );
    assert!(!run1.stdout.contains("sent SIGTERM to"), "{run1:?}");
    assert!(!run1.stdout.contains("[y/N]"), "{run1:?}");

    // The same for SIGKILL, which could not be blocked.
    let run2 = run(&[
        &port.to_string(),
        "--kill",
        "--signal",
        "9",
        "--timeout",
        "0s",
    ]);
    assert_eq!(run2.code, Some(5), "{run2:?}");
    assert_eq!(
        run2.stderr,
        REFUSE_NO_TTY.replace("SIGTERM", "SIGKILL"),
        "{run2:?}"
    );

    assert!(holder.running(), "the holder was killed");
    assert_eq!(pending(pid), 0, "a signal was sent to the holder");
    assert!(port_is_held(port));
}

/// portscope asks on a terminal; `answer` is typed, then Enter. Returns (exit code, screen).
fn ask_on_a_terminal(tag: &str, port: u16, answer: &str) -> (i32, String) {
    let tty = Tty::start(
        tag,
        &format!("{} --netns current {port} --kill", quote(BIN)),
    );
    let prompt = "Send SIGTERM to this process? [y/N] ";
    tty.wait_for("the confirmation prompt", |s| s.contains(prompt));
    tty.answer(answer);
    let code = tty.wait_exit();
    (code, tty.screen())
}

fn declined_on_a_terminal(tag: &str, answer: &str) {
    if !installed("tmux", "-V") {
        skip(tag, "tmux is not installed");
        return;
    }
    let mut holder = Proc::helper(&["listen", "--name", "ps-keep-me", "--block"]);
    let (pid, port) = (holder.pid(), holder.port());
    let (code, screen) = ask_on_a_terminal(tag, port, answer);
    assert_eq!(code, 5, "screen:\n{screen}");
    assert_in_order(
        &screen,
        &[
            &format!("  pid {pid}  ps-keep-me  "),
            &format!("Send SIGTERM to this process? [y/N] {answer}\n"),
            "Nothing sent.\n",
        ],
    );
    assert!(!screen.contains("sent SIGTERM"), "screen:\n{screen}");
    assert!(!screen.contains("refusing"), "screen:\n{screen}");
    assert!(holder.running(), "the holder was killed");
    assert_eq!(pending(pid), 0, "a signal was sent to the holder");
    assert!(port_is_held(port));
}

#[test]
fn on_a_terminal_enter_sends_nothing() {
    declined_on_a_terminal("enter", "");
}

#[test]
fn on_a_terminal_n_sends_nothing() {
    declined_on_a_terminal("n", "n");
}

#[test]
fn on_a_terminal_y_frees_the_port() {
    if !installed("tmux", "-V") {
        skip("on_a_terminal_y_frees_the_port", "tmux is not installed");
        return;
    }
    let mut holder = Proc::helper(&["listen", "--name", "ps-term-me"]);
    let (pid, port) = (holder.pid(), holder.port());
    let (code, screen) = ask_on_a_terminal("y", port, "y");
    assert_eq!(code, 0, "screen:\n{screen}");
    assert_in_order(
        &screen,
        &[
            "Send SIGTERM to this process? [y/N] y\n",
            &format!("sent SIGTERM to pid {pid} (ps-term-me)\n"),
            &format!("port {port} is free\n"),
        ],
    );
    assert_eq!(holder.wait_exit().signal(), Some(SIGTERM));
}

#[test]
fn portscopes_parent_is_left_alone() {
    // A python process binds the port and runs `portscope PORT --kill --yes` as its child.
    let mut parent = Proc::helper(&[
        "parent-runs",
        "--name",
        "ps-parent",
        "--",
        BIN,
        "--netns",
        "current",
        "{port}",
        "--kill",
        "--yes",
    ]);
    let pid = parent.pid();
    let run = run_of(&parent.ready);
    assert_eq!(run.code, Some(5), "{run:?}");
    assert_eq!(
        run.stdout,
        format!("  pid {pid} (ps-parent) {MY_PARENT}\nNothing to signal.\n")
    );
    assert_eq!(run.stderr, "");
    assert_eq!(parent.ready["pending"], 0, "a signal reached the parent");
    assert_eq!(pending(pid), 0);
    assert!(parent.running());
    assert!(port_is_held(parent.port()));
}

#[test]
fn portscope_itself_and_its_parent_are_left_alone() {
    // The parent hands its listening socket down: portscope itself holds the port too.
    let mut parent = Proc::helper(&[
        "parent-runs",
        "--name",
        "ps-parent",
        "--pass-fd",
        "--",
        BIN,
        "--netns",
        "current",
        "{port}",
        "--kill",
        "--yes",
    ]);
    let pid = parent.pid();
    let me = as_u32(&parent.ready["child_pid"]);
    let run = run_of(&parent.ready);
    assert_eq!(run.code, Some(5), "{run:?}");
    let mut expected = [
        (pid, format!("  pid {pid} (ps-parent) {MY_PARENT}\n")),
        (me, format!("  pid {me} (portscope) {MYSELF}\n")),
    ];
    expected.sort();
    let expected: String = expected.into_iter().map(|(_, line)| line).collect();
    assert_eq!(run.stdout, format!("{expected}Nothing to signal.\n"));
    assert_eq!(run.stderr, "");
    assert_eq!(parent.ready["pending"], 0, "a signal reached the parent");
    assert!(parent.running());
    assert!(port_is_held(parent.port()));
}

#[test]
fn pid_1_is_left_alone() {
    let test = "pid_1_is_left_alone";
    let Some(mut argv) = unshare_prefix(test) else {
        return;
    };
    // Pid 1 of a fresh namespace holds the port; a child it forks (holding nothing) runs
    // portscope, so pid 1 is not portscope's parent and the only reason is "pid 1".
    argv.extend([
        "python3",
        HELPERS,
        "ns-init-holder",
        "--name",
        "ps-init",
        "--",
        BIN,
        "--netns",
        "current",
        "{port}",
        "--kill",
        "--yes",
    ]);
    let mut init = Proc::spawn(&argv);
    assert_eq!(init.pid(), 1, "{:?}", init.ready);
    let run = run_of(&init.ready);
    assert_eq!(run.code, Some(5), "{run:?}");
    assert_eq!(
        run.stdout,
        format!("  pid 1 (ps-init) {PID_1}\nNothing to signal.\n")
    );
    assert_eq!(run.stderr, "");
    assert_eq!(init.ready["pending"], 0, "a signal reached pid 1");
    assert!(init.running(), "the namespace is gone");
    assert!(port_is_held(init.port()));
}

/// Pid reuse, made deterministic in a fresh PID namespace: portscope shows holder A and waits
/// at the prompt (its pidfd on A already open); A is killed and B is started with A's pid
/// (through ns_last_pid), holding the port too if `hold`; then the user says yes.
fn pid_reuse(test: &str, hold: bool) {
    if !require_root(test) {
        return;
    }
    let Some(mut argv) = unshare_prefix(test) else {
        return;
    };
    if !installed("tmux", "-V") {
        skip(test, "tmux is not installed");
        return;
    }
    if !installed("nsenter", "--version") {
        skip(test, "nsenter (util-linux) is not installed");
        return;
    }
    argv.extend(["python3", HELPERS, "ns-orchestrator"]);
    let mut ns = Proc::spawn(&argv);
    assert_eq!(ns.pid(), 1, "{:?}", ns.ready);
    let init = ns_init_host_pid(ns.child.id());
    let hold_flag = if hold { "1" } else { "0" };
    for attempt in 1..=5 {
        let a = ns.request("start ps-holder-a 0");
        assert!(a["error"].is_null(), "{a}");
        let (a_pid, port) = (as_u32(&a["pid"]), as_u16(&a["port"]));

        let tty = Tty::start(
            &format!("{}-{attempt}", if hold { "reuse" } else { "gone" }),
            &format!(
                "nsenter --target {init} --pid --mount {} --netns current {port} --kill",
                quote(BIN)
            ),
        );
        let screen = tty.wait_for("the confirmation prompt", |s| s.contains("[y/N] "));
        assert!(
            screen.contains(&format!("  pid {a_pid}  ps-holder-a  user root")),
            "A is not the target; screen:\n{screen}"
        );

        let b = ns.request(&format!("reuse {a_pid} ps-holder-b {port} {hold_flag}"));
        if b["where"] == "ns_last_pid" {
            skip(
                test,
                &format!("the kernel refused a write to ns_last_pid: {}", b["error"]),
            );
            return;
        }
        assert!(b["error"].is_null(), "{b}");
        let b_pid = as_u32(&b["pid"]);
        if b["same"] != true {
            eprintln!("{test}: attempt {attempt}: B got pid {b_pid}, not {a_pid}; again");
            ns.request(&format!("kill {b_pid}"));
            tty.answer("n");
            assert_eq!(tty.wait_exit(), 5);
            continue;
        }
        assert_eq!(port_is_held(port), hold, "B holds port {port}: {hold}");

        tty.answer("y");
        let code = tty.wait_exit();
        let screen = tty.screen();
        assert_eq!(code, 5, "screen:\n{screen}");
        assert_in_order(
            &screen,
            &[
                "Send SIGTERM to this process? [y/N] y\n",
                &format!("pid {a_pid} (ps-holder-a): {GONE}\n"),
            ],
        );
        assert!(!screen.contains("sent SIGTERM"), "screen:\n{screen}");
        let status = ns.request(&format!("status {b_pid}"));
        assert_eq!(status["alive"], true, "B died: {status}");
        assert_eq!(status["pending"], 0, "a signal was sent to B: {status}");
        assert_eq!(port_is_held(port), hold);
        return;
    }
    panic!("{test}: B never got A's pid in 5 attempts");
}

#[test]
fn a_reused_pid_holding_the_port_is_not_signalled() {
    pid_reuse("a_reused_pid_holding_the_port_is_not_signalled", true);
}

#[test]
fn a_reused_pid_not_holding_the_port_is_not_signalled() {
    pid_reuse("a_reused_pid_not_holding_the_port_is_not_signalled", false);
}

/// A reuse of `old`'s pid by a new process `name` (holding a new port); None when the pid
/// went elsewhere (the caller tries again).
fn reuse_pid(ns: &mut Proc, test: &str, old: u32, name: &str) -> Option<(u32, u16)> {
    let b = ns.request(&format!("reuse {old} {name} 0 1"));
    if b["where"] == "ns_last_pid" {
        panic!(
            "{test}: the kernel refused a write to ns_last_pid: {}",
            b["error"]
        );
    }
    assert!(b["error"].is_null(), "{b}");
    let pid = as_u32(&b["pid"]);
    if b["same"] != true {
        eprintln!("{test}: the new process got pid {pid}, not {old}; again");
        ns.request(&format!("kill {pid}"));
        return None;
    }
    Some((pid, as_u16(&b["port"])))
}

/// The screen line of the listener on `port`.
fn row_of(screen: &str, port: u16) -> Option<String> {
    let needle = format!("127.0.0.1:{port}");
    screen
        .lines()
        .find(|l| {
            l.match_indices(&needle)
                .any(|(at, _)| matches!(l[at + needle.len()..].chars().next(), Some(' ' | '*')))
        })
        .map(str::to_string)
}

/// The live view in a PID namespace where pids are reused on purpose: a process that took a
/// dead holder's pid is shown under its own name (facts are cached by pid *and* start time),
/// and K on a row from before the reuse is refused instead of signalling the newcomer.
#[test]
fn the_live_view_never_names_or_signals_a_process_that_reused_a_pid() {
    let test = "the_live_view_never_names_or_signals_a_process_that_reused_a_pid";
    if !require_root(test) {
        return;
    }
    let Some(mut argv) = unshare_prefix(test) else {
        return;
    };
    assert!(installed("tmux", "-V"), "{test}: tmux is needed");
    assert!(
        installed("nsenter", "--version"),
        "{test}: nsenter is needed"
    );
    argv.extend(["python3", HELPERS, "ns-orchestrator"]);
    let mut ns = Proc::spawn(&argv);
    let init = ns_init_host_pid(ns.child.id());
    let tty = Tty::start(
        "live-reuse",
        &format!(
            "nsenter --target {init} --pid --mount {} --netns current --interval 300ms",
            quote(BIN)
        ),
    );
    tty.wait_for("the live view", |s| s.contains("Well-known 0–1023"));
    tty.tmux(&["send-keys", "-t", "ps", "-l", "/ps-"]);
    tty.tmux(&["send-keys", "-t", "ps", "Enter"]);

    // 1. A dies, B takes its pid on another port: B's row names B.
    let (b_pid, b_port) = loop {
        let a = ns.request("start ps-victim-a 0");
        let (a_pid, a_port) = (as_u32(&a["pid"]), as_u16(&a["port"]));
        tty.wait_for("A's row", |s| {
            row_of(s, a_port).is_some_and(|r| r.contains("ps-victim-a"))
        });
        if let Some(b) = reuse_pid(&mut ns, test, a_pid, "ps-innocent-b") {
            break b;
        }
    };
    let screen = tty.wait_for("B's row", |s| row_of(s, b_port).is_some());
    let row = row_of(&screen, b_port).unwrap_or_default();
    assert!(row.contains(&b_pid.to_string()), "{row}");
    assert!(
        row.contains("ps-innocent"),
        "B is shown as someone else: {row}\n{screen}"
    );

    // 2. Paused on C's row, C dies and D takes its pid: K refuses, and nothing reaches D.
    let keys = |keys: &[&str]| {
        for key in keys {
            tty.tmux(&["send-keys", "-t", "ps", key]);
        }
    };
    let (c_pid, d_pid) = loop {
        let c = ns.request("start ps-victim-c 0");
        let (c_pid, c_port) = (as_u32(&c["pid"]), as_u16(&c["port"]));
        tty.wait_for("C's row", |s| row_of(s, c_port).is_some());
        keys(&["/"]);
        keys(&["BSpace"; 20]);
        tty.tmux(&["send-keys", "-t", "ps", "-l", &c_port.to_string()]);
        keys(&["Enter"]);
        tty.wait_for("C's row alone", |s| {
            row_of(s, c_port).is_some_and(|r| r.contains("ps-victim-c"))
                && s.contains(&format!("filter \"{c_port}\""))
        });
        keys(&["Space"]);
        tty.wait_for("paused", |s| s.contains("PAUSED"));
        match reuse_pid(&mut ns, test, c_pid, "ps-innocent-d") {
            Some((d_pid, _)) => break (c_pid, d_pid),
            None => keys(&["Space"]),
        }
    };
    tty.tmux(&["send-keys", "-t", "ps", "K"]);
    let screen = tty.wait_for("K's answer", |s| {
        s.contains("nothing to stop") || s.contains("stop the holders?")
    });
    assert!(
        !screen.contains("stop the holders?"),
        "a reused pid was offered:\n{screen}"
    );
    let refusal = format!("pid {c_pid} (ps-victim-c): it has exited (or its pid was reused)");
    assert!(screen.contains(&refusal), "{screen}");

    let status = ns.request(&format!("status {d_pid}"));
    assert_eq!(status["alive"], true, "D died: {status}");
    assert_eq!(status["pending"], 0, "a signal was sent to D: {status}");
    tty.tmux(&["send-keys", "-t", "ps", "q"]);
    assert_eq!(tty.wait_exit(), 0);
}
