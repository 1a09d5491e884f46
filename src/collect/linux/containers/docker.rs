//! Docker: `/var/lib/docker/containers/<id>/config.v2.json`, which dockerd rewrites on every
//! state change. (A changed `--data-root` or rootless docker keep it elsewhere; not read.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ComposeRef, ContainerInfo, Loader, Published, Runtime, normalize_netns_path, text};
use crate::collect::linux::cgroup::is_hex_id;
use crate::model::{Proto, SafeText};

const CONTAINERS: &str = "var/lib/docker/containers";
const COMPOSE_PROJECT: &str = "com.docker.compose.project";
const COMPOSE_SERVICE: &str = "com.docker.compose.service";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigV2 {
    #[serde(rename = "ID")]
    id: String,
    name: Option<String>,
    config: Option<Config>,
    state: Option<State>,
    network_settings: Option<NetworkSettings>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Config {
    image: Option<String>,
    labels: Option<HashMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct State {
    running: Option<bool>,
    pid: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkSettings {
    sandbox_key: Option<String>,
    /// `"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]`; `null` or `[]` when only
    /// exposed.
    ports: Option<HashMap<String, Option<Vec<PortBinding>>>>,
    networks: Option<HashMap<String, Endpoint>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PortBinding {
    host_ip: Option<String>,
    host_port: Option<String>,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(rename = "IPAddress")]
    ip_address: Option<String>,
    #[serde(rename = "GlobalIPv6Address")]
    global_ipv6_address: Option<String>,
}

pub(super) fn load(loader: &mut Loader) -> Vec<ContainerInfo> {
    let dir = loader.path(CONTAINERS);
    let mut found = Vec::new();
    for (name, path) in loader.dir(&dir) {
        if !is_hex_id(&name) {
            continue;
        }
        let file = path.join("config.v2.json");
        let Some(config) = loader.json::<ConfigV2>(&file) else {
            continue;
        };
        if config.id != name {
            loader.warn(&file, "skipped, its ID is not its directory's name");
            continue;
        }
        found.push(container(config));
    }
    found
}

fn container(config: ConfigV2) -> ContainerInfo {
    let mut info = ContainerInfo::new(Runtime::Docker, &config.id);
    info.name = text(config.name.as_deref().map(|n| n.trim_start_matches('/')));
    if let Some(inner) = config.config {
        info.image = text(inner.image.as_deref());
        info.compose = inner.labels.as_ref().and_then(compose);
    }
    if let Some(state) = config.state {
        info.running = state.running;
        info.pid = state
            .pid
            .filter(|&p| p > 0)
            .and_then(|p| u32::try_from(p).ok());
    }
    if let Some(net) = config.network_settings {
        info.netns_path = net.sandbox_key.as_deref().and_then(sandbox_netns);
        info.published = net.ports.map(published).unwrap_or_default();
        info.addresses = net.networks.map(addresses).unwrap_or_default();
    }
    info
}

/// The container's own namespace. `--network host` containers all have the SandboxKey
/// `/var/run/docker/netns/default`, docker's bind mount of the *host* namespace, which must
/// not be labelled with any one of them.
fn sandbox_netns(key: &str) -> Option<PathBuf> {
    let path = normalize_netns_path(Path::new(key));
    let host = path.file_name().is_none_or(|name| name == "default");
    (!key.is_empty() && !host).then_some(path)
}

fn compose(labels: &HashMap<String, String>) -> Option<ComposeRef> {
    Some(ComposeRef {
        project: SafeText::new(labels.get(COMPOSE_PROJECT)?),
        service: SafeText::new(labels.get(COMPOSE_SERVICE)?),
    })
}

/// Every binding of every `"<port>/<proto>"` key, sorted so output is stable.
fn published(ports: HashMap<String, Option<Vec<PortBinding>>>) -> Vec<Published> {
    let mut all: Vec<Published> = ports
        .into_iter()
        .filter_map(|(key, bindings)| Some((container_port(&key)?, bindings?)))
        .flat_map(|((proto, port), bindings)| {
            bindings
                .into_iter()
                .filter_map(move |b| binding(proto, port, &b))
        })
        .collect();
    all.sort_by_key(|p| (p.host_port, p.host_ip, p.container_port, p.proto.as_str()));
    all
}

/// `"80/tcp"` → (tcp, 80). SCTP has no socket portscope shows, so it is left out.
fn container_port(key: &str) -> Option<(Proto, u16)> {
    let (port, proto) = key.split_once('/')?;
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => return None,
    };
    Some((proto, port.parse().ok()?))
}

fn binding(proto: Proto, container_port: u16, b: &PortBinding) -> Option<Published> {
    let host_port = b.host_port.as_deref()?.parse().ok()?;
    let host_ip = match b.host_ip.as_deref() {
        None | Some("") => None,
        Some(ip) => Some(ip.parse().ok()?),
    };
    Some(Published {
        proto,
        host_ip,
        host_port,
        container_port,
    })
}

fn addresses(networks: HashMap<String, Endpoint>) -> Vec<IpAddr> {
    let mut all: Vec<IpAddr> = networks
        .into_values()
        .flat_map(|e| [e.ip_address, e.global_ipv6_address])
        .flatten()
        .filter_map(|ip| ip.parse().ok())
        .collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::ContainerIndex;
    use super::super::tests::{A, B, TempRoot};
    use super::*;

    /// Shaped like a real docker 24 `config.v2.json` of a compose service (trimmed: dockerd
    /// writes some 60 more fields, which must be ignored).
    fn compose_web() -> String {
        format!(
            r#"{{"StreamConfig":{{}},"State":{{"Running":true,"Paused":false,"Pid":4242,"ExitCode":0,"StartedAt":"2024-05-01T10:00:00Z"}},
"ID":"{A}","Created":"2024-05-01T10:00:00Z","Managed":false,"Path":"/docker-entrypoint.sh","Args":["nginx","-g","daemon off;"],
"Config":{{"Hostname":"aaaaaaaaaaaa","Image":"nginx:1.25","Labels":{{"com.docker.compose.project":"shop","com.docker.compose.service":"web","maintainer":"NGINX"}}}},
"Image":"sha256:1111111111111111111111111111111111111111111111111111111111111111",
"NetworkSettings":{{"Bridge":"","SandboxID":"75c43685d9ba800c34c23be57d00da5e2bad1d389306c14ad85b9e9bce5e3872","HairpinMode":false,
"Ports":{{"80/tcp":[{{"HostIp":"0.0.0.0","HostPort":"8080"}},{{"HostIp":"::","HostPort":"8080"}}],"443/tcp":null,"53/udp":[{{"HostIp":"127.0.0.1","HostPort":"5353"}}],"9/sctp":[{{"HostIp":"","HostPort":"9"}}]}},
"SandboxKey":"/var/run/docker/netns/75c43685d9ba","SecondaryIPAddresses":null,
"Networks":{{"shop_default":{{"IPAMConfig":null,"Links":null,"Aliases":["web","aaaaaaaaaaaa"],"Gateway":"172.19.0.1","IPAddress":"172.19.0.2","IPPrefixLen":16,"GlobalIPv6Address":"","MacAddress":"02:42:ac:13:00:02"}}}}}},
"Name":"/shop-web-1","Driver":"overlay2","RestartCount":0}}"#
        )
    }

    fn stopped() -> String {
        format!(
            r#"{{"ID":"{B}","Name":"/old","State":{{"Running":false,"Pid":0}},"Config":{{"Image":"redis"}},
"NetworkSettings":{{"Ports":{{}},"SandboxKey":"","Networks":{{"bridge":{{"IPAddress":"172.17.0.5"}}}}}}}}"#
        )
    }

    fn root_with(tag: &str, files: &[(&str, String)]) -> TempRoot {
        let root = TempRoot::new(&format!("docker-{tag}"));
        for (id, json) in files {
            root.put(
                &format!("{CONTAINERS}/{id}/config.v2.json"),
                json.as_bytes(),
            );
        }
        root
    }

    #[test]
    fn a_compose_container() {
        let root = root_with("compose", &[(A, compose_web())]);
        let index = ContainerIndex::load(&root.0);
        assert!(index.warnings().is_empty(), "{:?}", index.warnings());
        let web = index.by_id(A).expect("loaded");
        assert_eq!(web.runtime, Runtime::Docker);
        assert_eq!(web.name, Some(SafeText::new("shop-web-1")));
        assert_eq!(web.image, Some(SafeText::new("nginx:1.25")));
        let compose = web.compose.as_ref().expect("compose labels");
        assert_eq!(
            (compose.project.as_str(), compose.service.as_str()),
            ("shop", "web")
        );
        assert_eq!(web.pid, Some(4242));
        assert_eq!(web.running, Some(true));
        assert_eq!(
            web.netns_path.as_deref(),
            Some(Path::new("/run/docker/netns/75c43685d9ba"))
        );
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert_eq!(
            web.published,
            vec![
                Published {
                    proto: Proto::Udp,
                    host_ip: ip("127.0.0.1"),
                    host_port: 5353,
                    container_port: 53
                },
                Published {
                    proto: Proto::Tcp,
                    host_ip: ip("0.0.0.0"),
                    host_port: 8080,
                    container_port: 80
                },
                Published {
                    proto: Proto::Tcp,
                    host_ip: ip("::"),
                    host_port: 8080,
                    container_port: 80
                },
            ]
        );
        assert_eq!(
            web.addresses,
            vec![IpAddr::V4(Ipv4Addr::new(172, 19, 0, 2))]
        );
    }

    #[test]
    fn lookups() {
        let root = root_with("lookups", &[(A, compose_web()), (B, stopped())]);
        let index = ContainerIndex::load(&root.0);
        assert_eq!(index.containers().len(), 2);
        let id_of = |c: Option<&ContainerInfo>| c.map(|c| c.id.as_str().to_string());
        let sandbox = Path::new("/var/run/docker/netns/75c43685d9ba");
        assert_eq!(id_of(index.by_netns_path(sandbox)), Some(A.into()));
        let run = Path::new("/run/docker/netns/75c43685d9ba");
        assert_eq!(id_of(index.by_netns_path(run)), Some(A.into()));
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(id_of(index.by_ip(ip("172.19.0.2"))), Some(A.into()));
        // The stopped container's old address may be someone else's now.
        assert_eq!(id_of(index.by_ip(ip("172.17.0.5"))), None);
        assert_eq!(id_of(index.by_name("shop-web-1")), Some(A.into()));
        assert_eq!(id_of(index.by_id("aaaaaaaaaaaab")), Some(A.into()));
        let published = index.by_published(Proto::Tcp, 8080);
        assert_eq!(published.len(), 2);
        assert!(index.by_published(Proto::Udp, 8080).is_empty());
        let old = index.by_id(B).expect("stopped one too");
        assert_eq!((old.pid, old.netns_path.as_ref()), (None, None));
    }

    #[test]
    fn host_network_is_nobodys_namespace() {
        let host = stopped()
            .replace(
                r#""SandboxKey":"""#,
                r#""SandboxKey":"/var/run/docker/netns/default""#,
            )
            .replace(r#""Running":false,"Pid":0"#, r#""Running":true,"Pid":77"#);
        let root = root_with("hostnet", &[(B, host)]);
        let index = ContainerIndex::load(&root.0);
        assert_eq!(index.by_id(B).and_then(|c| c.netns_path.clone()), None);
        assert!(
            index
                .by_netns_path(Path::new("/run/docker/netns/default"))
                .is_none()
        );
    }

    #[test]
    fn malformed_files_are_warnings() {
        let c = "c".repeat(64);
        let d = "d".repeat(64);
        let root = root_with(
            "malformed",
            &[
                (A, "{ not json".to_string()),
                (B, stopped()),
                (&c, compose_web()),
                (&d, r#"{"ID": 7}"#.to_string()),
                ("not-a-container-id", "{}".to_string()),
            ],
        );
        let index = ContainerIndex::load(&root.0);
        assert_eq!(index.containers().len(), 1, "only B's file is sound");
        let warnings = index.warnings();
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains(A) && warnings[0].contains("config.v2.json: skipped"));
        assert!(warnings[1].contains("its ID is not its directory's name"));
        assert!(warnings[2].contains(&d));
    }

    #[test]
    fn hostile_names_are_sanitized() {
        let json = stopped().replace("/old", "/ev\\u001bil");
        let root = root_with("hostile", &[(B, json)]);
        let index = ContainerIndex::load(&root.0);
        let name = index.by_id(B).and_then(|c| c.name.clone());
        assert_eq!(name.as_ref().map(SafeText::as_str), Some("ev\\eil"));
    }
}
