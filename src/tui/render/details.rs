//! The details pane: every holder in full, and the established connections.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::Theme;
use crate::model::{Owner, Process, Snapshot, Socket, endpoint};
use crate::report::{age, rfc3339, socket_user};
use crate::tui::state::App;

/// Rows the pane needs at this width (text wrapped, plus borders).
pub fn height(app: &App, theme: Theme, width: u16) -> u16 {
    let Some(paragraph) = paragraph(app, theme) else {
        return 0;
    };
    let rows = paragraph.line_count(width.saturating_sub(2));
    u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(2)
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let (Some(paragraph), Some(socket)) = (paragraph(app, theme), app.selected_socket()) else {
        return;
    };
    let title = format!(
        " {} {} · {} ",
        socket.proto.as_str(),
        socket.local_endpoint(),
        socket.state.as_str()
    );
    let block = Block::bordered()
        .title(title)
        .title_bottom(" Enter/Esc closes ");
    frame.render_widget(paragraph.block(block), area);
}

fn paragraph<'a>(app: &App, theme: Theme) -> Option<Paragraph<'a>> {
    let (Some(snapshot), Some(socket)) = (&app.snapshot, app.selected_socket()) else {
        return None;
    };
    let mut lines = facts(snapshot, socket, theme);
    holders(&mut lines, snapshot, socket, theme);
    connections(&mut lines, snapshot, socket, theme);
    Some(Paragraph::new(lines).wrap(Wrap { trim: false }))
}

fn field<'a>(name: &str, value: String, theme: Theme) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{name:<10}"), theme.dim()),
        Span::raw(value),
    ])
}

fn facts<'a>(snapshot: &Snapshot, socket: &Socket, theme: Theme) -> Vec<Line<'a>> {
    let mut range = socket.range().title().to_string();
    if let (true, Some(eph)) = (snapshot.in_ephemeral(socket.port), snapshot.ephemeral) {
        range.push_str(&format!(" · inside this OS's ephemeral range {eph}"));
    }
    let service = match (socket.service(), socket.hint()) {
        (Some(s), Some(h)) => format!("{s} ({h})"),
        (Some(s), None) => s.to_string(),
        (None, Some(h)) => h.to_string(),
        (None, None) => "-".to_string(),
    };
    vec![
        field("exposure", socket.exposure().label().to_string(), theme),
        field("range", range, theme),
        field("service", service, theme),
        field(
            "socket",
            format!(
                "inode {} · uid {} ({})",
                socket.inode,
                socket.uid,
                socket_user(snapshot, socket)
            ),
            theme,
        ),
    ]
}

fn holders<'a>(lines: &mut Vec<Line<'a>>, snapshot: &Snapshot, socket: &Socket, theme: Theme) {
    match &socket.owner {
        Owner::Known(_) => {
            for process in snapshot.holders(socket) {
                process_lines(lines, snapshot, process, theme);
            }
        }
        Owner::Hidden(reason) => lines.extend([
            Line::raw(""),
            Line::styled(
                format!("owner hidden: {}", reason.describe()),
                theme.hidden(),
            ),
        ]),
        Owner::None(reason) => lines.extend([
            Line::raw(""),
            Line::styled(format!("no holder: {}", reason.describe()), theme.dim()),
        ]),
    }
}

fn process_lines<'a>(
    lines: &mut Vec<Line<'a>>,
    snapshot: &Snapshot,
    process: &Process,
    theme: Theme,
) {
    let user = process
        .user
        .as_ref()
        .map_or_else(|| "?".to_string(), ToString::to_string);
    let started = process.start_time.map_or_else(String::new, |s| {
        format!(
            "  started {} ({} ago)",
            rfc3339(s),
            age(s, snapshot.taken_at)
        )
    });
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled(
            format!("pid {}  {}", process.pid, process.name),
            theme.title(),
        ),
        Span::raw(format!("  user {user}{started}")),
    ]));
    lines.push(field("command", process.command(), theme));
    if let Some(exe) = &process.exe {
        lines.push(field("exe", exe.to_string(), theme));
    }
    if let Some(cwd) = &process.cwd {
        lines.push(field("cwd", cwd.to_string(), theme));
    }
    if let Some(ppid) = process.ppid {
        let name = process
            .parent_name
            .as_ref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        lines.push(field("parent", format!("{ppid}{name}"), theme));
    }
}

fn connections<'a>(lines: &mut Vec<Line<'a>>, snapshot: &Snapshot, socket: &Socket, theme: Theme) {
    if !socket.is_listener() {
        if let Some((addr, port)) = socket.remote {
            lines.push(field("peer", endpoint(&addr, port), theme));
        }
        return;
    }
    let Some(conns) = snapshot.connections.get(&socket.port) else {
        lines.push(Line::raw(""));
        lines.push(Line::styled("no established connections", theme.dim()));
        return;
    };
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "{} established connection(s) to port {}",
            conns.count, socket.port
        ),
        theme.title(),
    ));
    for (addr, port) in &conns.peers {
        lines.push(Line::raw(format!("  from {}", endpoint(addr, *port))));
    }
    if conns.count > conns.peers.len() {
        lines.push(Line::styled(
            format!("  … and {} more", conns.count - conns.peers.len()),
            theme.dim(),
        ));
    }
}
