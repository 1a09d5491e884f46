//! Generates `$OUT_DIR/iana_services.rs` from `data/iana/ports.json`, and on Linux compiles
//! the BPF owner map `bpf/task_sockets.bpf.c` into `$OUT_DIR/task_sockets.bpf.o` when clang is
//! available (then `cfg(portscope_bpf)` is set).
//!
//! The data file maps `"<port>/<proto>"` to `{"name": ..., "description": ...}`
//! (see `data/iana/README.md`). We keep TCP and UDP entries with a non-empty
//! name; the output is two tables sorted by port, one name per port.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

use serde_json::{Map, Value};

const DATA: &str = "data/iana/ports.json";
const OUTPUT: &str = "iana_services.rs";
const BPF_SOURCE: &str = "bpf/task_sockets.bpf.c";
const BPF_OBJECT: &str = "task_sockets.bpf.o";

type BoxError = Box<dyn Error>;

fn main() -> Result<(), BoxError> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed={DATA}");

    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    let out_dir = env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?;
    let data_path = Path::new(&manifest_dir).join(DATA);

    let text = fs::read_to_string(&data_path)
        .map_err(|e| format!("reading {}: {e}", data_path.display()))?;
    let (tcp, udp) = tables(&text).map_err(|e| format!("{}: {e}", data_path.display()))?;
    let code = render(&tcp, &udp)?;

    let out_path = PathBuf::from(&out_dir).join(OUTPUT);
    // Leave an identical file untouched so its mtime does not change.
    if fs::read_to_string(&out_path).ok().as_deref() != Some(code.as_str()) {
        fs::write(&out_path, code).map_err(|e| format!("writing {}: {e}", out_path.display()))?;
    }
    build_bpf(Path::new(&manifest_dir), Path::new(&out_dir));
    Ok(())
}

/// Compiles the BPF program, or says why the binary will report "bpf: not built in". Never
/// fails the build: the `/proc` owner scan works without it.
fn build_bpf(manifest_dir: &Path, out_dir: &Path) {
    println!("cargo::rustc-check-cfg=cfg(portscope_bpf)");
    println!("cargo::rerun-if-changed={BPF_SOURCE}");
    println!("cargo::rerun-if-env-changed=CLANG");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let Some(clang) = find_clang() else {
        println!(
            "cargo::warning=BPF owner map not built in (clang not found; set CLANG or install clang)"
        );
        // Installing clang adds a file to a PATH directory: build again then.
        for dir in env::split_paths(&env::var_os("PATH").unwrap_or_default()) {
            if dir.is_absolute() && dir.is_dir() {
                println!("cargo::rerun-if-changed={}", dir.display());
            }
        }
        return;
    };
    match compile_bpf(
        &clang,
        &manifest_dir.join(BPF_SOURCE),
        &out_dir.join(BPF_OBJECT),
    ) {
        Ok(()) => println!("cargo::rustc-cfg=portscope_bpf"),
        Err(why) => println!("cargo::warning=BPF owner map not built in ({why})"),
    }
}

/// `$CLANG`, else `clang` on PATH.
fn find_clang() -> Option<PathBuf> {
    if let Some(clang) = env::var_os("CLANG").filter(|c| !c.is_empty()) {
        return Some(PathBuf::from(clang));
    }
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join("clang"))
        .find(|path| path.is_file())
}

fn compile_bpf(clang: &Path, source: &Path, object: &Path) -> Result<(), String> {
    // The object's byte order must match the kernel it will be loaded into.
    let target = match env::var("CARGO_CFG_TARGET_ENDIAN").as_deref() {
        Ok("big") => "bpfeb",
        _ => "bpfel",
    };
    let output = Command::new(clang)
        .args(["-target", target, "-O2", "-g", "-Wall", "-c"])
        .arg(source)
        .arg("-o")
        .arg(object)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", clang.display()))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    Err(format!("{} failed: {first}", clang.display()))
}

type Table = BTreeMap<u16, String>;

/// Splits the data file into the TCP and UDP tables (port -> first name).
fn tables(text: &str) -> Result<(Table, Table), String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // serde_json's `preserve_order` keeps the file's order, so "first listed" means what it says.
    let root: Value = serde_json::from_str(text).map_err(|e| format!("JSON error: {e}"))?;
    let Value::Object(entries) = root else {
        return Err("top level is not an object".into());
    };
    let mut tcp = Table::new();
    let mut udp = Table::new();
    for (key, value) in &entries {
        let Some((port, proto)) = key.split_once('/') else {
            return Err(format!("key {key:?} is not <port>/<proto>"));
        };
        let table = match proto {
            "tcp" => &mut tcp,
            "udp" => &mut udp,
            _ => continue, // sctp, dccp
        };
        let Some(port) = single_port(port) else {
            continue;
        };
        let Value::Object(fields) = value else {
            return Err(format!("value of {key:?} is not an object"));
        };
        let name = service_name(key, fields)?;
        if name.is_empty()
            || name.eq_ignore_ascii_case("reserved")
            || name.eq_ignore_ascii_case("unassigned")
        {
            continue;
        }
        // The first name listed for a port wins.
        table.entry(port).or_insert_with(|| name.to_owned());
    }
    Ok((tcp, udp))
}

/// Ranges ("6000-6063") and anything else that is not one port are None.
fn single_port(port: &str) -> Option<u16> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok()
}

/// The trimmed `name` field; a missing name is an empty one.
fn service_name<'a>(key: &str, fields: &'a Map<String, Value>) -> Result<&'a str, String> {
    match fields.get("name") {
        Some(Value::String(name)) => Ok(name.trim()),
        Some(_) => Err(format!("name of {key:?} is not a string")),
        None => Ok(""),
    }
}

fn render(tcp: &Table, udp: &Table) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    writeln!(out, "// @generated by build.rs from {DATA}. Do not edit.")?;
    for (ident, proto, table) in [("TCP", "tcp", tcp), ("UDP", "udp", udp)] {
        writeln!(out)?;
        writeln!(
            out,
            "/// IANA service name by {proto} port, sorted by port, one entry per port."
        )?;
        writeln!(out, "pub static {ident}: &[(u16, &str)] = &[")?;
        for (port, name) in table {
            writeln!(out, "    ({port}, {:?}),", name.as_str())?;
        }
        writeln!(out, "];")?;
    }
    Ok(out)
}
