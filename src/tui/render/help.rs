//! The `?` overlay: every key, and what the three port ranges mean. Each entry's text wraps
//! under its own column, and where the screen is shorter than the help (80×24) the moving keys
//! scroll it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::Theme;
use crate::model::RangeGroup;
use crate::present::Role;
use crate::tui::app::App;
use crate::tui::keys::HELP;

/// The widest the help gets.
const MAX_WIDTH: u16 = 96;
const KEY_COLUMN: usize = 16;
const RANGE_COLUMN: usize = 28;

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, theme: Theme) {
    let width = area.width.min(MAX_WIDTH);
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let mut lines: Vec<Line> = Vec::new();
    for (keys, what) in HELP {
        hanging(
            &mut lines,
            keys,
            KEY_COLUMN,
            what,
            inner,
            theme.role(Role::Key),
        );
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Port ranges (IANA)", theme.role(Role::Strong)));
    for group in RangeGroup::ALL {
        hanging(
            &mut lines,
            group.title(),
            RANGE_COLUMN,
            group.explain(),
            inner,
            theme.role(Role::Group),
        );
    }
    for part in wrap(
        "Ports in the OS ephemeral range may also be handed to outgoing connections.",
        inner,
    ) {
        lines.push(Line::styled(part, theme.role(Role::Dim)));
    }
    let total = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    let height = total.saturating_add(2).min(area.height);
    let shown = height.saturating_sub(2);
    app.help_rows = shown;
    app.help_max_scroll = total.saturating_sub(shown);
    app.help_scroll = app.help_scroll.min(app.help_max_scroll);
    let title = match (app.help_scroll, app.help_max_scroll) {
        (_, 0) => " help · ? or Esc closes ".to_string(),
        (0, _) => " help · ↓ more · ? or Esc closes ".to_string(),
        (at, max) if at == max => " help · ↑ more · ? or Esc closes ".to_string(),
        _ => " help · ↑↓ more · ? or Esc closes ".to_string(),
    };
    let popup = super::centered(area, width, height);
    frame.render_widget(Clear, popup);
    let paragraph = Paragraph::new(lines)
        .scroll((app.help_scroll, 0))
        .block(Block::bordered().title(title));
    frame.render_widget(paragraph, popup);
}

/// `label` padded to `column`, then `text` wrapped to the rest of the width, each further line
/// starting under the text, not at the edge. Too narrow for both: the text under the label.
fn hanging(
    lines: &mut Vec<Line>,
    label: &str,
    column: usize,
    text: &str,
    width: usize,
    style: Style,
) {
    let label_width = label.chars().count();
    let column = column.max(label_width + 1);
    if width < column + 12 {
        lines.push(Line::styled(label.to_string(), style));
        lines.extend(
            wrap(text, width.saturating_sub(2))
                .into_iter()
                .map(|part| Line::raw(format!("  {part}"))),
        );
        return;
    }
    for (i, part) in wrap(text, width - column).into_iter().enumerate() {
        let head = match i {
            0 => Span::styled(format!("{label:<column$}"), style),
            _ => Span::raw(" ".repeat(column)),
        };
        lines.push(Line::from(vec![head, Span::raw(part)]));
    }
}

/// Greedy word wrap to `width` characters; a word longer than the width is cut.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut parts = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: String = word.to_string();
        loop {
            let have = line.chars().count();
            let need = word.chars().count() + usize::from(have > 0);
            if have + need <= width {
                if have > 0 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if have > 0 {
                parts.push(std::mem::take(&mut line));
                continue;
            }
            // A word wider than the whole line.
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            parts.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || parts.is_empty() {
        parts.push(line);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn words_wrap_and_long_ones_are_cut() {
        assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap("", 5), [""]);
        assert_eq!(wrap("one", 10), ["one"]);
    }
}
