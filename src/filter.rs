//! Which sockets the user asked to see. The socket-level part runs before owners are looked up
//! (so the scan only resolves what will be shown); the owner-level part runs after.

use crate::cli::{Cli, PortSpec};
use crate::collect::Tables;
use crate::model::{Snapshot, Socket};

#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub tables: Tables,
    pub all: bool,
    pub ports: Vec<PortSpec>,
    pub pids: Vec<u32>,
    pub user: Option<String>,
    /// Lower-cased substring of a holder's name.
    pub process: Option<String>,
}

impl Filter {
    pub fn from_cli(cli: &Cli) -> Self {
        let any_proto = !cli.tcp && !cli.udp;
        let any_family = !cli.ipv4 && !cli.ipv6;
        Filter {
            tables: Tables {
                tcp: cli.tcp || any_proto,
                udp: cli.udp || any_proto,
                ipv4: cli.ipv4 || any_family,
                ipv6: cli.ipv6 || any_family,
                listeners_only: !cli.all,
                connections: false,
            },
            all: cli.all,
            ports: cli.ports.clone(),
            pids: cli.pid.clone(),
            user: cli.user.clone(),
            process: cli.process.as_ref().map(|p| p.to_lowercase()),
        }
    }

    /// Decided from the kernel's table alone, before any owner is looked up.
    pub fn keep_socket(&self, socket: &Socket) -> bool {
        (self.all || socket.is_listener()) && self.keep_port(socket)
    }

    /// The socket's local port is one the user asked about (or no ports were given).
    pub fn keep_port(&self, socket: &Socket) -> bool {
        self.ports.is_empty()
            || self
                .ports
                .iter()
                .any(|p| p.matches(socket.proto, socket.port))
    }

    /// Applies the pid, user and process filters, which need the owners.
    pub fn apply(&self, mut snapshot: Snapshot) -> Snapshot {
        if self.pids.is_empty() && self.user.is_none() && self.process.is_none() {
            return snapshot;
        }
        let keep: Vec<bool> = snapshot
            .sockets
            .iter()
            .map(|s| self.keep_owned(&snapshot, s))
            .collect();
        let mut flags = keep.into_iter();
        snapshot.sockets.retain(|_| flags.next().unwrap_or(false));
        snapshot
    }

    fn keep_owned(&self, snapshot: &Snapshot, socket: &Socket) -> bool {
        let pids = socket.owner.pids();
        let pid_ok = self.pids.is_empty() || pids.iter().any(|p| self.pids.contains(p));
        let user_ok = self
            .user
            .as_ref()
            .is_none_or(|u| user_matches(snapshot, socket, u));
        let process_ok = self.process.as_ref().is_none_or(|name| {
            snapshot
                .holders(socket)
                .any(|p| p.name.as_str().to_lowercase().contains(name))
        });
        pid_ok && user_ok && process_ok
    }
}

/// A user given by name or uid matches the socket's uid or any holder's user.
fn user_matches(snapshot: &Snapshot, socket: &Socket, wanted: &str) -> bool {
    let uid: Option<u32> = wanted.parse().ok();
    let name_is =
        |name: Option<&crate::model::SafeText>| name.is_some_and(|n| n.as_str() == wanted);
    uid == Some(socket.uid)
        || name_is(snapshot.user_name(socket.uid))
        || snapshot
            .holders(socket)
            .any(|p| (uid.is_some() && p.uid == uid) || name_is(p.user.as_ref()))
}
