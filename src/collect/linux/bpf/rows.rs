//! Reading the iterator and decoding its rows: plain bytes in, [`SocketFd`]s out, no unsafe.
#![cfg_attr(not(portscope_bpf), allow(dead_code))]

use std::io::{ErrorKind, Read};

use super::{NamespaceFd, SocketFd};

/// `struct socket_row` in `bpf/task_sockets.bpf.c`: u32 tgid, u32 fd, u64 inode, u32 netns,
/// u32 kind, in the kernel's byte order (the object is built for the target's endianness).
pub const ROW_SIZE: usize = 24;

/// `ROW_SOCKET` and `ROW_NSFS` of the program.
const ROW_SOCKET: u32 = 0;
const ROW_NSFS: u32 = 1;

/// One decoded row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    Socket(SocketFd),
    Namespace(NamespaceFd),
    /// A kind this decoder does not know (the program and the decoder disagree).
    Unknown(u32),
}

/// One seq_file buffer is 8 pages; a read never returns more.
pub const READ_CHUNK: usize = 64 * 1024;

/// Reads an iterator until it says 0 (the end of the walk), handing each row to `sink` as it
/// arrives, so memory follows what the caller keeps, not what the kernel wrote. A row split
/// across two reads is put together; a partial row at the end is an error (the program and
/// this decoder disagree about the layout).
///
/// When a row does not fit in the kernel's buffer the kernel shows that file again on the next
/// read, and after a million files without output it returns EAGAIN to let the reader breathe;
/// neither loses or repeats a row, so reading on is right in both cases.
///
/// `chunk` is the caller's (of [`READ_CHUNK`] bytes or more), reused across many short walks.
pub fn read_with(
    mut source: impl Read,
    chunk: &mut [u8],
    mut sink: impl FnMut(Row),
) -> Result<(), String> {
    // The bytes of a row cut off by the last read, at the start of `chunk`.
    let mut held = 0;
    let mut total = 0usize;
    loop {
        let free = chunk.get_mut(held..).unwrap_or_default();
        let n = match source.read(free) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {
                continue;
            }
            Err(e) => return Err(format!("reading the iterator: {e}")),
        };
        total += n;
        let filled = chunk.get(..held + n).unwrap_or_default();
        let rows = filled.chunks_exact(ROW_SIZE);
        let cut_off = rows.remainder().len();
        rows.map(decode_row).for_each(&mut sink);
        chunk.copy_within(held + n - cut_off..held + n, 0);
        held = cut_off;
    }
    if held != 0 {
        return Err(format!(
            "{total} bytes is not a whole number of {ROW_SIZE}-byte rows"
        ));
    }
    Ok(())
}

/// Reads every row, keeping the sockets `keep` accepts and every namespace fd.
pub fn read_all(
    source: impl Read,
    keep: impl Fn(&SocketFd) -> bool,
) -> Result<(Vec<SocketFd>, Vec<NamespaceFd>), String> {
    let (mut sockets, mut namespaces) = (Vec::new(), Vec::new());
    let mut chunk = vec![0u8; READ_CHUNK];
    read_all_into(source, &mut chunk, keep, &mut sockets, &mut namespaces)?;
    Ok((sockets, namespaces))
}

/// [`read_all`], adding to `sockets` and `namespaces`, through the caller's buffer.
pub fn read_all_into(
    source: impl Read,
    chunk: &mut [u8],
    keep: impl Fn(&SocketFd) -> bool,
    sockets: &mut Vec<SocketFd>,
    namespaces: &mut Vec<NamespaceFd>,
) -> Result<(), String> {
    let mut unknown = None;
    read_with(source, chunk, |row| match row {
        Row::Socket(socket) if keep(&socket) => sockets.push(socket),
        Row::Socket(_) => {}
        Row::Namespace(fd) => namespaces.push(fd),
        Row::Unknown(kind) => {
            unknown.get_or_insert(kind);
        }
    })?;
    match unknown {
        Some(kind) => Err(format!("a row of unknown kind {kind}")),
        None => Ok(()),
    }
}

fn decode_row(row: &[u8]) -> Row {
    let pid = u32::from_ne_bytes(field(row, 0));
    let fd = u32::from_ne_bytes(field(row, 4));
    let inode = u64::from_ne_bytes(field(row, 8));
    let netns = u64::from(u32::from_ne_bytes(field(row, 16)));
    match u32::from_ne_bytes(field(row, 20)) {
        ROW_SOCKET => Row::Socket(SocketFd {
            pid,
            fd,
            inode,
            netns,
        }),
        ROW_NSFS => Row::Namespace(NamespaceFd { pid, fd, inode }),
        kind => Row::Unknown(kind),
    }
}

/// `N` bytes of `row` from `at` (zeros past its end, which a whole row never reaches).
fn field<const N: usize>(row: &[u8], at: usize) -> [u8; N] {
    let mut bytes = [0u8; N];
    if let Some(found) = row.get(at..at + N) {
        bytes.copy_from_slice(found);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn encode(row: &SocketFd) -> Vec<u8> {
        encode_kind(row, ROW_SOCKET)
    }

    fn encode_kind(row: &SocketFd, kind: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend(row.pid.to_ne_bytes());
        bytes.extend(row.fd.to_ne_bytes());
        bytes.extend(row.inode.to_ne_bytes());
        bytes.extend(u32::try_from(row.netns).expect("a u32 netns").to_ne_bytes());
        bytes.extend(kind.to_ne_bytes());
        bytes
    }

    fn every(_: &SocketFd) -> bool {
        true
    }

    /// The sockets `keep` accepts, for the tests written before namespace rows existed.
    fn read(source: impl Read, keep: impl Fn(&SocketFd) -> bool) -> Result<Vec<SocketFd>, String> {
        read_all(source, keep).map(|(sockets, _)| sockets)
    }

    #[test]
    fn rows_decode_field_by_field() {
        let rows = [
            SocketFd {
                pid: 1234,
                fd: 7,
                inode: 0x1_0000_0001,
                netns: 4_026_531_840,
            },
            SocketFd {
                pid: u32::MAX,
                fd: 0,
                inode: u64::MAX,
                netns: 0,
            },
        ];
        let bytes: Vec<u8> = rows.iter().flat_map(encode).collect();
        assert_eq!(bytes.len(), 2 * ROW_SIZE);
        assert_eq!(read(&bytes[..], every), Ok(rows.to_vec()));
        assert_eq!(read(&[][..], every), Ok(Vec::new()));
    }

    #[test]
    fn namespace_rows_come_apart_from_sockets_and_an_unknown_kind_is_an_error() {
        let socket = SocketFd {
            pid: 10,
            fd: 3,
            inode: 99,
            netns: 7,
        };
        let nsfs = SocketFd {
            pid: 11,
            fd: 4,
            inode: 4_026_532_000,
            netns: 0,
        };
        let mut bytes = encode(&socket);
        bytes.extend(encode_kind(&nsfs, ROW_NSFS));
        let namespace = NamespaceFd {
            pid: 11,
            fd: 4,
            inode: 4_026_532_000,
        };
        assert_eq!(
            read_all(&bytes[..], every),
            Ok((vec![socket], vec![namespace]))
        );
        bytes.extend(encode_kind(&socket, 9));
        let err = read_all(&bytes[..], every).expect_err("unknown kind");
        assert!(err.contains("unknown kind 9"), "{err}");
    }

    #[test]
    fn a_partial_row_is_an_error() {
        let err = read(&[0; ROW_SIZE + 5][..], every).expect_err("partial row");
        assert!(err.contains("29 bytes"), "{err}");
    }

    /// Hands out its bytes a few at a time, with EINTR and EAGAIN in between, like a reader
    /// that splits rows across read() calls.
    struct Choppy {
        data: Vec<u8>,
        at: usize,
        calls: usize,
    }

    impl Read for Choppy {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            match self.calls % 3 {
                1 => return Err(ErrorKind::Interrupted.into()),
                2 => return Err(ErrorKind::WouldBlock.into()),
                _ => {}
            }
            let n = (self.data.len() - self.at).min(7).min(buf.len());
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn numbered(count: u32) -> Vec<SocketFd> {
        (0..count)
            .map(|i| SocketFd {
                pid: i,
                fd: i + 3,
                inode: u64::from(i) << 20,
                netns: u64::from(i % 2),
            })
            .collect()
    }

    #[test]
    fn rows_split_across_reads_are_put_together_through_eintr_and_eagain() {
        let rows = numbered(10);
        let source = Choppy {
            data: rows.iter().flat_map(encode).collect(),
            at: 0,
            calls: 0,
        };
        assert_eq!(read(source, every), Ok(rows));
    }

    #[test]
    fn only_the_rows_kept_are_returned() {
        // More than one read's worth, so rows straddle the chunk boundary too.
        let rows = numbered(3 * (READ_CHUNK / ROW_SIZE) as u32);
        let bytes: Vec<u8> = rows.iter().flat_map(encode).collect();
        let odd = |row: &SocketFd| row.pid % 2 == 1;
        let expected: Vec<SocketFd> = rows.iter().copied().filter(odd).collect();
        assert_eq!(read(&bytes[..], odd), Ok(expected));
    }

    #[test]
    fn other_read_errors_are_returned() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(ErrorKind::PermissionDenied.into())
            }
        }
        let err = read(Broken, every).expect_err("error");
        assert!(err.contains("reading the iterator"), "{err}");
        assert!(err.contains("permission denied"), "{err}");
    }
}
