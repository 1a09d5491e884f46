//! Which sockets and holders the user asked to see. The socket-level part (protocol, family,
//! state, port) is decided from the kernel's table before owners are looked up, so the scan only
//! resolves what will be shown; the holder-level part (pid, user, process name) runs after.

use crate::collect::{Collector, CollectorOptions, OwnerScanChoice};
use crate::model::{NetnsScope, PortSpec, Process, Selection, Snapshot, Socket};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Which network namespaces.
    pub netns: NetnsScope,
    /// How holders are found (`--owner-scan`).
    pub owner_scan: OwnerScanChoice,
    pub selection: Selection,
    pub ports: Vec<PortSpec>,
    pub holders: HolderFilter,
}

/// `--pid`, `--user` and `--process`: which holders the user is interested in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HolderFilter {
    pub pids: Vec<u32>,
    /// The uid `--user` named (a name is resolved to its uid once, when the command is read).
    pub uid: Option<u32>,
    /// Lower-cased substring of a holder's name.
    pub process: Option<String>,
}

impl HolderFilter {
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty() && self.uid.is_none() && self.process.is_none()
    }

    /// Does this holder pass every holder filter?
    pub fn matches_process(&self, process: &Process) -> bool {
        let pid_ok = self.pids.is_empty() || self.pids.contains(&process.pid);
        let user_ok = self.uid.is_none_or(|uid| process.uid == Some(uid));
        let name_ok = self.process.as_ref().is_none_or(|name| {
            process.name.as_str().to_lowercase().contains(name)
                || process.comm.as_str().to_lowercase().contains(name)
        });
        pid_ok && user_ok && name_ok
    }

    /// A socket passes when one of its holders passes; a socket without visible holders passes
    /// only a `--user` filter naming its own uid.
    pub fn matches_socket(&self, snapshot: &Snapshot, socket: &Socket) -> bool {
        if self.is_empty() {
            return true;
        }
        let by_holder = snapshot
            .holders(socket)
            .any(|process| self.matches_process(process));
        let by_socket_uid = self.pids.is_empty()
            && self.process.is_none()
            && self.uid.is_some()
            && self.uid == socket.uid;
        by_holder || by_socket_uid
    }

    /// The holders of `socket` this filter leaves out.
    pub fn left_out<'a>(
        &'a self,
        snapshot: &'a Snapshot,
        socket: &'a Socket,
    ) -> impl Iterator<Item = &'a Process> + 'a {
        snapshot
            .holders(socket)
            .filter(move |process| !self.is_empty() && !self.matches_process(process))
    }

    /// `--process apache --user 33`, for messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for pid in &self.pids {
            parts.push(format!("--pid {pid}"));
        }
        if let Some(uid) = self.uid {
            parts.push(format!("--user {uid}"));
        }
        if let Some(name) = &self.process {
            parts.push(format!("--process {name}"));
        }
        parts.join(" ")
    }
}

impl Filter {
    /// A collector for the namespaces and the owner-scan path asked for.
    pub fn collector(&self) -> Collector {
        Collector::with_options(CollectorOptions {
            scope: self.netns.clone(),
            owner_scan: self.owner_scan,
        })
    }

    /// Decided from the kernel's table alone, before any owner is looked up.
    pub fn keep_socket(&self, socket: &Socket) -> bool {
        self.selection.keeps(socket) && self.keep_port(socket)
    }

    /// The socket's local port is one the user asked about (or no ports were given).
    pub fn keep_port(&self, socket: &Socket) -> bool {
        self.ports.is_empty()
            || self
                .ports
                .iter()
                .any(|p| p.matches(socket.proto, socket.port))
    }

    /// Keeps only the sockets with a holder the holder filters accept (listings only: a port
    /// query never drops a socket because of who holds it).
    pub fn apply(&self, mut snapshot: Snapshot) -> Snapshot {
        if self.holders.is_empty() {
            return snapshot;
        }
        let keep: Vec<bool> = snapshot
            .sockets
            .iter()
            .map(|s| self.holders.matches_socket(&snapshot, s))
            .collect();
        let mut flags = keep.into_iter();
        snapshot.sockets.retain(|_| flags.next().unwrap_or(false));
        snapshot
    }
}
