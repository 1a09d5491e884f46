//! Root only: the in-kernel owner map (BPF task_file iterator) against the `/proc` walk and
//! against the holders' own account of what they hold, socket by socket and pid by pid.
//!
//! Not root: each test prints `skipped: <test>: needs root`. Root with `CI=true`: nothing may be
//! skipped, so a binary built without clang fails here.
#![cfg(target_os = "linux")]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use portscope::collect::FxHashSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::{Held, Holder, require_root};
use portscope::collect::bpf::{self, BpfOwnerMap, LoadOptions, SocketFd, Unavailable};
use portscope::collect::{Collector, OwnerIndex};
use portscope::model::{Proto, Selection};

/// Tests that load the program run one at a time, so the fd and object counts they check are
/// their own.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A loaded owner map, or None after printing why the test is skipped. Under `CI=true` as
/// root, a reason to skip is a failure.
fn owner_map(test: &str) -> Option<BpfOwnerMap> {
    owner_map_with(test, LoadOptions::default())
}

fn owner_map_with(test: &str, options: LoadOptions) -> Option<BpfOwnerMap> {
    if !require_root(test) {
        return None;
    }
    match BpfOwnerMap::load_with(options) {
        Ok(map) => Some(map),
        Err(why) if ci() => panic!("{test}: CI=true and root, but {why}"),
        Err(why) => {
            eprintln!("skipped: {test}: {why}");
            None
        }
    }
}

/// `(fd, inode)` of every socket `/proc/PID/fd` shows.
fn proc_socket_fds(pid: u32) -> BTreeSet<(u32, u64)> {
    let dir = format!("/proc/{pid}/fd");
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("list {dir}: {e}"));
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let fd = entry.file_name().to_str()?.parse().ok()?;
            let link = fs::read_link(entry.path()).ok()?;
            let inode = link
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()?;
            Some((fd, inode))
        })
        .collect()
}

fn rows_of(found: &[SocketFd], pid: u32) -> Vec<(u32, u64)> {
    found
        .iter()
        .filter(|s| s.pid == pid)
        .map(|s| (s.fd, s.inode))
        .collect()
}

/// The owner lists the kernel's socket table and an owner map give for each group of held
/// sockets that look alike (same proto, address, port, listening), sorted.
type Groups = BTreeMap<(String, String, u16, bool), Vec<Vec<u32>>>;

fn expected_groups(holders: &[&Holder]) -> Groups {
    let mut groups = Groups::new();
    for held in holders.iter().flat_map(|h| &h.sockets) {
        groups
            .entry(group_key(held))
            .or_default()
            .push(held.pids.clone());
    }
    groups.values_mut().for_each(|lists| lists.sort());
    groups
}

fn group_key(held: &Held) -> (String, String, u16, bool) {
    let proto = held.proto().to_string();
    (proto, held.addr.clone(), held.port, held.listening)
}

/// Looks every held socket up in sock_diag (for its inode) and asks `owners` who holds it.
fn observed_groups(holders: &[&Holder], owners: &dyn Fn(u64) -> Vec<u32>) -> Groups {
    let ports: HashSet<u16> = holders
        .iter()
        .flat_map(|h| &h.sockets)
        .map(|s| s.port)
        .collect();
    let every_state = Selection {
        all_states: true,
        ..Selection::LISTENERS
    };
    let table = Collector::new()
        .sockets(every_state, &|s| ports.contains(&s.port))
        .expect("read the socket table")
        .sockets;

    let wanted: BTreeSet<_> = expected_groups(holders).into_keys().collect();
    let mut groups = Groups::new();
    for socket in &table {
        let proto = match socket.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        let key = (
            proto.to_string(),
            socket.local_addr.to_string(),
            socket.port,
            socket.is_listener(),
        );
        if wanted.contains(&key) {
            groups.entry(key).or_default().push(owners(socket.inode));
        }
    }
    groups.values_mut().for_each(|lists| lists.sort());
    groups
}

#[test]
fn bpf_and_proc_agree_socket_by_socket_pid_by_pid() {
    let test = "bpf_and_proc_agree_socket_by_socket_pid_by_pid";
    let _serial = serial();
    let Some(mut map) = owner_map(test) else {
        return;
    };
    // A listener shared with a child, two SO_REUSEPORT sockets in two children, a connected
    // UDP socket, and 1,800 more sockets: 43 KB of rows, more than one seq_file buffer (32 KB),
    // so the walk crosses the kernel's "buffer full, show it again" path.
    let first = Holder::spawn(&[
        "tcp4",
        "shared-child",
        "reuseport-pair",
        "udp-connected",
        "many-udp4=900",
    ]);
    let second = Holder::spawn(&["tcp6", "many-udp4=900"]);
    let holders = [&first, &second];
    let found = map.socket_fds(None).expect("walk every socket");

    // Fd by fd: exactly what /proc/PID/fd lists, each row once.
    let pids: Vec<u32> = holders.iter().flat_map(|h| h.all_pids()).collect();
    for &pid in &pids {
        let rows = rows_of(&found, pid);
        let unique: BTreeSet<(u32, u64)> = rows.iter().copied().collect();
        assert_eq!(unique.len(), rows.len(), "pid {pid}: a row came twice");
        assert_eq!(
            unique,
            proc_socket_fds(pid),
            "pid {pid}: bpf vs /proc/{pid}/fd"
        );
    }
    let many = rows_of(&found, first.pid).len() + rows_of(&found, second.pid).len();
    assert!(many >= 1800, "only {many} rows for the two holders");

    // Socket by socket: the holders' own account, the BPF map and the /proc walk agree.
    let expected = expected_groups(&holders);
    let by_bpf = bpf::owners_by_inode(&found);
    let from_bpf = observed_groups(&holders, &|inode| {
        by_bpf.get(&inode).cloned().unwrap_or_default()
    });
    assert_eq!(from_bpf, expected, "bpf owners vs the holders");
    let inodes: FxHashSet<u64> = found.iter().map(|s| s.inode).collect();
    let scan = OwnerIndex::default().resolve(&inodes);
    let from_proc = observed_groups(&holders, &|inode| {
        scan.owners.get(&inode).cloned().unwrap_or_default()
    });
    assert_eq!(from_proc, expected, "/proc owners vs the holders");

    // The shared listener names both processes, the handed-off one only the child.
    let shared = first.one("shared-child");
    assert_eq!(shared.pids.len(), 2, "{shared:?}");
    let key = group_key(shared);
    assert_eq!(from_bpf[&key], vec![shared.pids.clone()]);
}

#[test]
fn the_wanted_filter_returns_exactly_the_wanted_sockets() {
    let test = "the_wanted_filter_returns_exactly_the_wanted_sockets";
    let _serial = serial();
    let Some(mut map) = owner_map(test) else {
        return;
    };
    let holder = Holder::spawn(&["tcp4", "tcp4", "udp4", "shared-child", "udp-connected"]);
    let all = map.socket_fds(None).expect("walk every socket");
    let mine: Vec<u64> = holder
        .all_pids()
        .into_iter()
        .flat_map(|pid| rows_of(&all, pid))
        .map(|(_, inode)| inode)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(mine.len() >= 6, "holder sockets: {mine:?}");
    // Real socket inodes are allocated well below these.
    let absent = [u64::MAX, u64::MAX - 1];

    let expect = |wanted: &FxHashSet<u64>| -> BTreeSet<SocketFd> {
        all.iter()
            .filter(|s| wanted.contains(&s.inode))
            .copied()
            .collect()
    };
    let mut check = |wanted: &FxHashSet<u64>, what: &str| {
        let got = map.socket_fds(Some(wanted)).expect("filtered walk");
        let unique: BTreeSet<SocketFd> = got.iter().copied().collect();
        assert_eq!(unique.len(), got.len(), "{what}: a row came twice");
        assert_eq!(unique, expect(wanted), "{what}");
    };

    let some: FxHashSet<u64> = [mine[0], mine[2]].into_iter().chain(absent).collect();
    check(&some, "two sockets and two absent inodes");
    // Another set on the same loaded program: the old inodes must be gone from the map.
    let others: FxHashSet<u64> = mine[3..].iter().copied().collect();
    check(&others, "the other sockets");
    check(&FxHashSet::default(), "nothing wanted");
    // Too many for the kernel's map: filtered here instead, same answer.
    let mut huge = some.clone();
    huge.extend((0..bpf::WANTED_IN_KERNEL_MAX as u64 + 10).map(|i| u64::MAX / 2 + i));
    check(&huge, "more inodes than the in-kernel map takes");
    check(&some, "back to the small set");

    let unfiltered = map.socket_fds(None).expect("unfiltered again");
    assert!(
        mine.iter()
            .all(|inode| unfiltered.iter().any(|s| s.inode == *inode)),
        "switching the filter off again shows every socket"
    );
}

/// A uniquely named network namespace, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        let name = format!("psT{}bpf", std::process::id());
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add (iproute2)");
        assert!(status.success(), "ip netns add {name}");
        Netns { name }
    }

    /// `stat -L -c %i /run/netns/NAME`
    fn inode(&self) -> u64 {
        let path = format!("/run/netns/{}", self.name);
        fs::metadata(&path)
            .unwrap_or_else(|e| panic!("stat {path}: {e}"))
            .ino()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn a_socket_made_in_another_network_namespace_names_that_namespace() {
    let test = "a_socket_made_in_another_network_namespace_names_that_namespace";
    let _serial = serial();
    let Some(mut map) = owner_map(test) else {
        return;
    };
    let netns = Netns::new();
    let holder = Holder::spawn_with(&["ip", "netns", "exec", &netns.name], &["tcp4"], None);
    let found = map.socket_fds(None).expect("walk every socket");
    let here = fs::metadata("/proc/self/ns/net")
        .expect("stat our netns")
        .ino();

    let theirs: Vec<&SocketFd> = found.iter().filter(|s| s.pid == holder.pid).collect();
    assert_eq!(theirs.len(), 1, "the holder's sockets: {theirs:?}");
    assert_eq!(
        theirs[0].netns,
        netns.inode(),
        "netns inode of {:?}",
        theirs[0]
    );
    assert_ne!(theirs[0].netns, here);
    // The same walk sees this namespace's sockets with this namespace's inode.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let found = map.socket_fds(None).expect("walk again");
    let ours = proc_socket_fds(std::process::id());
    assert!(!ours.is_empty());
    for (fd, inode) in ours {
        let row = found
            .iter()
            .find(|s| s.pid == std::process::id() && s.fd == fd)
            .unwrap_or_else(|| panic!("no row for our fd {fd}"));
        assert_eq!((row.inode, row.netns), (inode, here), "our fd {fd}");
    }
    drop(listener);
}

#[test]
fn the_namespace_is_read_only_when_asked_for() {
    let test = "the_namespace_is_read_only_when_asked_for";
    let _serial = serial();
    let Some(mut with_netns) = owner_map(test) else {
        return;
    };
    let Some(mut without) = owner_map_with(test, LoadOptions { netns: false }) else {
        return;
    };
    let netns = Netns::new();
    let holder = Holder::spawn_with(&["ip", "netns", "exec", &netns.name], &["tcp4"], None);
    let fd_and_inode = |found: &[SocketFd]| rows_of(found, holder.pid);

    let on = with_netns.socket_fds(None).expect("walk with netns");
    let off = without.socket_fds(None).expect("walk without netns");
    assert!(
        off.iter().all(|s| s.netns == 0),
        "netns off, yet a row has one"
    );
    assert_eq!(
        fd_and_inode(&off),
        fd_and_inode(&on),
        "the same sockets either way"
    );
    let theirs: Vec<&SocketFd> = on.iter().filter(|s| s.pid == holder.pid).collect();
    assert_eq!(theirs.len(), 1, "the holder's sockets: {theirs:?}");
    assert_eq!(theirs[0].netns, netns.inode());

    // Filtered, loaded maps and one-shot: the wanted socket, with or without its namespace.
    let wanted: FxHashSet<u64> = [theirs[0].inode].into_iter().collect();
    let expect = |netns: u64| {
        vec![SocketFd {
            netns,
            ..*theirs[0]
        }]
    };
    assert_eq!(
        with_netns.socket_fds(Some(&wanted)),
        Ok(expect(netns.inode()))
    );
    assert_eq!(without.socket_fds(Some(&wanted)), Ok(expect(0)));
    let one_shot = bpf::socket_fds_with(Some(&wanted), LoadOptions { netns: false });
    assert_eq!(one_shot, Ok(expect(0)));
    assert_eq!(bpf::socket_fds(Some(&wanted)), Ok(expect(netns.inode())));
}

#[test]
fn an_o_path_fd_on_a_unix_socket_file_is_not_a_socket() {
    let test = "an_o_path_fd_on_a_unix_socket_file_is_not_a_socket";
    let _serial = serial();
    let Some(mut map) = owner_map(test) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("psT{}bpf-unix", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("make a temporary directory");
    let path = dir.join("sock");
    let listener = UnixListener::bind(&path).expect("bind a unix socket");
    // /proc shows this fd as the path, not as socket:[N]: its inode is the file's, with
    // S_IFSOCK in its mode, on the filesystem, not in sockfs.
    let opath = rustix::fs::open(
        &path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .expect("open the socket file with O_PATH");
    let file_inode = fs::metadata(&path).expect("stat the socket file").ino();

    let found = map.socket_fds(None).expect("walk every socket");
    let ours: BTreeSet<(u32, u64)> = rows_of(&found, std::process::id()).into_iter().collect();
    assert_eq!(ours, proc_socket_fds(std::process::id()));
    assert!(
        !ours.iter().any(|&(_, inode)| inode == file_inode),
        "the O_PATH fd on {} was reported as a socket",
        path.display()
    );
    drop((listener, opath));
    let _ = fs::remove_dir_all(&dir);
}

/// A thread that unshared its fd table (`unshare(CLONE_FILES)`) and made a socket there: the
/// leader's /proc/PID/fd does not show it, the walk reports it under the process's pid, one
/// row, whether the kernel walks every process at once or each on its own.
#[test]
fn a_socket_in_a_threads_own_fd_table_is_its_processs() {
    let test = "a_socket_in_a_threads_own_fd_table_is_its_processs";
    let _serial = serial();
    let Some(mut map) = owner_map(test) else {
        return;
    };
    let script = "import ctypes, os, socket, sys, threading\n\
        def own():\n    \
            if ctypes.CDLL(None, use_errno=True).unshare(0x400) != 0:\n        \
                print('unshare', ctypes.get_errno(), flush=True); return\n    \
            s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n    \
            print(os.fstat(s.fileno()).st_ino, flush=True)\n    \
            sys.stdin.readline()\n\
        t = threading.Thread(target=own); t.start(); t.join()\n";
    let mut child = common::Script::start(script);
    let line = child.line();
    let inode: u64 = line.parse().unwrap_or_else(|_| panic!("{line}"));
    let pid = child.pid();
    assert!(
        !proc_socket_fds(pid).iter().any(|&(_, i)| i == inode),
        "the leader's table shows the thread's socket"
    );
    let found = map.socket_fds(None).expect("walk every socket");
    let rows: Vec<&SocketFd> = found.iter().filter(|s| s.inode == inode).collect();
    drop(child);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].pid, pid);
}

/// `anon_inode:bpf-prog`, `bpf-map`, `bpf_link`, `bpf_iter` and `btf` fds of this process.
fn bpf_fds() -> Vec<String> {
    let mut links: Vec<String> = fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .map(|link| link.to_string_lossy().into_owned())
        .filter(|link| link.starts_with("anon_inode:bpf") || link == "anon_inode:btf")
        .collect();
    links.sort();
    links
}

#[test]
fn every_fd_is_closed_when_the_map_is_dropped() {
    let test = "every_fd_is_closed_when_the_map_is_dropped";
    let _serial = serial();
    let before = bpf_fds();
    {
        let Some(mut map) = owner_map(test) else {
            return;
        };
        let loaded = bpf_fds();
        assert!(
            loaded.iter().any(|l| l == "anon_inode:bpf-prog"),
            "a program fd while loaded: {loaded:?}"
        );
        for _ in 0..3 {
            map.socket_fds(None).expect("walk");
            // The link and the iterator of a walk are gone when it returns.
            assert_eq!(bpf_fds(), loaded, "fds after a walk");
        }
    } // the map is dropped here
    assert_eq!(bpf_fds(), before, "fds after drop");
}

const ABORT_CHILD: &str = "PORTSCOPE_TEST_BPF_ABORT_CHILD";

/// Not a test on its own: the child process of the next test, which loads the map, walks
/// once, prints the kernel ids of its program and maps, and dies by SIGKILL (no destructor
/// runs, no core is dumped).
#[test]
fn helper_aborts_while_holding_the_map() {
    if std::env::var_os(ABORT_CHILD).is_none() {
        return;
    }
    let mut map = BpfOwnerMap::load().expect("load in the child");
    map.socket_fds(None).expect("walk in the child");
    let ids = |kind: &str, key: &str| -> Vec<u32> {
        let mut ids = Vec::new();
        for entry in fs::read_dir("/proc/self/fd").expect("list fds").flatten() {
            let link = fs::read_link(entry.path()).unwrap_or_default();
            if link.to_string_lossy() != kind {
                continue;
            }
            let info = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
            let text = fs::read_to_string(info).unwrap_or_default();
            let id = text.lines().find_map(|l| l.strip_prefix(key));
            ids.extend(id.and_then(|id| id.trim().parse::<u32>().ok()));
        }
        ids
    };
    let progs = ids("anon_inode:bpf-prog", "prog_id:");
    let maps = ids("anon_inode:bpf-map", "map_id:");
    let join = |ids: &[u32]| ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    println!("ids progs={} maps={}", join(&progs), join(&maps));
    std::io::stdout().flush().expect("flush");
    let me = rustix::process::getpid();
    rustix::process::kill_process(me, rustix::process::Signal::KILL).expect("SIGKILL myself");
    unreachable!("SIGKILL returned");
}

fn parse_ids(text: &str, key: &str) -> Vec<u32> {
    let line = text
        .lines()
        .find(|l| l.starts_with("ids "))
        .unwrap_or_else(|| panic!("no ids line from the child: {text}"));
    let list = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    list.split(',')
        .filter(|n| !n.is_empty())
        .map(|n| n.trim().parse().expect("an id"))
        .collect()
}

#[test]
fn nothing_is_left_in_the_kernel_after_a_crash() {
    let test = "nothing_is_left_in_the_kernel_after_a_crash";
    let _serial = serial();
    if owner_map(test).is_none() {
        return;
    }
    let output = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "helper_aborts_while_holding_the_map",
            "--nocapture",
        ])
        .env(ABORT_CHILD, "1")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "the child must be killed: {stdout}"
    );
    let progs = parse_ids(&stdout, "progs=");
    let maps = parse_ids(&stdout, "maps=");
    assert!(!progs.is_empty() && maps.len() >= 2, "{stdout}");

    // The kernel frees objects whose last fd closed; allow it a moment for deferred work.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let live_progs: Vec<u32> = aya::programs::loaded_programs()
            .filter_map(|p| Some(p.ok()?.id()))
            .filter(|id| progs.contains(id))
            .collect();
        let live_maps: Vec<u32> = aya::maps::loaded_maps()
            .filter_map(|m| Some(m.ok()?.id()))
            .filter(|id| maps.contains(id))
            .collect();
        if live_progs.is_empty() && live_maps.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still loaded after the child died: programs {live_progs:?}, maps {live_maps:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn without_the_program_the_reason_is_not_built_in() {
    if bpf::built_in() {
        return;
    }
    assert_eq!(bpf::socket_fds(None).err(), Some(Unavailable::NotBuiltIn));
}
