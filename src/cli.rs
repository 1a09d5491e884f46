//! Command-line interface: clap definitions, argument parsing and the one `Mode` they select.

use std::fmt;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::model::Proto;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success; for a port query: at least one port is in use
  1  port query: every port asked about is free
  2  bad usage (an argument portscope does not understand)
  3  a socket table could not be read
  4  output could not be written (e.g. disk full)
  5  --kill: nothing was signalled (refused, not confirmed, or permission denied)
  6  --kill: signalled, but a port was still held when --timeout ran out
  130, 143, 129  the live view was ended by SIGINT, SIGTERM, SIGHUP";

const AFTER_HELP: &str = "\
Examples:
  portscope                 live view of every listening port (on a terminal)
  portscope --once          print the listeners once, grouped by port range
  portscope 3000            who holds port 3000 (TCP and UDP)?
  portscope 53/udp :5432    several ports at once; /tcp or /udp picks a protocol
  portscope 8000-8100       a range of ports
  portscope 3000 --kill     stop every holder of port 3000 (asks first; SIGTERM)
  portscope --once --json   one JSON document (see README for the schema)
";

pub const PORT_FORMS: &str = "forms: 3000, :3000, 3000/tcp, 3000/udp, 8000-8100";

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
    #[arg(value_name = "PORT", value_parser = parse_port_spec)]
    pub ports: Vec<PortSpec>,

    /// Print one snapshot and exit instead of opening the live view.
    #[arg(long)]
    pub once: bool,

    /// Print JSON instead of a table (implies --once).
    #[arg(long)]
    pub json: bool,

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
    #[arg(long, value_name = "PID")]
    pub pid: Vec<u32>,

    /// Only sockets of this user (name or numeric uid).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Only sockets held by a process whose name contains NAME (case-insensitive).
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,

    /// When to use colour.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,

    /// Live view refresh interval, 100ms to 1h (e.g. 500ms, 2s).
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, default_value = "1s")]
    pub interval: Duration,

    /// Stop every process holding the given ports (shows them and asks first).
    #[arg(long, requires = "ports")]
    pub kill: bool,

    /// Signal for --kill: TERM, INT, HUP, KILL or QUIT (name or number).
    #[arg(long, value_name = "SIGNAL", default_value = "TERM", requires = "kill")]
    pub signal: crate::stop::StopSignal,

    /// Do not ask before signalling (needed when stdin is not a terminal).
    #[arg(short = 'y', long, requires = "kill")]
    pub yes: bool,

    /// How long --kill waits for the port to be released, 0s to 10m.
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout, default_value = "5s", requires = "kill")]
    pub timeout: Duration,

    /// With --kill: send SIGKILL to holders still alive when the timeout runs out.
    #[arg(long, requires = "kill")]
    pub force: bool,

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

/// What portscope was asked to do: one enum, one dispatch in `app`.
#[derive(Debug, PartialEq, Eq)]
pub enum Mode {
    Live,
    Once,
    Query(Vec<PortSpec>),
    Stop(Vec<PortSpec>),
    Completions(clap_complete::Shell),
    Man,
}

impl Cli {
    /// `interactive`: stdout is a terminal that can show the live view.
    pub fn mode(&self, interactive: bool) -> Mode {
        if let Some(shell) = self.completions {
            Mode::Completions(shell)
        } else if self.man {
            Mode::Man
        } else if self.kill {
            Mode::Stop(self.ports.clone())
        } else if !self.ports.is_empty() {
            Mode::Query(self.ports.clone())
        } else if self.once || self.json || !interactive {
            Mode::Once
        } else {
            Mode::Live
        }
    }
}

/// One port or an inclusive range of ports, optionally of one protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub low: u16,
    pub high: u16,
    pub proto: Option<Proto>,
}

impl PortSpec {
    pub fn matches(&self, proto: Proto, port: u16) -> bool {
        (self.low..=self.high).contains(&port) && self.proto.is_none_or(|p| p == proto)
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)?;
        } else {
            write!(f, "{}-{}", self.low, self.high)?;
        }
        match self.proto {
            Some(proto) => write!(f, "/{}", proto.as_str()),
            None => Ok(()),
        }
    }
}

/// Parses `3000`, `:3000`, `3000/udp`, `8000-8100`, `8000-8100/tcp`. Only plain decimal digits:
/// `+3000`, `0x50`, `-1` and `3000.0` are refused rather than guessed at.
pub fn parse_port_spec(text: &str) -> Result<PortSpec, String> {
    if text.is_empty() {
        return Err(format!("empty port; {PORT_FORMS}"));
    }
    let body = text.strip_prefix(':').unwrap_or(text);
    let (numbers, proto) = match body.split_once('/') {
        Some((numbers, proto)) => (numbers, Some(parse_proto(proto)?)),
        None => (body, None),
    };
    let (low, high) = match numbers.split_once('-') {
        Some((low, high)) if !low.is_empty() => (parse_port(low)?, parse_port(high)?),
        _ => {
            let port = parse_port(numbers)?;
            (port, port)
        }
    };
    if low > high {
        return Err(format!(
            "range {low}-{high} is reversed; write {high}-{low}"
        ));
    }
    Ok(PortSpec { low, high, proto })
}

fn parse_proto(text: &str) -> Result<Proto, String> {
    match text.to_ascii_lowercase().as_str() {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        _ => Err(format!(
            "unknown protocol '{text}': use tcp or udp; {PORT_FORMS}"
        )),
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    let range = "a port is a whole number from 1 to 65535";
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{range}; {PORT_FORMS}"));
    }
    match text.parse::<u32>() {
        Ok(port @ 1..=65535) => u16::try_from(port).map_err(|_| range.to_string()),
        _ => Err(format!("{text} is out of range: {range}")),
    }
}

/// Durations such as `500ms`, `2s`, `1m`, bounded to 100ms..=1h.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; use a duration such as 500ms, 2s or 1m"))?;
    let (min, max) = (Duration::from_millis(100), Duration::from_secs(3600));
    if duration < min || duration > max {
        return Err("must be between 100ms and 1h".to_string());
    }
    Ok(duration)
}

/// `--timeout`: a duration from 0s to 10m.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; use a duration such as 500ms, 5s or 1m"))?;
    if duration > Duration::from_secs(600) {
        return Err("must be at most 10m".to_string());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(low: u16, high: u16, proto: Option<Proto>) -> PortSpec {
        PortSpec { low, high, proto }
    }

    #[test]
    fn accepted_forms() {
        let cases = [
            ("3000", spec(3000, 3000, None)),
            (":5432", spec(5432, 5432, None)),
            ("53/udp", spec(53, 53, Some(Proto::Udp))),
            ("80/TCP", spec(80, 80, Some(Proto::Tcp))),
            ("8000-8100", spec(8000, 8100, None)),
            (":8000-8100/tcp", spec(8000, 8100, Some(Proto::Tcp))),
            ("1", spec(1, 1, None)),
            ("65535", spec(65535, 65535, None)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_port_spec(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn refused_forms() {
        for text in [
            "",
            "0",
            "65536",
            "-1",
            "abc",
            "3010-3000",
            "+3000",
            "0x50",
            "3000/sctp",
            "3000/",
            ":",
            "3000-",
            "-3000",
            " 3000",
            "3000.0",
            "99999999999999999999",
            "1-2-3",
        ] {
            assert!(parse_port_spec(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn matching_is_exact() {
        let s = parse_port_spec("3000").expect("valid");
        assert!(s.matches(Proto::Tcp, 3000) && s.matches(Proto::Udp, 3000));
        assert!(!s.matches(Proto::Tcp, 30001) && !s.matches(Proto::Tcp, 300));
        let udp = parse_port_spec("3000/udp").expect("valid");
        assert!(!udp.matches(Proto::Tcp, 3000));
    }

    #[test]
    fn intervals_are_bounded() {
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        for bad in ["0s", "50ms", "2h", "fast", ""] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }
}
