//! What `--kill` shows: the plan before confirmation, each signal, and the outcome.

use std::io::{self, Write};

use super::{Paint, age, palette, rfc3339};
use crate::stop::{Plan, Sent, StopSignal, Target};

pub fn write_plan(
    out: &mut dyn Write,
    plan: &Plan,
    signal: StopSignal,
    now: std::time::SystemTime,
    paint: Paint,
) -> io::Result<()> {
    if !plan.targets.is_empty() {
        let noun = if plan.targets.len() == 1 {
            "process"
        } else {
            "processes"
        };
        writeln!(
            out,
            "{} will be sent to {} {noun}:",
            paint.paint(palette::PORT, signal.name()),
            plan.targets.len()
        )?;
    }
    for target in &plan.targets {
        write_target(out, target, now, paint)?;
    }
    for (pid, name, refusal) in &plan.refused {
        let line = format!("  pid {pid} ({name}) is left alone: {refusal}");
        writeln!(out, "{}", paint.paint(palette::WARN, &line))?;
    }
    for (socket, uid, why) in &plan.hidden {
        let line =
            format!("  {socket}: owner hidden (socket uid {uid}), cannot be signalled: {why}");
        writeln!(out, "{}", paint.paint(palette::HIDDEN, &line))?;
    }
    Ok(())
}

fn write_target(
    out: &mut dyn Write,
    target: &Target,
    now: std::time::SystemTime,
    paint: Paint,
) -> io::Result<()> {
    let user = target
        .user
        .as_ref()
        .map_or_else(|| "?".to_string(), ToString::to_string);
    let started = target.start_time.map_or_else(String::new, |s| {
        format!("  started {} ({} ago)", rfc3339(s), age(s, now))
    });
    writeln!(
        out,
        "  pid {}  {}  user {user}{started}",
        target.pid,
        paint.paint(palette::PORT, target.name.as_str())
    )?;
    let field = |name: &str| paint.paint(palette::DIM, &format!("{name:<7}"));
    if let Some(exe) = &target.exe {
        writeln!(out, "    {} {exe}", field("exe"))?;
    }
    writeln!(out, "    {} {}", field("command"), target.command)?;
    let sockets: Vec<String> = target.sockets.iter().map(ToString::to_string).collect();
    writeln!(out, "    {} {}", field("holds"), sockets.join(", "))
}

/// What happened to one target, in the words both the CLI and the live view use.
pub fn sent_line(target: &Target, signal: StopSignal, sent: &Sent) -> String {
    let who = format!("pid {} ({})", target.pid, target.name);
    match sent {
        Sent::Signalled => format!("sent {signal} to {who}"),
        Sent::Skipped(refusal) => format!("{who}: nothing sent: {refusal}"),
        Sent::NoLongerHolds => format!("{who}: nothing sent: it no longer holds the socket"),
        Sent::PermissionDenied => {
            let user = target
                .user
                .as_ref()
                .map_or_else(|| "another user".to_string(), |u| format!("user {u}"));
            format!("{who}: permission denied: it belongs to {user}; try again with sudo")
        }
        Sent::Failed(error) => format!("{who}: could not send {signal}: {error}"),
    }
}

pub fn write_sent(
    out: &mut dyn Write,
    target: &Target,
    signal: StopSignal,
    sent: &Sent,
    paint: Paint,
) -> io::Result<()> {
    let line = sent_line(target, signal, sent);
    match sent {
        Sent::Signalled => writeln!(out, "{line}"),
        _ => writeln!(out, "{}", paint.paint(palette::WARN, &line)),
    }
}
