//! The details pane: every holder in full, and the established connections. Its text is built
//! and wrapped once per snapshot and selection (a command line can be 4 KiB), not every frame.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthChar;

use super::Theme;
use crate::model::{Owner, Process, Snapshot, Socket, endpoint};
use crate::present::{
    Role, age, exposure_label, process_user, rfc3339, service_words, socket_user,
};
use crate::tui::app::App;

/// At most this many holders are listed in full; the rest are counted.
const HOLDERS_SHOWN: usize = 50;
/// At most this many things in the way of a bind are listed.
const BLOCKERS_SHOWN: usize = 8;
/// The pane never holds more lines than this, however long the text.
const MAX_LINES: usize = 2000;

/// The pane's lines, wrapped to `width`; cached in the app until the snapshot or selection
/// changes.
pub fn lines(app: &mut App, theme: Theme, width: u16) -> Vec<Line<'static>> {
    let (Some(key), generation) = (app.selected_socket_key(), app.generation) else {
        return Vec::new();
    };
    let cache_key = (generation, key, width, theme.color);
    if let Some((cached, lines)) = &app.details_cache
        && *cached == cache_key
    {
        return lines.clone();
    }
    let lines = build(app, theme, usize::from(width.max(1)));
    app.details_cache = Some((cache_key, lines.clone()));
    lines
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, lines: Vec<Line<'static>>) {
    let Some(socket) = app.selected_socket() else {
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
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn build(app: &App, theme: Theme, width: usize) -> Vec<Line<'static>> {
    let (Some(snapshot), Some(socket)) = (&app.snapshot, app.selected_socket()) else {
        return Vec::new();
    };
    let mut lines = facts(snapshot, socket, theme);
    holders(&mut lines, snapshot, socket, theme);
    bind(&mut lines, app, socket, theme);
    connections(&mut lines, snapshot, socket, theme);
    let mut wrapped = Vec::new();
    for line in lines {
        wrapped.extend(wrap(line, width));
        if wrapped.len() >= MAX_LINES {
            wrapped.truncate(MAX_LINES);
            break;
        }
    }
    wrapped
}

/// Splits a line into lines of at most `width` columns, keeping each span's style.
fn wrap(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut current: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in line.spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width && used > 0 {
                if !piece.is_empty() {
                    current.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                out.push(Line::from(std::mem::take(&mut current)));
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            current.push(Span::styled(piece, span.style));
        }
    }
    out.push(Line::from(current));
    out
}

fn field(name: &str, value: String, theme: Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{name:<10}"), theme.role(Role::Dim)),
        Span::raw(value),
    ])
}

fn facts(snapshot: &Snapshot, socket: &Socket, theme: Theme) -> Vec<Line<'static>> {
    let mut range = socket.range().title().to_string();
    if let (true, Some(eph)) = (snapshot.in_ephemeral(socket.port), snapshot.ephemeral) {
        range.push_str(&format!(" · inside this OS's ephemeral range {eph}"));
    }
    let mut exposure = exposure_label(socket.exposure(), false).to_string();
    if socket.v6only == Some(false) && socket.local_addr.is_unspecified() {
        exposure.push_str(" (IPv6 and IPv4)");
    }
    let mut lines = Vec::new();
    if let Some(netns) = snapshot
        .netns_of(socket)
        .filter(|_| snapshot.namespaces.len() > 1)
    {
        lines.push(field(
            "netns",
            format!(
                "{} ({})",
                crate::present::netns_words(netns),
                crate::present::netns_facts(netns)
            ),
            theme,
        ));
    }
    if let Some(publication) = snapshot.publication(socket) {
        let (words, role) = crate::present::publication_line(snapshot, publication);
        lines.push(Line::from(vec![
            Span::styled(format!("{:<10}", "published"), theme.role(Role::Dim)),
            Span::styled(words, theme.role(role)),
        ]));
        if let Some(stop) = crate::present::publication_stop(publication) {
            lines.push(field("", stop, theme));
        }
    }
    lines.extend([
        field("exposure", exposure, theme),
        field("range", range, theme),
        field("service", service_words(socket), theme),
        field(
            "socket",
            match socket.uid {
                Some(uid) => format!(
                    "inode {} · uid {uid} ({})",
                    socket.inode,
                    socket_user(snapshot, socket)
                ),
                None => format!("inode {} · uid unknown", socket.inode),
            },
            theme,
        ),
    ]);
    lines
}

/// What a new bind of this port would meet here: the same verdict and blockers as
/// `portscope PORT`, checked when the pane opens and when the sockets change.
fn bind(lines: &mut Vec<Line<'static>>, app: &App, socket: &Socket, theme: Theme) {
    use crate::present::bind as words;
    let key = (socket.netns, socket.proto, socket.port);
    lines.push(Line::raw(""));
    let report = match &app.bind {
        Some((asked, Some(report))) if *asked == key => report,
        Some((asked, None)) if *asked == key => {
            lines.push(field("bind", "could not be checked".to_string(), theme));
            return;
        }
        _ => {
            lines.push(field(
                "bind",
                "checking what a new bind would meet…".to_string(),
                theme,
            ));
            return;
        }
    };
    let (line, role) = words::outcome_line(report);
    lines.push(Line::from(vec![
        Span::styled(format!("{:<10}", "bind"), theme.role(Role::Dim)),
        Span::styled(line, theme.role(role)),
    ]));
    let blockers = report.blockers();
    for (blocker, existing) in blockers.iter().take(BLOCKERS_SHOWN) {
        lines.push(field(
            "",
            words::blocker_line(report, blocker, existing),
            theme,
        ));
    }
    if blockers.len() > BLOCKERS_SHOWN {
        let more = format!("… and {} more", blockers.len() - BLOCKERS_SHOWN);
        lines.push(field("", more, theme));
    }
    if let Some(line) = words::disagreement(report) {
        lines.push(Line::styled(
            format!("{:10}{line}", ""),
            theme.role(Role::Warn),
        ));
    }
}

fn holders(lines: &mut Vec<Line<'static>>, snapshot: &Snapshot, socket: &Socket, theme: Theme) {
    let holders = snapshot.holders_lead_first(socket);
    for process in holders.iter().take(HOLDERS_SHOWN) {
        process_lines(lines, snapshot, process, theme);
    }
    if holders.len() > HOLDERS_SHOWN {
        lines.push(Line::styled(
            format!("… and {} more holders", holders.len() - HOLDERS_SHOWN),
            theme.role(Role::Dim),
        ));
    }
    let note = match &socket.owner {
        Owner::Known(_) => return,
        Owner::Partial(_, reason) => (
            format!("more holders may be hidden: {}", reason.describe()),
            Role::Hidden,
        ),
        Owner::Hidden(reason) => (format!("owner hidden: {}", reason.describe()), Role::Hidden),
        Owner::None(reason) => (format!("no holder: {}", reason.describe()), Role::Dim),
    };
    lines.push(Line::raw(""));
    lines.push(Line::styled(note.0, theme.role(note.1)));
}

fn process_lines(
    lines: &mut Vec<Line<'static>>,
    snapshot: &Snapshot,
    process: &Process,
    theme: Theme,
) {
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
            theme.role(Role::Strong),
        ),
        Span::raw(format!("  user {}{started}", process_user(process))),
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
    if let Some(container) = &process.container {
        lines.push(field("container", container.to_string(), theme));
    }
    if let Some(unit) = &process.unit {
        lines.push(field("unit", unit.to_string(), theme));
    }
}

fn connections(lines: &mut Vec<Line<'static>>, snapshot: &Snapshot, socket: &Socket, theme: Theme) {
    if !socket.is_listener() {
        if let Some((addr, port)) = socket.remote {
            lines.push(field("peer", endpoint(&addr, port), theme));
        }
        return;
    }
    if socket.proto == crate::model::Proto::Udp {
        return;
    }
    let Some(conns) = snapshot.connections.get(&socket.inode) else {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "no established connections",
            theme.role(Role::Dim),
        ));
        return;
    };
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!("{} established connection(s) accepted here", conns.count),
        theme.role(Role::Strong),
    ));
    for (addr, port) in &conns.peers {
        lines.push(Line::raw(format!("  from {}", endpoint(addr, *port))));
    }
    if conns.count > conns.peers.len() {
        lines.push(Line::styled(
            format!("  … and {} more", conns.count - conns.peers.len()),
            theme.role(Role::Dim),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_character_and_respects_the_width() {
        let line = Line::from(vec![Span::raw("abcdef"), Span::raw("ghij")]);
        let wrapped = wrap(line, 4);
        let texts: Vec<String> = wrapped.iter().map(|l| l.to_string()).collect();
        assert_eq!(texts, ["abcd", "efgh", "ij"]);
        assert_eq!(wrap(Line::raw(""), 4).len(), 1);
    }
}
