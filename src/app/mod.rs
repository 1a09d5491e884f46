//! One dispatch over [`Mode`]; every path returns an exit status instead of exiting.

mod stop;

use std::io::{self, BufWriter, IsTerminal, Write};

use clap::CommandFactory;

use crate::cli::{Cli, ColorWhen, Mode};
use crate::collect::{CollectError, Collector};
use crate::filter::Filter;
use crate::model::Snapshot;
use crate::query;
use crate::report::json::{QueryEntry, write_json};
use crate::report::table::{TableOptions, write_table};
use crate::report::{Paint, query::write_answers};

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
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Collect(_) => exit::TABLE_UNAVAILABLE,
            AppError::Output(_) => exit::OUTPUT_FAILED,
        }
    }

    /// A reader that went away (`portscope --once | head -1`) is not an error.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, AppError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// How the terminal on stdout looks, decided once.
pub struct Terminal {
    pub is_tty: bool,
    pub dumb: bool,
    pub width: Option<usize>,
    pub color: bool,
}

impl Terminal {
    pub fn detect(when: ColorWhen) -> Self {
        let is_tty = io::stdout().is_terminal();
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => is_tty && !dumb && !no_color,
        };
        Terminal {
            is_tty,
            dumb,
            width: terminal_width(is_tty),
            color,
        }
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
    let terminal = Terminal::detect(cli.color);
    let mode = cli.mode(terminal.is_tty && !terminal.dumb);
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
        Mode::Live => {
            drop(out);
            let theme = crate::tui::Theme {
                color: terminal.color,
            };
            return Ok(crate::tui::run(Filter::from_cli(cli), cli.interval, theme)?);
        }
        Mode::Once => run_once(cli, &terminal, &mut out)?,
        Mode::Query(_) => run_query(cli, &terminal, &mut out)?,
        Mode::Stop(_) => stop::run(cli, &terminal, &mut out)?,
    };
    out.flush()?;
    Ok(code)
}

fn snapshot(filter: &Filter) -> Result<Snapshot, CollectError> {
    let mut collector = Collector::new();
    let snapshot = collector.collect(filter.tables, &|s| filter.keep_socket(s))?;
    Ok(filter.apply(snapshot))
}

fn run_once(cli: &Cli, terminal: &Terminal, out: &mut dyn Write) -> Result<u8, AppError> {
    let filter = Filter::from_cli(cli);
    let snapshot = snapshot(&filter)?;
    if cli.json {
        write_json(out, &snapshot, None)?;
    } else {
        let options = TableOptions {
            width: terminal.width,
            all: cli.all,
            paint: Paint {
                enabled: terminal.color,
            },
        };
        write_table(out, &snapshot, &options)?;
    }
    Ok(exit::OK)
}

/// A port with no listener may still be in use by connections: one cheap extra dump (no owner
/// lookup) says how many, so "free" is never said of a port that cannot be bound.
fn count_other_sockets(
    filter: &Filter,
    answers: &mut [query::Answer<'_>],
) -> Result<(), CollectError> {
    if answers.iter().all(query::Answer::held) {
        return Ok(());
    }
    let mut tables = filter.tables;
    tables.listeners_only = false;
    let keep = |s: &crate::model::Socket| !s.is_listener() && filter.keep_port(s);
    let others = crate::collect::sockets(tables, &keep)?;
    for answer in answers.iter_mut().filter(|a| !a.held()) {
        answer.others = others
            .iter()
            .filter(|s| answer.spec.matches(s.proto, s.port))
            .count();
    }
    Ok(())
}

fn run_query(cli: &Cli, terminal: &Terminal, out: &mut dyn Write) -> Result<u8, AppError> {
    let filter = Filter::from_cli(cli);
    let snapshot = snapshot(&filter)?;
    let mut answers = query::answer(&snapshot, &filter.ports);
    if !filter.all {
        count_other_sockets(&filter, &mut answers)?;
    }
    if cli.json {
        let entries: Vec<QueryEntry> = answers.iter().map(QueryEntry::from).collect();
        write_json(out, &snapshot, Some(&entries))?;
    } else {
        let paint = Paint {
            enabled: terminal.color,
        };
        write_answers(out, &snapshot, &answers, paint)?;
    }
    let any_held = answers.iter().any(query::Answer::held);
    Ok(if any_held { exit::OK } else { exit::ALL_FREE })
}
