//! The listener list: three foldable groups, aligned columns, changes highlighted. Only the
//! rows on screen are built, so a host with 100,000 listeners redraws as fast as one with ten.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Theme;
use crate::model::Snapshot;
use crate::present::{Column, Role, pad};
use crate::tui::app::{App, Change, Row, group_index};

/// Which columns fit: the least useful go first as the terminal narrows. PROCESS takes the rest.
fn columns(width: usize, all: bool, namespaces: bool) -> Vec<(Column, usize)> {
    let mut cols = Vec::new();
    if namespaces {
        cols.push(Column::Netns);
    }
    cols.push(Column::Proto);
    if all {
        cols.push(Column::State);
    }
    cols.extend([
        Column::Local,
        Column::Service,
        Column::Exposure,
        Column::Pid,
        Column::Process,
        Column::User,
        Column::Uptime,
        Column::Conns,
    ]);
    let need = |cols: &[Column]| cols.iter().map(|c| c.view_width() + 1).sum::<usize>();
    for drop in Column::DROP_ORDER {
        if need(&cols) <= width {
            break;
        }
        cols.retain(|&c| c != drop);
    }
    let mut widths: Vec<(Column, usize)> = cols.iter().map(|&c| (c, c.view_width())).collect();
    let total = |w: &[(Column, usize)]| w.iter().map(|(_, n)| n + 1).sum::<usize>();
    // Still too wide with every optional column gone: narrow the address, then the process.
    for (col, floor) in [(Column::Local, 12), (Column::Process, 6)] {
        let over = total(&widths).saturating_sub(width);
        if let Some(entry) = widths.iter_mut().find(|(c, _)| *c == col) {
            entry.1 -= over.min(entry.1.saturating_sub(floor));
        }
    }
    // Spare room: first a little for USER (several users share a socket), then PROCESS.
    let mut spare = width.saturating_sub(total(&widths));
    for (col, most) in [(Column::User, 6), (Column::Process, usize::MAX)] {
        if let Some(entry) = widths.iter_mut().find(|(c, _)| *c == col) {
            let extra = spare.min(most);
            entry.1 += extra;
            spare -= extra;
        }
    }
    widths
}

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, theme: Theme) {
    let [titles, list_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let namespaces = app.snapshot.as_ref().is_some_and(|s| s.spans_namespaces());
    let cols = columns(
        usize::from(area.width),
        app.selection.all_states,
        namespaces,
    );
    let title_spans: Vec<Span> = cols
        .iter()
        .map(|&(col, width)| {
            Span::styled(
                format!("{} ", pad(col.compact_title(), width)),
                theme.role(Role::Header),
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(Line::from(title_spans)), titles);
    app.table_area = Some((list_area.y, list_area.height));
    let height = usize::from(list_area.height);
    app.scroll_into_view(height);
    let lines: Vec<Line> = match &app.snapshot {
        None => vec![Line::styled(
            "  reading the socket tables…",
            theme.role(Role::Dim),
        )],
        Some(snapshot) => app
            .rows
            .iter()
            .enumerate()
            .skip(app.offset)
            .take(height)
            .map(|(i, &row)| {
                let line = row_line(app, snapshot, row, &cols, theme);
                match i == app.selected {
                    true => line.patch_style(theme.selected()),
                    false => line,
                }
            })
            .collect(),
    };
    frame.render_widget(Paragraph::new(lines), list_area);
}

fn row_line<'a>(
    app: &App,
    snapshot: &Snapshot,
    row: Row,
    cols: &[(Column, usize)],
    theme: Theme,
) -> Line<'a> {
    match row {
        Row::Group(group) => {
            let folded = app.folded[group_index(group)];
            let count = app.group_counts()[group_index(group)];
            let marker = if folded { "▸" } else { "▾" };
            let text = format!("{marker} {} ({count})", group.title());
            Line::styled(text, theme.role(Role::Group))
        }
        Row::Socket { change, .. } => match app.socket(row) {
            Some(socket) => {
                let row_style = match change {
                    Change::Steady => Style::new(),
                    Change::New => theme.role(Role::New),
                    Change::Gone => theme.role(Role::Gone),
                };
                let spans: Vec<Span> = cols
                    .iter()
                    .map(|&(col, width)| {
                        let cell = col.cell(snapshot, socket, true);
                        Span::styled(
                            format!("{} ", pad(&cell.fit(width), width)),
                            theme.role(cell.role).patch(row_style),
                        )
                    })
                    .collect();
                Line::from(spans)
            }
            None => Line::raw(""),
        },
    }
}
