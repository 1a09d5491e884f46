//! Non-interactive output: one file per format. Every writer takes `impl Write`, so tests can
//! capture exactly the bytes a user would see. Words, columns and roles come from `present`.

pub mod events;
pub mod json;
pub mod jsonl;
pub mod prometheus;
pub mod query;
pub mod stop;
pub mod table;

use anstyle::{AnsiColor, Color, Style};

use crate::present::Role;

/// Output formats of `--once`, a query and `--kill`: one arm and one file each. A query and
/// `--kill` answer as a table or JSON; `Jsonl` and `Prometheus` are listings only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    /// One socket per line (`jsonl.rs`).
    Jsonl,
    /// The Prometheus text exposition format (`prometheus.rs`).
    Prometheus,
}

/// Colours are a presentation choice made once at the edge; `Paint` applies it.
#[derive(Clone, Copy, Debug)]
pub struct Paint {
    pub enabled: bool,
}

impl Paint {
    pub fn paint(&self, role: Role, text: &str) -> String {
        let style = style(role);
        if !self.enabled || text.is_empty() || style == Style::new() {
            return text.to_string();
        }
        format!("{}{text}{}", style.render(), style.render_reset())
    }
}

const fn fg(color: AnsiColor) -> Style {
    Style::new().fg_color(Some(Color::Ansi(color)))
}

/// The calm palette of the terminal reports.
fn style(role: Role) -> Style {
    match role {
        Role::Plain => Style::new(),
        Role::Header => Style::new().bold().dimmed(),
        Role::Group => fg(AnsiColor::Cyan).bold(),
        Role::Dim | Role::Gone => Style::new().dimmed(),
        Role::Strong => Style::new().bold(),
        Role::Exposed | Role::Warn => fg(AnsiColor::Yellow),
        Role::Local | Role::Free | Role::New => fg(AnsiColor::Green),
        Role::Hidden => fg(AnsiColor::Magenta),
        Role::Error => fg(AnsiColor::Red).bold(),
        Role::Key => fg(AnsiColor::Cyan).bold(),
    }
}
