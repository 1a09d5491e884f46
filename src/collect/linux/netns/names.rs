//! What each namespace is, and which container or unit each holder runs in, named without the
//! docker socket or any runtime's CLI: the host; an `ip netns` name; a container (its runtime's
//! state files, its cgroup); a Kubernetes pod; a systemd unit; else `netns:[inode]`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use rustc_hash::FxHashMap as HashMap;

use super::super::cgroup;
use super::super::containers::{ContainerIndex, ContainerInfo, normalize_netns_path};
use super::super::facts::REREAD_AFTER;
use super::super::parallel::{self, Threads};
use super::discover::{Discovery, Found, Source};
use super::sys;
use crate::model::{ContainerFacts, Netns, NetnsKind, Process, SafeText};

/// Every found namespace named; on every core from a few dozen on (a name may take a cgroup
/// read per process inside).
pub fn name_all(discovery: &Discovery, containers: &ContainerIndex) -> BTreeMap<u64, Netns> {
    let found: Vec<&Found> = discovery.found.values().collect();
    let workers = parallel::workers(found.len(), 16);
    let named = parallel::map(&found, workers, Threads::CallerMayWork, |found| {
        name_one(found, discovery, containers)
    });
    found
        .iter()
        .zip(named)
        .filter_map(|(found, netns)| Some((found.inode, netns?)))
        .collect()
}

fn name_one(found: &Found, discovery: &Discovery, containers: &ContainerIndex) -> Netns {
    let pid = found.pids.first().or(found.held_by.first()).copied();
    let mut netns = Netns {
        inode: found.inode,
        id: sys::namespace_id(&found.fd),
        kind: NetnsKind::Anonymous,
        name: SafeText::new(&format!("netns:[{}]", found.inode)),
        container: None,
        pid,
        paths: found
            .mounts
            .iter()
            .map(|p| SafeText::from_path(p))
            .collect(),
        found_by: found.sources.iter().map(|s| source_name(*s)).collect(),
        current: found.inode == discovery.own,
    };
    if Some(found.inode) == discovery.host {
        netns.kind = NetnsKind::Host;
        netns.name = SafeText::new("host");
    } else if let Some(info) = by_mount(found, containers) {
        name_container(&mut netns, info);
    } else if let Some(named) = by_members(found, containers) {
        netns.kind = named.0;
        netns.name = named.1;
        netns.container = named.2;
    } else if let Some(name) = ip_netns_name(&found.mounts) {
        netns.kind = NetnsKind::Named;
        netns.name = name;
    }
    netns
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::Process => "process",
        Source::Thread => "thread",
        Source::Mount => "mount",
        Source::HeldFd => "fd",
        Source::Socket => "socket",
    }
}

/// A container whose runtime recorded this namespace's bind mount (docker's SandboxKey,
/// podman's or a CNI's netns path).
fn by_mount<'a>(found: &Found, containers: &'a ContainerIndex) -> Option<&'a ContainerInfo> {
    found
        .mounts
        .iter()
        .find_map(|path| containers.by_netns_path(&normalize_netns_path(path)))
}

/// What the cgroup of a process inside says: a container, a pod, or a unit.
fn by_members(
    found: &Found,
    containers: &ContainerIndex,
) -> Option<(NetnsKind, SafeText, Option<ContainerFacts>)> {
    for &pid in &found.pids {
        let Ok(info) = cgroup::read(Path::new("/"), pid) else {
            continue;
        };
        if let Some(reference) = &info.container {
            let known = containers.by_id(reference.id.as_str());
            let facts = match known {
                Some(info) => facts(info),
                None => ContainerFacts {
                    runtime: reference.runtime.as_str(),
                    id: reference.id.clone(),
                    name: None,
                    image: None,
                    pod: None,
                },
            };
            let kind = match facts.pod.is_some() || info.pod_uid.is_some() {
                true => NetnsKind::Pod,
                false => NetnsKind::Container,
            };
            return Some((kind, container_label(&facts), Some(facts)));
        }
        if let Some(unit) = info.unit.filter(|u| u.is_service()) {
            return Some((NetnsKind::Unit, unit.name, None));
        }
    }
    None
}

fn name_container(netns: &mut Netns, info: &ContainerInfo) {
    let facts = facts(info);
    netns.kind = match info.pod.is_some() {
        true => NetnsKind::Pod,
        false => NetnsKind::Container,
    };
    netns.name = container_label(&facts);
    netns.container = Some(facts);
}

fn facts(info: &ContainerInfo) -> ContainerFacts {
    ContainerFacts {
        runtime: info.runtime.as_str(),
        id: info.id.clone(),
        name: info.name.clone(),
        image: info.image.clone(),
        pod: info
            .pod
            .as_ref()
            .map(|p| SafeText::new(&format!("{}/{}", p.namespace, p.name))),
    }
}

/// `web-1`, a pod's `default/web-7d9f`, or the short id.
fn container_label(facts: &ContainerFacts) -> SafeText {
    if let Some(pod) = &facts.pod {
        return SafeText::new(&format!("pod {pod}"));
    }
    match &facts.name {
        Some(name) => name.clone(),
        None => SafeText::new(&facts.id.as_str().chars().take(12).collect::<String>()),
    }
}

/// `/run/netns/NAME` (what `ip netns add NAME` makes).
fn ip_netns_name(mounts: &[std::path::PathBuf]) -> Option<SafeText> {
    mounts.iter().find_map(|path| {
        let path = normalize_netns_path(path);
        let name = path.strip_prefix("/run/netns").ok()?;
        (name.components().count() == 1).then(|| SafeText::from_path(name))
    })
}

/// Holders' cgroups by identity (pid and start time), so the live view does not read every
/// holder's `/proc/PID/cgroup` (~28 µs each) again each time its picture changes. Read again
/// after the facts' `REREAD_AFTER`, as the other facts are: a process rarely moves to another
/// cgroup.
#[derive(Debug, Default)]
pub struct CgroupCache {
    entries: HashMap<u32, Cached>,
}

#[derive(Debug)]
struct Cached {
    start_ticks: u64,
    read_at: Instant,
    info: Option<cgroup::CgroupInfo>,
}

/// Each holder's container and systemd unit, from its cgroup (in every namespace, the host's
/// too).
pub fn label_holders(
    processes: &mut BTreeMap<u32, Process>,
    containers: &ContainerIndex,
    cache: &mut CgroupCache,
) {
    let now = Instant::now();
    let entries = &mut cache.entries;
    entries.retain(|pid, _| processes.contains_key(pid));
    let stale: Vec<(u32, u64)> = processes
        .values()
        .filter(|p| {
            entries.get(&p.pid).is_none_or(|c| {
                c.start_ticks != p.start_ticks
                    || now.saturating_duration_since(c.read_at) >= REREAD_AFTER
            })
        })
        .map(|p| (p.pid, p.start_ticks))
        .collect();
    let workers = parallel::workers(stale.len(), 16);
    let infos = parallel::map(&stale, workers, Threads::CallerMayWork, |&(pid, _)| {
        cgroup::read(Path::new("/"), pid).ok()
    });
    for (&(pid, start_ticks), info) in stale.iter().zip(infos) {
        let info = info.flatten();
        entries.insert(
            pid,
            Cached {
                start_ticks,
                read_at: now,
                info,
            },
        );
    }
    for process in processes.values_mut() {
        let Some(info) = entries.get(&process.pid).and_then(|c| c.info.as_ref()) else {
            process.container = None;
            process.unit = None;
            continue;
        };
        process.container = info.container.as_ref().map(|reference| {
            let label = containers
                .by_id(reference.id.as_str())
                .map(|c| c.label().to_string())
                .unwrap_or_else(|| reference.id.as_str().chars().take(12).collect());
            SafeText::new(&format!("{} {label}", reference.runtime.as_str()))
        });
        process.unit = info.unit.clone().filter(|u| u.is_service()).map(|u| u.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A holder's cgroup is read once per identity: the same pid and start time take the
    /// cached answer, a pid reused by another process (another start time) is read again.
    #[test]
    fn holder_cgroups_are_cached_by_pid_and_start_time() {
        let me = std::process::id();
        let process = |start_ticks| Process {
            pid: me,
            start_ticks,
            ..Process::default()
        };
        let mut cache = CgroupCache::default();
        let marked = cgroup::CgroupInfo {
            unit: Some(cgroup::SystemdUnit {
                name: SafeText::new("psT-cached.service"),
                user: None,
            }),
            ..cgroup::CgroupInfo::default()
        };
        cache.entries.insert(
            me,
            Cached {
                start_ticks: 7,
                read_at: Instant::now(),
                info: Some(marked),
            },
        );
        let containers = ContainerIndex::default();
        let unit_at = |start_ticks, cache: &mut CgroupCache| {
            let mut processes = BTreeMap::from([(me, process(start_ticks))]);
            label_holders(&mut processes, &containers, cache);
            processes[&me].unit.as_ref().map(|u| u.to_string())
        };
        let unit = unit_at(7, &mut cache);
        assert_eq!(
            unit.as_deref(),
            Some("psT-cached.service"),
            "the cached cgroup"
        );

        let unit = unit_at(8, &mut cache);
        assert_ne!(
            unit.as_deref(),
            Some("psT-cached.service"),
            "read again: {unit:?}"
        );
        assert_eq!(cache.entries[&me].start_ticks, 8);

        // Holders gone from the picture are forgotten.
        label_holders(&mut BTreeMap::new(), &containers, &mut cache);
        assert!(cache.entries.is_empty());
    }

    #[test]
    fn ip_netns_names_are_the_file_under_run_netns() {
        let name = |p: &str| ip_netns_name(&[PathBuf::from(p)]).map(|n| n.to_string());
        assert_eq!(name("/run/netns/t_a"), Some("t_a".to_string()));
        assert_eq!(name("/var/run/netns/web"), Some("web".to_string()));
        assert_eq!(name("/run/docker/netns/abc"), None);
        assert_eq!(name("/run/netns/a/b"), None);
    }
}
