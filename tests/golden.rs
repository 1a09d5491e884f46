//! Golden output: a fixed snapshot through every report, and the CLI's own artefacts. Any change
//! to what users see shows up in review as a snapshot diff.

#[path = "common/fixtures.rs"]
mod fixtures;

use std::time::Duration;

use fixtures::{HOSTILE, fixed_host, listen, process};
use portscope::app::watch::write_changes;
use portscope::filter::HolderFilter;
use portscope::model::{HiddenReason, Owner, PortSpec, Proto, Selection, Snapshot};
use portscope::query;
use portscope::report::Paint;
use portscope::report::events::{EventWriter, SnapshotLines};
use portscope::report::json::{QueryEntry, write_json};
use portscope::report::jsonl::write_jsonl;
use portscope::report::prometheus::{Options, write_prometheus};
use portscope::report::query::{Asked, write_answers};
use portscope::report::table::{TableOptions, write_table};

fn render(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    write(&mut out).expect("writing to memory");
    String::from_utf8(out).expect("reports are UTF-8")
}

fn specs(texts: &[&str]) -> Vec<PortSpec> {
    texts
        .iter()
        .map(|s| PortSpec::parse(s).expect("valid"))
        .collect()
}

/// The listeners of the fixed host as a table.
fn table(width: Option<usize>) -> String {
    let snapshot = listeners();
    let options = TableOptions {
        width,
        all: false,
        paint: Paint { enabled: false },
    };
    render(|out| write_table(out, &snapshot, &options))
}

#[test]
fn json_document() {
    let snapshot = fixed_host();
    insta::assert_snapshot!(render(|out| write_json(out, &snapshot, None)));
}

#[test]
fn json_query_document() {
    let snapshot = fixed_host();
    let specs = specs(&["80", "9/udp"]);
    let answers = query::answer(&snapshot, &specs, Selection::LISTENERS);
    let entries: Vec<QueryEntry> = answers
        .iter()
        .map(|a| QueryEntry::new(&snapshot, a, &HolderFilter::default()))
        .collect();
    let mut only = snapshot.clone();
    only.sockets
        .retain(|s| specs.iter().any(|p| p.matches(s.proto, s.port)));
    insta::assert_snapshot!(render(|out| write_json(out, &only, Some(&entries))));
}

/// The listeners of the fixed host, as `--once` collects them.
fn listeners() -> Snapshot {
    let mut snapshot = fixed_host();
    snapshot.sockets.retain(|s| s.is_listener());
    snapshot
}

fn prometheus(all: bool) -> String {
    let options = Options {
        all,
        selection: Selection::LISTENERS,
        collect_duration: Duration::from_millis(140),
    };
    render(|out| write_prometheus(out, &listeners(), &options))
}

/// The ephemeral-range listeners (51820, 52000, 55555) are counted, not listed.
#[test]
fn prometheus_exposition() {
    let text = prometheus(false);
    assert!(!text.contains("port=\"55555\""), "{text}");
    assert!(text.contains("portscope_series_omitted 3\n"), "{text}");
    insta::assert_snapshot!(text);
}

/// With `--prometheus-all`: the hostile name arrives sanitized, its backslashes doubled.
#[test]
fn prometheus_exposition_all() {
    let text = prometheus(true);
    assert!(
        text.contains(r#"process="evil\\e[31m\\u{9b}2J\\u{202e}txt""#),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn jsonl_lines() {
    let text = render(|out| write_jsonl(out, &listeners()));
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        assert_eq!(
            (&value["schema"], &value["host"]),
            (&1.into(), &"testhost".into())
        );
    }
    assert_eq!(text.lines().count(), listeners().sockets.len());
    insta::assert_snapshot!(text);
}

/// A watch over the fixed host: sshd restarted (new inode), nginx forked a worker, the
/// hostile listener went away and a new one appeared.
#[test]
fn watch_events() {
    let old = listeners();
    let mut new = listeners();
    new.taken_at += Duration::from_secs(2);
    new.sockets.retain(|s| s.port != 55555);
    for socket in new.sockets.iter_mut() {
        match socket.port {
            22 => socket.inode = 40,
            80 => socket.owner = Owner::Known(vec![400, 401, 402, 403]),
            _ => {}
        }
    }
    new.processes.insert(
        403,
        process(
            403,
            "nginx",
            &["nginx: worker process"],
            (33, "www-data"),
            400,
        ),
    );
    new.sockets.push(listen(
        Proto::Tcp,
        "0.0.0.0",
        9090,
        41,
        0,
        Owner::Known(vec![900]),
    ));
    let text = render(|out| {
        let mut events = EventWriter::new(out, SnapshotLines::PerSocket);
        events.snapshot(&old)?;
        write_changes(&mut events, &old, &new)?;
        events.error(
            &new.host,
            new.taken_at,
            "cannot read the socket table udp6: test",
        )
    });
    assert!(!text.contains(HOSTILE), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn table_at_80_columns() {
    insta::assert_snapshot!(table(Some(80)));
}

/// At 100 columns names keep their room: the exposure is said in short words first.
#[test]
fn table_at_100_columns_keeps_names_whole() {
    let text = table(Some(100));
    for (row, name) in [(":53 ", "systemd-resolved"), (":5353 ", "avahi-daemon")] {
        let line = text.lines().find(|l| l.contains(row)).unwrap_or_default();
        assert!(
            line.contains(name) && !line.contains('…'),
            "{name} is cut:\n{text}"
        );
    }
    assert!(!text.contains("all interfaces"), "{text}");
    let rows = text
        .lines()
        .filter(|l| !l.starts_with("note:") && !l.starts_with('*'));
    assert!(rows.into_iter().all(|l| l.chars().count() <= 100), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn table_unbounded_width_shows_commands() {
    insta::assert_snapshot!(table(None));
}

#[test]
fn query_answers() {
    let snapshot = fixed_host();
    let specs = specs(&["80", "3000", "5432", "9/udp", "8000-8100"]);
    let answers = query::answer(&snapshot, &specs, Selection::LISTENERS);
    let holders = HolderFilter::default();
    let asked = Asked {
        selection: Selection::LISTENERS,
        holders: &holders,
    };
    insta::assert_snapshot!(render(|out| write_answers(
        out,
        &snapshot,
        &answers,
        &[],
        &asked,
        Paint { enabled: false }
    )));
}

/// Narrowed by protocol, a port may be free while the other protocol holds it; filtered by
/// holder, a held port stays held and the answer names who was left out; a holder set that
/// may be incomplete says so.
#[test]
fn query_answers_narrowed_filtered_and_partial() {
    let mut snapshot = fixed_host();
    for socket in snapshot.sockets.iter_mut().filter(|s| s.port == 80) {
        socket.owner = Owner::Partial(vec![401, 402], HiddenReason::NotRoot);
    }
    let udp_only = Selection {
        tcp: false,
        ..Selection::LISTENERS
    };
    let narrowed = query::answer(&snapshot, &specs(&["80", "53"]), udp_only);
    let none = HolderFilter::default();
    let apache = HolderFilter {
        process: Some("apache".into()),
        ..HolderFilter::default()
    };
    let filtered = query::answer(&snapshot, &specs(&["80"]), Selection::LISTENERS);
    let paint = Paint { enabled: false };
    let text = render(|out| {
        let asked = Asked {
            selection: udp_only,
            holders: &none,
        };
        write_answers(out, &snapshot, &narrowed, &[], &asked, paint)?;
        let asked = Asked {
            selection: Selection::LISTENERS,
            holders: &apache,
        };
        std::io::Write::write_all(out, b"\n")?;
        write_answers(out, &snapshot, &filtered, &[], &asked, paint)
    });
    insta::assert_snapshot!(text);
}

fn run(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_portscope"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .output()
        .expect("run portscope");
    assert!(output.status.success(), "{args:?} failed: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[test]
fn help_text() {
    insta::assert_snapshot!(run(&["--help"]));
}

#[test]
fn short_help_text() {
    insta::assert_snapshot!(run(&["-h"]));
}
