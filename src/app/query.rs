//! `portscope PORT…`: who holds each port, as text or JSON. Also the first half of `--kill`,
//! so both say the same of a port.

use std::io::Write;

use super::{AppError, Output, QueryConfig, exit};
use crate::collect::{CollectError, Collector, Request};
use crate::filter::Filter;
use crate::model::{Selection, Snapshot, Socket};
use crate::query::{self, Answer, Verdict};
use crate::report::json::{QueryEntry, write_json};
use crate::report::query::{Asked, write_answers};
use crate::report::{Format, Paint};

/// The snapshot a query is answered from: every listener of every protocol and family on the
/// asked ports (so the answer can name what was not asked about), whoever holds them.
pub fn snapshot(collector: &mut Collector, filter: &Filter) -> Result<Snapshot, CollectError> {
    let request = Request {
        selection: whole(filter.selection),
        connections: false,
    };
    // The answer may be "free": no table is skipped on the kernel's count.
    collector.dump_every_table();
    collector.collect(&request, &|s| on_asked_port(filter, s))
}

/// Every protocol and family, in the asked state (listeners, or all with `--all`).
pub fn whole(selection: Selection) -> Selection {
    Selection {
        all_states: selection.all_states,
        ..Selection::LISTENERS
    }
}

fn on_asked_port(filter: &Filter, socket: &Socket) -> bool {
    filter.ports.iter().any(|spec| spec.covers(socket.port))
}

/// Answers, with the non-listening users of the not-held ports counted: one cheap extra dump
/// (no owner lookup), so "free" is never said of a port a bind would be refused.
pub fn answers<'a>(
    collector: &mut Collector,
    snapshot: &'a Snapshot,
    filter: &Filter,
) -> Result<Vec<Answer<'a>>, CollectError> {
    let mut answers = query::answer(snapshot, &filter.ports, filter.selection);
    if answers.iter().all(Answer::held) || filter.selection.all_states {
        return Ok(answers);
    }
    let mut everything = whole(filter.selection);
    everything.all_states = true;
    let others = collector.sockets(everything, &|s| {
        !s.is_listener() && on_asked_port(filter, s)
    })?;
    query::add_others(&mut answers, &others.sockets, filter.selection);
    Ok(answers)
}

/// A port nothing was seen on, in a table that could not be read, cannot be called free.
pub fn unanswerable(answers: &[Answer<'_>]) -> Option<String> {
    let unknown: Vec<String> = answers
        .iter()
        .filter(|a| a.verdict() == Verdict::Unknown)
        .map(|a| {
            let why: Vec<&str> = a.unreadable.iter().map(|e| e.message.as_str()).collect();
            format!("cannot tell whether {} is free: {}", a.spec, why.join("; "))
        })
        .collect();
    (!unknown.is_empty()).then(|| unknown.join("; "))
}

pub fn run(config: &QueryConfig, output: Output, out: &mut dyn Write) -> Result<u8, AppError> {
    let filter = &config.filter;
    let mut collector = filter.collector();
    let snapshot = snapshot(&mut collector, filter)?;
    super::say_collector(output, &snapshot);
    let answers = answers(&mut collector, &snapshot, filter)?;
    let binds = super::bind::reports(
        &mut collector,
        &snapshot,
        &answers,
        filter,
        config.bind.as_ref(),
    );
    match config.format {
        Format::Json => {
            let entries: Vec<QueryEntry> = answers
                .iter()
                .zip(&binds)
                .map(|(a, b)| {
                    QueryEntry::new(&snapshot, a, &filter.holders)
                        .with_binds(b, snapshot.verdict_netns())
                })
                .collect();
            let asked = asked_only(&snapshot, filter);
            write_json(out, &asked, Some(&entries))?;
        }
        // Config sends the line formats (jsonl, prometheus) to the listing, never here.
        Format::Table | Format::Jsonl | Format::Prometheus => {
            let asked = Asked {
                selection: filter.selection,
                holders: &filter.holders,
            };
            let paint = Paint {
                enabled: output.color,
            };
            write_answers(out, &snapshot, &answers, &binds, &asked, paint)?;
        }
    }
    if let Some(why) = unanswerable(&answers) {
        out.flush()?;
        return Err(AppError::Unanswerable(why));
    }
    // A port a bind is refused with EADDRINUSE is in use, whatever the tables showed.
    let bind_in_use = binds
        .iter()
        .flatten()
        .any(|b| b.outcome() == crate::bind::Outcome::InUse);
    let in_use = answers.iter().any(|a| a.verdict().in_use()) || bind_in_use;
    Ok(if in_use { exit::OK } else { exit::ALL_FREE })
}

/// The JSON `sockets` array holds the asked sockets (protocol, family and state); what else is
/// on the port is in each query entry's `not_asked`.
fn asked_only(snapshot: &Snapshot, filter: &Filter) -> Snapshot {
    let mut asked = snapshot.clone();
    asked.sockets.retain(|s| {
        filter
            .ports
            .iter()
            .any(|spec| query::asked(spec, filter.selection, s))
    });
    asked
}
