//! "Who holds port N?" as a pure function over a snapshot.
//!
//! Protocol and family flags narrow the question (udp/80 may be free while tcp/80 is held, and
//! the answer names what else is on the port number); holder filters (`--pid`, `--user`,
//! `--process`) only narrow what is shown: a port held by someone outside the filter is still
//! in use.

use crate::filter::HolderFilter;
use crate::model::{
    Family, NetnsKind, PortSpec, Process, Proto, Selection, Snapshot, SockState, Socket, TableError,
};

/// The sockets that answer one asked-for spec.
pub struct Answer<'a> {
    pub spec: PortSpec,
    /// Sockets on the port of the asked protocols and families (listeners; every state with
    /// `--all`): these decide whether it is in use.
    pub sockets: Vec<&'a Socket>,
    /// Listeners on the same port number of a protocol or family not asked about.
    pub not_asked: Vec<&'a Socket>,
    /// Non-listening sockets (connections, TIME_WAIT) using the port locally, when counted.
    pub others: Vec<OtherUse>,
    /// Tables the answer needed that could not be read.
    pub unreadable: Vec<&'a TableError>,
}

/// A non-listening socket using a port locally (read without owners).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtherUse {
    pub netns: u64,
    pub proto: Proto,
    pub port: u16,
    pub state: SockState,
}

/// Whether a port is in use, as every path (query, `--kill`, JSON) says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A listener (or, with `--all`, any socket) holds it.
    Held,
    /// No listener, but connections or TIME_WAIT sockets use it: a bind would fail.
    UsedByConnections,
    /// Nothing uses it.
    Free,
    /// Nothing seen, but a table it would be in could not be read.
    Unknown,
}

impl Verdict {
    pub fn in_use(self) -> bool {
        matches!(self, Verdict::Held | Verdict::UsedByConnections)
    }
}

fn verdict_of(sockets: usize, others: usize, unreadable: usize) -> Verdict {
    if sockets > 0 {
        Verdict::Held
    } else if others > 0 {
        Verdict::UsedByConnections
    } else if unreadable > 0 {
        Verdict::Unknown
    } else {
        Verdict::Free
    }
}

/// One network namespace's share of an answer: a port is a port *in a namespace*, so it may
/// be free in the host's and held in a container's.
pub struct Place<'a> {
    pub netns: u64,
    pub sockets: Vec<&'a Socket>,
    pub others: Vec<OtherUse>,
    pub unreadable: Vec<&'a TableError>,
}

impl Place<'_> {
    pub fn verdict(&self) -> Verdict {
        verdict_of(self.sockets.len(), self.others.len(), self.unreadable.len())
    }
}

impl<'a> Answer<'a> {
    /// The answer per namespace of the snapshot: the host's first, then by name. A snapshot
    /// of one namespace gives one place.
    pub fn places(&self, snapshot: &Snapshot) -> Vec<Place<'a>> {
        let mut order: Vec<(bool, String, u64)> = snapshot
            .namespaces
            .values()
            .map(|n| (n.kind != NetnsKind::Host, n.name.to_string(), n.inode))
            .collect();
        // Sockets of a namespace the snapshot did not name still count.
        for ns in self.sockets.iter().map(|s| s.netns) {
            if !order.iter().any(|o| o.2 == ns) {
                order.push((true, format!("net:[{ns}]"), ns));
            }
        }
        if order.is_empty() {
            order.push((false, String::new(), 0));
        }
        order.sort();
        // Errors of the whole read (netns 0) belong to every namespace.
        let errors_of = |ns: u64| {
            self.unreadable
                .iter()
                .copied()
                .filter(|e| e.netns == ns || e.netns == 0)
                .collect::<Vec<_>>()
        };
        order
            .into_iter()
            .map(|(_, _, ns)| Place {
                netns: ns,
                sockets: self
                    .sockets
                    .iter()
                    .copied()
                    .filter(|s| s.netns == ns)
                    .collect(),
                others: self
                    .others
                    .iter()
                    .copied()
                    .filter(|o| o.netns == ns)
                    .collect(),
                unreadable: errors_of(ns),
            })
            .collect()
    }
}

impl Answer<'_> {
    pub fn verdict(&self) -> Verdict {
        verdict_of(self.sockets.len(), self.others.len(), self.unreadable.len())
    }

    pub fn held(&self) -> bool {
        self.verdict() == Verdict::Held
    }

    /// The protocols this answer is about, for "no TCP or UDP listener".
    pub fn protocols(&self, selection: Selection) -> Vec<Proto> {
        [Proto::Tcp, Proto::Udp]
            .into_iter()
            .filter(|&p| asked_proto(&self.spec, selection, p))
            .collect()
    }
}

fn asked_proto(spec: &PortSpec, selection: Selection, proto: Proto) -> bool {
    spec.proto
        .map_or(selection.has_proto(proto), |p| p == proto)
}

/// Was this socket asked about (port, protocol, family and state)?
pub fn asked(spec: &PortSpec, selection: Selection, socket: &Socket) -> bool {
    spec.covers(socket.port)
        && asked_proto(spec, selection, socket.proto)
        && selection.has_family(socket.family)
        && (selection.all_states || socket.is_listener())
}

/// One answer per spec, in the order asked. Matching is exact: 3000 never matches 30001. The
/// snapshot must hold every listener on the asked ports, of every protocol and family, so the
/// answer can name what was not asked about.
pub fn answer<'a>(
    snapshot: &'a Snapshot,
    specs: &[PortSpec],
    selection: Selection,
) -> Vec<Answer<'a>> {
    specs
        .iter()
        .map(|&spec| {
            let on_port = || snapshot.sockets.iter().filter(move |s| spec.covers(s.port));
            Answer {
                spec,
                sockets: on_port().filter(|s| asked(&spec, selection, s)).collect(),
                not_asked: on_port()
                    .filter(|s| s.is_listener() && !asked(&spec, selection, s))
                    .collect(),
                others: Vec::new(),
                unreadable: unreadable_for(snapshot, &spec, selection),
            }
        })
        .collect()
}

fn unreadable_for<'a>(
    snapshot: &'a Snapshot,
    spec: &PortSpec,
    selection: Selection,
) -> Vec<&'a TableError> {
    snapshot
        .table_errors
        .iter()
        .filter(|e| asked_proto(spec, selection, e.proto) && selection.has_family(e.family))
        .collect()
}

/// Adds the non-listening sockets that use each not-held port.
pub fn add_others(answers: &mut [Answer<'_>], others: &[Socket], selection: Selection) {
    for answer in answers.iter_mut().filter(|a| a.sockets.is_empty()) {
        let spec = answer.spec;
        answer.others = others
            .iter()
            .filter(|s| {
                spec.covers(s.port)
                    && asked_proto(&spec, selection, s.proto)
                    && selection.has_family(s.family)
            })
            .map(|s| OtherUse {
                netns: s.netns,
                proto: s.proto,
                port: s.port,
                state: s.state,
            })
            .collect();
    }
}

/// Every holder of the answer's sockets, each once, lead holders first, with the sockets it
/// holds among them.
pub fn holders<'a>(snapshot: &'a Snapshot, sockets: &[&'a Socket]) -> Vec<Holding<'a>> {
    let mut holdings: Vec<Holding<'a>> = Vec::new();
    for &socket in sockets {
        for process in snapshot.holders_lead_first(socket) {
            match holdings.iter_mut().find(|h| h.process.pid == process.pid) {
                Some(holding) => holding.sockets.push(socket),
                None => holdings.push(Holding {
                    process,
                    sockets: vec![socket],
                }),
            }
        }
    }
    holdings
}

/// One process and the asked-for sockets it holds.
pub struct Holding<'a> {
    pub process: &'a Process,
    pub sockets: Vec<&'a Socket>,
}

/// The holders split by the holder filter: (shown, left out).
pub fn split_holders<'a>(
    holdings: Vec<Holding<'a>>,
    filter: &HolderFilter,
) -> (Vec<Holding<'a>>, Vec<Holding<'a>>) {
    holdings
        .into_iter()
        .partition(|h| filter.matches_process(h.process))
}

/// `tcp/80`, `udp/[::]` style label of what else is on the port.
pub fn proto_family(socket: &Socket) -> String {
    let family = match socket.family {
        Family::Ipv4 => "v4",
        Family::Ipv6 => "v6",
    };
    format!("{}{family}/{}", socket.proto.as_str(), socket.port)
}
