//! Holders whose process name, command line and working directory carry terminal escape
//! sequences, C1 controls, bidi overrides, zero-width characters and invalid UTF-8. Every output
//! (table, query answer, JSON; with and without colour) must be safe to print, byte for byte,
//! and show the hostile text in its escaped, visible form.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use common::{Holder, encode_hex, find_socket, portscope, run_json, socket_list, socket_pids};
use serde_json::Value;

/// The command-line argument every hostile holder carries, and how portscope must show it.
const ARG: &[u8] = b"A\x1b[31mB\x1b]0;pwned\x07C\rD\xc2\x9bE\x9bF\xe2\x80\xaeG\xe2\x80\x8bH\xff\xfeI\nJ\tK\\L\x7fM";
const ARG_SHOWN: &str = "A\\e[31mB\\e]0;pwned\\x07C\\rD\\u{9b}E\\x9bF\\u{202e}G\\u{200b}H\\xff\\xfeI\\nJ\\tK\\\\L\\x7fM";

/// Process names (at most 15 bytes: the kernel's limit) and how portscope must show them.
const NAMES: [(&[u8], &str); 4] = [
    // Hangul filler and braille blank: letters that draw nothing, an "empty" name.
    (b"\xe3\x85\xa4\xe2\xa0\x80", "\\u{3164}\\u{2800}"),
    (b"\x1b[31mred\rX\x9b", "\\e[31mred\\rX\\x9b"),
    (b"\x1b]0;pwned\x07", "\\e]0;pwned\\x07"),
    (
        b"\xe2\x80\xae\xe2\x80\x8b\xc2\x9b\xffz",
        "\\u{202e}\\u{200b}\\u{9b}\\xffz",
    ),
];

/// The end of the working directory's name, and how portscope must show it.
const DIR_TAIL: &[u8] = b"d\x1b[2J\x9b\xe2\x80\xae\rE";
const DIR_TAIL_SHOWN: &str = "d\\e[2J\\x9b\\u{202e}\\rE";

/// A directory with a hostile name, removed on drop.
struct HostileDir {
    path: PathBuf,
    /// How portscope must show the path.
    shown: String,
}

impl HostileDir {
    fn new(tag: &str) -> HostileDir {
        let plain = format!("/tmp/psT-hostile-{}-{tag}-", std::process::id());
        let mut bytes = plain.clone().into_bytes();
        bytes.extend_from_slice(DIR_TAIL);
        let path = PathBuf::from(OsStr::from_bytes(&bytes));
        fs::create_dir(&path).expect("create the hostile directory");
        HostileDir {
            path,
            shown: format!("{plain}{DIR_TAIL_SHOWN}"),
        }
    }
}

impl Drop for HostileDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.path);
    }
}

/// A hostile holder: name `NAMES[index]`, the hostile argument, cwd in `dir`.
fn hostile_holder(index: usize, dir: &HostileDir) -> Holder {
    let (name, _) = NAMES[index];
    let name_hex = encode_hex(name);
    let arg_hex = encode_hex(ARG);
    let holder = Holder::spawn_with(
        &[],
        &[
            "--name-hex",
            &name_hex,
            "--argv-hex",
            &arg_hex,
            "tcp4",
            "udp4",
            "shared-child",
        ],
        Some(&dir.path),
    );
    assert_eq!(holder.comm, name, "the kernel kept the hostile name");
    holder
}

/// The byte-level contract for anything portscope prints.
fn assert_safe(bytes: &[u8], color: bool, what: &str) {
    let text = std::str::from_utf8(bytes)
        .unwrap_or_else(|e| panic!("{what}: output is not UTF-8 ({e}): {bytes:?}"));
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == 0x1b {
            assert!(color, "{what}: ESC at byte {i} without colour:\n{text}");
            let len = sgr_len(&bytes[i..])
                .unwrap_or_else(|| panic!("{what}: ESC at byte {i} starts no SGR:\n{text}"));
            i += len;
            continue;
        }
        assert!(
            (b >= 0x20 || b == b'\n') && b != 0x7f,
            "{what}: control byte {b:#04x} at {i}:\n{text}"
        );
        i += 1;
    }
    for c in text.chars() {
        let bad = matches!(
            c,
            '\u{80}'..='\u{9f}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        );
        assert!(!bad, "{what}: unsafe char U+{:04X}:\n{text}", u32::from(c));
    }
}

/// Length of the SGR sequence `ESC [ (digits|;)* m` at the start of `bytes`.
fn sgr_len(bytes: &[u8]) -> Option<usize> {
    let rest = bytes.strip_prefix(b"\x1b[")?;
    let params = rest
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b';')
        .count();
    (rest.get(params) == Some(&b'm')).then_some(2 + params + 1)
}

/// The text with every SGR sequence removed.
fn strip_sgr(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match sgr_len(&bytes[i..]) {
            Some(len) => i += len,
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

fn run_bytes(args: &[&str], code: i32) -> Vec<u8> {
    let output = portscope(args).output().expect("run portscope");
    assert_eq!(
        output.status.code(),
        Some(code),
        "portscope {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_safe(&output.stderr, false, &format!("stderr of {args:?}"));
    output.stdout
}

fn assert_visible(text: &str, expected: &[&str], what: &str) {
    for shown in expected {
        assert!(
            text.contains(shown),
            "{what}: the escaped form {shown:?} is missing:\n{text}"
        );
    }
}

#[test]
fn table_escapes_hostile_names_command_lines() {
    let dir = HostileDir::new("table");
    let holders: Vec<Holder> = (0..NAMES.len()).map(|i| hostile_holder(i, &dir)).collect();
    for (holder, (_, name_shown)) in holders.iter().zip(NAMES) {
        let pid = holder.pid.to_string();
        for color in [false, true] {
            let mut args = vec!["--once", "--pid", &pid];
            if color {
                args.extend(["--color", "always"]);
            }
            let out = run_bytes(&args, 0);
            let what = format!("table {args:?}");
            assert_safe(&out, color, &what);
            if color {
                assert!(out.contains(&0x1b), "{what}: --color always paints");
            }
            let text = strip_sgr(&out);
            assert_visible(&text, &[name_shown, ARG_SHOWN, "\\e[31m"], &what);
            // Three listeners (tcp4, udp4, shared), one row each: escaping never splits a row.
            let rows = text
                .lines()
                .filter(|l| l.starts_with("tcp ") || l.starts_with("udp "))
                .count();
            assert_eq!(rows, 3, "{what}:\n{text}");
        }
    }
    // All three at once, with --all.
    let mut args = vec!["--once", "--all", "--color", "always"];
    let pids: Vec<String> = holders.iter().map(|h| h.pid.to_string()).collect();
    for pid in &pids {
        args.extend(["--pid", pid]);
    }
    let out = run_bytes(&args, 0);
    assert_safe(&out, true, "table of every hostile holder");
    let names: Vec<&str> = NAMES.iter().map(|(_, shown)| *shown).collect();
    assert_visible(&strip_sgr(&out), &names, "table of every hostile holder");
}

#[test]
fn query_answer_escapes_name_command_line_cwd_and_parent() {
    let dir = HostileDir::new("query");
    let holders: Vec<Holder> = (0..NAMES.len()).map(|i| hostile_holder(i, &dir)).collect();
    for (holder, (_, name_shown)) in holders.iter().zip(NAMES) {
        let shared = holder.one("shared-child");
        let tcp = holder.one("tcp4");
        let udp = holder.one("udp4");
        let ports = [shared.port.to_string(), tcp.port.to_string()];
        let udp_spec = format!("{}/udp", udp.port);
        for color in [false, true] {
            let mut args = vec![ports[0].as_str(), ports[1].as_str(), udp_spec.as_str()];
            if color {
                args.extend(["--color", "always"]);
            }
            let out = run_bytes(&args, 0);
            let what = format!("query {args:?}");
            assert_safe(&out, color, &what);
            let text = strip_sgr(&out);
            let parent = format!("({name_shown})");
            assert_visible(
                &text,
                &[name_shown, ARG_SHOWN, &dir.shown, &parent, "\\e]0;pwned"],
                &what,
            );
            // shared: 2 holders, tcp4: 1, udp4: 1.
            let pid_lines = text
                .lines()
                .filter(|l| l.trim_start().starts_with("pid "))
                .count();
            assert_eq!(pid_lines, 4, "{what}:\n{text}");
            let command_lines = text
                .lines()
                .filter(|l| l.trim_start().starts_with("command "))
                .count();
            assert_eq!(command_lines, 4, "{what}:\n{text}");
        }
    }
}

#[test]
fn json_escapes_every_os_string() {
    let dir = HostileDir::new("json");
    let holders: Vec<Holder> = (0..NAMES.len()).map(|i| hostile_holder(i, &dir)).collect();
    for (holder, (_, name_shown)) in holders.iter().zip(NAMES) {
        let pid = holder.pid.to_string();
        let port = holder.one("shared-child").port.to_string();
        for args in [
            vec!["--once", "--json", "--pid", &pid],
            vec![&port, "--json"],
            vec![
                "--once", "--json", "--all", "--pid", &pid, "--color", "always",
            ],
        ] {
            let out = run_bytes(&args, 0);
            let what = format!("json {args:?}");
            assert_safe(&out, false, &what);
            let doc: Value = serde_json::from_slice(&out).expect("JSON");
            assert!(!socket_list(&doc).is_empty(), "{what}");
            for socket in socket_list(&doc) {
                let processes = socket["processes"].as_array().expect("processes");
                assert!(!processes.is_empty(), "{what}: holders listed");
                for process in processes {
                    assert_eq!(process["name"], name_shown, "{what}: name");
                    assert_eq!(process["cwd"], dir.shown.as_str(), "{what}: cwd");
                    let cmdline: Vec<&str> = process["cmdline"]
                        .as_array()
                        .expect("cmdline")
                        .iter()
                        .map(|a| a.as_str().expect("string"))
                        .collect();
                    assert_eq!(
                        cmdline.iter().filter(|a| **a == ARG_SHOWN).count(),
                        1,
                        "{what}: cmdline {cmdline:?}"
                    );
                }
            }
        }
        // The shared socket still names both holders.
        let doc = run_json(&["--once", "--json", "--pid", &pid]);
        let shared = holder.one("shared-child");
        assert_eq!(
            socket_pids(find_socket(&doc, "tcp", shared.port)),
            shared.pids
        );
    }
}
