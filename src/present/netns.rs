//! The words for network namespaces and published ports, for every front end.

use super::{Role, unique_in_order};
use crate::model::{Netns, NetnsKind, Publication, Reach, Snapshot, Socket, endpoint};

/// `the host namespace`, `netns t_a`, `container web-1`, `pod default/web`, `unit x.service`,
/// `netns:[4026532178] (pid 88)`.
pub fn netns_words(netns: &Netns) -> String {
    match netns.kind {
        NetnsKind::Host => "the host namespace".to_string(),
        NetnsKind::Named => format!("netns {}", netns.name),
        NetnsKind::Container => format!("container {}", netns.name),
        // The name already says `pod ns/name`.
        NetnsKind::Pod => netns.name.to_string(),
        NetnsKind::Unit => format!("unit {}", netns.name),
        NetnsKind::Anonymous => match netns.pid {
            Some(pid) if !netns.name.as_str().contains("pid") => {
                format!("{} (pid {pid} inside)", netns.name)
            }
            _ => netns.name.to_string(),
        },
    }
}

/// The words for the namespace with this inode (`net:[N]` when the snapshot has not named it).
pub fn netns_words_of(snapshot: &Snapshot, inode: u64) -> String {
    match snapshot.namespaces.get(&inode) {
        Some(netns) => netns_words(netns),
        None => format!("net:[{inode}]"),
    }
}

/// One line of facts: kind, container runtime and image, inode, id, how it was found.
pub fn netns_facts(netns: &Netns) -> String {
    let mut parts: Vec<String> = vec![kind_name(netns.kind).to_string()];
    if let Some(container) = &netns.container {
        parts.push(container.runtime.to_string());
        if let Some(image) = &container.image {
            parts.push(format!("image {image}"));
        }
        parts.push(format!(
            "id {}",
            container.id.as_str().chars().take(12).collect::<String>()
        ));
    }
    parts.push(format!("net:[{}]", netns.inode));
    if let Some(pid) = netns.pid {
        parts.push(format!("pid {pid} inside"));
    }
    if let Some(path) = netns.paths.first() {
        parts.push(path.to_string());
    }
    parts.join(", ")
}

pub fn kind_name(kind: NetnsKind) -> &'static str {
    match kind {
        NetnsKind::Host => "host",
        NetnsKind::Named => "named",
        NetnsKind::Container => "container",
        NetnsKind::Pod => "pod",
        NetnsKind::Unit => "unit",
        NetnsKind::Anonymous => "anonymous",
    }
}

/// Where a published port leads, as one line and a role:
/// `published by docker-proxy → container web-1 172.17.0.2:80 → nginx (pid 4242)`.
pub fn publication_line(snapshot: &Snapshot, publication: &Publication) -> (String, Role) {
    let named = publication
        .target_netns
        .and_then(|ns| snapshot.namespaces.get(&ns));
    let into = match (named, &publication.container) {
        // The namespace's own name says best what it is (`container web-1`, `netns t_a`).
        (Some(netns), _) => netns_words(netns),
        (None, Some(name)) => format!("container {name}"),
        (None, None) => "a container".to_string(),
    };
    let target = publication
        .target
        .map(|(ip, port)| format!(" {}", endpoint(&ip, port)))
        .unwrap_or_default();
    let head = format!("published by {} → {into}{target}", publication.forwarder);
    let inside: Vec<&Socket> = publication
        .inside
        .iter()
        .filter_map(|&key| snapshot.socket_at(key))
        .collect();
    match publication.reach {
        Reach::Listening => {
            let holders = inside_holders(snapshot, &inside);
            let tail = match holders.is_empty() {
                true => String::new(),
                false => format!(" → {}", holders.join(", ")),
            };
            (format!("{head}{tail}"), Role::Plain)
        }
        Reach::NothingListens => (
            format!("{head}, but nothing listens there inside: connections will fail"),
            Role::Warn,
        ),
        Reach::LoopbackOnly => {
            let on: Vec<String> = unique_in_order(inside.iter().map(|s| s.local_endpoint()));
            (
                format!(
                    "{head}, but inside it listens only on {}, so forwarded traffic is refused",
                    on.join(", ")
                ),
                Role::Warn,
            )
        }
        Reach::Unknown if publication.target_netns.is_some() => {
            let holders = inside_holders(snapshot, &inside);
            let on: Vec<String> = unique_in_order(inside.iter().map(|s| s.local_endpoint()));
            let words = match on.is_empty() {
                true => format!("{head}; nothing listens inside at all"),
                false => format!(
                    "{head} (the port inside is not recorded; inside it listens on {} → {})",
                    on.join(", "),
                    holders.join(", ")
                ),
            };
            (words, Role::Dim)
        }
        Reach::Unknown if snapshot.namespaces.len() <= 1 => (
            format!("{head} (not followed: its namespace was not looked at; see --netns all)"),
            Role::Dim,
        ),
        Reach::Unknown => (format!("{head} (where it leads is unknown)"), Role::Dim),
    }
}

/// `nginx (pid 4242)` for each holder of the sockets inside.
fn inside_holders(snapshot: &Snapshot, inside: &[&Socket]) -> Vec<String> {
    let mut words = Vec::new();
    for socket in inside {
        for process in snapshot.holders_lead_first(socket) {
            let word = format!("{} (pid {})", process.name, process.pid);
            if !words.contains(&word) {
                words.push(word);
            }
        }
    }
    words
}

/// The command that stops what is behind a published port, as advice.
pub fn publication_stop(publication: &Publication) -> Option<String> {
    publication
        .stop
        .as_ref()
        .map(|command| format!("stop it with: {command}"))
}
