//! The live view without a terminal: a fixed snapshot and key events go into `App`, the frame is
//! drawn into a `TestBackend`, and the screen is compared as text (insta) and checked cell by
//! cell where only a style tells the difference (selection, new and gone rows).
//!
//! The `bug_*` tests are ignored: each fails on a known defect in src/ (see its ignore reason)
//! and should be un-ignored with the fix. Run them with `cargo test --test tui_render -- --ignored`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use portscope::model::{
    Connections, Family, HiddenReason, NoneReason, Owner, PortRange, Process, Proto, SafeText,
    Snapshot, SockState, Socket, Visibility,
};
use portscope::tui::keys;
use portscope::tui::render::{Theme, draw};
use portscope::tui::state::{Action, App, Change, FilterInput, Overlay, Row, SortKey, View};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;
use unicode_width::UnicodeWidthStr;

const T0: u64 = 1_795_000_000;
const THEME: Theme = Theme { color: false };

// ---------------------------------------------------------------------------------------------
// The fixed host

fn socket(
    proto: Proto,
    addr: &str,
    port: u16,
    state: SockState,
    inode: u64,
    uid: u32,
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
        uid,
        owner,
    }
}

fn process(pid: u32, name: &str, cmdline: &[&str], user: (u32, &str), ppid: u32) -> Process {
    Process {
        pid,
        name: SafeText::new(name),
        cmdline: cmdline.iter().map(|a| SafeText::new(a)).collect(),
        exe: Some(SafeText::new(&format!("/usr/bin/{name}"))),
        cwd: Some(SafeText::new("/")),
        uid: Some(user.0),
        user: Some(SafeText::new(user.1)),
        ppid: Some(ppid),
        parent_name: Some(SafeText::new(if ppid == 1 { "systemd" } else { "parent" })),
        start_time: Some(T0 - 3_600 - u64::from(pid)),
    }
}

fn addr(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

/// Nine listeners over the three ranges (one shared by three nginx processes, one with a hidden
/// owner, one held by nobody) and one established connection that only `a` shows. In the
/// registered range each sort key gives a different order:
///
/// | port | process      | pid  | user  |
/// |------|--------------|------|-------|
/// | 3000 | node         | 5000 | dev   |
/// | 5353 | avahi-daemon | 700  | avahi |
/// | 5432 | (hidden)     | ?    | alice |
/// | 8080 | python3      | 2500 | bob   |
fn fixed_snapshot() -> Snapshot {
    let mut established = socket(
        Proto::Tcp,
        "192.0.2.10",
        22,
        SockState::Established,
        30,
        0,
        Owner::Known(vec![901]),
    );
    established.remote = Some((addr("198.51.100.7"), 50123));
    let sockets = vec![
        socket(
            Proto::Udp,
            "127.0.0.53",
            53,
            SockState::Unconn,
            11,
            991,
            Owner::Known(vec![310]),
        ),
        socket(
            Proto::Tcp,
            "0.0.0.0",
            80,
            SockState::Listen,
            12,
            0,
            Owner::Known(vec![400, 401, 402]),
        ),
        socket(
            Proto::Tcp,
            "0.0.0.0",
            22,
            SockState::Listen,
            10,
            0,
            Owner::Known(vec![900]),
        ),
        established,
        socket(
            Proto::Tcp,
            "::",
            3000,
            SockState::Listen,
            13,
            1000,
            Owner::Known(vec![5000]),
        ),
        socket(
            Proto::Tcp,
            "127.0.0.1",
            5432,
            SockState::Listen,
            14,
            1001,
            Owner::Hidden(HiddenReason::NotRoot),
        ),
        socket(
            Proto::Tcp,
            "192.0.2.10",
            8080,
            SockState::Listen,
            15,
            1002,
            Owner::Known(vec![2500]),
        ),
        socket(
            Proto::Udp,
            "0.0.0.0",
            5353,
            SockState::Unconn,
            17,
            107,
            Owner::Known(vec![700]),
        ),
        socket(
            Proto::Udp,
            "0.0.0.0",
            51820,
            SockState::Unconn,
            16,
            0,
            Owner::None(NoneReason::NoHolder),
        ),
        socket(
            Proto::Tcp,
            "127.0.0.1",
            52000,
            SockState::Listen,
            18,
            1000,
            Owner::Known(vec![1200]),
        ),
    ];
    let processes = [
        process(
            310,
            "systemd-resolve",
            &["/lib/systemd/systemd-resolved"],
            (991, "systemd-resolve"),
            1,
        ),
        process(
            400,
            "nginx",
            &["nginx: master process /usr/sbin/nginx"],
            (0, "root"),
            1,
        ),
        process(401, "nginx", &["nginx: worker process"], (0, "root"), 400),
        process(402, "nginx", &["nginx: worker process"], (0, "root"), 400),
        process(
            700,
            "avahi-daemon",
            &["avahi-daemon: running"],
            (107, "avahi"),
            1,
        ),
        process(900, "sshd", &["/usr/sbin/sshd", "-D"], (0, "root"), 1),
        process(901, "sshd", &["sshd: dev@pts/0"], (0, "root"), 900),
        process(
            1200,
            "code",
            &["/usr/bin/code", "--listen"],
            (1000, "dev"),
            1,
        ),
        process(
            2500,
            "python3",
            &["/usr/bin/python3", "-m", "http.server", "8080"],
            (1002, "bob"),
            1,
        ),
        process(
            5000,
            "node",
            &["node", "server.js", "--port", "3000"],
            (1000, "dev"),
            4999,
        ),
    ];
    let users = BTreeMap::from([
        (0, SafeText::new("root")),
        (107, SafeText::new("avahi")),
        (991, SafeText::new("systemd-resolve")),
        (1000, SafeText::new("dev")),
        (1001, SafeText::new("alice")),
        (1002, SafeText::new("bob")),
    ]);
    let connections = BTreeMap::from([
        (
            80,
            Connections {
                count: 5,
                peers: vec![
                    (addr("198.51.100.20"), 40001),
                    (addr("2001:db8::7"), 40002),
                    (addr("203.0.113.9"), 40003),
                ],
            },
        ),
        (
            22,
            Connections {
                count: 1,
                peers: vec![(addr("198.51.100.7"), 50123)],
            },
        ),
    ]);
    Snapshot {
        taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(T0),
        sockets,
        processes: processes.into_iter().map(|p| (p.pid, p)).collect(),
        users,
        connections,
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

/// The fixed host without its hidden-owner socket (so the header has no summary line).
fn snapshot_without_hidden() -> Snapshot {
    let mut snapshot = fixed_snapshot();
    snapshot
        .sockets
        .retain(|s| !matches!(s.owner, Owner::Hidden(_)));
    snapshot
}

fn listener(port: u16, inode: u64, pid: u32, name: &str) -> (Socket, Process) {
    (
        socket(
            Proto::Tcp,
            "127.0.0.1",
            port,
            SockState::Listen,
            inode,
            1000,
            Owner::Known(vec![pid]),
        ),
        process(pid, name, &[name], (1000, "dev"), 1),
    )
}

fn add(snapshot: &mut Snapshot, (socket, process): (Socket, Process)) {
    snapshot.sockets.push(socket);
    snapshot.processes.insert(process.pid, process);
}

// ---------------------------------------------------------------------------------------------
// Driving and drawing

fn all_on() -> View {
    View {
        tcp: true,
        udp: true,
        ipv4: true,
        ipv6: true,
        all: false,
    }
}

fn new_app() -> App {
    App::new(all_on(), Duration::from_secs(2), "testhost".to_string())
}

fn app_with(snapshot: Snapshot) -> App {
    let mut app = new_app();
    app.apply_snapshot(snapshot);
    app
}

fn render(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| draw(frame, app, THEME))
        .expect("drawing into memory");
    terminal
}

/// The screen as lines of text, trailing blanks trimmed.
fn screen(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buffer = terminal.backend().buffer();
    let width = usize::from(buffer.area.width);
    buffer
        .content
        .chunks(width.max(1))
        .map(|cells| {
            let mut line = String::new();
            let mut skip = 0usize;
            for cell in cells {
                if skip == 0 {
                    line.push_str(cell.symbol());
                }
                skip = skip.max(cell.symbol().width()).saturating_sub(1);
            }
            line.trim_end().to_string()
        })
        .collect()
}

fn text(terminal: &Terminal<TestBackend>) -> String {
    screen(terminal).join("\n")
}

/// The screen line that contains `needle`, with its row number.
fn line_with(terminal: &Terminal<TestBackend>, needle: &str) -> (u16, String) {
    screen(terminal)
        .into_iter()
        .enumerate()
        .find(|(_, line)| line.contains(needle))
        .map(|(y, line)| (u16::try_from(y).expect("small screen"), line))
        .unwrap_or_else(|| panic!("no line with {needle:?} on screen:\n{}", text(terminal)))
}

/// The modifiers of the first cell of screen row `y`.
fn modifiers_at(terminal: &Terminal<TestBackend>, x: u16, y: u16) -> Modifier {
    terminal.backend().buffer()[(x, y)].modifier
}

/// Goes through the real key table, the way the event loop does (`q` and a closing Esc quit
/// there; these tests never send them with nothing open).
fn press(app: &mut App, code: KeyCode, modifiers: KeyModifiers) -> Action {
    let key = KeyEvent::new(code, modifiers);
    if app.overlay == Overlay::Filter {
        let input = keys::filter_input(key).expect("a filter key");
        app.filter_input(input);
        return Action::None;
    }
    let command = keys::command_for(key).expect("a mapped key");
    app.command(command)
}

fn press_char(app: &mut App, c: char) -> Action {
    press(app, KeyCode::Char(c), KeyModifiers::NONE)
}

/// One label per row: a group's title, or `proto endpoint` of a socket, with its change.
fn rows(app: &App) -> Vec<String> {
    app.rows
        .iter()
        .map(|&row| match row {
            Row::Group(group) => format!("# {}", group.title()),
            Row::Socket { change, .. } => {
                let socket = app.socket(row).expect("a row's socket exists");
                let mark = match change {
                    Change::Steady => "",
                    Change::New => " (new)",
                    Change::Gone => " (gone)",
                };
                format!(
                    "{} {}{mark}",
                    socket.proto.as_str(),
                    socket.local_endpoint()
                )
            }
        })
        .collect()
}

/// The ports of one group's rows, in order.
fn group_ports(app: &App, title_prefix: &str) -> Vec<u16> {
    let mut ports = Vec::new();
    let mut inside = false;
    for &row in &app.rows {
        match row {
            Row::Group(group) => inside = group.title().starts_with(title_prefix),
            row if inside => ports.push(app.socket(row).expect("socket").port),
            _ => {}
        }
    }
    ports
}

fn select_port(app: &mut App, port: u16) {
    let index = app
        .rows
        .iter()
        .position(|&row| app.socket(row).is_some_and(|s| s.port == port))
        .unwrap_or_else(|| panic!("no row for port {port}: {:?}", rows(app)));
    app.table.select(Some(index));
}

fn selected_port(app: &App) -> Option<u16> {
    app.selected_socket().map(|s| s.port)
}

const FULL_ROWS: [&str; 12] = [
    "# Well-known 0–1023",
    "tcp 0.0.0.0:22",
    "udp 127.0.0.53:53",
    "tcp 0.0.0.0:80",
    "# Registered 1024–49151",
    "tcp [::]:3000",
    "udp 0.0.0.0:5353",
    "tcp 127.0.0.1:5432",
    "tcp 192.0.2.10:8080",
    "# Dynamic/private 49152–65535",
    "udp 0.0.0.0:51820",
    "tcp 127.0.0.1:52000",
];

// ---------------------------------------------------------------------------------------------
// Layout

#[test]
fn groups_with_rows_at_100x30() {
    let mut app = app_with(fixed_snapshot());
    assert_eq!(rows(&app), FULL_ROWS);
    let terminal = render(&mut app, 100, 30);
    let screen = text(&terminal);
    for title in [
        "▾ Well-known 0–1023 (3)",
        "▾ Registered 1024–49151 (4)",
        "▾ Dynamic/private 49152–65535 (2)",
    ] {
        assert!(screen.contains(title), "{title} missing:\n{screen}");
    }
    assert!(screen.contains("testhost · 11:06:40 UTC · every 2s"));
    // The first row (a group header) is selected: drawn reversed.
    let (y, _) = line_with(&terminal, "Well-known 0–1023 (3)");
    assert!(modifiers_at(&terminal, 0, y).contains(Modifier::REVERSED));
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn groups_with_rows_at_80x24() {
    let mut app = app_with(fixed_snapshot());
    let terminal = render(&mut app, 80, 24);
    let screen = text(&terminal);
    for title in [
        "Well-known 0–1023",
        "Registered 1024–49151",
        "Dynamic/private",
    ] {
        assert!(screen.contains(title), "{title} missing:\n{screen}");
    }
    // Every listener is on screen, each line within the width.
    for endpoint in [
        "0.0.0.0:22",
        "127.0.0.53:53",
        "0.0.0.0:80",
        "[::]:3000",
        "0.0.0.0:5353",
        "127.0.0.1:5432",
        "192.0.2.10:8080",
        "0.0.0.0:51820*",
        "127.0.0.1:52000*",
    ] {
        assert!(screen.contains(endpoint), "{endpoint} missing:\n{screen}");
    }
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn before_the_first_snapshot() {
    let mut app = new_app();
    let terminal = render(&mut app, 80, 10);
    let screen = text(&terminal);
    assert!(screen.contains("collecting…"), "{screen}");
    assert!(screen.contains("reading the socket tables…"), "{screen}");
    insta::assert_snapshot!(terminal.backend());
}

// ---------------------------------------------------------------------------------------------
// Folding, filtering, sorting

#[test]
fn folding_a_group_hides_its_rows() {
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 8080);
    press(&mut app, KeyCode::Home, KeyModifiers::NONE);
    assert_eq!(app.table.selected(), Some(0));
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(app.folded, [true, false, false]);
    assert!(
        !app.details,
        "Enter on a group header folds, it opens no details"
    );
    assert_eq!(
        rows(&app),
        FULL_ROWS[..1]
            .iter()
            .chain(&FULL_ROWS[4..])
            .copied()
            .collect::<Vec<_>>()
    );
    // The selection stays on the folded header.
    assert_eq!(app.selected_row(), Some(app.rows[0]));
    let terminal = render(&mut app, 100, 20);
    let screen = text(&terminal);
    // The header still counts the folded group's listeners.
    assert!(screen.contains("▸ Well-known 0–1023 (3)"), "{screen}");
    assert!(!screen.contains("0.0.0.0:80"), "{screen}");
    insta::assert_snapshot!(terminal.backend());

    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(app.folded, [false; 3]);
    assert_eq!(rows(&app), FULL_ROWS);
}

#[test]
fn filter_narrows_to_one_port_and_esc_restores() {
    let mut app = app_with(fixed_snapshot());
    press_char(&mut app, '/');
    assert_eq!(app.overlay, Overlay::Filter);
    for c in "5432".chars() {
        app.filter_input(FilterInput::Char(c));
    }
    // Narrowed while typing.
    assert_eq!(
        rows(&app),
        [
            "# Well-known 0–1023",
            "# Registered 1024–49151",
            "tcp 127.0.0.1:5432",
            "# Dynamic/private 49152–65535",
        ]
    );
    let typing = render(&mut app, 100, 14);
    assert!(text(&typing).contains("/5432▏   Enter keeps · Esc clears"));
    insta::assert_snapshot!("filter_typing", typing.backend());

    app.filter_input(FilterInput::Accept);
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(app.filter, "5432");
    assert_eq!(rows(&app).len(), 4);
    let accepted = render(&mut app, 100, 14);
    let screen = text(&accepted);
    assert!(screen.contains("filter \"5432\""), "{screen}");
    assert!(
        screen.contains("listeners: 0 well-known · 1 registered · 0 dynamic"),
        "{screen}"
    );
    insta::assert_snapshot!("filter_accepted", accepted.backend());

    // Opening the filter again and pressing Esc clears it: everything is back.
    press_char(&mut app, '/');
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(app.filter, "");
    assert_eq!(rows(&app), FULL_ROWS);
}

#[test]
fn filter_typed_then_cancelled_restores_everything() {
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 3000);
    press_char(&mut app, '/');
    for c in "3000".chars() {
        press_char(&mut app, c);
    }
    assert_eq!(
        rows(&app),
        [
            "# Well-known 0–1023",
            "# Registered 1024–49151",
            "tcp [::]:3000",
            "# Dynamic/private 49152–65535",
        ]
    );
    assert_eq!(selected_port(&app), Some(3000));
    press(&mut app, KeyCode::Backspace, KeyModifiers::NONE);
    assert_eq!(app.filter, "300");
    app.filter_input(FilterInput::Cancel);
    assert_eq!(app.filter, "");
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(rows(&app), FULL_ROWS);
    assert_eq!(selected_port(&app), Some(3000));
    let screen = text(&render(&mut app, 100, 30));
    assert!(!screen.contains("filter \""), "{screen}");
    assert!(
        screen.contains("listeners: 3 well-known · 4 registered · 2 dynamic"),
        "{screen}"
    );
}

#[test]
fn sort_cycles_port_process_pid_user() {
    let mut app = app_with(fixed_snapshot());
    assert_eq!(app.sort, SortKey::Port);
    assert_eq!(group_ports(&app, "Registered"), [3000, 5353, 5432, 8080]);

    press_char(&mut app, 's');
    assert_eq!(app.sort, SortKey::Process);
    // "(hidden)", avahi-daemon, node, python3
    assert_eq!(group_ports(&app, "Registered"), [5432, 5353, 3000, 8080]);
    // nginx, sshd, systemd-resolve
    assert_eq!(group_ports(&app, "Well-known"), [80, 22, 53]);
    let terminal = render(&mut app, 100, 30);
    assert!(text(&terminal).contains("sort process"));
    insta::assert_snapshot!("sorted_by_process", terminal.backend());

    press_char(&mut app, 's');
    assert_eq!(app.sort, SortKey::Pid);
    // 700, 2500, 5000, hidden last
    assert_eq!(group_ports(&app, "Registered"), [5353, 8080, 3000, 5432]);
    assert_eq!(group_ports(&app, "Well-known"), [53, 80, 22]);
    // A socket held by nobody sorts after every pid.
    assert_eq!(group_ports(&app, "Dynamic"), [52000, 51820]);
    assert!(text(&render(&mut app, 100, 30)).contains("sort pid"));

    press_char(&mut app, 's');
    assert_eq!(app.sort, SortKey::User);
    // alice, avahi, bob, dev
    assert_eq!(group_ports(&app, "Registered"), [5432, 5353, 8080, 3000]);
    let screen = text(&render(&mut app, 100, 30));
    assert!(screen.contains("sort user"), "{screen}");
    // The rendered order agrees with the rows.
    let order: Vec<usize> = [
        "127.0.0.1:5432",
        "0.0.0.0:5353",
        "192.0.2.10:8080",
        "[::]:3000",
    ]
    .iter()
    .map(|e| screen.find(e).expect("row on screen"))
    .collect();
    assert!(order.is_sorted(), "rendered out of order:\n{screen}");

    press_char(&mut app, 's');
    assert_eq!(app.sort, SortKey::Port);
    assert_eq!(rows(&app), FULL_ROWS);
}

#[test]
fn sorting_keeps_the_selected_socket() {
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 8080);
    for _ in 0..4 {
        press_char(&mut app, 's');
        assert_eq!(selected_port(&app), Some(8080), "after sort {:?}", app.sort);
    }
}

// ---------------------------------------------------------------------------------------------
// Protocol and family toggles

#[test]
fn protocol_toggles_and_the_last_one_is_refused() {
    let mut app = app_with(fixed_snapshot());
    let action = press_char(&mut app, 't');
    assert!(!app.view.tcp);
    let Action::Reconfigure(tables) = action else {
        panic!("t must ask the collector for new tables, got {action:?}");
    };
    assert!(!tables.tcp && tables.udp && tables.ipv4 && tables.ipv6);
    assert_eq!(
        rows(&app),
        [
            "# Well-known 0–1023",
            "udp 127.0.0.53:53",
            "# Registered 1024–49151",
            "udp 0.0.0.0:5353",
            "# Dynamic/private 49152–65535",
            "udp 0.0.0.0:51820",
        ]
    );

    // UDP is the only protocol left: turning it off is refused, with a reason.
    let action = press_char(&mut app, 'u');
    assert_eq!(action, Action::None);
    assert!(app.view.udp && !app.view.tcp);
    assert_eq!(
        app.status.as_deref(),
        Some("at least one protocol and one family must stay on")
    );
    let terminal = render(&mut app, 100, 14);
    let screen = text(&terminal);
    assert!(screen.contains("· only udp v4 v6"), "{screen}");
    assert!(
        screen.contains("listeners: 1 well-known · 1 registered · 1 dynamic"),
        "{screen}"
    );
    insta::assert_snapshot!(terminal.backend());

    // The next key clears the message; t brings TCP back.
    assert!(matches!(press_char(&mut app, 't'), Action::Reconfigure(_)));
    assert_eq!(app.status, None);
    assert_eq!(app.view, all_on());
    assert_eq!(rows(&app), FULL_ROWS);

    // u alone: only TCP.
    assert!(matches!(press_char(&mut app, 'u'), Action::Reconfigure(_)));
    assert!(rows(&app).iter().all(|r| !r.starts_with("udp")));
    assert_eq!(press_char(&mut app, 't'), Action::None);
    assert!(app.view.tcp && !app.view.udp);
    assert!(app.status.is_some());
    press_char(&mut app, 'u');
    assert_eq!(app.view, all_on());
}

#[test]
fn family_toggles_and_the_last_one_is_refused() {
    let mut app = app_with(fixed_snapshot());
    assert!(matches!(press_char(&mut app, '4'), Action::Reconfigure(_)));
    assert!(!app.view.ipv4);
    // Only the IPv6 listener is left.
    assert_eq!(
        rows(&app),
        [
            "# Well-known 0–1023",
            "# Registered 1024–49151",
            "tcp [::]:3000",
            "# Dynamic/private 49152–65535",
        ]
    );
    assert!(text(&render(&mut app, 100, 14)).contains("· only tcp udp v6"));

    assert_eq!(press_char(&mut app, '6'), Action::None);
    assert!(app.view.ipv6);
    assert_eq!(
        app.status.as_deref(),
        Some("at least one protocol and one family must stay on")
    );
    let terminal = render(&mut app, 100, 14);
    let (y, footer) = line_with(&terminal, "must stay on");
    assert_eq!(y, 13, "the message is in the footer");
    assert_eq!(footer, "at least one protocol and one family must stay on");

    assert!(matches!(press_char(&mut app, '4'), Action::Reconfigure(_)));
    assert!(matches!(press_char(&mut app, '6'), Action::Reconfigure(_)));
    assert!(!app.view.ipv6);
    assert!(rows(&app).iter().all(|r| !r.contains('[')));
    assert_eq!(press_char(&mut app, '4'), Action::None);
    assert!(app.view.ipv4);
    press_char(&mut app, '6');
    assert_eq!(app.view, all_on());
}

#[test]
fn all_sockets_adds_the_state_column_and_connections() {
    let mut app = app_with(fixed_snapshot());
    assert!(matches!(press_char(&mut app, 'a'), Action::Reconfigure(t) if !t.listeners_only));
    assert!(rows(&app).contains(&"tcp 192.0.2.10:22".to_string()));
    let terminal = render(&mut app, 100, 30);
    let screen = text(&terminal);
    assert!(screen.contains("STATE"), "{screen}");
    assert!(screen.contains("ESTABLISHED"), "{screen}");
    assert!(screen.contains("sockets: 4 well-known"), "{screen}");
    insta::assert_snapshot!(terminal.backend());
}

// ---------------------------------------------------------------------------------------------
// Details, help, status

#[test]
fn details_pane_shows_every_holder_and_the_peers() {
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 80);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(app.details);
    // Tall enough for three holders and the connections (the pane cannot scroll).
    let terminal = render(&mut app, 100, 72);
    let screen = text(&terminal);
    assert!(screen.contains("tcp 0.0.0.0:80 · LISTEN"), "{screen}");
    for pid in ["pid 400  nginx", "pid 401  nginx", "pid 402  nginx"] {
        assert!(screen.contains(pid), "{pid} missing:\n{screen}");
    }
    assert!(
        screen.contains("5 established connection(s) to port 80"),
        "{screen}"
    );
    for peer in [
        "from 198.51.100.20:40001",
        "from [2001:db8::7]:40002",
        "from 203.0.113.9:40003",
        "… and 2 more",
    ] {
        assert!(screen.contains(peer), "{peer} missing:\n{screen}");
    }
    insta::assert_snapshot!(terminal.backend());

    // Esc closes the pane (the event loop only quits when nothing is open).
    assert!(app.has_open_layer());
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    assert!(!app.details);
    assert!(!text(&render(&mut app, 100, 72)).contains("Enter/Esc closes"));
}

/// The pane is a fixed 45% of the body and cannot scroll, so at an ordinary size even a
/// listener with one holder and one connection never shows that connection.
#[test]

fn regression_details_pane_at_100x30_cuts_off_the_connections() {
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 22);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let terminal = render(&mut app, 100, 30);
    let screen = text(&terminal);
    assert!(screen.contains("pid 900  sshd"), "{screen}");
    for wanted in [
        "1 established connection(s) to port 22",
        "from 198.51.100.7:50123",
    ] {
        assert!(
            screen.contains(wanted),
            "BUG: the details pane at 100×30 cuts off {wanted:?} and cannot scroll:\n{screen}"
        );
    }
}

#[test]
fn details_of_a_hidden_owner_and_of_a_connection() {
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 5432);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let terminal = render(&mut app, 100, 30);
    let screen = text(&terminal);
    assert!(
        screen.contains("owner hidden: not root: other users' processes cannot be inspected"),
        "{screen}"
    );
    assert!(screen.contains("uid 1001 (alice)"), "{screen}");
    assert!(screen.contains("no established connections"), "{screen}");
    insta::assert_snapshot!("details_of_a_hidden_owner", terminal.backend());

    press_char(&mut app, 'a');
    select_port(&mut app, 22);
    app.move_by(1);
    assert_eq!(
        app.selected_socket().map(|s| s.state),
        Some(SockState::Established)
    );
    let screen = text(&render(&mut app, 100, 40));
    assert!(
        screen.contains("tcp 192.0.2.10:22 · ESTABLISHED"),
        "{screen}"
    );
    assert!(screen.contains("peer      198.51.100.7:50123"), "{screen}");
}

#[test]
fn help_overlay() {
    let mut app = app_with(fixed_snapshot());
    press(&mut app, KeyCode::Char('?'), KeyModifiers::SHIFT);
    assert_eq!(app.overlay, Overlay::Help);
    let terminal = render(&mut app, 100, 30);
    let screen = text(&terminal);
    assert!(screen.contains("help · ? or Esc closes"), "{screen}");
    for (keys, what) in keys::HELP {
        assert!(screen.contains(keys), "{keys} missing:\n{screen}");
        assert!(screen.contains(what), "{what} missing:\n{screen}");
    }
    insta::assert_snapshot!("help_overlay_100x30", terminal.backend());

    let terminal = render(&mut app, 80, 24);
    insta::assert_snapshot!("help_overlay_80x24", terminal.backend());

    press(&mut app, KeyCode::Char('?'), KeyModifiers::NONE);
    assert_eq!(app.overlay, Overlay::None);
    press(&mut app, KeyCode::F(1), KeyModifiers::NONE);
    assert_eq!(app.overlay, Overlay::Help);
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(app.overlay, Overlay::None);
}

/// The popup's height is its line count, but lines wrap below 98 columns, so the last lines
/// (the dynamic range and the ephemeral note) are cut even with rows to spare.
#[test]

fn regression_help_overlay_loses_its_last_lines_when_lines_wrap() {
    let mut app = app_with(fixed_snapshot());
    press_char(&mut app, '?');
    let terminal = render(&mut app, 80, 40);
    let screen = text(&terminal);
    for wanted in [
        "Dynamic/private 49152–65535",
        "may also be handed to outgoing connections",
    ] {
        assert!(
            screen.contains(wanted),
            "BUG: the help overlay at 80×40 cuts off {wanted:?}:\n{screen}"
        );
    }
}

#[test]
fn kill_key_sets_a_status_message() {
    let mut app = app_with(fixed_snapshot());
    // A socket whose holder cannot be seen cannot be stopped: K says why, in the footer.
    select_port(&mut app, 5432);
    assert_eq!(
        press(&mut app, KeyCode::Char('K'), KeyModifiers::SHIFT),
        Action::None
    );
    let status = app.status.clone().expect("K explains itself");
    assert!(status.contains("hidden"), "{status}");
    let terminal = render(&mut app, 100, 14);
    let (y, footer) = line_with(&terminal, &status);
    assert_eq!(y, 13, "the message is in the footer");
    assert_eq!(footer, status);
    // Held by nobody, or a group header: a message, nothing to do.
    for port in [None, Some(51820)] {
        match port {
            Some(port) => select_port(&mut app, port),
            None => app.table.select(Some(0)),
        }
        assert_eq!(
            press(&mut app, KeyCode::Char('K'), KeyModifiers::SHIFT),
            Action::None
        );
        assert!(app.status.is_some(), "K on {port:?} says nothing");
    }
    // On a listener with a known holder K does something (asks, or explains).
    select_port(&mut app, 3000);
    let action = press(&mut app, KeyCode::Char('K'), KeyModifiers::SHIFT);
    assert!(
        action != Action::None || app.status.is_some(),
        "K on a held listener did nothing visible"
    );
    assert_ne!(action, Action::Quit);
    // Lower-case k moves up instead, and clears the message.
    app.status = Some("old".into());
    app.overlay = Overlay::None;
    press_char(&mut app, 'k');
    assert_eq!(app.status, None);
    assert_eq!(
        app.selected_row(),
        Some(app.rows[4]),
        "k moved onto the group header"
    );
}

#[test]
fn pause_and_refresh_keys() {
    let mut app = app_with(fixed_snapshot());
    assert_eq!(press_char(&mut app, ' '), Action::Pause(true));
    assert!(text(&render(&mut app, 100, 14)).contains("· PAUSED"));
    assert_eq!(press_char(&mut app, ' '), Action::Pause(false));
    assert!(!text(&render(&mut app, 100, 14)).contains("PAUSED"));
    assert_eq!(press_char(&mut app, 'r'), Action::Refresh);
    assert_eq!(press_char(&mut app, 'q'), Action::Quit);
    assert_eq!(
        press(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL),
        Action::Quit
    );
}

#[test]
fn navigation_keys() {
    let mut app = app_with(fixed_snapshot());
    let last = app.rows.len() - 1;
    press(&mut app, KeyCode::End, KeyModifiers::NONE);
    assert_eq!(app.table.selected(), Some(last));
    press_char(&mut app, 'g');
    assert_eq!(app.table.selected(), Some(0));
    press(&mut app, KeyCode::Char('G'), KeyModifiers::SHIFT);
    assert_eq!(app.table.selected(), Some(last));
    press(&mut app, KeyCode::Down, KeyModifiers::NONE);
    assert_eq!(
        app.table.selected(),
        Some(last),
        "Down stops at the last row"
    );
    press(&mut app, KeyCode::Home, KeyModifiers::NONE);
    press(&mut app, KeyCode::Up, KeyModifiers::NONE);
    assert_eq!(app.table.selected(), Some(0), "Up stops at the first row");
    press_char(&mut app, 'j');
    assert_eq!(selected_port(&app), Some(22));
    // A page is the drawn list height minus one.
    render(&mut app, 100, 12);
    let (_, height) = app.table_area.expect("drawn");
    press(&mut app, KeyCode::PageDown, KeyModifiers::NONE);
    assert_eq!(app.table.selected(), Some(1 + usize::from(height) - 1));
    press(&mut app, KeyCode::PageUp, KeyModifiers::NONE);
    assert_eq!(app.table.selected(), Some(1));
    // A click on the drawn row selects it.
    let terminal = render(&mut app, 100, 30);
    let (y, _) = line_with(&terminal, "192.0.2.10:8080");
    app.click(y);
    assert_eq!(selected_port(&app), Some(8080));
    let terminal = render(&mut app, 100, 30);
    assert!(modifiers_at(&terminal, 0, y).contains(Modifier::REVERSED));
}

// ---------------------------------------------------------------------------------------------
// Small terminals

#[test]
fn tiny_terminal_shows_a_placeholder() {
    let mut app = app_with(fixed_snapshot());
    let terminal = render(&mut app, 20, 5);
    let screen = text(&terminal);
    assert!(screen.contains("too small"), "{screen}");
    assert_eq!(app.table_area, None);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn one_by_one_terminal_does_not_panic() {
    let mut app = app_with(fixed_snapshot());
    render(&mut app, 1, 1);
    assert_eq!(app.table_area, None);
    // Also with every layer open.
    select_port(&mut app, 80);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    press_char(&mut app, '?');
    render(&mut app, 1, 1);
    render(&mut app, 0, 0);
}

#[test]
fn just_below_the_minimum_is_a_placeholder() {
    let mut app = app_with(fixed_snapshot());
    for (w, h) in [(39, 7), (39, 8), (40, 7)] {
        let terminal = render(&mut app, w, h);
        let screen = text(&terminal);
        assert!(screen.contains("too small"), "{w}×{h}:\n{screen}");
        assert!(!screen.contains("Well-known"), "{w}×{h}:\n{screen}");
    }
    insta::assert_snapshot!("placeholder_39x7", render(&mut app, 39, 7).backend());
}

#[test]
fn the_minimum_size_shows_the_view() {
    let mut app = app_with(fixed_snapshot());
    let terminal = render(&mut app, 40, 8);
    let screen = text(&terminal);
    assert!(!screen.contains("too small"), "{screen}");
    assert!(screen.contains("Well-known 0–1023"), "{screen}");
    assert!(app.table_area.is_some());
    insta::assert_snapshot!(terminal.backend());
    // Every layer at the minimum size, without a panic.
    select_port(&mut app, 80);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let details = text(&render(&mut app, 40, 8));
    assert!(details.contains("testhost"), "{details}");
    press_char(&mut app, '?');
    let help = text(&render(&mut app, 40, 8));
    assert!(help.contains("help"), "{help}");
}

/// Every column a row shows fits in the width it was given, at 40 columns too.
#[test]

fn regression_rows_overflow_at_40_columns() {
    let mut app = app_with(fixed_snapshot());
    let terminal = render(&mut app, 40, 20);
    let (_, titles) = line_with(&terminal, "PROTO");
    assert!(
        titles.ends_with("PROCESS"),
        "BUG: at 40 columns the column set needs 45 columns, so the PROCESS column is cut: {titles:?}\n{}",
        text(&terminal)
    );
}

// ---------------------------------------------------------------------------------------------
// Changes between refreshes

#[test]
fn new_and_gone_listeners_between_snapshots() {
    let a = fixed_snapshot();
    let mut b = fixed_snapshot();
    // 8080 goes away, 9090 appears.
    b.sockets.retain(|s| s.port != 8080);
    add(&mut b, listener(9090, 40, 7000, "grafana"));

    let mut app = app_with(a);
    assert!(rows(&app).iter().all(|r| !r.contains("(new)")));
    app.apply_snapshot(b.clone());
    let registered: Vec<String> = rows(&app)
        .into_iter()
        .skip_while(|r| !r.starts_with("# Registered"))
        .take_while(|r| !r.starts_with("# Dynamic"))
        .collect();
    assert_eq!(
        registered,
        [
            "# Registered 1024–49151",
            "tcp [::]:3000",
            "udp 0.0.0.0:5353",
            "tcp 127.0.0.1:5432",
            "tcp 192.0.2.10:8080 (gone)",
            "tcp 127.0.0.1:9090 (new)",
        ]
    );
    let gone = app
        .rows
        .iter()
        .filter(|r| {
            matches!(
                r,
                Row::Socket {
                    change: Change::Gone,
                    ..
                }
            )
        })
        .count();
    assert_eq!(gone, 1, "the removed listener is shown exactly once");
    // Counts are of what is there now.
    let terminal = render(&mut app, 100, 30);
    let screen = text(&terminal);
    assert!(screen.contains("▾ Registered 1024–49151 (4)"), "{screen}");
    let (new_y, _) = line_with(&terminal, "127.0.0.1:9090");
    let (gone_y, _) = line_with(&terminal, "192.0.2.10:8080");
    let (steady_y, _) = line_with(&terminal, "[::]:3000");
    assert!(modifiers_at(&terminal, 0, new_y).contains(Modifier::BOLD));
    assert!(modifiers_at(&terminal, 0, gone_y).contains(Modifier::CROSSED_OUT | Modifier::DIM));
    assert!(modifiers_at(&terminal, 0, steady_y).is_empty());
    insta::assert_snapshot!(terminal.backend());

    // The same snapshot again: the gone row is dropped, the new one still highlighted.
    app.apply_snapshot(b.clone());
    assert!(app.gone.is_empty());
    let labels = rows(&app);
    assert!(!labels.iter().any(|r| r.contains("8080")), "{labels:?}");
    assert!(labels.contains(&"tcp 127.0.0.1:9090 (new)".to_string()));
    // ... for three refreshes in all.
    app.apply_snapshot(b.clone());
    assert!(rows(&app).contains(&"tcp 127.0.0.1:9090 (new)".to_string()));
    app.apply_snapshot(b);
    assert!(rows(&app).contains(&"tcp 127.0.0.1:9090".to_string()));
}

#[test]
fn a_gone_socket_can_be_selected_and_inspected() {
    let mut b = fixed_snapshot();
    b.sockets.retain(|s| s.port != 8080);
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 8080);
    app.apply_snapshot(b.clone());
    // The selection stays on the vanished socket while it is still shown.
    assert_eq!(selected_port(&app), Some(8080));
    assert!(matches!(
        app.selected_row(),
        Some(Row::Socket {
            change: Change::Gone,
            ..
        })
    ));
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(text(&render(&mut app, 100, 40)).contains("tcp 192.0.2.10:8080 · LISTEN"));
    // Once it is dropped the selection falls on a neighbouring row; no panic.
    app.apply_snapshot(b);
    assert!(app.table.selected().is_some_and(|i| i < app.rows.len()));
    render(&mut app, 100, 40);
}

#[test]
fn selection_follows_the_socket_when_rows_are_inserted_above() {
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 5432);
    let before = app.table.selected().expect("selected");
    let mut b = fixed_snapshot();
    add(&mut b, listener(1080, 41, 7001, "socks"));
    add(&mut b, listener(2000, 42, 7002, "cisco"));
    add(&mut b, listener(443, 43, 7003, "caddy"));
    // Reverse the kernel's order too: the selection must follow the key, not the index.
    b.sockets.reverse();
    app.apply_snapshot(b);
    assert_eq!(selected_port(&app), Some(5432));
    assert_eq!(app.table.selected(), Some(before + 3));
    let terminal = render(&mut app, 100, 30);
    let (y, _) = line_with(&terminal, "127.0.0.1:5432");
    assert!(modifiers_at(&terminal, 0, y).contains(Modifier::REVERSED));
}

#[test]
fn hidden_owner_summary_in_the_header() {
    let mut app = app_with(fixed_snapshot());
    let terminal = render(&mut app, 100, 14);
    let screen = screen(&terminal);
    assert_eq!(
        screen[2],
        "1 socket has a hidden owner: not root: other users' processes cannot be inspected (run with sudo)"
    );
    insta::assert_snapshot!(terminal.backend());

    let mut app = app_with(snapshot_without_hidden());
    let screen = self::screen(&render(&mut app, 100, 14));
    assert!(screen[2].starts_with("PROTO"), "{screen:#?}");
    assert!(!screen.join("\n").contains("hidden owner"));
}

#[test]

fn regression_hidden_owner_summary_is_cut_at_80_columns() {
    let mut app = app_with(fixed_snapshot());
    let terminal = render(&mut app, 80, 24);
    let screen = text(&terminal);
    assert!(
        screen.contains("(run with sudo)"),
        "BUG: the hidden-owner line is cut at 80 columns, losing its advice:\n{screen}"
    );
}

#[test]
fn collection_error_replaces_the_summary_until_the_next_snapshot() {
    let mut app = app_with(fixed_snapshot());
    app.apply_error("cannot read the socket table: permission denied".into());
    let screen = screen(&render(&mut app, 100, 14));
    assert_eq!(screen[2], "cannot read the socket table: permission denied");
    app.apply_snapshot(fixed_snapshot());
    assert_eq!(app.error, None);
}

/// Turning a protocol off and on again asks the collector for it again; its sockets were
/// there all along, so they must not come back highlighted as new.
#[test]

fn regression_toggling_a_protocol_back_on_marks_its_sockets_new() {
    let full = fixed_snapshot();
    let mut tcp_only = fixed_snapshot();
    tcp_only.sockets.retain(|s| s.proto == Proto::Tcp);

    let mut app = app_with(full.clone());
    assert!(matches!(press_char(&mut app, 'u'), Action::Reconfigure(_)));
    // What the collector sends for the new tables.
    app.apply_snapshot(tcp_only);
    assert!(matches!(press_char(&mut app, 'u'), Action::Reconfigure(_)));
    // Until the collector answers, the UDP listeners come back from `gone`: crossed out.
    let flagged = |app: &App, mark: &str| -> Vec<String> {
        rows(app)
            .into_iter()
            .filter(|r| r.ends_with(mark))
            .collect()
    };
    let gone = flagged(&app, "(gone)");
    app.apply_snapshot(full);
    let new = flagged(&app, "(new)");
    assert!(
        gone.is_empty() && new.is_empty(),
        "BUG: after u, u the UDP listeners that never went away are shown as gone {gone:?} \
         until the next snapshot, then as new {new:?} for three refreshes"
    );
}
