//! The live view without a terminal: a fixed snapshot and key events go into `App::update` (the
//! same entry point the event loop uses), the frame is drawn into a `TestBackend`, and the
//! screen is compared as text (insta) and checked cell by cell where only a style tells the
//! difference (selection, new and gone rows).

#[path = "common/fixtures.rs"]
mod fixtures;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use fixtures::{
    fixed_host as fixed_snapshot, listen, process, without_hidden as snapshot_without_hidden,
};
use portscope::model::{Owner, Process, Proto, RangeGroup, Selection, Snapshot, SockState, Socket};
use portscope::tui::app::{App, Change, Effect, Event, Overlay, Row, SortKey};
use portscope::tui::keys;
use portscope::tui::render::{Theme, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;
use unicode_width::UnicodeWidthStr;

const THEME: Theme = Theme { color: false };

fn all_on() -> Selection {
    Selection::LISTENERS
}

fn new_app() -> App {
    App::new(all_on(), Duration::from_secs(2))
}

fn app_with(snapshot: Snapshot) -> App {
    let mut app = new_app();
    feed(&mut app, snapshot);
    app
}

/// A snapshot from the collector, through the one entry point.
fn feed(app: &mut App, snapshot: Snapshot) {
    assert!(matches!(
        app.update(Event::Snapshot(Box::new(snapshot))),
        Effect::None
    ));
}

fn listener(port: u16, inode: u64, pid: u32, name: &str) -> (Socket, Process) {
    (
        listen(
            Proto::Tcp,
            "127.0.0.1",
            port,
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

/// What an effect is, for assertions.
fn effect_name(effect: &Effect) -> &'static str {
    match effect {
        Effect::None => "none",
        Effect::Quit(_) => "quit",
        Effect::Fail(_) => "fail",
        Effect::Refresh => "refresh",
        Effect::Reconfigure(_) => "reconfigure",
        Effect::Pause(_) => "pause",
        Effect::PlanStop(_) => "plan-stop",
        Effect::ExecuteStop(_) => "execute-stop",
    }
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

/// A key through `App::update`, exactly as the event loop delivers it.
fn press(app: &mut App, code: KeyCode, modifiers: KeyModifiers) -> Effect {
    app.update(Event::Key(KeyEvent::new(code, modifiers)))
}

fn press_char(app: &mut App, c: char) -> Effect {
    press(app, KeyCode::Char(c), KeyModifiers::NONE)
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press_char(app, c);
    }
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
    app.selected = index;
}

fn selected_port(app: &App) -> Option<u16> {
    app.selected_socket().map(|s| s.port)
}

const FULL_ROWS: [&str; 13] = [
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
    "tcp 0.0.0.0:55555",
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
        "▾ Dynamic/private 49152–65535 (3)",
    ] {
        assert!(screen.contains(title), "{title} missing:\n{screen}");
    }
    assert!(screen.contains("testhost · 11:06:40 UTC · every 2s"));
    // The first row (a group header) is selected: drawn reversed.
    let (y, _) = line_with(&terminal, "Well-known 0–1023 (3)");
    assert!(modifiers_at(&terminal, 0, y).contains(Modifier::REVERSED));
    // The hostile name is escaped on screen.
    assert!(screen.contains("evil\\e[31m"), "{screen}");
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

/// The row names the holder heading the process tree (the master), not the lowest pid, with
/// the master's uptime.
#[test]
fn a_shared_listener_names_its_lead_holder() {
    let mut snapshot = fixed_snapshot();
    // A worker respawned with a pid below its master's.
    let mut worker = process(
        90,
        "nginx",
        &["nginx: worker process"],
        (33, "www-data"),
        400,
    );
    worker.start_time = Some(fixtures::T0 - 10);
    snapshot.processes.insert(90, worker);
    for s in snapshot.sockets.iter_mut().filter(|s| s.port == 80) {
        s.owner = Owner::Known(vec![90, 400, 401]);
    }
    let mut app = app_with(snapshot);
    let screen = text(&render(&mut app, 100, 30));
    let (_, line) = line_with(&render(&mut app, 100, 30), "0.0.0.0:80");
    assert!(line.contains("400 +2"), "{line}\n{screen}");
    assert!(line.contains("1h 6m"), "the master's uptime: {line}");
    assert!(line.contains("root,www-data"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// Folding, filtering, sorting

#[test]
fn folding_a_group_hides_its_rows() {
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 8080);
    press(&mut app, KeyCode::Home, KeyModifiers::NONE);
    assert_eq!(app.selected, 0);
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
    assert!(matches!(app.overlay, Overlay::Filter));
    type_text(&mut app, "5432");
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

    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(matches!(app.overlay, Overlay::None));
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
    assert!(matches!(app.overlay, Overlay::None));
    assert_eq!(app.filter, "");
    assert_eq!(rows(&app), FULL_ROWS);
}

/// Scrolled to the end, then filtered: the matches are on screen, not an empty page below them.
#[test]
fn filtering_while_scrolled_down_shows_the_matches() {
    let mut snapshot = fixed_snapshot();
    for i in 0..40u16 {
        add(
            &mut snapshot,
            listener(20000 + i, 100 + u64::from(i), 8000 + u32::from(i), "filler"),
        );
    }
    let mut app = app_with(snapshot);
    render(&mut app, 100, 14);
    press_char(&mut app, 'G');
    render(&mut app, 100, 14);
    assert!(app.offset > 0, "scrolled down");
    press_char(&mut app, '/');
    type_text(&mut app, "5432");
    let terminal = render(&mut app, 100, 14);
    let screen = text(&terminal);
    assert!(screen.contains("127.0.0.1:5432"), "{screen}");
    assert!(screen.contains("▾ Well-known 0–1023 (0)"), "{screen}");
    assert_eq!(app.offset, 0, "the four rows left fit on one page");
}

#[test]
fn filter_typed_then_cancelled_restores_everything() {
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 3000);
    press_char(&mut app, '/');
    type_text(&mut app, "3000");
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
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(app.filter, "");
    assert!(matches!(app.overlay, Overlay::None));
    assert_eq!(rows(&app), FULL_ROWS);
    assert_eq!(selected_port(&app), Some(3000));
    let screen = text(&render(&mut app, 100, 30));
    assert!(!screen.contains("filter \""), "{screen}");
    assert!(
        screen.contains("listeners: 3 well-known · 4 registered · 3 dynamic"),
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
    // nginx, sshd, systemd-resolved
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
    assert_eq!(group_ports(&app, "Dynamic"), [52000, 55555, 51820]);
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
// Protocol and family keys: "only", as --tcp and --udp mean

#[test]
fn t_and_u_show_only_that_protocol() {
    let mut app = app_with(fixed_snapshot());
    let effect = press_char(&mut app, 't');
    let Effect::Reconfigure(selection) = effect else {
        panic!(
            "t must ask the collector for new tables, got {}",
            effect_name(&effect)
        );
    };
    assert!(selection.tcp && !selection.udp && selection.ipv4 && selection.ipv6);
    assert!(rows(&app).iter().all(|r| !r.starts_with("udp")));
    let terminal = render(&mut app, 100, 14);
    let screen = text(&terminal);
    assert!(screen.contains("· only tcp v4 v6"), "{screen}");
    insta::assert_snapshot!(terminal.backend());

    // t again: both protocols.
    assert!(matches!(press_char(&mut app, 't'), Effect::Reconfigure(_)));
    assert_eq!(app.selection, all_on());
    assert_eq!(rows(&app), FULL_ROWS);

    // u: only UDP; then t switches straight to only TCP.
    assert!(matches!(press_char(&mut app, 'u'), Effect::Reconfigure(_)));
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
    assert!(screen_text(&mut app).contains("listeners: 1 well-known · 1 registered · 1 dynamic"));
    press_char(&mut app, 't');
    assert!(app.selection.tcp && !app.selection.udp);
    press_char(&mut app, 't');
    assert_eq!(app.selection, all_on());
}

fn screen_text(app: &mut App) -> String {
    text(&render(app, 100, 14))
}

#[test]
fn four_and_six_show_only_that_family() {
    let mut app = app_with(fixed_snapshot());
    assert!(matches!(press_char(&mut app, '6'), Effect::Reconfigure(_)));
    assert!(!app.selection.ipv4 && app.selection.ipv6);
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
    assert!(screen_text(&mut app).contains("· only tcp udp v6"));
    assert!(matches!(press_char(&mut app, '4'), Effect::Reconfigure(_)));
    assert!(app.selection.ipv4 && !app.selection.ipv6);
    assert!(rows(&app).iter().all(|r| !r.contains('[')));
    press_char(&mut app, '4');
    assert_eq!(app.selection, all_on());
    assert!(!screen_text(&mut app).contains("· only"));
}

#[test]
fn all_sockets_adds_the_state_column_and_connections() {
    let mut app = app_with(fixed_snapshot());
    assert!(matches!(press_char(&mut app, 'a'), Effect::Reconfigure(t) if t.all_states));
    assert!(rows(&app).contains(&"tcp 192.0.2.10:22".to_string()));
    let terminal = render(&mut app, 100, 30);
    let screen = text(&terminal);
    assert!(screen.contains("STATE"), "{screen}");
    assert!(screen.contains("ESTABLISHED"), "{screen}");
    assert!(screen.contains("sockets: 4 well-known"), "{screen}");
    insta::assert_snapshot!(terminal.backend());
}

/// Turning a protocol off and on again asks the collector for it again; its sockets were
/// there all along, so they must come back neither crossed out nor highlighted as new.
#[test]
fn a_protocol_shown_again_is_not_new() {
    let full = fixed_snapshot();
    let mut tcp_only = fixed_snapshot();
    tcp_only.sockets.retain(|s| s.proto == Proto::Tcp);

    let mut app = app_with(full.clone());
    assert!(matches!(press_char(&mut app, 't'), Effect::Reconfigure(_)));
    // What the collector sends for the new tables.
    feed(&mut app, tcp_only);
    assert!(matches!(press_char(&mut app, 't'), Effect::Reconfigure(_)));
    let flagged = |app: &App, mark: &str| -> Vec<String> {
        rows(app)
            .into_iter()
            .filter(|r| r.ends_with(mark))
            .collect()
    };
    let gone = flagged(&app, "(gone)");
    feed(&mut app, full);
    let new = flagged(&app, "(new)");
    assert!(gone.is_empty(), "shown as gone: {gone:?}");
    assert!(new.is_empty(), "shown as new: {new:?}");
}

// ---------------------------------------------------------------------------------------------
// Details, help, status

#[test]
fn details_pane_shows_every_holder_and_the_peers() {
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 80);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(app.details);
    // Tall enough for three holders and the connections.
    let terminal = render(&mut app, 100, 72);
    let screen = text(&terminal);
    assert!(screen.contains("tcp 0.0.0.0:80 · LISTEN"), "{screen}");
    for pid in ["pid 400  nginx", "pid 401  nginx", "pid 402  nginx"] {
        assert!(screen.contains(pid), "{pid} missing:\n{screen}");
    }
    assert!(
        screen.contains("5 established connection(s) accepted here"),
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

    // Esc closes the pane, and does not quit.
    assert!(app.has_open_layer());
    assert!(matches!(
        press(&mut app, KeyCode::Esc, KeyModifiers::NONE),
        Effect::None
    ));
    assert!(!app.details);
    assert!(!text(&render(&mut app, 100, 72)).contains("Enter/Esc closes"));
}

/// The pane takes the room its text needs, so at an ordinary size a listener with one holder
/// shows its connection too.
#[test]
fn details_pane_at_100x30_shows_the_connections() {
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 22);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let terminal = render(&mut app, 100, 30);
    let screen = text(&terminal);
    assert!(screen.contains("pid 900  sshd"), "{screen}");
    for wanted in [
        "1 established connection(s) accepted here",
        "from 198.51.100.7:50123",
    ] {
        assert!(screen.contains(wanted), "{wanted:?} cut off:\n{screen}");
    }
}

/// A 4 KiB command line wraps inside the pane (once, cached), cut at the kernel-side cap.
#[test]
fn a_long_command_line_wraps_in_the_pane() {
    let mut snapshot = fixed_snapshot();
    let long = "x".repeat(4000);
    if let Some(p) = snapshot.processes.get_mut(&900) {
        p.cmdline = vec![portscope::model::SafeText::new(&long)];
        p.cmdline_cut = Some(Some(2_000_000));
    }
    let mut app = app_with(snapshot);
    select_port(&mut app, 22);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let screen = text(&render(&mut app, 100, 40));
    assert!(screen.contains("xxxxxxxx"), "{screen}");
    assert!(app.details_cache.is_some(), "the wrapped text is cached");
    let cached = app.details_cache.as_ref().map(|(_, lines)| lines.len());
    let text_again = text(&render(&mut app, 100, 40));
    assert_eq!(screen, text_again);
    assert_eq!(cached, app.details_cache.as_ref().map(|(_, l)| l.len()));
    let all: String = app
        .details_cache
        .as_ref()
        .map(|(_, lines)| lines.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    assert!(
        all.contains("(2000000 bytes in all)"),
        "the true length is said"
    );
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
    assert!(screen.contains("inode 14 · uid 1001 (alice)"), "{screen}");
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
    assert!(matches!(app.overlay, Overlay::Help));
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
    assert!(matches!(app.overlay, Overlay::None));
    press(&mut app, KeyCode::F(1), KeyModifiers::NONE);
    assert!(matches!(app.overlay, Overlay::Help));
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    assert!(matches!(app.overlay, Overlay::None));
}

/// The popup is as tall as its wrapped text, so its last lines show at 80 columns too.
#[test]
fn help_overlay_keeps_its_last_lines_when_lines_wrap() {
    let mut app = app_with(fixed_snapshot());
    press_char(&mut app, '?');
    let terminal = render(&mut app, 80, 40);
    let screen = text(&terminal);
    for wanted in [
        "Dynamic/private 49152–65535",
        "may also be handed to outgoing connections",
    ] {
        assert!(screen.contains(wanted), "{wanted:?} cut off:\n{screen}");
    }
}

/// At 80×24 the help is taller than the screen: the moving keys scroll it (and not the table
/// behind it), the title says there is more, and a wrapped line starts under its column.
#[test]
fn help_overlay_scrolls_where_it_does_not_fit() {
    let mut app = app_with(fixed_snapshot());
    let selected = app.selected;
    press_char(&mut app, '?');
    let screen = text(&render(&mut app, 80, 24));
    assert!(screen.contains("help · ↓ more"), "{screen}");
    assert!(!screen.contains("outgoing connections"), "{screen}");
    assert!(
        screen.contains("│                            CAP_NET_BIND_SERVICE"),
        "a wrapped line starts under its column:\n{screen}"
    );
    press(&mut app, KeyCode::End, KeyModifiers::NONE);
    let screen = text(&render(&mut app, 80, 24));
    for wanted in [
        "Dynamic/private 49152–65535",
        "may also be handed to outgoing connections",
        "help · ↑ more",
    ] {
        assert!(screen.contains(wanted), "{wanted:?} after End:\n{screen}");
    }
    assert_eq!(app.selected, selected, "the table behind did not move");
    press_char(&mut app, 'k');
    let screen = text(&render(&mut app, 80, 24));
    assert!(screen.contains("help · ↑↓ more"), "{screen}");
    press(&mut app, KeyCode::Home, KeyModifiers::NONE);
    let screen = text(&render(&mut app, 80, 24));
    assert!(screen.contains("↑ ↓  j k"), "{screen}");
    // Where it fits, nothing scrolls and the title says only how to close it.
    press(&mut app, KeyCode::End, KeyModifiers::NONE);
    let screen = text(&render(&mut app, 100, 40));
    assert!(screen.contains("help · ? or Esc closes"), "{screen}");
    assert!(screen.contains("↑ ↓  j k"), "{screen}");
    assert_eq!(app.selected, selected);
}

/// At 40 columns the range entries put their text under the title: every word of it shows
/// whole, none cut at the box's edge.
#[test]
fn help_overlay_at_40_columns_cuts_no_word() {
    let mut app = app_with(fixed_snapshot());
    press_char(&mut app, '?');
    let screen = text(&render(&mut app, 40, 80));
    for group in RangeGroup::ALL {
        for word in group.explain().split_whitespace() {
            assert!(screen.contains(word), "{word:?} cut:\n{screen}");
        }
    }
}

#[test]
fn kill_key_explains_what_it_cannot_stop() {
    let mut app = app_with(fixed_snapshot());
    // A socket whose holder cannot be seen cannot be stopped: K says why, in the footer.
    select_port(&mut app, 5432);
    assert!(matches!(
        press(&mut app, KeyCode::Char('K'), KeyModifiers::SHIFT),
        Effect::None
    ));
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
            None => app.selected = 0,
        }
        assert!(matches!(
            press(&mut app, KeyCode::Char('K'), KeyModifiers::SHIFT),
            Effect::None
        ));
        assert!(app.status.is_some(), "K on {port:?} says nothing");
    }
    // On a listener with a known holder K asks for a plan of that socket.
    select_port(&mut app, 3000);
    let effect = press(&mut app, KeyCode::Char('K'), KeyModifiers::SHIFT);
    assert!(
        matches!(&effect, Effect::PlanStop(s) if s.port == 3000),
        "{}",
        effect_name(&effect)
    );
    // Lower-case k moves up instead, and clears the message.
    app.status = Some("old".into());
    press_char(&mut app, 'k');
    assert_eq!(app.status, None);
    assert_eq!(
        app.selected_row(),
        Some(app.rows[4]),
        "k moved onto the group header"
    );
}

/// A real process: K plans (pidfd open, identity checked), the dialog asks, only `y` sends.
#[cfg(target_os = "linux")]
#[test]
fn the_stop_dialog_holds_its_plan_and_only_y_sends() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("start sleep");
    let pid = child.id();
    let ticks = start_ticks(pid);
    let snapshot = host_with_holder(pid, ticks);
    let mut app = app_with(snapshot);
    select_port(&mut app, 45678);
    for (answer, sends) in [
        (KeyCode::Enter, false),
        (KeyCode::Char('n'), false),
        (KeyCode::Esc, false),
        (KeyCode::Char('y'), true),
    ] {
        let socket = match press(&mut app, KeyCode::Char('K'), KeyModifiers::SHIFT) {
            Effect::PlanStop(socket) => socket,
            other => panic!("K: {}", effect_name(&other)),
        };
        let plan = portscope::stop::plan(
            app.snapshot.as_ref().expect("snapshot"),
            &[&socket],
            &Default::default(),
        );
        assert_eq!(
            plan.targets.iter().map(|t| t.pid).collect::<Vec<_>>(),
            [pid]
        );
        assert!(matches!(
            app.update(Event::StopPlanned(Box::new(plan))),
            Effect::None
        ));
        assert!(matches!(app.overlay, Overlay::ConfirmStop(_)));
        let screen = text(&render(&mut app, 100, 30));
        assert!(screen.contains(&format!("pid {pid}  sleeper")), "{screen}");
        let effect = press(&mut app, answer, KeyModifiers::NONE);
        assert_eq!(
            matches!(effect, Effect::ExecuteStop(_)),
            sends,
            "{answer:?}"
        );
        assert!(matches!(app.overlay, Overlay::None));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The snapshot said pid P started at tick T; a process with pid P that started later is
/// another process (the pid was reused): the plan refuses it and nothing is asked.
#[cfg(target_os = "linux")]
#[test]
fn a_pid_reused_since_the_snapshot_is_never_planned() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("start sleep");
    let pid = child.id();
    let snapshot = host_with_holder(pid, start_ticks(pid) - 1);
    let mut app = app_with(snapshot);
    select_port(&mut app, 45678);
    let Effect::PlanStop(socket) = press(&mut app, KeyCode::Char('K'), KeyModifiers::SHIFT) else {
        panic!("K plans");
    };
    let plan = portscope::stop::plan(
        app.snapshot.as_ref().expect("snapshot"),
        &[&socket],
        &Default::default(),
    );
    assert!(plan.targets.is_empty(), "a reused pid was planned");
    app.update(Event::StopPlanned(Box::new(plan)));
    assert!(matches!(app.overlay, Overlay::None));
    let status = app.status.clone().unwrap_or_default();
    assert!(status.contains("pid was reused"), "{status}");
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(target_os = "linux")]
fn start_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 1..];
    rest.split_whitespace()
        .nth(19)
        .and_then(|t| t.parse().ok())
        .expect("starttime")
}

#[cfg(target_os = "linux")]
fn host_with_holder(pid: u32, ticks: u64) -> Snapshot {
    let mut snapshot = fixed_snapshot();
    let (socket, mut holder) = listener(45678, 777, pid, "sleeper");
    holder.start_ticks = ticks;
    add(&mut snapshot, (socket, holder));
    snapshot.sockets.sort_by_key(|s| s.port);
    snapshot
}

#[test]
fn pause_refresh_and_quit_keys() {
    let mut app = app_with(fixed_snapshot());
    assert!(matches!(press_char(&mut app, ' '), Effect::Pause(true)));
    assert!(text(&render(&mut app, 100, 14)).contains("· PAUSED"));
    assert!(matches!(press_char(&mut app, ' '), Effect::Pause(false)));
    assert!(!text(&render(&mut app, 100, 14)).contains("PAUSED"));
    assert!(matches!(press_char(&mut app, 'r'), Effect::Refresh));
    assert!(matches!(press_char(&mut app, 'q'), Effect::Quit(0)));
    assert!(matches!(
        press(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL),
        Effect::Quit(0)
    ));
}

/// Esc closes and clears, never quits: with nothing open, after keeping a filter, after a K
/// message. q and Ctrl-C quit, Ctrl-C even while typing a filter.
#[test]
fn esc_never_quits() {
    let mut app = app_with(fixed_snapshot());
    assert!(matches!(
        press(&mut app, KeyCode::Esc, KeyModifiers::NONE),
        Effect::None
    ));
    press_char(&mut app, '/');
    type_text(&mut app, "80");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(matches!(
        press(&mut app, KeyCode::Esc, KeyModifiers::NONE),
        Effect::None
    ));
    assert_eq!(app.filter, "80", "Esc with nothing open keeps the filter");
    press_char(&mut app, '/');
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    select_port(&mut app, 5432);
    press_char(&mut app, 'K');
    assert!(matches!(
        press(&mut app, KeyCode::Esc, KeyModifiers::NONE),
        Effect::None
    ));
    press_char(&mut app, '/');
    assert!(matches!(
        press(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL),
        Effect::Quit(0)
    ));
}

#[test]
fn signals_and_a_failed_collector_end_the_view() {
    let mut app = app_with(fixed_snapshot());
    assert!(matches!(app.update(Event::Signal(15)), Effect::Quit(143)));
    assert!(matches!(app.update(Event::Signal(1)), Effect::Quit(129)));
    let effect = app.update(Event::CollectorFailed("boom".into()));
    assert!(matches!(effect, Effect::Fail(ref m) if m == "boom"));
}

#[test]
fn navigation_keys() {
    let mut app = app_with(fixed_snapshot());
    let last = app.rows.len() - 1;
    press(&mut app, KeyCode::End, KeyModifiers::NONE);
    assert_eq!(app.selected, last);
    press_char(&mut app, 'g');
    assert_eq!(app.selected, 0);
    press(&mut app, KeyCode::Char('G'), KeyModifiers::SHIFT);
    assert_eq!(app.selected, last);
    press(&mut app, KeyCode::Down, KeyModifiers::NONE);
    assert_eq!(app.selected, last, "Down stops at the last row");
    press(&mut app, KeyCode::Home, KeyModifiers::NONE);
    press(&mut app, KeyCode::Up, KeyModifiers::NONE);
    assert_eq!(app.selected, 0, "Up stops at the first row");
    press_char(&mut app, 'j');
    assert_eq!(selected_port(&app), Some(22));
    // A page is the drawn list height minus one.
    render(&mut app, 100, 12);
    let (_, height) = app.table_area.expect("drawn");
    press(&mut app, KeyCode::PageDown, KeyModifiers::NONE);
    assert_eq!(app.selected, 1 + usize::from(height) - 1);
    press(&mut app, KeyCode::PageUp, KeyModifiers::NONE);
    assert_eq!(app.selected, 1);
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
fn rows_fit_at_40_columns() {
    let mut app = app_with(fixed_snapshot());
    let terminal = render(&mut app, 40, 20);
    let (_, titles) = line_with(&terminal, "PROTO");
    assert!(
        titles.ends_with("PROCESS"),
        "{titles:?}\n{}",
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
    feed(&mut app, b.clone());
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
    feed(&mut app, b.clone());
    assert!(app.gone.is_empty());
    let labels = rows(&app);
    assert!(!labels.iter().any(|r| r.contains("8080")), "{labels:?}");
    assert!(labels.contains(&"tcp 127.0.0.1:9090 (new)".to_string()));
    // ... for three refreshes in all.
    feed(&mut app, b.clone());
    assert!(rows(&app).contains(&"tcp 127.0.0.1:9090 (new)".to_string()));
    feed(&mut app, b);
    assert!(rows(&app).contains(&"tcp 127.0.0.1:9090".to_string()));
}

#[test]
fn a_gone_socket_can_be_selected_and_inspected() {
    let mut b = fixed_snapshot();
    b.sockets.retain(|s| s.port != 8080);
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 8080);
    feed(&mut app, b.clone());
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
    feed(&mut app, b);
    assert!(app.selected < app.rows.len());
    render(&mut app, 100, 40);
}

#[test]
fn selection_follows_the_socket_when_rows_are_inserted_above() {
    let mut app = app_with(fixed_snapshot());
    select_port(&mut app, 5432);
    let before = app.selected;
    let mut b = fixed_snapshot();
    add(&mut b, listener(1080, 41, 7001, "socks"));
    add(&mut b, listener(2000, 42, 7002, "cisco"));
    add(&mut b, listener(443, 43, 7003, "caddy"));
    // Reverse the kernel's order too: the selection must follow the key, not the index.
    b.sockets.reverse();
    feed(&mut app, b);
    assert_eq!(selected_port(&app), Some(5432));
    assert_eq!(app.selected, before + 3);
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

/// The notice wraps instead of being cut, so its advice stays readable at 80 columns.
#[test]
fn hidden_owner_summary_wraps_at_80_columns() {
    let mut app = app_with(fixed_snapshot());
    let terminal = render(&mut app, 80, 24);
    let screen = text(&terminal);
    assert!(screen.contains("(run with sudo)"), "{screen}");
}

/// On a short screen the notice takes one row, cut with an ellipsis, and leaves the rows to
/// the list (at 40×10 it took three of the ten).
#[test]
fn hidden_owner_summary_takes_one_row_on_a_short_screen() {
    let mut app = app_with(fixed_snapshot());
    let screen = self::screen(&render(&mut app, 40, 10));
    assert!(
        screen[2].starts_with("1 socket has a hidden owner"),
        "{screen:#?}"
    );
    assert!(screen[2].ends_with('…'), "{screen:#?}");
    assert!(
        screen[3].starts_with("PROTO"),
        "the list starts below: {screen:#?}"
    );
}

#[test]
fn collection_error_replaces_the_summary_until_the_next_snapshot() {
    let mut app = app_with(fixed_snapshot());
    let error = "cannot read the socket table: permission denied";
    assert!(matches!(
        app.update(Event::CollectError(error.into())),
        Effect::None
    ));
    let screen = screen(&render(&mut app, 100, 14));
    assert_eq!(screen[2], error);
    feed(&mut app, fixed_snapshot());
    assert_eq!(app.error, None);
}

/// An unreadable table is a warning in the header, with the other tables' rows shown.
#[test]
fn an_unreadable_table_is_named_in_the_header() {
    let mut snapshot = fixed_snapshot();
    snapshot.sockets.retain(|s| s.proto == Proto::Tcp);
    snapshot.table_errors.push(portscope::model::TableError {
        netns: 0,
        proto: Proto::Udp,
        family: portscope::model::Family::Ipv4,
        message:
            "cannot read the socket table udp/ipv4: the kernel has no sock_diag handler for it"
                .into(),
        errno: Some(2),
    });
    let mut app = app_with(snapshot);
    let screen = text(&render(&mut app, 100, 16));
    assert!(screen.contains("no sock_diag handler"), "{screen}");
    assert!(screen.contains("0.0.0.0:80"), "{screen}");
}

/// A refresh that changed nothing moves the clock and ages the highlights without a rebuild
/// of the picture; a gone row goes.
#[test]
fn an_unchanged_refresh_moves_the_clock_and_ages_highlights() {
    let mut b = fixed_snapshot();
    b.sockets.retain(|s| s.port != 8080);
    add(&mut b, listener(9090, 40, 7000, "grafana"));
    let mut app = app_with(fixed_snapshot());
    feed(&mut app, b);
    assert!(rows(&app).contains(&"tcp 192.0.2.10:8080 (gone)".to_string()));
    let later = std::time::UNIX_EPOCH + Duration::from_secs(fixtures::T0 + 60);
    app.update(Event::Unchanged(later, None));
    assert!(
        !rows(&app).iter().any(|r| r.contains("8080")),
        "gone rows go"
    );
    assert!(text(&render(&mut app, 100, 14)).contains("11:07:40 UTC"));
    for _ in 0..3 {
        app.update(Event::Unchanged(later, None));
    }
    assert!(
        rows(&app).contains(&"tcp 127.0.0.1:9090".to_string()),
        "no longer new"
    );
    let counts = std::collections::BTreeMap::from([(
        13,
        portscope::model::Connections {
            count: 7,
            peers: Vec::new(),
        },
    )]);
    app.update(Event::Unchanged(later, Some(counts)));
    let (_, line) = line_with(&render(&mut app, 100, 30), "[::]:3000");
    assert!(line.trim_end().ends_with('7'), "{line}");
}

/// Refreshes spaced out for a huge table are said in the header.

#[test]
fn a_slowed_pace_is_shown_in_the_header() {
    let mut app = app_with(fixed_snapshot());
    app.update(Event::Pace(Some(Duration::from_millis(2200))));
    let screen = text(&render(&mut app, 120, 14));
    let sockets = fixed_snapshot().sockets.len();
    let said = format!("every 2s (slowed to 2.2s for {sockets} sockets) · sort port");
    assert!(screen.contains(&said), "{screen}");

    app.update(Event::Pace(None));
    assert!(!text(&render(&mut app, 120, 14)).contains("slowed"));
}

/// A 100,000-row table: keys only move the selection, and a frame draws only the rows on
/// screen, so neither depends on the table's size.
#[test]
fn a_huge_table_draws_only_the_rows_on_screen() {
    let mut snapshot = fixed_snapshot();
    snapshot.sockets.clear();
    for i in 0..100_000u32 {
        let port = 1024 + (i % 60_000) as u16;
        let mut socket = listen(
            Proto::Tcp,
            "127.0.0.1",
            port,
            1_000 + u64::from(i),
            1000,
            Owner::Known(vec![9]),
        );
        socket.local_addr = fixtures::addr(&format!("127.{}.{}.1", i / 60_000, 0));
        snapshot.sockets.push(socket);
    }
    snapshot
        .processes
        .insert(9, process(9, "many", &["many"], (1000, "dev"), 1));
    snapshot.sockets.sort_by_key(|s| (s.port, s.local_addr));
    let mut app = app_with(snapshot);
    assert_eq!(app.rows.len(), 100_003);
    let terminal = render(&mut app, 100, 30);
    let before = text(&terminal);
    press_char(&mut app, 'G');
    let terminal = render(&mut app, 100, 30);
    let after = text(&terminal);
    assert_ne!(before, after);
    assert_eq!(app.selected, 100_002);
    assert!(app.offset > 99_000);
}
