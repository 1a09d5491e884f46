//! The human answer to `portscope 3000`: the sockets on the port, then one block per holding
//! process with the sockets it holds, what a filter left out, and what else is on the port.

use std::io::{self, Write};

use super::Paint;
use crate::bind::{BindReport, Outcome};
use crate::filter::HolderFilter;
use crate::model::{NetnsKind, Owner, Process, Selection, Snapshot, Socket, endpoint};
use crate::present::bind as bind_words;
use crate::present::{
    Role, age, count, exposure_label, exposure_role, netns_facts, netns_words, netns_words_of, pad,
    process_user, publication_line, publication_stop, rfc3339, socket_uid_words, unique_in_order,
};
use crate::query::{self, Answer, Holding, Place, Verdict};
use unicode_width::UnicodeWidthStr;

fn text_width(text: &str) -> usize {
    text.width()
}

/// What a query was asked, for the words of the answer.
pub struct Asked<'a> {
    pub selection: Selection,
    pub holders: &'a HolderFilter,
}

pub fn write_answers(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    answers: &[Answer<'_>],
    binds: &[Vec<BindReport>],
    asked: &Asked<'_>,
    paint: Paint,
) -> io::Result<()> {
    for (i, answer) in answers.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let reports = binds.get(i).map_or(&[][..], Vec::as_slice);
        let held = answer.verdict() == Verdict::Held;
        if snapshot.namespaces.len() > 1 {
            write_places(out, snapshot, answer, reports, asked, paint)?;
        } else if reports.is_empty() || held {
            write_answer(out, snapshot, answer, asked, paint)?;
            write_binds(out, reports, "", paint)?;
        } else {
            write_unheld(out, snapshot, answer, reports, asked, paint)?;
        }
    }
    Ok(())
}

/// A port nothing listens on (in the namespace the verdict is about): the bind verdict is the
/// answer. In use when a bind fails with EADDRINUSE; otherwise free, with the reason a bind
/// would still be refused, if any.
fn write_unheld(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    answer: &Answer<'_>,
    reports: &[BindReport],
    asked: &Asked<'_>,
    paint: Paint,
) -> io::Result<()> {
    let what = paint.paint(Role::Strong, &port_words(snapshot, answer));
    let in_use = reports.iter().any(|r| r.outcome() == Outcome::InUse);
    let protocols: Vec<String> = answer
        .protocols(asked.selection)
        .iter()
        .map(|p| p.as_str().to_uppercase())
        .collect();
    let head = match in_use {
        true => format!(
            "{what}: in use: no {} listener, but a bind fails",
            protocols.join(" or ")
        ),
        false => format!(
            "{what}: {} (no {} listener){}",
            paint.paint(Role::Free, "free"),
            protocols.join(" or "),
            match refused(reports) {
                true => ", but this bind is refused",
                false => "",
            }
        ),
    };
    writeln!(out, "{head}")?;
    write_binds(out, reports, "", paint)?;
    write_not_asked(out, snapshot, answer, paint)
}

/// A bind was asked about and is refused for a reason other than EADDRINUSE (EACCES,
/// EADDRNOTAVAIL, …) or could not be told: the port is not in use, but "would succeed" would
/// be wrong.
fn refused(reports: &[BindReport]) -> bool {
    reports
        .iter()
        .any(|r| !matches!(r.outcome(), Outcome::Ok | Outcome::InUse))
}

/// Each asked bind: the verdict, then what stands in its way (indented by `indent` more).
fn write_binds(
    out: &mut dyn Write,
    reports: &[BindReport],
    indent: &str,
    paint: Paint,
) -> io::Result<()> {
    for report in reports {
        let (line, role) = bind_words::outcome_line(report);
        writeln!(out, "{indent}  {}", paint.paint(role, &line))?;
        for (blocker, existing) in report.blockers() {
            let line = bind_words::blocker_line(report, blocker, existing);
            writeln!(out, "{indent}    {line}")?;
        }
        if let Some(line) = bind_words::disagreement(report) {
            writeln!(out, "{indent}    {}", paint.paint(Role::Warn, &line))?;
        }
        for hook in &report.setting.hooks {
            let line = format!("may also be refused by {hook}");
            writeln!(out, "{indent}    {}", paint.paint(Role::Dim, &line))?;
        }
        for error in &report.errors {
            writeln!(out, "{indent}    {}", paint.paint(Role::Error, error))?;
        }
    }
    Ok(())
}

fn write_answer(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    answer: &Answer<'_>,
    asked: &Asked<'_>,
    paint: Paint,
) -> io::Result<()> {
    if snapshot.namespaces.len() > 1 {
        return write_places(out, snapshot, answer, &[], asked, paint);
    }
    let what = port_words(snapshot, answer);
    match answer.verdict() {
        Verdict::Held => write_held(out, snapshot, answer, asked, paint)?,
        Verdict::UsedByConnections => {
            let states = unique_in_order(answer.others.iter().map(|o| o.state.as_str()));
            writeln!(
                out,
                "{}: in use: no listener, but {} {} it as a local port ({}; see --all), so a bind would fail",
                paint.paint(Role::Strong, &what),
                count(answer.others.len(), "socket", "sockets"),
                if answer.others.len() == 1 {
                    "uses"
                } else {
                    "use"
                },
                states.join(", ")
            )?;
        }
        Verdict::Free => {
            let free = paint.paint(Role::Free, "free");
            let protocols: Vec<String> = answer
                .protocols(asked.selection)
                .iter()
                .map(|p| p.as_str().to_uppercase())
                .collect();
            writeln!(
                out,
                "{what}: {free} (no {} listener)",
                protocols.join(" or ")
            )?;
        }
        Verdict::Unknown => {
            let line = format!("{what}: unknown: a socket table it needs could not be read");
            writeln!(out, "{}", paint.paint(Role::Error, &line))?;
        }
    }
    write_not_asked(out, snapshot, answer, paint)
}

/// Free namespaces beyond this many are counted, not named.
const FREE_NAMED: usize = 4;

/// The answer of a snapshot that spans namespaces: one line per namespace (those that use the
/// port, the host's, and a count of the other free ones), then the details of each that uses it.
fn write_places(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    answer: &Answer<'_>,
    reports: &[BindReport],
    asked: &Asked<'_>,
    paint: Paint,
) -> io::Result<()> {
    let places = answer.places(snapshot);
    let what = paint.paint(Role::Strong, &port_words(snapshot, answer));
    // The namespace the bind verdict is about: a bind refused there makes it in use there.
    let here = snapshot.verdict_netns();
    let bind_in_use = reports.iter().any(|r| r.outcome() == Outcome::InUse);
    let in_use_at = |p: &Place<'_>| p.verdict().in_use() || (bind_in_use && p.netns == here);
    let using = places.iter().filter(|p| in_use_at(p)).count();
    let of = format!(
        "{} of {}",
        using,
        count(places.len(), "network namespace", "network namespaces")
    );
    let head = match answer.verdict() {
        Verdict::Held | Verdict::UsedByConnections => format!("{what}: in use in {of}"),
        Verdict::Free if bind_in_use => format!("{what}: in use in {of}"),
        Verdict::Free => format!(
            "{what}: {} in all {} network namespaces (no {} listener)",
            paint.paint(Role::Free, "free"),
            places.len(),
            answer
                .protocols(asked.selection)
                .iter()
                .map(|p| p.as_str().to_uppercase())
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        Verdict::Unknown => paint.paint(
            Role::Error,
            &format!(
                "{}: unknown: a socket table it needs could not be read",
                port_words(snapshot, answer)
            ),
        ),
    };
    writeln!(out, "{head}")?;
    let line_of = |p: &Place<'_>| {
        let mut line = place_line(snapshot, p);
        if p.netns == here && !p.verdict().in_use() && !reports.is_empty() {
            let (words, role) = match (bind_in_use, refused(reports)) {
                (true, _) => ("in use: no listener, but a bind fails", Role::Warn),
                (false, true) => ("free, but this bind is refused", Role::Warn),
                (false, false) => ("free (a bind here would succeed)", Role::Free),
            };
            line.1 = words.to_string();
            line.2 = role;
        }
        (p.netns, line)
    };
    let named: Vec<(u64, (String, String, Role))> = places
        .iter()
        .filter(|p| in_use_at(p) || p.verdict() != Verdict::Free || p.netns == here)
        .map(line_of)
        .collect();
    let mut free_others: Vec<&Place<'_>> = places
        .iter()
        .filter(|p| !in_use_at(p) && p.verdict() == Verdict::Free && p.netns != here)
        .collect();
    let mut lines = named;
    if free_others.len() <= FREE_NAMED {
        lines.extend(free_others.drain(..).map(line_of));
    }
    if !free_others.is_empty() {
        lines.push((
            u64::MAX,
            (
                format!(
                    "{} other {}",
                    free_others.len(),
                    if free_others.len() == 1 {
                        "namespace"
                    } else {
                        "namespaces"
                    }
                ),
                "free".to_string(),
                Role::Free,
            ),
        ));
    }
    if answer.verdict() != Verdict::Free || !reports.is_empty() {
        let width = lines.iter().map(|l| text_width(&l.1.0)).max().unwrap_or(0);
        for (netns, (place, state, role)) in &lines {
            writeln!(
                out,
                "  {}  {}",
                pad(place, width),
                paint.paint(*role, state)
            )?;
            if *netns == here {
                write_binds(out, reports, "  ", paint)?;
            }
        }
    }
    for place in places.iter().filter(|p| !p.sockets.is_empty()) {
        writeln!(out)?;
        let netns = snapshot.namespaces.get(&place.netns);
        let title = netns_words_of(snapshot, place.netns);
        let facts = netns
            .map(|n| format!("  ({})", netns_facts(n)))
            .unwrap_or_default();
        writeln!(
            out,
            "{}{}",
            paint.paint(Role::Strong, &format!("In {title}:")),
            paint.paint(Role::Dim, &facts)
        )?;
        write_held_body(out, snapshot, &place.sockets, asked, paint)?;
    }
    Ok(())
}

/// (namespace, what it says of the port, role) for the per-namespace lines.
fn place_line(snapshot: &Snapshot, place: &Place<'_>) -> (String, String, Role) {
    let name = netns_words_of(snapshot, place.netns);
    let (state, role) = match place.verdict() {
        Verdict::Held => {
            let holders: Vec<&Process> = query::holders(snapshot, &place.sockets)
                .into_iter()
                .map(|h| h.process)
                .collect();
            let names = holder_names(&holders);
            let hidden = place.sockets.iter().any(|s| s.owner.pids().is_empty());
            let words = match (names.is_empty(), hidden) {
                (true, _) => "held (owner hidden)".to_string(),
                (false, false) => format!("held by {}", names.join(", ")),
                (false, true) => format!("held by {} and hidden owners", names.join(", ")),
            };
            (words, Role::Plain)
        }
        Verdict::UsedByConnections => {
            let states = unique_in_order(place.others.iter().map(|o| o.state.as_str()));
            (
                format!(
                    "in use: no listener, but {} ({}) so a bind would fail",
                    count(place.others.len(), "socket uses it", "sockets use it"),
                    states.join(", ")
                ),
                Role::Warn,
            )
        }
        Verdict::Free => ("free".to_string(), Role::Free),
        Verdict::Unknown => (
            "unknown: a socket table it needs could not be read".to_string(),
            Role::Error,
        ),
    };
    (name, state, role)
}

/// `Port 3000`, and where when the one namespace looked at is not the host's
/// (`Port 3000 in netns t_a`).
fn port_words(snapshot: &Snapshot, answer: &Answer<'_>) -> String {
    let spec = answer.spec;
    let mut words = match spec.is_single() {
        true => format!("Port {spec}"),
        false => format!("Ports {spec}"),
    };
    if snapshot.namespaces.len() == 1
        && let Some(netns) = snapshot.namespaces.values().next()
        && netns.kind != NetnsKind::Host
    {
        words.push_str(&format!(" in {}", netns_words(netns)));
    }
    words
}

fn write_held(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    answer: &Answer<'_>,
    asked: &Asked<'_>,
    paint: Paint,
) -> io::Result<()> {
    let holdings = query::holders(snapshot, &answer.sockets);
    let (shown, left_out) = query::split_holders(holdings, asked.holders);
    let mut head = format!(
        "{}: in use ({}",
        paint.paint(Role::Strong, &port_words(snapshot, answer)),
        count(answer.sockets.len(), "socket", "sockets")
    );
    let processes = shown.len() + left_out.len();
    if processes > 0 {
        head.push_str(&format!(", {}", count(processes, "process", "processes")));
    }
    writeln!(out, "{head})")?;
    write_held_body(out, snapshot, &answer.sockets, asked, paint)
}

/// The sockets, then each holder with what it holds, then the holders a filter left out.
fn write_held_body(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    sockets: &[&Socket],
    asked: &Asked<'_>,
    paint: Paint,
) -> io::Result<()> {
    let holdings = query::holders(snapshot, sockets);
    let (shown, left_out) = query::split_holders(holdings, asked.holders);
    for socket in sockets {
        write_socket(out, snapshot, socket, paint)?;
    }
    let several = sockets.len() > 1;
    for holding in &shown {
        write_process(out, snapshot, holding, several, paint)?;
    }
    write_left_out(out, &left_out, shown.is_empty(), asked, paint)
}

fn write_socket(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    socket: &Socket,
    paint: Paint,
) -> io::Result<()> {
    let exposure = socket.exposure();
    let mut line = format!(
        "  {} {} {}  {}",
        socket.proto.as_str(),
        socket.state.as_str(),
        socket.local_endpoint(),
        paint.paint(exposure_role(exposure), exposure_label(exposure, false))
    );
    if let Some((addr, port)) = socket.remote {
        line.push_str(&format!("  peer {}", endpoint(&addr, port)));
    }
    if let Some(service) = socket.service() {
        line.push_str(&format!("  service {service}"));
    }
    if let Some(hint) = socket.hint() {
        line.push_str(&paint.paint(Role::Dim, &format!("  ({hint})")));
    }
    writeln!(out, "{line}")?;
    if let Some(publication) = snapshot.publication(socket) {
        let (words, role) = publication_line(snapshot, publication);
        writeln!(out, "    {}", paint.paint(role, &words))?;
        if let Some(stop) = publication_stop(publication) {
            writeln!(out, "    {}", paint.paint(Role::Dim, &stop))?;
        }
    }
    let note = match &socket.owner {
        Owner::Known(_) => return Ok(()),
        Owner::Partial(_, reason) => (
            format!(
                "    more holders may be hidden ({}): {}",
                socket_uid_words(snapshot, socket),
                reason.describe()
            ),
            Role::Hidden,
        ),
        Owner::Hidden(reason) => (
            format!(
                "    owner hidden ({}): {}",
                socket_uid_words(snapshot, socket),
                reason.describe()
            ),
            Role::Hidden,
        ),
        Owner::None(reason) => (
            format!("    no holding process: {}", reason.describe()),
            Role::Dim,
        ),
    };
    writeln!(out, "{}", paint.paint(note.1, &note.0))
}

fn write_process(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    holding: &Holding<'_>,
    several: bool,
    paint: Paint,
) -> io::Result<()> {
    let process = holding.process;
    let mut head = format!(
        "  pid {}  {}  user {}",
        process.pid,
        paint.paint(Role::Strong, process.name.as_str()),
        process_user(process)
    );
    if let Some(start) = process.start_time {
        head.push_str(&format!(
            "  started {} ({} ago)",
            rfc3339(start),
            age(start, snapshot.taken_at)
        ));
    }
    writeln!(out, "{head}")?;
    write_facts(out, process, paint)?;
    if several {
        let held: Vec<String> = holding.sockets.iter().map(|s| held_words(s)).collect();
        writeln!(out, "    {} {}", field("holds", paint), held.join(", "))?;
    }
    Ok(())
}

fn field(name: &str, paint: Paint) -> String {
    paint.paint(Role::Dim, &format!("{name:<7}"))
}

fn write_facts(out: &mut dyn Write, process: &Process, paint: Paint) -> io::Result<()> {
    writeln!(out, "    {} {}", field("command", paint), process.command())?;
    if let Some(exe) = &process.exe {
        writeln!(out, "    {} {exe}", field("exe", paint))?;
    }
    if let Some(cwd) = &process.cwd {
        writeln!(out, "    {} {cwd}", field("cwd", paint))?;
    }
    if let Some(ppid) = process.ppid {
        let parent = process
            .parent_name
            .as_ref()
            .map(|name| format!(" ({name})"))
            .unwrap_or_default();
        writeln!(out, "    {} {ppid}{parent}", field("parent", paint))?;
    }
    if let Some(container) = &process.container {
        writeln!(out, "    {} {container}", field("in", paint))?;
    }
    if let Some(unit) = &process.unit {
        writeln!(out, "    {} {unit}", field("unit", paint))?;
    }
    Ok(())
}

/// `tcp 0.0.0.0:80`.
pub fn held_words(socket: &Socket) -> String {
    format!("{} {}", socket.proto.as_str(), socket.local_endpoint())
}

/// `pid 400 (nginx, root)`.
fn process_words(process: &Process) -> String {
    format!(
        "pid {} ({}, {})",
        process.pid,
        process.name,
        process_user(process)
    )
}

fn write_left_out(
    out: &mut dyn Write,
    left_out: &[Holding<'_>],
    none_shown: bool,
    asked: &Asked<'_>,
    paint: Paint,
) -> io::Result<()> {
    if left_out.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = left_out.iter().map(|h| process_words(h.process)).collect();
    let line = match none_shown {
        true => format!(
            "  every holder is outside {}: {}",
            asked.holders.describe(),
            names.join(", ")
        ),
        false => format!(
            "  also held by {} outside {}: {}",
            count(left_out.len(), "process", "processes"),
            asked.holders.describe(),
            names.join(", ")
        ),
    };
    writeln!(out, "{}", paint.paint(Role::Warn, &line))
}

/// `nginx (pid 400, 401), redis (pid 7)`: holders grouped by name, lead first.
fn holder_names(holders: &[&Process]) -> Vec<String> {
    let names = unique_in_order(holders.iter().map(|p| p.name.as_str()));
    names
        .iter()
        .map(|name| {
            let pids: Vec<String> = holders
                .iter()
                .filter(|p| p.name.as_str() == *name)
                .map(|p| p.pid.to_string())
                .collect();
            format!("{name} (pid {})", pids.join(", "))
        })
        .collect()
}

/// "tcp 0.0.0.0:80 is in use by nginx (pid 400) — not asked about".
fn write_not_asked(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    answer: &Answer<'_>,
    paint: Paint,
) -> io::Result<()> {
    for socket in &answer.not_asked {
        let holders = holder_names(&snapshot.holders_lead_first(socket));
        let by = match (holders.is_empty(), &socket.owner) {
            (false, _) => format!(" by {}", holders.join(", ")),
            (true, Owner::Hidden(_)) => " (owner hidden)".to_string(),
            (true, _) => String::new(),
        };
        let place = match snapshot.namespaces.len() > 1 {
            true => format!(" in {}", netns_words_of(snapshot, socket.netns)),
            false => String::new(),
        };
        let line = format!(
            "  {} {}{place} is in use{by} — not asked about",
            socket.proto.as_str(),
            socket.local_endpoint()
        );
        writeln!(out, "{}", paint.paint(Role::Dim, &line))?;
    }
    Ok(())
}
