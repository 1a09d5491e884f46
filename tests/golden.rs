//! Golden output: a fixed snapshot through every report, and the CLI's own artefacts. Any change
//! to what users see shows up in review as a snapshot diff.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use portscope::cli::parse_port_spec;
use portscope::model::{
    Family, HiddenReason, NoneReason, Owner, PortRange, Process, Proto, SafeText, Snapshot,
    SockState, Socket, Visibility,
};
use portscope::query;
use portscope::report::Paint;
use portscope::report::json::{QueryEntry, write_json};
use portscope::report::query::write_answers;
use portscope::report::table::{TableOptions, write_table};

const T0: u64 = 1_795_000_000;

fn socket(
    proto: Proto,
    addr: &str,
    port: u16,
    state: SockState,
    inode: u64,
    owner: Owner,
) -> Socket {
    let local_addr: IpAddr = addr.parse().expect("test address");
    Socket {
        proto,
        family: Family::of(&local_addr),
        local_addr,
        port,
        remote: None,
        state,
        inode,
        uid: if matches!(owner, Owner::Hidden(_)) {
            1001
        } else {
            0
        },
        owner,
    }
}

fn process(pid: u32, name: &str, cmdline: &[&str], ppid: u32) -> Process {
    Process {
        pid,
        name: SafeText::new(name),
        cmdline: cmdline.iter().map(|a| SafeText::new(a)).collect(),
        exe: Some(SafeText::new("/usr/sbin/nginx")),
        cwd: Some(SafeText::new("/")),
        uid: Some(0),
        user: Some(SafeText::new("root")),
        ppid: Some(ppid),
        parent_name: Some(SafeText::new(if ppid == 1 { "systemd" } else { "parent" })),
        start_time: Some(T0 - 3_600),
    }
}

/// A small host: nginx master + 2 workers sharing :80, a dev server on [::]:3000, a hidden
/// owner, a hostile process name, a UDP resolver and a socket held by nobody.
fn fixed_snapshot() -> Snapshot {
    let sockets = vec![
        socket(
            Proto::Udp,
            "127.0.0.53",
            53,
            SockState::Unconn,
            11,
            Owner::Known(vec![310]),
        ),
        socket(
            Proto::Tcp,
            "0.0.0.0",
            80,
            SockState::Listen,
            12,
            Owner::Known(vec![400, 401, 402]),
        ),
        socket(
            Proto::Tcp,
            "::",
            3000,
            SockState::Listen,
            13,
            Owner::Known(vec![5000]),
        ),
        socket(
            Proto::Tcp,
            "127.0.0.1",
            5432,
            SockState::Listen,
            14,
            Owner::Hidden(HiddenReason::NotRoot),
        ),
        socket(
            Proto::Tcp,
            "192.0.2.10",
            8080,
            SockState::Listen,
            15,
            Owner::Known(vec![6000]),
        ),
        socket(
            Proto::Udp,
            "0.0.0.0",
            51820,
            SockState::Unconn,
            16,
            Owner::None(NoneReason::NoHolder),
        ),
    ];
    let mut processes = BTreeMap::new();
    processes.insert(
        310,
        process(
            310,
            "systemd-resolve",
            &["/lib/systemd/systemd-resolved"],
            1,
        ),
    );
    processes.insert(
        400,
        process(400, "nginx", &["nginx: master process /usr/sbin/nginx"], 1),
    );
    processes.insert(401, process(401, "nginx", &["nginx: worker process"], 400));
    processes.insert(402, process(402, "nginx", &["nginx: worker process"], 400));
    processes.insert(
        5000,
        process(5000, "node", &["node", "server.js", "--port", "3000"], 4999),
    );
    let hostile = "evil\u{1b}[31m\u{9b}2J\u{202e}txt";
    processes.insert(6000, process(6000, hostile, &[hostile, "--arg\r"], 1));
    let users = BTreeMap::from([(0, SafeText::new("root")), (1001, SafeText::new("alice"))]);
    Snapshot {
        taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(T0),
        sockets,
        processes,
        users,
        connections: BTreeMap::new(),
        ephemeral: Some(PortRange {
            low: 32768,
            high: 60999,
        }),
        visibility: Visibility {
            unreadable_pids: vec![],
        },
        warnings: vec![],
    }
}

fn render(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    write(&mut out).expect("writing to memory");
    String::from_utf8(out).expect("reports are UTF-8")
}

#[test]
fn json_document() {
    let snapshot = fixed_snapshot();
    insta::assert_snapshot!(render(|out| write_json(out, &snapshot, None)));
}

#[test]
fn json_query_document() {
    let snapshot = fixed_snapshot();
    let specs = [
        parse_port_spec("80").expect("valid"),
        parse_port_spec("9/udp").expect("valid"),
    ];
    let answers = query::answer(&snapshot, &specs);
    let entries: Vec<QueryEntry> = answers.iter().map(QueryEntry::from).collect();
    let mut only = snapshot.clone();
    only.sockets
        .retain(|s| specs.iter().any(|p| p.matches(s.proto, s.port)));
    insta::assert_snapshot!(render(|out| write_json(out, &only, Some(&entries))));
}

#[test]
fn table_at_80_columns() {
    let snapshot = fixed_snapshot();
    let options = TableOptions {
        width: Some(80),
        all: false,
        paint: Paint { enabled: false },
    };
    insta::assert_snapshot!(render(|out| write_table(out, &snapshot, &options)));
}

#[test]
fn table_unbounded_width_shows_commands() {
    let snapshot = fixed_snapshot();
    let options = TableOptions {
        width: None,
        all: false,
        paint: Paint { enabled: false },
    };
    insta::assert_snapshot!(render(|out| write_table(out, &snapshot, &options)));
}

#[test]
fn query_answers() {
    let snapshot = fixed_snapshot();
    let specs =
        ["80", "3000", "5432", "9/udp", "8000-8100"].map(|s| parse_port_spec(s).expect("valid"));
    let answers = query::answer(&snapshot, &specs);
    insta::assert_snapshot!(render(|out| write_answers(
        out,
        &snapshot,
        &answers,
        Paint { enabled: false }
    )));
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
