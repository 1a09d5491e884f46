//! `--once`: one snapshot, as a table or JSON.

use std::io::Write;

use super::{AppError, OnceConfig, Output, exit};
use crate::collect::{Collector, Request};
use crate::report::json::write_json;
use crate::report::table::{TableOptions, write_table};
use crate::report::{Format, Paint};

pub fn run(config: &OnceConfig, output: Output, out: &mut dyn Write) -> Result<u8, AppError> {
    let filter = &config.filter;
    let request = Request {
        selection: filter.selection,
        connections: false,
    };
    let snapshot = Collector::with_scope(filter.netns.clone())
        .collect(&request, &|s| filter.keep_socket(s))?;
    let snapshot = filter.apply(snapshot);
    match config.format {
        Format::Json => write_json(out, &snapshot, None)?,
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
