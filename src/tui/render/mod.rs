//! Drawing the live view: one file per screen region. Words, columns and roles come from
//! `present`; `Theme` maps the roles to terminal styles.

mod confirm;
mod details;
mod header;
mod help;
mod listeners;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::app::{App, Overlay};
use super::keys::HINTS;
use crate::present::Role;

/// Below this the layout cannot show a useful table; a placeholder says so.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 8;
/// Rows the listener list keeps when the details pane is open (title line + 5 rows).
const LIST_MIN: u16 = 6;

/// Colours, or only bold/dim/reverse when colour is off (NO_COLOR, --color never).
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    /// The style of a role.
    pub fn role(self, role: Role) -> Style {
        let bold = Modifier::BOLD;
        match role {
            Role::Plain => Style::new(),
            Role::Header | Role::Dim => Style::new().add_modifier(Modifier::DIM),
            Role::Group | Role::Key => self.fg(Color::Cyan).add_modifier(bold),
            Role::Strong => Style::new().add_modifier(bold),
            Role::Exposed | Role::Warn => self.fg(Color::Yellow),
            Role::Local | Role::Free => self.fg(Color::Green),
            Role::Hidden => self.fg(Color::Magenta),
            Role::Error => self.fg(Color::Red).add_modifier(bold),
            Role::New => self.fg(Color::Green).add_modifier(bold),
            Role::Gone => Style::new().add_modifier(Modifier::DIM | Modifier::CROSSED_OUT),
        }
    }

    /// A dark bar keeps coloured cells readable; without colour, reverse video.
    pub fn selected(self) -> Style {
        if self.color {
            Style::new()
                .bg(Color::Indexed(237))
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }
}

pub fn draw(frame: &mut Frame, app: &mut App, theme: Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        app.table_area = None;
        return too_small(frame, area, theme);
    }
    let header_height = header::height(app, area.width, area.height);
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(header_height),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw(frame, top, app, theme, area.height);
    if app.details && app.selected_socket().is_some() {
        // The pane takes what its text needs, leaving the list at least a few rows.
        let lines = details::lines(app, theme, body.width.saturating_sub(2));
        let needed = u16::try_from(lines.len())
            .unwrap_or(u16::MAX)
            .saturating_add(2);
        let list_rows = body
            .height
            .saturating_sub(needed)
            .max(LIST_MIN.min(body.height / 2));
        let [list, pane] =
            Layout::vertical([Constraint::Length(list_rows), Constraint::Min(3)]).areas(body);
        listeners::draw(frame, list, app, theme);
        details::draw(frame, pane, app, lines);
    } else {
        listeners::draw(frame, body, app, theme);
    }
    footer(frame, bottom, app, theme);
    match &app.overlay {
        Overlay::Help => help::draw(frame, area, app, theme),
        Overlay::ConfirmStop(plan) => confirm::draw(frame, area, plan, theme),
        _ => {}
    }
}

/// Draws `paragraph` in a centred, bordered popup sized to its wrapped text.
fn popup(frame: &mut Frame, area: Rect, paragraph: Paragraph, block: Block, max_width: u16) {
    let width = area.width.min(max_width);
    let paragraph = paragraph.wrap(Wrap { trim: false });
    let rows = paragraph.line_count(width.saturating_sub(2)) + 2;
    let height = u16::try_from(rows).unwrap_or(u16::MAX).min(area.height);
    let popup = centered(area, width, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(paragraph.block(block), popup);
}

/// A `width` × `height` rectangle in the middle of `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [middle] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [middle] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(middle);
    middle
}

fn too_small(frame: &mut Frame, area: Rect, theme: Theme) {
    let text = format!("portscope: terminal too small (need {MIN_WIDTH}×{MIN_HEIGHT}); q quits");
    let message = Paragraph::new(text)
        .style(theme.role(Role::Warn))
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true });
    frame.render_widget(message, area);
}

fn footer(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let line = if matches!(app.overlay, Overlay::Filter) {
        Line::from(vec![
            Span::styled("/", theme.role(Role::Key)),
            Span::raw(app.filter.clone()),
            Span::styled("▏", theme.role(Role::Key)),
            Span::styled("   Enter keeps · Esc clears", theme.role(Role::Dim)),
        ])
    } else if let Some(status) = &app.status {
        Line::from(Span::styled(status.clone(), theme.role(Role::Warn)))
    } else {
        // Most useful first; the rest only while they fit (all are in the ? overlay).
        let mut spans = Vec::new();
        let mut room = usize::from(area.width);
        for (key, what) in HINTS {
            let text = format!(" {what}  ");
            let width = key.chars().count() + text.chars().count();
            if width > room {
                break;
            }
            room -= width;
            spans.push(Span::styled(*key, theme.role(Role::Key)));
            spans.push(Span::raw(text));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}
