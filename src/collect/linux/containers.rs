//! Containers named from the runtimes' own state files, without any daemon, socket or CLI:
//! docker's `config.v2.json`, podman's and CRI-O's `containers/storage`, containerd's OCI
//! bundles and kubelet's log directories. (conmon's command line, the other podman source, is
//! read by [`super::forwarders::conmon_args`].) Everything is read below a `root` prefix (normally
//! `/`), so tests build a tree of state files in a temporary directory.
//!
//! Missing directories mean "this runtime is not here" and are silent; unreadable or malformed
//! files are skipped with a warning, never a panic.
//!
//! Text: every free-form string (names, images, labels, pod names, warnings) is [`SafeText`]
//! or already sanitized, so callers may print it as it is. Ids are docker/OCI hex ids.

// wired in by the namespace collector (issue 11)
#![allow(dead_code)]

mod cri;
mod docker;
mod podman;

use std::collections::HashMap;
use std::fmt::Display;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::model::{Proto, SafeText};

/// Who runs a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtime {
    Docker,
    Podman,
    /// containerd: Kubernetes through CRI (namespace `k8s.io`), nerdctl, ctr.
    Containerd,
    CriO,
    /// A Kubernetes container known only from kubelet's log directories, which do not say
    /// which CRI runtime (containerd or CRI-O) runs it.
    Kubernetes,
    /// LXC or Incus.
    Lxc,
    /// A systemd-machined machine: systemd-nspawn, or a libvirt guest.
    Machine,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Kubernetes => "kubernetes",
            Runtime::Lxc => "lxc",
            Runtime::Machine => "machine",
        }
    }
}

/// A Kubernetes pod. Namespace and pod names cannot contain `_` (DNS-1123), which is what
/// makes kubelet's `<ns>_<pod>_<uid>` directory names parseable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: SafeText,
    pub name: SafeText,
    pub uid: Option<SafeText>,
}

/// `docker compose` labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposeRef {
    pub project: SafeText,
    pub service: SafeText,
}

/// One published port: `host_ip:host_port` on the host leads to `container_port` inside.
/// `host_ip` is `None` when the runtime wrote no address (all addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    pub proto: Proto,
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    pub runtime: Runtime,
    /// The full id (64 hex digits for every runtime read here).
    pub id: SafeText,
    pub name: Option<SafeText>,
    pub image: Option<SafeText>,
    pub compose: Option<ComposeRef>,
    pub pod: Option<PodRef>,
    /// The pod's sandbox ("pause") container, which owns the pod's network namespace.
    pub sandbox: bool,
    /// containerd namespace (`k8s.io`, `moby`, nerdctl's `default`).
    pub containerd_namespace: Option<SafeText>,
    /// The network namespace bind mount, `/var/run/` written as `/run/` (see [`normalize_netns_path`]).
    pub netns_path: Option<PathBuf>,
    /// As recorded by the runtime: may be stale, so check it before use.
    pub pid: Option<u32>,
    /// `None` when the state files do not say.
    pub running: Option<bool>,
    pub published: Vec<Published>,
    pub addresses: Vec<IpAddr>,
}

impl ContainerInfo {
    fn new(runtime: Runtime, id: &str) -> ContainerInfo {
        ContainerInfo {
            runtime,
            id: SafeText::new(id),
            name: None,
            image: None,
            compose: None,
            pod: None,
            sandbox: false,
            containerd_namespace: None,
            netns_path: None,
            pid: None,
            running: None,
            published: Vec::new(),
            addresses: Vec::new(),
        }
    }

    /// The first 12 hex digits, as `docker ps` shows them.
    pub fn short_id(&self) -> &str {
        let id = self.id.as_str();
        id.get(..12).unwrap_or(id)
    }

    /// The name, or the short id when there is none.
    pub fn label(&self) -> SafeText {
        self.name
            .clone()
            .unwrap_or_else(|| SafeText::new(self.short_id()))
    }

    /// Two sources describe one container: keep what is known, fill in the rest.
    fn absorb(&mut self, other: ContainerInfo) {
        if self.runtime == Runtime::Kubernetes {
            self.runtime = other.runtime;
        }
        fill(&mut self.name, other.name);
        fill(&mut self.image, other.image);
        fill(&mut self.compose, other.compose);
        fill(&mut self.pod, other.pod);
        fill(&mut self.containerd_namespace, other.containerd_namespace);
        fill(&mut self.netns_path, other.netns_path);
        fill(&mut self.pid, other.pid);
        fill(&mut self.running, other.running);
        self.sandbox |= other.sandbox;
        if self.published.is_empty() {
            self.published = other.published;
        }
        if self.addresses.is_empty() {
            self.addresses = other.addresses;
        }
    }
}

fn fill<T>(slot: &mut Option<T>, other: Option<T>) {
    if slot.is_none() {
        *slot = other;
    }
}

/// Every container whose state files could be read, with lookups by id, network namespace
/// path, address, name and published port.
#[derive(Debug, Default)]
pub struct ContainerIndex {
    containers: Vec<ContainerInfo>,
    by_id: HashMap<String, usize>,
    pods: Vec<PodRef>,
    warnings: Vec<String>,
}

impl ContainerIndex {
    /// Reads every runtime's state below `root`. Never fails: what cannot be read becomes a
    /// warning.
    pub fn load(root: &Path) -> ContainerIndex {
        let mut loader = Loader::new(root);
        let mut index = ContainerIndex::default();
        for info in docker::load(&mut loader) {
            index.add(info);
        }
        for info in podman::load(&mut loader) {
            index.add(info);
        }
        let kubelet = cri::load(&mut loader);
        for info in kubelet.containers {
            index.add(info);
        }
        index.pods = kubelet.pods;
        index.warnings = loader.warnings;
        index
    }

    fn add(&mut self, info: ContainerInfo) {
        match self.by_id.get(info.id.as_str()) {
            Some(&at) => self.containers[at].absorb(info),
            None => {
                self.by_id
                    .insert(info.id.as_str().to_string(), self.containers.len());
                self.containers.push(info);
            }
        }
    }

    pub fn containers(&self) -> &[ContainerInfo] {
        &self.containers
    }

    /// Sanitized, one line each: files that exist but could not be read or parsed.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// By full id, or by a prefix of at least 12 digits that only one container has.
    pub fn by_id(&self, id: &str) -> Option<&ContainerInfo> {
        if let Some(&at) = self.by_id.get(id) {
            return Some(&self.containers[at]);
        }
        if id.len() < 12 {
            return None;
        }
        let mut matches = self
            .containers
            .iter()
            .filter(|c| c.id.as_str().starts_with(id));
        let first = matches.next()?;
        matches.next().is_none().then_some(first)
    }

    /// The containers whose network namespace is the bind mount at `path`, the pod's sandbox
    /// first (containers of one pod share it).
    pub fn in_netns(&self, path: &Path) -> Vec<&ContainerInfo> {
        let path = normalize_netns_path(path);
        let mut found: Vec<&ContainerInfo> = self
            .containers
            .iter()
            .filter(|c| c.netns_path.as_deref() == Some(path.as_path()))
            .collect();
        found.sort_by_key(|c| !c.sandbox);
        found
    }

    /// The container (the sandbox, for a pod) whose namespace is the bind mount at `path`.
    pub fn by_netns_path(&self, path: &Path) -> Option<&ContainerInfo> {
        self.in_netns(path).into_iter().next()
    }

    /// The container that has `ip`, among those not known to be stopped (a stopped
    /// container's address may belong to another one by now).
    pub fn by_ip(&self, ip: IpAddr) -> Option<&ContainerInfo> {
        self.containers
            .iter()
            .filter(|c| c.running != Some(false))
            .find(|c| c.addresses.contains(&ip))
    }

    /// By name as the runtime shows it (already sanitized; docker's without the `/`).
    pub fn by_name(&self, name: &str) -> Option<&ContainerInfo> {
        self.containers
            .iter()
            .find(|c| c.name.as_ref().is_some_and(|n| n.as_str() == name))
    }

    /// Who publishes `proto` port `host_port`: the answer when dockerd itself holds a host
    /// port (userland-proxy off) and no proxy's command line says where it leads.
    pub fn by_published(&self, proto: Proto, host_port: u16) -> Vec<(&ContainerInfo, Published)> {
        self.containers
            .iter()
            .filter(|c| c.running != Some(false))
            .flat_map(|c| c.published.iter().map(move |p| (c, *p)))
            .filter(|(_, p)| p.proto == proto && p.host_port == host_port)
            .collect()
    }

    /// A pod from kubelet's `/var/log/pods/<ns>_<pod>_<uid>` directories, for a cgroup's pod
    /// UID.
    pub fn pod_by_uid(&self, uid: &str) -> Option<&PodRef> {
        self.pods
            .iter()
            .find(|p| p.uid.as_ref().is_some_and(|u| u.as_str() == uid))
    }
}

/// `/var/run` is a symlink to `/run` on every current distribution; docker writes SandboxKey
/// as `/var/run/docker/netns/…` while mountinfo shows `/run/docker/netns/…`.
pub fn normalize_netns_path(path: &Path) -> PathBuf {
    match path.strip_prefix("/var/run") {
        Ok(rest) => Path::new("/run").join(rest),
        Err(_) => path.to_path_buf(),
    }
}

/// Reads files below the root and turns every failure but "not there" into a warning.
struct Loader<'a> {
    root: &'a Path,
    warnings: Vec<String>,
}

impl<'a> Loader<'a> {
    fn new(root: &'a Path) -> Loader<'a> {
        Loader {
            root,
            warnings: Vec::new(),
        }
    }

    /// `rel` is relative to the root (no leading `/`).
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The entries of a directory as (file name, path); nothing when it does not exist.
    fn dir(&mut self, dir: &Path) -> Vec<(String, PathBuf)> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.io_warning(dir, &e);
                return Vec::new();
            }
        };
        let mut found: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
            .collect();
        found.sort();
        found
    }

    /// A file's bytes; `None` (and a warning unless it does not exist) when unreadable.
    fn read(&mut self, path: &Path) -> Option<Vec<u8>> {
        match fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.io_warning(path, &e);
                None
            }
        }
    }

    /// A JSON file with only the fields `T` names; a warning when it does not parse.
    fn json<T: DeserializeOwned>(&mut self, path: &Path) -> Option<T> {
        let bytes = self.read(path)?;
        match serde_json::from_slice(&bytes) {
            Ok(value) => Some(value),
            Err(e) => {
                self.warn(path, format_args!("skipped, not the JSON expected ({e})"));
                None
            }
        }
    }

    /// A pid file: one decimal number.
    fn pid_file(&mut self, path: &Path) -> Option<u32> {
        let bytes = self.read(path)?;
        std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
    }

    fn io_warning(&mut self, path: &Path, error: &io::Error) {
        if error.kind() != io::ErrorKind::NotFound {
            self.warn(path, format_args!("cannot read it: {error}"));
        }
    }

    fn warn(&mut self, path: &Path, what: impl Display) {
        let line = format!("{}: {what}", path.display());
        self.warnings.push(SafeText::new(&line).to_string());
    }
}

/// A text field that is present and not empty.
fn text(value: Option<&str>) -> Option<SafeText> {
    value.filter(|v| !v.is_empty()).map(SafeText::new)
}

/// The network namespace path of an OCI runtime spec's `linux.namespaces`.
fn oci_netns_path(spec: &OciSpec) -> Option<PathBuf> {
    let linux = spec.linux.as_ref()?;
    let network = linux.namespaces.iter().find(|ns| ns.kind == "network")?;
    let path = network.path.as_deref().filter(|p| !p.is_empty())?;
    Some(normalize_netns_path(Path::new(path)))
}

/// The fields of an OCI runtime spec (`config.json`) that name a container.
#[derive(Debug, Default, serde::Deserialize)]
struct OciSpec {
    #[serde(default)]
    annotations: HashMap<String, String>,
    linux: Option<OciLinux>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct OciLinux {
    #[serde(default)]
    namespaces: Vec<OciNamespace>,
}

#[derive(Debug, serde::Deserialize)]
struct OciNamespace {
    #[serde(rename = "type")]
    kind: String,
    path: Option<String>,
}

impl OciSpec {
    fn annotation(&self, key: &str) -> Option<SafeText> {
        text(self.annotations.get(key).map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const A: &str = "aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeeeffff";
    pub(super) const B: &str = "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000000";

    #[test]
    fn var_run_is_run() {
        assert_eq!(
            normalize_netns_path(Path::new("/var/run/docker/netns/75c43685d9ba")),
            PathBuf::from("/run/docker/netns/75c43685d9ba")
        );
        assert_eq!(
            normalize_netns_path(Path::new("/run/netns/cni-1")),
            PathBuf::from("/run/netns/cni-1")
        );
    }

    #[test]
    fn ids_by_full_id_or_unique_prefix() {
        let mut index = ContainerIndex::default();
        index.add(ContainerInfo::new(Runtime::Docker, A));
        index.add(ContainerInfo::new(Runtime::Docker, B));
        assert_eq!(index.by_id(A).map(|c| c.id.as_str()), Some(A));
        assert_eq!(index.by_id(&A[..13]).map(|c| c.id.as_str()), Some(A));
        // 12 digits both share: ambiguous, so nothing.
        assert!(index.by_id(&A[..12]).is_none());
        assert!(index.by_id("aaaa").is_none());
        assert!(index.by_id("").is_none());
    }

    #[test]
    fn two_sources_of_one_container_merge() {
        let mut index = ContainerIndex::default();
        let mut from_logs = ContainerInfo::new(Runtime::Kubernetes, A);
        from_logs.name = Some(SafeText::new("web"));
        let mut from_bundle = ContainerInfo::new(Runtime::Containerd, A);
        from_bundle.name = Some(SafeText::new("other"));
        from_bundle.pid = Some(42);
        index.add(from_logs);
        index.add(from_bundle);
        assert_eq!(index.containers().len(), 1);
        let merged = &index.containers()[0];
        assert_eq!(merged.runtime, Runtime::Containerd);
        assert_eq!(merged.name, Some(SafeText::new("web")));
        assert_eq!(merged.pid, Some(42));
    }

    #[test]
    fn nothing_there_is_an_empty_index_without_warnings() {
        let root = TempRoot::new("empty");
        let index = ContainerIndex::load(&root.0);
        assert!(index.containers().is_empty());
        assert!(index.warnings().is_empty(), "{:?}", index.warnings());
    }

    /// A fresh directory in the temp dir, removed on drop.
    pub(super) struct TempRoot(pub PathBuf);

    impl TempRoot {
        pub(super) fn new(tag: &str) -> TempRoot {
            let dir = std::env::temp_dir()
                .join(format!("portscope-containers-{}-{tag}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create temp dir");
            TempRoot(dir)
        }

        /// Writes `contents` at `rel` below the root, creating directories.
        pub(super) fn put(&self, rel: &str, contents: &[u8]) {
            let path = self.0.join(rel);
            fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir -p");
            fs::write(path, contents).expect("write state file");
        }
    }

    impl Drop for TempRoot {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}
