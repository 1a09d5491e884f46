//! The `?` overlay: every key, and what the three port ranges mean.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::Theme;
use crate::model::RangeGroup;
use crate::present::Role;
use crate::tui::keys::HELP;

pub fn draw(frame: &mut Frame, area: Rect, theme: Theme) {
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!("{keys:<16}"), theme.role(Role::Key)),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled("Port ranges (IANA)", theme.role(Role::Strong)));
    for group in RangeGroup::ALL {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<28}", group.title()), theme.role(Role::Group)),
            Span::raw(group.explain()),
        ]));
    }
    lines.push(Line::styled(
        "Ports in the OS ephemeral range may also be handed to outgoing connections.",
        theme.role(Role::Dim),
    ));
    let block = Block::bordered().title(" help · ? or Esc closes ");
    super::popup(frame, area, Paragraph::new(lines), block, 96);
}
