//! The `K` dialog: exactly what will be signalled, and the default answer is No.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::Theme;
use crate::stop::Plan;

pub fn draw(frame: &mut Frame, area: Rect, plan: &Plan, theme: Theme) {
    let mut lines = vec![Line::styled("Send SIGTERM to:", theme.title())];
    for target in &plan.targets {
        let user = target
            .user
            .as_ref()
            .map_or_else(|| "?".to_string(), ToString::to_string);
        let held: Vec<String> = target.sockets.iter().map(ToString::to_string).collect();
        lines.push(Line::from(vec![
            Span::styled(
                format!("  pid {}  {}", target.pid, target.name),
                theme.title(),
            ),
            Span::raw(format!("  user {user}  holds {}", held.join(", "))),
        ]));
        if let Some(exe) = &target.exe {
            lines.push(Line::styled(format!("    {exe}"), theme.dim()));
        }
    }
    for (pid, name, why) in &plan.refused {
        lines.push(Line::styled(
            format!("  pid {pid} ({name}) is left alone: {why}"),
            theme.warn(),
        ));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("y", theme.key()),
        Span::raw(" send   "),
        Span::styled("n  Enter  Esc", theme.key()),
        Span::raw(" cancel"),
    ]));
    let block = Block::bordered()
        .title(" stop the holders? ")
        .border_style(theme.warn());
    super::popup(frame, area, Paragraph::new(lines), block, 90);
}
