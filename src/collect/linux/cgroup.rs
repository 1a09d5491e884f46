//! Which container, pod, systemd unit or sandboxed app a process belongs to, read from its
//! `/proc/PID/cgroup` alone: no runtime socket, no CLI.
//!
//! cgroup v1 shows one line per hierarchy (`4:memory:/docker/<id>`), v2 one line (`0::/path`),
//! hybrid setups both. Any line may carry the answer (podman's conmon under cgroupfs is `/` on
//! the v2 and `name=systemd` lines but `/libpod_parent/conmon` on the others), so every line is
//! read, the v2 and `name=systemd` lines first.
//!
//! Within one path the innermost match wins: a kind node is a docker container whose cgroup
//! holds the pods' cgroups, and the process belongs to the pod's container, not the node.
//!
//! Text: container ids are hex by construction; names (LXC, machines, units, app ids) are
//! [`SafeText`], sanitized here, so callers may print every field as it is.

// wired in by the namespace collector (issue 11)
#![allow(dead_code)]

use std::io;
use std::path::Path;

use super::containers::Runtime;
use crate::model::SafeText;

/// A container as its cgroup names it. `id` is the full hex id for docker, podman,
/// containerd and CRI-O; for LXC and systemd machines it is the container's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRef {
    pub runtime: Runtime,
    pub id: SafeText,
}

/// A systemd unit (`*.service` or `*.scope`). `user` is the uid of the `user@UID.service`
/// manager the unit runs under, for `systemctl --user`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemdUnit {
    pub name: SafeText,
    pub user: Option<u32>,
}

impl SystemdUnit {
    /// A service can be stopped on its own; a scope is often a whole login session.
    pub fn is_service(&self) -> bool {
        self.name.as_str().ends_with(".service")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppKind {
    Flatpak,
    Snap,
}

/// A desktop app sandbox: the flatpak app id (`org.mozilla.firefox`) or the snap name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxedApp {
    pub kind: AppKind,
    pub id: SafeText,
}

/// Everything one `/proc/PID/cgroup` says. Every field is independent: a process can be in a
/// container, in a Kubernetes pod and in a unit inside that container all at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupInfo {
    /// The innermost container. For a conmon this is the container it monitors.
    pub container: Option<ContainerRef>,
    /// Kubernetes pod UID with dashes (the systemd driver writes it with underscores).
    pub pod_uid: Option<String>,
    /// Podman pod id (`machine-libpod_pod_<id>.slice`).
    pub podman_pod: Option<String>,
    /// The innermost unit below the container (or anywhere, when there is no container).
    pub unit: Option<SystemdUnit>,
    pub app: Option<SandboxedApp>,
    /// The process is a container monitor (libpod-conmon, crio-conmon, `/libpod_parent/conmon`),
    /// not the container's payload.
    pub conmon: bool,
}

/// Reads `<root>/proc/<pid>/cgroup`.
pub fn read(root: &Path, pid: u32) -> io::Result<CgroupInfo> {
    let bytes = std::fs::read(root.join(format!("proc/{pid}/cgroup")))?;
    Ok(parse(&bytes))
}

/// Parses the bytes of a `/proc/PID/cgroup` file. Malformed lines are ignored.
pub fn parse(bytes: &[u8]) -> CgroupInfo {
    let mut info = CgroupInfo::default();
    for path in paths_in_order(bytes) {
        info.fill_from(classify(path));
    }
    info
}

/// The path of every line, the v2 line and the `name=systemd` line first: they are the ones
/// systemd manages, so their answer is the most specific when lines disagree.
fn paths_in_order(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<(u8, &[u8])> = bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let mut fields = line.splitn(3, |&b| b == b':');
            let (hierarchy, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let rank = match (hierarchy, controllers) {
                (b"0", b"") => 0,
                (_, b"name=systemd") => 1,
                _ => 2,
            };
            Some((rank, path))
        })
        .collect();
    lines.sort_by_key(|&(rank, _)| rank);
    lines.into_iter().map(|(_, path)| path).collect()
}

impl CgroupInfo {
    /// Keeps what is known; takes from `other` only what is still missing.
    fn fill_from(&mut self, other: CgroupInfo) {
        if self.container.is_none() && (other.container.is_some() || other.conmon) {
            self.container = other.container;
            self.conmon = other.conmon;
        }
        self.pod_uid = self.pod_uid.take().or(other.pod_uid);
        self.podman_pod = self.podman_pod.take().or(other.podman_pod);
        self.unit = self.unit.take().or(other.unit);
        self.app = self.app.take().or(other.app);
    }
}

/// What a container-like component of a cgroup path says.
struct ContainerMatch {
    container: Option<ContainerRef>,
    conmon: bool,
}

/// Everything one cgroup path says.
fn classify(path: &[u8]) -> CgroupInfo {
    let parts: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    let mut info = CgroupInfo::default();
    let mut container_at = None;
    for (i, part) in parts.iter().enumerate() {
        if let Some(found) = container_component(&parts[..i], part, parts.get(i + 1)) {
            info.container = found.container;
            info.conmon = found.conmon;
            container_at = Some(i);
        }
        info.pod_uid = pod_uid_component(&parts[..i], part).or(info.pod_uid);
        info.podman_pod = podman_pod_component(part).or(info.podman_pod);
        info.app = app_component(part).or(info.app);
    }
    let units_from = container_at.map_or(0, |i| i + 1);
    info.unit = innermost_unit(&parts, units_from);
    info
}

/// Recognises one component as a container (or a container monitor). `parents` are the
/// components above it, `next` the one below.
fn container_component(
    parents: &[&[u8]],
    part: &[u8],
    next: Option<&&[u8]>,
) -> Option<ContainerMatch> {
    let text = std::str::from_utf8(part).ok();
    let parent = parents.last().copied();
    if let Some(found) = text.and_then(scoped_container) {
        return Some(found);
    }
    if let Some(found) = cgroupfs_container(parents, parent, part) {
        return Some(found);
    }
    machine_component(part, next)
}

/// The systemd-driver forms: `<prefix><64 hex>.scope`.
fn scoped_container(part: &str) -> Option<ContainerMatch> {
    // Longest prefixes first: "libpod-conmon-" also starts with "libpod-".
    const SCOPES: [(&str, Runtime, bool); 7] = [
        ("libpod-conmon-", Runtime::Podman, true),
        ("libpod-", Runtime::Podman, false),
        ("crio-conmon-", Runtime::CriO, true),
        ("crio-", Runtime::CriO, false),
        ("cri-containerd-", Runtime::Containerd, false),
        ("docker-", Runtime::Docker, false),
        ("nerdctl-", Runtime::Containerd, false),
    ];
    let stem = part.strip_suffix(".scope").unwrap_or(part);
    let scope = part.len() != stem.len();
    SCOPES.iter().find_map(|&(prefix, runtime, conmon)| {
        let id = stem.strip_prefix(prefix).filter(|id| is_hex_id(id))?;
        // Without ".scope" only the cgroupfs forms podman and CRI-O really use.
        let cgroupfs_form = matches!(prefix, "libpod-" | "crio-" | "crio-conmon-");
        (scope || cgroupfs_form).then(|| ContainerMatch {
            container: Some(ContainerRef {
                runtime,
                id: SafeText::new(id),
            }),
            conmon,
        })
    })
}

/// The cgroupfs-driver forms, where the meaning comes from the parent directory.
fn cgroupfs_container(
    parents: &[&[u8]],
    parent: Option<&[u8]>,
    part: &[u8],
) -> Option<ContainerMatch> {
    if parent == Some(b"libpod_parent") && part == b"conmon" {
        return Some(ContainerMatch {
            container: None,
            conmon: true,
        });
    }
    if let Some(name) = part.strip_prefix(b"lxc.payload.") {
        return Some(found(Runtime::Lxc, SafeText::from_bytes(name)));
    }
    if parents == [b"lxc".as_slice()] {
        return Some(found(Runtime::Lxc, SafeText::from_bytes(part)));
    }
    let id = std::str::from_utf8(part).ok().filter(|id| is_hex_id(id))?;
    let runtime = match parent {
        Some(b"docker") => Runtime::Docker,
        // kubelet's cgroupfs driver: /kubepods/<qos>/pod<uid>/<id>; CRI-O names it crio-<id>.
        Some(p) if p.starts_with(b"pod") && under_kubepods(parents) => Runtime::Containerd,
        // containerd's own cgroupfs layout (nerdctl, ctr): /<namespace>/<id>.
        Some(_) if parents.len() == 1 => Runtime::Containerd,
        _ => return None,
    };
    Some(found(runtime, SafeText::new(id)))
}

fn found(runtime: Runtime, id: SafeText) -> ContainerMatch {
    ContainerMatch {
        container: Some(ContainerRef { runtime, id }),
        conmon: false,
    }
}

/// systemd-machined machines: `machine-<name>.scope` (nspawn, libvirt) and
/// `systemd-nspawn@<name>.service`, whose `supervisor` child is nspawn itself.
fn machine_component(part: &[u8], next: Option<&&[u8]>) -> Option<ContainerMatch> {
    if let Some(name) = part
        .strip_prefix(b"machine-")
        .and_then(|rest| rest.strip_suffix(b".scope"))
    {
        return Some(found(Runtime::Machine, unescape_unit(name)));
    }
    let name = part
        .strip_prefix(b"systemd-nspawn@")
        .and_then(|rest| rest.strip_suffix(b".service"))?;
    if next == Some(&b"supervisor".as_slice()) {
        return None;
    }
    Some(found(Runtime::Machine, unescape_unit(name)))
}

/// systemd writes `-` and other bytes in instance and machine names as `\xNN`.
fn unescape_unit(name: &[u8]) -> SafeText {
    let mut out = Vec::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let escaped = name.get(i..i + 4).filter(|s| s.starts_with(b"\\x"));
        match escaped.and_then(|s| hex_byte(&s[2..])) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(name[i]);
                i += 1;
            }
        }
    }
    SafeText::from_bytes(&out)
}

fn hex_byte(two: &[u8]) -> Option<u8> {
    u8::from_str_radix(std::str::from_utf8(two).ok()?, 16).ok()
}

/// A Kubernetes pod cgroup: `kubepods-<qos>-pod<uid_with_underscores>.slice` (systemd
/// driver; `kubepods-pod<uid>.slice` for Guaranteed; kind prefixes `kubelet-`) or
/// `pod<uid>` below `kubepods` (cgroupfs driver).
fn pod_uid_component(parents: &[&[u8]], part: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(part).ok()?;
    let uid = match text.strip_suffix(".slice") {
        Some(stem) if stem.contains("kubepods") => &stem[stem.rfind("-pod")? + 4..],
        Some(_) => return None,
        None if under_kubepods(parents) => text.strip_prefix("pod")?,
        None => return None,
    };
    let uid = uid.replace('_', "-");
    is_pod_uid(&uid).then_some(uid)
}

fn under_kubepods(parents: &[&[u8]]) -> bool {
    parents.iter().any(|p| p.starts_with(b"kubepods"))
}

/// `machine-libpod_pod_<id>.slice` (rootful) or `user-libpod_pod_<id>.slice` (rootless).
fn podman_pod_component(part: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(part).ok()?.strip_suffix(".slice")?;
    let id = &text[text.find("libpod_pod_")? + "libpod_pod_".len()..];
    is_hex_id(id).then(|| id.to_string())
}

/// `app-flatpak-<app id>-<n>.scope`, `snap.<name>.<app>-<uuid>.scope` and
/// `snap.<name>.<app>.service`.
fn app_component(part: &[u8]) -> Option<SandboxedApp> {
    if let Some(rest) = part
        .strip_prefix(b"app-flatpak-")
        .and_then(|r| r.strip_suffix(b".scope"))
    {
        let cut = rest.iter().rposition(|&b| b == b'-')?;
        let (id, number) = (&rest[..cut], &rest[cut + 1..]);
        let numbered = !number.is_empty() && number.iter().all(u8::is_ascii_digit);
        return (numbered && !id.is_empty()).then(|| SandboxedApp {
            kind: AppKind::Flatpak,
            id: SafeText::from_bytes(id),
        });
    }
    let rest = part.strip_prefix(b"snap.")?;
    let is_unit = part.ends_with(b".scope") || part.ends_with(b".service");
    let name = rest
        .split(|&b| b == b'.')
        .next()
        .filter(|n| !n.is_empty())?;
    is_unit.then(|| SandboxedApp {
        kind: AppKind::Snap,
        id: SafeText::from_bytes(name),
    })
}

/// The innermost `.service` or `.scope` at or after `from`, with the uid of the
/// `user@UID.service` above it, if any.
fn innermost_unit(parts: &[&[u8]], from: usize) -> Option<SystemdUnit> {
    let at = (from..parts.len())
        .rev()
        .find(|&i| parts[i].ends_with(b".service") || parts[i].ends_with(b".scope"))?;
    let user = parts[..at].iter().rev().find_map(|p| user_manager(p));
    Some(SystemdUnit {
        name: SafeText::from_bytes(parts[at]),
        user,
    })
}

/// The uid of a `user@UID.service` component.
fn user_manager(part: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(part).ok()?;
    text.strip_prefix("user@")?
        .strip_suffix(".service")?
        .parse()
        .ok()
}

/// Docker, podman, containerd and CRI-O ids: 64 lowercase hex digits.
pub(super) fn is_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A Kubernetes UID: a UUID, or for static (mirror) pods the 32-hex hash of the manifest.
fn is_pod_uid(s: &str) -> bool {
    let hex = |b: u8| b.is_ascii_hexdigit();
    let uuid = s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                hex(b)
            }
        });
    uuid || (s.len() == 32 && s.bytes().all(hex))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d";
    const UID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    const UID_: &str = "0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0";

    fn container(runtime: Runtime, id: &str) -> Option<ContainerRef> {
        Some(ContainerRef {
            runtime,
            id: SafeText::new(id),
        })
    }

    fn unit(name: &str, user: Option<u32>) -> Option<SystemdUnit> {
        Some(SystemdUnit {
            name: SafeText::new(name),
            user,
        })
    }

    fn v2(path: &str) -> CgroupInfo {
        parse(format!("0::{path}\n").as_bytes())
    }

    /// (cgroup v2 path, runtime, container id) for every container form of the table in
    /// notes §1d.
    #[test]
    fn container_paths() {
        let k8s_systemd = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/cri-containerd-{ID}.scope"
        );
        let cases: Vec<(String, Runtime, &str)> = vec![
            (
                format!("/system.slice/docker-{ID}.scope"),
                Runtime::Docker,
                ID,
            ),
            (format!("/docker/{ID}"), Runtime::Docker, ID),
            (
                format!("/machine.slice/libpod-{ID}.scope"),
                Runtime::Podman,
                ID,
            ),
            (
                format!("/machine.slice/libpod-{ID}.scope/container"),
                Runtime::Podman,
                ID,
            ),
            (
                format!(
                    "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"
                ),
                Runtime::Podman,
                ID,
            ),
            (format!("/libpod_parent/libpod-{ID}"), Runtime::Podman, ID),
            (k8s_systemd, Runtime::Containerd, ID),
            (
                format!("/kubepods/besteffort/pod{UID}/{ID}"),
                Runtime::Containerd,
                ID,
            ),
            (
                format!("/kubepods.slice/kubepods-pod{UID_}.slice/crio-{ID}.scope"),
                Runtime::CriO,
                ID,
            ),
            (format!("/kubepods/pod{UID}/crio-{ID}"), Runtime::CriO, ID),
            (format!("/default/{ID}"), Runtime::Containerd, ID),
            (
                format!("/system.slice/nerdctl-{ID}.scope"),
                Runtime::Containerd,
                ID,
            ),
            ("/lxc.payload.web/init.scope".into(), Runtime::Lxc, "web"),
            ("/lxc/db".into(), Runtime::Lxc, "db"),
            (
                "/machine.slice/machine-build\\x2dbox.scope".into(),
                Runtime::Machine,
                "build-box",
            ),
            (
                "/machine.slice/systemd-nspawn@deb12.service/payload/system.slice/nginx.service"
                    .into(),
                Runtime::Machine,
                "deb12",
            ),
        ];
        for (path, runtime, id) in cases {
            let info = v2(&path);
            assert_eq!(info.container, container(runtime, id), "{path}");
            assert!(!info.conmon, "{path}");
        }
    }

    #[test]
    fn conmon_paths() {
        let cases = [
            (
                format!("/machine.slice/libpod-conmon-{ID}.scope"),
                container(Runtime::Podman, ID),
            ),
            (
                format!("/kubepods.slice/kubepods-pod{UID_}.slice/crio-conmon-{ID}.scope"),
                container(Runtime::CriO, ID),
            ),
            ("/libpod_parent/conmon".to_string(), None),
        ];
        for (path, expected) in cases {
            let info = v2(&path);
            assert!(info.conmon, "{path}");
            assert_eq!(info.container, expected, "{path}");
        }
    }

    #[test]
    fn pod_uids_come_out_with_dashes() {
        let static_pod = "5d41402abc4b2a76b9719d911017c592";
        let cases = [
            format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/cri-containerd-{ID}.scope"
            ),
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice"
            ),
            format!("/kubepods.slice/kubepods-pod{UID_}.slice/crio-{ID}.scope"),
            format!("/kubepods/burstable/pod{UID}/{ID}"),
            format!("/kubepods/pod{UID}/{ID}"),
            // kind: a node container whose systemd nests kubelet's slices.
            format!(
                "/docker/{ID}/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope"
            ),
        ];
        for path in cases {
            assert_eq!(v2(&path).pod_uid.as_deref(), Some(UID), "{path}");
        }
        let path = format!("/kubepods/besteffort/pod{static_pod}/{ID}");
        assert_eq!(v2(&path).pod_uid.as_deref(), Some(static_pod));
        // "pod" outside kubepods is just a name.
        assert_eq!(v2(&format!("/system.slice/pod{UID}")).pod_uid, None);
    }

    #[test]
    fn innermost_container_wins() {
        let other = "1111111111111111111111111111111111111111111111111111111111111111";
        let path = format!(
            "/docker/{other}/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod{UID_}.slice/cri-containerd-{ID}.scope"
        );
        assert_eq!(v2(&path).container, container(Runtime::Containerd, ID));
    }

    #[test]
    fn units() {
        let cases = [
            ("/system.slice/nginx.service", unit("nginx.service", None)),
            ("/system.slice/docker.service", unit("docker.service", None)),
            (
                "/user.slice/user-1000.slice/user@1000.service/app.slice/syncthing.service",
                unit("syncthing.service", Some(1000)),
            ),
            (
                "/user.slice/user-1000.slice/user@1000.service/init.scope",
                unit("init.scope", Some(1000)),
            ),
            (
                "/user.slice/user-1000.slice/session-3.scope",
                unit("session-3.scope", None),
            ),
            ("/init.scope", unit("init.scope", None)),
            ("/system.slice", None),
            ("/", None),
        ];
        for (path, expected) in cases {
            assert_eq!(v2(path).unit, expected, "{path}");
            assert_eq!(v2(path).container, None, "{path}");
        }
        assert!(unit("a.service", None).is_some_and(|u| u.is_service()));
        assert!(!unit("session-3.scope", None).is_some_and(|u| u.is_service()));
    }

    #[test]
    fn a_containers_own_scope_is_not_its_unit() {
        let rootless =
            format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope");
        assert_eq!(v2(&rootless).unit, None);
        assert_eq!(v2(&format!("/system.slice/docker-{ID}.scope")).unit, None);
        // A unit inside the container (systemd as the container's init) is reported.
        let inside = format!("/docker/{ID}/system.slice/nginx.service");
        assert_eq!(v2(&inside).unit, unit("nginx.service", None));
        // nspawn's supervisor is no container, but its service is its unit.
        let supervisor = "/machine.slice/systemd-nspawn@deb12.service/supervisor";
        assert_eq!(v2(supervisor).container, None);
        assert_eq!(
            v2(supervisor).unit,
            unit("systemd-nspawn@deb12.service", None)
        );
    }

    #[test]
    fn podman_pods() {
        let pod = "2222222222222222222222222222222222222222222222222222222222222222";
        let path = format!("/machine.slice/machine-libpod_pod_{pod}.slice/libpod-{ID}.scope");
        let info = v2(&path);
        assert_eq!(info.podman_pod.as_deref(), Some(pod));
        assert_eq!(info.container, container(Runtime::Podman, ID));
        let rootless = format!(
            "/user.slice/user-1000.slice/user@1000.service/user.slice/user-libpod_pod_{pod}.slice/libpod-{ID}.scope"
        );
        assert_eq!(v2(&rootless).podman_pod.as_deref(), Some(pod));
    }

    #[test]
    fn sandboxed_apps() {
        let app = |kind, id: &str| {
            Some(SandboxedApp {
                kind,
                id: SafeText::new(id),
            })
        };
        let cases = [
            (
                "/user.slice/user-1000.slice/user@1000.service/app.slice/app-flatpak-org.mozilla.firefox-12345.scope",
                app(AppKind::Flatpak, "org.mozilla.firefox"),
            ),
            (
                "/user.slice/user-1000.slice/user@1000.service/app.slice/snap.firefox.firefox-6f0b2a4c-1b2c-4d3e-8f90-a1b2c3d4e5f6.scope",
                app(AppKind::Snap, "firefox"),
            ),
            (
                "/system.slice/snap.lxd.daemon.service",
                app(AppKind::Snap, "lxd"),
            ),
            ("/system.slice/snapd.service", None),
        ];
        let flatpak = cases[0].0;
        for (path, expected) in cases {
            assert_eq!(v2(path).app, expected, "{path}");
        }
        assert_eq!(v2(flatpak).unit.map(|u| u.user), Some(Some(1000)));
    }

    #[test]
    fn v1_lines_any_of_which_may_answer() {
        let docker_v1 = format!(
            "12:devices:/docker/{ID}\n4:memory:/docker/{ID}\n1:name=systemd:/docker/{ID}\n"
        );
        assert_eq!(
            parse(docker_v1.as_bytes()).container,
            container(Runtime::Docker, ID)
        );
        let hybrid = format!(
            "1:name=systemd:/system.slice/docker-{ID}.scope\n0::/system.slice/docker-{ID}.scope\n"
        );
        assert_eq!(
            parse(hybrid.as_bytes()).container,
            container(Runtime::Docker, ID)
        );
    }

    #[test]
    fn garbage_is_nothing() {
        for input in [
            b"".as_slice(),
            b"\n\n",
            b"no colons here",
            b"0::/docker/not-hex",
            b"0::/system.slice/docker-abc.scope",
            b"0::/\xff\xfe/\x80",
        ] {
            let info = parse(input);
            assert_eq!(info.container, None);
            assert!(!info.conmon);
        }
    }

    #[test]
    fn hostile_names_are_sanitized() {
        let info = parse(b"0::/lxc.payload.a\x1b[2Jb/init.scope\n");
        let id = info.container.map(|c| c.id);
        assert_eq!(id.as_ref().map(SafeText::as_str), Some("a\\e[2Jb"));
        let info = parse(b"0::/system.slice/bad\xffname.service\n");
        let name = info.unit.map(|u| u.name);
        assert_eq!(
            name.as_ref().map(SafeText::as_str),
            Some("bad\\xffname.service")
        );
    }

    /// Captured from a real rootful podman 4.3.1 container here (tests/data/containers/).
    #[test]
    fn real_podman_cgroupfs_files() {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/containers/podman");
        let id = "175cebd5c90cb4cefda92ce5e6728b6a57a2270ea73198f4fc6bb564198007f4";
        let payload = read(Path::new(data), 10798).expect("payload cgroup");
        assert_eq!(payload.container, container(Runtime::Podman, id));
        assert!(!payload.conmon);
        let conmon = read(Path::new(data), 10788).expect("conmon cgroup");
        assert!(conmon.conmon);
        assert_eq!(conmon.container, None);
    }
}
