//! The live view's state and its one entry point, [`App::update`]: every key, mouse event,
//! snapshot, error and signal goes through it, and it answers with the [`Effect`] the event loop
//! must carry out. No terminal here: render tests drive `update` and draw into a TestBackend.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyEvent, MouseEvent, MouseEventKind};

use super::keys::{self, Command, FilterInput};
use crate::model::{Connections, Proto, RangeGroup, Selection, Snapshot, Socket};
use crate::present::{process_label, user_label};
use crate::stop::Plan;

/// How many refreshes a new listener stays highlighted.
const NEW_FOR: u64 = 3;

/// Everything that can happen to the view.
pub enum Event {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize,
    Snapshot(Box<Snapshot>),
    /// A refresh found the same sockets, holders and facts: only the time (and perhaps the
    /// connection counts) moved.
    Unchanged(SystemTime, Option<BTreeMap<u64, Connections>>),
    CollectError(String),
    /// The collector spaced refreshes out to this (None: back to the asked interval).
    Pace(Option<Duration>),
    /// The collector thread died (a panic): the view ends and says why.
    CollectorFailed(String),
    Signal(i32),
    /// What a new bind of the selected socket's port would meet (the details pane).
    Bind(BindKey, Option<Box<crate::bind::BindReport>>),
    /// The holders of the selected listener, opened as pidfds, ready to be confirmed.
    StopPlanned(Box<Plan>),
    /// What the signals did, and the port to watch.
    StopSent(Vec<String>, Option<StopWatch>),
}

/// What the event loop must do after an update.
pub enum Effect {
    None,
    /// Leave with this exit status.
    Quit(u8),
    /// Leave with this error.
    Fail(String),
    Refresh,
    /// The view changed which tables are needed.
    Reconfigure(Selection),
    Pause(bool),
    /// Build a stop plan (open pidfds) for this listener of the current snapshot, then send
    /// `Event::StopPlanned`.
    PlanStop(Socket),
    /// The user said yes: signal the planned holders (each re-verified), then send
    /// `Event::StopSent`.
    ExecuteStop(Box<Plan>),
}

pub enum Overlay {
    None,
    Help,
    /// Typing into the `/` filter.
    Filter,
    /// Asking whether to signal the holders of this plan.
    ConfirmStop(Box<Plan>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Port,
    Process,
    Pid,
    User,
}

impl SortKey {
    fn next(self) -> Self {
        match self {
            SortKey::Port => SortKey::Process,
            SortKey::Process => SortKey::Pid,
            SortKey::Pid => SortKey::User,
            SortKey::User => SortKey::Port,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Port => "port",
            SortKey::Process => "process",
            SortKey::Pid => "pid",
            SortKey::User => "user",
        }
    }
}

/// A socket's identity across snapshots.
pub type SocketKey = (Proto, IpAddr, u16, u64);

pub fn key_of(socket: &Socket) -> SocketKey {
    (socket.proto, socket.local_addr, socket.port, socket.inode)
}

/// How a row should look because of what changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Steady,
    /// Appeared within the last few refreshes.
    New,
    /// Gone since the previous refresh; shown once more, dimmed.
    Gone,
}

/// One line of the listener table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    Group(RangeGroup),
    /// An index into `App::snapshot.sockets` or, when gone, into `App::gone`.
    Socket {
        index: usize,
        change: Change,
    },
}

/// A port being watched after its holders were signalled from the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopWatch {
    pub proto: Proto,
    pub port: u16,
    /// Give up (and say who still holds it) after this many refreshes.
    pub until_generation: u64,
}

pub struct App {
    pub snapshot: Option<Snapshot>,
    /// Sockets that vanished in the last refresh.
    pub gone: Vec<Socket>,
    first_seen: HashMap<SocketKey, u64>,
    pub generation: u64,
    /// Which protocols, families and states are shown (and collected).
    pub selection: Selection,
    pub sort: SortKey,
    pub filter: String,
    /// Only this network namespace is shown (None: every one in the snapshot).
    pub netns: Option<u64>,
    pub overlay: Overlay,
    pub details: bool,
    pub folded: [bool; 3],
    pub paused: bool,
    pub interval: Duration,
    /// Refreshes are spaced out to this because each costs more CPU than the budget.
    pub pace: Option<Duration>,
    /// A one-line message for the footer (e.g. why a key did nothing).
    pub status: Option<String>,
    /// The last collection error, shown until a collection succeeds.
    pub error: Option<String>,
    pub rows: Vec<Row>,
    /// Visible sockets per range, counted when the rows were built.
    group_counts: [usize; 3],
    /// The snapshot's notes (unreadable tables, hidden owners), computed once per snapshot.
    notes: Vec<String>,
    pub stop_watch: Option<StopWatch>,
    /// The view changed which tables are read: the next snapshot is a new baseline, so sockets
    /// that were only hidden by the view are neither "gone" nor "new".
    rebase: bool,
    /// The selected row, and the first row on screen.
    pub selected: usize,
    pub offset: usize,
    /// Where the table was last drawn: (top row on screen, height), for mouse clicks and pages.
    pub table_area: Option<(u16, u16)>,
    /// The help's first line shown, and how far it can scroll at the last drawn size.
    pub help_scroll: u16,
    pub help_max_scroll: u16,
    /// The help's rows on screen, for PgUp and PgDn.
    pub help_rows: u16,
    /// The details pane's wrapped lines, for (generation, socket, width, colour).
    pub details_cache: Option<(DetailsKey, Vec<ratatui::text::Line<'static>>)>,
    /// The bind check last asked of the collector, and the snapshot it was asked for: asked
    /// once per opened socket and changed snapshot, never per tick.
    bind_asked: Option<(BindKey, u64)>,
    /// Its answer (None inside: the check could not be made).
    pub bind: Option<(BindKey, Option<Box<crate::bind::BindReport>>)>,
}

/// A bind check: (network namespace, protocol, port).
pub type BindKey = (u64, Proto, u16);

/// What the details pane's text depends on.
pub type DetailsKey = (u64, SocketKey, u16, bool);

impl App {
    pub fn new(selection: Selection, interval: Duration) -> Self {
        App {
            snapshot: None,
            gone: Vec::new(),
            first_seen: HashMap::default(),
            generation: 0,
            selection,
            sort: SortKey::Port,
            filter: String::new(),
            netns: None,
            overlay: Overlay::None,
            details: false,
            folded: [false; 3],
            paused: false,
            interval,
            pace: None,
            status: None,
            error: None,
            rows: Vec::new(),
            group_counts: [0; 3],
            notes: Vec::new(),
            stop_watch: None,
            rebase: false,
            selected: 0,
            offset: 0,
            table_area: None,
            help_scroll: 0,
            help_max_scroll: 0,
            help_rows: 0,
            details_cache: None,
            bind_asked: None,
            bind: None,
        }
    }

    /// The one entry point: apply an event, say what the loop must do.
    pub fn update(&mut self, event: Event) -> Effect {
        match event {
            Event::Key(key) => self.on_key(key),
            Event::Mouse(mouse) => {
                self.on_mouse(mouse);
                Effect::None
            }
            Event::Resize => Effect::None,
            Event::Snapshot(snapshot) => {
                self.apply_snapshot(*snapshot);
                Effect::None
            }
            Event::Unchanged(taken_at, connections) => {
                self.apply_unchanged(taken_at, connections);
                Effect::None
            }
            Event::CollectError(message) => {
                self.error = Some(message);
                Effect::None
            }
            Event::CollectorFailed(message) => Effect::Fail(message),
            Event::Pace(pace) => {
                self.pace = pace;
                Effect::None
            }
            Event::Signal(signal) => Effect::Quit(128u8.saturating_add(signal as u8)),
            Event::Bind(key, report) => {
                self.bind = Some((key, report));
                self.details_cache = None;
                Effect::None
            }
            Event::StopPlanned(plan) => {
                self.show_stop_plan(*plan);
                Effect::None
            }
            Event::StopSent(messages, watch) => {
                self.status = Some(messages.join("; "));
                self.stop_watch = watch;
                Effect::Refresh
            }
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Effect {
        if keys::is_interrupt(key) {
            return Effect::Quit(0);
        }
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::ConfirmStop(plan) => return self.answer_stop(key, plan),
            Overlay::Filter => {
                self.overlay = Overlay::Filter;
                if let Some(input) = keys::filter_input(key) {
                    self.filter_input(input);
                }
                return Effect::None;
            }
            Overlay::Help => {
                self.overlay = Overlay::Help;
                if let Some(command) = keys::command_for(key)
                    && self.scroll_help(command)
                {
                    return Effect::None;
                }
            }
            other => self.overlay = other,
        }
        match keys::command_for(key) {
            Some(command) => self.command(command),
            None => Effect::None,
        }
    }

    fn on_mouse(&mut self, mouse: MouseEvent) {
        match mouse.kind {
            MouseEventKind::ScrollDown => self.move_by(3),
            MouseEventKind::ScrollUp => self.move_by(-3),
            MouseEventKind::Down(_) => self.click(mouse.row),
            _ => {}
        }
    }

    /// A new snapshot: note what appeared and what vanished, then rebuild the rows.
    fn apply_snapshot(&mut self, snapshot: Snapshot) {
        let selected = self.selected_key();
        self.generation += 1;
        let current: HashSet<SocketKey> = snapshot.sockets.iter().map(key_of).collect();
        let rebase = std::mem::take(&mut self.rebase);
        self.gone = match self.snapshot.take() {
            Some(old) if !rebase => old
                .sockets
                .into_iter()
                .filter(|s| !current.contains(&key_of(s)))
                .collect(),
            _ => Vec::new(),
        };
        let first = self.generation == 1 || rebase;
        for key in &current {
            // Everything in the first snapshot is old news.
            let born = if first { 0 } else { self.generation };
            self.first_seen.entry(*key).or_insert(born);
        }
        self.first_seen.retain(|key, _| current.contains(key));
        self.notes = snapshot.notes();
        self.snapshot = Some(snapshot);
        self.error = None;
        self.rebuild_rows();
        self.reselect(selected);
        self.check_stop_watch();
    }

    /// A refresh that changed nothing: the clock moves on, highlights age, gone rows go.
    fn apply_unchanged(
        &mut self,
        taken_at: SystemTime,
        connections: Option<BTreeMap<u64, Connections>>,
    ) {
        let Some(snapshot) = self.snapshot.as_mut() else {
            return;
        };
        snapshot.taken_at = taken_at;
        if let Some(connections) = connections {
            snapshot.connections = connections;
        }
        self.generation += 1;
        self.error = None;
        let ageing = self
            .first_seen
            .values()
            .any(|&born| born > 0 && self.generation <= born + NEW_FOR);
        if ageing || !self.gone.is_empty() || std::mem::take(&mut self.rebase) {
            self.gone.clear();
            self.refresh_rows();
        }
        self.check_stop_watch();
    }

    /// The notes of the current snapshot (unreadable tables, hidden owners).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// After a stop from the view: say when the port is free, or who still holds it.
    fn check_stop_watch(&mut self) {
        let (Some(watch), Some(snapshot)) = (self.stop_watch, &self.snapshot) else {
            return;
        };
        let holders: Vec<&Socket> = snapshot
            .sockets
            .iter()
            .filter(|s| s.proto == watch.proto && s.port == watch.port && s.is_listener())
            .collect();
        let what = format!("port {}/{}", watch.port, watch.proto.as_str());
        if holders.is_empty() {
            self.status = Some(format!("{what} is free"));
        } else if self.generation >= watch.until_generation {
            let names: Vec<String> = holders.iter().map(|s| process_label(snapshot, s)).collect();
            self.status = Some(format!("{what} is still held by {}", names.join(", ")));
        } else {
            return;
        }
        self.stop_watch = None;
    }

    pub fn socket(&self, row: Row) -> Option<&Socket> {
        match row {
            Row::Socket {
                index,
                change: Change::Gone,
            } => self.gone.get(index),
            Row::Socket { index, .. } => self.snapshot.as_ref()?.sockets.get(index),
            Row::Group(_) => None,
        }
    }

    pub fn selected_row(&self) -> Option<Row> {
        self.rows.get(self.selected).copied()
    }

    pub fn selected_socket(&self) -> Option<&Socket> {
        self.socket(self.selected_row()?)
    }

    /// A bind check the details pane needs and has not asked for yet: the key, and the path
    /// of the socket's network namespace (None: the collector's own).
    pub fn bind_wanted(&mut self) -> Option<(BindKey, Option<std::path::PathBuf>)> {
        if !self.details {
            return None;
        }
        let socket = self.selected_socket()?;
        let key = (socket.netns, socket.proto, socket.port);
        let path = self
            .snapshot
            .as_ref()
            .filter(|s| s.namespaces.len() > 1)
            .and_then(|s| s.namespaces.get(&socket.netns))
            .and_then(|netns| match (netns.paths.first(), netns.pid) {
                (Some(path), _) => Some(std::path::PathBuf::from(path.to_string())),
                (None, Some(pid)) => Some(std::path::PathBuf::from(format!("/proc/{pid}/ns/net"))),
                (None, None) => None,
            });
        let asked = (key, self.generation);
        if self.bind_asked == Some(asked) {
            return None;
        }
        self.bind_asked = Some(asked);
        Some((key, path))
    }

    /// The selected socket's identity, for caches.
    pub fn selected_socket_key(&self) -> Option<SocketKey> {
        self.selected_socket().map(key_of)
    }

    fn selected_key(&self) -> Option<Result<SocketKey, RangeGroup>> {
        match self.selected_row()? {
            Row::Group(group) => Some(Err(group)),
            row => self.socket(row).map(|s| Ok(key_of(s))),
        }
    }

    /// Keeps the selection on the same socket (or group) across refreshes.
    fn reselect(&mut self, key: Option<Result<SocketKey, RangeGroup>>) {
        let found = key.and_then(|key| {
            self.rows.iter().position(|&row| match (row, key) {
                (Row::Group(g), Err(wanted)) => g == wanted,
                (Row::Socket { .. }, Ok(k)) => self.socket(row).is_some_and(|s| key_of(s) == k),
                _ => false,
            })
        });
        let last = self.rows.len().saturating_sub(1);
        self.selected = found.unwrap_or(self.selected).min(last);
    }

    /// Visible sockets per range (folded groups included), counted when the rows were built.
    pub fn group_counts(&self) -> [usize; 3] {
        self.group_counts
    }

    fn rebuild_rows(&mut self) {
        let Some(snapshot) = &self.snapshot else {
            self.rows.clear();
            self.group_counts = [0; 3];
            return;
        };
        let needle = self.filter.to_lowercase();
        let mut members: [Vec<(Row, &Socket)>; 3] = Default::default();
        for (index, socket) in snapshot.sockets.iter().enumerate() {
            if self.matches(snapshot, socket, &needle) {
                let change = self.change_of(socket);
                members[group_index(socket.range())].push((Row::Socket { index, change }, socket));
            }
        }
        let counts = [members[0].len(), members[1].len(), members[2].len()];
        for (index, socket) in self.gone.iter().enumerate() {
            if self.matches(snapshot, socket, &needle) {
                let row = Row::Socket {
                    index,
                    change: Change::Gone,
                };
                members[group_index(socket.range())].push((row, socket));
            }
        }
        let mut rows = Vec::with_capacity(snapshot.sockets.len() + 3);
        for (group, mut list) in RangeGroup::ALL.into_iter().zip(members) {
            rows.push(Row::Group(group));
            if self.folded[group_index(group)] {
                continue;
            }
            self.sort_rows(snapshot, &mut list);
            rows.extend(list.into_iter().map(|(row, _)| row));
        }
        self.group_counts = counts;
        self.rows = rows;
    }

    fn change_of(&self, socket: &Socket) -> Change {
        match self.first_seen.get(&key_of(socket)) {
            Some(&born) if born > 0 && self.generation < born + NEW_FOR => Change::New,
            _ => Change::Steady,
        }
    }

    fn sort_rows(&self, snapshot: &Snapshot, rows: &mut [(Row, &Socket)]) {
        let port_order = |s: &Socket| (s.port, s.proto, s.local_addr, s.inode);
        match self.sort {
            SortKey::Port => rows.sort_by_key(|(_, s)| port_order(s)),
            SortKey::Process => rows.sort_by_cached_key(|(_, s)| {
                (process_label(snapshot, s).to_lowercase(), port_order(s))
            }),
            SortKey::Pid => rows.sort_by_cached_key(|(_, s)| {
                let lead = snapshot.lead_holder(s).map(|p| p.pid);
                (lead.unwrap_or(u32::MAX), port_order(s))
            }),
            SortKey::User => {
                rows.sort_by_cached_key(|(_, s)| (user_label(snapshot, s), port_order(s)))
            }
        }
    }

    /// The view's protocols and families, then the `/` filter: a case-insensitive substring of
    /// port, address, process names or user.
    fn matches(&self, snapshot: &Snapshot, socket: &Socket, needle: &str) -> bool {
        if !self.selection.keeps(socket) {
            return false;
        }
        if self.netns.is_some_and(|ns| ns != socket.netns) {
            return false;
        }
        if needle.is_empty() {
            return true;
        }
        let haystacks = [
            socket.port.to_string(),
            socket.local_endpoint(),
            process_label(snapshot, socket),
            user_label(snapshot, socket),
        ];
        haystacks.iter().any(|h| h.to_lowercase().contains(needle))
    }

    /// Applies one command.
    fn command(&mut self, command: Command) -> Effect {
        self.status = None;
        match command {
            Command::Quit => return Effect::Quit(0),
            Command::Up => self.move_by(-1),
            Command::Down => self.move_by(1),
            Command::PageUp => self.move_by(-self.page()),
            Command::PageDown => self.move_by(self.page()),
            Command::Home => self.selected = 0,
            Command::End => self.selected = self.rows.len().saturating_sub(1),
            Command::Enter => self.enter(),
            Command::Help => {
                self.help_scroll = 0;
                self.overlay = match self.overlay {
                    Overlay::Help => Overlay::None,
                    _ => Overlay::Help,
                }
            }
            Command::StartFilter => self.overlay = Overlay::Filter,
            Command::CycleSort => {
                self.sort = self.sort.next();
                self.refresh_rows();
            }
            Command::Pause => {
                self.paused = !self.paused;
                return Effect::Pause(self.paused);
            }
            Command::Refresh => return Effect::Refresh,
            Command::Kill => return self.ask_to_stop(),
            Command::OnlyTcp => return self.only(|s| (&mut s.tcp, &mut s.udp)),
            Command::OnlyUdp => return self.only(|s| (&mut s.udp, &mut s.tcp)),
            Command::OnlyIpv4 => return self.only(|s| (&mut s.ipv4, &mut s.ipv6)),
            Command::OnlyIpv6 => return self.only(|s| (&mut s.ipv6, &mut s.ipv4)),
            Command::ToggleAll => {
                let mut next = self.selection;
                next.all_states = !next.all_states;
                return self.reconfigure(next);
            }
            Command::NextNetns => self.next_netns(),
            Command::Close => self.close(),
        }
        Effect::None
    }

    /// `n`: the host's namespace, then the others by name, then all again.
    fn next_netns(&mut self) {
        let Some(snapshot) = &self.snapshot else {
            return;
        };
        let order = netns_order(snapshot);
        if order.len() < 2 {
            self.netns = None;
            self.status = Some("only one network namespace is looked at".to_string());
            return;
        }
        let at = self
            .netns
            .and_then(|ns| order.iter().position(|&o| o == ns));
        self.netns = match at {
            None => order.first().copied(),
            Some(i) => order.get(i + 1).copied(),
        };
        self.selected = 0;
        self.offset = 0;
        self.refresh_rows();
    }

    /// The label of the namespace shown, when only one is (`netns t_a`).
    pub fn netns_label(&self) -> Option<String> {
        let ns = self.netns?;
        let snapshot = self.snapshot.as_ref()?;
        Some(crate::present::netns_words_of(snapshot, ns))
    }

    /// `t`: only TCP; pressed again (already only TCP): both. Likewise `u`, `4`, `6`.
    fn only(&mut self, pair: impl Fn(&mut Selection) -> (&mut bool, &mut bool)) -> Effect {
        let mut next = self.selection;
        let (this, other) = pair(&mut next);
        let already_only = *this && !*other;
        *this = true;
        *other = already_only;
        self.reconfigure(next)
    }

    fn reconfigure(&mut self, next: Selection) -> Effect {
        if next == self.selection {
            return Effect::None;
        }
        self.selection = next;
        self.gone.clear();
        self.rebase = true;
        self.refresh_rows();
        Effect::Reconfigure(next)
    }

    /// Keys typed while the filter is open.
    fn filter_input(&mut self, input: FilterInput) {
        match input {
            FilterInput::Char(c) if !c.is_control() => self.filter.push(c),
            FilterInput::Char(_) => {}
            FilterInput::Backspace => {
                self.filter.pop();
            }
            FilterInput::Accept => self.overlay = Overlay::None,
            FilterInput::Cancel => {
                self.filter.clear();
                self.overlay = Overlay::None;
            }
        }
        self.refresh_rows();
        // Typing narrows onto the matches: when the selection is not on one, the first is.
        if !matches!(self.selected_row(), Some(Row::Socket { .. }))
            && let Some(first) = self
                .rows
                .iter()
                .position(|r| matches!(r, Row::Socket { .. }))
        {
            self.selected = first;
        }
    }

    fn refresh_rows(&mut self) {
        let selected = self.selected_key();
        self.rebuild_rows();
        self.reselect(selected);
    }

    fn enter(&mut self) {
        match self.selected_row() {
            Some(Row::Group(group)) => {
                let folded = &mut self.folded[group_index(group)];
                *folded = !*folded;
                self.refresh_rows();
            }
            Some(Row::Socket { .. }) => self.details = !self.details,
            None => {}
        }
    }

    fn ask_to_stop(&mut self) -> Effect {
        let Some(socket) = self.selected_socket() else {
            self.status = Some("select a listener to stop its holders".into());
            return Effect::None;
        };
        match &socket.owner {
            crate::model::Owner::Known(_) | crate::model::Owner::Partial(..) => {
                Effect::PlanStop(socket.clone())
            }
            crate::model::Owner::Hidden(reason) => {
                self.status = Some(format!("cannot stop: owner hidden ({})", reason.describe()));
                Effect::None
            }
            crate::model::Owner::None(_) => {
                self.status = Some("no process holds this socket".into());
                Effect::None
            }
        }
    }

    /// The plan is ready (pidfds open): show it and ask.
    fn show_stop_plan(&mut self, plan: Plan) {
        if plan.targets.is_empty() {
            let reasons: Vec<String> = plan
                .refused
                .iter()
                .map(|(pid, name, why)| format!("pid {pid} ({name}): {why}"))
                .collect();
            self.status = Some(format!("nothing to stop: {}", reasons.join("; ")));
            return;
        }
        self.overlay = Overlay::ConfirmStop(Box::new(plan));
    }

    /// The answer to the confirmation: only `y` means yes; Enter, `n` and Esc mean no.
    fn answer_stop(&mut self, key: KeyEvent, plan: Box<Plan>) -> Effect {
        let yes = matches!(key.code, crossterm::event::KeyCode::Char('y' | 'Y'));
        if yes {
            return Effect::ExecuteStop(plan);
        }
        self.status = Some("nothing sent".into());
        Effect::None
    }

    /// Esc: close what is open; never quits.
    fn close(&mut self) {
        if !matches!(self.overlay, Overlay::None) {
            self.overlay = Overlay::None;
        } else if self.details {
            self.details = false;
        }
    }

    /// While the help is open, the moving keys scroll it (at 80×24 it is taller than the
    /// screen). False for any other key.
    fn scroll_help(&mut self, command: Command) -> bool {
        let max = self.help_max_scroll;
        let page = self.help_rows.max(2) - 1;
        self.help_scroll = match command {
            Command::Up => self.help_scroll.saturating_sub(1),
            Command::Down => self.help_scroll.saturating_add(1).min(max),
            Command::PageUp => self.help_scroll.saturating_sub(page),
            Command::PageDown => self.help_scroll.saturating_add(page).min(max),
            Command::Home => 0,
            Command::End => max,
            _ => return false,
        };
        true
    }

    fn page(&self) -> isize {
        self.table_area.map_or(10, |(_, height)| {
            isize::try_from(height.max(2)).unwrap_or(10) - 1
        })
    }

    pub fn move_by(&mut self, delta: isize) {
        if self.rows.is_empty() {
            return;
        }
        let last = self.rows.len() - 1;
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    /// A click on screen row `y`: select the table row drawn there.
    pub fn click(&mut self, y: u16) {
        let Some((top, height)) = self.table_area else {
            return;
        };
        if y < top || y >= top + height {
            return;
        }
        let index = self.offset + usize::from(y - top);
        if index < self.rows.len() {
            self.selected = index;
        }
    }

    /// Scrolls so the selection is on screen and the screen is as full as the rows allow
    /// (after a filter shrinks the list, the rows it kept are shown, not an empty page).
    pub fn scroll_into_view(&mut self, height: usize) {
        let height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(self.rows.len().saturating_sub(height));
    }

    /// Is a pane or overlay open?
    pub fn has_open_layer(&self) -> bool {
        !matches!(self.overlay, Overlay::None) || self.details
    }
}

pub fn group_index(group: RangeGroup) -> usize {
    match group {
        RangeGroup::WellKnown => 0,
        RangeGroup::Registered => 1,
        RangeGroup::Dynamic => 2,
    }
}

/// The snapshot's namespaces as `n` visits them: the host's first, then by name.
fn netns_order(snapshot: &Snapshot) -> Vec<u64> {
    let mut order: Vec<(bool, String, u64)> = snapshot
        .namespaces
        .values()
        .map(|n| {
            (
                n.kind != crate::model::NetnsKind::Host,
                n.name.to_string(),
                n.inode,
            )
        })
        .collect();
    order.sort();
    order.into_iter().map(|(_, _, ns)| ns).collect()
}
