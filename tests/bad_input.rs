//! Bad command lines: exit 2, exactly one `portscope: ` line on stderr naming the offending
//! argument, nothing on stdout, never a panic.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Output;

use common::BIN;

fn run_raw(args: &[&OsStr]) -> Output {
    std::process::Command::new(BIN)
        .args(args)
        .env_remove("COLUMNS")
        .output()
        .expect("run portscope")
}

/// Checks the usage-error contract and returns the one stderr line.
fn assert_usage_error(args: &[&OsStr], offending: &str) -> String {
    let output = run_raw(args);
    let what = format!("portscope {args:?}");
    let stderr = String::from_utf8(output.stderr.clone())
        .unwrap_or_else(|_| panic!("{what}: stderr is not UTF-8: {:?}", output.stderr));
    assert_eq!(output.status.code(), Some(2), "{what}: stderr {stderr:?}");
    assert!(
        output.stdout.is_empty(),
        "{what}: stdout {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr:?}");
    assert!(stderr.ends_with('\n'), "{what}: {stderr:?}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: one line on stderr: {stderr:?}");
    let line = lines[0];
    assert!(line.starts_with("portscope: "), "{what}: {line:?}");
    assert!(
        line.len() > "portscope: ".len() + 10,
        "{what}: says why: {line:?}"
    );
    assert!(
        line.bytes().all(|b| b >= 0x20 && b != 0x7f),
        "{what}: control bytes in {line:?}"
    );
    assert!(
        line.contains(offending),
        "{what}: the message names {offending:?}: {line:?}"
    );
    line.to_string()
}

fn check(args: &[&str], offending: &str) -> String {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    assert_usage_error(&args, offending)
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    // (argv, text the message must contain)
    let table: &[(&[&str], &str)] = &[
        (&["65536"], "'65536'"),
        (&["0"], "'0'"),
        (&["-1"], "'-1'"),
        (&["abc"], "'abc'"),
        (&[""], "empty port"),
        (&["3010-3000"], "'3010-3000'"),
        (&["+3000"], "'+3000'"),
        (&["0x50"], "'0x50'"),
        (&["3000/sctp"], "'3000/sctp'"),
        (&["--interval", "5ms"], "'5ms'"),
        (&["--interval", "soon"], "'soon'"),
        (&["--color", "purple"], "'purple'"),
        (&["--bogus"], "'--bogus'"),
        // A few more of the same kinds.
        (&["3000", "65536"], "'65536'"),
        (&["--once", "abc"], "'abc'"),
        (&["3000/"], "'3000/'"),
        (&[":"], "':'"),
        (&["3000.0"], "'3000.0'"),
        (&["99999999999999999999"], "'99999999999999999999'"),
        (&["--interval", "2h"], "'2h'"),
        (&["--pid", "abc"], "'abc'"),
        (&["--completions", "tcsh"], "'tcsh'"),
    ];
    for (args, offending) in table {
        check(args, offending);
    }
}

/// The fleet outputs refuse what they cannot do, each in one line naming the option.
#[test]
fn fleet_options_refuse_what_they_cannot_do() {
    let table: &[(&[&str], &str)] = &[
        (&["--prometheus-textfile", "/tmp/x.txt"], "'/tmp/x.txt'"),
        (
            &["--prometheus-textfile", "/tmp/x.txt"],
            "must end in .prom",
        ),
        (&["--prometheus-textfile", "/tmp/dir/"], "must end in .prom"),
        (
            &["--prometheus-textfile", "/tmp/x.prom.tmp"],
            "must end in .prom",
        ),
        (
            &["--prometheus-textfile", "a.prom", "--json"],
            "--prometheus-textfile",
        ),
        (
            &["--prometheus-textfile", "a.prom", "--format", "jsonl"],
            "--format",
        ),
        (&["--prometheus-all"], "--prometheus-all"),
        (&["--prometheus-all", "--json"], "--prometheus-all"),
        (&["--watch"], "--watch"),
        (&["--watch", "--format", "table"], "--format jsonl"),
        (&["--watch", "--format", "prometheus"], "--watch"),
        (&["--watch", "--json", "--all"], "--all"),
        (&["--watch", "--json", "--once"], "--once"),
        (&["--watch", "--json", "--interval", "50ms"], "'50ms'"),
        (&["3000", "--kill", "--format", "jsonl"], "--kill"),
        (
            &["3000", "--kill", "--prometheus-textfile", "a.prom"],
            "--kill",
        ),
    ];
    for (args, offending) in table {
        check(args, offending);
    }
}

/// The bind options need a port, and their hint shows them, not another option.
#[test]
fn bind_options_without_their_port_or_bind_are_refused() {
    // It used to print the --once table, exit 0, as if --bind had not been given.
    let line = check(&["--bind", "1.2.3.4"], "<PORT>");
    assert!(line.contains("portscope 3000 --bind"), "{line}");
    let line = check(&["3000", "--as", "nobody"], "--bind");
    assert!(line.contains("e.g. portscope 3000 --bind"), "{line}");
    let line = check(&["3000", "--yes"], "--kill");
    assert!(line.contains("e.g. portscope 3000 --kill"), "{line}");
}

#[test]
fn a_reversed_range_says_how_to_fix_it() {
    let line = check(&["3010-3000"], "'3010-3000'");
    assert!(line.contains("3000-3010"), "{line}");
}

#[test]
fn a_negative_port_of_several_digits_is_named_whole() {
    // clap sees `-3000` as the short flags -3 -0 -0 -0; the message must still name `-3000`.
    check(&["-3000"], "'-3000'");
    check(&["-8000-8100"], "'-8000-8100'");
}

#[test]
fn escape_sequences_in_an_argument_are_shown_escaped() {
    // A hostile argument is neither printed raw nor silently dropped from the message.
    check(&["\x1b]0;pwned\x07"], "\\e]0;pwned\\x07");
    check(&["\x1b[31m3000"], "\\e[31m3000");
}

#[test]
fn other_controls_in_an_argument_are_shown_escaped() {
    check(&["\u{202e}3000"], "\\u{202e}3000");
    check(&["30\r00"], "30\\r00");
    check(&["30\u{9b}00"], "30\\u{9b}00");
}

#[test]
fn invalid_utf8_in_an_argument_is_shown_escaped() {
    let arg = OsStr::from_bytes(b"30\xff00");
    assert_usage_error(&[arg], "30\\xff00");
}

/// Each message names the argument and says what it accepts; a value given to an option is
/// never taken for a negative port.
#[test]
fn each_option_names_itself_and_what_it_accepts() {
    let table: &[(&[&str], &[&str])] = &[
        (
            &["--kill"],
            &["--kill needs the ports", "portscope 3000 --kill"],
        ),
        (
            &["--interval", "-1s"],
            &["for --interval <DURATION>:", "'-1s'", "negative"],
        ),
        (
            &["--signal", "-1", "80", "--kill"],
            &["for --signal <SIGNAL>:", "'-1'", "TERM"],
        ),
        (
            &["--timeout", "-1", "80", "--kill"],
            &["for --timeout <DURATION>:", "'-1'"],
        ),
        (
            &["--pid", "-1"],
            &["for --pid <PID>:", "'-1'", "1 to 2147483647"],
        ),
        (
            &["--pid", "abc"],
            &["for --pid <PID>:", "'abc'", "a pid is a whole number"],
        ),
        (&["--pid", "0"], &["for --pid <PID>:", "out of range"]),
        (
            &["--user", "no-such-user-portscope"],
            &["for --user <USER>:", "no such user"],
        ),
        (&["--yes"], &["--kill"]),
        (&["--format", "xml"], &["'xml'", "table, json"]),
        (
            &["--once", "--owner-scan"],
            &["--owner-scan <HOW> needs a value: one of auto, bpf, proc"],
        ),
        (
            &["--owner-scan=", "--once"],
            &["--owner-scan <HOW> needs a value: one of auto, bpf, proc"],
        ),
        (&["--color"], &["--color <WHEN> needs a value: one of"]),
        (&["--json", "--format", "table"], &["--format"]),
    ];
    for (args, wanted) in table {
        let line = check(args, wanted[0]);
        for part in wanted.iter().skip(1) {
            assert!(
                line.contains(part),
                "{args:?}: {part:?} missing in {line:?}"
            );
        }
        assert!(!line.contains("invalid port"), "{args:?}: {line}");
    }
}

/// A stderr that cannot be written (a full disk) still ends with the documented exit code, not
/// a panic (exit 101).
#[test]
fn an_unwritable_stderr_keeps_the_exit_code() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let output = std::process::Command::new(BIN)
        .arg("0")
        .stderr(full)
        .output()
        .expect("run portscope");
    assert_eq!(output.status.code(), Some(2));
}
