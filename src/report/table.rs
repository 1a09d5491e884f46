//! `--once`: the snapshot as an aligned table, grouped by IANA range.

use std::io::{self, Write};

use unicode_width::UnicodeWidthStr;

use super::Paint;
use crate::model::{RangeGroup, Snapshot, Socket};
use crate::present::{Cell, Column, Role, pad};

pub struct TableOptions {
    /// Terminal width; None when not writing to a terminal (nothing is cut then).
    pub width: Option<usize>,
    /// Show STATE and REMOTE columns (for `--all`).
    pub all: bool,
    pub paint: Paint,
}

const GAP: usize = 2;

/// The long wording is used only where a command line this wide fits beside it.
const COMMAND_GOAL: usize = 32;

/// The columns and how each is shown this time.
struct Layout {
    columns: Vec<Column>,
    widths: Vec<usize>,
    /// Show compact forms (`all` for `all interfaces`): names matter more than the wording.
    compact: bool,
}

pub fn write_table(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    options: &TableOptions,
) -> io::Result<()> {
    if snapshot.sockets.is_empty() {
        writeln!(out, "{}", nothing_line(options.all))?;
        return write_notes(out, snapshot, options.paint);
    }
    let layout = layout(
        snapshot,
        columns(options.all, snapshot.spans_namespaces()),
        options.width,
    );
    write_header(out, &layout, options.paint)?;
    for group in RangeGroup::ALL {
        let members = || snapshot.sockets.iter().filter(move |s| s.range() == group);
        let count = members().count();
        if count == 0 {
            continue;
        }
        let title = format!("{} ({count})", group.title());
        writeln!(out, "{}", options.paint.paint(Role::Group, &title))?;
        for socket in members() {
            let cells = row(snapshot, socket, &layout.columns, layout.compact);
            write_row(out, &cells, &layout.widths, options.paint)?;
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

fn columns(all: bool, namespaces: bool) -> Vec<Column> {
    let mut columns = Vec::new();
    if namespaces {
        columns.push(Column::Netns);
    }
    columns.extend([Column::Proto, Column::Local]);
    if all {
        columns.extend([Column::State, Column::Remote]);
    }
    columns.extend([
        Column::Service,
        Column::Exposure,
        Column::Pid,
        Column::Process,
        Column::User,
        Column::Command,
    ]);
    columns
}

fn row(snapshot: &Snapshot, socket: &Socket, columns: &[Column], compact: bool) -> Vec<Cell> {
    columns
        .iter()
        .map(|&col| col.cell(snapshot, socket, compact))
        .collect()
}

fn title(column: Column, compact: bool) -> &'static str {
    if compact {
        column.compact_title()
    } else {
        column.title()
    }
}

/// Natural widths, measured over every row in a pass that keeps no cell (a table of 200,000
/// sockets is never held whole).
fn measure(snapshot: &Snapshot, columns: &[Column], compact: bool) -> Vec<usize> {
    let mut widths: Vec<usize> = columns.iter().map(|&c| title(c, compact).width()).collect();
    for socket in &snapshot.sockets {
        for (width, cell) in widths
            .iter_mut()
            .zip(row(snapshot, socket, columns, compact))
        {
            *width = (*width).max(cell.text.width());
        }
    }
    widths
}

fn total(widths: &[usize]) -> usize {
    widths.iter().sum::<usize>() + GAP * widths.len().saturating_sub(1)
}

/// Natural widths, then made to fit: first the compact forms, then the command column goes,
/// then the flexible columns shrink toward their minimums.
fn layout(snapshot: &Snapshot, columns: Vec<Column>, limit: Option<usize>) -> Layout {
    let widths = measure(snapshot, &columns, false);
    let Some(limit) = limit else {
        return Layout {
            columns,
            widths,
            compact: false,
        };
    };
    // The long wording only where every column and a useful command line fit beside it.
    let core = |w: &[usize]| total(&w[..w.len().saturating_sub(1)]);
    let command = widths.last().copied().unwrap_or(0).min(COMMAND_GOAL);
    let compact = core(&widths) + GAP + command > limit;
    let mut widths = match compact {
        true => measure(snapshot, &columns, true),
        false => widths,
    };
    fit_widths(&columns, &mut widths, limit);
    Layout {
        columns,
        widths,
        compact,
    }
}

/// Names come first: the command column (always last) takes what the others leave at their
/// natural widths, or disappears; only then do the flexible columns shrink.
fn fit_widths(columns: &[Column], widths: &mut [usize], limit: usize) {
    let Some((command, core)) = widths.split_last_mut() else {
        return;
    };
    squeeze(columns, core, limit);
    let room = limit.saturating_sub(total(core) + GAP);
    *command = if room >= Column::Command.min_width() {
        room.min(*command)
    } else {
        0
    };
}

/// Narrows the widest flexible column, one cell at a time, until the row fits `limit` or
/// every flexible column is at its minimum.
fn squeeze(columns: &[Column], widths: &mut [usize], limit: usize) {
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

fn write_header(out: &mut dyn Write, layout: &Layout, paint: Paint) -> io::Result<()> {
    let cells: Vec<Cell> = layout
        .columns
        .iter()
        .map(|&c| Cell::new(title(c, layout.compact), Role::Header))
        .collect();
    write_row(out, &cells, &layout.widths, paint)
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
        let text = cell.fit(*width);
        let last = i + 1 == visible.len();
        let text = if last { text } else { pad(&text, *width) };
        line.push_str(&paint.paint(cell.role, &text));
        if !last {
            line.push_str(&" ".repeat(GAP));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

/// Footnotes: the ephemeral-range marker, unreadable tables, and every reason an owner could not
/// be shown.
pub fn write_notes(out: &mut dyn Write, snapshot: &Snapshot, paint: Paint) -> io::Result<()> {
    let marked = snapshot
        .sockets
        .iter()
        .any(|s| snapshot.in_ephemeral(s.port));
    if let (true, Some(range)) = (marked, snapshot.ephemeral) {
        let note = format!(
            "* inside this OS's ephemeral range {range}: the kernel also hands these ports to outgoing connections"
        );
        writeln!(out, "{}", paint.paint(Role::Dim, &note))?;
    }
    // Published ports: where each leads (the shown ones only).
    for publication in &snapshot.published {
        let Some(socket) = snapshot
            .sockets
            .iter()
            .find(|s| (s.netns, s.inode) == publication.socket)
        else {
            continue;
        };
        let (words, role) = crate::present::publication_line(snapshot, publication);
        let place = match snapshot.spans_namespaces() {
            true => format!(
                "{} ",
                crate::present::netns_words_of(snapshot, socket.netns)
            ),
            false => String::new(),
        };
        let line = format!(
            "{} {place}{}: {words}",
            socket.proto.as_str(),
            socket.local_endpoint()
        );
        writeln!(out, "{}", paint.paint(role, &line))?;
    }
    for line in snapshot.notes() {
        writeln!(out, "{}", paint.paint(Role::Warn, &format!("note: {line}")))?;
    }
    Ok(())
}
