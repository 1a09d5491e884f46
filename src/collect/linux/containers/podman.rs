//! containers/storage, shared by podman and CRI-O (rootful paths; rootless podman keeps its
//! own under `~/.local/share/containers`, not read here).
//!
//! Observed with podman 4.3.1 here:
//! * `/var/lib/containers/storage/overlay-containers/containers.json`: every container, with
//!   `names` and a `metadata` *string* of JSON holding `image-name`;
//! * `…/overlay-containers/<id>/userdata/config.json` (graph root): the OCI spec, with the
//!   network namespace path and `io.container.manager=libpod`;
//! * `/run/containers/storage/overlay-containers/<id>/userdata/pidfile` (run root): the pid.
//!
//! CRI-O keeps its spec in the run root's `userdata/config.json`. Podman's spec also carries
//! `io.kubernetes.cri-o.*` annotations (`Created`, `TTY`), so only the pod annotations say
//! CRI-O.

use std::path::Path;

use serde::Deserialize;

use super::{ContainerInfo, Loader, OciSpec, Runtime, cri, oci_netns_path, text};
use crate::collect::linux::cgroup::is_hex_id;

const GRAPH_ROOT: &str = "var/lib/containers/storage/overlay-containers";
const RUN_ROOT: &str = "run/containers/storage/overlay-containers";

#[derive(Deserialize)]
struct StorageEntry {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    metadata: Option<String>,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(rename = "image-name")]
    image_name: Option<String>,
    name: Option<String>,
    /// Only CRI-O's entries have it.
    #[serde(rename = "pod-name")]
    pod_name: Option<String>,
}

pub(super) fn load(loader: &mut Loader) -> Vec<ContainerInfo> {
    let mut found = storage_entries(loader);
    for root in [GRAPH_ROOT, RUN_ROOT] {
        let dir = loader.path(root);
        for (id, path) in loader.dir(&dir) {
            if is_hex_id(&id)
                && let Some(info) = from_spec(loader, &id, &path, root == GRAPH_ROOT)
            {
                found.push(info);
            }
        }
    }
    found
}

/// The entries of `containers.json`.
fn storage_entries(loader: &mut Loader) -> Vec<ContainerInfo> {
    let file = loader.path(GRAPH_ROOT).join("containers.json");
    let Some(entries) = loader.json::<Vec<StorageEntry>>(&file) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.into_iter().filter(|e| is_hex_id(&e.id)) {
        let metadata = metadata(loader, &file, entry.metadata.as_deref());
        found.push(storage_container(entry, metadata));
    }
    found
}

/// `metadata` is JSON inside a JSON string.
fn metadata(loader: &mut Loader, file: &Path, raw: Option<&str>) -> Metadata {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Metadata::default();
    };
    serde_json::from_str(raw).unwrap_or_else(|e| {
        loader.warn(file, format_args!("an entry's metadata is not JSON ({e})"));
        Metadata::default()
    })
}

fn storage_container(entry: StorageEntry, metadata: Metadata) -> ContainerInfo {
    // CRI-O's storage names are k8s_<container>_<pod>_…; its spec names it properly.
    let runtime = match metadata.pod_name {
        Some(_) => Runtime::CriO,
        None => Runtime::Podman,
    };
    let mut info = ContainerInfo::new(runtime, &entry.id);
    if runtime == Runtime::Podman {
        let first = entry.names.first().map(String::as_str);
        info.name = text(first).or_else(|| text(metadata.name.as_deref()));
    }
    info.image = text(metadata.image_name.as_deref());
    info
}

/// A container's `userdata/config.json` (podman's in the graph root, CRI-O's in the run root)
/// and its `pidfile`, which both keep in the run root. A spec in the run root that is
/// neither CRI-O's nor libpod's is someone else's (buildah, skopeo) and skipped.
fn from_spec(loader: &mut Loader, id: &str, dir: &Path, graph_root: bool) -> Option<ContainerInfo> {
    let spec: OciSpec = loader.json(&dir.join("userdata/config.json"))?;
    let pid_path = loader.path(RUN_ROOT).join(id).join("userdata/pidfile");
    let mut info = if spec.annotations.contains_key(cri::CRIO_POD_NAME) {
        cri::crio_container(id, &spec)
    } else if graph_root
        || spec
            .annotation("io.container.manager")
            .is_some_and(|m| m.as_str() == "libpod")
    {
        let mut info = ContainerInfo::new(Runtime::Podman, id);
        info.netns_path = oci_netns_path(&spec);
        info
    } else {
        return None;
    };
    info.pid = loader.pid_file(&pid_path);
    Some(info)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::ContainerIndex;
    use super::super::tests::{A, B, TempRoot};
    use super::*;
    use crate::model::SafeText;

    /// Captured from a real rootful podman 4.3.1 container here (see tests/data/containers/).
    #[test]
    fn real_podman_state() {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/containers/podman");
        let index = ContainerIndex::load(Path::new(data));
        assert!(index.warnings().is_empty(), "{:?}", index.warnings());
        let id = "175cebd5c90cb4cefda92ce5e6728b6a57a2270ea73198f4fc6bb564198007f4";
        let web = index.by_id(&id[..12]).expect("the captured container");
        assert_eq!(web.runtime, Runtime::Podman);
        assert_eq!(web.name, Some(SafeText::new("ps-names-web")));
        assert_eq!(web.image, Some(SafeText::new("localhost/psbb:1")));
        assert_eq!(web.pid, Some(10798));
        let netns = PathBuf::from("/run/netns/netns-68f3d3c8-7ea7-60d0-3f54-4ee93785a49d");
        assert_eq!(web.netns_path.as_ref(), Some(&netns));
        assert_eq!(
            index.by_netns_path(&netns).map(|c| c.short_id()),
            Some(&id[..12])
        );
        assert_eq!(
            index.by_name("ps-names-web").map(|c| c.pid),
            Some(Some(10798))
        );
    }

    #[test]
    fn crio_in_the_same_storage() {
        let root = TempRoot::new("crio-storage");
        let crio_meta = r#"{\"pod-name\":\"web-7d9\",\"pod-id\":\"x\",\"image-name\":\"docker.io/library/nginx:1.25\",\"name\":\"k8s_nginx_web-7d9_shop_0\"}"#;
        let json = format!(
            r#"[{{"id":"{A}","names":["k8s_nginx_web-7d9_shop_0"],"metadata":"{crio_meta}"}},
                {{"id":"{B}","names":["db"],"metadata":"{{\"image-name\":\"docker.io/library/postgres:16\"}}"}},
                {{"id":"short","names":["x"]}}]"#
        );
        root.put(&format!("{GRAPH_ROOT}/containers.json"), json.as_bytes());
        let spec = r#"{"annotations":{"io.kubernetes.pod.name":"web-7d9","io.kubernetes.pod.namespace":"shop",
                "io.kubernetes.pod.uid":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0","io.kubernetes.container.name":"nginx",
                "io.kubernetes.cri-o.ContainerType":"container","io.kubernetes.cri-o.Created":"2024-05-01T10:00:00Z"},
              "linux":{"namespaces":[{"type":"network","path":"/var/run/netns/7b2a"}]}}"#;
        root.put(
            &format!("{RUN_ROOT}/{A}/userdata/config.json"),
            spec.as_bytes(),
        );
        root.put(&format!("{RUN_ROOT}/{A}/userdata/pidfile"), b"777\n");
        let index = ContainerIndex::load(&root.0);
        assert!(index.warnings().is_empty(), "{:?}", index.warnings());
        let nginx = index.by_id(A).expect("CRI-O container");
        assert_eq!(nginx.runtime, Runtime::CriO);
        assert_eq!(nginx.name, Some(SafeText::new("nginx")));
        assert_eq!(
            nginx
                .pod
                .as_ref()
                .map(|p| (p.namespace.as_str(), p.name.as_str())),
            Some(("shop", "web-7d9"))
        );
        assert_eq!(
            nginx.image,
            Some(SafeText::new("docker.io/library/nginx:1.25"))
        );
        assert_eq!(nginx.pid, Some(777));
        assert_eq!(nginx.netns_path, Some(PathBuf::from("/run/netns/7b2a")));
        let db = index.by_id(B).expect("podman container");
        assert_eq!(
            (db.runtime, db.name.clone()),
            (Runtime::Podman, Some(SafeText::new("db")))
        );
        assert_eq!(index.containers().len(), 2);
    }

    #[test]
    fn broken_storage_is_a_warning() {
        let root = TempRoot::new("podman-broken");
        let json = format!(r#"[{{"id":"{A}","names":["a"],"metadata":"{{oops"}}]"#);
        root.put(&format!("{GRAPH_ROOT}/containers.json"), json.as_bytes());
        root.put(&format!("{GRAPH_ROOT}/{B}/userdata/config.json"), b"[1,2]");
        let index = ContainerIndex::load(&root.0);
        assert_eq!(index.containers().len(), 1, "A is still named from `names`");
        assert_eq!(index.warnings().len(), 2, "{:?}", index.warnings());
    }
}
