//! What `--kill` shows: the plan before confirmation, each signal, and the outcome; as text or
//! as one JSON document.

use std::io::{self, Write};
use std::time::SystemTime;

use serde::Serialize;

use super::Paint;
use crate::present::{Role, age, count, plan_notes, rfc3339, rfc3339_or_null, sent_line};
use crate::stop::{Plan, Sent, StopSignal, Target};

pub fn write_plan(
    out: &mut dyn Write,
    plan: &Plan,
    signal: StopSignal,
    now: SystemTime,
    paint: Paint,
) -> io::Result<()> {
    if !plan.targets.is_empty() {
        writeln!(
            out,
            "{} will be sent to {}:",
            paint.paint(Role::Strong, signal.name()),
            count(plan.targets.len(), "process", "processes")
        )?;
    }
    for target in &plan.targets {
        write_target(out, target, now, paint)?;
    }
    for line in plan_notes(plan) {
        writeln!(out, "{}", paint.paint(line.1, &line.0))?;
    }
    Ok(())
}

fn write_target(
    out: &mut dyn Write,
    target: &Target,
    now: SystemTime,
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
        paint.paint(Role::Strong, target.name.as_str())
    )?;
    let field = |name: &str| paint.paint(Role::Dim, &format!("{name:<7}"));
    if let Some(exe) = &target.exe {
        writeln!(out, "    {} {exe}", field("exe"))?;
    }
    writeln!(out, "    {} {}", field("command"), target.command)?;
    let sockets: Vec<String> = target.sockets.iter().map(ToString::to_string).collect();
    writeln!(out, "    {} {}", field("holds"), sockets.join(", "))?;
    if !target.also.is_empty() {
        let also: Vec<String> = target.also.iter().map(ToString::to_string).collect();
        let line = format!("{} (the signal reaches these too)", also.join(", "));
        writeln!(
            out,
            "    {} {}",
            field("also"),
            paint.paint(Role::Warn, &line)
        )?;
    }
    Ok(())
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
        _ => writeln!(out, "{}", paint.paint(Role::Warn, &line)),
    }
}

/// `--kill --format json`: the whole run as one document.
#[derive(Serialize, Default)]
pub struct StopDocument {
    pub version: u32,
    pub signal: &'static str,
    pub targets: Vec<JsonTarget>,
    pub left_alone: Vec<JsonLeftAlone>,
    pub stays_open: Vec<String>,
    pub outcome: Vec<JsonOutcome>,
    /// `signalled`, `nothing_to_stop`, `refused`, `not_confirmed`, `still_held`.
    pub result: &'static str,
    pub message: Option<String>,
}

#[derive(Serialize)]
pub struct JsonTarget {
    pub pid: u32,
    pub name: String,
    pub user: Option<String>,
    pub command: String,
    pub start_time: Option<String>,
    pub sockets: Vec<String>,
    pub also: Vec<String>,
    /// `signalled`, `skipped`, `no_longer_holds`, `permission_denied`, `failed`, or null
    /// when nothing was sent.
    pub sent: Option<&'static str>,
    pub sent_message: Option<String>,
}

#[derive(Serialize)]
pub struct JsonLeftAlone {
    pub pid: Option<u32>,
    pub name: Option<String>,
    pub why: String,
}

#[derive(Serialize)]
pub struct JsonOutcome {
    pub spec: String,
    pub free: bool,
    pub still_held: Vec<String>,
}

impl StopDocument {
    pub fn new(plan: &Plan, signal: StopSignal) -> Self {
        let mut left_alone: Vec<JsonLeftAlone> = plan
            .refused
            .iter()
            .map(|(pid, name, why)| JsonLeftAlone {
                pid: Some(*pid),
                name: Some(name.to_string()),
                why: why.to_string(),
            })
            .collect();
        left_alone.extend(plan.left_out.iter().map(|(pid, name)| JsonLeftAlone {
            pid: Some(*pid),
            name: Some(name.to_string()),
            why: "outside the --pid/--user/--process filter".to_string(),
        }));
        left_alone.extend(plan.hidden.iter().map(|(socket, _, why)| JsonLeftAlone {
            pid: None,
            name: None,
            why: format!("{socket}: owner hidden: {why}"),
        }));
        StopDocument {
            version: super::json::SCHEMA_VERSION,
            signal: signal.name(),
            targets: plan.targets.iter().map(json_target).collect(),
            left_alone,
            stays_open: plan_notes(plan)
                .into_iter()
                .filter(|(_, role)| *role == Role::Hidden)
                .map(|(line, _)| line.trim().to_string())
                .collect(),
            ..StopDocument::default()
        }
    }

    /// Records what sending to `target` did.
    pub fn sent(&mut self, target: &Target, signal: StopSignal, sent: &Sent) {
        let Some(entry) = self.targets.iter_mut().find(|t| t.pid == target.pid) else {
            return;
        };
        entry.sent = Some(match sent {
            Sent::Signalled => "signalled",
            Sent::Skipped(_) => "skipped",
            Sent::NoLongerHolds => "no_longer_holds",
            Sent::PermissionDenied => "permission_denied",
            Sent::Failed(_) => "failed",
        });
        entry.sent_message = Some(sent_line(target, signal, sent));
    }

    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self).map_err(io::Error::from)?;
        writeln!(out)
    }
}

fn json_target(target: &Target) -> JsonTarget {
    JsonTarget {
        pid: target.pid,
        name: target.name.to_string(),
        user: target.user.as_ref().map(ToString::to_string),
        command: target.command.clone(),
        start_time: target.start_time.and_then(rfc3339_or_null),
        sockets: target.sockets.iter().map(ToString::to_string).collect(),
        also: target.also.iter().map(ToString::to_string).collect(),
        sent: None,
        sent_message: None,
    }
}
