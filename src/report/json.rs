//! `--json`: one JSON document, schema version 1 (documented in README.md).
//!
//! Strings from the OS are already sanitized (`SafeText`), so a consumer that prints a field
//! raw cannot be attacked through it either.

use std::io::{self, Write};

use serde::Serialize;

use super::rfc3339;
use crate::model::{
    Exposure, Family, PortRange, Process, Proto, RangeGroup, SafeText, Snapshot, SockState, Socket,
};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    taken_at: String,
    ephemeral_range: Option<PortRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<&'a [QueryEntry]>,
    sockets: Sockets<'a>,
    warnings: Vec<String>,
}

/// One asked-for port spec and whether anything holds it.
#[derive(Serialize)]
pub struct QueryEntry {
    pub spec: String,
    /// A listener holds the port.
    pub held: bool,
    pub sockets: usize,
    /// Connections or TIME_WAIT sockets using the port locally when nothing listens on it.
    pub other_sockets: usize,
}

impl From<&crate::query::Answer<'_>> for QueryEntry {
    fn from(answer: &crate::query::Answer<'_>) -> Self {
        QueryEntry {
            spec: answer.spec.to_string(),
            held: answer.held(),
            sockets: answer.sockets.len(),
            other_sockets: answer.others,
        }
    }
}

#[derive(Serialize)]
struct JsonSocket<'a> {
    proto: Proto,
    family: Family,
    local_addr: String,
    port: u16,
    state: SockState,
    remote_addr: Option<String>,
    remote_port: Option<u16>,
    range: RangeGroup,
    ephemeral: bool,
    service: Option<&'static str>,
    hint: Option<&'static str>,
    exposure: Exposure,
    inode: u64,
    uid: u32,
    user: Option<&'a SafeText>,
    owner: &'static str,
    owner_reason: Option<&'static str>,
    processes: Vec<JsonProcess<'a>>,
}

#[derive(Serialize)]
struct JsonProcess<'a> {
    pid: u32,
    name: &'a SafeText,
    cmdline: &'a [SafeText],
    exe: Option<&'a SafeText>,
    cwd: Option<&'a SafeText>,
    uid: Option<u32>,
    user: Option<&'a SafeText>,
    ppid: Option<u32>,
    parent_name: Option<&'a SafeText>,
    start_time: Option<String>,
}

pub fn write_json(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    query: Option<&[QueryEntry]>,
) -> io::Result<()> {
    let taken_at = humantime::format_rfc3339_seconds(snapshot.taken_at).to_string();
    let document = Document {
        version: SCHEMA_VERSION,
        taken_at,
        ephemeral_range: snapshot.ephemeral,
        query,
        sockets: Sockets(snapshot),
        warnings: snapshot
            .warnings
            .iter()
            .cloned()
            .chain(snapshot.owner_summary())
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &document).map_err(io::Error::from)?;
    writeln!(out)
}

/// The socket array, serialized one element at a time: with 200,000 sockets, building the
/// whole document first would hold every row twice.
struct Sockets<'a>(&'a Snapshot);

impl Serialize for Sockets<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let snapshot = self.0;
        serializer.collect_seq(snapshot.sockets.iter().map(|s| socket(snapshot, s)))
    }
}

fn socket<'a>(snapshot: &'a Snapshot, socket: &'a Socket) -> JsonSocket<'a> {
    JsonSocket {
        proto: socket.proto,
        family: socket.family,
        local_addr: socket.local_addr.to_string(),
        port: socket.port,
        state: socket.state,
        remote_addr: socket.remote.map(|(addr, _)| addr.to_string()),
        remote_port: socket.remote.map(|(_, port)| port),
        range: socket.range(),
        ephemeral: snapshot.in_ephemeral(socket.port),
        service: socket.service(),
        hint: socket.hint(),
        exposure: socket.exposure(),
        inode: socket.inode,
        uid: socket.uid,
        user: snapshot.user_name(socket.uid),
        owner: socket.owner.kind(),
        owner_reason: socket.owner.reason(),
        processes: snapshot.holders(socket).map(process).collect(),
    }
}

fn process(process: &Process) -> JsonProcess<'_> {
    JsonProcess {
        pid: process.pid,
        name: &process.name,
        cmdline: &process.cmdline,
        exe: process.exe.as_ref(),
        cwd: process.cwd.as_ref(),
        uid: process.uid,
        user: process.user.as_ref(),
        ppid: process.ppid,
        parent_name: process.parent_name.as_ref(),
        start_time: process.start_time.map(rfc3339),
    }
}
