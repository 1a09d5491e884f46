//! `--once`: one snapshot, as a table, JSON, JSON lines or Prometheus metrics.

use std::io::Write;
use std::time::{Duration, Instant};

use super::{AppError, OnceConfig, Output, exit, textfile};
use crate::collect::Request;
use crate::model::Snapshot;
use crate::report::json::write_json;
use crate::report::jsonl::write_jsonl;
use crate::report::prometheus::{Options, write_prometheus};
use crate::report::table::{TableOptions, write_table};
use crate::report::{Format, Paint};

pub fn run(config: &OnceConfig, output: Output, out: &mut dyn Write) -> Result<u8, AppError> {
    let filter = &config.filter;
    let request = Request {
        selection: filter.selection,
        connections: false,
    };
    let started = Instant::now();
    let snapshot = filter
        .collector()
        .collect(&request, &|s| filter.keep_socket(s))?;
    let collect_duration = started.elapsed();
    super::say_collector(output, &snapshot);
    let snapshot = filter.apply(snapshot);
    match config.format {
        Format::Json => write_json(out, &snapshot, None)?,
        Format::Jsonl => write_jsonl(out, &snapshot)?,
        Format::Prometheus => prometheus(config, &snapshot, collect_duration, out)?,
        Format::Table => {
            let options = TableOptions {
                width: output.width,
                all: filter.selection.all_states,
                paint: Paint {
                    enabled: output.color,
                },
            };
            write_table(out, &snapshot, &options)?;
        }
    }
    Ok(exit::OK)
}

/// The metrics on stdout, or in place of the `--prometheus-textfile` file.
fn prometheus(
    config: &OnceConfig,
    snapshot: &Snapshot,
    collect_duration: Duration,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let options = Options {
        all: config.prometheus.all,
        selection: config.filter.selection,
        collect_duration,
    };
    match &config.prometheus.textfile {
        Some(path) => textfile::replace(path, |file| write_prometheus(file, snapshot, &options)),
        None => write_prometheus(out, snapshot, &options),
    }
}
