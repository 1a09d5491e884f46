//! The collector: OS socket tables → one immutable [`Snapshot`].
//!
//! OS differences live in their own files (`linux/`, `other.rs`); everything here is shared.
//! No terminal or CLI types are used in this module.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as os;
#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
use other as os;
mod procinfo;

#[cfg(target_os = "linux")]
pub use linux::procstat;
/// The two owner-scan paths, public for the tests that compare them: the in-kernel map and the
/// `/proc` walk.
#[cfg(target_os = "linux")]
pub use linux::{OwnerIndex, OwnerScan, bpf};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use crate::model::{NoneReason, Owner, Snapshot, Socket, Visibility};

/// A socket table that cannot be read is an error, never an empty list.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("cannot read the socket table {table}: {message}")]
    SocketTable { table: String, message: String },
}

impl CollectError {
    fn table(table: impl Into<String>, error: impl std::fmt::Display) -> Self {
        CollectError::SocketTable {
            table: table.into(),
            message: error.to_string(),
        }
    }
}

/// Which kernel tables to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tables {
    pub tcp: bool,
    pub udp: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Ask the kernel for listeners only (TCP LISTEN, unconnected UDP); much less to read.
    pub listeners_only: bool,
    /// Also count established TCP connections per listening port (the live view).
    pub connections: bool,
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            tcp: true,
            udp: true,
            ipv4: true,
            ipv6: true,
            listeners_only: true,
            connections: false,
        }
    }
}

/// What the OS layer learned about the holders of a set of sockets.
pub struct Owners {
    pub by_inode: HashMap<u64, Vec<u32>>,
    /// What to say for a socket that has an inode but no holder we could see.
    pub unowned: Owner,
    pub unreadable_pids: Vec<u32>,
}

/// The sockets `keep` accepts, without looking up owners: cheap, for polling a port. Needs no
/// Collector: there is no process state to keep.
pub fn sockets(
    tables: Tables,
    keep: &dyn Fn(&Socket) -> bool,
) -> Result<Vec<Socket>, CollectError> {
    let mut sockets = os::socket_table(tables)?;
    sockets.retain(|socket| keep(socket));
    Ok(sockets)
}

/// Long-lived, so the live view reuses its process cache between refreshes.
pub struct Collector {
    facts: procinfo::ProcessFacts,
    owners: os::OwnerIndex,
}

impl Default for Collector {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector {
    pub fn new() -> Self {
        Collector {
            facts: procinfo::ProcessFacts::new(),
            owners: os::OwnerIndex::default(),
        }
    }

    /// Reads the tables, keeps the sockets `keep` accepts, and looks up only their holders.
    pub fn collect(
        &mut self,
        tables: Tables,
        keep: &dyn Fn(&Socket) -> bool,
    ) -> Result<Snapshot, CollectError> {
        let taken_at = SystemTime::now();
        let mut sockets = os::socket_table(tables)?;
        sockets.retain(|socket| keep(socket));
        let owners = os::find_owners(&mut self.owners, &sockets);
        for socket in &mut sockets {
            socket.owner = owner_of(socket.inode, &owners);
        }
        sort_sockets(&mut sockets);
        let pids: BTreeSet<u32> = sockets
            .iter()
            .flat_map(|s| s.owner.pids().iter().copied())
            .collect();
        let processes = self.facts.refresh(&pids);
        let uids: BTreeSet<u32> = sockets.iter().map(|s| s.uid).collect();
        let connections = match tables.connections {
            true => os::connections(tables, &sockets)?,
            false => BTreeMap::new(),
        };
        Ok(Snapshot {
            taken_at,
            sockets,
            users: self.facts.user_names(uids),
            processes,
            connections,
            ephemeral: os::ephemeral_range(),
            visibility: Visibility {
                unreadable_pids: owners.unreadable_pids,
            },
            warnings: Vec::new(),
        })
    }
}

fn owner_of(inode: u64, owners: &Owners) -> Owner {
    if inode == 0 {
        return Owner::None(NoneReason::KernelHeld);
    }
    match owners.by_inode.get(&inode) {
        Some(pids) => Owner::Known(pids.clone()),
        None => owners.unowned.clone(),
    }
}

/// Port first, then protocol and address: the order every front end shows.
fn sort_sockets(sockets: &mut [Socket]) {
    sockets.sort_by(|a, b| {
        (
            a.port,
            a.proto,
            a.family,
            a.local_addr,
            a.state,
            a.remote,
            a.inode,
        )
            .cmp(&(
                b.port,
                b.proto,
                b.family,
                b.local_addr,
                b.state,
                b.remote,
                b.inode,
            ))
    });
}
