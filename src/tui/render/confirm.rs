//! The `K` dialog: exactly what will be signalled, what else it reaches, what stays open; the
//! default answer is No.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::Theme;
use crate::present::{Role, plan_notes};
use crate::stop::Plan;

pub fn draw(frame: &mut Frame, area: Rect, plan: &Plan, theme: Theme) {
    let mut lines = vec![Line::styled("Send SIGTERM to:", theme.role(Role::Strong))];
    for target in &plan.targets {
        let user = target
            .user
            .as_ref()
            .map_or_else(|| "?".to_string(), ToString::to_string);
        let held: Vec<String> = target.sockets.iter().map(ToString::to_string).collect();
        lines.push(Line::from(vec![
            Span::styled(
                format!("  pid {}  {}", target.pid, target.name),
                theme.role(Role::Strong),
            ),
            Span::raw(format!("  user {user}  holds {}", held.join(", "))),
        ]));
        if let Some(exe) = &target.exe {
            lines.push(Line::styled(format!("    {exe}"), theme.role(Role::Dim)));
        }
        if !target.also.is_empty() {
            let also: Vec<String> = target.also.iter().map(ToString::to_string).collect();
            lines.push(Line::styled(
                format!(
                    "    also holds {} (the signal reaches these too)",
                    also.join(", ")
                ),
                theme.role(Role::Warn),
            ));
        }
    }
    for (line, role) in plan_notes(plan) {
        lines.push(Line::styled(line, theme.role(role)));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("y", theme.role(Role::Key)),
        Span::raw(" send   "),
        Span::styled("n  Enter  Esc", theme.role(Role::Key)),
        Span::raw(" cancel"),
    ]));
    let block = Block::bordered()
        .title(" stop the holders? ")
        .border_style(theme.role(Role::Warn));
    super::popup(frame, area, Paragraph::new(lines), block, 90);
}
