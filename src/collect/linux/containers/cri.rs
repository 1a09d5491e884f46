//! Kubernetes and containerd: containerd's OCI bundles (`config.json` with the CRI
//! annotations, `init.pid` beside it), CRI-O's spec annotations, and kubelet's log
//! directories, which name pods and containers for any CRI runtime.

use std::net::IpAddr;

use serde::Deserialize;

use super::{ContainerInfo, Loader, OciSpec, PodRef, Published, Runtime, oci_netns_path};
use crate::collect::linux::cgroup::is_hex_id;
use crate::model::{Proto, SafeText};

/// containerd's runtime v2 task directories: `<dir>/<namespace>/<id>/`. Docker with its own
/// managed containerd uses the second one.
const TASK_DIRS: [&str; 2] = [
    "run/containerd/io.containerd.runtime.v2.task",
    "run/docker/containerd/daemon/io.containerd.runtime.v2.task",
];
const POD_LOGS: &str = "var/log/pods";
const CONTAINER_LOGS: &str = "var/log/containers";

pub(super) const CRIO_POD_NAME: &str = "io.kubernetes.pod.name";

/// What the kubelet and containerd parts found.
pub(super) struct Kubelet {
    pub containers: Vec<ContainerInfo>,
    pub pods: Vec<PodRef>,
}

pub(super) fn load(loader: &mut Loader) -> Kubelet {
    let mut containers = bundles(loader);
    let pods = pod_dirs(loader);
    containers.extend(container_logs(loader, &pods));
    Kubelet { containers, pods }
}

/// Every `<task dir>/<namespace>/<id>/config.json`.
fn bundles(loader: &mut Loader) -> Vec<ContainerInfo> {
    let mut found = Vec::new();
    for task_dir in TASK_DIRS {
        let dir = loader.path(task_dir);
        for (namespace, ns_path) in loader.dir(&dir) {
            for (id, path) in loader.dir(&ns_path) {
                if !is_hex_id(&id) {
                    continue;
                }
                let Some(spec) = loader.json::<OciSpec>(&path.join("config.json")) else {
                    continue;
                };
                let mut info = bundle_container(&namespace, &id, &spec);
                info.pid = loader.pid_file(&path.join("init.pid"));
                found.push(info);
            }
        }
    }
    found
}

/// One bundle. Docker's bundles live in namespace `moby`; CRI's in `k8s.io`.
fn bundle_container(namespace: &str, id: &str, spec: &OciSpec) -> ContainerInfo {
    let runtime = match namespace {
        "moby" => Runtime::Docker,
        _ => Runtime::Containerd,
    };
    let mut info = ContainerInfo::new(runtime, id);
    info.containerd_namespace = Some(SafeText::new(namespace));
    info.netns_path = oci_netns_path(spec);
    let annotation = |key: &str| spec.annotation(key);
    if let Some(kind) = annotation("io.kubernetes.cri.container-type") {
        info.sandbox = kind.as_str() == "sandbox";
        // A sandbox has no container name of its own; its pod names it.
        info.name = annotation("io.kubernetes.cri.container-name").filter(|_| !info.sandbox);
        info.image = annotation("io.kubernetes.cri.image-name");
        info.pod = pod(
            annotation("io.kubernetes.cri.sandbox-namespace"),
            annotation("io.kubernetes.cri.sandbox-name"),
            annotation("io.kubernetes.cri.sandbox-uid"),
        );
    } else {
        info.name = annotation("nerdctl/name");
        info.published = nerdctl_ports(spec.annotations.get("nerdctl/ports"));
    }
    info
}

fn pod(
    namespace: Option<SafeText>,
    name: Option<SafeText>,
    uid: Option<SafeText>,
) -> Option<PodRef> {
    Some(PodRef {
        namespace: namespace?,
        name: name?,
        uid,
    })
}

/// CRI-O's spec (`userdata/config.json`) of a container or a pod sandbox.
pub(super) fn crio_container(id: &str, spec: &OciSpec) -> ContainerInfo {
    let annotation = |key: &str| spec.annotation(key);
    let mut info = ContainerInfo::new(Runtime::CriO, id);
    info.sandbox =
        annotation("io.kubernetes.cri-o.ContainerType").is_some_and(|t| t.as_str() == "sandbox");
    // A sandbox's container name is "POD".
    info.name = annotation("io.kubernetes.container.name").filter(|_| !info.sandbox);
    info.image = annotation("io.kubernetes.cri-o.ImageName");
    info.netns_path = oci_netns_path(spec);
    info.pod = pod(
        annotation("io.kubernetes.pod.namespace"),
        annotation(CRIO_POD_NAME),
        annotation("io.kubernetes.pod.uid"),
    );
    info
}

/// nerdctl's `nerdctl/ports` annotation:
/// `[{"HostPort":8080,"ContainerPort":80,"Protocol":"tcp","HostIP":"0.0.0.0"}]`.
fn nerdctl_ports(raw: Option<&String>) -> Vec<Published> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Port {
        host_port: u16,
        container_port: u16,
        protocol: String,
        #[serde(rename = "HostIP")]
        host_ip: Option<String>,
    }
    let ports: Vec<Port> = raw
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    ports
        .into_iter()
        .filter_map(|p| {
            let proto = match p.protocol.as_str() {
                "tcp" => Proto::Tcp,
                "udp" => Proto::Udp,
                _ => return None,
            };
            let host_ip = p.host_ip.and_then(|ip| ip.parse::<IpAddr>().ok());
            Some(Published {
                proto,
                host_ip,
                host_port: p.host_port,
                container_port: p.container_port,
            })
        })
        .collect()
}

/// `/var/log/pods/<namespace>_<pod>_<uid>/`.
fn pod_dirs(loader: &mut Loader) -> Vec<PodRef> {
    let dir = loader.path(POD_LOGS);
    loader
        .dir(&dir)
        .into_iter()
        .filter_map(|(name, _)| {
            let [namespace, pod, uid] = three_parts(&name)?;
            Some(PodRef {
                namespace: SafeText::new(namespace),
                name: SafeText::new(pod),
                uid: Some(SafeText::new(uid)),
            })
        })
        .collect()
}

/// `/var/log/containers/<pod>_<namespace>_<container>-<id>.log` (symlinks into the pod
/// directories; only their names are read).
fn container_logs(loader: &mut Loader, pods: &[PodRef]) -> Vec<ContainerInfo> {
    let dir = loader.path(CONTAINER_LOGS);
    loader
        .dir(&dir)
        .into_iter()
        .filter_map(|(name, _)| container_log(&name, pods))
        .collect()
}

fn container_log(file_name: &str, pods: &[PodRef]) -> Option<ContainerInfo> {
    let stem = file_name.strip_suffix(".log")?;
    let (rest, id) = stem.rsplit_once('-')?;
    if !is_hex_id(id) {
        return None;
    }
    let [pod, namespace, container] = three_parts(rest)?;
    let uid = pods
        .iter()
        .find(|p| p.namespace.as_str() == namespace && p.name.as_str() == pod)
        .and_then(|p| p.uid.clone());
    let mut info = ContainerInfo::new(Runtime::Kubernetes, id);
    info.name = Some(SafeText::new(container));
    info.pod = Some(PodRef {
        namespace: SafeText::new(namespace),
        name: SafeText::new(pod),
        uid,
    });
    Some(info)
}

/// `a_b_c` with three non-empty parts.
fn three_parts(s: &str) -> Option<[&str; 3]> {
    let mut parts = s.split('_');
    let found = [parts.next()?, parts.next()?, parts.next()?];
    (parts.next().is_none() && found.iter().all(|p| !p.is_empty())).then_some(found)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::ContainerIndex;
    use super::super::tests::{A, B, TempRoot};
    use super::*;

    const UID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

    fn cri_spec(kind: &str, name: &str, netns: &str) -> String {
        format!(
            r#"{{"ociVersion":"1.1.0","process":{{"args":["/pause"]}},
  "annotations":{{"io.kubernetes.cri.container-type":"{kind}","io.kubernetes.cri.container-name":"{name}",
    "io.kubernetes.cri.image-name":"registry.k8s.io/pause:3.9","io.kubernetes.cri.sandbox-id":"{A}",
    "io.kubernetes.cri.sandbox-name":"web-7d9","io.kubernetes.cri.sandbox-namespace":"shop",
    "io.kubernetes.cri.sandbox-uid":"{UID}","io.kubernetes.cri.sandbox-log-directory":"/var/log/pods/shop_web-7d9_{UID}"}},
  "linux":{{"namespaces":[{{"type":"pid"}},{{"type":"network","path":"{netns}"}}]}}}}"#
        )
    }

    fn k8s_root() -> TempRoot {
        let root = TempRoot::new("k8s");
        let task = "run/containerd/io.containerd.runtime.v2.task/k8s.io";
        let netns = "/var/run/netns/cni-8c5b3f9e-1d2a-4b6c-9e0f-123456789abc";
        root.put(
            &format!("{task}/{A}/config.json"),
            cri_spec("sandbox", "web-7d9", netns).as_bytes(),
        );
        root.put(&format!("{task}/{A}/init.pid"), b"3100");
        // An app container shares the sandbox's namespace by /proc/<pause>/ns/net.
        root.put(
            &format!("{task}/{B}/config.json"),
            cri_spec("container", "nginx", "/proc/3100/ns/net").as_bytes(),
        );
        root.put(&format!("{task}/{B}/init.pid"), b"3200\n");
        root.put(&format!("{POD_LOGS}/shop_web-7d9_{UID}/nginx/0.log"), b"");
        root.put(&format!("{CONTAINER_LOGS}/web-7d9_shop_nginx-{B}.log"), b"");
        let c = "c".repeat(64);
        root.put(&format!("{CONTAINER_LOGS}/api-5f_shop_app-{c}.log"), b"");
        root.put(&format!("{CONTAINER_LOGS}/junk.log"), b"");
        root
    }

    #[test]
    fn containerd_cri_bundles_and_kubelet_logs() {
        let root = k8s_root();
        let index = ContainerIndex::load(&root.0);
        assert!(index.warnings().is_empty(), "{:?}", index.warnings());
        let netns = Path::new("/run/netns/cni-8c5b3f9e-1d2a-4b6c-9e0f-123456789abc");
        let sandbox = index.by_netns_path(netns).expect("the pod's sandbox");
        assert!(sandbox.sandbox);
        assert_eq!(sandbox.pid, Some(3100));
        assert_eq!(sandbox.runtime, Runtime::Containerd);
        assert_eq!(sandbox.containerd_namespace, Some(SafeText::new("k8s.io")));
        let pod = sandbox.pod.as_ref().expect("pod");
        assert_eq!(
            (pod.namespace.as_str(), pod.name.as_str()),
            ("shop", "web-7d9")
        );
        assert_eq!(pod.uid, Some(SafeText::new(UID)));

        let nginx = index.by_id(B).expect("app container");
        assert_eq!(
            nginx.runtime,
            Runtime::Containerd,
            "the bundle says which runtime"
        );
        assert_eq!(nginx.name, Some(SafeText::new("nginx")));
        assert_eq!(nginx.pid, Some(3200));
        assert_eq!(nginx.netns_path, Some(PathBuf::from("/proc/3100/ns/net")));

        // Known from the log name alone, with the pod's uid from the pod directory... or not.
        let c = "c".repeat(64);
        let app = index.by_id(&c).expect("from the log name");
        assert_eq!(app.runtime, Runtime::Kubernetes);
        assert_eq!(app.name, Some(SafeText::new("app")));
        assert_eq!(app.pod.as_ref().map(|p| p.name.as_str()), Some("api-5f"));
        assert_eq!(app.pod.as_ref().and_then(|p| p.uid.clone()), None);

        let by_uid = index.pod_by_uid(UID).expect("pod dir");
        assert_eq!(by_uid.name.as_str(), "web-7d9");
        assert_eq!(index.containers().len(), 3);
    }

    #[test]
    fn docker_and_nerdctl_bundles() {
        let root = TempRoot::new("bundles");
        let task = "run/containerd/io.containerd.runtime.v2.task";
        root.put(
            &format!("{task}/moby/{A}/config.json"),
            br#"{"ociVersion":"1.0.2"}"#,
        );
        let nerdctl = r#"{"annotations":{"nerdctl/name":"web","nerdctl/namespace":"default",
            "nerdctl/ports":"[{\"HostPort\":8080,\"ContainerPort\":80,\"Protocol\":\"tcp\",\"HostIP\":\"0.0.0.0\"}]"}}"#;
        root.put(
            &format!("{task}/default/{B}/config.json"),
            nerdctl.as_bytes(),
        );
        root.put(&format!("{task}/default/{B}/init.pid"), b"not a pid");
        let index = ContainerIndex::load(&root.0);
        assert_eq!(index.by_id(A).map(|c| c.runtime), Some(Runtime::Docker));
        let web = index.by_id(B).expect("nerdctl container");
        assert_eq!(web.name, Some(SafeText::new("web")));
        assert_eq!(web.pid, None);
        assert_eq!(
            web.published,
            vec![Published {
                proto: Proto::Tcp,
                host_ip: "0.0.0.0".parse().ok(),
                host_port: 8080,
                container_port: 80
            }]
        );
    }

    #[test]
    fn log_names() {
        let id = "e".repeat(64);
        let pods = [];
        let parsed = container_log(
            &format!("coredns-5d78c9869d-8x2lq_kube-system_coredns-{id}.log"),
            &pods,
        )
        .expect("parsed");
        let pod = parsed.pod.expect("pod");
        assert_eq!(
            (
                pod.name.as_str(),
                pod.namespace.as_str(),
                parsed.name.as_ref().map(SafeText::as_str)
            ),
            ("coredns-5d78c9869d-8x2lq", "kube-system", Some("coredns"))
        );
        for bad in [
            format!("a_b-{id}.log"),
            format!("a_b_c_d-{id}.log"),
            format!("a__c-{id}.log"),
            "a_b_c-1234.log".to_string(),
            format!("a_b_c-{id}"),
        ] {
            assert!(container_log(&bad, &pods).is_none(), "{bad}");
        }
        assert_eq!(three_parts("ns_pod_uid"), Some(["ns", "pod", "uid"]));
    }
}
