//! Process facts through sysinfo, refreshed only for the pids that hold sockets.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind, Users};

use crate::model::{Process, SafeText};

pub struct ProcessFacts {
    system: Option<System>,
    /// uid → user name, read once per collector (the passwd file rarely changes).
    users: Option<HashMap<u32, SafeText>>,
}

impl ProcessFacts {
    pub fn new() -> Self {
        ProcessFacts {
            system: System::new().ok(),
            users: None,
        }
    }

    /// Name, command line, exe, cwd, user, parent and start time of each pid that still exists.
    pub fn refresh(&mut self, pids: &BTreeSet<u32>) -> BTreeMap<u32, Process> {
        let Some(system) = self.system.as_mut() else {
            return BTreeMap::new();
        };
        let wanted: Vec<Pid> = pids.iter().map(|&pid| Pid::from_u32(pid)).collect();
        let kind = ProcessRefreshKind::nothing()
            .with_cmd(UpdateKind::Always)
            .with_exe(UpdateKind::Always)
            .with_cwd(UpdateKind::Always)
            .with_user(UpdateKind::Always);
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&wanted), true, kind);
        // Parents are named too ("parent 812 (npm)"): only their name is read.
        let parents: Vec<Pid> = wanted
            .iter()
            .filter_map(|&pid| system.process(pid)?.parent())
            .filter(|ppid| !pids.contains(&ppid.as_u32()))
            .collect();
        let names_only = ProcessRefreshKind::nothing();
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&parents), true, names_only);
        let users = self.users.get_or_insert_with(load_users);
        wanted
            .into_iter()
            .filter_map(|pid| system.process(pid))
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
