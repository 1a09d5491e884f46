//! The human answer to `portscope 3000`: every socket on the port and every holder in full.

use std::io::{self, Write};

use super::{Paint, age, exposure_style, palette, rfc3339, socket_user};
use crate::model::{Owner, Process, Snapshot, Socket, endpoint};
use crate::query::Answer;

pub fn write_answers(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    answers: &[Answer<'_>],
    paint: Paint,
) -> io::Result<()> {
    for (i, answer) in answers.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_answer(out, snapshot, answer, paint)?;
    }
    Ok(())
}

fn write_answer(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    answer: &Answer<'_>,
    paint: Paint,
) -> io::Result<()> {
    let what = port_words(answer);
    if !answer.held() && answer.others > 0 {
        let noun = if answer.others == 1 {
            "socket uses"
        } else {
            "sockets use"
        };
        return writeln!(
            out,
            "{what}: no listener, but {} other {noun} it as a local port (connections or TIME_WAIT; see --all)",
            answer.others
        );
    }
    if !answer.held() {
        let free = paint.paint(palette::FREE, "free");
        return writeln!(out, "{what}: {free} (no {} listener)", protocols(answer));
    }
    let count = answer.sockets.len();
    let noun = if count == 1 { "socket" } else { "sockets" };
    writeln!(
        out,
        "{}: in use ({count} {noun})",
        paint.paint(palette::PORT, &what)
    )?;
    for socket in &answer.sockets {
        write_socket(out, snapshot, socket, paint)?;
    }
    Ok(())
}

fn port_words(answer: &Answer<'_>) -> String {
    let spec = answer.spec;
    if spec.low == spec.high {
        format!("Port {spec}")
    } else {
        format!("Ports {spec}")
    }
}

fn protocols(answer: &Answer<'_>) -> &'static str {
    match answer.spec.proto {
        Some(crate::model::Proto::Tcp) => "TCP",
        Some(crate::model::Proto::Udp) => "UDP",
        None => "TCP or UDP",
    }
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
        paint.paint(exposure_style(exposure), exposure.label())
    );
    if let Some((addr, port)) = socket.remote {
        line.push_str(&format!("  peer {}", endpoint(&addr, port)));
    }
    if let Some(service) = socket.service() {
        line.push_str(&format!("  service {service}"));
    }
    if let Some(hint) = socket.hint() {
        line.push_str(&paint.paint(palette::DIM, &format!("  ({hint})")));
    }
    writeln!(out, "{line}")?;
    match &socket.owner {
        Owner::Known(_) => {
            for process in snapshot.holders(socket) {
                write_process(out, snapshot, process, paint)?;
            }
            Ok(())
        }
        Owner::Hidden(reason) => {
            let text = format!(
                "    owner hidden (socket uid {} {}): {}",
                socket.uid,
                socket_user(snapshot, socket),
                reason.describe()
            );
            writeln!(out, "{}", paint.paint(palette::HIDDEN, &text))
        }
        Owner::None(reason) => {
            let text = format!("    no holding process: {}", reason.describe());
            writeln!(out, "{}", paint.paint(palette::DIM, &text))
        }
    }
}

fn write_process(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    process: &Process,
    paint: Paint,
) -> io::Result<()> {
    let user = process
        .user
        .as_ref()
        .map(ToString::to_string)
        .or_else(|| process.uid.map(|u| u.to_string()))
        .unwrap_or_else(|| "?".to_string());
    let mut head = format!(
        "    pid {}  {}  user {user}",
        process.pid,
        paint.paint(palette::PORT, process.name.as_str())
    );
    if let Some(start) = process.start_time {
        head.push_str(&format!(
            "  started {} ({} ago)",
            rfc3339(start),
            age(start, snapshot.taken_at)
        ));
    }
    writeln!(out, "{head}")?;
    let field = |name: &str| paint.paint(palette::DIM, &format!("{name:<7}"));
    writeln!(out, "      {} {}", field("command"), process.command())?;
    if let Some(exe) = &process.exe {
        writeln!(out, "      {} {exe}", field("exe"))?;
    }
    if let Some(cwd) = &process.cwd {
        writeln!(out, "      {} {cwd}", field("cwd"))?;
    }
    if let Some(ppid) = process.ppid {
        let parent = process
            .parent_name
            .as_ref()
            .map(|name| format!(" ({name})"))
            .unwrap_or_default();
        writeln!(out, "      {} {ppid}{parent}", field("parent"))?;
    }
    Ok(())
}
