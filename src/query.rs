//! "Who holds port N?" as a pure function over a snapshot.

use crate::cli::PortSpec;
use crate::model::{Snapshot, Socket};

/// The sockets that answer one asked-for spec.
pub struct Answer<'a> {
    pub spec: PortSpec,
    pub sockets: Vec<&'a Socket>,
    /// Non-listening sockets (connections, TIME_WAIT) using the port locally, when counted.
    pub others: usize,
}

impl Answer<'_> {
    pub fn held(&self) -> bool {
        !self.sockets.is_empty()
    }
}

/// One answer per spec, in the order asked. Matching is exact: 3000 never matches 30001.
pub fn answer<'a>(snapshot: &'a Snapshot, specs: &[PortSpec]) -> Vec<Answer<'a>> {
    specs
        .iter()
        .map(|&spec| Answer {
            spec,
            sockets: snapshot
                .sockets
                .iter()
                .filter(|s| spec.matches(s.proto, s.port))
                .collect(),
            others: 0,
        })
        .collect()
}
