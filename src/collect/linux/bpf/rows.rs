//! Reading the iterator and decoding its rows: plain bytes in, [`SocketFd`]s out, no unsafe.
#![cfg_attr(not(portscope_bpf), allow(dead_code))]

use std::io::{self, ErrorKind, Read};

use super::SocketFd;

/// `struct socket_row` in `bpf/task_sockets.bpf.c`: u32 tgid, u32 fd, u64 inode, u64 netns,
/// in the kernel's byte order (the object is built for the target's endianness).
pub const ROW_SIZE: usize = 24;

/// One seq_file buffer is 8 pages; a read never returns more.
const READ_CHUNK: usize = 64 * 1024;

/// Reads an iterator until it says 0 (the end of the walk).
///
/// When a row does not fit in the kernel's buffer the kernel shows that file again on the next
/// read, and after a million files without output it returns EAGAIN to let the reader breathe;
/// neither loses or repeats a row, so reading on is right in both cases.
pub fn read_to_end(mut source: impl Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        match source.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Splits the iterator's output into rows; a trailing partial row is an error (the program and
/// this decoder disagree about the layout).
pub fn decode(bytes: &[u8]) -> Result<Vec<SocketFd>, String> {
    let rows = bytes.chunks_exact(ROW_SIZE);
    if !rows.remainder().is_empty() {
        return Err(format!(
            "{} bytes is not a whole number of {ROW_SIZE}-byte rows",
            bytes.len()
        ));
    }
    Ok(rows.map(decode_row).collect())
}

fn decode_row(row: &[u8]) -> SocketFd {
    SocketFd {
        pid: u32::from_ne_bytes(field(row, 0)),
        fd: u32::from_ne_bytes(field(row, 4)),
        inode: u64::from_ne_bytes(field(row, 8)),
        netns: u64::from_ne_bytes(field(row, 16)),
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

    fn encode(row: &SocketFd) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend(row.pid.to_ne_bytes());
        bytes.extend(row.fd.to_ne_bytes());
        bytes.extend(row.inode.to_ne_bytes());
        bytes.extend(row.netns.to_ne_bytes());
        bytes
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
        assert_eq!(decode(&bytes), Ok(rows.to_vec()));
        assert_eq!(decode(&[]), Ok(Vec::new()));
    }

    #[test]
    fn a_partial_row_is_an_error() {
        let err = decode(&[0; ROW_SIZE + 5]).expect_err("partial row");
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

    #[test]
    fn reading_goes_on_through_eintr_and_eagain_until_zero() {
        let data: Vec<u8> = (0..=255).cycle().take(10 * ROW_SIZE).collect();
        let source = Choppy {
            data: data.clone(),
            at: 0,
            calls: 0,
        };
        assert_eq!(read_to_end(source).expect("read"), data);
    }

    #[test]
    fn other_read_errors_are_returned() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(ErrorKind::PermissionDenied.into())
            }
        }
        let err = read_to_end(Broken).expect_err("error");
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    }
}
