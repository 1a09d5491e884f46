//! What the bind verdict needs from the kernel, read in the namespace the bind is about: every
//! socket on the port in any state (TCP bound-but-not-listening ones too) with its timer and
//! bound device, the holders' socket options (pidfd_getfd + getsockopt, root only), the
//! namespace's privileged-port start and addresses; and a real bind (and listen) probe in a
//! short-lived child process.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustix::fd::{AsFd, OwnedFd};
use rustix::net::sockopt;

use super::diag::{self, RowDetail};
use super::netns;
use super::table_error;
use crate::bind::{BindAsk, Probe, Setting};
use crate::model::{Family, Proto, Socket, TableError};

/// Sockets on one port of one protocol, in the verdict's namespace.
pub struct PortRows {
    pub sockets: Vec<Socket>,
    pub details: Vec<RowDetail>,
    pub errors: Vec<TableError>,
    pub setting: Setting,
}

/// Runs `work` on a thread inside the namespace at `path` (None: ours).
fn inside<T: Send>(path: Option<&Path>, work: impl FnOnce() -> T + Send) -> io::Result<T> {
    let ns = match path {
        Some(path) => Some(OwnedFd::from(std::fs::File::open(path)?)),
        None => None,
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if let Some(ns) = &ns {
                    netns::enter(ns.as_fd())?;
                }
                Ok(work())
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the namespace thread panicked")))
    })
}

/// Every socket on `port` of `proto`, any state, in namespace `path` (None: ours), with the
/// namespace's bind settings.
pub fn port_rows(path: Option<&Path>, proto: Proto, port: u16) -> io::Result<PortRows> {
    inside(path, || {
        let mut rows = PortRows {
            sockets: Vec::new(),
            details: Vec::new(),
            errors: Vec::new(),
            setting: setting(),
        };
        let mut dumper = diag::Dumper::new();
        for family in [Family::Ipv4, Family::Ipv6] {
            let request = diag::Request::port_users(family, proto);
            match dumper.dump(request) {
                Ok(dump) => {
                    for (socket, detail) in dump.sockets.into_iter().zip(dump.details) {
                        if socket.port == port {
                            rows.sockets.push(socket);
                            rows.details.push(detail);
                        }
                    }
                }
                Err(error) => rows.errors.push(table_error(request, &error)),
            }
        }
        rows
    })
}

/// The namespace's bind settings, read on a thread inside it.
fn setting() -> Setting {
    let number =
        |path: &str| -> Option<u32> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let addresses = nix::ifaddrs::getifaddrs().ok().map(|list| {
        list.filter_map(|a| a.address)
            .filter_map(|a| {
                a.as_sockaddr_in()
                    .map(|v4| IpAddr::V4(v4.ip()))
                    .or_else(|| a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
            })
            .collect()
    });
    Setting {
        unprivileged_start: number("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .map(|n| u16::try_from(n).unwrap_or(u16::MAX)),
        addresses,
        nonlocal_bind: number("/proc/sys/net/ipv4/ip_nonlocal_bind").is_some_and(|n| n != 0)
            || number("/proc/sys/net/ipv6/ip_nonlocal_bind").is_some_and(|n| n != 0),
        ephemeral: std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|text| crate::model::PortRange::parse_pair(&text)),
        hooks: hooks(),
    }
}

/// Security modules that may refuse a bind on their own rules, by their state files.
fn hooks() -> Vec<String> {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let mut hooks = Vec::new();
    if read("/sys/fs/selinux/enforce").as_deref() == Some("1") {
        hooks.push("SELinux (enforcing: name_bind rules; see semanage port -l)".to_string());
    }
    if let Some(profile) = read("/proc/self/attr/apparmor/current")
        .filter(|p| !p.is_empty() && !p.starts_with("unconfined"))
    {
        let shown = crate::model::SafeText::new(&profile);
        hooks.push(format!("AppArmor (this process runs confined by {shown})"));
    }
    hooks
}

/// A holder's SO_REUSEADDR and SO_REUSEPORT, read from a copy of its fd (root only; the copy is
/// closed at once so the port is not pinned).
pub fn socket_options(pid: u32, fd: u32) -> Option<(bool, bool)> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
    let copy = rustix::process::pidfd_getfd(
        &pidfd,
        i32::try_from(fd).ok()?,
        rustix::process::PidfdGetfdFlags::empty(),
    )
    .ok()?;
    let reuseaddr = sockopt::socket_reuseaddr(&copy).ok()?;
    let reuseport = sockopt::socket_reuseport(&copy).unwrap_or(false);
    Some((reuseaddr, reuseport))
}

/// `net.ipv6.bindv6only`: the IPV6_V6ONLY a new IPv6 socket gets.
pub fn default_v6only() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").is_ok_and(|s| s.trim() == "1")
}

/// Whether this host has IPv6 at all (a `[::]` socket can be made).
pub fn has_ipv6() -> bool {
    Path::new("/proc/net/if_inet6").exists()
}

/// Does this process hold CAP_NET_BIND_SERVICE (bit 10 of CapEff)?
pub fn can_bind_privileged() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 10) != 0)
}

/// The hidden argument that makes portscope the probe child.
pub const PROBE_FLAG: &str = "--internal-bind-probe";

/// A real bind (and listen, for TCP) of `ask` in namespace `path`, in a child process that
/// enters the namespace, becomes `ask.uid`, binds, and closes the socket at once.
pub fn probe(ask: &BindAsk, path: Option<&Path>, gid: u32) -> Probe {
    let me = rustix::process::geteuid().as_raw();
    if path.is_some() && me != 0 {
        return Probe::NotTried("entering another namespace needs root".to_string());
    }
    if ask.uid != me && me != 0 {
        return Probe::NotTried("binding as another user needs root".to_string());
    }
    let Ok(exe) = std::env::current_exe() else {
        return Probe::NotTried("portscope cannot find its own executable".to_string());
    };
    let netns = path.map_or_else(|| "-".to_string(), |p| p.display().to_string());
    let flag = |on: bool| if on { "1" } else { "0" };
    let output = Command::new(exe)
        .args([
            PROBE_FLAG,
            &netns,
            &ask.uid.to_string(),
            &gid.to_string(),
            ask.proto.as_str(),
            &ask.addr.to_string(),
            &ask.port.to_string(),
            flag(ask.reuseaddr),
            flag(ask.reuseport),
            flag(ask.v6only),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let Ok(output) = output else {
        return Probe::NotTried("the probe could not be started".to_string());
    };
    parse_probe(&String::from_utf8_lossy(&output.stdout))
}

fn parse_probe(text: &str) -> Probe {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["ok"] => Probe::Ok,
        [step, code] => match code.parse() {
            Ok(code) => Probe::Failed(
                match *step {
                    "listen" => "listen",
                    "bind" => "bind",
                    _ => "socket",
                },
                code,
            ),
            Err(_) => Probe::NotTried(format!("the probe said {text:?}")),
        },
        _ => Probe::NotTried(format!("the probe said {:?}", text.trim())),
    }
}

/// The probe child: `--internal-bind-probe NETNS UID GID PROTO ADDR PORT REUSEADDR REUSEPORT
/// V6ONLY`. Prints `ok`, or the failed step and its errno. Runs before anything else starts a
/// thread, so entering the namespace moves the whole process.
pub fn run_probe(args: &[String]) -> u8 {
    let answer = match probe_child(args) {
        Ok(()) => "ok".to_string(),
        Err((step, errno)) => format!("{step} {errno}"),
    };
    println!("{answer}");
    0
}

fn probe_child(args: &[String]) -> Result<(), (&'static str, i32)> {
    let bad = ("args", libc_einval());
    let [
        netns,
        uid,
        gid,
        proto,
        addr,
        port,
        reuseaddr,
        reuseport,
        v6only,
    ] = args
    else {
        return Err(bad);
    };
    let uid: u32 = uid.parse().map_err(|_| bad)?;
    let gid: u32 = gid.parse().map_err(|_| bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad)?;
    let port: u16 = port.parse().map_err(|_| bad)?;
    let errno = |step: &'static str| move |e: rustix::io::Errno| (step, e.raw_os_error());
    if netns != "-" {
        let file = std::fs::File::open(PathBuf::from(netns))
            .map_err(|e| ("setns", e.raw_os_error().unwrap_or(0)))?;
        netns::enter(OwnedFd::from(file).as_fd())
            .map_err(|e| ("setns", e.raw_os_error().unwrap_or(0)))?;
    }
    let me = rustix::process::geteuid().as_raw();
    if uid != me {
        let nix_err = |e: nix::Error| ("setuid", e as i32);
        nix::unistd::setgroups(&[]).map_err(nix_err)?;
        nix::unistd::setgid(nix::unistd::Gid::from_raw(gid)).map_err(nix_err)?;
        nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).map_err(nix_err)?;
    }
    let (family, socket_addr) = match addr {
        IpAddr::V4(v4) => (
            rustix::net::AddressFamily::INET,
            rustix::net::SocketAddrAny::from(std::net::SocketAddr::new(IpAddr::V4(v4), port)),
        ),
        IpAddr::V6(v6) => (
            rustix::net::AddressFamily::INET6,
            rustix::net::SocketAddrAny::from(std::net::SocketAddr::new(IpAddr::V6(v6), port)),
        ),
    };
    let kind = match proto.as_str() {
        "udp" => rustix::net::SocketType::DGRAM,
        _ => rustix::net::SocketType::STREAM,
    };
    let socket = rustix::net::socket(family, kind, None).map_err(errno("socket"))?;
    if reuseaddr == "1" {
        sockopt::set_socket_reuseaddr(&socket, true).map_err(errno("socket"))?;
    }
    if reuseport == "1" {
        sockopt::set_socket_reuseport(&socket, true).map_err(errno("socket"))?;
    }
    if addr.is_ipv6() {
        sockopt::set_ipv6_v6only(&socket, v6only == "1").map_err(errno("socket"))?;
    }
    rustix::net::bind(&socket, &socket_addr).map_err(errno("bind"))?;
    if kind == rustix::net::SocketType::STREAM {
        rustix::net::listen(&socket, 1).map_err(errno("listen"))?;
    }
    drop(socket);
    Ok(())
}

fn libc_einval() -> i32 {
    rustix::io::Errno::INVAL.raw_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers_are_read() {
        assert_eq!(parse_probe("ok\n"), Probe::Ok);
        assert_eq!(parse_probe("bind 98\n"), Probe::Failed("bind", 98));
        assert_eq!(parse_probe("listen 98"), Probe::Failed("listen", 98));
        assert!(matches!(parse_probe(""), Probe::NotTried(_)));
    }
}
