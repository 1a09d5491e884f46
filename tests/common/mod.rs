//! Shared helpers for the integration tests: a real socket holder (`tests/support/holder.py`)
//! that is always cleaned up, and runners for the built `portscope` binary.
#![allow(dead_code)]
pub mod fixtures;
pub mod netns;
pub mod ready;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_portscope");
pub const HOLDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/holder.py");
/// Debian's python3, runnable by every user.
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// `(proto, local_addr, port, sorted pids)`: one socket as the tests compare them.
pub type Tuple = (String, String, u16, Vec<u32>);

/// One socket the holder reported in its ready line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// `tcp4`, `tcp6`, `udp4` or `udp6`.
    pub kind: String,
    /// The item that made it: `tcp4`, `shared-child`, `udp-target`, `udp-connected`, ...
    pub role: String,
    pub addr: String,
    pub port: u16,
    /// Every pid that holds it, sorted.
    pub pids: Vec<u32>,
    /// False for a connected UDP socket.
    pub listening: bool,
    pub peer: Option<(String, u16)>,
}

impl Held {
    pub fn proto(&self) -> &str {
        &self.kind[..3]
    }

    pub fn family(&self) -> &str {
        if self.kind.ends_with('6') {
            "ipv6"
        } else {
            "ipv4"
        }
    }

    pub fn tuple(&self) -> Tuple {
        (
            self.proto().to_string(),
            self.addr.clone(),
            self.port,
            self.pids.clone(),
        )
    }
}

/// A running holder. Dropping it closes its stdin (it then kills and reaps its own children and
/// exits), and kills its whole process group if it does not exit promptly.
pub struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The holder's own pid (reported by itself).
    pub pid: u32,
    /// Pids of the processes it forked (shared-child, reuseport-pair).
    pub children: Vec<u32>,
    pub sockets: Vec<Held>,
    /// The process name (`/proc/<pid>/comm`) as raw bytes.
    pub comm: Vec<u8>,
}

impl Holder {
    /// `python3 holder.py ARGS...`
    pub fn spawn(args: &[&str]) -> Holder {
        Holder::spawn_with(&[], args, None)
    }

    /// `PREFIX... python3 holder.py ARGS...` (e.g. `ip netns exec NAME`), optionally in `cwd`.
    pub fn spawn_with(prefix: &[&str], args: &[&str], cwd: Option<&Path>) -> Holder {
        Holder::spawn_full(prefix, "python3", args, cwd)
    }

    /// The holder as another user (`setpriv`), with the system's python3, which any user can
    /// run (a python under root's home may not be).
    pub fn spawn_as(uid: u32, args: &[&str]) -> Holder {
        let reuid = format!("--reuid={uid}");
        let regid = format!("--regid={uid}");
        let prefix = ["setpriv", reuid.as_str(), regid.as_str(), "--clear-groups"];
        Holder::spawn_full(&prefix, SYSTEM_PYTHON, args, Some(Path::new("/")))
    }

    /// `PREFIX... PYTHON holder.py ARGS...`.
    pub fn spawn_full(prefix: &[&str], python: &str, args: &[&str], cwd: Option<&Path>) -> Holder {
        let mut argv: Vec<&str> = prefix.to_vec();
        argv.extend([python, HOLDER]);
        argv.extend(args);
        let mut command = Command::new(argv[0]);
        command
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        if let Some(dir) = cwd {
            command.current_dir(dir);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start holder {argv:?}: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("holder stdout is piped");
        // From here on the guard owns the process, so a failed ready line still cleans up.
        let mut holder = Holder {
            child,
            stdin,
            pid: 0,
            children: Vec::new(),
            sockets: Vec::new(),
            comm: Vec::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the holder's ready line");
        assert!(
            !line.trim().is_empty(),
            "holder {argv:?} exited without its ready line (its stderr is above)"
        );
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("holder ready line is not JSON ({e}): {line:?}"));
        holder.pid = as_u32(&ready["pid"]);
        holder.children = ready["children"]
            .as_array()
            .expect("children is an array")
            .iter()
            .map(as_u32)
            .collect();
        holder.comm = decode_hex(ready["comm_hex"].as_str().expect("comm_hex is a string"));
        holder.sockets = ready["sockets"]
            .as_array()
            .expect("sockets is an array")
            .iter()
            .map(held)
            .collect();
        holder
    }

    /// Every pid of this holder: itself and its children, sorted.
    pub fn all_pids(&self) -> Vec<u32> {
        let mut pids = self.children.clone();
        pids.push(self.pid);
        pids.sort_unstable();
        pids
    }

    /// The one socket made by `role` (panics if there is not exactly one).
    pub fn one(&self, role: &str) -> &Held {
        let found: Vec<&Held> = self.sockets.iter().filter(|s| s.role == role).collect();
        assert_eq!(found.len(), 1, "holder sockets with role {role}: {found:?}");
        found[0]
    }

    /// Every socket made by `role`.
    pub fn with_role(&self, role: &str) -> Vec<&Held> {
        self.sockets.iter().filter(|s| s.role == role).collect()
    }

    /// The sorted tuples of the sockets that `keep` accepts.
    pub fn tuples(&self, keep: impl Fn(&Held) -> bool) -> Vec<Tuple> {
        let mut tuples: Vec<Tuple> = self
            .sockets
            .iter()
            .filter(|s| keep(s))
            .map(Held::tuple)
            .collect();
        tuples.sort();
        tuples
    }

    /// The process name as text (only for tests that set a plain ASCII name).
    pub fn name(&self) -> String {
        String::from_utf8(self.comm.clone()).expect("plain process name")
    }
}

impl Drop for Holder {
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
        // It did not exit on its own: kill its process group (itself and its children).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn held(value: &Value) -> Held {
    let mut pids: Vec<u32> = value["pids"]
        .as_array()
        .expect("pids is an array")
        .iter()
        .map(as_u32)
        .collect();
    pids.sort_unstable();
    let peer = value["peer"].as_array().map(|p| {
        (
            p[0].as_str().expect("peer address").to_string(),
            as_u16(&p[1]),
        )
    });
    Held {
        kind: value["kind"].as_str().expect("kind").to_string(),
        role: value["role"].as_str().expect("role").to_string(),
        addr: value["addr"].as_str().expect("addr").to_string(),
        port: as_u16(&value["port"]),
        pids,
        listening: value["listening"].as_bool().expect("listening"),
        peer,
    }
}

pub fn as_u32(value: &Value) -> u32 {
    let n = value
        .as_u64()
        .unwrap_or_else(|| panic!("not a number: {value}"));
    u32::try_from(n).expect("fits u32")
}

pub fn as_u16(value: &Value) -> u16 {
    let n = value
        .as_u64()
        .unwrap_or_else(|| panic!("not a number: {value}"));
    u16::try_from(n).expect("fits u16")
}

pub fn decode_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `portscope` command with a predictable environment (no width, no colour preferences).
pub fn portscope(args: &[&str]) -> Command {
    command(&[], args)
}

/// `PREFIX... portscope ARGS...`, looking at the current network namespace only unless ARGS
/// say `--netns`: the namespace tests run in parallel and make listeners of their own, which
/// must not change another test's answer (the default scope has tests of its own).
pub fn command(prefix: &[&str], args: &[&str]) -> Command {
    let mut argv: Vec<&str> = prefix.to_vec();
    argv.push(BIN);
    // `--completions` and `--man` take no other flag.
    let alone = ["--netns", "--completions", "--man"];
    if !args.iter().any(|a| alone.iter().any(|f| a.starts_with(f))) {
        argv.extend(["--netns", "current"]);
    }
    argv.extend(args);
    let mut command = Command::new(argv[0]);
    command
        .args(&argv[1..])
        .env_remove("COLUMNS")
        .env_remove("NO_COLOR")
        .env_remove("TERM")
        .stdin(Stdio::null());
    command
}

pub fn run(args: &[&str]) -> Output {
    run_with(&[], args)
}

pub fn run_with(prefix: &[&str], args: &[&str]) -> Output {
    command(prefix, args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run portscope {args:?}: {e}"))
}

/// Runs portscope, expects exit `code` and an empty stderr, and parses stdout as JSON.
pub fn run_json_with(prefix: &[&str], args: &[&str], code: i32) -> Value {
    let output = run_with(prefix, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "portscope {args:?}: stderr: {stderr}"
    );
    assert!(
        output.stderr.is_empty(),
        "portscope {args:?} wrote to stderr: {stderr}"
    );
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "portscope {args:?}: stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert_eq!(doc["version"], 1, "schema version");
    doc
}

pub fn run_json_code(args: &[&str], code: i32) -> Value {
    run_json_with(&[], args, code)
}

/// Runs portscope expecting success (exit 0) and returns its JSON.
pub fn run_json(args: &[&str]) -> Value {
    run_json_code(args, 0)
}

/// The `sockets` array of a portscope JSON document.
pub fn socket_list(doc: &Value) -> &Vec<Value> {
    doc["sockets"].as_array().expect("sockets is an array")
}

/// The sorted pids of one JSON socket's `processes`.
pub fn socket_pids(socket: &Value) -> Vec<u32> {
    let mut pids: Vec<u32> = socket["processes"]
        .as_array()
        .expect("processes is an array")
        .iter()
        .map(|p| as_u32(&p["pid"]))
        .collect();
    pids.sort_unstable();
    pids
}

pub fn tuple_of(socket: &Value) -> Tuple {
    (
        socket["proto"].as_str().expect("proto").to_string(),
        socket["local_addr"]
            .as_str()
            .expect("local_addr")
            .to_string(),
        as_u16(&socket["port"]),
        socket_pids(socket),
    )
}

/// Every socket of a portscope JSON document as a sorted list of tuples (duplicates kept, so
/// the count is exact).
pub fn tuples(doc: &Value) -> Vec<Tuple> {
    let mut tuples: Vec<Tuple> = socket_list(doc).iter().map(tuple_of).collect();
    tuples.sort();
    tuples
}

/// The JSON socket with this proto and port (exactly one must exist).
pub fn find_socket<'a>(doc: &'a Value, proto: &str, port: u16) -> &'a Value {
    let found: Vec<&Value> = socket_list(doc)
        .iter()
        .filter(|s| s["proto"] == proto && s["port"] == port)
        .collect();
    assert_eq!(found.len(), 1, "sockets {proto}/{port}: {found:?}");
    found[0]
}

/// Pids named on `pid N` lines of the human query answer, sorted, duplicates kept.
pub fn pids_in_answer(text: &str) -> Vec<u32> {
    let mut pids: Vec<u32> = text
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("pid "))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bad pid line: {rest}"))
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// The effective uid of this test process.
pub fn euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|uid| uid.parse().ok())
        .expect("Uid: line in /proc/self/status")
}

pub fn is_root() -> bool {
    euid() == 0
}

/// True when running as root; otherwise says the test is skipped and returns false.
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    skip(test, "needs root");
    false
}

/// A test that cannot run here says so where the user sees it (straight to stderr, past the
/// test harness's capture); in CI (`CI=true`, root) nothing may be skipped, so it fails.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    if std::env::var_os("CI").is_some_and(|v| v == "true") {
        panic!("{test} cannot run ({why}), and under CI=true nothing may be skipped");
    }
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
}

/// Is `tool` installed (it answers `arg`, e.g. `--version`)?
pub fn installed(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The name of the user running the tests.
pub fn user_name() -> String {
    let output = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8(output.stdout)
        .expect("user name is UTF-8")
        .trim()
        .to_string()
}

/// `/proc/sys/net/ipv4/ip_local_port_range` of this network namespace.
pub fn ephemeral_range() -> (u16, u16) {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .expect("read ip_local_port_range");
    let mut numbers = text
        .split_whitespace()
        .map(|n| n.parse::<u16>().expect("port number"));
    let low = numbers.next().expect("low");
    let high = numbers.next().expect("high");
    (low, high)
}

/// The IANA range name portscope must report for `port`.
pub fn range_of(port: u16) -> &'static str {
    match port {
        0..=1023 => "well-known",
        1024..=49151 => "registered",
        _ => "dynamic",
    }
}

/// A port that nothing holds right now over TCP or UDP, on any address of either family.
///
/// Wildcard binds conflict with every other socket on the port; `[::]` covers IPv4 too unless
/// `bindv6only` is set, in which case `0.0.0.0` is checked as well.
pub fn free_port() -> u16 {
    use std::net::{TcpListener, UdpSocket};
    let v6only = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only")
        .map_or(true, |text| text.trim() != "0");
    for _ in 0..100 {
        let Ok(tcp6) = TcpListener::bind(("::", 0)) else {
            // No IPv6 here: the IPv4 wildcards are enough.
            let tcp = TcpListener::bind(("0.0.0.0", 0)).expect("bind a TCP port");
            let port = tcp.local_addr().expect("local address").port();
            if UdpSocket::bind(("0.0.0.0", port)).is_ok() {
                return port;
            }
            continue;
        };
        let port = tcp6.local_addr().expect("local address").port();
        let held = (
            UdpSocket::bind(("::", port)),
            v6only.then(|| TcpListener::bind(("0.0.0.0", port))),
            v6only.then(|| UdpSocket::bind(("0.0.0.0", port))),
        );
        let free = held.0.is_ok()
            && held.1.as_ref().is_none_or(Result::is_ok)
            && held.2.as_ref().is_none_or(Result::is_ok);
        if free {
            return port;
        }
    }
    panic!("no port free for both TCP and UDP after 100 tries");
}

/// The query entries' spec, held, sockets and other_sockets (the fields most tests check).
pub fn query_summary(doc: &Value) -> Value {
    let entries = doc["query"].as_array().cloned().unwrap_or_default();
    let summary: Vec<Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({"spec": e["spec"], "held": e["held"], "sockets": e["sockets"],
                               "other_sockets": e["other_sockets"]})
        })
        .collect();
    Value::Array(summary)
}

/// The fault-injection shim (`tests/support/shim.c`), built once per test binary with the C
/// compiler every Rust toolchain needs for linking. Returns the path for LD_PRELOAD.
pub fn shim() -> String {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/shim.c");
            let out = format!(
                "{}/libportscope_shim_{}.so",
                env!("CARGO_TARGET_TMPDIR"),
                std::process::id()
            );
            let status = Command::new("cc")
                .args(["-shared", "-fPIC", "-O2", "-o", &out, source, "-ldl"])
                .status()
                .expect("run cc to build the test shim");
            assert!(status.success(), "building {source} failed");
            out
        })
        .clone()
}

/// `portscope ARGS` with the shim preloaded and `env` set.
pub fn run_shimmed(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = portscope(args);
    command.env("LD_PRELOAD", shim());
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run portscope {args:?}: {e}"))
}

/// A `python3 -c SCRIPT` child with piped stdin and stdout, killed on drop (with any pids it
/// reported that the test marks with [`Script::also_kill`], such as a child it forked).
pub struct Script {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    others: Vec<u32>,
}

impl Script {
    pub fn start(script: &str) -> Script {
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Script {
            child,
            stdout,
            others: Vec::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line it printed, without the newline.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("a line from python3");
        line.trim_end().to_string()
    }

    /// The next line, as whitespace-separated numbers.
    pub fn numbers(&mut self) -> Vec<u64> {
        let line = self.line();
        line.split_whitespace()
            .map(|w| {
                w.parse()
                    .unwrap_or_else(|_| panic!("not a number: {line:?}"))
            })
            .collect()
    }

    /// Writes one line to its stdin.
    pub fn say(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write to python3");
    }

    /// Waits for it to exit by itself.
    pub fn wait(&mut self) {
        let _ = self.child.wait();
    }

    pub fn also_kill(&mut self, pid: u32) {
        self.others.push(pid);
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        for &pid in &self.others {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
