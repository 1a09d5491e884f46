//! The columns both front ends show, each defined once: title, widths, how it gives way on a
//! narrow screen, and its cell for a socket.

use super::{
    Role, command_label, conns_label, exposure_label, exposure_role, local_label, owner_role,
    pids_label, process_label, remote_label, service_cell, uptime_label, user_label,
};
use crate::model::{Snapshot, Socket};

/// One cell's text and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub role: Role,
    /// Cut from the start when too wide (`…532178]`): where values differ at their end.
    pub keep_end: bool,
}

impl Cell {
    pub fn new(text: impl Into<String>, role: Role) -> Self {
        Cell {
            text: text.into(),
            role,
            keep_end: false,
        }
    }

    /// The cell's text in at most `width` columns.
    pub fn fit(&self, width: usize) -> String {
        match self.keep_end {
            true => super::fit_end(&self.text, width),
            false => super::fit(&self.text, width),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// The network namespace or container (shown when the snapshot spans several).
    Netns,
    Proto,
    State,
    Local,
    Remote,
    Service,
    Exposure,
    Pid,
    Process,
    User,
    Uptime,
    Conns,
    Command,
}

impl Column {
    pub fn title(self) -> &'static str {
        match self {
            Column::Netns => "NETNS",
            Column::Proto => "PROTO",
            Column::State => "STATE",
            Column::Local => "ADDRESS:PORT",
            Column::Remote => "REMOTE",
            Column::Service => "SERVICE",
            Column::Exposure => "EXPOSURE",
            Column::Pid => "PID",
            Column::Process => "PROCESS",
            Column::User => "USER",
            Column::Uptime => "UPTIME",
            Column::Conns => "CONNS",
            Column::Command => "COMMAND",
        }
    }

    /// The title where the column shows its compact form.
    pub fn compact_title(self) -> &'static str {
        match self {
            Column::Exposure => "EXPOSE",
            other => other.title(),
        }
    }

    /// Its width in the live view, which does not measure every row (there may be 100,000).
    pub fn view_width(self) -> usize {
        match self {
            Column::Netns => 10,
            Column::Proto => 5,
            Column::State => 11,
            Column::Local => 18,
            Column::Remote => 21,
            Column::Service => 12,
            Column::Exposure => 6,
            Column::Pid => 8,
            Column::Process => 10,
            Column::User => 8,
            Column::Uptime => 7,
            Column::Conns => 5,
            Column::Command => 20,
        }
    }

    /// How narrow the table may squeeze it; 0 means it is never cut.
    pub fn min_width(self) -> usize {
        match self {
            Column::Service | Column::Remote | Column::Netns => 8,
            Column::Process => 10,
            Column::User => 8,
            Column::Command => 12,
            _ => 0,
        }
    }

    /// Where the live view has too little room, columns go in this order (first first).
    pub const DROP_ORDER: [Column; 6] = [
        Column::State,
        Column::Uptime,
        Column::Service,
        Column::Conns,
        Column::User,
        Column::Exposure,
    ];

    /// The cell of `socket` in this column; `compact` picks the short form where there is one.
    pub fn cell(self, snapshot: &Snapshot, socket: &Socket, compact: bool) -> Cell {
        match self {
            Column::Netns => netns_cell(snapshot, socket),
            Column::Proto => Cell::new(socket.proto.as_str(), Role::Plain),
            Column::State => Cell::new(socket.state.as_str(), Role::Plain),
            Column::Local => Cell::new(local_label(snapshot, socket), Role::Plain),
            Column::Remote => match remote_label(socket) {
                Some(peer) => Cell::new(peer, Role::Plain),
                None => Cell::new("-", Role::Dim),
            },
            Column::Service => {
                let (text, role) = service_cell(socket);
                Cell::new(text, role)
            }
            Column::Exposure => {
                let exposure = socket.exposure();
                Cell::new(exposure_label(exposure, compact), exposure_role(exposure))
            }
            Column::Pid => Cell::new(pids_label(snapshot, socket), owner_role(&socket.owner)),
            Column::Process => {
                Cell::new(process_label(snapshot, socket), owner_role(&socket.owner))
            }
            Column::User => Cell::new(user_label(snapshot, socket), Role::Plain),
            Column::Uptime => Cell::new(uptime_label(snapshot, socket), Role::Dim),
            Column::Conns => Cell::new(conns_label(snapshot, socket), Role::Plain),
            Column::Command => Cell::new(command_label(snapshot, socket), Role::Dim),
        }
    }
}

/// The namespace's short name; the host's is dim (it is the usual case).
fn netns_cell(snapshot: &Snapshot, socket: &Socket) -> Cell {
    match snapshot.netns_of(socket) {
        Some(netns) if netns.kind == crate::model::NetnsKind::Host => {
            Cell::new(netns.name.as_str(), Role::Dim)
        }
        // Namespaces are told apart by the end of their names (`netns:[4026532178]`,
        // `cni-…-4f2a`, `web-2`), so a narrow column keeps that.
        Some(netns) => Cell {
            keep_end: true,
            ..Cell::new(netns.name.as_str(), Role::Strong)
        },
        None => Cell::new("-", Role::Dim),
    }
}
