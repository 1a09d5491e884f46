//! `--format json`: one JSON document, schema version 1 (documented in README.md).
//!
//! Strings from the OS are already sanitized (`SafeText`), so a consumer that prints a field
//! raw cannot be attacked through it either.

use std::io::{self, Write};

use serde::Serialize;

use crate::bind::BindReport;
use crate::filter::HolderFilter;
use crate::model::{
    Exposure, Family, Netns, NetnsKind, OwnerMapSource, PortRange, Process, Proto, Publication,
    RangeGroup, Reach, SafeText, Snapshot, SockState, Socket, TableError,
};
use crate::present::{rfc3339_at, rfc3339_or_null};
use crate::query::{Answer, Verdict};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    host: &'a SafeText,
    taken_at: Option<String>,
    ephemeral_range: Option<PortRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<&'a [QueryEntry]>,
    /// The network namespaces looked at: none when only the host's own was read, the one
    /// portscope runs in when only that one (not the host's) was read.
    namespaces: Vec<JsonNetnsFull<'a>>,
    sockets: Sockets<'a>,
    unreadable_tables: Vec<JsonTableError<'a>>,
    warnings: Vec<String>,
    /// How the holders were found.
    collector: JsonCollector<'a>,
}

/// `collector`: which owner map named the holders (`bpf`, `proc`, or `system` where there is no
/// `/proc`), and why the in-kernel one was not used (null when it was).
#[derive(Serialize)]
struct JsonCollector<'a> {
    owner_scan: OwnerMapSource,
    bpf_unavailable: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonTableError<'a> {
    netns: Option<u64>,
    proto: Proto,
    family: Family,
    message: &'a str,
}

/// One asked-for port spec and whether it is in use.
#[derive(Serialize)]
pub struct QueryEntry {
    pub spec: String,
    /// `held` (a listener), `connections` (no listener, but connections use it as their local
    /// port), `in_use` (no listener, but a bind fails with EADDRINUSE: see `bind`), `free`, or
    /// `unknown` (a table it needs could not be read).
    pub verdict: &'static str,
    /// The port is in use (`held` or `connections`).
    pub held: bool,
    pub sockets: usize,
    /// Connections or TIME_WAIT sockets using the port locally when nothing listens on it.
    pub other_sockets: usize,
    /// Listeners on the same port number of a protocol or family not asked about.
    pub not_asked: Vec<NotAsked>,
    /// Holders of the asked sockets that `--pid`, `--user` or `--process` left out.
    pub holders_left_out: Vec<u32>,
    /// The answer in each namespace looked at: a port may be free in the host's namespace
    /// and held in a container's.
    pub namespaces: Vec<PlaceEntry>,
    /// The bind verdict: for `--bind`, or for each asked protocol nothing listens on.
    pub bind: Vec<JsonBind>,
}

/// One asked bind: what was tried, what the kernel said, what stands in its way.
#[derive(Serialize)]
pub struct JsonBind {
    pub proto: Proto,
    pub addr: String,
    pub port: u16,
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub v6only: bool,
    pub uid: u32,
    /// `ok`, `in_use`, `no_permission`, `no_address`, `failed` or `unknown`.
    pub outcome: &'static str,
    /// The bind would succeed (null: unknown).
    pub ok: Option<bool>,
    /// The probe's errno and its name, when it failed.
    pub errno: Option<i32>,
    pub error: Option<&'static str>,
    /// `bind` or `listen`: the call that failed.
    pub failed_at: Option<&'static str>,
    /// A real bind was made (and closed at once); else why not.
    pub tried: bool,
    pub not_tried_because: Option<String>,
    /// What the socket tables predicted: `ok`, `in_use`, `maybe_in_use`, `no_permission`,
    /// `no_address`.
    pub predicted: &'static str,
    /// The probe said otherwise than the prediction.
    pub disagrees: bool,
    pub blockers: Vec<JsonBlocker>,
    /// Security modules that may refuse it on rules portscope does not read.
    pub may_be_refused_by: Vec<String>,
    pub message: String,
}

#[derive(Serialize)]
pub struct JsonBlocker {
    /// `listener`, `bound_not_listening`, `time_wait`, `connection`, `udp_socket`, `kernel`.
    pub kind: &'static str,
    /// False when it blocks only unless the other socket set an option root could not read.
    pub certain: bool,
    pub proto: Proto,
    pub state: SockState,
    pub local_addr: String,
    pub port: u16,
    pub remote_addr: Option<String>,
    pub remote_port: Option<u16>,
    pub pids: Vec<u32>,
    pub uid: Option<u32>,
    /// Seconds left on its timer (TIME_WAIT).
    pub seconds_left: Option<u32>,
    /// The blocker in words: the socket, why it is in the way, and what would help.
    pub message: String,
    /// What would help, in words (null when nothing but stopping it would).
    pub remedy: Option<String>,
}

impl JsonBind {
    pub fn of(report: &BindReport) -> Self {
        use crate::bind::{Expected, Outcome, Probe};
        let outcome = report.outcome();
        let (errno, failed_at) = match &report.probe {
            Probe::Failed(step, code) => (Some(*code), Some(*step)),
            _ => (None, None),
        };
        JsonBind {
            proto: report.ask.proto,
            addr: report.ask.addr.to_string(),
            port: report.ask.port,
            reuseaddr: report.ask.reuseaddr,
            reuseport: report.ask.reuseport,
            v6only: report.ask.v6only,
            uid: report.ask.uid,
            outcome: match outcome {
                Outcome::Ok => "ok",
                Outcome::InUse => "in_use",
                Outcome::NoPermission => "no_permission",
                Outcome::NoAddress => "no_address",
                Outcome::Failed(_) => "failed",
                Outcome::Unknown => "unknown",
            },
            ok: match outcome {
                Outcome::Ok => Some(true),
                Outcome::Unknown => None,
                _ => Some(false),
            },
            errno,
            error: errno.map(crate::bind::errno_name),
            failed_at,
            tried: !matches!(report.probe, Probe::NotTried(_)),
            not_tried_because: match &report.probe {
                Probe::NotTried(why) => Some(why.clone()),
                _ => None,
            },
            predicted: match report.prediction.expected() {
                Expected::Ok => "ok",
                Expected::InUse => "in_use",
                Expected::MaybeInUse => "maybe_in_use",
                Expected::NoPermission => "no_permission",
                Expected::NoAddress => "no_address",
            },
            disagrees: report.disagrees(),
            blockers: report
                .blockers()
                .into_iter()
                .map(|(blocker, existing)| {
                    let s = &existing.socket;
                    JsonBlocker {
                        kind: blocker.kind.as_str(),
                        certain: blocker.certainty == crate::bind::Certainty::Blocks,
                        proto: s.proto,
                        state: s.state,
                        local_addr: s.local_addr.to_string(),
                        port: s.port,
                        remote_addr: s.remote.map(|(a, _)| a.to_string()),
                        remote_port: s.remote.map(|(_, p)| p),
                        pids: s.owner.pids().to_vec(),
                        uid: s.uid,
                        seconds_left: existing.expires_ms.map(|ms| ms.div_ceil(1000)),
                        message: crate::present::bind::blocker_line(report, blocker, existing),
                        remedy: crate::present::bind::blocker_parts(report, blocker, existing).1,
                    }
                })
                .collect(),
            may_be_refused_by: report.setting.hooks.clone(),
            message: crate::present::bind::outcome_line(report).0,
        }
    }
}

#[derive(Serialize)]
pub struct PlaceEntry {
    /// The namespace's inode (null when only the current one was read).
    pub netns: Option<u64>,
    pub name: Option<String>,
    pub verdict: &'static str,
    pub sockets: usize,
    pub other_sockets: usize,
    pub pids: Vec<u32>,
}

#[derive(Serialize)]
pub struct NotAsked {
    pub proto: Proto,
    pub family: Family,
    pub local_addr: String,
    pub port: u16,
    pub pids: Vec<u32>,
}

impl QueryEntry {
    pub fn new(snapshot: &Snapshot, answer: &Answer<'_>, holders: &HolderFilter) -> Self {
        let verdict = answer.verdict();
        let mut left_out: Vec<u32> = answer
            .sockets
            .iter()
            .flat_map(|s| holders.left_out(snapshot, s).map(|p| p.pid))
            .collect();
        left_out.sort_unstable();
        left_out.dedup();
        QueryEntry {
            spec: answer.spec.to_string(),
            verdict: verdict_name(verdict),
            held: verdict.in_use(),
            sockets: answer.sockets.len(),
            other_sockets: answer.others.len(),
            not_asked: answer
                .not_asked
                .iter()
                .map(|s| NotAsked {
                    proto: s.proto,
                    family: s.family,
                    local_addr: s.local_addr.to_string(),
                    port: s.port,
                    pids: s.owner.pids().to_vec(),
                })
                .collect(),
            holders_left_out: left_out,
            bind: Vec::new(),
            namespaces: answer
                .places(snapshot)
                .iter()
                .map(|place| {
                    let mut pids: Vec<u32> = place
                        .sockets
                        .iter()
                        .flat_map(|s| s.owner.pids().iter().copied())
                        .collect();
                    pids.sort_unstable();
                    pids.dedup();
                    PlaceEntry {
                        netns: (place.netns != 0).then_some(place.netns),
                        name: snapshot
                            .namespaces
                            .get(&place.netns)
                            .map(|n| n.name.to_string()),
                        verdict: verdict_name(place.verdict()),
                        sockets: place.sockets.len(),
                        other_sockets: place.others.len(),
                        pids,
                    }
                })
                .collect(),
        }
    }
}

impl QueryEntry {
    /// The bind verdict's entries; a bind refused with EADDRINUSE makes the port in use.
    /// The bind verdict, tried in the namespace `here` (0: the only one read): a bind that
    /// fails with EADDRINUSE makes the port in use there.
    pub fn with_binds(mut self, reports: &[BindReport], here: u64) -> Self {
        self.bind = reports.iter().map(JsonBind::of).collect();
        if self.bind.iter().any(|b| b.outcome == "in_use") {
            if self.verdict == "free" {
                self.verdict = "in_use";
                self.held = true;
            }
            let here = (here != 0).then_some(here);
            for place in self.namespaces.iter_mut().filter(|p| p.netns == here) {
                if place.verdict == "free" {
                    place.verdict = "in_use";
                }
            }
        }
        self
    }
}

pub fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Held => "held",
        Verdict::UsedByConnections => "connections",
        Verdict::Free => "free",
        Verdict::Unknown => "unknown",
    }
}

/// One socket as every JSON output shows it: an element of the document's `sockets`, the body
/// of a `--format jsonl` line and of a `--watch` event.
#[derive(Serialize)]
pub struct JsonSocket<'a> {
    proto: Proto,
    family: Family,
    local_addr: String,
    port: u16,
    state: SockState,
    remote_addr: Option<String>,
    remote_port: Option<u16>,
    range: RangeGroup,
    ephemeral: Option<bool>,
    service: Option<&'static str>,
    hint: Option<&'static str>,
    exposure: Exposure,
    v6only: Option<bool>,
    inode: u64,
    /// The namespace it is in (null when only the host's own namespace was read).
    netns: Option<JsonNetns<'a>>,
    /// Where it leads, when a forwarder (docker-proxy, …) holds it for a container.
    published: Option<JsonPublication<'a>>,
    uid: Option<u32>,
    user: Option<&'a SafeText>,
    owner: &'static str,
    owner_reason: Option<&'static str>,
    processes: Vec<JsonProcess<'a>>,
}

#[derive(Serialize)]
pub struct JsonProcess<'a> {
    pid: u32,
    /// The fds through which this holder holds the socket (empty where the OS does not tell).
    fds: &'a [u32],
    name: &'a SafeText,
    comm: &'a SafeText,
    cmdline: &'a [SafeText],
    /// The command line was longer than what portscope reads.
    cmdline_truncated: bool,
    /// Its whole length in bytes, when the kernel tells.
    cmdline_bytes: Option<u64>,
    exe: Option<&'a SafeText>,
    cwd: Option<&'a SafeText>,
    uid: Option<u32>,
    user: Option<&'a SafeText>,
    ppid: Option<u32>,
    parent_name: Option<&'a SafeText>,
    start_time: Option<String>,
    /// `docker web-1`, from its cgroup.
    container: Option<&'a SafeText>,
    /// Its systemd unit, from its cgroup.
    unit: Option<&'a SafeText>,
}

/// A namespace as each socket names it.
#[derive(Serialize)]
struct JsonNetns<'a> {
    inode: u64,
    /// NS_GET_ID, where the kernel has it: never reused, unlike inodes.
    id: Option<u64>,
    name: &'a SafeText,
    kind: NetnsKind,
    container: Option<JsonContainer<'a>>,
}

#[derive(Serialize)]
struct JsonContainer<'a> {
    runtime: &'static str,
    id: &'a SafeText,
    name: Option<&'a SafeText>,
    image: Option<&'a SafeText>,
    pod: Option<&'a SafeText>,
}

/// A namespace in the top-level list, with how it was found.
#[derive(Serialize)]
struct JsonNetnsFull<'a> {
    #[serde(flatten)]
    netns: JsonNetns<'a>,
    /// A process inside it.
    pid: Option<u32>,
    /// Bind mounts that keep it (`/run/netns/t_a`).
    paths: &'a [SafeText],
    /// `process`, `thread`, `mount`, `fd`, `socket`.
    found_by: &'a [&'static str],
    /// Sockets of the snapshot in it.
    sockets: usize,
}

#[derive(Serialize)]
struct JsonPublication<'a> {
    forwarder: &'static str,
    forwarder_pid: u32,
    container: Option<&'a SafeText>,
    target_addr: Option<String>,
    target_port: Option<u16>,
    target_netns: Option<u64>,
    /// `listening`, `nothing_listens`, `loopback_only` or `unknown`.
    reach: &'static str,
    /// The listeners inside that take the traffic, with their holders.
    inside: Vec<JsonInside>,
    /// The command that stops what is behind the port (never the forwarder).
    stop: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonInside {
    netns: u64,
    inode: u64,
    local_addr: Option<String>,
    port: Option<u16>,
    pids: Vec<u32>,
}

pub fn write_json(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    query: Option<&[QueryEntry]>,
) -> io::Result<()> {
    let document = Document {
        version: SCHEMA_VERSION,
        host: &snapshot.host,
        taken_at: rfc3339_at(snapshot.taken_at),
        ephemeral_range: snapshot.ephemeral,
        query,
        // Keyed as the sockets refer to it (0 for the one namespace read when it is not the
        // host's: `--netns current` inside another).
        namespaces: snapshot
            .namespaces
            .iter()
            .map(|(&key, n)| JsonNetnsFull {
                netns: netns(n),
                pid: n.pid,
                paths: &n.paths,
                found_by: &n.found_by,
                sockets: snapshot.sockets.iter().filter(|s| s.netns == key).count(),
            })
            .collect(),
        sockets: Sockets(snapshot),
        unreadable_tables: snapshot.table_errors.iter().map(table_error).collect(),
        warnings: snapshot.notes(),
        collector: JsonCollector {
            owner_scan: snapshot.visibility.owner_map.source,
            bpf_unavailable: snapshot.visibility.owner_map.bpf_unavailable.as_deref(),
        },
    };
    // serde_json writes a few bytes at a time; through `dyn Write` each was a virtual call
    // into the caller's buffer, a fifth of `--once --json` on 1,800 sockets. A buffer of its
    // own makes them plain copies.
    let mut buffered = io::BufWriter::with_capacity(1 << 16, &mut *out);
    let mut serializer = serde_json::Serializer::with_formatter(&mut buffered, Pretty::default());
    document
        .serialize(&mut serializer)
        .map_err(io::Error::from)?;
    writeln!(buffered)?;
    buffered.flush()
}

/// serde_json's `PrettyFormatter` (two spaces), byte for byte, but each line's break and
/// indentation go out in one write instead of one per level: with 1,000 sockets of six
/// levels, those small writes were a fifth of the document's time.
#[derive(Default)]
struct Pretty {
    depth: usize,
    has_value: bool,
}

/// `,` then a line break and room for 40 levels of indentation.
const BREAK: &[u8; 82] =
    b",\n                                                                                ";

impl Pretty {
    fn line<W: ?Sized + Write>(&self, writer: &mut W, comma: bool) -> io::Result<()> {
        let start = usize::from(!comma);
        let end = 2 + 2 * self.depth;
        match BREAK.get(start..end) {
            Some(bytes) => writer.write_all(bytes),
            None => {
                writer.write_all(&BREAK[start..2])?;
                (0..self.depth).try_for_each(|_| writer.write_all(b"  "))
            }
        }
    }
}

impl Pretty {
    fn open<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.line(writer, false)?;
        }
        writer.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for Pretty {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.line(writer, !first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.line(writer, !first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

fn table_error(error: &TableError) -> JsonTableError<'_> {
    JsonTableError {
        netns: (error.netns != 0).then_some(error.netns),
        proto: error.proto,
        family: error.family,
        message: &error.message,
    }
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

pub fn socket<'a>(snapshot: &'a Snapshot, socket: &'a Socket) -> JsonSocket<'a> {
    JsonSocket {
        proto: socket.proto,
        family: socket.family,
        local_addr: socket.local_addr.to_string(),
        port: socket.port,
        state: socket.state,
        remote_addr: socket.remote.map(|(addr, _)| addr.to_string()),
        remote_port: socket.remote.map(|(_, port)| port),
        range: socket.range(),
        ephemeral: snapshot.ephemeral.map(|r| r.contains(socket.port)),
        service: socket.service(),
        hint: socket.hint(),
        exposure: socket.exposure(),
        v6only: socket.v6only,
        inode: socket.inode,
        netns: snapshot.netns_of(socket).map(netns),
        published: snapshot
            .publication(socket)
            .map(|p| publication(snapshot, p)),
        uid: socket.uid,
        user: snapshot.user_name(socket.uid),
        owner: socket.owner.kind(),
        owner_reason: socket.owner.reason(),
        processes: snapshot
            .holders_lead_first(socket)
            .into_iter()
            .map(|p| process(p, snapshot.fds_of(socket, p.pid)))
            .collect(),
    }
}

pub fn process<'a>(process: &'a Process, fds: &'a [u32]) -> JsonProcess<'a> {
    JsonProcess {
        pid: process.pid,
        fds,
        name: &process.name,
        comm: &process.comm,
        cmdline: &process.cmdline,
        cmdline_truncated: process.cmdline_cut.is_some(),
        cmdline_bytes: process.cmdline_cut.flatten(),
        exe: process.exe.as_ref(),
        cwd: process.cwd.as_ref(),
        uid: process.uid,
        user: process.user.as_ref(),
        ppid: process.ppid,
        parent_name: process.parent_name.as_ref(),
        start_time: process.start_time.and_then(rfc3339_or_null),
        container: process.container.as_ref(),
        unit: process.unit.as_ref(),
    }
}

fn netns(netns: &Netns) -> JsonNetns<'_> {
    JsonNetns {
        inode: netns.inode,
        id: netns.id,
        name: &netns.name,
        kind: netns.kind,
        container: netns.container.as_ref().map(|c| JsonContainer {
            runtime: c.runtime,
            id: &c.id,
            name: c.name.as_ref(),
            image: c.image.as_ref(),
            pod: c.pod.as_ref(),
        }),
    }
}

fn publication<'a>(snapshot: &Snapshot, publication: &'a Publication) -> JsonPublication<'a> {
    JsonPublication {
        forwarder: publication.forwarder,
        forwarder_pid: publication.forwarder_pid,
        container: publication.container.as_ref(),
        target_addr: publication.target.map(|(ip, _)| ip.to_string()),
        target_port: publication.target.map(|(_, port)| port),
        target_netns: publication.target_netns,
        reach: match publication.reach {
            Reach::Listening => "listening",
            Reach::NothingListens => "nothing_listens",
            Reach::LoopbackOnly => "loopback_only",
            Reach::Unknown => "unknown",
        },
        inside: publication
            .inside
            .iter()
            .map(|&(netns, inode)| {
                let socket = snapshot.socket_at((netns, inode));
                JsonInside {
                    netns,
                    inode,
                    local_addr: socket.map(|s| s.local_addr.to_string()),
                    port: socket.map(|s| s.port),
                    pids: socket.map(|s| s.owner.pids().to_vec()).unwrap_or_default(),
                }
            })
            .collect(),
        stop: publication.stop.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pretty(value: &serde_json::Value) -> String {
        let mut out = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, Pretty::default());
        value.serialize(&mut serializer).expect("serialize");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn the_formatter_writes_what_serde_jsons_pretty_one_does() {
        let mut deep = serde_json::json!({"leaf": [1, {"k": null}]});
        // Deeper than the prepared indentation, which then goes out one level at a time.
        for i in 0..45 {
            deep = serde_json::json!({ "level": i, "inner": [deep, [], {}] });
        }
        let value = serde_json::json!({
            "empty_array": [], "empty_object": {}, "text": "a\nb\u{1b}\"",
            "list": [1, 2.5, true, null, "x", [[]], [{}], {"a": {"b": [3]}}],
            "deep": deep,
        });
        let want = serde_json::to_string_pretty(&value).expect("serialize");
        assert_eq!(pretty(&value), want);
        assert_eq!(pretty(&serde_json::json!([])), "[]");
    }
}
