//! The socket table from netlink sock_diag, filtered by state in the kernel.
//!
//! netstat2 (used on the other OSes) always asks for every state, so on a host with 20,000
//! connections it parses 40,000 rows to find a few hundred listeners. Asking the kernel for
//! LISTEN (TCP) and CLOSE (bound, unconnected UDP) sends only the listeners; UDP rows also carry
//! the connected state netstat2 drops.

use std::io;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NetlinkBuffer, NetlinkHeader,
    NetlinkMessage,
};
use netlink_packet_sock_diag::{
    AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, SOCK_DIAG_BY_FAMILY, SockDiagMessage,
    inet::{
        ExtensionFlags, InetRequest, InetResponseBuffer, InetResponseHeader, SocketId, StateFlags,
    },
};
use netlink_packet_utils::Parseable;
use netlink_sys::{Socket as NetlinkSocket, SocketAddr, protocols::NETLINK_SOCK_DIAG};

use crate::model::{Family, NoneReason, Owner, Proto, SockState, Socket};

/// Big enough for the largest dump message the kernel builds (32 KiB), so nothing is truncated.
const RECV_BUFFER: usize = 64 * 1024;
/// Set by the kernel when the table changed during the dump.
const NLM_F_DUMP_INTR: u16 = 0x10;
/// A changing table is dumped again this many times before we accept what we have.
const DUMP_ATTEMPTS: usize = 3;

/// One table to dump: a family, a protocol, and the states wanted.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub family: Family,
    pub proto: Proto,
    pub states: StateFlags,
    /// Also TCP sockets bound but not listening (TCP_BOUND_INACTIVE, 13; kernel 6.8 and
    /// later): the netlink crate's flags stop at 11, so the bit is set on the wire.
    pub bound_inactive: bool,
    /// Keep each row's timer and bound device too (see [`RowDetail`]).
    pub details: bool,
}

/// TCP_BOUND_INACTIVE's bit in idiag_states.
const TCPF_BOUND_INACTIVE: u32 = 1 << 13;
/// Where idiag_states sits in a request: after the 16-byte netlink header and
/// family, protocol, ext and pad (one byte each).
const STATES_OFFSET: usize = 20;

/// What a row says besides the socket, for the bind verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowDetail {
    /// Milliseconds left on its timer (TIME_WAIT's, a retransmit's), when one runs.
    pub expires_ms: Option<u32>,
    /// The interface it is bound to (SO_BINDTODEVICE), 0 for none.
    pub interface: u32,
}

impl Request {
    pub fn new(family: Family, proto: Proto, listeners_only: bool) -> Self {
        let states = match (listeners_only, proto) {
            (false, _) => StateFlags::all(),
            (true, Proto::Tcp) => StateFlags::LISTEN,
            // A bound UDP socket that is not connected is in TCP_CLOSE.
            (true, Proto::Udp) => StateFlags::CLOSE,
        };
        Request {
            family,
            proto,
            states,
            bound_inactive: false,
            details: false,
        }
    }

    /// Every socket of the table in any state, bound-but-not-listening TCP sockets too, with
    /// their timers: everything that can make a bind fail.
    pub fn port_users(family: Family, proto: Proto) -> Self {
        Request {
            family,
            proto,
            states: StateFlags::all(),
            bound_inactive: proto == Proto::Tcp,
            details: true,
        }
    }

    /// Established TCP connections only.
    pub fn established(family: Family) -> Self {
        Request {
            family,
            proto: Proto::Tcp,
            states: StateFlags::ESTABLISHED,
            bound_inactive: false,
            details: false,
        }
    }

    /// `tcp/ipv4`, for error messages.
    pub fn name(self) -> String {
        let family = match self.family {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        };
        format!("{}/{family}", self.proto.as_str())
    }
}

/// What one table's dump returned.
pub struct Dump {
    pub sockets: Vec<Socket>,
    /// One per socket, in the same order, when the request asked for details.
    pub details: Vec<RowDetail>,
    /// False when the kernel said the table changed under every attempt: the rows are from the
    /// last one, and may miss a socket or show one twice.
    pub consistent: bool,
}

/// Several dumps over one netlink socket and one buffer (50 namespaces × 4 tables would
/// otherwise make 200 sockets and clear 200 buffers). The socket belongs to the namespace of
/// the thread that made the dumper's first dump.
pub struct Dumper {
    socket: Option<NetlinkSocket>,
    buf: Vec<u8>,
}

impl Dumper {
    pub fn new() -> Self {
        Dumper {
            socket: None,
            buf: Vec::new(),
        }
    }

    /// Every socket of one family and protocol that matches the request.
    pub fn dump(&mut self, request: Request) -> io::Result<Dump> {
        let mut sockets = Vec::new();
        let mut details = Vec::new();
        for _ in 0..DUMP_ATTEMPTS {
            sockets.clear();
            details.clear();
            match self.dump_once(request, &mut sockets, &mut details) {
                Ok(true) => {
                    return Ok(Dump {
                        sockets,
                        details,
                        consistent: true,
                    });
                }
                Ok(false) => {}
                Err(error) => {
                    // A socket a dump failed on is not used again.
                    self.socket = None;
                    return Err(error);
                }
            }
        }
        Ok(Dump {
            sockets,
            details,
            consistent: false,
        })
    }

    /// Returns false when the kernel said the table changed under the dump.
    fn dump_once(
        &mut self,
        request: Request,
        sockets: &mut Vec<Socket>,
        details: &mut Vec<RowDetail>,
    ) -> io::Result<bool> {
        let socket = match &mut self.socket {
            Some(socket) => socket,
            None => {
                let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG)?;
                socket.bind_auto()?;
                socket.connect(&SocketAddr::new(0, 0))?;
                self.socket.insert(socket)
            }
        };
        send_request(socket, request)?;
        if self.buf.len() < RECV_BUFFER {
            self.buf.resize(RECV_BUFFER, 0);
        }
        let mut consistent = true;
        loop {
            let len = socket.recv(&mut &mut self.buf[..], 0)?;
            let rows = Rows {
                sockets: &mut *sockets,
                details: &mut *details,
            };
            if read_messages(&self.buf[..len], request, rows, &mut consistent)? {
                return Ok(consistent);
            }
        }
    }
}

impl Default for Dumper {
    fn default() -> Self {
        Self::new()
    }
}

fn send_request(socket: &NetlinkSocket, request: Request) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let (family, socket_id) = match request.family {
        Family::Ipv4 => (AF_INET, SocketId::new_v4()),
        Family::Ipv6 => (AF_INET6, SocketId::new_v6()),
    };
    let protocol = match request.proto {
        Proto::Tcp => IPPROTO_TCP,
        Proto::Udp => IPPROTO_UDP,
    };
    let message = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol,
        extensions: ExtensionFlags::empty(),
        states: request.states,
        socket_id,
    });
    let mut packet = NetlinkMessage::new(header, message.into());
    packet.finalize();
    let mut bytes = vec![0; packet.buffer_len()];
    packet.serialize(&mut bytes[..]);
    if request.bound_inactive
        && let Some(field) = bytes.get_mut(STATES_OFFSET..STATES_OFFSET + 4)
    {
        let mut states = u32::from_ne_bytes([field[0], field[1], field[2], field[3]]);
        states |= TCPF_BOUND_INACTIVE;
        field.copy_from_slice(&states.to_ne_bytes());
    }
    socket.send(&bytes, 0)?;
    Ok(())
}

/// Reads one datagram of netlink messages; returns true when the dump is complete.
/// Only the fixed 72-byte header of each row is parsed: no attributes, no allocation.
/// Where parsed rows go.
struct Rows<'a> {
    sockets: &'a mut Vec<Socket>,
    details: &'a mut Vec<RowDetail>,
}

fn read_messages(
    mut bytes: &[u8],
    request: Request,
    rows: Rows<'_>,
    consistent: &mut bool,
) -> io::Result<bool> {
    while !bytes.is_empty() {
        let message = NetlinkBuffer::new_checked(bytes).map_err(invalid)?;
        if message.flags() & NLM_F_DUMP_INTR != 0 {
            *consistent = false;
        }
        match message.message_type() {
            SOCK_DIAG_BY_FAMILY => {
                let payload = message.payload();
                let row = InetResponseBuffer::new_checked(payload).map_err(invalid)?;
                let header = InetResponseHeader::parse(&row).map_err(invalid)?;
                let mut socket = to_socket(&header, request.proto);
                if socket.family == Family::Ipv6 {
                    socket.v6only = v6only(payload.get(ROW_HEADER..).unwrap_or_default());
                }
                if request.details {
                    let timer = row.timer();
                    rows.details.push(RowDetail {
                        expires_ms: (timer != 0).then(|| row.expires()),
                        interface: header.socket_id.interface_id,
                    });
                }
                rows.sockets.push(socket);
            }
            // A dump the kernel could not do (no diag handler for the protocol: -ENOENT) ends
            // with NLMSG_DONE carrying the negative errno, not with NLMSG_ERROR.
            NLMSG_DONE => match errno_of(message.payload()) {
                Some(code) if code < 0 => return Err(io::Error::from_raw_os_error(-code)),
                _ => return Ok(true),
            },
            NLMSG_ERROR => return Err(netlink_error(message.payload())),
            _ => {}
        }
        let length = message.length() as usize;
        if length == 0 {
            return Ok(true);
        }
        bytes = bytes.get(align(length)..).unwrap_or_default();
    }
    Ok(false)
}

/// NLMSG_ERROR (and an NLMSG_DONE that failed) carries a negative errno first.
fn errno_of(payload: &[u8]) -> Option<i32> {
    payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
}

fn netlink_error(payload: &[u8]) -> io::Error {
    match errno_of(payload) {
        None | Some(0) => io::Error::other("netlink error without a code"),
        Some(code) => io::Error::from_raw_os_error(-code.saturating_abs()),
    }
}

/// The fixed part of an inet_diag_msg; attributes follow it.
const ROW_HEADER: usize = 72;
/// INET_DIAG_SKV6ONLY: the kernel sends it for every AF_INET6 socket, asked for or not.
const INET_DIAG_SKV6ONLY: u16 = 11;

/// IPV6_V6ONLY of an IPv6 row, from its attributes.
fn v6only(mut attributes: &[u8]) -> Option<bool> {
    while attributes.len() >= 4 {
        let length = usize::from(u16::from_ne_bytes([attributes[0], attributes[1]]));
        let kind = u16::from_ne_bytes([attributes[2], attributes[3]]) & 0x3fff;
        if length < 4 {
            return None;
        }
        if kind == INET_DIAG_SKV6ONLY {
            return attributes.get(4).map(|&value| value != 0);
        }
        attributes = attributes.get(align(length)..)?;
    }
    None
}

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn to_socket(header: &InetResponseHeader, proto: Proto) -> Socket {
    let id = &header.socket_id;
    let state = state(proto, header.state);
    let connected = !matches!(
        state,
        SockState::Listen | SockState::Unconn | SockState::Bound
    );
    Socket {
        proto,
        family: Family::of(&id.source_address),
        local_addr: id.source_address,
        port: id.source_port,
        remote: connected.then_some((id.destination_address, id.destination_port)),
        state,
        inode: u64::from(header.inode),
        uid: Some(header.uid),
        v6only: None,
        netns: 0,
        owner: Owner::None(NoneReason::NoHolder),
    }
}

/// The kernel's TCP_* numbers; UDP reuses them (CLOSE = bound, ESTABLISHED = connected).
fn state(proto: Proto, code: u8) -> SockState {
    match (proto, code) {
        (Proto::Udp, 7) => SockState::Unconn,
        (_, 1) => SockState::Established,
        (_, 2) => SockState::SynSent,
        (_, 3) => SockState::SynRecv,
        (_, 4) => SockState::FinWait1,
        (_, 5) => SockState::FinWait2,
        (_, 6) => SockState::TimeWait,
        // Only the bound-inactive dump returns TCP sockets in TCP_CLOSE.
        (Proto::Tcp, 7) => SockState::Bound,
        (_, 8) => SockState::CloseWait,
        (_, 9) => SockState::LastAck,
        (_, 10) => SockState::Listen,
        (_, 11) => SockState::Closing,
        _ => SockState::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6only_is_read_from_the_attributes() {
        // An unrelated attribute (type 4, 8 bytes), then SKV6ONLY = 1 (5 bytes, padded to 8).
        let attrs = [8, 0, 4, 0, 1, 2, 3, 4, 5, 0, 11, 0, 1, 0, 0, 0];
        assert_eq!(v6only(&attrs), Some(true));
        let attrs = [5, 0, 11, 0, 0, 0, 0, 0];
        assert_eq!(v6only(&attrs), Some(false));
        assert_eq!(v6only(&[]), None);
        assert_eq!(v6only(&[2, 0, 11, 0]), None);
    }

    #[test]
    fn a_failed_done_message_carries_the_errno() {
        assert_eq!(errno_of(&(-2i32).to_ne_bytes()), Some(-2));
        assert_eq!(errno_of(&[0, 0]), None);
    }
}
