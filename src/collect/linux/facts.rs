//! Process facts from /proc, read only for the processes that hold shown sockets, with every
//! read capped, and cached by identity (pid *and* start time), so a pid reused by another
//! process never inherits the facts of the one that died.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::parallel::{self, Threads};
use super::procfs::{self, Stat};
use crate::collect::users::UserNames;
use crate::model::{CMDLINE_CAP, Process, SafeText};

/// Facts of a process already read are reused for this long before being read again (a
/// command line, exe and cwd rarely change; start time never does). By time, not by count:
/// the live view reads facts on only some refreshes.
pub(super) const REREAD_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct ProcessFacts {
    cache: HashMap<u32, Cached>,
    boot_time: Option<Option<u64>>,
    ticks_per_second: u64,
}

#[derive(Debug)]
struct Cached {
    process: Process,
    read_at: Instant,
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
        let now = Instant::now();
        self.cache.retain(|pid, _| pids.contains(pid));
        let pids: Vec<u32> = pids.iter().copied().collect();
        let reads = read_parallel(&pids, |pid| {
            // One small read per holder per refresh: the start time tells a reused pid.
            let stat = procfs::stat(pid).ok()?;
            let fresh = self.cache.get(&pid).is_some_and(|c| {
                c.process.start_ticks == stat.start_ticks
                    && now.saturating_duration_since(c.read_at) < REREAD_AFTER
            });
            let raw = (!fresh).then(|| Raw::read(pid));
            Some((stat, raw))
        });
        let mut processes = BTreeMap::new();
        for (pid, read) in pids.into_iter().zip(reads) {
            let Some((stat, raw)) = read else {
                self.cache.remove(&pid);
                continue;
            };
            if let Some(raw) = raw {
                let process = self.facts(pid, &stat, raw, users);
                self.cache.insert(
                    pid,
                    Cached {
                        process,
                        read_at: now,
                    },
                );
            }
            let cached = self.cache.get(&pid).map(|c| &c.process);
            let mut process = cached.cloned().unwrap_or_default();
            // Re-parenting (the parent died) changes ppid without changing identity.
            process.ppid = Some(stat.ppid).filter(|&p| p != 0);
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

    fn facts(&mut self, pid: u32, stat: &Stat, raw: Raw, users: &mut UserNames) -> Process {
        let Raw {
            args,
            cut,
            exe,
            cwd,
            uid,
        } = raw;
        let name = procfs::full_name(
            &stat.comm,
            args.first().map(Vec::as_slice),
            exe.as_ref().map(|e| e.as_os_str()),
        );
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

/// What /proc says of a process beyond its stat: read on the scan threads, made into a
/// [`Process`] (names resolved) on the caller's.
struct Raw {
    args: Vec<Vec<u8>>,
    cut: bool,
    exe: Option<PathBuf>,
    cwd: Option<PathBuf>,
    uid: Option<u32>,
}

impl Raw {
    fn read(pid: u32) -> Raw {
        let (args, cut) = procfs::cmdline(pid, CMDLINE_CAP).unwrap_or_default();
        Raw {
            args,
            cut,
            exe: procfs::link(pid, "exe"),
            cwd: procfs::link(pid, "cwd"),
            uid: procfs::euid(pid),
        }
    }
}

/// `read` of every pid, in order, spread over the cores from a few dozen pids on: five small
/// /proc reads per new holder add up to ~20 ms on a host with 300 of them, on one core. A
/// pid whose thread failed reads as gone (None), never shifted onto other pids.
fn read_parallel<T: Send>(pids: &[u32], read: impl Fn(u32) -> Option<T> + Sync) -> Vec<Option<T>> {
    let workers = parallel::workers(pids.len(), 32);
    parallel::map(pids, workers, Threads::CallerMayWork, |&pid| read(pid))
        .into_iter()
        .map(Option::flatten)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_reads_keep_each_answer_with_its_pid() {
        let pids: Vec<u32> = (1..=500).rev().collect();
        let read = |pid: u32| (!pid.is_multiple_of(7)).then_some(pid * 2);
        let want: Vec<Option<u32>> = pids.iter().map(|&pid| read(pid)).collect();
        assert_eq!(read_parallel(&pids, read), want);
        assert!(read_parallel(&[], read).is_empty());
    }

    #[test]
    fn a_holder_has_its_own_facts() {
        let me = std::process::id();
        let mut facts = ProcessFacts::new();
        let mut users = UserNames::default();
        let pids: BTreeSet<u32> = [me, u32::MAX].into();
        let processes = facts.refresh(&pids, &mut users);
        assert_eq!(processes.len(), 1, "a pid that does not exist is absent");
        let process = &processes[&me];
        assert_eq!(process.pid, me);
        assert!(
            process.exe.is_some() && process.uid.is_some(),
            "{process:?}"
        );
    }
}
