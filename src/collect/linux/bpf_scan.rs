//! Full owner scans from the in-kernel map (`bpf/`): the parts the `/proc` walk gives, from one
//! walk of every fd table inside the kernel instead of one `readlinkat` per open fd.
//!
//! The program is loaded, and first walked, on a thread of its own while the socket tables
//! are read. When loading fails, or later a walk does, the `/proc` walk takes over for good,
//! and the reason is kept for `--verbose` and the JSON `collector` field.

use std::collections::BTreeMap;
use std::thread::{self, JoinHandle};

use rustc_hash::FxHashSet as HashSet;

use super::bpf::{BpfOwnerMap, LoadOptions, SocketFd, Unavailable, Walk};
use super::owners::{FullScan, Partial, scan_parallel};
use crate::model::{OwnerMap, OwnerMapSource};

pub(super) struct BpfScan {
    state: State,
    /// What the first walk was made for.
    discover: bool,
}

/// A loaded map, and the walk of every socket made as soon as it loaded.
type Loaded = (BpfOwnerMap, Option<Result<Walk, Unavailable>>);

enum State {
    Loading(JoinHandle<Result<Loaded, Unavailable>>),
    /// Boxed: the loaded map is large beside the other states. The first walk, when made
    /// while the socket tables were read, waits here for the first scan.
    Ready(Box<BpfOwnerMap>, Option<Result<Walk, Unavailable>>),
    /// The `/proc` walk answers, for this reason.
    Proc(String),
}

impl BpfScan {
    /// Starts loading; with `discover` the program also reads each socket's namespace and
    /// reports namespace fds (the hints the namespace collector follows).
    ///
    /// The first walk is made on the loading thread at once, of every socket: it then
    /// overlaps reading the socket tables instead of following it. It costs what a filtered
    /// one does: without the namespace the rows are filtered here anyway, and with it the
    /// first scan wants every socket. A socket bound after that walk and before its table
    /// was read has no holder in that first answer (`ss -p` reads owners before tables too);
    /// the next update looks for it again ([`Partial::early`]).
    /// `pids`: /proc as just listed (None: the walk lists it).
    pub fn start(discover: bool, pids: Option<Vec<u32>>) -> Self {
        let options = LoadOptions { netns: discover };
        let loading = thread::Builder::new()
            .name("bpf-load".into())
            .spawn(move || {
                let mut map = BpfOwnerMap::load_with(options)?;
                let first = match pids.as_deref() {
                    Some(pids) => map.walk_of(pids, None, discover),
                    None => map.walk(None, discover),
                };
                Ok((map, Some(first)))
            });
        let state = match loading {
            Ok(handle) => State::Loading(handle),
            Err(error) => State::Proc(format!("bpf: cannot start a thread to load it: {error}")),
        };
        BpfScan { state, discover }
    }

    /// Waits for the load, once.
    fn settle(&mut self) {
        if !matches!(self.state, State::Loading(_)) {
            return;
        }
        let placeholder = State::Proc(String::new());
        let State::Loading(handle) = std::mem::replace(&mut self.state, placeholder) else {
            return;
        };
        self.state = match handle.join() {
            Ok(Ok((map, first))) => State::Ready(Box::new(map), first),
            Ok(Err(why)) => State::Proc(why.to_string()),
            Err(_) => State::Proc("bpf: loading the owner map panicked".into()),
        };
    }

    fn walk(
        map: &mut BpfOwnerMap,
        pids: &[u32],
        wanted: &HashSet<u64>,
        discover: bool,
    ) -> Result<Walk, Unavailable> {
        match discover {
            // Every socket with its namespace, and every namespace fd: the hints need them.
            true => map.walk_of(pids, None, true),
            false => map.walk_of(pids, Some(wanted), false),
        }
    }
}

impl FullScan for BpfScan {
    fn scan(&mut self, pids: &[u32], wanted: &HashSet<u64>, discover: bool) -> Vec<Partial> {
        self.settle();
        if let State::Ready(map, first) = &mut self.state {
            if wanted.is_empty() && !discover {
                return Vec::new();
            }
            // The first walk has every socket (and, with `discover`, the namespace fds).
            let (walk, early) = match first.take() {
                Some(walk) if discover == self.discover => (walk, true),
                _ => (Self::walk(map, pids, wanted, discover), false),
            };
            match walk {
                Ok(walk) => {
                    let mut part = parts(walk, wanted, discover);
                    part.early = early;
                    return vec![part];
                }
                Err(why) => self.state = State::Proc(why.to_string()),
            }
        }
        scan_parallel(pids, wanted, discover)
    }

    fn used(&mut self) -> OwnerMap {
        self.settle();
        match &self.state {
            State::Ready(..) => OwnerMap {
                source: OwnerMapSource::Bpf,
                bpf_unavailable: None,
            },
            State::Proc(why) => OwnerMap {
                source: OwnerMapSource::Proc,
                bpf_unavailable: Some(why.clone()),
            },
            State::Loading(_) => OwnerMap::default(),
        }
    }
}

/// A walk in the shape of the `/proc` walk's parts. With `discover`: the sockets of namespaces
/// that hold none of the wanted ones, one of each such namespace to open it through, and the
/// namespace fds (of any type: the namespace collector keeps the network ones).
fn parts(walk: Walk, wanted: &HashSet<u64>, discover: bool) -> Partial {
    let (found, others): (Vec<SocketFd>, Vec<SocketFd>) = walk
        .sockets
        .into_iter()
        .partition(|s| wanted.contains(&s.inode));
    let mut part = Partial {
        found: found.iter().map(|s| (s.inode, s.pid, s.fd)).collect(),
        ..Partial::default()
    };
    if !discover {
        return part;
    }
    let covered: HashSet<u64> = found.iter().map(|s| s.netns).filter(|&n| n != 0).collect();
    let mut one_each: BTreeMap<u64, (u32, u32)> = BTreeMap::new();
    for socket in others.iter().filter(|s| !covered.contains(&s.netns)) {
        part.unknown.push((socket.pid, socket.fd, socket.inode));
        one_each
            .entry(socket.netns)
            .or_insert((socket.pid, socket.fd));
    }
    part.socket_namespaces = Some(
        one_each
            .into_iter()
            .map(|(netns, (pid, fd))| (pid, fd, netns))
            .collect(),
    );
    part.netns_fds = walk
        .namespace_fds
        .iter()
        .map(|n| (n.pid, n.fd, n.inode))
        .collect();
    part
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::linux::bpf::NamespaceFd;

    fn socket(pid: u32, fd: u32, inode: u64, netns: u64) -> SocketFd {
        SocketFd {
            pid,
            fd,
            inode,
            netns,
        }
    }

    #[test]
    fn only_namespaces_without_a_wanted_socket_are_hints() {
        let walk = Walk {
            sockets: vec![
                socket(10, 3, 100, 1),
                socket(10, 4, 101, 1),
                socket(20, 3, 200, 2),
                socket(21, 5, 201, 2),
                socket(30, 7, 300, 0),
            ],
            namespace_fds: vec![NamespaceFd {
                pid: 40,
                fd: 9,
                inode: 3,
            }],
        };
        let wanted: HashSet<u64> = [100].into_iter().collect();
        let part = parts(walk.clone(), &wanted, true);
        assert_eq!(part.found, vec![(100, 10, 3)]);
        // Namespace 1 holds a wanted socket; 2 and the unreadable 0 do not.
        assert_eq!(part.unknown, vec![(20, 3, 200), (21, 5, 201), (30, 7, 300)]);
        assert_eq!(part.socket_namespaces, Some(vec![(30, 7, 0), (20, 3, 2)]));
        assert_eq!(part.netns_fds, vec![(40, 9, 3)]);

        let plain = parts(walk, &wanted, false);
        assert_eq!(plain.found, vec![(100, 10, 3)]);
        assert!(plain.unknown.is_empty() && plain.socket_namespaces.is_none());
    }
}
