//! The header: host, snapshot time, counts per range, ephemeral range, interval, state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::Theme;
use crate::tui::state::App;

/// The notice wraps onto at most this many rows.
const NOTICE_ROWS: usize = 3;

pub fn height(app: &App, width: u16) -> u16 {
    let notice_rows = notice_paragraph(app, Theme { color: false })
        .map_or(0, |p| p.line_count(width).min(NOTICE_ROWS));
    2 + u16::try_from(notice_rows).unwrap_or(0)
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let [top, notice] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(area);
    let lines = vec![first_line(app, theme), second_line(app, theme)];
    frame.render_widget(Paragraph::new(lines), top);
    if let Some(paragraph) = notice_paragraph(app, theme) {
        frame.render_widget(paragraph, notice);
    }
}

fn notice_paragraph<'a>(app: &App, theme: Theme) -> Option<Paragraph<'a>> {
    let (text, is_error) = notice(app)?;
    let style = if is_error {
        theme.error()
    } else {
        theme.warn()
    };
    Some(Paragraph::new(Line::from(Span::styled(text, style))).wrap(Wrap { trim: true }))
}

fn first_line(app: &App, theme: Theme) -> Line<'static> {
    let when = app.snapshot.as_ref().map_or_else(
        || "collecting…".to_string(),
        |s| {
            let stamp = humantime::format_rfc3339_seconds(s.taken_at).to_string();
            format!("{} UTC", stamp.get(11..19).unwrap_or(&stamp))
        },
    );
    let interval = humantime::format_duration(app.interval).to_string();
    let mut spans = vec![
        Span::styled("portscope", theme.title()),
        Span::raw(format!("  {} · {when} · every {interval}", app.host)),
        Span::styled(format!(" · sort {}", app.sort.label()), theme.dim()),
    ];
    if app.paused {
        spans.push(Span::styled(" · PAUSED", theme.warn()));
    }
    if !app.filter.is_empty() {
        spans.push(Span::styled(
            format!(" · filter \"{}\"", app.filter),
            theme.warn(),
        ));
    }
    Line::from(spans)
}

fn second_line(app: &App, theme: Theme) -> Line<'static> {
    let [well_known, registered, dynamic] = app.group_counts();
    let noun = if app.view.all { "sockets" } else { "listeners" };
    let mut spans = vec![Span::raw(format!(
        "{noun}: {well_known} well-known · {registered} registered · {dynamic} dynamic"
    ))];
    if let Some(range) = app.snapshot.as_ref().and_then(|s| s.ephemeral) {
        spans.push(Span::styled(
            format!(" · OS ephemeral {range}"),
            theme.dim(),
        ));
    }
    let narrowed = !(app.view.tcp && app.view.udp && app.view.ipv4 && app.view.ipv6);
    let shown: Vec<&str> = [
        (app.view.tcp, "tcp"),
        (app.view.udp, "udp"),
        (app.view.ipv4, "v4"),
        (app.view.ipv6, "v6"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect();
    if narrowed {
        spans.push(Span::styled(
            format!(" · only {}", shown.join(" ")),
            theme.warn(),
        ));
    }
    Line::from(spans)
}

/// The error of the last collection, or the hidden-owner summary.
fn notice(app: &App) -> Option<(String, bool)> {
    if let Some(error) = &app.error {
        return Some((error.clone(), true));
    }
    let summary = app.snapshot.as_ref()?.owner_summary();
    (!summary.is_empty()).then(|| (summary.join("; "), false))
}
