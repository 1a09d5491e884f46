//! What stops the thing behind a port: the runtime's command for a container, `kubectl` for
//! a pod, `systemctl` for a service, `flatpak kill` for an app. Never `kill` on a forwarder.

use std::fmt;

use crate::collect::linux::cgroup::{AppKind, SandboxedApp, SystemdUnit};
use crate::collect::linux::containers::{ComposeRef, ContainerInfo, PodRef, Runtime};
use crate::model::SafeText;

/// What to run to stop the thing behind a port, and why that and not `kill`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopAdvice {
    /// A command line, when one is known; built from sanitized names.
    pub command: Option<String>,
    pub note: Option<String>,
}

impl fmt::Display for StopAdvice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.command, &self.note) {
            (Some(command), Some(note)) => write!(f, "{command} ({note})"),
            (Some(command), None) => f.write_str(command),
            (None, Some(note)) => f.write_str(note),
            (None, None) => Ok(()),
        }
    }
}

/// What [`stop_container`] needs; build it from a [`ContainerInfo`] or, when only a cgroup
/// or a conmon command line is known, field by field.
#[derive(Clone, Copy, Debug)]
pub struct ContainerTarget<'a> {
    pub runtime: Runtime,
    pub id: &'a SafeText,
    pub name: Option<&'a SafeText>,
    pub pod: Option<&'a PodRef>,
    /// A cgroup's pod UID when no pod names are known.
    pub pod_uid: Option<&'a str>,
    pub containerd_namespace: Option<&'a SafeText>,
    pub compose: Option<&'a ComposeRef>,
}

impl<'a> ContainerTarget<'a> {
    pub fn new(runtime: Runtime, id: &'a SafeText) -> ContainerTarget<'a> {
        ContainerTarget {
            runtime,
            id,
            name: None,
            pod: None,
            pod_uid: None,
            containerd_namespace: None,
            compose: None,
        }
    }

    /// The name, or the 12-digit short id.
    fn handle(&self) -> String {
        match self.name {
            Some(name) => name.to_string(),
            None => self.id.as_str().chars().take(12).collect(),
        }
    }
}

impl<'a> From<&'a ContainerInfo> for ContainerTarget<'a> {
    fn from(info: &'a ContainerInfo) -> ContainerTarget<'a> {
        ContainerTarget {
            runtime: info.runtime,
            id: &info.id,
            name: info.name.as_ref(),
            pod: info.pod.as_ref(),
            pod_uid: None,
            containerd_namespace: info.containerd_namespace.as_ref(),
            compose: info.compose.as_ref(),
        }
    }
}

const KUBERNETES_NOTE: &str =
    "managed by Kubernetes: its controller may start a new pod; scale or delete that instead";

/// How to stop a container: the runtime's own command, or for a Kubernetes pod `kubectl`.
pub fn stop_container(target: &ContainerTarget) -> StopAdvice {
    if let Some(pod) = target.pod {
        return advice(
            format!("kubectl delete pod {} -n {}", pod.name, pod.namespace),
            Some(KUBERNETES_NOTE.to_string()),
        );
    }
    let kubernetes_ns = target
        .containerd_namespace
        .is_some_and(|ns| ns.as_str() == "k8s.io");
    if target.pod_uid.is_some() || kubernetes_ns || target.runtime == Runtime::Kubernetes {
        let uid = target
            .pod_uid
            .map(|u| format!(" (pod UID {u})"))
            .unwrap_or_default();
        return StopAdvice {
            command: None,
            note: Some(format!(
                "managed by Kubernetes{uid}: delete its pod with kubectl"
            )),
        };
    }
    runtime_advice(target)
}

fn runtime_advice(target: &ContainerTarget) -> StopAdvice {
    let handle = target.handle();
    match target.runtime {
        Runtime::Docker => advice(
            format!("docker stop {handle}"),
            compose_note(target.compose),
        ),
        Runtime::Podman => advice(format!("podman stop {handle}"), None),
        Runtime::Containerd => {
            let namespace = target
                .containerd_namespace
                .filter(|ns| ns.as_str() != "default")
                .map(|ns| format!("-n {ns} "))
                .unwrap_or_default();
            advice(format!("nerdctl {namespace}stop {handle}"), None)
        }
        Runtime::CriO | Runtime::Kubernetes => advice(format!("crictl stop {}", target.id), None),
        Runtime::Lxc => advice(
            format!("lxc-stop -n {handle}"),
            Some(format!("under Incus: incus stop {handle}")),
        ),
        Runtime::Machine => advice(format!("machinectl poweroff {handle}"), None),
    }
}

fn compose_note(compose: Option<&ComposeRef>) -> Option<String> {
    compose.map(|c| {
        format!(
            "compose project {}, service {}: docker compose -p {} stop {}",
            c.project, c.service, c.project, c.service
        )
    })
}

fn advice(command: String, note: Option<String>) -> StopAdvice {
    StopAdvice {
        command: Some(command),
        note,
    }
}

/// A service stops with systemctl; a scope is often a whole login session, so no advice.
pub fn stop_unit(unit: &SystemdUnit) -> Option<StopAdvice> {
    if !unit.is_service() {
        return None;
    }
    let command = match unit.user {
        Some(uid) => format!("systemctl --user -M {uid}@ stop {}", unit.name),
        None => format!("systemctl stop {}", unit.name),
    };
    Some(advice(command, None))
}

/// A flatpak app stops with `flatpak kill`; a snap app is an ordinary process.
pub fn stop_app(app: &SandboxedApp) -> Option<StopAdvice> {
    (app.kind == AppKind::Flatpak).then(|| advice(format!("flatpak kill {}", app.id), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "175cebd5c90cb4cefda92ce5e6728b6a57a2270ea73198f4fc6bb564198007f4";

    fn pod() -> PodRef {
        PodRef {
            namespace: SafeText::new("shop"),
            name: SafeText::new("web-7d9"),
            uid: None,
        }
    }

    #[test]
    fn stop_advice() {
        let id = SafeText::new(ID);
        let name = SafeText::new("web");
        let compose = ComposeRef {
            project: SafeText::new("shop"),
            service: SafeText::new("web"),
        };
        let pod = pod();
        let k8s_ns = SafeText::new("k8s.io");
        let named = |runtime| ContainerTarget {
            name: Some(&name),
            ..ContainerTarget::new(runtime, &id)
        };
        let crictl = format!("crictl stop {ID}");
        let cases: Vec<(ContainerTarget, &str)> = vec![
            (named(Runtime::Docker), "docker stop web"),
            (
                ContainerTarget {
                    compose: Some(&compose),
                    ..named(Runtime::Docker)
                },
                "docker stop web (compose project shop, service web: docker compose -p shop stop web)",
            ),
            (
                ContainerTarget::new(Runtime::Docker, &id),
                "docker stop 175cebd5c90c",
            ),
            (named(Runtime::Podman), "podman stop web"),
            (named(Runtime::Containerd), "nerdctl stop web"),
            (
                ContainerTarget {
                    pod: Some(&pod),
                    ..named(Runtime::Containerd)
                },
                "kubectl delete pod web-7d9 -n shop (managed by Kubernetes: its controller may start a new pod; scale or delete that instead)",
            ),
            (
                ContainerTarget {
                    pod_uid: Some("0f1e"),
                    ..ContainerTarget::new(Runtime::Containerd, &id)
                },
                "managed by Kubernetes (pod UID 0f1e): delete its pod with kubectl",
            ),
            (
                ContainerTarget {
                    containerd_namespace: Some(&k8s_ns),
                    ..named(Runtime::Containerd)
                },
                "managed by Kubernetes: delete its pod with kubectl",
            ),
            (named(Runtime::CriO), &crictl),
            (
                named(Runtime::Lxc),
                "lxc-stop -n web (under Incus: incus stop web)",
            ),
            (named(Runtime::Machine), "machinectl poweroff web"),
        ];
        for (target, expected) in cases {
            assert_eq!(stop_container(&target).to_string(), expected);
        }
    }

    #[test]
    fn stop_advice_for_units_and_apps() {
        let unit = |name: &str, user| SystemdUnit {
            name: SafeText::new(name),
            user,
        };
        let text = |a: Option<StopAdvice>| a.map(|a| a.to_string());
        assert_eq!(
            text(stop_unit(&unit("nginx.service", None))),
            Some("systemctl stop nginx.service".into())
        );
        assert_eq!(
            text(stop_unit(&unit("syncthing.service", Some(1000)))),
            Some("systemctl --user -M 1000@ stop syncthing.service".into())
        );
        assert_eq!(text(stop_unit(&unit("session-3.scope", None))), None);
        let app = |kind| SandboxedApp {
            kind,
            id: SafeText::new("org.mozilla.firefox"),
        };
        assert_eq!(
            text(stop_app(&app(AppKind::Flatpak))),
            Some("flatpak kill org.mozilla.firefox".into())
        );
        assert_eq!(text(stop_app(&app(AppKind::Snap))), None);
    }
}
