//! Bounded reads of `/proc/<pid>/…`, as bytes.
//!
//! Any local user controls what these files hold: a `comm` that is not UTF-8, a command line of
//! megabytes, a mount point with control bytes. So nothing here assumes text, and every read
//! has a cap: what no output could show is never read into memory.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// PF_KTHREAD in the flags field of /proc/<pid>/stat.
const PF_KTHREAD: u64 = 0x0020_0000;
/// A stat line is a few hundred bytes; a comm is at most 64.
const STAT_CAP: usize = 4096;
/// /proc/<pid>/status is about 1.5 KiB.
const STATUS_CAP: usize = 8192;

/// The fields of `/proc/<pid>/stat` portscope uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The kernel's `comm`, raw.
    pub comm: Vec<u8>,
    pub ppid: u32,
    pub kernel_thread: bool,
    /// Start time in clock ticks since boot: with the pid, what makes a process *this* one.
    pub start_ticks: u64,
    /// Length of the command line in bytes (arg_end - arg_start), when the kernel shows it to
    /// us (it needs ptrace access; 0 otherwise).
    pub cmdline_len: Option<u64>,
}

/// A read of this size takes a whole stat, status or usual command line in one syscall.
const FIRST_READ: usize = 4096;

/// Reads at most `cap` bytes of a file. The buffer starts at a page, not empty: from empty,
/// `read_to_end` grows it through 32, 64, 128… bytes, one syscall each, and a /proc file
/// produces its whole text again for each.
pub fn read_capped(path: &str, cap: usize) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(cap.saturating_add(1).min(FIRST_READ));
    File::open(path)?.take(cap as u64).read_to_end(&mut bytes)?;
    Ok(bytes)
}

pub fn stat(pid: u32) -> io::Result<Stat> {
    let bytes = read_capped(&format!("/proc/{pid}/stat"), STAT_CAP)?;
    parse_stat(&bytes).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad stat line"))
}

/// `pid (comm) state ppid …`: the comm may itself hold spaces, parentheses and any byte, so the
/// fields are read after the *last* `)`.
pub fn parse_stat(bytes: &[u8]) -> Option<Stat> {
    let open = bytes.iter().position(|&b| b == b'(')?;
    let close = bytes.iter().rposition(|&b| b == b')')?;
    let comm = bytes.get(open + 1..close)?.to_vec();
    let rest = std::str::from_utf8(bytes.get(close + 1..)?).ok()?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 (state); ppid is field 4, flags 9, starttime 22, arg_start 48,
    // arg_end 49.
    let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let flags = number(6)?;
    let span = match (number(45), number(46)) {
        (Some(start), Some(end)) if end > start => Some(end - start),
        _ => None,
    };
    Some(Stat {
        comm,
        ppid: u32::try_from(number(1)?).ok()?,
        kernel_thread: flags & PF_KTHREAD != 0,
        start_ticks: number(19)?,
        cmdline_len: span,
    })
}

/// The command line's arguments, reading at most `cap` bytes; true when it was longer.
pub fn cmdline(pid: u32, cap: usize) -> io::Result<(Vec<Vec<u8>>, bool)> {
    let mut bytes = read_capped(&format!("/proc/{pid}/cmdline"), cap + 1)?;
    let cut = bytes.len() > cap;
    bytes.truncate(cap);
    // A program that rewrote its title leaves the rest of its argv area as NULs: as ps does,
    // those are not arguments.
    while bytes.last() == Some(&0) {
        bytes.pop();
    }

    if bytes.is_empty() {
        return Ok((Vec::new(), cut));
    }
    Ok((bytes.split(|&b| b == 0).map(<[u8]>::to_vec).collect(), cut))
}

/// The target of `/proc/<pid>/exe` or `/cwd` (the kernel bounds it to PATH_MAX).
pub fn link(pid: u32, name: &str) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/{name}")).ok()
}

/// The effective uid of a process, from the `Uid:` line of `/proc/<pid>/status`.
pub fn euid(pid: u32) -> Option<u32> {
    let status = read_capped(&format!("/proc/{pid}/status"), STATUS_CAP).ok()?;
    status_field(&status, b"Uid:")?
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .nth(1)
        .and_then(|uid| std::str::from_utf8(uid).ok()?.parse().ok())
}

/// The value after `name` on its line of a `status`-style file.
pub fn status_field<'a>(text: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    text.split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(name))
}

/// The boot time in seconds since the epoch (`btime` of /proc/stat).
pub fn boot_time() -> Option<u64> {
    let stat = read_capped("/proc/stat", 64 * 1024).ok()?;
    let value = stat
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"btime "))?;
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// The last path component of raw bytes, for names.
pub fn base_name(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// `comm` is the program's name cut at 15 bytes; when argv[0] or the executable is that name
/// in full, the full one is the name users know.
pub fn full_name(comm: &[u8], argv0: Option<&[u8]>, exe: Option<&OsStr>) -> Vec<u8> {
    const TASK_COMM_LEN: usize = 16;
    if comm.len() < TASK_COMM_LEN - 1 {
        return comm.to_vec();
    }
    let from_argv = argv0.map(|a| {
        let base = base_name(a);
        // A program that rewrote its title ("nginx: worker process") keeps only its name.
        let end = base.iter().position(|&b| b == b' ').unwrap_or(base.len());
        let name = &base[..end];
        name.strip_suffix(b":").unwrap_or(name)
    });
    let from_exe = exe.map(|e| base_name(e.as_bytes()));
    [from_argv, from_exe]
        .into_iter()
        .flatten()
        .find(|candidate| candidate.len() > comm.len() && candidate.starts_with(comm))
        .map_or_else(|| comm.to_vec(), <[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_parsed_after_the_last_parenthesis_and_as_bytes() {
        let stat =
            b"42 (\xffevil) (x y) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 0 0";
        let parsed = parse_stat(stat).expect("parses");
        assert_eq!(parsed.comm, b"\xffevil) (x y");
        assert_eq!(parsed.ppid, 1);
        assert_eq!(parsed.start_ticks, 123456);
        assert!(!parsed.kernel_thread);
        assert_eq!(parsed.cmdline_len, None);
        let kthread = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 7 0 0";
        assert_eq!(parse_stat(kthread).map(|s| s.kernel_thread), Some(true));
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn this_process_reads_fully() {
        let me = stat(std::process::id()).expect("own stat");
        assert!(!me.kernel_thread && me.start_ticks > 0);
        assert!(me.cmdline_len.is_some_and(|n| n > 0));
        let (args, cut) = cmdline(std::process::id(), 4096).expect("own cmdline");
        assert!(!args.is_empty() && !cut);
        let (short, cut) = cmdline(std::process::id(), 3).expect("own cmdline");
        assert!(cut && short.concat().len() <= 3);
        assert!(euid(std::process::id()).is_some());
        assert!(boot_time().is_some_and(|t| t > 1_000_000_000));
    }

    #[test]
    fn full_names_replace_a_cut_comm_only() {
        let exe = OsStr::new("/usr/lib/systemd/systemd-resolved");
        assert_eq!(
            full_name(b"systemd-resolve", None, Some(exe)),
            b"systemd-resolved"
        );
        assert_eq!(
            full_name(
                b"portscope-test-",
                Some(b"/opt/portscope-test-long-daemon"),
                None
            ),
            b"portscope-test-long-daemon"
        );
        // A rewritten title: the name before the first space.
        assert_eq!(
            full_name(b"averyverylongna", Some(b"averyverylongname: worker"), None),
            b"averyverylongname"
        );
        // Short comms are whole already; unrelated argv is ignored.
        assert_eq!(
            full_name(b"nginx", Some(b"nginx: worker process"), None),
            b"nginx"
        );
        assert_eq!(
            full_name(b"xxxxxxxxxxxxxxx", Some(b"/bin/other"), None),
            b"xxxxxxxxxxxxxxx"
        );
    }
}
