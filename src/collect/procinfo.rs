//! Process facts through sysinfo, refreshed only for the pids that hold sockets.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind, Users};

use crate::model::{Process, SafeText};

/// Facts of a process already read are reused for this many refreshes before being read again
/// (a process's command line, exe and cwd rarely change; its start time and parent never do).
const REREAD_EVERY: u32 = 30;

pub struct ProcessFacts {
    system: Option<System>,
    /// Pids whose facts `system` holds.
    known: BTreeSet<u32>,
    refreshes: u32,
    /// uid → user name, read once per collector (the passwd file rarely changes).
    users: Option<HashMap<u32, SafeText>>,
}

impl ProcessFacts {
    pub fn new() -> Self {
        ProcessFacts {
            system: System::new().ok(),
            known: BTreeSet::new(),
            refreshes: 0,
            users: None,
        }
    }

    /// Name, command line, exe, cwd, user, parent and start time of each pid that still exists.
    /// Only pids not seen before are read, except every `REREAD_EVERY` refreshes, when a fresh
    /// `System` re-reads them all (which also forgets processes that are gone).
    pub fn refresh(&mut self, pids: &BTreeSet<u32>) -> BTreeMap<u32, Process> {
        self.refreshes += 1;
        if self.refreshes.is_multiple_of(REREAD_EVERY) {
            self.system = System::new().ok();
            self.known.clear();
        }
        let Some(system) = self.system.as_mut() else {
            return BTreeMap::new();
        };
        let fresh: Vec<Pid> = pids
            .difference(&self.known)
            .map(|&pid| Pid::from_u32(pid))
            .collect();
        read_facts(system, &fresh, pids);
        self.known = pids.clone();
        let users = self.users.get_or_insert_with(load_users);
        pids.iter()
            .filter_map(|&pid| system.process(Pid::from_u32(pid)))
            .map(|process| (process.pid().as_u32(), describe(process, system, users)))
            .collect()
    }

    fn user_name(&mut self, uid: u32) -> Option<SafeText> {
        let users = self.users.get_or_insert_with(load_users);
        users.get(&uid).cloned()
    }

    /// Names for the given uids (those without an entry are left out).
    pub fn user_names(&mut self, uids: BTreeSet<u32>) -> BTreeMap<u32, SafeText> {
        uids.into_iter()
            .filter_map(|uid| Some((uid, self.user_name(uid)?)))
            .collect()
    }
}

/// Reads name, command line, exe, cwd and user of `fresh` pids, and the names of their parents.
fn read_facts(system: &mut System, fresh: &[Pid], holders: &BTreeSet<u32>) {
    if fresh.is_empty() {
        return;
    }
    let kind = ProcessRefreshKind::nothing()
        .with_cmd(UpdateKind::Always)
        .with_exe(UpdateKind::Always)
        .with_cwd(UpdateKind::Always)
        .with_user(UpdateKind::Always);
    system.refresh_processes_specifics(ProcessesToUpdate::Some(fresh), true, kind);
    // Parents are named too ("parent 812 (npm)"): only their name is read.
    // Unique: sysinfo treats a pid listed twice in one refresh as dead the second time.
    let parents: Vec<Pid> = fresh
        .iter()
        .filter_map(|&pid| system.process(pid)?.parent())
        .filter(|ppid| !holders.contains(&ppid.as_u32()))
        .collect::<BTreeSet<Pid>>()
        .into_iter()
        .collect();
    let names_only = ProcessRefreshKind::nothing();
    system.refresh_processes_specifics(ProcessesToUpdate::Some(&parents), true, names_only);
}

fn describe(
    process: &sysinfo::Process,
    system: &System,
    users: &HashMap<u32, SafeText>,
) -> Process {
    let uid = process.user_id().map(|uid| **uid);
    Process {
        pid: process.pid().as_u32(),
        name: SafeText::from_os(process.name()),
        cmdline: process.cmd().iter().map(|a| SafeText::from_os(a)).collect(),
        exe: process.exe().map(SafeText::from_path),
        cwd: process.cwd().map(SafeText::from_path),
        user: uid.and_then(|uid| users.get(&uid).cloned()),
        uid,
        ppid: process.parent().map(Pid::as_u32),
        parent_name: process
            .parent()
            .and_then(|ppid| system.process(ppid))
            .map(|parent| SafeText::from_os(parent.name())),
        start_time: Some(process.start_time()).filter(|&t| t > 0),
    }
}

fn load_users() -> HashMap<u32, SafeText> {
    let Ok(users) = Users::new_with_refreshed_list() else {
        return HashMap::new();
    };
    users
        .iter()
        .map(|user| (**user.id(), SafeText::new(user.name())))
        .collect()
}
