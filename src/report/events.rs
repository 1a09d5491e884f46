//! `--watch`: a stream of JSON events, one per line, each flushed as it is written.
//!
//! Modelled on osquery's differential results (`snapshot`, `added`, `removed`), which log
//! shippers already understand. Every line carries `schema`, `event`, `seq` (0, 1, 2, … within
//! one run), `host` and `taken_at`; socket events carry the socket's identity as `key` and the
//! socket object of the JSON document as `socket`.

use std::io::{self, Write};
use std::net::IpAddr;
use std::time::SystemTime;

use serde::Serialize;

use super::json::{JsonSocket, SCHEMA_VERSION, socket};
use crate::model::{Family, Proto, SafeText, Snapshot, Socket};
use crate::present::{netns_label, rfc3339_at};

/// What identifies one socket across refreshes. A restarted service gets a new inode: that is
/// a `removed` and an `added`, not a change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SocketKey {
    pub netns: String,
    pub proto: Proto,
    pub family: Family,
    pub local_addr: IpAddr,
    pub port: u16,
    pub inode: u64,
}

impl SocketKey {
    pub fn of(snapshot: &Snapshot, socket: &Socket) -> Self {
        SocketKey {
            netns: netns_label(snapshot, socket),
            proto: socket.proto,
            family: socket.family,
            local_addr: socket.local_addr,
            port: socket.port,
            inode: socket.inode,
        }
    }
}

/// How the first state is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotLines {
    /// `--format json`: one `snapshot` line holding every socket in `sockets`.
    One,
    /// `--format jsonl`: one `snapshot` line per socket, each with `key` and `socket` (no line
    /// when there is no socket), so no line grows with the host.
    PerSocket,
}

/// Numbers the events of one stream and writes each as one flushed line.
pub struct EventWriter<'w> {
    out: &'w mut dyn Write,
    next_seq: u64,
    pub lines: SnapshotLines,
}

#[derive(Serialize)]
struct Line<'a, B: Serialize> {
    schema: u32,
    event: &'static str,
    seq: u64,
    host: &'a SafeText,
    taken_at: Option<String>,
    #[serde(flatten)]
    body: B,
}

#[derive(Serialize)]
struct Whole<'a> {
    sockets: Vec<JsonSocket<'a>>,
}

#[derive(Serialize)]
struct One<'a> {
    key: SocketKey,
    socket: JsonSocket<'a>,
}

#[derive(Serialize)]
struct Holders<'a> {
    key: SocketKey,
    /// The holders' pids at the last event and now.
    before: &'a [u32],
    after: &'a [u32],
    socket: JsonSocket<'a>,
}

#[derive(Serialize)]
struct Failure<'a> {
    message: &'a str,
}

impl<'w> EventWriter<'w> {
    pub fn new(out: &'w mut dyn Write, lines: SnapshotLines) -> Self {
        EventWriter {
            out,
            next_seq: 0,
            lines,
        }
    }

    /// The first state: every socket.
    pub fn snapshot(&mut self, snapshot: &Snapshot) -> io::Result<()> {
        if self.lines == SnapshotLines::PerSocket {
            return snapshot
                .sockets
                .iter()
                .try_for_each(|s| self.socket_event("snapshot", snapshot, s));
        }
        let sockets = snapshot.sockets.iter().map(|s| socket(snapshot, s));
        let body = Whole {
            sockets: sockets.collect(),
        };
        self.line("snapshot", &snapshot.host, snapshot.taken_at, body)
    }

    /// A socket that was not there at the last refresh.
    pub fn added(&mut self, snapshot: &Snapshot, socket: &Socket) -> io::Result<()> {
        self.socket_event("added", snapshot, socket)
    }

    /// A socket that is gone, as it was last seen (`last` is that last picture); the event's
    /// time is `now`.
    pub fn removed(&mut self, last: &Snapshot, gone: &Socket, now: SystemTime) -> io::Result<()> {
        let body = One {
            key: SocketKey::of(last, gone),
            socket: socket(last, gone),
        };
        self.line("removed", &last.host, now, body)
    }

    /// The same socket, held by other processes than before.
    pub fn holders_changed(
        &mut self,
        before: &Socket,
        now: &Snapshot,
        after: &Socket,
    ) -> io::Result<()> {
        let body = Holders {
            key: SocketKey::of(now, after),
            before: before.owner.pids(),
            after: after.owner.pids(),
            socket: socket(now, after),
        };
        self.line("holders_changed", &now.host, now.taken_at, body)
    }

    /// A table, or every table, could not be read; what was known before still stands.
    pub fn error(&mut self, host: &SafeText, at: SystemTime, message: &str) -> io::Result<()> {
        self.line("error", host, at, Failure { message })
    }

    fn socket_event(
        &mut self,
        event: &'static str,
        snapshot: &Snapshot,
        each: &Socket,
    ) -> io::Result<()> {
        let body = One {
            key: SocketKey::of(snapshot, each),
            socket: socket(snapshot, each),
        };
        self.line(event, &snapshot.host, snapshot.taken_at, body)
    }

    fn line<B: Serialize>(
        &mut self,
        event: &'static str,
        host: &SafeText,
        at: SystemTime,
        body: B,
    ) -> io::Result<()> {
        let line = Line {
            schema: SCHEMA_VERSION,
            event,
            seq: self.next_seq,
            host,
            taken_at: rfc3339_at(at),
            body,
        };
        serde_json::to_writer(&mut *self.out, &line).map_err(io::Error::from)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        self.next_seq += 1;
        Ok(())
    }
}
