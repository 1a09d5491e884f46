//! `--once`: the snapshot as an aligned table, grouped by IANA range.

use std::io::{self, Write};

use anstyle::Style;
use unicode_width::UnicodeWidthStr;

use super::{Paint, exposure_style, fit, pad, palette, pids_label, process_label, user_label};
use crate::model::{Owner, RangeGroup, Snapshot, Socket, endpoint};

pub struct TableOptions {
    /// Terminal width; None when not writing to a terminal (nothing is cut then).
    pub width: Option<usize>,
    /// Show STATE and REMOTE columns (for `--all`).
    pub all: bool,
    pub paint: Paint,
}

const GAP: usize = 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Proto,
    Local,
    State,
    Remote,
    Service,
    Exposure,
    Pid,
    Process,
    User,
    Command,
}

impl Col {
    fn title(self) -> &'static str {
        match self {
            Col::Proto => "PROTO",
            Col::Local => "ADDRESS:PORT",
            Col::State => "STATE",
            Col::Remote => "REMOTE",
            Col::Service => "SERVICE",
            Col::Exposure => "EXPOSURE",
            Col::Pid => "PID",
            Col::Process => "PROCESS",
            Col::User => "USER",
            Col::Command => "COMMAND",
        }
    }

    /// How narrow a column may be squeezed; 0 means it is never cut.
    fn min_width(self) -> usize {
        match self {
            Col::Service | Col::Process | Col::Remote => 8,
            Col::User => 6,
            Col::Command => 12,
            _ => 0,
        }
    }
}

struct Cell {
    text: String,
    style: Style,
}

fn cell(text: impl Into<String>, style: Style) -> Cell {
    Cell {
        text: text.into(),
        style,
    }
}

pub fn write_table(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    options: &TableOptions,
) -> io::Result<()> {
    let columns = columns(options.all);
    if snapshot.sockets.is_empty() {
        writeln!(out, "{}", nothing_line(options.all))?;
        return write_notes(out, snapshot, options.paint);
    }
    // Two passes, so a table of 200,000 sockets never holds every cell at once: one to
    // measure the columns, one to print.
    let rows = snapshot.sockets.iter().map(|s| row(snapshot, s, &columns));
    let widths = layout(&columns, rows, options.width);
    write_header(out, &columns, &widths, options.paint)?;
    for group in RangeGroup::ALL {
        let members = || snapshot.sockets.iter().filter(move |s| s.range() == group);
        let count = members().count();
        if count == 0 {
            continue;
        }
        let title = format!("{} ({count})", group.title());
        writeln!(out, "{}", options.paint.paint(palette::GROUP, &title))?;
        for socket in members() {
            write_row(
                out,
                &row(snapshot, socket, &columns),
                &widths,
                options.paint,
            )?;
        }
    }
    write_notes(out, snapshot, options.paint)
}

fn nothing_line(all: bool) -> &'static str {
    if all {
        "No sockets match."
    } else {
        "No listening sockets match."
    }
}

fn columns(all: bool) -> Vec<Col> {
    let mut columns = vec![Col::Proto, Col::Local];
    if all {
        columns.extend([Col::State, Col::Remote]);
    }
    columns.extend([
        Col::Service,
        Col::Exposure,
        Col::Pid,
        Col::Process,
        Col::User,
        Col::Command,
    ]);
    columns
}

fn row(snapshot: &Snapshot, socket: &Socket, columns: &[Col]) -> Vec<Cell> {
    columns
        .iter()
        .map(|&col| column_cell(snapshot, socket, col))
        .collect()
}

fn column_cell(snapshot: &Snapshot, socket: &Socket, col: Col) -> Cell {
    let plain = Style::new();
    match col {
        Col::Proto => cell(socket.proto.as_str(), plain),
        Col::Local => {
            let mark = if snapshot.in_ephemeral(socket.port) {
                "*"
            } else {
                ""
            };
            cell(format!("{}{mark}", socket.local_endpoint()), plain)
        }
        Col::State => cell(socket.state.as_str(), plain),
        Col::Remote => match socket.remote {
            Some((addr, port)) => cell(endpoint(&addr, port), plain),
            None => cell("-", palette::DIM),
        },
        Col::Service => service_cell(socket),
        Col::Exposure => {
            let exposure = socket.exposure();
            cell(exposure.label(), exposure_style(exposure))
        }
        Col::Pid => cell(pids_label(socket), owner_style(&socket.owner)),
        Col::Process => cell(process_label(snapshot, socket), owner_style(&socket.owner)),
        Col::User => cell(user_label(snapshot, socket), plain),
        Col::Command => cell(command_label(snapshot, socket), palette::DIM),
    }
}

fn service_cell(socket: &Socket) -> Cell {
    match (socket.service(), socket.hint()) {
        (Some(name), _) => cell(name, Style::new()),
        (None, Some(hint)) => cell(hint, palette::DIM),
        (None, None) => cell("-", palette::DIM),
    }
}

fn owner_style(owner: &Owner) -> Style {
    match owner {
        Owner::Known(_) => Style::new(),
        Owner::Hidden(_) => palette::HIDDEN,
        Owner::None(_) => palette::DIM,
    }
}

fn command_label(snapshot: &Snapshot, socket: &Socket) -> String {
    snapshot
        .holders(socket)
        .next()
        .map(|p| p.short_command())
        .unwrap_or_default()
}

/// Natural widths, then squeezed to fit: the command column goes first, then the flexible
/// columns shrink toward their minimums.
fn layout(
    columns: &[Col],
    rows: impl Iterator<Item = Vec<Cell>>,
    limit: Option<usize>,
) -> Vec<usize> {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.title().width()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(&row) {
            *width = (*width).max(cell.text.width());
        }
    }
    let Some(limit) = limit else {
        return widths;
    };
    // The command column (always last) takes what the others leave, or disappears.
    let Some((command, core)) = widths.split_last_mut() else {
        return widths;
    };
    let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
    squeeze(columns, core, limit);
    // Make room for a useful command column when squeezing the flexible columns gets there.
    let floor: Vec<usize> = columns
        .iter()
        .zip(core.iter())
        .map(|(col, &w)| {
            if col.min_width() > 0 {
                w.min(col.min_width())
            } else {
                w
            }
        })
        .collect();
    let goal = (*command).min(COMMAND_GOAL);
    if limit.saturating_sub(total(&floor) + GAP) >= Col::Command.min_width() {
        squeeze(columns, core, limit.saturating_sub(goal + GAP));
    }
    let room = limit.saturating_sub(total(core) + GAP);
    *command = if room >= Col::Command.min_width() {
        room.min(*command)
    } else {
        0
    };
    widths
}

/// How wide the command column would like to be before the others give way to it.
const COMMAND_GOAL: usize = 32;

/// Narrows the widest flexible column, one cell at a time, until the row fits `limit` or
/// every flexible column is at its minimum.
fn squeeze(columns: &[Col], widths: &mut [usize], limit: usize) {
    let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
    while total(widths) > limit {
        let widest = columns
            .iter()
            .zip(widths.iter())
            .enumerate()
            .filter(|(_, (col, w))| col.min_width() > 0 && **w > col.min_width())
            .max_by_key(|(_, (_, w))| **w)
            .map(|(i, _)| i);
        match widest {
            Some(i) => widths[i] -= 1,
            None => break,
        }
    }
}

fn write_header(
    out: &mut dyn Write,
    columns: &[Col],
    widths: &[usize],
    paint: Paint,
) -> io::Result<()> {
    let cells: Vec<Cell> = columns
        .iter()
        .map(|c| cell(c.title(), palette::HEADER))
        .collect();
    write_row(out, &cells, widths, paint)
}

fn write_row(
    out: &mut dyn Write,
    cells: &[Cell],
    widths: &[usize],
    paint: Paint,
) -> io::Result<()> {
    let visible: Vec<(&Cell, usize)> = cells
        .iter()
        .zip(widths.iter().copied())
        .filter(|(_, w)| *w > 0)
        .collect();
    let mut line = String::new();
    for (i, (cell, width)) in visible.iter().enumerate() {
        let text = fit(&cell.text, *width);
        let last = i + 1 == visible.len();
        let text = if last { text } else { pad(&text, *width) };
        line.push_str(&paint.paint(cell.style, &text));
        if !last {
            line.push_str(&" ".repeat(GAP));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

/// Footnotes: the ephemeral-range marker and every reason an owner could not be shown.
fn write_notes(out: &mut dyn Write, snapshot: &Snapshot, paint: Paint) -> io::Result<()> {
    let marked = snapshot
        .sockets
        .iter()
        .any(|s| snapshot.in_ephemeral(s.port));
    if let (true, Some(range)) = (marked, snapshot.ephemeral) {
        let note = format!(
            "* inside this OS's ephemeral range {range}: the kernel also hands these ports to outgoing connections"
        );
        writeln!(out, "{}", paint.paint(palette::DIM, &note))?;
    }
    for line in snapshot
        .warnings
        .iter()
        .chain(snapshot.owner_summary().iter())
    {
        writeln!(
            out,
            "{}",
            paint.paint(palette::WARN, &format!("note: {line}"))
        )?;
    }
    Ok(())
}
