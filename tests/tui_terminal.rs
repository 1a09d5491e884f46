//! The live view in a real terminal: the built binary runs inside tmux (a private server per
//! test, killed on drop), keys go in with `send-keys`, the screen comes back with
//! `capture-pane`. Every wait polls for a condition under a deadline.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_portscope");
const DEADLINE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);
const GROUPS: [&str; 3] = [
    "Well-known 0–1023",
    "Registered 1024–49151",
    "Dynamic/private 49152–65535",
];

fn tmux_installed() -> bool {
    common::installed("tmux", "-V")
}

/// Single-quotes `text` for sh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// One private tmux server running one portscope; the server is killed on drop.
struct Session {
    server: String,
    exit_file: PathBuf,
    stty_file: PathBuf,
    /// The server's socket, removed on drop (kill-server leaves it behind).
    socket: Option<PathBuf>,
}

impl Session {
    /// Starts `portscope --interval <interval>` in a 120×40 window. When it exits, the shell
    /// records its status and the terminal's settings, then keeps the pane open.
    fn start(name: &str, interval: &str) -> Session {
        let server = format!("pstest-{}-{name}", std::process::id());
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let mut session = Session {
            socket: None,
            exit_file: dir.join(format!("{server}.exit")),
            stty_file: dir.join(format!("{server}.stty")),
            server,
        };
        let _ = fs::remove_file(&session.exit_file);
        let _ = fs::remove_file(&session.stty_file);
        let script = format!(
            "{} --netns current --interval {interval}; echo EXIT=$? > {}; stty -a > {}; exec cat",
            quote(BIN),
            quote(&session.exit_file.to_string_lossy()),
            quote(&session.stty_file.to_string_lossy()),
        );
        let command = format!("sh -c {}", quote(&script));
        let output = Command::new("tmux")
            .args(["-L", &session.server, "-f", "/dev/null"])
            .args(["new-session", "-d", "-s", "ps", "-x", "120", "-y", "40"])
            .arg(command)
            .output()
            .expect("run tmux new-session");
        assert!(output.status.success(), "tmux new-session: {output:?}");
        session.socket = Some(PathBuf::from(session.display("#{socket_path}")));
        session
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

    fn capture(&self) -> String {
        let output = self.tmux(&["capture-pane", "-p", "-t", "ps"]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn display(&self, format: &str) -> String {
        let output = self.tmux(&["display-message", "-p", "-t", "ps", format]);
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// One key per `send-keys`, so nothing is sent as an escape sequence with the next key.
    fn send(&self, key: &str) {
        self.tmux(&["send-keys", "-t", "ps", key]);
    }

    /// Polls the screen until `ready` holds on a settled screen; the last screen on timeout.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        let mut previous = String::new();
        loop {
            let screen = self.capture();
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

    /// Waits for portscope to end; returns the shell's `EXIT=<status>` line.
    fn wait_for_exit(&self) -> String {
        let start = Instant::now();
        loop {
            if let Ok(text) = fs::read_to_string(&self.exit_file)
                && text.ends_with('\n')
            {
                return text.trim().to_string();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "portscope did not exit; screen:\n{}",
                self.capture()
            );
            thread::sleep(POLL);
        }
    }

    /// The terminal's settings right after portscope ended (written by the shell after EXIT).
    fn stty_after_exit(&self) -> String {
        let start = Instant::now();
        loop {
            if let Ok(text) = fs::read_to_string(&self.stty_file)
                && text.contains("icanon")
            {
                return text;
            }
            assert!(start.elapsed() < DEADLINE, "stty -a never ran");
            thread::sleep(POLL);
        }
    }

    /// The pid of portscope itself, by its unique argument (the shell running it has the
    /// same argument in its command line, so only a process running our binary counts).
    fn portscope_pid(&self, interval: &str) -> u32 {
        let output = Command::new("pgrep")
            .args(["-f", "--", &format!("--interval {interval}")])
            .output()
            .expect("run pgrep");
        let pids: Vec<u32> = String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .map(|p| p.parse::<u32>().expect("pgrep prints pids"))
            .filter(|pid| {
                Command::new("ps")
                    .args(["-o", "args=", "-p", &pid.to_string()])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with(BIN))
            })
            .collect();
        assert_eq!(
            pids.len(),
            1,
            "exactly one portscope with --interval {interval}: {pids:?}"
        );
        pids[0]
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.server, "kill-server"])
            .output();
        if let Some(socket) = &self.socket {
            let _ = fs::remove_file(socket);
        }
        let _ = fs::remove_file(&self.exit_file);
        let _ = fs::remove_file(&self.stty_file);
    }
}

fn shows_groups(screen: &str) -> bool {
    GROUPS.iter().all(|g| screen.contains(g))
}

/// `127.0.0.1:<port>` as a whole endpoint (not the start of a longer port).
fn shows_endpoint(screen: &str, port: u16) -> bool {
    let needle = format!("127.0.0.1:{port}");
    screen.match_indices(&needle).any(|(at, _)| {
        !screen[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// The loopback ports on screen other than `port`.
fn other_loopback_rows(screen: &str, port: u16) -> Vec<String> {
    screen
        .lines()
        .filter(|l| l.contains("127.0.0.1:") && !shows_endpoint(l, port))
        .map(str::to_string)
        .collect()
}

/// The header's `listeners: A well-known · B registered · C dynamic`, as [A, B, C].
fn header_counts(screen: &str) -> Option<[usize; 3]> {
    let line = screen.lines().find(|l| l.starts_with("listeners: "))?;
    let numbers: Vec<usize> = line
        .trim_start_matches("listeners: ")
        .split(" · ")
        .take(3)
        .map(|part| part.split_whitespace().next()?.parse().ok())
        .collect::<Option<_>>()?;
    numbers.try_into().ok()
}

#[test]
fn filter_to_own_listener_then_quit() {
    if !tmux_installed() {
        common::skip("filter_to_own_listener_then_quit", "tmux is not installed");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
    let port = listener.local_addr().expect("bound address").port();
    // A second loopback listener that the filter must hide.
    let other = TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
    let other_port = other.local_addr().expect("bound address").port();
    let session = Session::start("filter", "500ms");

    let screen = session.wait_for("the groups and both listeners", |s| {
        shows_groups(s) && shows_endpoint(s, port) && shows_endpoint(s, other_port)
    });
    assert_eq!(session.display("#{alternate_on}"), "1", "{screen}");
    let before = header_counts(&screen).expect("the header counts listeners");
    assert!(before.iter().sum::<usize>() >= 2, "{screen}");

    session.send("/");
    for digit in port.to_string().chars() {
        session.send(&digit.to_string());
    }
    session.send("Enter");
    let filtered = format!("filter \"{port}\"");
    let screen = session.wait_for("the accepted filter", |s| {
        s.contains(&filtered) && !s.contains("Enter keeps")
    });
    assert!(shows_endpoint(&screen, port), "our row is gone:\n{screen}");
    assert!(!shows_endpoint(&screen, other_port), "{screen}");
    assert!(shows_groups(&screen), "{screen}");
    assert_eq!(
        other_loopback_rows(&screen, port),
        Vec::<String>::new(),
        "{screen}"
    );
    let counts = header_counts(&screen).expect("the header counts listeners");
    assert_eq!(
        counts.iter().sum::<usize>(),
        1,
        "one listener matches {port}:\n{screen}"
    );

    session.send("q");
    assert_eq!(session.wait_for_exit(), "EXIT=0");
    assert_eq!(session.display("#{alternate_on}"), "0");
    drop((listener, other));
}

#[test]
fn sigterm_restores_the_terminal() {
    if !tmux_installed() {
        common::skip("sigterm_restores_the_terminal", "tmux is not installed");
        return;
    }
    let _listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
    let session = Session::start("sigterm", "777ms");
    session.wait_for("the groups", shows_groups);
    assert_eq!(session.display("#{alternate_on}"), "1");

    let pid = session.portscope_pid("777ms");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());

    assert_eq!(session.wait_for_exit(), "EXIT=143");
    assert_eq!(session.display("#{alternate_on}"), "0");
    let stty = session.stty_after_exit();
    let flags: Vec<&str> = stty.split_whitespace().collect();
    for wanted in ["icanon", "echo", "icrnl", "opost", "isig"] {
        assert!(
            flags.contains(&wanted),
            "{wanted} not restored after SIGTERM:\n{stty}"
        );
    }
    // The mouse and the cursor are given back too: the screen is the shell's again.
    let screen = session.capture();
    assert!(!shows_groups(&screen), "{screen}");
}

#[test]
fn resize_to_tiny_and_back() {
    if !tmux_installed() {
        common::skip("resize_to_tiny_and_back", "tmux is not installed");
        return;
    }
    let session = Session::start("resize", "600ms");
    session.wait_for("the groups", shows_groups);

    session.tmux(&["resize-window", "-t", "ps", "-x", "20", "-y", "5"]);
    let screen = session.wait_for("the placeholder", |s| {
        s.contains("too small") && !s.contains("Well-known")
    });
    assert!(screen.contains("q quits"), "{screen}");

    session.tmux(&["resize-window", "-t", "ps", "-x", "120", "-y", "40"]);
    let screen = session.wait_for("the groups again", |s| {
        shows_groups(s) && !s.contains("too small")
    });
    assert!(screen.contains("portscope"), "{screen}");

    session.send("q");
    assert_eq!(session.wait_for_exit(), "EXIT=0");
    assert_eq!(session.display("#{alternate_on}"), "0");
}

/// Listeners on one port number: tcp 127.0.0.1 with two accepted connections, tcp [::1]
/// (v6only) with none, and udp 127.0.0.1.
const SAME_PORT: &str = r#"
import socket, sys
t4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t4.bind(("127.0.0.1", 0)); t4.listen(8)
port = t4.getsockname()[1]
t6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
t6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
t6.bind(("::1", port)); t6.listen(8)
u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u4.bind(("127.0.0.1", port))
keep = []
for _ in range(2):
    c = socket.create_connection(("127.0.0.1", port)); s, _ = t4.accept(); keep += [c, s]
print(port, flush=True)
sys.stdin.read()
"#;

#[test]
fn connections_count_per_listener_and_keys_mean_only() {
    if !tmux_installed() {
        common::skip(
            "connections_count_per_listener_and_keys_mean_only",
            "tmux is not installed",
        );
        return;
    }
    let mut holder = common::Script::start(SAME_PORT);
    let port: u16 = holder.line().parse().expect("a port");
    let session = Session::start("conns", "400ms");
    session.send("/");
    for digit in port.to_string().chars() {
        session.send(&digit.to_string());
    }
    session.send("Enter");
    let row = |screen: &str, proto: &str, endpoint: &str| -> Option<String> {
        screen
            .lines()
            .find(|l| l.starts_with(proto) && l.contains(endpoint))
            .map(str::to_string)
    };
    let v4 = format!("127.0.0.1:{port}");
    let v6 = format!("[::1]:{port}");
    let screen = session.wait_for("three rows with counts", |s| {
        row(s, "tcp", &v4).is_some_and(|r| r.trim_end().ends_with(" 2"))
            && row(s, "tcp", &v6).is_some()
            && row(s, "udp", &v4).is_some()
    });
    let last = |r: Option<String>| {
        r.unwrap_or_default()
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        last(row(&screen, "tcp", &v6)),
        "-",
        "[::1] takes no IPv4 connections:\n{screen}"
    );
    assert_eq!(
        last(row(&screen, "udp", &v4)),
        "-",
        "UDP has no connections:\n{screen}"
    );

    // t: only TCP, said in the header; Esc closes nothing and quits nothing.
    session.send("t");
    let screen = session.wait_for("only tcp", |s| {
        s.contains("· only tcp") && row(s, "udp", &v4).is_none()
    });
    assert!(row(&screen, "tcp", &v4).is_some(), "{screen}");
    session.send("Escape");
    thread::sleep(Duration::from_millis(600));
    assert!(
        fs::read_to_string(&session.exit_file).is_err(),
        "Esc quit the view"
    );
    session.wait_for("the view still there", |s| s.contains("· only tcp"));
    session.send("q");
    assert_eq!(session.wait_for_exit(), "EXIT=0");
    drop(holder);
}

/// A terminal on stdout but no controlling terminal (`setsid`, stdin elsewhere): one line
/// saying what is missing and what to use instead, exit 4.
#[test]
fn no_controlling_terminal_is_named() {
    if !tmux_installed() {
        common::skip("no_controlling_terminal_is_named", "tmux is not installed");
        return;
    }
    let server = format!("pstest-{}-noctty", std::process::id());
    let script = format!(
        "setsid -w {} < /dev/null; echo EXIT=$?; exec cat",
        quote(BIN)
    );
    let output = Command::new("tmux")
        .args(["-L", &server, "-f", "/dev/null"])
        .args(["new-session", "-d", "-s", "ps", "-x", "200", "-y", "20"])
        .arg(format!("sh -c {}", quote(&script)))
        .output()
        .expect("run tmux");
    assert!(output.status.success(), "{output:?}");
    let start = Instant::now();
    let screen = loop {
        let capture = Command::new("tmux")
            .args(["-L", &server, "capture-pane", "-p", "-J", "-t", "ps"])
            .output()
            .expect("capture");
        let screen = String::from_utf8_lossy(&capture.stdout).into_owned();
        if screen.contains("EXIT=") || start.elapsed() > DEADLINE {
            break screen;
        }
        thread::sleep(POLL);
    };
    let _ = Command::new("tmux")
        .args(["-L", &server, "kill-server"])
        .output();
    assert!(screen.contains("EXIT=4"), "{screen}");
    assert!(screen.contains("needs a controlling terminal"), "{screen}");
    assert!(screen.contains("use --once"), "{screen}");
    assert!(!screen.contains("cannot write output"), "{screen}");
}

/// The details pane says what a new bind of the selected port would meet, as `portscope
/// PORT` does: the kernel's errno from a real bind, and this listener named as the blocker.
#[test]
fn details_show_what_a_new_bind_would_meet() {
    if !tmux_installed() {
        common::skip(
            "details_show_what_a_new_bind_would_meet",
            "tmux is not installed",
        );
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
    let port = listener.local_addr().expect("bound address").port();
    let session = Session::start("bind", "500ms");
    session.wait_for("our listener", |s| shows_endpoint(s, port));
    session.send("/");
    for digit in port.to_string().chars() {
        session.send(&digit.to_string());
    }
    session.send("Enter");
    let filtered = format!("filter \"{port}\"");
    session.wait_for("the accepted filter", |s| s.contains(&filtered));
    // Rows: the well-known and registered headers, then our row (registered) or the dynamic
    // header and our row.
    session.send("Home");
    let downs = if port < 49152 { 2 } else { 3 };
    for _ in 0..downs {
        session.send("Down");
    }
    session.send("Enter");
    let endpoint = format!("127.0.0.1:{port}");
    let screen = session.wait_for("the bind verdict in the details", |s| {
        s.contains("fails with EADDRINUSE (tried)")
    });
    assert!(
        screen.contains(&format!("tcp {endpoint} · LISTEN")),
        "the pane is about our listener:\n{screen}"
    );
    let blocker = screen
        .lines()
        .find(|l| l.contains(&format!("tcp LISTEN {endpoint}")))
        .unwrap_or_default();
    assert!(
        blocker.contains("listening, held by"),
        "the listener is named as what blocks:\n{screen}"
    );
    session.send("q");
    assert_eq!(session.wait_for_exit(), "EXIT=0");
    drop(listener);
}
