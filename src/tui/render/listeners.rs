//! The listener list: three foldable groups, aligned columns, changes highlighted.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, Paragraph};

use super::Theme;
use crate::model::{Exposure, Owner, Snapshot, Socket};
use crate::report::{age, fit, pad, pids_label, process_label, user_label};
use crate::tui::state::{App, Change, Row, group_index};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Proto,
    State,
    Local,
    Service,
    Exposure,
    Pid,
    Process,
    User,
    Uptime,
    Conns,
}

impl Col {
    fn title(self) -> &'static str {
        match self {
            Col::Proto => "PROTO",
            Col::State => "STATE",
            Col::Local => "ADDRESS:PORT",
            Col::Service => "SERVICE",
            Col::Exposure => "EXPOSE",
            Col::Pid => "PID",
            Col::Process => "PROCESS",
            Col::User => "USER",
            Col::Uptime => "UPTIME",
            Col::Conns => "CONNS",
        }
    }

    fn width(self) -> usize {
        match self {
            Col::Proto => 5,
            Col::State => 11,
            Col::Local => 18,
            Col::Service => 12,
            Col::Exposure => 6,
            Col::Pid => 8,
            Col::Process => 10,
            Col::User => 8,
            Col::Uptime => 7,
            Col::Conns => 5,
        }
    }
}

/// Which columns fit: the least useful go first as the terminal narrows. PROCESS takes the rest.
fn columns(width: usize, all: bool) -> Vec<(Col, usize)> {
    let mut cols = vec![Col::Proto];
    if all {
        cols.push(Col::State);
    }
    cols.extend([
        Col::Local,
        Col::Service,
        Col::Exposure,
        Col::Pid,
        Col::Process,
        Col::User,
        Col::Uptime,
        Col::Conns,
    ]);
    let drop_order = [
        Col::State,
        Col::Uptime,
        Col::Service,
        Col::Conns,
        Col::User,
        Col::Exposure,
    ];
    let need = |cols: &[Col]| cols.iter().map(|c| c.width() + 1).sum::<usize>();
    for drop in drop_order {
        if need(&cols) <= width {
            break;
        }
        cols.retain(|&c| c != drop);
    }
    let mut widths: Vec<(Col, usize)> = cols.iter().map(|&c| (c, c.width())).collect();
    let total = |w: &[(Col, usize)]| w.iter().map(|(_, n)| n + 1).sum::<usize>();
    // Still too wide with every optional column gone: narrow the address, then the process.
    for (col, floor) in [(Col::Local, 12), (Col::Process, 6)] {
        let over = total(&widths).saturating_sub(width);
        if let Some(entry) = widths.iter_mut().find(|(c, _)| *c == col) {
            entry.1 -= over.min(entry.1.saturating_sub(floor));
        }
    }
    // Spare room: first a little for USER (several users share a socket), then PROCESS.
    let mut spare = width.saturating_sub(total(&widths));
    for (col, most) in [(Col::User, 6), (Col::Process, usize::MAX)] {
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
    let cols = columns(usize::from(area.width), app.view.all);
    let title_spans: Vec<Span> = cols
        .iter()
        .map(|&(col, width)| Span::styled(format!("{} ", pad(col.title(), width)), theme.dim()))
        .collect();
    frame.render_widget(Paragraph::new(Line::from(title_spans)), titles);
    let items: Vec<ListItem> = match &app.snapshot {
        None => vec![ListItem::new(Line::styled(
            "  reading the socket tables…",
            theme.dim(),
        ))],
        Some(snapshot) => app
            .rows
            .iter()
            .map(|&row| item(app, snapshot, row, &cols, theme))
            .collect(),
    };
    let list = List::new(items).highlight_style(theme.selected());
    app.table_area = Some((list_area.y, list_area.height));
    frame.render_stateful_widget(list, list_area, &mut app.table);
}

fn item<'a>(
    app: &App,
    snapshot: &Snapshot,
    row: Row,
    cols: &[(Col, usize)],
    theme: Theme,
) -> ListItem<'a> {
    match row {
        Row::Group(group) => {
            let folded = app.folded[group_index(group)];
            let count = app.group_counts()[group_index(group)];
            let marker = if folded { "▸" } else { "▾" };
            let text = format!("{marker} {} ({count})", group.title());
            ListItem::new(Line::styled(text, theme.group()))
        }
        Row::Socket { change, .. } => match app.socket(row) {
            Some(socket) => ListItem::new(socket_line(snapshot, socket, change, cols, theme)),
            None => ListItem::new(Line::raw("")),
        },
    }
}

fn socket_line<'a>(
    snapshot: &Snapshot,
    socket: &Socket,
    change: Change,
    cols: &[(Col, usize)],
    theme: Theme,
) -> Line<'a> {
    let row_style = match change {
        Change::Steady => Style::new(),
        Change::New => theme.new_row(),
        Change::Gone => theme.gone_row(),
    };
    let spans: Vec<Span> = cols
        .iter()
        .map(|&(col, width)| {
            let (text, style) = cell(snapshot, socket, col, theme);
            Span::styled(
                format!("{} ", pad(&fit(&text, width), width)),
                style.patch(row_style),
            )
        })
        .collect();
    Line::from(spans)
}

fn cell(snapshot: &Snapshot, socket: &Socket, col: Col, theme: Theme) -> (String, Style) {
    let plain = Style::new();
    match col {
        Col::Proto => (socket.proto.as_str().to_string(), plain),
        Col::State => (socket.state.as_str().to_string(), plain),
        Col::Local => {
            let mark = if snapshot.in_ephemeral(socket.port) {
                "*"
            } else {
                ""
            };
            (format!("{}{mark}", socket.local_endpoint()), plain)
        }
        Col::Service => match (socket.service(), socket.hint()) {
            (Some(name), _) => (name.to_string(), plain),
            (None, Some(hint)) => (hint.to_string(), theme.dim()),
            (None, None) => ("-".to_string(), theme.dim()),
        },
        Col::Exposure => match socket.exposure() {
            Exposure::Loopback => ("local".to_string(), theme.local()),
            Exposure::All => ("all".to_string(), theme.exposed()),
            Exposure::Specific => ("addr".to_string(), plain),
        },
        Col::Pid => (pids_label(socket), owner_style(&socket.owner, theme)),
        Col::Process => (
            process_label(snapshot, socket),
            owner_style(&socket.owner, theme),
        ),
        Col::User => (user_label(snapshot, socket), plain),
        Col::Uptime => {
            let start = snapshot.holders(socket).filter_map(|p| p.start_time).min();
            (
                start.map_or_else(|| "-".into(), |s| age(s, snapshot.taken_at)),
                theme.dim(),
            )
        }
        Col::Conns => {
            let count = snapshot
                .connections
                .get(&socket.port)
                .map_or(0, |c| c.count);
            let text = if socket.is_listener() && count > 0 {
                count.to_string()
            } else {
                "-".into()
            };
            (text, plain)
        }
    }
}

fn owner_style(owner: &Owner, theme: Theme) -> Style {
    match owner {
        Owner::Known(_) => Style::new(),
        Owner::Hidden(_) => theme.hidden(),
        Owner::None(_) => theme.dim(),
    }
}
