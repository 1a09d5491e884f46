//! Command-line interface: the clap definitions and the parsers of single values. Nothing else
//! in the program sees this type: `app::config` turns it into a typed [`crate::app::Mode`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::model::{NetnsScope, PORT_FORMS, PortSpec};
use crate::stop::StopSignal;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success; for a port query: at least one port is in use (held, or a bind would fail
     with EADDRINUSE)
  1  port query: every port asked about is free (a bind refused only for lack of
     privilege, EACCES, or of the address, EADDRNOTAVAIL, is not \"in use\")
  2  bad usage (an argument portscope does not understand)
  3  a socket table could not be read, or --owner-scan bpf and the in-kernel owner map
     cannot be used (the line says why)
  4  output could not be written (e.g. disk full)
  5  --kill: nothing was signalled (refused, not confirmed, or permission denied)
  6  --kill: signalled, but a port was still held when --timeout ran out
  130, 143, 129  the live view was ended by SIGINT, SIGTERM, SIGHUP
  (--watch ends with 0 on SIGINT, SIGTERM, SIGHUP or when stdout is closed)";

const AFTER_HELP: &str = "\
Examples:
  portscope                 live view of every listening port (on a terminal)
  portscope --once          print the listeners once, grouped by port range
  portscope 3000            who holds port 3000 (TCP and UDP)?
  portscope 53/udp :5432    several ports at once; /tcp or /udp picks a protocol
  portscope 8000-8100       a range of ports
  portscope 3000 --kill     stop every holder of port 3000 (asks first; SIGTERM)
  portscope 3000 --bind 127.0.0.1 --reuseaddr --as nobody
                            would that bind succeed? what blocks it? (tries it, too)
  portscope --once --json   one JSON document (see README for the schema)
  portscope --format jsonl  one JSON line per socket, for log shippers
  portscope --watch --format jsonl
                            a JSON line whenever a listener comes, goes or changes hands
  portscope --prometheus-textfile /var/lib/prometheus/node-exporter/portscope.prom
                            metrics for node_exporter's textfile collector
";

/// The help heading of the options for monitoring and log pipelines.
const FLEET: &str = "Fleet outputs";
/// The help heading of the options that ask about one concrete bind.
const BIND: &str = "Bind verdict (with a PORT)";

#[derive(Debug, Parser)]
#[command(
    name = "portscope",
    version,
    about = "Who holds that port? Inspect listening sockets and the processes behind them.",
    long_about = "Who holds that port? portscope lists every listening TCP and UDP socket with every \
process that holds it, its IANA range and service, and whether it is reachable from the network.",
    after_help = format!("{AFTER_HELP}\n{EXIT_CODES}"),
    after_long_help = format!("{AFTER_HELP}\n{EXIT_CODES}"),
)]
pub struct Cli {
    /// Ports to look up: 3000, :3000, 3000/udp, 8000-8100. Without any: all listeners.
    #[arg(value_name = "PORT", value_parser = PortSpec::parse)]
    pub ports: Vec<PortSpec>,

    /// Print one snapshot and exit instead of opening the live view.
    #[arg(long)]
    pub once: bool,

    /// Output format (implies --once).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FormatArg>,

    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Write the Prometheus metrics to PATH (a *.prom file in node_exporter's textfile
    /// directory), atomically, instead of printing them.
    #[arg(long, value_name = "PATH", help_heading = FLEET)]
    pub prometheus_textfile: Option<PathBuf>,

    /// Prometheus: list listeners inside the OS ephemeral range too (always counted).
    #[arg(long, help_heading = FLEET)]
    pub prometheus_all: bool,

    /// Print a JSON line whenever a listener appears, goes or changes holders (needs --format
    /// json or jsonl; checks every --interval).
    #[arg(long, conflicts_with_all = ["once", "kill"], help_heading = FLEET)]
    pub watch: bool,

    /// Show every socket (established, time-wait, …), not only listeners.
    #[arg(short, long)]
    pub all: bool,

    /// Only TCP sockets.
    #[arg(short, long)]
    pub tcp: bool,

    /// Only UDP sockets.
    #[arg(short, long)]
    pub udp: bool,

    /// Only IPv4 sockets.
    #[arg(short = '4', long = "ipv4")]
    pub ipv4: bool,

    /// Only IPv6 sockets.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,

    /// Only sockets held by this process id (repeatable).
    #[arg(long, value_name = "PID", value_parser = parse_pid, allow_hyphen_values = true)]
    pub pid: Vec<u32>,

    /// Only sockets of this user (name or numeric uid).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Only sockets held by a process whose name contains NAME (case-insensitive).
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,

    /// Network namespaces to look at: all, host, current, pid:N, a path, or an `ip netns` name.
    /// Default: all when portscope runs in the host's namespace (as root, every namespace;
    /// without root, those of the processes it can see), else the current one.
    #[arg(long, value_name = "NETNS", value_parser = NetnsScope::parse)]
    pub netns: Option<NetnsScope>,

    /// How holders are found: auto (the in-kernel BPF map when the kernel allows it, else the
    /// /proc walk), bpf (the in-kernel map, or exit 3 saying why not), proc (the /proc walk).
    #[arg(long, value_enum, value_name = "HOW", default_value_t = OwnerScanArg::Auto)]
    pub owner_scan: OwnerScanArg,

    /// Say on stderr how holders were found (and why not with BPF).
    #[arg(short, long)]
    pub verbose: bool,

    /// When to use colour.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,

    /// Live view and --watch refresh interval, 100ms to 1h (e.g. 500ms, 2s).
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, default_value = "1s", allow_hyphen_values = true)]
    pub interval: Duration,

    /// Stop every process holding the given ports (shows them and asks first).
    #[arg(long)]
    pub kill: bool,

    /// Signal for --kill: TERM, INT, HUP, KILL or QUIT (name or number).
    #[arg(
        long,
        value_name = "SIGNAL",
        default_value = "TERM",
        requires = "kill",
        allow_hyphen_values = true
    )]
    pub signal: StopSignal,

    /// Do not ask before signalling (needed when stdin is not a terminal).
    #[arg(short = 'y', long, requires = "kill")]
    pub yes: bool,

    /// With --kill over more than a few ports: yes, stop every holder of all of them.
    #[arg(long, requires = "kill")]
    pub all_holders: bool,

    /// How long --kill waits for the port to be released, 0s to 10m.
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, default_value = "5s", requires = "kill", allow_hyphen_values = true)]
    pub timeout: Duration,

    /// With --kill: send SIGKILL to holders still alive when the timeout runs out.
    #[arg(long, requires = "kill")]
    pub force: bool,

    /// Ask about one concrete bind to the PORT: on ADDR (default: [::], or 0.0.0.0 without
    /// IPv6), TCP unless --udp. portscope explains what would block it and tries it for real
    /// (bind, and listen for TCP, closed at once). A port query without --bind asks this of
    /// every port nothing listens on.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "", help_heading = BIND, conflicts_with = "kill", requires = "ports")]
    pub bind: Option<String>,

    /// With --bind: bind as this user (name or uid; needs root).
    #[arg(long = "as", value_name = "USER", requires = "bind", help_heading = BIND)]
    pub as_user: Option<String>,

    /// With --bind: set SO_REUSEADDR first.
    #[arg(long, requires = "bind", help_heading = BIND)]
    pub reuseaddr: bool,

    /// With --bind: set SO_REUSEPORT first.
    #[arg(long, requires = "bind", help_heading = BIND)]
    pub reuseport: bool,

    /// With --bind to an IPv6 address: set IPV6_V6ONLY (default: net.ipv6.bindv6only).
    #[arg(long, requires = "bind", help_heading = BIND)]
    pub v6only: bool,

    /// Print a shell completion script and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
    pub man: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// `--owner-scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OwnerScanArg {
    Auto,
    Bpf,
    Proc,
}

/// `--format`: one arm per output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Grouped by port range, for people.
    Table,
    /// One JSON document.
    Json,
    /// One JSON line per socket.
    Jsonl,
    /// Prometheus text exposition (for node_exporter's textfile collector).
    Prometheus,
}

/// A process id as the kernel's `pid_t` allows it: 1 to 2147483647.
pub fn parse_pid(text: &str) -> Result<u32, String> {
    let accepts = "a pid is a whole number from 1 to 2147483647";
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(accepts.to_string());
    }
    match text.parse::<u32>() {
        Ok(pid @ 1..=0x7fff_ffff) => Ok(pid),
        _ => Err(format!("{text} is out of range: {accepts}")),
    }
}

/// Durations such as `500ms`, `2s`, `1m`, bounded to 100ms..=1h.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text, "500ms, 2s or 1m")?;
    let (min, max) = (Duration::from_millis(100), Duration::from_secs(3600));
    if duration < min || duration > max {
        return Err("must be between 100ms and 1h".to_string());
    }
    Ok(duration)
}

/// `--timeout`: a duration from 0s to 10m.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text, "500ms, 5s or 1m")?;
    if duration > Duration::from_secs(600) {
        return Err("must be at most 10m".to_string());
    }
    Ok(duration)
}

fn parse_duration(text: &str, examples: &str) -> Result<Duration, String> {
    if text.starts_with('-') {
        return Err(format!(
            "a duration cannot be negative; use one such as {examples}"
        ));
    }
    humantime::parse_duration(text).map_err(|e| format!("{e}; use a duration such as {examples}"))
}

/// For messages about a bad port argument.
pub fn port_forms() -> &'static str {
    PORT_FORMS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_bounded() {
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        for bad in ["0s", "50ms", "2h", "fast", "", "-1s"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pids_fit_pid_t() {
        assert_eq!(parse_pid("1"), Ok(1));
        assert_eq!(parse_pid("2147483647"), Ok(2_147_483_647));
        for bad in ["0", "-1", "abc", "", "2147483648", "1.5", "+3"] {
            assert!(parse_pid(bad).is_err(), "{bad}");
        }
    }
}
