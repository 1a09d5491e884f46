//! `--format prometheus`: the listeners in the Prometheus text exposition format (0.0.4), as
//! node_exporter's textfile collector reads it.
//!
//! A small writer rather than a client crate: this formats one snapshot once, so a registry of
//! long-lived atomics buys nothing, and the official `prometheus-client` writes only
//! OpenMetrics, which the textfile collector's classic parser rejects. What the classic parser
//! demands, this file guarantees by construction and the tests check with the real `promtool`
//! and node_exporter:
//!
//! - each family once, with one `# HELP` and one `# TYPE`, before its samples;
//! - gauges only, and no sample timestamps (a textfile with one is dropped whole);
//! - one fixed label set per family, no pid or command-line labels (they churn);
//! - label values with `\`, `"` and line feed escaped, on top of the sanitizer: a hostile
//!   process name arrives here as `evil\e[31m…`, and that backslash must be doubled.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use crate::model::{Exposure, Family, Owner, Proto, RangeGroup, Selection, Snapshot, Socket};
use crate::present::netns_label;

/// What the exposition covers, beyond the snapshot itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// List the listeners inside the OS ephemeral range too (`--prometheus-all`); by default
    /// they are only counted, since clients' UDP sockets there come and go.
    pub all: bool,
    /// The tables that were asked for (the counts cover exactly these).
    pub selection: Selection,
    /// How long reading the tables and owners took.
    pub collect_duration: Duration,
}

/// The labels of `portscope_listener_sockets`, in the order they are written.
const LISTENER_LABELS: [&str; 9] = [
    "proto", "family", "addr", "port", "exposure", "process", "user", "owner", "netns",
];

const EXPOSURES: [Exposure; 3] = [Exposure::Loopback, Exposure::All, Exposure::Specific];
const FAMILIES: [Family; 2] = [Family::Ipv4, Family::Ipv6];
const PROTOS: [Proto; 2] = [Proto::Tcp, Proto::Udp];

/// One sample: its label pairs and its value, already formatted.
type Sample = (Vec<(&'static str, String)>, String);

pub fn write_prometheus(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    options: &Options,
) -> io::Result<()> {
    let listeners: Vec<&Socket> = snapshot
        .sockets
        .iter()
        .filter(|s| s.is_listener())
        .collect();
    let (rows, omitted) = listener_rows(snapshot, &listeners, options.all);
    family(
        out,
        "portscope_listener_sockets",
        "Listening sockets (TCP LISTEN, UDP bound and unconnected) by protocol, bind address, port and holder; ports inside the OS ephemeral range are left out unless --prometheus-all.",
        rows,
    )?;
    family(
        out,
        "portscope_listeners",
        "Listening sockets by protocol, IANA port range and exposure, ephemeral ports included.",
        by_range(&listeners, options.selection),
    )?;
    let hidden = listeners
        .iter()
        .filter(|s| matches!(s.owner, Owner::Hidden(_)))
        .count();
    family(
        out,
        "portscope_hidden_owner_sockets",
        "Listening sockets whose holder could not be seen (run as root to see every holder).",
        [plain(hidden.to_string())],
    )?;
    family(
        out,
        "portscope_series_omitted",
        "Series of portscope_listener_sockets left out because their port is inside the OS ephemeral range (see --prometheus-all).",
        [plain(omitted.to_string())],
    )?;
    family(
        out,
        "portscope_table_unreadable",
        "1 if this socket table could not be read (its listeners are missing above), else 0.",
        unreadable(snapshot, options.selection),
    )?;
    family(
        out,
        "portscope_collect_duration_seconds",
        "Time taken to read the socket tables and their holders.",
        [plain(options.collect_duration.as_secs_f64().to_string())],
    )?;
    family(
        out,
        "portscope_build_info",
        "The portscope version that wrote these metrics (value is always 1).",
        [(
            vec![("version", env!("CARGO_PKG_VERSION").to_string())],
            "1".to_string(),
        )],
    )
}

/// One sample without labels.
fn plain(value: String) -> Sample {
    (Vec::new(), value)
}

/// The per-listener series (sockets with identical labels, such as an SO_REUSEPORT group,
/// counted in one), port first; and how many series the ephemeral rule left out.
fn listener_rows(snapshot: &Snapshot, listeners: &[&Socket], all: bool) -> (Vec<Sample>, usize) {
    let mut kept: BTreeMap<(u16, [String; 9]), usize> = BTreeMap::new();
    let mut omitted: BTreeMap<(u16, [String; 9]), usize> = BTreeMap::new();
    for socket in listeners {
        let rows = match all || !snapshot.in_ephemeral(socket.port) {
            true => &mut kept,
            false => &mut omitted,
        };
        let key = (socket.port, listener_labels(snapshot, socket));
        *rows.entry(key).or_default() += 1;
    }
    let samples = kept
        .into_iter()
        .map(|((_, values), count)| {
            let labels = LISTENER_LABELS.into_iter().zip(values).collect();
            (labels, count.to_string())
        })
        .collect();
    (samples, omitted.len())
}

/// The values of [`LISTENER_LABELS`] for one socket. `process` is the lead holder (a prefork
/// master, not its workers) and `user` the socket's own uid: both stable across restarts.
fn listener_labels(snapshot: &Snapshot, socket: &Socket) -> [String; 9] {
    let process = snapshot
        .lead_holder(socket)
        .map(|p| p.name.to_string())
        .unwrap_or_default();
    let user = match (snapshot.user_name(socket.uid), socket.uid) {
        (Some(name), _) => name.to_string(),
        (None, Some(uid)) => uid.to_string(),
        (None, None) => String::new(),
    };
    [
        socket.proto.as_str().to_string(),
        socket.family.as_str().to_string(),
        socket.local_addr.to_string(),
        socket.port.to_string(),
        socket.exposure().as_str().to_string(),
        process,
        user,
        socket.owner.kind().to_string(),
        netns_label(snapshot, socket),
    ]
}

/// Every protocol asked for × range × exposure, zeros included, so a series never vanishes
/// just because its count fell to nothing.
fn by_range(listeners: &[&Socket], selection: Selection) -> Vec<Sample> {
    let mut samples = Vec::new();
    for proto in PROTOS.into_iter().filter(|p| selection.has_proto(*p)) {
        for range in RangeGroup::ALL {
            for exposure in EXPOSURES {
                let count = listeners
                    .iter()
                    .filter(|s| s.proto == proto && s.range() == range && s.exposure() == exposure)
                    .count();
                let labels = vec![
                    ("proto", proto.as_str().to_string()),
                    ("range", range.as_str().to_string()),
                    ("exposure", exposure.as_str().to_string()),
                ];
                samples.push((labels, count.to_string()));
            }
        }
    }
    samples
}

/// 0 or 1 for each table asked for.
fn unreadable(snapshot: &Snapshot, selection: Selection) -> Vec<Sample> {
    let mut samples = Vec::new();
    for proto in PROTOS.into_iter().filter(|p| selection.has_proto(*p)) {
        for family in FAMILIES.into_iter().filter(|f| selection.has_family(*f)) {
            let failed = snapshot.table_failed(proto, family).is_some();
            let labels = vec![
                ("proto", proto.as_str().to_string()),
                ("family", family.as_str().to_string()),
            ];
            samples.push((labels, u8::from(failed).to_string()));
        }
    }
    samples
}

/// One gauge family: HELP, TYPE, then its samples.
fn family(
    out: &mut dyn Write,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = Sample>,
) -> io::Result<()> {
    writeln!(out, "# HELP {name} {}", escape_help(help))?;
    writeln!(out, "# TYPE {name} gauge")?;
    for (labels, value) in samples {
        writeln!(out, "{name}{} {value}", label_set(&labels))?;
    }
    Ok(())
}

/// `{proto="tcp",port="80"}`, or nothing for no labels.
fn label_set(labels: &[(&str, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", escape_label_value(value)))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

/// The three escapes the text format allows in a label value: `\\`, `\"` and `\n`.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// HELP text allows `\\` and `\n` only.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_name(name: &str, colon: bool) -> bool {
        let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
        let mut chars = name.chars();
        chars.next().is_some_and(ok_first)
            && chars.all(|c| ok_first(c) || c.is_ascii_digit())
            && !name.starts_with("__")
    }

    #[test]
    fn label_values_escape_exactly_backslash_quote_and_newline() {
        assert_eq!(escape_label_value("nginx"), "nginx");
        assert_eq!(escape_label_value(r"evil\e[31m"), r"evil\\e[31m");
        assert_eq!(escape_label_value("a\"b"), "a\\\"b");
        assert_eq!(escape_label_value("a\nb"), "a\\nb");
        assert_eq!(escape_label_value(r"\n"), r"\\n");
        assert_eq!(escape_label_value("日本\t"), "日本\t");
        assert_eq!(escape_help("a\\b\nc\"d"), "a\\\\b\\nc\"d");
    }

    #[test]
    fn label_sets_render_in_order() {
        assert_eq!(label_set(&[]), "");
        let labels = [
            ("proto", "tcp".to_string()),
            ("process", "a\"b".to_string()),
        ];
        assert_eq!(label_set(&labels), r#"{proto="tcp",process="a\"b"}"#);
    }

    fn one_listener(name: &str) -> Snapshot {
        let local_addr = "0.0.0.0".parse().expect("address");
        let socket = Socket {
            proto: Proto::Tcp,
            family: Family::Ipv4,
            local_addr,
            port: 8080,
            remote: None,
            state: crate::model::SockState::Listen,
            inode: 7,
            uid: Some(0),
            v6only: None,
            owner: Owner::Known(vec![42]),
            netns: 0,
        };
        let process = crate::model::Process {
            pid: 42,
            name: crate::model::SafeText::new(name),
            ..crate::model::Process::default()
        };
        Snapshot {
            taken_at: std::time::SystemTime::UNIX_EPOCH,
            host: crate::model::SafeText::new("h"),
            sockets: vec![socket],
            processes: BTreeMap::from([(42, process)]),
            users: BTreeMap::new(),
            connections: BTreeMap::new(),
            fds: BTreeMap::new(),
            ephemeral: None,
            visibility: crate::model::Visibility::default(),
            table_errors: Vec::new(),
            namespaces: BTreeMap::new(),
            published: Vec::new(),
            related: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Every metric and label name written is valid, and every family is described once.
    #[test]
    fn every_name_written_is_valid_and_described_once() {
        for bad in ["", "1a", "a-b", "__x", "a b"] {
            assert!(!is_name(bad, true), "{bad}");
        }
        let options = Options {
            all: true,
            selection: Selection::LISTENERS,
            collect_duration: Duration::from_micros(1500),
        };
        let mut out = Vec::new();
        write_prometheus(&mut out, &one_listener("a\"b\\c\nd"), &options).expect("write");
        let text = String::from_utf8(out).expect("UTF-8");
        let mut described = Vec::new();
        for line in text.lines() {
            if let Some(name) = line
                .strip_prefix("# TYPE ")
                .and_then(|r| r.split(' ').next())
            {
                assert!(is_name(name, true) && !described.contains(&name), "{line}");
                described.push(name);
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert_eq!(
                described.last(),
                Some(&name),
                "samples follow their TYPE: {line}"
            );
            let labels = line.split_once('{').map_or("", |(_, rest)| rest);
            for pair in labels.split("\",").filter(|p| p.contains('=')) {
                let label = pair.split('=').next().unwrap_or_default();
                assert!(is_name(label, false), "{label} in {line}");
            }
        }
        assert_eq!(described.len(), 7, "{text}");
        assert!(text.contains(r#"process="a\"b\\\\c\\nd""#), "{text}");
        assert!(
            text.contains("portscope_collect_duration_seconds 0.0015\n"),
            "{text}"
        );
    }

    /// The label vocabulary is the JSON one, so a dashboard and a jq query agree.
    #[test]
    fn label_words_match_the_json_names() {
        let json = |v: serde_json::Value| v.as_str().map(str::to_string).unwrap_or_default();
        for e in EXPOSURES {
            assert_eq!(json(serde_json::json!(e)), e.as_str());
        }
        for r in RangeGroup::ALL {
            assert_eq!(json(serde_json::json!(r)), r.as_str());
        }
        for f in FAMILIES {
            assert_eq!(json(serde_json::json!(f)), f.as_str());
        }
        for p in PROTOS {
            assert_eq!(json(serde_json::json!(p)), p.as_str());
        }
    }
}
