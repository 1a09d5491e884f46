//! The `?` overlay: every key, and what the three port ranges mean.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::Theme;
use crate::model::RangeGroup;
use crate::tui::keys::HELP;

pub fn draw(frame: &mut Frame, area: Rect, theme: Theme) {
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!("{keys:<16}"), theme.key()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled("Port ranges (IANA)", theme.title()));
    for group in RangeGroup::ALL {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<28}", group.title()), theme.group()),
            Span::raw(group.explain()),
        ]));
    }
    lines.push(Line::styled(
        "Ports in the OS ephemeral range may also be handed to outgoing connections.",
        theme.dim(),
    ));
    let width = area.width.min(96);
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = paragraph.line_count(width.saturating_sub(2)) + 2;
    let height = u16::try_from(rows).unwrap_or(u16::MAX).min(area.height);
    let [popup] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Max(96)])
        .flex(Flex::Center)
        .areas(popup);
    frame.render_widget(Clear, popup);
    let block = Block::bordered().title(" help · ? or Esc closes ");
    frame.render_widget(paragraph.block(block), popup);
}
