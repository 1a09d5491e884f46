//! The one place where command-line arguments become a typed request: [`Mode`] with what its
//! arm needs. Nothing past this file sees the clap struct.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{Cli, ColorWhen, FormatArg, OwnerScanArg};
use crate::collect::{OwnerScanChoice, resolve_user};
use crate::filter::{Filter, HolderFilter};
use crate::model::{NetnsScope, PortSpec, Selection};
use crate::report::Format;
use crate::report::events::SnapshotLines;
use crate::stop::StopSignal;

/// A `--kill` over more port numbers than this needs `--all-holders` as well as `--yes`.
pub const WIDE_KILL: usize = 16;

/// What portscope was asked to do: one enum, one dispatch in `app`.
#[derive(Debug, PartialEq, Eq)]
pub enum Mode {
    Live(LiveConfig),
    Once(OnceConfig),
    Query(QueryConfig),
    Stop(StopConfig),
    Watch(WatchConfig),
    Completions(clap_complete::Shell),
    Man,
}

#[derive(Debug, PartialEq, Eq)]
pub struct LiveConfig {
    pub filter: Filter,
    pub interval: Duration,
}

#[derive(Debug, PartialEq, Eq)]
pub struct OnceConfig {
    pub filter: Filter,
    pub format: Format,
    pub prometheus: PrometheusConfig,
}

/// `--format prometheus` and its options.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PrometheusConfig {
    /// `--prometheus-textfile`: replace this `*.prom` file instead of printing.
    pub textfile: Option<PathBuf>,
    /// `--prometheus-all`: list ephemeral-range listeners too.
    pub all: bool,
}

/// `--watch`: events at `interval`, the first state written as `lines` says.
#[derive(Debug, PartialEq, Eq)]
pub struct WatchConfig {
    pub filter: Filter,
    pub lines: SnapshotLines,
    pub interval: Duration,
}

#[derive(Debug, PartialEq, Eq)]
pub struct QueryConfig {
    /// `filter.ports` holds the asked specs; `filter.selection` the asked protocols/families.
    pub filter: Filter,
    pub format: Format,
    /// `--bind`: one concrete bind to ask about (without it, the default bind is asked about
    /// every port nothing listens on).
    pub bind: Option<BindFlags>,
}

/// `--bind [ADDR] [--as USER] [--reuseaddr] [--reuseport] [--v6only]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindFlags {
    pub addr: Option<std::net::IpAddr>,
    /// (name as typed, uid, gid).
    pub user: Option<(String, u32, u32)>,
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub v6only: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct StopConfig {
    pub query: QueryConfig,
    pub signal: StopSignal,
    pub yes: bool,
    pub all_holders: bool,
    pub timeout: Duration,
    pub force: bool,
    /// `--netns` was given: holders in several namespaces may then be stopped together.
    pub netns_chosen: bool,
}

/// Presentation facts decided once at the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    pub color: bool,
    pub width: Option<usize>,
    /// `--verbose`: how holders were found, on stderr.
    pub verbose: bool,
}

/// How the terminal looks, as far as choosing a mode needs it, and the host's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Console {
    /// stdout is a terminal that can show the live view (not `TERM=dumb`).
    pub interactive: bool,
    pub stdout_is_tty: bool,
    pub no_color_env: bool,
    pub width: Option<usize>,
    /// The namespaces looked at without `--netns`.
    pub default_netns: NetnsScope,
}

/// Builds the mode; an error is one line for a usage error (exit 2).
pub fn mode(cli: &Cli, console: &Console) -> Result<(Mode, Output), String> {
    let output = Output {
        color: match cli.color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                console.interactive && console.stdout_is_tty && !console.no_color_env
            }
        },
        width: console.width,
        verbose: cli.verbose,
    };
    if let Some(shell) = cli.completions {
        return Ok((Mode::Completions(shell), output));
    }
    if cli.man {
        return Ok((Mode::Man, output));
    }
    let format = format(cli)?;
    let mut filter = filter(cli)?;
    filter.netns = match &cli.netns {
        Some(scope) => checked(scope)?,
        None => console.default_netns.clone(),
    };
    let listing_only = matches!(format, Some(Format::Jsonl | Format::Prometheus));
    let mode = if cli.kill {
        Mode::Stop(stop(cli, filter, format)?)
    } else if cli.watch {
        Mode::Watch(watch(cli, filter, format)?)
    } else if !cli.ports.is_empty() && !listing_only {
        Mode::Query(QueryConfig {
            filter,
            format: format.unwrap_or(Format::Table),
            bind: bind_flags(cli)?,
        })
    } else if cli.once || format.is_some() || !console.interactive {
        Mode::Once(OnceConfig {
            filter,
            format: format.unwrap_or(Format::Table),
            prometheus: PrometheusConfig {
                textfile: cli.prometheus_textfile.clone(),
                all: cli.prometheus_all,
            },
        })
    } else {
        Mode::Live(LiveConfig {
            filter,
            interval: cli.interval,
        })
    };
    Ok((mode, output))
}

/// `--bind` and its options, checked: it needs single ports, and ADDR must be an address.
fn bind_flags(cli: &Cli) -> Result<Option<BindFlags>, String> {
    let Some(addr) = &cli.bind else {
        return Ok(None);
    };
    if let Some(range) = cli.ports.iter().find(|p| !p.is_single()) {
        return Err(format!(
            "--bind asks about one port at a time; {range} is a range"
        ));
    }
    let addr = match addr.trim_start_matches('[').trim_end_matches(']') {
        "" => None,
        text => Some(text.parse().map_err(|_| {
            let hint = match text.parse::<u16>() {
                Ok(_) => " (the port goes first: portscope 3000 --bind 127.0.0.1)",
                Err(_) => "",
            };
            format!(
                "invalid value '{}' for --bind [ADDR]: not an IPv4 or IPv6 address{hint}",
                crate::sanitize::sanitize_str(text)
            )
        })?),
    };
    let user = match &cli.as_user {
        None => None,
        Some(name) => {
            let uid = resolve_user(name)
                .map_err(|why| format!("invalid value for --as <USER>: {why}"))?;
            let gid = crate::collect::primary_gid(uid);
            Some((crate::sanitize::sanitize_str(name).into_owned(), uid, gid))
        }
    };
    Ok(Some(BindFlags {
        addr,
        user,
        reuseaddr: cli.reuseaddr,
        reuseport: cli.reuseport,
        v6only: cli.v6only,
    }))
}

/// A named namespace must exist: an unknown `--netns` is a usage error, not an empty table.
fn checked(scope: &NetnsScope) -> Result<NetnsScope, String> {
    match scope {
        NetnsScope::One(target) => crate::collect::check_netns(target)
            .map(|()| scope.clone())
            .map_err(|why| format!("invalid value for --netns <NETNS>: {why}")),
        _ => Ok(scope.clone()),
    }
}

/// The format asked for, if any; `--prometheus-textfile` is the Prometheus format written to
/// a file, and `--prometheus-all` needs it.
fn format(cli: &Cli) -> Result<Option<Format>, String> {
    let asked = match (cli.json, cli.format) {
        (true, _) | (_, Some(FormatArg::Json)) => Some(Format::Json),
        (_, Some(FormatArg::Table)) => Some(Format::Table),
        (_, Some(FormatArg::Jsonl)) => Some(Format::Jsonl),
        (_, Some(FormatArg::Prometheus)) => Some(Format::Prometheus),
        (false, None) => None,
    };
    let format = match (&cli.prometheus_textfile, asked) {
        (Some(path), None | Some(Format::Prometheus)) => {
            textfile_path(path)?;
            Some(Format::Prometheus)
        }
        (Some(_), Some(_)) => {
            return Err("--prometheus-textfile writes the Prometheus format: drop --format/--json, or use --format prometheus".to_string());
        }
        (None, asked) => asked,
    };
    if cli.prometheus_all && format != Some(Format::Prometheus) {
        return Err(
            "--prometheus-all works only with --format prometheus or --prometheus-textfile"
                .to_string(),
        );
    }
    Ok(format)
}

/// node_exporter's textfile collector reads only `*.prom` files: any other name would be
/// written and silently never exported.
fn textfile_path(path: &Path) -> Result<(), String> {
    let named_prom = path
        .file_name()
        .is_some_and(|name| name.as_encoded_bytes().ends_with(b".prom"));
    match named_prom {
        true => Ok(()),
        false => Err(format!(
            "invalid value '{}' for --prometheus-textfile <PATH>: the file name must end in .prom (node_exporter's textfile collector reads only *.prom files)",
            path.display()
        )),
    }
}

/// `--watch` writes JSON events: `--format json` (the first state on one line) or `jsonl`
/// (one line per socket throughout).
fn watch(cli: &Cli, filter: Filter, format: Option<Format>) -> Result<WatchConfig, String> {
    let lines = match format {
        Some(Format::Json) => SnapshotLines::One,
        Some(Format::Jsonl) => SnapshotLines::PerSocket,
        _ => {
            return Err(
                "--watch prints JSON events: add --format jsonl or --format json".to_string(),
            );
        }
    };
    if cli.all {
        return Err("--watch follows listeners; it does not take --all".to_string());
    }
    Ok(WatchConfig {
        filter,
        lines,
        interval: cli.interval,
    })
}

fn stop(cli: &Cli, filter: Filter, format: Option<Format>) -> Result<StopConfig, String> {
    if cli.ports.is_empty() {
        return Err(
            "--kill needs the ports whose holders to stop, e.g. portscope 3000 --kill".to_string(),
        );
    }
    if matches!(format, Some(Format::Jsonl | Format::Prometheus)) {
        return Err("--kill reports as a table or JSON: use --format table or --json".to_string());
    }
    Ok(StopConfig {
        query: QueryConfig {
            filter,
            format: format.unwrap_or(Format::Table),
            bind: None,
        },
        signal: cli.signal,
        yes: cli.yes,
        all_holders: cli.all_holders,
        timeout: cli.timeout,
        force: cli.force,
        netns_chosen: cli.netns.is_some(),
    })
}

fn filter(cli: &Cli) -> Result<Filter, String> {
    let any_proto = !cli.tcp && !cli.udp;
    let any_family = !cli.ipv4 && !cli.ipv6;
    let uid = match &cli.user {
        Some(user) => Some(
            resolve_user(user)
                .map_err(|why| format!("invalid value '{user}' for --user <USER>: {why}"))?,
        ),
        None => None,
    };
    Ok(Filter {
        netns: NetnsScope::Current,
        owner_scan: match cli.owner_scan {
            OwnerScanArg::Auto => OwnerScanChoice::Auto,
            OwnerScanArg::Bpf => OwnerScanChoice::Bpf,
            OwnerScanArg::Proc => OwnerScanChoice::Proc,
        },
        selection: Selection {
            tcp: cli.tcp || any_proto,
            udp: cli.udp || any_proto,
            ipv4: cli.ipv4 || any_family,
            ipv6: cli.ipv6 || any_family,
            all_states: cli.all,
        },
        ports: cli.ports.clone(),
        holders: HolderFilter {
            pids: cli.pid.clone(),
            uid,
            process: cli.process.as_ref().map(|p| p.to_lowercase()),
        },
    })
}

/// The ports `specs` cover, counted once each (for the wide-kill rule).
pub fn port_count(specs: &[PortSpec]) -> usize {
    let mut covered: Vec<(u16, u16)> = specs.iter().map(|s| (s.low, s.high)).collect();
    covered.sort_unstable();
    let mut total = 0usize;
    let mut reach: Option<u16> = None;
    for (low, high) in covered {
        let start = match reach {
            Some(r) if r >= high => continue,
            Some(r) if r >= low => r + 1,
            _ => low,
        };
        total += usize::from(high - start) + 1;
        reach = Some(high);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn console() -> Console {
        Console {
            interactive: true,
            stdout_is_tty: true,
            no_color_env: false,
            width: Some(100),
            default_netns: NetnsScope::Current,
        }
    }

    fn parse(args: &[&str]) -> Result<Mode, String> {
        let cli = Cli::try_parse_from(std::iter::once("portscope").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        mode(&cli, &console()).map(|(mode, _)| mode)
    }

    #[test]
    fn each_command_line_selects_its_mode() {
        assert!(matches!(parse(&[]), Ok(Mode::Live(_))));
        assert!(matches!(parse(&["--once"]), Ok(Mode::Once(c)) if c.format == Format::Table));
        assert!(matches!(parse(&["--json"]), Ok(Mode::Once(c)) if c.format == Format::Json));
        assert!(
            matches!(parse(&["--format", "json"]), Ok(Mode::Once(c)) if c.format == Format::Json)
        );
        assert!(matches!(parse(&["3000"]), Ok(Mode::Query(_))));
        assert!(matches!(parse(&["3000", "--json"]), Ok(Mode::Query(_))));
        assert!(matches!(parse(&["3000", "--kill", "-y"]), Ok(Mode::Stop(c)) if c.yes));
        assert!(matches!(parse(&["--man"]), Ok(Mode::Man)));
    }

    #[test]
    fn fleet_outputs_are_listings_that_ports_narrow() {
        let Ok(Mode::Once(jsonl)) = parse(&["--format", "jsonl", "3000"]) else {
            panic!("jsonl");
        };
        assert_eq!(jsonl.format, Format::Jsonl);
        assert_eq!(jsonl.filter.ports.len(), 1);
        let Ok(Mode::Once(metrics)) = parse(&["--format", "prometheus", "--prometheus-all"]) else {
            panic!("prometheus");
        };
        assert_eq!(
            (
                metrics.format,
                metrics.prometheus.textfile,
                metrics.prometheus.all
            ),
            (Format::Prometheus, None, true)
        );
        let Ok(Mode::Once(file)) = parse(&["--prometheus-textfile", "/var/lib/x/portscope.prom"])
        else {
            panic!("textfile");
        };
        assert_eq!(file.format, Format::Prometheus);
        assert_eq!(
            file.prometheus.textfile.as_deref(),
            Some(std::path::Path::new("/var/lib/x/portscope.prom"))
        );
        assert!(parse(&["--format", "prometheus", "--prometheus-textfile", "p.prom"]).is_ok());
    }

    #[test]
    fn watch_takes_json_or_jsonl_and_the_interval() {
        let Ok(Mode::Watch(json)) = parse(&["--watch", "--json", "--interval", "250ms"]) else {
            panic!("watch --json");
        };
        assert_eq!(json.lines, SnapshotLines::One);
        assert_eq!(json.interval, Duration::from_millis(250));
        let Ok(Mode::Watch(jsonl)) = parse(&["--watch", "--format", "jsonl", "-u", "53"]) else {
            panic!("watch jsonl");
        };
        assert_eq!(jsonl.lines, SnapshotLines::PerSocket);
        assert!(!jsonl.filter.selection.tcp && jsonl.filter.ports.len() == 1);
        for refused in [
            &["--watch"][..],
            &["--watch", "--format", "table"],
            &["--watch", "--json", "--all"],
            &["--watch", "--format", "prometheus"],
        ] {
            assert!(parse(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn flags_narrow_the_selection() {
        let Ok(Mode::Once(config)) = parse(&["--once", "-t", "-6", "--all"]) else {
            panic!("once");
        };
        let s = config.filter.selection;
        assert!(s.tcp && !s.udp && !s.ipv4 && s.ipv6 && s.all_states);
    }

    #[test]
    fn refusals_are_one_line_each() {
        let kill = parse(&["--kill"]).err().unwrap_or_default();
        assert!(kill.contains("--kill needs the ports"), "{kill}");
        let user = parse(&["--once", "--user", "no-such-user-portscope"])
            .err()
            .unwrap_or_default();
        assert!(
            user.contains("for --user <USER>") && user.contains("no such user"),
            "{user}"
        );
        assert!(parse(&["--once", "--user", "4000000"]).is_ok());
    }

    #[test]
    fn ports_are_counted_once() {
        let specs = |texts: &[&str]| -> Vec<PortSpec> {
            texts
                .iter()
                .filter_map(|t| PortSpec::parse(t).ok())
                .collect()
        };
        assert_eq!(port_count(&specs(&["80"])), 1);
        assert_eq!(port_count(&specs(&["80", "80/udp"])), 1);
        assert_eq!(port_count(&specs(&["8000-8100", "8050-8200"])), 201);
        assert_eq!(port_count(&specs(&["1-65535"])), 65535);
        assert_eq!(port_count(&specs(&["1-10", "5-6", "20"])), 11);
    }
}
