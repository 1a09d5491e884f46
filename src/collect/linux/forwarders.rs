//! Processes that hold a port for a container rather than for themselves: docker-proxy,
//! dockerd, conmon, rootlessport, rootlesskit, pasta, slirp4netns, containerd shims and
//! kube-proxy. Recognised from the process name and command line (raw bytes), and read for
//! where the port leads. Killing any of them is never the answer, so this module also says
//! what does stop the thing behind a port: [`stop::stop_container`], [`stop::stop_unit`],
//! [`stop::stop_app`].
//!
//! Recognition is by name, which any process can take: use it to explain, never to decide
//! that something is safe to signal.
//!
//! Text: names and ids are [`SafeText`]; advice is built from them, so it is safe to print.

// wired in by the namespace collector (issue 11)
#![allow(dead_code)]

mod args;
mod pasta;
pub mod stop;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::cgroup::is_hex_id;
use super::containers::Runtime;
use crate::model::{Proto, SafeText};
use args::{Args, Style, Valued, parse_str};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwarderKind {
    DockerProxy,
    Dockerd,
    Conmon,
    Rootlessport,
    Rootlesskit,
    Pasta,
    Slirp4netns,
    ContainerdShim,
    KubeProxy,
}

impl ForwarderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ForwarderKind::DockerProxy => "docker-proxy",
            ForwarderKind::Dockerd => "dockerd",
            ForwarderKind::Conmon => "conmon",
            ForwarderKind::Rootlessport => "rootlessport",
            ForwarderKind::Rootlesskit => "rootlesskit",
            ForwarderKind::Pasta => "pasta",
            ForwarderKind::Slirp4netns => "slirp4netns",
            ForwarderKind::ContainerdShim => "containerd-shim",
            ForwarderKind::KubeProxy => "kube-proxy",
        }
    }

    /// What it does, for the sentence that says why it holds the port.
    pub fn role(self) -> &'static str {
        match self {
            ForwarderKind::DockerProxy => "forwards a published port of a docker container",
            ForwarderKind::Dockerd => "holds the published ports of docker's containers",
            ForwarderKind::Conmon => "monitors a podman or CRI-O container and holds its ports",
            ForwarderKind::Rootlessport => {
                "forwards a published port of a rootless podman container"
            }
            ForwarderKind::Rootlesskit => "forwards ports into rootless docker's namespace",
            ForwarderKind::Pasta => "forwards ports into a rootless container's namespace",
            ForwarderKind::Slirp4netns => "gives a rootless container its network",
            ForwarderKind::ContainerdShim => "runs a container for containerd",
            ForwarderKind::KubeProxy => "implements Kubernetes services",
        }
    }

    /// The process names (basename of argv[0], or the 15-byte comm) of each kind.
    fn from_program(name: &[u8]) -> Option<ForwarderKind> {
        let kind = match name {
            b"docker-proxy" => ForwarderKind::DockerProxy,
            b"dockerd" => ForwarderKind::Dockerd,
            b"conmon" => ForwarderKind::Conmon,
            b"rootlessport" => ForwarderKind::Rootlessport,
            b"rootlesskit" => ForwarderKind::Rootlesskit,
            // Debian's pasta re-executes itself as pasta.avx2 where the CPU has it.
            b"pasta" | b"pasta.avx2" => ForwarderKind::Pasta,
            b"slirp4netns" => ForwarderKind::Slirp4netns,
            b"kube-proxy" => ForwarderKind::KubeProxy,
            // containerd-shim, -runc-v2, -runsc-v1, …; comm cuts them to "containerd-shim".
            n if n.starts_with(b"containerd-shim") => ForwarderKind::ContainerdShim,
            _ => return None,
        };
        Some(kind)
    }
}

/// Host ports `host_first..=host_last` (on `host_addr`, or every address) lead to
/// `target_first..` inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortMap {
    pub proto: Proto,
    pub host_addr: Option<IpAddr>,
    pub host_first: u16,
    pub host_last: u16,
    pub target_first: u16,
}

impl PortMap {
    /// The port inside that `host_port` leads to.
    pub fn target_of(&self, proto: Proto, host_port: u16) -> Option<u16> {
        let inside = proto == self.proto && (self.host_first..=self.host_last).contains(&host_port);
        inside.then(|| self.target_first.wrapping_add(host_port - self.host_first))
    }
}

/// Which network namespace a user-mode network stack serves, as its command line says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetnsHint {
    Pid(u32),
    Path(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarder {
    pub kind: ForwarderKind,
    /// docker-proxy's `-container-ip:-container-port`.
    pub target: Option<SocketAddr>,
    /// docker-proxy's one mapping; pasta's `-t`/`-u` mappings.
    pub ports: Vec<PortMap>,
    /// conmon's `-c`, a shim's `-id`.
    pub container_id: Option<SafeText>,
    /// conmon's `-n`.
    pub container_name: Option<SafeText>,
    /// A shim's `-namespace` (`moby` is docker, `k8s.io` Kubernetes).
    pub containerd_namespace: Option<SafeText>,
    /// pasta's `--netns`/PID, slirp4netns's PID or path.
    pub netns: Option<NetnsHint>,
}

impl Forwarder {
    fn of(kind: ForwarderKind) -> Forwarder {
        Forwarder {
            kind,
            target: None,
            ports: Vec::new(),
            container_id: None,
            container_name: None,
            containerd_namespace: None,
            netns: None,
        }
    }

    /// The runtime whose container is behind it, where the kind or its arguments say.
    pub fn runtime(&self) -> Option<Runtime> {
        match self.kind {
            ForwarderKind::DockerProxy | ForwarderKind::Dockerd | ForwarderKind::Rootlesskit => {
                Some(Runtime::Docker)
            }
            ForwarderKind::Rootlessport => Some(Runtime::Podman),
            // CRI-O names its containers k8s_<container>_<pod>_<namespace>_<uid>_<attempt>.
            ForwarderKind::Conmon => match &self.container_name {
                Some(name) if name.as_str().starts_with("k8s_") => Some(Runtime::CriO),
                _ => Some(Runtime::Podman),
            },
            ForwarderKind::ContainerdShim => match self.containerd_namespace.as_ref()?.as_str() {
                "moby" => Some(Runtime::Docker),
                _ => Some(Runtime::Containerd),
            },
            ForwarderKind::KubeProxy | ForwarderKind::Pasta | ForwarderKind::Slirp4netns => None,
        }
    }

    /// The port inside that host port `port` leads to, when the command line says.
    pub fn target_port(&self, proto: Proto, port: u16) -> Option<u16> {
        self.ports.iter().find_map(|m| m.target_of(proto, port))
    }
}

/// Recognises a forwarder from its comm (`/proc/PID/comm`, without the newline) and argv
/// (`/proc/PID/cmdline` split at NUL). argv[0]'s basename is preferred: comm is cut at 15
/// bytes and a process may rename its threads.
pub fn recognise<A: AsRef<[u8]>>(comm: &[u8], argv: &[A]) -> Option<Forwarder> {
    let program = argv.first().map(|a| basename(a.as_ref()));
    let kind = program
        .and_then(ForwarderKind::from_program)
        .or_else(|| ForwarderKind::from_program(comm))?;
    let args = argv.get(1..).unwrap_or_default();
    Some(match kind {
        ForwarderKind::DockerProxy => docker_proxy(args),
        ForwarderKind::Conmon => conmon(args),
        ForwarderKind::ContainerdShim => shim(args),
        ForwarderKind::Pasta => pasta::pasta(args),
        ForwarderKind::Slirp4netns => pasta::slirp4netns(args),
        other => Forwarder::of(other),
    })
}

fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

fn proto_named(name: &[u8]) -> Option<Proto> {
    match name {
        b"tcp" | b"tcp4" | b"tcp6" => Some(Proto::Tcp),
        b"udp" | b"udp4" | b"udp6" => Some(Proto::Udp),
        _ => None,
    }
}

/// `docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2
/// -container-port 80 [-use-listen-fd]`.
fn docker_proxy<A: AsRef<[u8]>>(args: &[A]) -> Forwarder {
    let args = Args::parse(args, Style::Go, Valued::AllBut(&["use-listen-fd"]));
    let mut forwarder = Forwarder::of(ForwarderKind::DockerProxy);
    let container_ip = args.value(&["container-ip"]).and_then(parse_str::<IpAddr>);
    let container_port = args.value(&["container-port"]).and_then(parse_str::<u16>);
    if let (Some(ip), Some(port)) = (container_ip, container_port) {
        forwarder.target = Some(SocketAddr::new(ip, port));
    }
    // Go's flag default is "tcp".
    let proto = proto_named(args.value(&["proto"]).unwrap_or(b"tcp"));
    let host_port = args.value(&["host-port"]).and_then(parse_str::<u16>);
    if let (Some(proto), Some(host), Some(target)) = (proto, host_port, container_port) {
        forwarder.ports.push(PortMap {
            proto,
            host_addr: args.value(&["host-ip"]).and_then(parse_str::<IpAddr>),
            host_first: host,
            host_last: host,
            target_first: target,
        });
    }
    forwarder
}

/// What conmon's command line says about its container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConmonArgs {
    pub id: SafeText,
    pub name: Option<SafeText>,
}

/// conmon's flags; every other option takes a value (`conmon --help`, 2.1.6), so an
/// `--exit-command-arg -n` can never pass for the name.
const CONMON_FLAGS: &[&str] = &[
    "e",
    "exec",
    "exec-attach",
    "full-attach",
    "h",
    "help",
    "i",
    "stdin",
    "leave-stdin-open",
    "no-new-keyring",
    "no-pivot",
    "no-sync-log",
    "replace-listen-pid",
    "s",
    "systemd-cgroup",
    "sync",
    "syslog",
    "t",
    "terminal",
    "version",
];

/// `conmon … -c <id> … -n <name> …` (argv without the program). Readable by every user in
/// `/proc/PID/cmdline`, unlike podman's state files.
pub fn conmon_args<A: AsRef<[u8]>>(args: &[A]) -> Option<ConmonArgs> {
    let args = Args::parse(args, Style::Getopt, Valued::AllBut(CONMON_FLAGS));
    let id = std::str::from_utf8(args.value(&["c", "cid"])?).ok()?;
    is_hex_id(id).then(|| ConmonArgs {
        id: SafeText::new(id),
        name: args
            .value(&["n", "name"])
            .filter(|n| !n.is_empty())
            .map(SafeText::from_bytes),
    })
}

fn conmon<A: AsRef<[u8]>>(args: &[A]) -> Forwarder {
    let mut forwarder = Forwarder::of(ForwarderKind::Conmon);
    if let Some(found) = conmon_args(args) {
        forwarder.container_id = Some(found.id);
        forwarder.container_name = found.name;
    }
    forwarder
}

/// `containerd-shim-runc-v2 -namespace moby -id <id> -address …`; the v1 shim has no `-id`
/// but `-workdir …/<namespace>/<id>`.
fn shim<A: AsRef<[u8]>>(args: &[A]) -> Forwarder {
    let args = Args::parse(
        args,
        Style::Go,
        Valued::AllBut(&["debug", "v", "systemd-cgroup"]),
    );
    let mut forwarder = Forwarder::of(ForwarderKind::ContainerdShim);
    let workdir_id = args.value(&["workdir"]).map(basename);
    forwarder.container_id = args
        .value(&["id"])
        .or(workdir_id)
        .filter(|id| !id.is_empty())
        .map(SafeText::from_bytes);
    forwarder.containerd_namespace = args.value(&["namespace"]).map(SafeText::from_bytes);
    forwarder
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "175cebd5c90cb4cefda92ce5e6728b6a57a2270ea73198f4fc6bb564198007f4";

    fn argv(line: &str) -> Vec<Vec<u8>> {
        line.split(' ').map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn docker_proxy_both_flag_spellings() {
        let expected_target: Option<SocketAddr> = "172.17.0.2:80".parse().ok();
        for line in [
            "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80",
            "/usr/sbin/docker-proxy --proto=tcp --host-ip=0.0.0.0 --host-port=8080 --container-ip=172.17.0.2 --container-port=80",
            "docker-proxy -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80 -use-listen-fd",
            "docker-proxy -use-listen-fd -proto=tcp -host-ip=0.0.0.0 --host-port 8080 -container-ip 172.17.0.2 -container-port=80",
        ] {
            let found = recognise(b"docker-proxy", &argv(line)).expect(line);
            assert_eq!(found.kind, ForwarderKind::DockerProxy);
            assert_eq!(found.target, expected_target, "{line}");
            assert_eq!(found.target_port(Proto::Tcp, 8080), Some(80), "{line}");
            assert_eq!(found.ports[0].host_addr, "0.0.0.0".parse().ok());
            assert_eq!(found.runtime(), Some(Runtime::Docker));
        }
        let udp = argv(
            "docker-proxy -proto udp -host-ip :: -host-port 53 -container-ip fd00::2 -container-port 5353",
        );
        let found = recognise(b"docker-proxy", &udp).expect("udp");
        assert_eq!(found.target_port(Proto::Udp, 53), Some(5353));
        assert_eq!(found.target_port(Proto::Tcp, 53), None);
        assert_eq!(found.target, "[fd00::2]:5353".parse().ok());
    }

    /// The real argv of Debian's docker-proxy 20.10, run by tests/support/published_port.py.
    #[test]
    fn real_docker_proxy_argv() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/containers/docker-proxy-argv.json"
        );
        let text = std::fs::read_to_string(path).expect("captured argv");
        let argv: Vec<String> = serde_json::from_str(&text).expect("a JSON array");
        let found = recognise(b"docker-proxy", &argv).expect("docker-proxy");
        assert_eq!(found.target, "172.31.250.2:80".parse().ok());
        assert_eq!(found.target_port(Proto::Tcp, 8080), Some(80));
    }

    /// The real argv of conmon for a podman 4.3.1 container here (tests/data/containers/).
    #[test]
    fn real_conmon_argv() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/containers/podman/conmon-argv.json"
        );
        let text = std::fs::read_to_string(path).expect("captured argv");
        let argv: Vec<String> = serde_json::from_str(&text).expect("a JSON array");
        let found = recognise(b"conmon", &argv).expect("conmon");
        assert_eq!(found.kind, ForwarderKind::Conmon);
        assert_eq!(found.container_id, Some(SafeText::new(ID)));
        assert_eq!(found.container_name, Some(SafeText::new("ps-names-web")));
        assert_eq!(found.runtime(), Some(Runtime::Podman));
    }

    #[test]
    fn conmon_spellings_and_traps() {
        let name =
            |line: &str| conmon_args(&argv(line)[1..]).map(|c| c.name.map(|n| n.to_string()));
        assert_eq!(
            name(&format!("conmon --cid={ID} --name=web")),
            Some(Some("web".into()))
        );
        assert_eq!(
            name(&format!("conmon -s -c {ID} -t -n web")),
            Some(Some("web".into()))
        );
        // An exit-command argument that looks like -n is a value, not the name.
        assert_eq!(
            name(&format!(
                "conmon -c {ID} --exit-command-arg -n --exit-command-arg evil"
            )),
            Some(None)
        );
        assert_eq!(name("conmon -c not-hex -n web"), None);
        assert_eq!(name("conmon -n web"), None);
        let crio = recognise(
            b"conmon",
            &argv(&format!(
                "/usr/bin/conmon -c {ID} -n k8s_nginx_web-7d9_shop_0f1e_0"
            )),
        )
        .expect("conmon");
        assert_eq!(crio.runtime(), Some(Runtime::CriO));
    }

    #[test]
    fn shims() {
        let v2 = argv(&format!(
            "/usr/bin/containerd-shim-runc-v2 -namespace moby -id {ID} -address /run/containerd/containerd.sock"
        ));
        let found = recognise(b"containerd-shim", &v2).expect("shim");
        assert_eq!(found.kind, ForwarderKind::ContainerdShim);
        assert_eq!(found.container_id, Some(SafeText::new(ID)));
        assert_eq!(found.runtime(), Some(Runtime::Docker));
        let v1 = argv(&format!(
            "containerd-shim -namespace k8s.io -workdir /var/lib/containerd/io.containerd.runtime.v1.linux/k8s.io/{ID} -address /run/containerd/containerd.sock -debug"
        ));
        let found = recognise(b"containerd-shim", &v1).expect("v1 shim");
        assert_eq!(found.container_id, Some(SafeText::new(ID)));
        assert_eq!(found.runtime(), Some(Runtime::Containerd));
    }

    #[test]
    fn names_and_non_forwarders() {
        let kinds = [
            ("/usr/bin/dockerd -H fd://", ForwarderKind::Dockerd),
            (
                "/usr/libexec/podman/rootlessport",
                ForwarderKind::Rootlessport,
            ),
            (
                "rootlesskit --net=slirp4netns --port-driver=builtin dockerd-rootless.sh",
                ForwarderKind::Rootlesskit,
            ),
            (
                "kube-proxy --config=/var/lib/kube-proxy/config.conf",
                ForwarderKind::KubeProxy,
            ),
        ];
        for (line, kind) in kinds {
            assert_eq!(
                recognise(b"x", &argv(line)).map(|f| f.kind),
                Some(kind),
                "{line}"
            );
        }
        // argv[0] rewritten (or empty): comm still says what it is.
        let empty: [&[u8]; 0] = [];
        assert_eq!(
            recognise(b"docker-proxy", &empty).map(|f| f.kind),
            Some(ForwarderKind::DockerProxy)
        );
        assert!(recognise(b"nginx", &argv("nginx -g daemon")).is_none());
        assert!(recognise(b"python3", &argv("/usr/bin/python3 docker-proxy")).is_none());
    }

    #[test]
    fn hostile_arguments_are_sanitized() {
        let args: Vec<&[u8]> = vec![
            b"conmon",
            b"-c",
            ID.as_bytes(),
            b"-n",
            b"web\x1b]0;pwned\x07",
        ];
        let found = recognise(b"conmon", &args).expect("conmon");
        assert_eq!(
            found.container_name.as_ref().map(SafeText::as_str),
            Some("web\\e]0;pwned\\x07")
        );
    }
}
