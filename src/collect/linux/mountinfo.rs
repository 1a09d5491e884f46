//! `/proc/PID/mountinfo`, read as bytes: a mount point can be any bytes but `/` and NUL, so it
//! need not be UTF-8, and the kernel writes space, tab, newline and backslash as `\040`,
//! `\011`, `\012` and `\134`.
//!
//! Two uses: namespace bind mounts (fstype `nsfs`, root `net:[INO]`: `ip netns`, docker's
//! `/run/docker/netns`, CNI and podman netns files), and the options of the `/proc` mount
//! (`hidepid=`), which explain why other users' processes are invisible.
//!
//! Text: mount points are returned as `PathBuf` (exact bytes, for opening); sanitize them with
//! `SafeText::from_path` before showing them.

// wired in by the namespace collector (issue 11)
#![allow(dead_code)]

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// One line of mountinfo (see proc(5)). Byte fields are unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_id: u32,
    pub parent_id: u32,
    /// The path inside the mounted filesystem; for nsfs, `net:[4026532178]`.
    pub root: Vec<u8>,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub mount_options: Vec<u8>,
    pub fstype: Vec<u8>,
    pub source: Vec<u8>,
    /// Per-superblock options (`rw,hidepid=invisible`).
    pub super_options: Vec<u8>,
}

impl MountEntry {
    /// The value of option `key` in either option list: `Some(b"")` for a flag such as `ro`,
    /// `None` when absent. Super options are searched first.
    pub fn option(&self, key: &str) -> Option<&[u8]> {
        [&self.super_options, &self.mount_options]
            .into_iter()
            .find_map(|list| option_in(list, key.as_bytes()))
    }
}

fn option_in<'a>(list: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    list.split(|&b| b == b',').find_map(|option| {
        let (name, value) = match option.iter().position(|&b| b == b'=') {
            Some(at) => (&option[..at], &option[at + 1..]),
            None => (option, &option[option.len()..]),
        };
        (name == key).then_some(value)
    })
}

/// A namespace file bind-mounted somewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsfsMount {
    /// The namespace's inode (`st_ino` of `/proc/PID/ns/net` for the same namespace).
    pub inode: u64,
    pub mount_point: PathBuf,
}

/// `/proc`'s `hidepid=` (proc(5)): who may see other users' `/proc/PID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HidePid {
    /// 0 / `off`: everyone sees every process.
    Off,
    /// 1 / `noaccess`: the directories are listed, their contents are not readable.
    NoAccess,
    /// 2 / `invisible`: other users' processes are not even listed.
    Invisible,
    /// 4 / `ptraceable`: only processes the reader may ptrace are listed.
    Ptraceable,
}

/// Reads `<root>/proc/<pid>/mountinfo`.
pub fn read(root: &Path, pid: u32) -> io::Result<Vec<MountEntry>> {
    let bytes = std::fs::read(root.join(format!("proc/{pid}/mountinfo")))?;
    Ok(parse(&bytes))
}

/// Every well-formed line; malformed ones are skipped.
pub fn parse(bytes: &[u8]) -> Vec<MountEntry> {
    bytes
        .split(|&b| b == b'\n')
        .filter_map(parse_line)
        .collect()
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`: six
/// fields, any number of optional fields, `-`, then three more.
fn parse_line(line: &[u8]) -> Option<MountEntry> {
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let dash = fields.iter().skip(6).position(|f| *f == b"-")? + 6;
    let after = fields.get(dash + 1..dash + 4)?;
    Some(MountEntry {
        mount_id: number(fields[0])?,
        parent_id: number(fields[1])?,
        root: unescape(fields[3]),
        mount_point: PathBuf::from(OsString::from_vec(unescape(fields[4]))),
        mount_options: fields[5].to_vec(),
        fstype: unescape(after[0]),
        source: unescape(after[1]),
        super_options: unescape(after[2]),
    })
}

fn number(field: &[u8]) -> Option<u32> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// Decodes the kernel's `\ooo` octal escapes; any other byte is kept as it is.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        match octal_escape(&field[i..]) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// `\` and three octal digits, at most `\377`.
fn octal_escape(rest: &[u8]) -> Option<u8> {
    let [b'\\', digits @ ..] = rest.get(..4)? else {
        return None;
    };
    let value = digits.iter().try_fold(0u32, |acc, &d| match d {
        b'0'..=b'7' => Some(acc * 8 + u32::from(d - b'0')),
        _ => None,
    })?;
    u8::try_from(value).ok()
}

/// The network namespaces bind-mounted in this mount namespace.
pub fn net_namespace_mounts(entries: &[MountEntry]) -> Vec<NsfsMount> {
    entries
        .iter()
        .filter(|e| e.fstype == b"nsfs")
        .filter_map(|e| {
            Some(NsfsMount {
                inode: ns_inode(&e.root, b"net")?,
                mount_point: e.mount_point.clone(),
            })
        })
        .collect()
}

/// `net:[4026532178]` → 4026532178 when the type is `kind`.
fn ns_inode(root: &[u8], kind: &[u8]) -> Option<u64> {
    let rest = root.strip_prefix(kind)?.strip_prefix(b":[")?;
    number_u64(rest.strip_suffix(b"]")?)
}

fn number_u64(field: &[u8]) -> Option<u64> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// The mount visible at `mount_point`: the last one listed there, since a later mount on
/// the same point covers the earlier ones.
pub fn mount_at<'a>(entries: &'a [MountEntry], mount_point: &Path) -> Option<&'a MountEntry> {
    entries.iter().rev().find(|e| e.mount_point == mount_point)
}

/// The `hidepid=` of the proc mount at `mount_point` (normally `/proc`); `None` when nothing
/// of type proc is mounted there.
pub fn proc_hidepid(entries: &[MountEntry], mount_point: &Path) -> Option<HidePid> {
    let entry = mount_at(entries, mount_point).filter(|e| e.fstype == b"proc")?;
    let hidepid = match entry.option("hidepid") {
        None | Some(b"0" | b"off") => HidePid::Off,
        Some(b"1" | b"noaccess") => HidePid::NoAccess,
        Some(b"2" | b"invisible") => HidePid::Invisible,
        Some(b"4" | b"ptraceable") => HidePid::Ptraceable,
        // An unknown value from a newer kernel hides at least something.
        Some(_) => HidePid::NoAccess,
    };
    Some(hidepid)
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    const HOST: &[u8] = b"\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw,hidepid=invisible,gid=27
45 23 0:26 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=814264k,mode=755
51 45 0:4 net:[4026532178] /run/netns/netns-68f3d3c8-7ea7-60d0-3f54-4ee93785a49d rw shared:2 - nsfs nsfs rw
52 45 0:4 net:[4026532247] /run/netns/with\\040space rw shared:2 - nsfs nsfs rw
53 45 0:4 net:[4026532319] /run/netns/bad\xff\xfename rw - nsfs nsfs rw
54 45 0:4 mnt:[4026532400] /run/mntns rw - nsfs nsfs rw
55 45 0:4 net:[4026532388] /run/docker/netns/75c43685d9ba rw shared:2 master:3 propagate_from:1 - nsfs nsfs rw
56 22 0:50 / /mnt/tab\\011and\\012newline\\134back rw - tmpfs tmpfs rw
garbage line
57 22 0:51 / /short rw -
";

    #[test]
    fn parses_every_well_formed_line() {
        let entries = parse(HOST);
        assert_eq!(entries.len(), 9);
        let first = &entries[0];
        assert_eq!((first.mount_id, first.parent_id), (22, 1));
        assert_eq!(first.mount_point, PathBuf::from("/"));
        assert_eq!(first.fstype, b"ext4");
        assert_eq!(first.source, b"/dev/vda");
    }

    #[test]
    fn namespace_bind_mounts() {
        let mounts = net_namespace_mounts(&parse(HOST));
        let found: Vec<(u64, &[u8])> = mounts
            .iter()
            .map(|m| (m.inode, m.mount_point.as_os_str().as_bytes()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    4026532178,
                    b"/run/netns/netns-68f3d3c8-7ea7-60d0-3f54-4ee93785a49d".as_slice()
                ),
                (4026532247, b"/run/netns/with space"),
                (4026532319, b"/run/netns/bad\xff\xfename"),
                (4026532388, b"/run/docker/netns/75c43685d9ba"),
            ]
        );
    }

    #[test]
    fn octal_escapes() {
        let entries = parse(HOST);
        let odd = entries.iter().find(|e| e.mount_id == 56).expect("line 56");
        assert_eq!(
            odd.mount_point.as_os_str().as_bytes(),
            b"/mnt/tab\tand\nnewline\\back"
        );
        assert_eq!(
            unescape(b"\\400 \\12 \\x41 end\\"),
            b"\\400 \\12 \\x41 end\\"
        );
        assert_eq!(unescape(b"\\101\\102"), b"AB");
    }

    #[test]
    fn hidepid_of_proc() {
        let entries = parse(HOST);
        let proc = Path::new("/proc");
        assert_eq!(proc_hidepid(&entries, proc), Some(HidePid::Invisible));
        assert_eq!(proc_hidepid(&entries, Path::new("/run")), None, "not proc");
        let cases: [(&[u8], HidePid); 7] = [
            (b"rw", HidePid::Off),
            (b"rw,hidepid=0", HidePid::Off),
            (b"rw,hidepid=1", HidePid::NoAccess),
            (b"rw,hidepid=noaccess", HidePid::NoAccess),
            (b"rw,hidepid=2,gid=4", HidePid::Invisible),
            (b"rw,hidepid=ptraceable", HidePid::Ptraceable),
            (b"rw,hidepid=9", HidePid::NoAccess),
        ];
        for (options, expected) in cases {
            let line = [b"1 0 0:5 / /proc rw - proc proc ".as_slice(), options].concat();
            assert_eq!(
                proc_hidepid(&parse(&line), proc),
                Some(expected),
                "{options:?}"
            );
        }
    }

    #[test]
    fn the_last_mount_on_a_point_wins() {
        let lines =
            b"1 0 0:5 / /proc rw - proc proc rw,hidepid=2\n2 1 0:6 / /proc rw - proc proc rw\n";
        assert_eq!(
            proc_hidepid(&parse(lines), Path::new("/proc")),
            Some(HidePid::Off)
        );
    }

    #[test]
    fn options() {
        let entries = parse(HOST);
        let proc = mount_at(&entries, Path::new("/proc")).expect("proc");
        assert_eq!(proc.option("gid"), Some(b"27".as_slice()));
        assert_eq!(proc.option("nosuid"), Some(b"".as_slice()));
        assert_eq!(proc.option("hidepi"), None);
    }

    /// Captured from a real podman container here: its own /proc is a fresh proc mount.
    #[test]
    fn real_container_mountinfo() {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/containers/podman");
        let entries = read(Path::new(data), 10798).expect("captured mountinfo");
        assert!(entries.len() > 20);
        assert_eq!(
            proc_hidepid(&entries, Path::new("/proc")),
            Some(HidePid::Off)
        );
        let line = std::fs::read(Path::new(data).join("mountinfo-nsfs-line.txt")).expect("line");
        let mounts = net_namespace_mounts(&parse(&line));
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].inode, 4026532178);
    }
}
