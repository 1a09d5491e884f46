//! The human answer to `portscope 3000`: the sockets on the port, then one block per holding
//! process with the sockets it holds, what a filter left out, and what else is on the port.

use std::io::{self, Write};

use super::Paint;
use crate::filter::HolderFilter;
use crate::model::{Owner, Process, Selection, Snapshot, Socket, endpoint};
use crate::present::{
    Role, age, count, exposure_label, exposure_role, process_user, rfc3339, socket_uid_words,
    unique_in_order,
};
use crate::query::{self, Answer, Holding, Verdict};

/// What a query was asked, for the words of the answer.
pub struct Asked<'a> {
    pub selection: Selection,
    pub holders: &'a HolderFilter,
}

pub fn write_answers(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    answers: &[Answer<'_>],
    asked: &Asked<'_>,
    paint: Paint,
) -> io::Result<()> {
    for (i, answer) in answers.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_answer(out, snapshot, answer, asked, paint)?;
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
    let what = port_words(answer);
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

fn port_words(answer: &Answer<'_>) -> String {
    let spec = answer.spec;
    if spec.is_single() {
        format!("Port {spec}")
    } else {
        format!("Ports {spec}")
    }
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
        paint.paint(Role::Strong, &port_words(answer)),
        count(answer.sockets.len(), "socket", "sockets")
    );
    let processes = shown.len() + left_out.len();
    if processes > 0 {
        head.push_str(&format!(", {}", count(processes, "process", "processes")));
    }
    writeln!(out, "{head})")?;
    for socket in &answer.sockets {
        write_socket(out, snapshot, socket, paint)?;
    }
    let several = answer.sockets.len() > 1;
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
        let line = format!(
            "  {} {} is in use{by} — not asked about",
            socket.proto.as_str(),
            socket.local_endpoint()
        );
        writeln!(out, "{}", paint.paint(Role::Dim, &line))?;
    }
    Ok(())
}
