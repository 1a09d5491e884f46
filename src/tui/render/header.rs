//! The header: host, snapshot time, counts per range, ephemeral range, interval, what the view
//! is narrowed to, and the notes of the snapshot.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::Theme;
use crate::present::Role;
use crate::tui::app::App;

/// The notice wraps onto at most this many rows; on a screen shorter than `SHORT_SCREEN`
/// it takes one, cut with an ellipsis, and leaves the rest to the list (the details pane
/// says the same of each hidden owner).
const NOTICE_ROWS: usize = 3;
const SHORT_SCREEN: u16 = 16;

pub fn height(app: &App, width: u16, screen_height: u16) -> u16 {
    let short = screen_height < SHORT_SCREEN;
    let notice_rows = notice_paragraph(app, Theme { color: false }, width, short)
        .map_or(0, |p| p.line_count(width).min(NOTICE_ROWS));
    2 + u16::try_from(notice_rows).unwrap_or(0)
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme, screen_height: u16) {
    let [top, notice] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(area);
    let lines = vec![first_line(app, theme), second_line(app, theme)];
    frame.render_widget(Paragraph::new(lines), top);
    let short = screen_height < SHORT_SCREEN;
    if let Some(paragraph) = notice_paragraph(app, theme, area.width, short) {
        frame.render_widget(paragraph, notice);
    }
}

/// The notice, wrapped; with `one_row`, cut to `width` with an ellipsis instead.
fn notice_paragraph<'a>(
    app: &App,
    theme: Theme,
    width: u16,
    one_row: bool,
) -> Option<Paragraph<'a>> {
    let (mut text, role) = notice(app)?;
    if one_row {
        let width = usize::from(width.max(1));
        if text.chars().count() > width {
            text = text.chars().take(width - 1).collect::<String>() + "…";
        }
        return Some(Paragraph::new(Line::from(Span::styled(
            text,
            theme.role(role),
        ))));
    }
    Some(Paragraph::new(Line::from(Span::styled(text, theme.role(role)))).wrap(Wrap { trim: true }))
}

fn first_line(app: &App, theme: Theme) -> Line<'static> {
    let when = app.snapshot.as_ref().map_or_else(
        || "collecting…".to_string(),
        |s| {
            let stamp = crate::present::rfc3339_at(s.taken_at).unwrap_or_else(|| "?".into());
            format!("{} UTC", stamp.get(11..19).unwrap_or(&stamp))
        },
    );
    let host = app
        .snapshot
        .as_ref()
        .map_or_else(String::new, |s| format!("{} · ", s.host));
    let interval = humantime::format_duration(app.interval).to_string();
    let mut spans = vec![
        Span::styled("portscope", theme.role(Role::Strong)),
        Span::raw(format!("  {host}{when} · every {interval}")),
    ];
    if let Some(pace) = app.pace {
        let sockets = app.snapshot.as_ref().map_or(0, |s| s.sockets.len());
        spans.push(Span::styled(
            format!(
                " (slowed to {} for {} sockets)",
                crate::present::short_duration(pace),
                crate::present::thousands(sockets)
            ),
            theme.role(Role::Warn),
        ));
    }
    spans.push(Span::styled(
        format!(" · sort {}", app.sort.label()),
        theme.role(Role::Dim),
    ));
    if app.paused {
        spans.push(Span::styled(" · PAUSED", theme.role(Role::Warn)));
    }
    if !app.filter.is_empty() {
        spans.push(Span::styled(
            format!(" · filter \"{}\"", app.filter),
            theme.role(Role::Warn),
        ));
    }
    Line::from(spans)
}

fn second_line(app: &App, theme: Theme) -> Line<'static> {
    let [well_known, registered, dynamic] = app.group_counts();
    let noun = if app.selection.all_states {
        "sockets"
    } else {
        "listeners"
    };
    let mut spans = vec![Span::raw(format!(
        "{noun}: {well_known} well-known · {registered} registered · {dynamic} dynamic"
    ))];
    if let Some(range) = app.snapshot.as_ref().and_then(|s| s.ephemeral) {
        spans.push(Span::styled(
            format!(" · OS ephemeral {range}"),
            theme.role(Role::Dim),
        ));
    }
    if let Some(only) = app.selection.narrowed_label() {
        spans.push(Span::styled(
            format!(" · only {only}"),
            theme.role(Role::Warn),
        ));
    }
    match app.netns_label() {
        Some(label) => spans.push(Span::styled(
            format!(" · only {label}"),
            theme.role(Role::Warn),
        )),
        None => {
            let namespaces = app.snapshot.as_ref().map_or(0, |s| s.namespaces.len());
            if namespaces > 1 {
                spans.push(Span::styled(
                    format!(" · {namespaces} netns"),
                    theme.role(Role::Dim),
                ));
            }
        }
    }
    Line::from(spans)
}

/// The error of the last collection, or the snapshot's notes (computed once per snapshot).
fn notice(app: &App) -> Option<(String, Role)> {
    if let Some(error) = &app.error {
        return Some((error.clone(), Role::Error));
    }
    let notes = app.notes();
    (!notes.is_empty()).then(|| (notes.join("; "), Role::Warn))
}
