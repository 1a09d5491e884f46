//! `portscope PORT… --kill`: show every holder, ask, re-verify, signal through pidfds, then
//! watch the port until it is free or the timeout runs out.

use std::collections::HashSet;
use std::io::{self, BufRead, IsTerminal, Write};
use std::thread;
use std::time::{Duration, Instant};

use super::{AppError, Terminal, exit};
use crate::cli::{Cli, PortSpec};
use crate::collect::Collector;
use crate::filter::Filter;
use crate::model::{Snapshot, Socket};
use crate::query;
use crate::report::stop::{write_plan, write_sent};
use crate::report::{Paint, palette};
use crate::stop::{self, Sent, StopSignal, Target};

/// How often the port is looked at while waiting for it to be released.
const POLL: Duration = Duration::from_millis(100);

pub fn run(cli: &Cli, terminal: &Terminal, out: &mut dyn Write) -> Result<u8, AppError> {
    let paint = Paint {
        enabled: terminal.color,
    };
    let filter = Filter::from_cli(cli);
    let mut collector = Collector::new();
    let snapshot = filter.apply(collector.collect(filter.tables, &|s| filter.keep_socket(s))?);
    let answers = query::answer(&snapshot, &filter.ports);
    let sockets: Vec<&Socket> = unique(answers.iter().flat_map(|a| a.sockets.iter().copied()));
    if sockets.is_empty() {
        let specs: Vec<String> = filter.ports.iter().map(ToString::to_string).collect();
        writeln!(out, "{}: free; nothing to stop", specs.join(", "))?;
        return Ok(exit::ALL_FREE);
    }
    let plan = stop::plan(&snapshot, &sockets);
    write_plan(out, &plan, cli.signal, snapshot.taken_at, paint)?;
    if plan.targets.is_empty() {
        writeln!(out, "Nothing to signal.")?;
        return Ok(exit::NOT_SIGNALLED);
    }
    out.flush()?;
    if !cli.yes && !confirm(out, &plan.targets, cli.signal)? {
        return Ok(exit::NOT_SIGNALLED);
    }
    let signalled = send_all(out, &plan.targets, cli.signal, paint)?;
    if signalled.is_empty() {
        return Ok(exit::NOT_SIGNALLED);
    }
    let inodes: HashSet<u64> = sockets.iter().map(|s| s.inode).collect();
    let watch = Watch {
        filter: &filter,
        collector: &mut collector,
        timeout: cli.timeout,
    };
    finish(out, watch, &signalled, &inodes, cli, paint)
}

struct Watch<'a> {
    filter: &'a Filter,
    collector: &'a mut Collector,
    timeout: Duration,
}

/// Waits, escalates with --force, and reports each port's outcome.
fn finish(
    out: &mut dyn Write,
    mut watch: Watch<'_>,
    signalled: &[&Target],
    inodes: &HashSet<u64>,
    cli: &Cli,
    paint: Paint,
) -> Result<u8, AppError> {
    let mut free = wait_for_release(&mut watch)?;
    if !free && cli.force && cli.signal != StopSignal::Kill {
        let alive: Vec<&Target> = signalled.iter().copied().filter(|t| !t.exited()).collect();
        if !alive.is_empty() {
            writeln!(
                out,
                "still held after {}: sending SIGKILL",
                humantime::format_duration(watch.timeout)
            )?;
            send_all(out, alive.iter().copied(), StopSignal::Kill, paint)?;
            free = wait_for_release(&mut watch)?;
        }
    }
    let snapshot = {
        let filter = watch.filter;
        filter.apply(
            watch
                .collector
                .collect(filter.tables, &|s| filter.keep_socket(s))?,
        )
    };
    report_ports(
        out,
        &snapshot,
        &watch.filter.ports,
        signalled,
        inodes,
        cli,
        paint,
    )?;
    Ok(if free { exit::OK } else { exit::STILL_HELD })
}

fn confirm(out: &mut dyn Write, targets: &[Target], signal: StopSignal) -> Result<bool, AppError> {
    if !io::stdin().is_terminal() {
        out.flush()?;
        eprintln!(
            "portscope: refusing to send {signal} without confirmation: standard input is not a terminal (add --yes)"
        );
        return Ok(false);
    }
    let noun = if targets.len() == 1 {
        "this process"
    } else {
        "these processes"
    };
    write!(out, "Send {signal} to {noun}? [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    let yes = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes {
        writeln!(out, "Nothing sent.")?;
    }
    Ok(yes)
}

fn send_all<'a>(
    out: &mut dyn Write,
    targets: impl IntoIterator<Item = &'a Target>,
    signal: StopSignal,
    paint: Paint,
) -> Result<Vec<&'a Target>, AppError> {
    let mut signalled = Vec::new();
    for target in targets {
        let sent = stop::signal(target, signal);
        write_sent(out, target, signal, &sent, paint)?;
        if sent == Sent::Signalled {
            signalled.push(target);
        }
    }
    Ok(signalled)
}

/// True once no listener matches the asked-for ports (owners are not needed for that).
fn wait_for_release(watch: &mut Watch<'_>) -> Result<bool, AppError> {
    let deadline = Instant::now() + watch.timeout;
    loop {
        let filter = watch.filter;
        let held = !crate::collect::sockets(filter.tables, &|s| filter.keep_socket(s))?.is_empty();
        if !held {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

fn report_ports(
    out: &mut dyn Write,
    snapshot: &Snapshot,
    specs: &[PortSpec],
    signalled: &[&Target],
    inodes: &HashSet<u64>,
    cli: &Cli,
    paint: Paint,
) -> Result<(), AppError> {
    for answer in query::answer(snapshot, specs) {
        if !answer.held() {
            writeln!(
                out,
                "port {} is {}",
                answer.spec,
                paint.paint(palette::FREE, "free")
            )?;
            continue;
        }
        for socket in &answer.sockets {
            for process in snapshot.holders(socket) {
                let why = still_held_because(process.pid, socket, signalled, inodes, cli);
                let line = format!(
                    "port {}/{} is still held by pid {} ({}): {why}",
                    socket.port,
                    socket.proto.as_str(),
                    process.pid,
                    process.name
                );
                writeln!(out, "{}", paint.paint(palette::WARN, &line))?;
            }
            if socket.owner.pids().is_empty() {
                let line = format!(
                    "port {}/{} is still in use (owner not visible)",
                    socket.port,
                    socket.proto.as_str()
                );
                writeln!(out, "{}", paint.paint(palette::WARN, &line))?;
            }
        }
    }
    Ok(())
}

fn still_held_because(
    pid: u32,
    socket: &Socket,
    signalled: &[&Target],
    inodes: &HashSet<u64>,
    cli: &Cli,
) -> String {
    if signalled.iter().any(|t| t.pid == pid && !t.exited()) {
        return match cli.force {
            true => "it survived SIGKILL so far (stuck in the kernel?)".to_string(),
            false => format!(
                "it is still running after {}; add --force to send SIGKILL after the timeout",
                cli.signal
            ),
        };
    }
    if inodes.contains(&socket.inode) {
        return "it inherited the same socket from a signalled process".to_string();
    }
    "a new process took the port: this looks like a restart (a supervisor?)".to_string()
}

/// Each socket once, in order, even if two asked-for specs match it.
fn unique<'a>(sockets: impl Iterator<Item = &'a Socket>) -> Vec<&'a Socket> {
    let mut seen = HashSet::new();
    sockets
        .filter(|s| seen.insert((s.proto, s.local_addr, s.port, s.inode)))
        .collect()
}
