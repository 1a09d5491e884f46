//! One dispatch over [`Mode`]; every path returns an exit status instead of exiting.

pub(crate) mod bind;
mod config;
mod once;
mod query;
mod stop;
mod textfile;
pub mod watch;

pub use config::{
    BindFlags, Console, LiveConfig, Mode, OnceConfig, Output, PrometheusConfig, QueryConfig,
    StopConfig, WatchConfig,
};

use std::io::{self, BufWriter, IsTerminal, Write};

use clap::CommandFactory;

use crate::cli::Cli;
use crate::collect::CollectError;

/// Documented exit codes (see `cli::EXIT_CODES`).
pub mod exit {
    pub const OK: u8 = 0;
    pub const ALL_FREE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const TABLE_UNAVAILABLE: u8 = 3;
    pub const OUTPUT_FAILED: u8 = 4;
    pub const NOT_SIGNALLED: u8 = 5;
    pub const STILL_HELD: u8 = 6;
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Collect(#[from] CollectError),
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
    /// A usage error found after parsing (an unknown user, `--kill` without a port).
    #[error("{0}")]
    Usage(String),
    /// A port query could not be answered: a table it needs is unreadable.
    #[error("{0}")]
    Unanswerable(String),
    /// The live view needs something this session does not have.
    #[error("{0}")]
    NoTerminal(String),
    /// The live view's collector thread died.
    #[error("the collector stopped: {0} (a bug in portscope; please report it)")]
    CollectorFailed(String),
    /// `--kill` stopped before signalling anything, for this reason.
    #[error("nothing was signalled: {0}")]
    NotSignalled(String),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Collect(_) | AppError::Unanswerable(_) | AppError::CollectorFailed(_) => {
                exit::TABLE_UNAVAILABLE
            }
            AppError::Output(_) | AppError::NoTerminal(_) => exit::OUTPUT_FAILED,
            AppError::Usage(_) => exit::USAGE,
            AppError::NotSignalled(_) => exit::NOT_SIGNALLED,
        }
    }

    /// A reader that went away (`portscope --once | head -1`) is not an error when listing.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, AppError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// How the terminal on stdout looks, decided once.
pub fn detect_console() -> Console {
    let stdout_is_tty = io::stdout().is_terminal();
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    Console {
        interactive: stdout_is_tty && !dumb,
        stdout_is_tty,
        no_color_env: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        width: terminal_width(stdout_is_tty),
        default_netns: crate::collect::default_scope(),
    }
}

fn terminal_width(is_tty: bool) -> Option<usize> {
    let from_env = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    if !is_tty {
        return from_env;
    }
    crossterm::terminal::size()
        .ok()
        .map(|(cols, _)| usize::from(cols))
        .or(from_env)
}

pub fn run(cli: &Cli) -> Result<u8, AppError> {
    let (mode, output) = config::mode(cli, &detect_console()).map_err(AppError::Usage)?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = match mode {
        Mode::Completions(shell) => {
            clap_complete::generate(shell, &mut Cli::command(), "portscope", &mut out);
            exit::OK
        }
        Mode::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            exit::OK
        }
        Mode::Live(config) => {
            drop(out);
            let theme = crate::tui::Theme {
                color: output.color,
            };
            return crate::tui::run(config.filter, config.interval, theme).map_err(|e| match e {
                crate::tui::LiveError::Terminal(error) => live_error(error),
                crate::tui::LiveError::Collector(why) => AppError::CollectorFailed(why),
            });
        }
        Mode::Once(config) => once::run(&config, output, &mut out)?,
        Mode::Query(config) => query::run(&config, output, &mut out)?,
        Mode::Stop(config) => stop::run(&config, output, &mut out)?,
        Mode::Watch(config) => watch::run(&config, &mut out)?,
    };
    out.flush()?;
    Ok(code)
}

/// The live view failed to start or to draw: say what is missing when it is the terminal.
fn live_error(error: io::Error) -> AppError {
    let no_tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_err();
    match no_tty {
        true => AppError::NoTerminal(format!(
            "the live view needs a controlling terminal, and this session has none (/dev/tty: {error}); use --once for a table"
        )),
        false => AppError::Output(error),
    }
}

/// `--verbose`: says on stderr how `snapshot`'s holders were found.
pub fn say_collector(output: Output, snapshot: &crate::model::Snapshot) {
    if output.verbose {
        say_error(&crate::present::owner_map_line(
            &snapshot.visibility.owner_map,
        ));
    }
}

/// Writes one `portscope: …` line on stderr; a stderr that cannot be written is left alone
/// (never a panic).
pub fn say_error(line: &str) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "portscope: {line}");
    let _ = stderr.flush();
}
