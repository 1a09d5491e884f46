//! `portscope PORT… --kill`: show every holder, ask, re-verify, signal through pidfds, then
//! watch the port until it is free or the timeout runs out. The port's verdict comes from the
//! same code as a query's, so both say the same of it.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, IsTerminal, Write};
use std::thread;
use std::time::{Duration, Instant};

use super::config::{WIDE_KILL, port_count};
use super::query::{answers, snapshot, unanswerable, whole};
use super::{AppError, Output, StopConfig, exit};
use crate::collect::Collector;
use crate::filter::Filter;
use crate::model::{Process, Snapshot, Socket};
use crate::present::{Role, count};
use crate::query::{self, Answer, Verdict};
use crate::report::stop::{JsonOutcome, StopDocument, write_plan, write_sent};
use crate::report::{Format, Paint};
use crate::stop::{self, Plan, Sent, StopSignal, Target};

/// How often the port is looked at while waiting for it to be released.
const POLL: Duration = Duration::from_millis(100);

/// Where the words go: text on stdout, or (with `--format json`) one document at the end.
struct Report<'a> {
    out: &'a mut dyn Write,
    paint: Paint,
    json: Option<StopDocument>,
}

impl Report<'_> {
    /// A text line, or nothing when the report is JSON. Before anything is signalled, a line
    /// that cannot be written stops the kill (a closed pipe is no success here).
    fn line(&mut self, role: Role, text: &str) -> Result<(), AppError> {
        if self.json.is_some() {
            return Ok(());
        }
        writeln!(self.out, "{}", self.paint.paint(role, text)).map_err(AppError::Output)
    }

    fn finish(&mut self, result: &'static str, message: Option<String>) -> Result<(), AppError> {
        if let Some(doc) = self.json.as_mut() {
            doc.result = result;
            doc.message = message;
            doc.write(self.out)?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// Output that fails before any signal means nothing was done, and says so.
fn before_signals(error: AppError) -> AppError {
    match error {
        AppError::Output(e) => AppError::NotSignalled(format!("cannot write output: {e}")),
        other => other,
    }
}

pub fn run(config: &StopConfig, output: Output, out: &mut dyn Write) -> Result<u8, AppError> {
    let mut report = Report {
        out,
        paint: Paint {
            enabled: output.color,
        },
        json: None,
    };
    let filter = &config.query.filter;
    let mut collector = filter.collector();
    let snapshot = every_listener(&mut collector, filter)?;
    super::say_collector(output, &snapshot);
    let answers = answers(&mut collector, &snapshot, filter)?;
    if let Some(why) = unanswerable(&answers) {
        return Err(AppError::Unanswerable(why));
    }
    let sockets = unique(answers.iter().flat_map(|a| a.sockets.iter().copied()));
    if sockets.is_empty() {
        let binds = super::bind::reports(&mut collector, &snapshot, &answers, filter, None);
        return nothing_to_stop(&mut report, &answers, &binds).map_err(before_signals);
    }
    let plan = stop::plan(&snapshot, &sockets, &filter.holders);
    if config.query.format == Format::Json {
        report.json = Some(StopDocument::new(&plan, config.signal));
    }
    refuse_wide(config, &plan)?;
    refuse_spread(config, &sockets, &snapshot)?;
    present(&mut report, &plan, config, &snapshot).map_err(before_signals)?;
    if plan.targets.is_empty() {
        return refused_all(&mut report, &plan, config).map_err(before_signals);
    }
    if !config.yes && !confirm(&mut report, &plan, config.signal).map_err(before_signals)? {
        report
            .finish("not_confirmed", None)
            .map_err(before_signals)?;
        return Ok(exit::NOT_SIGNALLED);
    }
    let signalled = send_all(&mut report, &plan.targets, config.signal)?;
    if signalled.is_empty() {
        report.finish("refused", Some("nothing could be signalled".into()))?;
        return Ok(exit::NOT_SIGNALLED);
    }
    let watch = Watch {
        filter,
        collector: &mut collector,
        timeout: config.timeout,
    };
    finish(&mut report, watch, &plan, &signalled, &snapshot, config)
}

/// Every listener with its holders: the asked-for ports decide what is signalled, the rest
/// tell what else the signal reaches ("also holds 8081").
fn every_listener(collector: &mut Collector, filter: &Filter) -> Result<Snapshot, AppError> {
    let request = crate::collect::Request {
        selection: whole(filter.selection),
        connections: false,
    };
    let wanted = |s: &Socket| s.is_listener() || filter.ports.iter().any(|p| p.covers(s.port));
    match filter.selection.all_states {
        true => Ok(snapshot(collector, filter)?),
        false => Ok(collector.collect(&request, &wanted)?),
    }
}

/// A port held in several namespaces (the host's and a container's, two containers) is
/// several ports: stopping them all needs `--netns` to say which, or `--netns all`.
fn refuse_spread(
    config: &StopConfig,
    sockets: &[&Socket],
    snapshot: &Snapshot,
) -> Result<(), AppError> {
    let mut namespaces: Vec<u64> = sockets.iter().map(|s| s.netns).collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    if config.netns_chosen || namespaces.len() < 2 {
        return Ok(());
    }
    let names: Vec<String> = namespaces
        .iter()
        .map(|&ns| crate::present::netns_words_of(snapshot, ns))
        .collect();
    Err(AppError::NotSignalled(format!(
        "the asked ports are held in {} network namespaces ({}); choose one with --netns NAME, or stop them all with --netns all",
        namespaces.len(),
        names.join(", ")
    )))
}

/// A wide range (`1-65535 --kill --yes`) stops every holder on the host unless asked for in
/// so many words.
fn refuse_wide(config: &StopConfig, plan: &Plan) -> Result<(), AppError> {
    let ports = port_count(&config.query.filter.ports);
    if ports <= WIDE_KILL || config.all_holders || plan.targets.is_empty() {
        return Ok(());
    }
    let held: HashSet<u16> = plan
        .targets
        .iter()
        .flat_map(|t| t.sockets.iter().map(|s| s.port))
        .collect();
    Err(AppError::NotSignalled(format!(
        "the asked ports cover {ports} port numbers, and {} on {} would be signalled; to stop them all, add --all-holders",
        count(plan.targets.len(), "process", "processes"),
        count(held.len(), "port", "ports"),
    )))
}

fn nothing_to_stop(
    report: &mut Report<'_>,
    answers: &[Answer<'_>],
    binds: &[Vec<crate::bind::BindReport>],
) -> Result<u8, AppError> {
    use crate::bind::Outcome;
    let mut in_use = false;
    let none = Vec::new();
    for (index, answer) in answers.iter().enumerate() {
        // Nothing listens, but a bind fails (a socket bound and not listening, TIME_WAIT, a
        // kernel socket): the same "in use" as the query says, and nothing here to stop.
        let blocked: Vec<&crate::bind::BindReport> = binds
            .get(index)
            .unwrap_or(&none)
            .iter()
            .filter(|b| b.outcome() == Outcome::InUse)
            .collect();
        if answer.verdict() == Verdict::Free && !blocked.is_empty() {
            in_use = true;
            let line = format!(
                "{}: in use, but not by a listener: a bind fails with EADDRINUSE; nothing to stop",
                answer.spec
            );
            report.line(Role::Plain, &line)?;
            for bind in blocked {
                for (blocker, existing) in bind.blockers() {
                    let line = crate::present::bind::blocker_line(bind, blocker, existing);
                    report.line(Role::Dim, &format!("  {line}"))?;
                }
            }
            continue;
        }
        let line = match answer.verdict() {
            Verdict::UsedByConnections => {
                in_use = true;
                format!(
                    "{}: in use, but not by a listener: {} {} it as a local port (see portscope {} --all); nothing to stop",
                    answer.spec,
                    count(
                        answer.others.len(),
                        "connection or TIME_WAIT socket",
                        "connections or TIME_WAIT sockets"
                    ),
                    if answer.others.len() == 1 {
                        "uses"
                    } else {
                        "use"
                    },
                    answer.spec
                )
            }
            _ => format!("{}: free; nothing to stop", answer.spec),
        };
        report.line(Role::Plain, &line)?;
        for socket in &answer.not_asked {
            let line = format!(
                "  {} {} is in use — not asked about",
                socket.proto.as_str(),
                socket.local_endpoint()
            );
            report.line(Role::Dim, &line)?;
        }
    }
    match in_use {
        true => {
            report.finish(
                "nothing_to_stop",
                Some("in use, but not by a listener".into()),
            )?;
            Ok(exit::NOT_SIGNALLED)
        }
        false => {
            report.finish("nothing_to_stop", Some("free".into()))?;
            Ok(exit::ALL_FREE)
        }
    }
}

fn present(
    report: &mut Report<'_>,
    plan: &Plan,
    config: &StopConfig,
    snapshot: &Snapshot,
) -> Result<(), AppError> {
    if report.json.is_some() {
        return Ok(());
    }
    write_plan(
        report.out,
        plan,
        config.signal,
        snapshot.taken_at,
        report.paint,
    )?;
    report.out.flush()?;
    Ok(())
}

fn refused_all(report: &mut Report<'_>, plan: &Plan, config: &StopConfig) -> Result<u8, AppError> {
    let line = match plan.left_out.is_empty() {
        false => format!(
            "Nothing to signal: no holder matches {}.",
            config.query.filter.holders.describe()
        ),
        true => "Nothing to signal.".to_string(),
    };
    report.line(Role::Warn, &line)?;
    report.finish("refused", Some(line))?;
    Ok(exit::NOT_SIGNALLED)
}

fn confirm(report: &mut Report<'_>, plan: &Plan, signal: StopSignal) -> Result<bool, AppError> {
    if !io::stdin().is_terminal() {
        report.out.flush()?;
        super::say_error(&format!(
            "refusing to send {signal} without confirmation: standard input is not a terminal (add --yes)"
        ));
        return Ok(false);
    }
    let noun = if plan.targets.len() == 1 {
        "this process"
    } else {
        "these processes"
    };
    let question = format!("Send {signal} to {noun}? [y/N] ");
    // With a JSON report, the conversation stays off stdout.
    match report.json.is_some() {
        true => {
            let mut stderr = io::stderr().lock();
            write!(stderr, "{question}")?;
            stderr.flush()?;
        }
        false => {
            write!(report.out, "{question}")?;
            report.out.flush()?;
        }
    }
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    let yes = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes {
        report.line(Role::Plain, "Nothing sent.")?;
    }
    Ok(yes)
}

fn send_all<'a>(
    report: &mut Report<'_>,
    targets: impl IntoIterator<Item = &'a Target>,
    signal: StopSignal,
) -> Result<Vec<&'a Target>, AppError> {
    let mut signalled = Vec::new();
    for target in targets {
        let sent = stop::signal(target, signal);
        if let Some(doc) = report.json.as_mut() {
            doc.sent(target, signal, &sent);
        } else {
            write_sent(report.out, target, signal, &sent, report.paint)?;
        }
        if sent == Sent::Signalled {
            signalled.push(target);
        }
    }
    Ok(signalled)
}

struct Watch<'a> {
    filter: &'a Filter,
    collector: &'a mut Collector,
    timeout: Duration,
}

/// Waits, escalates with --force, and reports each port's outcome.
fn finish(
    report: &mut Report<'_>,
    mut watch: Watch<'_>,
    plan: &Plan,
    signalled: &[&Target],
    before: &Snapshot,
    config: &StopConfig,
) -> Result<u8, AppError> {
    let mut free = wait_for_release(&mut watch)?;
    if !free && config.force && config.signal != StopSignal::Kill {
        let alive: Vec<&Target> = signalled.iter().copied().filter(|t| !t.exited()).collect();
        if !alive.is_empty() {
            let line = format!(
                "still held after {}: sending SIGKILL",
                humantime::format_duration(watch.timeout)
            );
            report.line(Role::Warn, &line)?;
            send_all(report, alive.iter().copied(), StopSignal::Kill)?;
            free = wait_for_release(&mut watch)?;
        }
    }
    let after = snapshot(watch.collector, watch.filter)?;
    let context = Outcome {
        plan,
        signalled,
        before,
        config,
    };
    report_ports(report, &after, watch.filter, &context)?;
    let result = if free { "signalled" } else { "still_held" };
    report.finish(result, None)?;
    Ok(if free { exit::OK } else { exit::STILL_HELD })
}

/// True once no asked-for socket is left (owners are not needed for that).
fn wait_for_release(watch: &mut Watch<'_>) -> Result<bool, AppError> {
    let deadline = Instant::now() + watch.timeout;
    let filter = watch.filter;
    loop {
        let read = watch
            .collector
            .sockets(filter.selection, &|s| filter.keep_socket(s))?;
        if read.sockets.is_empty() {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// What was known when the signals went out, to explain who still holds a port.
struct Outcome<'a> {
    plan: &'a Plan,
    signalled: &'a [&'a Target],
    before: &'a Snapshot,
    config: &'a StopConfig,
}

fn report_ports(
    report: &mut Report<'_>,
    after: &Snapshot,
    filter: &Filter,
    context: &Outcome<'_>,
) -> Result<(), AppError> {
    let answers = query::answer(after, &filter.ports, filter.selection);
    let mut seen = HashSet::new();
    for answer in &answers {
        let spec = answer.spec;
        let mut still = Vec::new();
        if answer.sockets.is_empty() {
            report.line(Role::Free, &format!("port {spec} is free"))?;
        }
        for socket in answer.sockets.iter().filter(|s| seen.insert(s.inode)) {
            for (why, pids) in still_held(after, socket, context) {
                let line = format!(
                    "port {}/{} is still held by {pids}: {why}",
                    socket.port,
                    socket.proto.as_str(),
                );
                report.line(Role::Warn, &line)?;
                still.push(line);
            }
        }
        if let Some(doc) = report.json.as_mut() {
            doc.outcome.push(JsonOutcome {
                spec: spec.to_string(),
                free: answer.sockets.is_empty(),
                still_held: still,
            });
        }
    }
    Ok(())
}

/// The holders of `socket` after the signals, grouped by why they still hold it.
fn still_held(after: &Snapshot, socket: &Socket, context: &Outcome<'_>) -> Vec<(String, String)> {
    if socket.owner.pids().is_empty() {
        let why = socket.owner.reason().unwrap_or("owner not visible");
        return vec![(
            why.to_string(),
            "a process portscope cannot see".to_string(),
        )];
    }
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for process in after.holders_lead_first(socket) {
        let why = why_still_held(process, socket, context);
        groups
            .entry(why)
            .or_default()
            .push(format!("pid {} ({})", process.pid, process.name));
    }
    groups
        .into_iter()
        .map(|(why, who)| (why, who.join(", ")))
        .collect()
}

fn why_still_held(process: &Process, socket: &Socket, context: &Outcome<'_>) -> String {
    let signalled = context.signalled.iter().find(|t| t.pid == process.pid);
    if signalled.is_some_and(|t| !t.exited()) {
        return match context.config.force {
            true => "it survived SIGKILL so far (stuck in the kernel?)".to_string(),
            false => format!(
                "it is still running after {}; add --force to send SIGKILL after the timeout",
                context.config.signal
            ),
        };
    }
    let was_holder = context
        .before
        .processes
        .get(&process.pid)
        .is_some_and(|p| p.start_ticks == process.start_ticks);
    let left_alone = context
        .plan
        .left_out
        .iter()
        .any(|(pid, _)| *pid == process.pid)
        || context
            .plan
            .refused
            .iter()
            .any(|(pid, _, _)| *pid == process.pid);
    if was_holder && left_alone {
        return "it was left alone (see above)".to_string();
    }
    let same_socket = context
        .before
        .sockets
        .iter()
        .any(|s| s.inode == socket.inode);
    let parent = process
        .ppid
        .map(|ppid| match &process.parent_name {
            Some(name) => format!("pid {ppid} ({name})"),
            None => format!("pid {ppid}"),
        })
        .unwrap_or_else(|| "an unknown parent".to_string());
    let forked_by_target = process
        .ppid
        .is_some_and(|ppid| context.signalled.iter().any(|t| t.pid == ppid));
    match (same_socket, forked_by_target) {
        (true, true) => {
            format!("new processes forked by {parent}, a signalled holder, hold the same socket")
        }
        (true, false) => format!(
            "new processes hold the same socket; their parent {parent} was not signalled (a holder portscope could not see?)"
        ),
        (false, _) => format!(
            "a new socket on the port, opened by processes of {parent}: this looks like a restart by a supervisor"
        ),
    }
}

/// Each socket once, in order, even if two asked-for specs match it.
fn unique<'a>(sockets: impl Iterator<Item = &'a Socket>) -> Vec<&'a Socket> {
    let mut seen = HashSet::new();
    sockets
        .filter(|s| seen.insert((s.proto, s.local_addr, s.port, s.inode)))
        .collect()
}
