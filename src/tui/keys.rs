//! Keys as data: one table from key to command; `App::update` then has one `match`.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Quit,
    /// Close the open pane or overlay; never quits.
    Close,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Help,
    StartFilter,
    CycleSort,
    Pause,
    Refresh,
    Kill,
    OnlyTcp,
    OnlyUdp,
    OnlyIpv4,
    OnlyIpv6,
    ToggleAll,
    /// Show one network namespace, then the next; after the last, all again.
    NextNetns,
}

/// Keys typed while the `/` filter is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterInput {
    Char(char),
    Backspace,
    Accept,
    Cancel,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;

/// (key, modifiers, command). Letters that differ by case carry SHIFT as terminals report it.
const KEYMAP: &[(KeyCode, KeyModifiers, Command)] = &[
    (KeyCode::Char('q'), NONE, Command::Quit),
    (KeyCode::Char('c'), KeyModifiers::CONTROL, Command::Quit),
    (KeyCode::Esc, NONE, Command::Close),
    (KeyCode::Up, NONE, Command::Up),
    (KeyCode::Char('k'), NONE, Command::Up),
    (KeyCode::Down, NONE, Command::Down),
    (KeyCode::Char('j'), NONE, Command::Down),
    (KeyCode::PageUp, NONE, Command::PageUp),
    (KeyCode::PageDown, NONE, Command::PageDown),
    (KeyCode::Home, NONE, Command::Home),
    (KeyCode::Char('g'), NONE, Command::Home),
    (KeyCode::End, NONE, Command::End),
    (KeyCode::Char('G'), SHIFT, Command::End),
    (KeyCode::Char('G'), NONE, Command::End),
    (KeyCode::Enter, NONE, Command::Enter),
    (KeyCode::Char('?'), SHIFT, Command::Help),
    (KeyCode::Char('?'), NONE, Command::Help),
    (KeyCode::F(1), NONE, Command::Help),
    (KeyCode::Char('/'), NONE, Command::StartFilter),
    (KeyCode::Char('s'), NONE, Command::CycleSort),
    (KeyCode::Char(' '), NONE, Command::Pause),
    (KeyCode::Char('r'), NONE, Command::Refresh),
    (KeyCode::Char('K'), SHIFT, Command::Kill),
    (KeyCode::Char('K'), NONE, Command::Kill),
    (KeyCode::Char('t'), NONE, Command::OnlyTcp),
    (KeyCode::Char('u'), NONE, Command::OnlyUdp),
    (KeyCode::Char('4'), NONE, Command::OnlyIpv4),
    (KeyCode::Char('6'), NONE, Command::OnlyIpv6),
    (KeyCode::Char('a'), NONE, Command::ToggleAll),
    (KeyCode::Char('n'), NONE, Command::NextNetns),
];

/// The command for a key in the normal view, if any.
pub fn command_for(key: KeyEvent) -> Option<Command> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    KEYMAP
        .iter()
        .find(|(code, modifiers, _)| *code == key.code && *modifiers == key.modifiers)
        .map(|(_, _, command)| *command)
}

/// What a key means while the `/` filter is being typed.
pub fn filter_input(key: KeyEvent) -> Option<FilterInput> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    match key.code {
        KeyCode::Enter => Some(FilterInput::Accept),
        KeyCode::Esc => Some(FilterInput::Cancel),
        KeyCode::Backspace => Some(FilterInput::Backspace),
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            Some(FilterInput::Char(c))
        }
        _ => None,
    }
}

/// Ctrl-C quits from anywhere, even while typing a filter or answering the stop dialog.
pub fn is_interrupt(key: KeyEvent) -> bool {
    key.kind != KeyEventKind::Release
        && key.code == KeyCode::Char('c')
        && key.modifiers.contains(KeyModifiers::CONTROL)
}

/// The footer's key hints.
pub const HINTS: &[(&str, &str)] = &[
    ("q", "quit"),
    ("?", "help"),
    ("/", "filter"),
    ("⏎", "details"),
    ("s", "sort"),
    ("␣", "pause"),
    ("a", "all"),
    ("t/u", "only tcp/udp"),
    ("4/6", "only v4/v6"),
    ("n", "netns"),
    ("r", "refresh"),
    ("K", "kill"),
];

/// The help overlay: every key with what it does.
pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move"),
    ("PgUp PgDn", "move a page"),
    ("Home End  g G", "first / last row"),
    ("Enter", "details of the listener; fold a group header"),
    ("/", "filter by port, address, process or user (Esc clears)"),
    ("s", "sort: port, process, pid, user"),
    ("t  u", "only TCP / only UDP (again: both)"),
    ("4  6", "only IPv4 / only IPv6 (again: both)"),
    ("a", "all sockets, not only listeners"),
    (
        "n",
        "one network namespace, then the next (after the last: all)",
    ),
    ("Space", "pause / resume refreshing"),
    ("r", "refresh now"),
    (
        "K",
        "stop the holders of the selected listener (asks first)",
    ),
    ("mouse", "wheel scrolls, click selects"),
    ("Esc", "close the pane, the help (? F1) or the filter"),
    ("q  Ctrl-C", "quit"),
];
