//! The live view in a real terminal: the built binary runs inside tmux (a private server per
//! test, killed on drop), keys go in with `send-keys`, the screen comes back with
//! `capture-pane`. Every wait polls for a condition under a deadline.

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
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
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
            "{} --interval {interval}; echo EXIT=$? > {}; stty -a > {}; exec cat",
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

    /// Polls the screen until `ready` holds; the last screen on timeout.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if ready(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; screen:\n{screen}"
            );
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
        println!("skipped: filter_to_own_listener_then_quit: tmux not installed");
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
        println!("skipped: sigterm_restores_the_terminal: tmux not installed");
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
        println!("skipped: resize_to_tiny_and_back: tmux not installed");
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
