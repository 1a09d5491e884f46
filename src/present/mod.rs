//! What users see, defined once for every front end: the words for a socket's facts (labels),
//! the columns (title, widths, how they give way), fitting text into cells, ages and
//! timestamps, and semantic style roles. The table (`report`) and the live view (`tui`) map the
//! roles to their own styles; neither defines a label or a column of its own.

pub mod bind;
mod columns;
mod netns;
mod stop;
mod time;

pub use columns::{Cell, Column};
pub use netns::{
    kind_name, netns_facts, netns_words, netns_words_of, publication_line, publication_stop,
};
pub use stop::{plan_notes, sent_line};
pub use time::{age, rfc3339, rfc3339_at, rfc3339_or_null};

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::model::{
    Exposure, Owner, OwnerMap, OwnerMapSource, Process, Snapshot, Socket, endpoint,
};

/// `--verbose`: how the holders were found, and why not with the in-kernel map.
pub fn owner_map_line(map: &OwnerMap) -> String {
    let how = match map.source {
        OwnerMapSource::Bpf => "the in-kernel map (a BPF task_file iterator)",
        OwnerMapSource::Proc => "the /proc walk (one readlink per open fd)",
        OwnerMapSource::System => "the OS's socket API",
    };
    match &map.bpf_unavailable {
        Some(why) => format!("holders found by {how}; {why}"),
        None => format!("holders found by {how}"),
    }
}

/// Semantic style roles: what a piece of text *is*; each front end decides how it looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Plain,
    /// Column titles.
    Header,
    /// Range group headings.
    Group,
    /// Secondary text: commands, hints, placeholders.
    Dim,
    /// What the line is about: a port, a process name.
    Strong,
    /// Reachable from the network.
    Exposed,
    /// Loopback only.
    Local,
    /// An owner that cannot be seen, or may be incomplete.
    Hidden,
    Warn,
    Free,
    Error,
    /// A row that appeared in the last refreshes.
    New,
    /// A row that went away.
    Gone,
    /// A key in help and hints.
    Key,
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

/// Cuts `text` to at most `width` terminal columns from the start, beginning with `…` when cut.
pub fn fit_end(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut kept = Vec::new();
    let mut used = 0;
    for c in text.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        kept.push(c);
        used += w;
    }
    let mut out = String::new();
    if width > 0 {
        out.push('…');
    }
    out.extend(kept.into_iter().rev());
    out
}

/// `text` padded with spaces to `width` columns (never cut).
pub fn pad(text: &str, width: usize) -> String {
    let fill = width.saturating_sub(text.width());
    format!("{text}{}", " ".repeat(fill))
}

/// Each value once, where it first appears.
pub fn unique_in_order<T: PartialEq>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut unique = Vec::new();
    for value in values {
        if !unique.contains(&value) {
            unique.push(value);
        }
    }
    unique
}

/// The pid column: the lead holder, `812 +2` for a socket shared by three processes, `812 +2?`
/// when more may be hidden, `?` when hidden, `-` when nobody holds it.
pub fn pids_label(snapshot: &Snapshot, socket: &Socket) -> String {
    let lead = snapshot
        .lead_holder(socket)
        .map(|p| p.pid)
        .or_else(|| socket.owner.pids().first().copied());
    let others = socket.owner.pids().len().saturating_sub(1);
    match (&socket.owner, lead) {
        (Owner::Known(_), Some(lead)) if others == 0 => lead.to_string(),
        (Owner::Known(_), Some(lead)) => format!("{lead} +{others}"),
        (Owner::Partial(..), Some(lead)) if others == 0 => format!("{lead} +?"),
        (Owner::Partial(..), Some(lead)) => format!("{lead} +{others}?"),
        (Owner::Hidden(_), _) => "?".to_string(),
        _ => "-".to_string(),
    }
}

/// The process column: the distinct names of the holders, lead first, or why there are none.
pub fn process_label(snapshot: &Snapshot, socket: &Socket) -> String {
    match &socket.owner {
        Owner::Known(_) | Owner::Partial(..) => {
            let holders = snapshot.holders_lead_first(socket);
            let names = unique_in_order(holders.iter().map(|p| p.name.as_str()));
            let mut label = match names.is_empty() {
                true => "(exited)".to_string(),
                false => names.join(","),
            };
            if matches!(socket.owner, Owner::Partial(..)) {
                label.push_str(" +?");
            }
            label
        }
        Owner::Hidden(_) => "(hidden)".to_string(),
        Owner::None(_) => "(none)".to_string(),
    }
}

/// The user column: the holders' users (lead first), else the socket's own uid as a name.
pub fn user_label(snapshot: &Snapshot, socket: &Socket) -> String {
    let holders = snapshot.holders_lead_first(socket);
    let users = unique_in_order(holders.iter().map(|p| process_user(p)));
    if users.is_empty() {
        return socket_user(snapshot, socket);
    }
    users.join(",")
}

/// A process's user name, else its uid, else `?`.
pub fn process_user(process: &Process) -> String {
    match (&process.user, process.uid) {
        (Some(name), _) => name.to_string(),
        (None, Some(uid)) => uid.to_string(),
        (None, None) => "?".to_string(),
    }
}

/// The socket's own uid with its name, e.g. `bob` or `1001`, `?` where the OS does not say.
pub fn socket_user(snapshot: &Snapshot, socket: &Socket) -> String {
    match (snapshot.user_name(socket.uid), socket.uid) {
        (Some(name), _) => name.to_string(),
        (None, Some(uid)) => uid.to_string(),
        (None, None) => "?".to_string(),
    }
}

/// `uid 1001 (alice)`, for hidden owners.
pub fn socket_uid_words(snapshot: &Snapshot, socket: &Socket) -> String {
    match socket.uid {
        Some(uid) => format!("socket uid {uid} {}", socket_user(snapshot, socket)),
        None => "socket uid unknown".to_string(),
    }
}

/// Exposure in words: long for tables with room, short for narrow columns.
pub fn exposure_label(exposure: Exposure, short: bool) -> &'static str {
    match (exposure, short) {
        (Exposure::Loopback, false) => "local only",
        (Exposure::All, false) => "all interfaces",
        (Exposure::Specific, false) => "one address",
        (Exposure::Loopback, true) => "local",
        (Exposure::All, true) => "all",
        (Exposure::Specific, true) => "addr",
    }
}

pub fn exposure_role(exposure: Exposure) -> Role {
    match exposure {
        Exposure::Loopback => Role::Local,
        Exposure::All => Role::Exposed,
        Exposure::Specific => Role::Plain,
    }
}

/// The owner's role: plain when known, hidden when it cannot (all) be seen, dim when none.
pub fn owner_role(owner: &Owner) -> Role {
    match owner {
        Owner::Known(_) => Role::Plain,
        Owner::Partial(..) | Owner::Hidden(_) => Role::Hidden,
        Owner::None(_) => Role::Dim,
    }
}

/// The network namespace a socket lives in, as the fleet outputs name it (the Prometheus
/// `netns` label, the key of `--watch` events): its short name (`host`, `t_a`, `web-1`,
/// `netns:[4026532178]`). A snapshot of only the current namespace calls it `host`.
pub fn netns_label(snapshot: &Snapshot, socket: &Socket) -> String {
    match snapshot.netns_of(socket) {
        Some(netns) => netns.name.to_string(),
        None if socket.netns == 0 => "host".to_string(),
        None => format!("netns:[{}]", socket.netns),
    }
}

/// `127.0.0.1:3000`, with `*` when the port is inside the OS's ephemeral range.
pub fn local_label(snapshot: &Snapshot, socket: &Socket) -> String {
    let mark = if snapshot.in_ephemeral(socket.port) {
        "*"
    } else {
        ""
    };
    format!("{}{mark}", socket.local_endpoint())
}

pub fn remote_label(socket: &Socket) -> Option<String> {
    socket.remote.map(|(addr, port)| endpoint(&addr, port))
}

/// The IANA service, else the development hint, with its role.
pub fn service_cell(socket: &Socket) -> (String, Role) {
    match (socket.service(), socket.hint()) {
        (Some(name), _) => (name.to_string(), Role::Plain),
        (None, Some(hint)) => (hint.to_string(), Role::Dim),
        (None, None) => ("-".to_string(), Role::Dim),
    }
}

/// `http (HTTP alt / proxy)` for the details pane.
pub fn service_words(socket: &Socket) -> String {
    match (socket.service(), socket.hint()) {
        (Some(s), Some(h)) => format!("{s} ({h})"),
        (Some(s), None) => s.to_string(),
        (None, Some(h)) => h.to_string(),
        (None, None) => "-".to_string(),
    }
}

/// The lead holder's command line without the program's directory.
pub fn command_label(snapshot: &Snapshot, socket: &Socket) -> String {
    snapshot
        .lead_holder(socket)
        .map(Process::short_command)
        .unwrap_or_default()
}

/// How long the lead holder has run.
pub fn uptime_label(snapshot: &Snapshot, socket: &Socket) -> String {
    snapshot
        .lead_holder(socket)
        .and_then(|p| p.start_time)
        .map_or_else(|| "-".into(), |s| age(s, snapshot.taken_at))
}

/// Established connections this listener accepted.
pub fn conns_label(snapshot: &Snapshot, socket: &Socket) -> String {
    let count = snapshot
        .connections
        .get(&socket.inode)
        .map_or(0, |c| c.count);
    if socket.is_listener() && count > 0 {
        count.to_string()
    } else {
        "-".into()
    }
}

/// `108,012`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `2.2s`, `1m 5s`: a short duration for headers.
pub fn short_duration(d: std::time::Duration) -> String {
    let tenths = d.as_millis() / 100;
    if tenths < 600 {
        return format!("{}.{}s", tenths / 10, tenths % 10).replace(".0s", "s");
    }
    humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string()
}

/// `1 process`, `3 processes`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_durations_read_naturally() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(108_012), "108,012");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let ms = std::time::Duration::from_millis;
        assert_eq!(short_duration(ms(2200)), "2.2s");
        assert_eq!(short_duration(ms(3000)), "3s");
        assert_eq!(short_duration(ms(65_000)), "1m 5s");
    }

    #[test]
    fn fit_end_keeps_the_end() {
        assert_eq!(fit_end("netns:[4026532178]", 10), "…26532178]");
        assert_eq!(fit_end("web-2", 10), "web-2");
        assert_eq!(fit_end("名前空間", 5), "…空間");
        assert_eq!(fit_end("long", 0), "");
    }

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
}
