//! netstat2 does not report a UDP socket's state, but a *connected* UDP socket is a client, not
//! a listener. One kernel-filtered sock_diag dump asks for exactly the connected ones; it is
//! small, because the kernel sends only the matching sockets.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::{
    AF_INET, AF_INET6, IPPROTO_UDP, SockDiagMessage,
    inet::{ExtensionFlags, InetRequest, SocketId, StateFlags},
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_SOCK_DIAG};

/// The kernel never builds a dump message larger than 32 KiB for a reader with a big buffer.
const RECV_BUFFER: usize = 64 * 1024;

pub type Peer = (IpAddr, u16);

/// Every connected UDP socket (IPv4 and IPv6) in this network namespace: inode → its peer.
pub fn connected_udp(ipv4: bool, ipv6: bool) -> io::Result<HashMap<u64, Peer>> {
    let mut inodes = HashMap::new();
    let families = [(ipv4, AF_INET), (ipv6, AF_INET6)];
    for (_, family) in families.into_iter().filter(|(wanted, _)| *wanted) {
        dump_established_udp(family, &mut inodes)?;
    }
    Ok(inodes)
}

fn dump_established_udp(family: u8, inodes: &mut HashMap<u64, Peer>) -> io::Result<()> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    send_request(&socket, family)?;
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let len = socket.recv(&mut &mut buf[..], 0)?;
        if read_messages(&buf[..len], inodes)? {
            return Ok(());
        }
    }
}

fn send_request(socket: &Socket, family: u8) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let request = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: IPPROTO_UDP,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::ESTABLISHED,
        socket_id: if family == AF_INET {
            SocketId::new_v4()
        } else {
            SocketId::new_v6()
        },
    });
    let mut packet = NetlinkMessage::new(header, request.into());
    packet.finalize();
    let mut bytes = vec![0; packet.buffer_len()];
    packet.serialize(&mut bytes[..]);
    socket.send(&bytes, 0)?;
    Ok(())
}

/// Reads one datagram of netlink messages; returns true when the dump is complete.
fn read_messages(mut bytes: &[u8], inodes: &mut HashMap<u64, Peer>) -> io::Result<bool> {
    while !bytes.is_empty() {
        let message = NetlinkMessage::<SockDiagMessage>::deserialize(bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let length = message.header.length as usize;
        match message.payload {
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                let id = &response.header.socket_id;
                let peer = (id.destination_address, id.destination_port);
                inodes.insert(u64::from(response.header.inode), peer);
            }
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Error(error) => {
                return Err(error.to_io());
            }
            _ => {}
        }
        if length == 0 || length > bytes.len() {
            return Ok(true);
        }
        bytes = &bytes[netlink_align(length).min(bytes.len())..];
    }
    Ok(false)
}

fn netlink_align(len: usize) -> usize {
    (len + 3) & !3
}
