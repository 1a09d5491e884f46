//! `--watch`: the listeners as a stream of changes. The first event is the whole state; after
//! that, every `--interval`, what was added, what was removed and whose holders changed, one
//! JSON line each (written by `report::events`).
//!
//! A read error is an `error` event, never a change: a table that could not be read keeps its
//! sockets from the last good read, so a failing table does not look like a burst of
//! `removed` (and its recovery like a burst of `added`). The same error is said once, not once
//! per interval. Unchanged refreshes (`Collector::refresh`) cost a table dump and write
//! nothing.
//!
//! It ends, with exit 0, on SIGINT, SIGTERM or SIGHUP (between two lines, so the stream never
//! ends mid-line) and when stdout is closed (a pipe whose reader went away).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
mod other;

#[cfg(target_os = "linux")]
use linux::Waiter;
#[cfg(not(target_os = "linux"))]
use other::Waiter;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{Duration, Instant, SystemTime};

use super::{AppError, WatchConfig, exit};
use crate::collect::{Collector, Refresh, Request};
use crate::filter::Filter;
use crate::model::{SafeText, Snapshot, Socket};
use crate::report::events::{EventWriter, SocketKey};

/// What woke the watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The interval is over: refresh.
    Tick,
    /// A signal, or nobody reads stdout any more: end.
    Stop,
}

/// What changed between two pictures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// In the new picture only.
    Added(&'a Socket),
    /// In the old picture only (as it was last seen).
    Removed(&'a Socket),
    /// The same socket, held by another set of processes (or its holders went out of sight).
    HoldersChanged {
        before: &'a Socket,
        after: &'a Socket,
    },
}

/// Every change from `old` to `new`: the removed first, then the added, then the changed, each
/// in key order, so a restart reads as `removed` then `added`.
pub fn diff<'a>(old: &'a Snapshot, new: &'a Snapshot) -> Vec<Change<'a>> {
    let before = by_key(old);
    let after = by_key(new);
    let removed = before
        .iter()
        .filter(|(key, _)| !after.contains_key(key))
        .map(|(_, socket)| Change::Removed(socket));
    let added = after
        .iter()
        .filter(|(key, _)| !before.contains_key(key))
        .map(|(_, socket)| Change::Added(socket));
    let changed = after.iter().filter_map(|(key, after)| {
        let before = before.get(key)?;
        (holders(before) != holders(after)).then_some(Change::HoldersChanged { before, after })
    });
    removed.chain(added).chain(changed).collect()
}

fn by_key(snapshot: &Snapshot) -> BTreeMap<SocketKey, &Socket> {
    snapshot
        .sockets
        .iter()
        .map(|socket| (SocketKey::of(snapshot, socket), socket))
        .collect()
}

/// Who holds a socket, as far as a change is concerned: which pids, and whether some may be
/// hidden. A hidden owner whose reason changed is the same hidden owner.
fn holders(socket: &Socket) -> (&'static str, &[u32]) {
    (socket.owner.kind(), socket.owner.pids())
}

/// `new`, with the sockets of every table it could not read taken from `old` (with their
/// holders' facts), so a read error changes nothing.
pub fn keep_unread_tables(old: &Snapshot, mut new: Snapshot) -> Snapshot {
    let unread: Vec<Socket> = old
        .sockets
        .iter()
        .filter(|s| new.table_failed(s.proto, s.family).is_some())
        .cloned()
        .collect();
    if unread.is_empty() {
        return new;
    }
    for socket in &unread {
        carry_facts(old, &mut new, socket);
    }
    new.sockets.extend(unread);
    new.sockets
        .sort_by_cached_key(|s| (s.port, SocketKey::of(old, s)));
    new
}

fn carry_facts(old: &Snapshot, new: &mut Snapshot, socket: &Socket) {
    for &pid in socket.owner.pids() {
        if let Some(process) = old.processes.get(&pid) {
            new.processes.entry(pid).or_insert_with(|| process.clone());
        }
        if let Some(fds) = old.fds.get(&(socket.inode, pid)) {
            new.fds.insert((socket.inode, pid), fds.clone());
        }
    }
    if let (Some(uid), Some(name)) = (socket.uid, old.user_name(socket.uid)) {
        new.users.entry(uid).or_insert_with(|| name.clone());
    }
}

pub fn run(config: &WatchConfig, out: &mut dyn Write) -> Result<u8, AppError> {
    let mut waiter = Waiter::new()?;
    let mut events = EventWriter::new(out, config.lines);
    let mut watch = Watch {
        collector: config.filter.collector(),
        filter: config.filter.clone(),
        state: None,
        said: Vec::new(),
    };
    loop {
        let started = Instant::now();
        watch.tick(&mut events)?;
        if waiter.sleep(rest(config.interval, started.elapsed())) == Wake::Stop {
            return Ok(exit::OK);
        }
    }
}

/// Refreshes start every `interval` (so a change is seen within one interval and one
/// collection), but a collection slower than the interval still leaves a quarter of it idle
/// rather than running back to back on a huge host.
fn rest(interval: Duration, collecting: Duration) -> Duration {
    interval.saturating_sub(collecting).max(interval / 4)
}

/// The watch between two refreshes.
struct Watch {
    collector: Collector,
    filter: Filter,
    /// The last picture events were written for (None until one could be read).
    state: Option<Snapshot>,
    /// The errors already said, so one that persists is said once.
    said: Vec<String>,
}

impl Watch {
    fn tick(&mut self, events: &mut EventWriter<'_>) -> io::Result<()> {
        let request = Request {
            selection: self.filter.selection,
            connections: false,
        };
        let filter = &self.filter;
        match self.collector.refresh(&request, &|s| filter.keep_socket(s)) {
            Ok(Refresh::Changed(snapshot)) => self.changed(filter.apply(*snapshot), events),
            Ok(Refresh::Unchanged { .. }) => {
                self.said = self.state.as_ref().map(failures).unwrap_or_default();
                Ok(())
            }
            Err(error) => {
                let host = self.collector.host().clone();
                self.say(vec![error.to_string()], &host, SystemTime::now(), events)
            }
        }
    }

    fn changed(&mut self, new: Snapshot, events: &mut EventWriter<'_>) -> io::Result<()> {
        let new = match self.state.take() {
            None => {
                events.snapshot(&new)?;
                new
            }
            Some(old) => {
                let new = keep_unread_tables(&old, new);
                write_changes(events, &old, &new)?;
                new
            }
        };
        let state = self.state.insert(new);
        let (host, at, failed) = (state.host.clone(), state.taken_at, failures(state));
        self.say(failed, &host, at, events)
    }

    /// An `error` event for each failure not said at the last refresh.
    fn say(
        &mut self,
        failures: Vec<String>,
        host: &SafeText,
        at: SystemTime,
        events: &mut EventWriter<'_>,
    ) -> io::Result<()> {
        for message in failures.iter().filter(|m| !self.said.contains(m)) {
            events.error(host, at, message)?;
        }
        self.said = failures;
        Ok(())
    }
}

/// The tables a picture could not read, one line each.
fn failures(snapshot: &Snapshot) -> Vec<String> {
    snapshot
        .table_errors
        .iter()
        .map(|e| e.message.clone())
        .collect()
}

/// One event per change from `old` to `new`.
pub fn write_changes(
    events: &mut EventWriter<'_>,
    old: &Snapshot,
    new: &Snapshot,
) -> io::Result<()> {
    for change in diff(old, new) {
        match change {
            Change::Added(socket) => events.added(new, socket)?,
            Change::Removed(socket) => events.removed(old, socket, new.taken_at)?,
            Change::HoldersChanged { before, after } => {
                events.holders_changed(before, new, after)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Family, HiddenReason, Owner, Process, Proto, SockState, TableError, Visibility,
    };

    #[test]
    fn refreshes_keep_the_interval_and_always_rest_a_little() {
        let ms = Duration::from_millis;
        assert_eq!(rest(ms(1000), ms(100)), ms(900));
        assert_eq!(rest(ms(1000), ms(900)), ms(250));
        assert_eq!(rest(ms(1000), ms(3000)), ms(250));
    }

    fn listener(proto: Proto, addr: &str, port: u16, inode: u64, owner: Owner) -> Socket {
        let local_addr = addr.parse().expect("address");
        Socket {
            proto,
            family: Family::of(&local_addr),
            local_addr,
            port,
            remote: None,
            state: match proto {
                Proto::Tcp => SockState::Listen,
                Proto::Udp => SockState::Unconn,
            },
            inode,
            uid: Some(0),
            v6only: None,
            owner,
            netns: 0,
        }
    }

    fn picture(sockets: Vec<Socket>) -> Snapshot {
        let pids = sockets.iter().flat_map(|s| s.owner.pids().to_vec());
        let processes = pids
            .map(|pid| {
                let name = SafeText::new(&format!("p{pid}"));
                let process = Process {
                    pid,
                    name,
                    ..Process::default()
                };
                (pid, process)
            })
            .collect();
        Snapshot {
            taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
            host: SafeText::new("h"),
            sockets,
            processes,
            users: BTreeMap::new(),
            connections: BTreeMap::new(),
            fds: BTreeMap::new(),
            ephemeral: None,
            visibility: Visibility::default(),
            table_errors: Vec::new(),
            namespaces: BTreeMap::new(),
            published: Vec::new(),
            related: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn known(pids: &[u32]) -> Owner {
        Owner::Known(pids.to_vec())
    }

    fn ports(changes: &[Change<'_>]) -> Vec<(&'static str, u16)> {
        changes
            .iter()
            .map(|c| match c {
                Change::Added(s) => ("added", s.port),
                Change::Removed(s) => ("removed", s.port),
                Change::HoldersChanged { after, .. } => ("holders_changed", after.port),
            })
            .collect()
    }

    #[test]
    fn the_same_picture_has_no_changes() {
        let a = picture(vec![listener(Proto::Tcp, "0.0.0.0", 80, 1, known(&[10]))]);
        assert!(diff(&a, &a.clone()).is_empty());
    }

    #[test]
    fn added_removed_and_restarted_listeners() {
        let old = picture(vec![
            listener(Proto::Tcp, "0.0.0.0", 22, 1, known(&[10])),
            listener(Proto::Tcp, "0.0.0.0", 80, 2, known(&[20])),
        ]);
        let new = picture(vec![
            // 22 restarted: a new inode is a new socket.
            listener(Proto::Tcp, "0.0.0.0", 22, 3, known(&[11])),
            listener(Proto::Udp, "0.0.0.0", 53, 4, known(&[30])),
        ]);
        assert_eq!(
            ports(&diff(&old, &new)),
            [
                ("removed", 22),
                ("removed", 80),
                ("added", 22),
                ("added", 53)
            ]
        );
    }

    #[test]
    fn the_same_socket_with_other_holders_is_a_holder_change() {
        let old = picture(vec![listener(Proto::Tcp, "::", 8080, 5, known(&[40]))]);
        let forked = picture(vec![listener(Proto::Tcp, "::", 8080, 5, known(&[40, 41]))]);
        let changes = diff(&old, &forked);
        assert_eq!(ports(&changes), [("holders_changed", 8080)]);
        let Some(Change::HoldersChanged { before, after }) = changes.first() else {
            panic!("a holder change: {changes:?}");
        };
        assert_eq!(
            (before.owner.pids(), after.owner.pids()),
            (&[40][..], &[40, 41][..])
        );
    }

    #[test]
    fn a_hidden_owner_is_a_holder_change_not_a_removal() {
        let old = picture(vec![listener(Proto::Tcp, "::", 5432, 6, known(&[50]))]);
        let hidden = picture(vec![listener(
            Proto::Tcp,
            "::",
            5432,
            6,
            Owner::Hidden(HiddenReason::NotRoot),
        )]);
        assert_eq!(ports(&diff(&old, &hidden)), [("holders_changed", 5432)]);
        let other_reason = picture(vec![listener(
            Proto::Tcp,
            "::",
            5432,
            6,
            Owner::Hidden(HiddenReason::HidePid),
        )]);
        assert!(diff(&hidden, &other_reason).is_empty());
    }

    #[test]
    fn an_unreadable_table_keeps_its_sockets() {
        let old = picture(vec![
            listener(Proto::Tcp, "0.0.0.0", 22, 1, known(&[10])),
            listener(Proto::Udp, "0.0.0.0", 53, 2, known(&[20])),
            listener(Proto::Udp, "::", 53, 3, known(&[20])),
        ]);
        let mut failed = picture(vec![listener(Proto::Tcp, "0.0.0.0", 22, 1, known(&[10]))]);
        failed.table_errors.push(TableError {
            netns: 0,
            proto: Proto::Udp,
            family: Family::Ipv4,
            message: "cannot read the socket table udp4".into(),
            errno: Some(13),
        });
        // udp6 was readable: its socket really is gone.
        let kept = keep_unread_tables(&old, failed);
        assert_eq!(ports(&diff(&old, &kept)), [("removed", 53)]);
        let ports_kept: Vec<u16> = kept.sockets.iter().map(|s| s.port).collect();
        assert_eq!(ports_kept, [22, 53]);
        assert!(
            kept.processes.contains_key(&20),
            "the holder's facts travel along"
        );
    }
}
