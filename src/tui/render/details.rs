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

/// Splits a line into lines of at most `width` columns, keeping each span's style: at a
/// space where there is one, else (a long command line, a path) anywhere. A field line's
/// continuations are indented under its value.
fn wrap(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    let cells: Vec<(char, usize, ratatui::style::Style)> = line
        .spans
        .iter()
        .flat_map(|span| {
            span.content
                .chars()
                .map(move |c| (c, c.width().unwrap_or(0), span.style))
        })
        .collect();
    let label = line.spans.len() > 1 && line.spans.first().is_some_and(|s| s.width() == LABEL);
    let indent = if label && width > LABEL * 2 { LABEL } else { 0 };
    let mut out = Vec::new();
    let mut current: Vec<(char, usize, ratatui::style::Style)> = Vec::new();
    let mut used = 0;
    for cell in cells {
        if used + cell.1 > width && used > indent {
            // Break after the last space past the label, if any, and carry the rest over;
            // when what is carried still does not leave room, break right here instead.
            let cut = current
                .iter()
                .rposition(|c| c.0 == ' ')
                .filter(|&i| i >= indent.max(1));
            let mut carried = match cut {
                Some(i) => {
                    let rest = current.split_off(i + 1);
                    current.pop();
                    rest
                }
                None => Vec::new(),
            };
            let carried_width: usize = carried.iter().map(|c| c.1).sum();
            if indent + carried_width + cell.1 > width {
                current.append(&mut carried);
            }
            out.push(spans_of(std::mem::take(&mut current)));
            current.extend((0..indent).map(|_| (' ', 1, ratatui::style::Style::new())));
            current.extend(carried);
            used = current.iter().map(|c| c.1).sum();
        }
        current.push(cell);
        used += cell.1;
    }
    out.push(spans_of(current));
    out
}

/// Cells back into spans, one per run of the same style.
fn spans_of(cells: Vec<(char, usize, ratatui::style::Style)>) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut style = None;
    for (c, _, s) in cells {
        if style.is_some_and(|current| current != s) {
            spans.push(Span::styled(
                std::mem::take(&mut text),
                style.unwrap_or_default(),
            ));
        }
        style = Some(s);
        text.push(c);
    }
    if !text.is_empty() {
        spans.push(Span::styled(text, style.unwrap_or_default()));
    }
    Line::from(spans)
}

/// The width of a field's name column.
const LABEL: usize = 10;

fn field(name: &str, value: String, theme: Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{name:<LABEL$}"), theme.role(Role::Dim)),
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
    // Where listeners are in the way, they are the answer; the connections they accepted
    // (which hold the port too) are only counted.
    let all = report.blockers();
    let is_listener = |b: &(&crate::bind::Blocker, &crate::bind::Existing)| {
        b.0.kind == crate::bind::BlockerKind::Listener
    };
    let shown: Vec<_> = match all.iter().any(is_listener) {
        true => all.iter().filter(|b| is_listener(b)).collect(),
        false => all.iter().collect(),
    };
    for (blocker, existing) in shown.iter().take(BLOCKERS_SHOWN) {
        let line = words::blocker_line(report, blocker, existing);
        lines.push(field("", line, theme));
    }
    let more = all.len() - shown.len().min(BLOCKERS_SHOWN);
    if more > 0 {
        let what = match shown.len() < all.len() {
            true => "other sockets on the port (connections, TIME_WAIT)",
            false => "more",
        };
        lines.push(field("", format!("… and {more} {what}"), theme));
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

    fn text(lines: &[Line<'static>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn field_lines_wrap_at_spaces_under_their_value() {
        let line = Line::from(vec![
            Span::raw(format!("{:<LABEL$}", "command")),
            Span::raw("nginx: master process nginx -c /etc/nginx/nginx.conf"),
        ]);
        assert_eq!(
            text(&wrap(line, 32)),
            [
                "command   nginx: master process",
                "          nginx -c",
                "          /etc/nginx/nginx.conf",
            ]
        );
    }

    #[test]
    fn a_word_longer_than_the_line_is_cut_anywhere() {
        let line = Line::from(vec![
            Span::raw(format!("{:<LABEL$}", "cwd")),
            Span::raw("/a/very/long/path/without/any/spaces"),
        ]);
        let lines = text(&wrap(line, 30));
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
        assert_eq!(
            lines.concat().replace(' ', ""),
            "cwd/a/very/long/path/without/any/spaces"
        );
    }
}
