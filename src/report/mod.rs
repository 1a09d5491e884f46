//! Non-interactive output: one file per format. Every writer takes `impl Write`, so tests can
//! capture exactly the bytes a user would see.

pub mod json;
pub mod query;
pub mod stop;
pub mod table;

use std::time::{Duration, SystemTime};

use anstyle::{AnsiColor, Style};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::model::{Exposure, Owner, Snapshot, Socket};

/// Colours are a presentation choice made once at the edge; `Paint` applies it.
#[derive(Clone, Copy, Debug)]
pub struct Paint {
    pub enabled: bool,
}

impl Paint {
    pub fn paint(&self, style: Style, text: &str) -> String {
        if !self.enabled || text.is_empty() {
            return text.to_string();
        }
        format!("{}{text}{}", style.render(), style.render_reset())
    }
}

/// The calm palette shared by the table and the query output.
pub mod palette {
    use super::*;

    pub const HEADER: Style = Style::new().bold().dimmed();
    pub const GROUP: Style = Style::new()
        .bold()
        .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
    pub const DIM: Style = Style::new().dimmed();
    pub const PORT: Style = Style::new().bold();
    pub const EXPOSED: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
    pub const LOCAL: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
    pub const HIDDEN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Magenta)));
    pub const WARN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
    pub const FREE: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
}

pub fn exposure_style(exposure: Exposure) -> Style {
    match exposure {
        Exposure::Loopback => palette::LOCAL,
        Exposure::All => palette::EXPOSED,
        Exposure::Specific => Style::new(),
    }
}

/// Cuts `text` to at most `width` terminal columns, ending in `…` when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// `text` padded with spaces to `width` columns (never cut).
pub fn pad(text: &str, width: usize) -> String {
    let fill = width.saturating_sub(text.width());
    format!("{text}{}", " ".repeat(fill))
}

/// The pid column: `812`, `812 +2` for a socket shared by three processes, `?` when hidden.
pub fn pids_label(socket: &Socket) -> String {
    match &socket.owner {
        Owner::Known(pids) => match pids.as_slice() {
            [] => "-".to_string(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first} +{}", rest.len()),
        },
        Owner::Hidden(_) => "?".to_string(),
        Owner::None(_) => "-".to_string(),
    }
}

/// The process column: the distinct names of the holders, or why there are none.
pub fn process_label(snapshot: &Snapshot, socket: &Socket) -> String {
    match &socket.owner {
        Owner::Known(_) => {
            let names = unique_in_order(snapshot.holders(socket).map(|p| p.name.as_str()));
            if names.is_empty() {
                "(exited)".to_string()
            } else {
                names.join(",")
            }
        }
        Owner::Hidden(_) => "(hidden)".to_string(),
        Owner::None(_) => "(none)".to_string(),
    }
}

/// Each value once, where it first appears (holders are listed by pid).
fn unique_in_order<T: PartialEq>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut unique = Vec::new();
    for value in values {
        if !unique.contains(&value) {
            unique.push(value);
        }
    }
    unique
}

/// The user column: the holders' users, else the socket's uid as a name.
pub fn user_label(snapshot: &Snapshot, socket: &Socket) -> String {
    let users = unique_in_order(snapshot.holders(socket).map(|p| match (&p.user, p.uid) {
        (Some(name), _) => name.to_string(),
        (None, Some(uid)) => uid.to_string(),
        (None, None) => "?".to_string(),
    }));
    if users.is_empty() {
        return socket_user(snapshot, socket);
    }
    users.join(",")
}

/// The socket's own uid with its name, e.g. `bob` or `1001`.
pub fn socket_user(snapshot: &Snapshot, socket: &Socket) -> String {
    snapshot
        .user_name(socket.uid)
        .map_or_else(|| socket.uid.to_string(), ToString::to_string)
}

/// `2026-11-21T06:01:02Z`.
pub fn rfc3339(seconds: u64) -> String {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// `3m`, `2h 5m`, `4d 1h`: how long ago `start` was, from `now`.
pub fn age(start: u64, now: SystemTime) -> String {
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let secs = now.saturating_sub(start);
    let (d, h, m) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_by_display_width() {
        assert_eq!(fit("nginx", 10), "nginx");
        assert_eq!(fit("postgresql", 6), "postg…");
        assert_eq!(fit("日本語テキスト", 5), "日本…");
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(pad("日本", 5), "日本 ");
    }

    #[test]
    fn labels_name_each_value_once_in_holder_order() {
        let users = ["root", "www-data", "root", "www-data"];
        assert_eq!(unique_in_order(users.into_iter()), ["root", "www-data"]);
        assert!(unique_in_order(std::iter::empty::<&str>()).is_empty());
    }

    #[test]
    fn ages_read_naturally() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100_000);
        assert_eq!(age(100_000 - 42, now), "42s");
        assert_eq!(age(100_000 - 180, now), "3m");
        assert_eq!(age(100_000 - 7_500, now), "2h 5m");
        assert_eq!(age(0, now), "1d 3h");
        assert_eq!(age(200_000, now), "0s");
    }
}
