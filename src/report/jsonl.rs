//! `--format jsonl`: one socket per line (JSON Lines), for log shippers that split on newlines
//! and parse each line on its own (Vector's and Fluent Bit's `exec` inputs, a tailed file).
//!
//! Each line is the socket object of the JSON document with the envelope a line needs once it
//! has left the machine: `schema` (the document's `version`), `host` and `taken_at`.

use std::io::{self, Write};

use serde::Serialize;

use super::json::{JsonSocket, SCHEMA_VERSION, socket};
use crate::model::{SafeText, Snapshot};
use crate::present::rfc3339_at;

#[derive(Serialize)]
struct Line<'a> {
    schema: u32,
    host: &'a SafeText,
    taken_at: Option<&'a str>,
    #[serde(flatten)]
    socket: JsonSocket<'a>,
}

pub fn write_jsonl(out: &mut dyn Write, snapshot: &Snapshot) -> io::Result<()> {
    let taken_at = rfc3339_at(snapshot.taken_at);
    for each in &snapshot.sockets {
        let line = Line {
            schema: SCHEMA_VERSION,
            host: &snapshot.host,
            taken_at: taken_at.as_deref(),
            socket: socket(snapshot, each),
        };
        serde_json::to_writer(&mut *out, &line).map_err(io::Error::from)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
