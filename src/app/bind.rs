//! The bind verdict of a port query: for each asked port (and protocol) nothing listens on, or
//! for `--bind`, what a bind would meet, what the kernel's rules predict, and what a real bind
//! probe says.

use super::BindFlags;
use crate::bind::BindReport;
use crate::collect::Collector;
use crate::filter::Filter;
#[cfg(target_os = "linux")]
use crate::model::Proto;
use crate::model::Snapshot;
use crate::query::Answer;

/// The protocols to ask a bind about for one answer.
#[cfg(target_os = "linux")]
fn protocols(
    answer: &Answer<'_>,
    filter: &Filter,
    flags: Option<&BindFlags>,
    here: u64,
) -> Vec<Proto> {
    let asked = answer.protocols(filter.selection);
    match flags {
        // An explicit bind is TCP unless UDP alone was asked.
        Some(_) => match asked.as_slice() {
            [Proto::Udp] => vec![Proto::Udp],
            _ => vec![Proto::Tcp],
        },
        // Otherwise, when nothing listens on the port here, every asked protocol: "free" must
        // mean a bind would succeed. (A port held over TCP is in use; what a UDP bind would do
        // there is not the question.)
        None => {
            let held_here = answer
                .sockets
                .iter()
                .any(|s| s.netns == here && s.is_listener());
            match held_here {
                true => Vec::new(),
                false => asked,
            }
        }
    }
}

/// One list of bind reports per answer, in the order asked.
#[cfg(target_os = "linux")]
pub fn reports(
    collector: &mut Collector,
    snapshot: &Snapshot,
    answers: &[Answer<'_>],
    filter: &Filter,
    flags: Option<&BindFlags>,
) -> Vec<Vec<BindReport>> {
    use crate::bind::BindAsk;
    use crate::collect::bindinfo;
    let here = snapshot.verdict_netns();
    let me = rustix::process::geteuid().as_raw();
    let my_gid = rustix::process::getegid().as_raw();
    answers
        .iter()
        .map(|answer| {
            if !answer.spec.is_single() {
                return Vec::new();
            }
            let port = answer.spec.low;
            protocols(answer, filter, flags, here)
                .into_iter()
                .filter_map(|proto| {
                    let (uid, gid, user) = match flags.and_then(|f| f.user.as_ref()) {
                        Some((name, uid, gid)) => (*uid, *gid, Some(name.clone())),
                        None => (me, my_gid, None),
                    };
                    // The wildcard of the asked families: `[::]` covers both unless -4 or -6.
                    let selection = filter.selection;
                    let v6 = bindinfo::has_ipv6() && selection.ipv6;
                    let only_v6 = v6 && !selection.ipv4;
                    let addr = flags.and_then(|f| f.addr).unwrap_or(match v6 {
                        true => std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                        false => std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                    });
                    let ask = BindAsk {
                        proto,
                        addr,
                        port,
                        reuseaddr: flags.is_some_and(|f| f.reuseaddr),
                        reuseport: flags.is_some_and(|f| f.reuseport),
                        v6only: flags.is_some_and(|f| f.v6only)
                            || (flags.is_none() && only_v6)
                            || bindinfo::default_v6only(),
                        uid,
                        privileged: uid == 0 || (user.is_none() && bindinfo::can_bind_privileged()),
                    };
                    let context = collector.bind_context(proto, port).ok()?;
                    Some(report(ask, user, gid, context))
                })
                .collect()
        })
        .collect()
}

/// The kernel's rules on what the bind would meet, confirmed by a real bind in a child.
#[cfg(target_os = "linux")]
fn report(
    ask: crate::bind::BindAsk,
    user: Option<String>,
    gid: u32,
    context: crate::collect::BindContext,
) -> BindReport {
    use crate::collect::bindinfo;
    let prediction = crate::bind::predict(&ask, &context.existing, &context.setting);
    let probe = bindinfo::probe(&ask, context.netns_path.as_deref(), gid);
    BindReport {
        ask,
        user,
        existing: context.existing,
        prediction,
        probe,
        setting: context.setting,
        snapshot: context.snapshot,
        errors: context.errors.iter().map(|e| e.message.clone()).collect(),
    }
}

/// What a plain bind of `proto`/`port` on the wildcard (`[::]`, dual-stack where IPv6 is up),
/// as this user, would meet in the namespace at `netns` (None: ours): the live view's details.
#[cfg(target_os = "linux")]
pub fn wildcard_report(
    collector: &mut Collector,
    netns: Option<std::path::PathBuf>,
    proto: Proto,
    port: u16,
) -> Option<BindReport> {
    use crate::collect::bindinfo;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    let addr = match bindinfo::has_ipv6() {
        true => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        false => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let ask = crate::bind::BindAsk {
        proto,
        addr,
        port,
        reuseaddr: false,
        reuseport: false,
        v6only: bindinfo::default_v6only(),
        uid,
        privileged: uid == 0 || bindinfo::can_bind_privileged(),
    };
    let context = collector.bind_context_in(netns, proto, port).ok()?;
    Some(report(ask, None, gid, context))
}

/// Elsewhere there is no bind verdict yet.
#[cfg(not(target_os = "linux"))]
pub fn wildcard_report(
    _collector: &mut Collector,
    _netns: Option<std::path::PathBuf>,
    _proto: crate::model::Proto,
    _port: u16,
) -> Option<BindReport> {
    None
}

/// Elsewhere there is no bind verdict yet: the answers stand as they are.
#[cfg(not(target_os = "linux"))]
pub fn reports(
    _collector: &mut Collector,
    _snapshot: &Snapshot,
    answers: &[Answer<'_>],
    _filter: &Filter,
    _flags: Option<&BindFlags>,
) -> Vec<Vec<BindReport>> {
    answers.iter().map(|_| Vec::new()).collect()
}
