//! The live view's state and its one `update` function. No terminal here: render tests feed it
//! snapshots and keys and draw it into a TestBackend.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ratatui::widgets::ListState;

use super::keys::Command;
use crate::collect::Tables;
use crate::model::{Family, Proto, RangeGroup, Snapshot, Socket};
use crate::report::{process_label, user_label};

/// How many refreshes a new listener stays highlighted.
const NEW_FOR: u64 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    /// Typing into the `/` filter.
    Filter,
    /// Asking whether to signal the holders in `App::stop_plan`.
    ConfirmStop,
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

/// Which sockets are shown; the collector is asked for exactly these tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub tcp: bool,
    pub udp: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    pub all: bool,
}

impl View {
    pub fn tables(self) -> Tables {
        Tables {
            tcp: self.tcp,
            udp: self.udp,
            ipv4: self.ipv4,
            ipv6: self.ipv6,
            listeners_only: !self.all,
            connections: true,
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

/// What the event loop should do after an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
    Refresh,
    /// The view changed which tables are needed.
    Reconfigure(Tables),
    Pause(bool),
    /// Build a stop plan (open pidfds) for the selected listener, then ask.
    PrepareStop,
    /// The user said yes: signal the planned holders.
    ExecuteStop,
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
    pub view: View,
    pub sort: SortKey,
    pub filter: String,
    pub overlay: Overlay,
    pub details: bool,
    pub folded: [bool; 3],
    pub paused: bool,
    pub interval: Duration,
    pub host: String,
    /// A one-line message for the footer (e.g. why a key did nothing).
    pub status: Option<String>,
    /// The last collection error, shown until a collection succeeds.
    pub error: Option<String>,
    pub rows: Vec<Row>,
    /// Visible sockets per range, counted with the rows rather than on every frame.
    group_counts: [usize; 3],
    /// Holders to signal, with pidfds already open, while `Overlay::ConfirmStop` asks.
    pub stop_plan: Option<crate::stop::Plan>,
    pub stop_watch: Option<StopWatch>,
    /// The view changed which tables are read: the next snapshot is a new baseline, so sockets
    /// that were only hidden by the view are neither "gone" nor "new".
    rebase: bool,
    pub table: ListState,
    /// Where the table was last drawn: (top row on screen, height), for mouse clicks.
    pub table_area: Option<(u16, u16)>,
}

impl App {
    pub fn new(view: View, interval: Duration, host: String) -> Self {
        App {
            snapshot: None,
            gone: Vec::new(),
            first_seen: HashMap::new(),
            generation: 0,
            view,
            sort: SortKey::Port,
            filter: String::new(),
            overlay: Overlay::None,
            details: false,
            folded: [false; 3],
            paused: false,
            interval,
            host,
            status: None,
            error: None,
            rows: Vec::new(),
            group_counts: [0; 3],
            stop_plan: None,
            stop_watch: None,
            rebase: false,
            table: ListState::default().with_selected(Some(0)),
            table_area: None,
        }
    }

    /// A new snapshot: note what appeared and what vanished, then rebuild the rows.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) {
        let selected = self.selected_key();
        self.generation += 1;
        let current: HashMap<SocketKey, ()> =
            snapshot.sockets.iter().map(|s| (key_of(s), ())).collect();
        let rebase = std::mem::take(&mut self.rebase);
        self.gone = match self.snapshot.take() {
            Some(_) if rebase => Vec::new(),
            Some(old) => old
                .sockets
                .into_iter()
                .filter(|s| !current.contains_key(&key_of(s)))
                .collect(),
            None => Vec::new(),
        };
        let first = self.generation == 1 || rebase;
        for key in current.keys() {
            // Everything in the first snapshot is old news.
            let born = if first { 0 } else { self.generation };
            self.first_seen.entry(*key).or_insert(born);
        }
        self.first_seen.retain(|key, _| current.contains_key(key));
        self.snapshot = Some(snapshot);
        self.error = None;
        self.rebuild_rows();
        self.reselect(selected);
        self.check_stop_watch();
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

    pub fn apply_error(&mut self, message: String) {
        self.error = Some(message);
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
        self.rows.get(self.table.selected()?).copied()
    }

    pub fn selected_socket(&self) -> Option<&Socket> {
        self.socket(self.selected_row()?)
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
                (Row::Group(g), Err(k)) => g == k,
                (row @ Row::Socket { .. }, Ok(k)) => {
                    self.socket(row).is_some_and(|s| key_of(s) == k)
                }
                _ => false,
            })
        });
        let last = self.rows.len().saturating_sub(1);
        let index = found.unwrap_or_else(|| self.table.selected().unwrap_or(0).min(last));
        self.table.select(Some(index));
    }

    /// Visible sockets per range (folded groups included), counted when the rows were built.
    pub fn group_counts(&self) -> [usize; 3] {
        self.group_counts
    }

    pub fn rebuild_rows(&mut self) {
        let Some(snapshot) = &self.snapshot else {
            self.rows.clear();
            self.group_counts = [0; 3];
            return;
        };
        let mut rows = Vec::new();
        let mut counts = [0; 3];
        for group in RangeGroup::ALL {
            rows.push(Row::Group(group));
            let mut members: Vec<(Row, &Socket)> = Vec::new();
            for (index, socket) in snapshot.sockets.iter().enumerate() {
                if socket.range() == group && self.matches(snapshot, socket) {
                    members.push((
                        Row::Socket {
                            index,
                            change: self.change_of(socket),
                        },
                        socket,
                    ));
                }
            }
            counts[group_index(group)] = members.len();
            if self.folded[group_index(group)] {
                continue;
            }
            for (index, socket) in self.gone.iter().enumerate() {
                if socket.range() == group && self.matches(snapshot, socket) {
                    members.push((
                        Row::Socket {
                            index,
                            change: Change::Gone,
                        },
                        socket,
                    ));
                }
            }
            self.sort_rows(snapshot, &mut members);
            rows.extend(members.into_iter().map(|(row, _)| row));
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
            SortKey::Pid => rows.sort_by_key(|(_, s)| {
                (
                    s.owner.pids().first().copied().unwrap_or(u32::MAX),
                    port_order(s),
                )
            }),
            SortKey::User => {
                rows.sort_by_cached_key(|(_, s)| (user_label(snapshot, s), port_order(s)))
            }
        }
    }

    /// The `/` filter: a case-insensitive substring of port, address, process names or user.
    fn matches(&self, snapshot: &Snapshot, socket: &Socket) -> bool {
        let family_ok = match socket.family {
            Family::Ipv4 => self.view.ipv4,
            Family::Ipv6 => self.view.ipv6,
        };
        let proto_ok = match socket.proto {
            Proto::Tcp => self.view.tcp,
            Proto::Udp => self.view.udp,
        };
        if !(family_ok && proto_ok) || (!self.view.all && !socket.is_listener()) {
            return false;
        }
        if self.filter.is_empty() {
            return true;
        }
        let needle = self.filter.to_lowercase();
        let haystacks = [
            socket.port.to_string(),
            socket.local_endpoint(),
            process_label(snapshot, socket),
            user_label(snapshot, socket),
        ];
        haystacks.iter().any(|h| h.to_lowercase().contains(&needle))
    }

    /// Applies one command; returns what the event loop must do.
    pub fn command(&mut self, command: Command) -> Action {
        self.status = None;
        match command {
            Command::Quit => return Action::Quit,
            Command::Up => self.move_by(-1),
            Command::Down => self.move_by(1),
            Command::PageUp => self.move_by(-self.page()),
            Command::PageDown => self.move_by(self.page()),
            Command::Home => self.table.select(Some(0)),
            Command::End => self.table.select(Some(self.rows.len().saturating_sub(1))),
            Command::Enter => self.enter(),
            Command::Help => self.overlay = toggle(self.overlay, Overlay::Help),
            Command::StartFilter => self.overlay = Overlay::Filter,
            Command::CycleSort => {
                self.sort = self.sort.next();
                self.refresh_rows();
            }
            Command::Pause => {
                self.paused = !self.paused;
                return Action::Pause(self.paused);
            }
            Command::Refresh => return Action::Refresh,
            Command::Kill => return self.ask_to_stop(),
            Command::ToggleTcp => return self.reconfigure(|v| v.tcp = !v.tcp),
            Command::ToggleUdp => return self.reconfigure(|v| v.udp = !v.udp),
            Command::ToggleIpv4 => return self.reconfigure(|v| v.ipv4 = !v.ipv4),
            Command::ToggleIpv6 => return self.reconfigure(|v| v.ipv6 = !v.ipv6),
            Command::ToggleAll => return self.reconfigure(|v| v.all = !v.all),
            Command::Close => self.close(),
        }
        Action::None
    }

    /// Keys typed while the filter is open.
    pub fn filter_input(&mut self, input: FilterInput) {
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
    }

    fn refresh_rows(&mut self) {
        let selected = self.selected_key();
        self.rebuild_rows();
        self.reselect(selected);
    }

    fn reconfigure(&mut self, change: impl FnOnce(&mut View)) -> Action {
        let before = self.view;
        change(&mut self.view);
        if !(self.view.tcp || self.view.udp) || !(self.view.ipv4 || self.view.ipv6) {
            self.view = before;
            self.status = Some("at least one protocol and one family must stay on".into());
            return Action::None;
        }
        self.gone.clear();
        self.rebase = true;
        self.refresh_rows();
        Action::Reconfigure(self.view.tables())
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

    fn ask_to_stop(&mut self) -> Action {
        match self.selected_socket().map(|s| &s.owner) {
            Some(crate::model::Owner::Known(_)) => Action::PrepareStop,
            Some(crate::model::Owner::Hidden(reason)) => {
                self.status = Some(format!("cannot stop: owner hidden ({})", reason.describe()));
                Action::None
            }
            Some(crate::model::Owner::None(_)) => {
                self.status = Some("no process holds this socket".into());
                Action::None
            }
            None => {
                self.status = Some("select a listener to stop its holders".into());
                Action::None
            }
        }
    }

    /// The plan is ready (pidfds open): show it and ask.
    pub fn show_stop_plan(&mut self, plan: crate::stop::Plan) {
        if plan.targets.is_empty() {
            let reasons: Vec<String> = plan
                .refused
                .iter()
                .map(|(pid, name, why)| format!("pid {pid} ({name}): {why}"))
                .collect();
            self.status = Some(format!("nothing to stop: {}", reasons.join("; ")));
            return;
        }
        self.stop_plan = Some(plan);
        self.overlay = Overlay::ConfirmStop;
    }

    /// The answer to the confirmation: only `y` means yes; Enter, `n` and Esc mean no.
    pub fn answer_stop(&mut self, yes: bool) -> Action {
        self.overlay = Overlay::None;
        if yes {
            return Action::ExecuteStop;
        }
        self.stop_plan = None;
        self.status = Some("nothing sent".into());
        Action::None
    }

    /// Reports what was sent and starts watching the port.
    pub fn stop_sent(&mut self, messages: Vec<String>, watch: Option<StopWatch>) {
        self.status = Some(messages.join("; "));
        self.stop_watch = watch;
    }

    fn close(&mut self) {
        if self.overlay != Overlay::None {
            self.overlay = Overlay::None;
        } else if self.details {
            self.details = false;
        }
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
        let current = self.table.selected().unwrap_or(0);
        let next = current.saturating_add_signed(delta).min(last);
        self.table.select(Some(next));
    }

    /// A click on screen row `y`: select the table row drawn there.
    pub fn click(&mut self, y: u16) {
        let Some((top, height)) = self.table_area else {
            return;
        };
        if y < top || y >= top + height {
            return;
        }
        let index = self.table.offset() + usize::from(y - top);
        if index < self.rows.len() {
            self.table.select(Some(index));
        }
    }

    /// Is the close key (Esc/q) going to quit, or close something first?
    pub fn has_open_layer(&self) -> bool {
        self.overlay != Overlay::None || self.details
    }
}

/// Keys while the filter is being typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterInput {
    Char(char),
    Backspace,
    Accept,
    Cancel,
}

fn toggle(current: Overlay, wanted: Overlay) -> Overlay {
    if current == wanted {
        Overlay::None
    } else {
        wanted
    }
}

pub fn group_index(group: RangeGroup) -> usize {
    match group {
        RangeGroup::WellKnown => 0,
        RangeGroup::Registered => 1,
        RangeGroup::Dynamic => 2,
    }
}
