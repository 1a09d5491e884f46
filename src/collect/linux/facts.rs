//! Process facts from /proc, read only for the processes that hold shown sockets, with every
//! read capped, and cached by identity (pid *and* start time), so a pid reused by another
//! process never inherits the facts of the one that died.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::procfs::{self, Stat};
use crate::collect::users::UserNames;
use crate::model::{CMDLINE_CAP, Process, SafeText};

/// Facts of a process already read are reused for this many refreshes before being read again
/// (a command line, exe and cwd rarely change; start time never does).
const REREAD_EVERY: u32 = 30;

#[derive(Debug, Default)]
pub struct ProcessFacts {
    cache: HashMap<u32, Cached>,
    refreshes: u32,
    boot_time: Option<Option<u64>>,
    ticks_per_second: u64,
}

#[derive(Debug)]
struct Cached {
    process: Process,
    read_at: u32,
}

impl ProcessFacts {
    pub fn new() -> Self {
        ProcessFacts {
            ticks_per_second: rustix::param::clock_ticks_per_second().max(1),
            ..ProcessFacts::default()
        }
    }

    /// Facts of every pid that still exists; a pid that exited is simply absent.
    pub fn refresh(
        &mut self,
        pids: &BTreeSet<u32>,
        users: &mut UserNames,
    ) -> BTreeMap<u32, Process> {
        self.refreshes += 1;
        self.cache.retain(|pid, _| pids.contains(pid));
        let mut processes = BTreeMap::new();
        for &pid in pids {
            // One small read per holder per refresh: the start time tells a reused pid.
            let Ok(stat) = procfs::stat(pid) else {
                self.cache.remove(&pid);
                continue;
            };
            let process = self.facts(pid, &stat, users);
            processes.insert(pid, process);
        }
        // Holders often share a parent (a prefork master, a supervisor): one read each.
        let mut parents: HashMap<u32, Option<SafeText>> = HashMap::new();
        for process in processes.values_mut() {
            process.parent_name = process.ppid.and_then(|ppid| {
                parents
                    .entry(ppid)
                    .or_insert_with(|| parent_name(ppid))
                    .clone()
            });
        }
        processes
    }

    fn facts(&mut self, pid: u32, stat: &Stat, users: &mut UserNames) -> Process {
        let fresh = self.cache.get(&pid).is_some_and(|c| {
            c.process.start_ticks == stat.start_ticks
                && self.refreshes.saturating_sub(c.read_at) < REREAD_EVERY
        });
        if !fresh {
            let process = self.read(pid, stat, users);
            let read_at = self.refreshes;
            self.cache.insert(pid, Cached { process, read_at });
        }
        let cached = self.cache.get_mut(&pid).map(|c| &mut c.process);
        let mut process = cached.map(|p| p.clone()).unwrap_or_default();
        // Re-parenting (the parent died) changes ppid without changing identity.
        process.ppid = Some(stat.ppid).filter(|&p| p != 0);
        process
    }

    fn read(&mut self, pid: u32, stat: &Stat, users: &mut UserNames) -> Process {
        let (args, cut) = procfs::cmdline(pid, CMDLINE_CAP).unwrap_or_default();
        let exe = procfs::link(pid, "exe");
        let cwd = procfs::link(pid, "cwd");
        let name = procfs::full_name(
            &stat.comm,
            args.first().map(Vec::as_slice),
            exe.as_ref().map(|e| e.as_os_str()),
        );
        let uid = procfs::euid(pid);
        Process {
            pid,
            start_ticks: stat.start_ticks,
            name: SafeText::from_bytes(&name),
            comm: SafeText::from_bytes(&stat.comm),
            cmdline: args.iter().map(|a| SafeText::from_bytes(a)).collect(),
            cmdline_cut: cut.then_some(stat.cmdline_len),
            exe: exe.as_deref().map(SafeText::from_path),
            cwd: cwd.as_deref().map(SafeText::from_path),
            user: uid.and_then(|uid| users.name(uid)),
            uid,
            ppid: Some(stat.ppid).filter(|&p| p != 0),
            parent_name: None,
            start_time: self.start_time(stat.start_ticks),
            container: None,
            unit: None,
        }
    }

    /// Seconds since the epoch, from boot time and the start time in ticks.
    fn start_time(&mut self, ticks: u64) -> Option<u64> {
        let boot = *self.boot_time.get_or_insert_with(procfs::boot_time);
        boot.map(|boot| boot + ticks / self.ticks_per_second)
    }
}

fn parent_name(ppid: u32) -> Option<SafeText> {
    procfs::stat(ppid)
        .ok()
        .map(|stat| SafeText::from_bytes(&stat.comm))
}
