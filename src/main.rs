//! portscope: who holds that port? The binary is only the edge: parse, run, map to an exit code.
//! Every message goes to stderr through a path that cannot panic (a full or closed stderr is
//! ignored, as a shell would).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use portscope::app::{self, AppError, exit, say_error};
use portscope::cli::{self, Cli};
use portscope::sanitize;

fn main() -> ExitCode {
    // The bind probe's child (see collect::bindinfo): no CLI, no threads, one line out.
    #[cfg(target_os = "linux")]
    {
        // args_os: an argument that is not UTF-8 must reach clap's one-line error, not panic.
        let mut args = std::env::args_os().skip(1);
        let probe = std::ffi::OsStr::new(portscope::collect::bindinfo::PROBE_FLAG);
        if args.next().as_deref() == Some(probe) {
            let rest: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
            return ExitCode::from(portscope::collect::bindinfo::run_probe(&rest));
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return ExitCode::from(usage_error(&error)),
    };
    match app::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) if error.is_broken_pipe() => ExitCode::from(exit::OK),
        Err(error) => {
            say_error(&sanitize::sanitize_str(&error.to_string()));
            ExitCode::from(error.exit_code())
        }
    }
}

/// Help and version go to stdout as usual; every real usage error becomes one line on stderr.
fn usage_error(error: &clap::Error) -> u8 {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let mut stdout = std::io::stdout().lock();
        let written = write!(stdout, "{}", error.render()).and_then(|()| stdout.flush());
        return match written {
            Ok(()) => exit::OK,
            Err(e) => {
                say_error(&AppError::Output(e).to_string());
                exit::OUTPUT_FAILED
            }
        };
    }
    say_error(&one_line(error));
    exit::USAGE
}

/// One line naming the offending argument, already sanitized. The raw arguments are consulted
/// because clap's rendered message strips escape sequences (hiding what was typed) and names
/// only the first short flag of `-3000`.
fn one_line(error: &clap::Error) -> String {
    let raw: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if error.kind() == ErrorKind::InvalidUtf8 {
        let bad = raw.iter().find(|a| a.to_str().is_none());
        let shown = bad.map(|a| sanitize::sanitize_os(a)).unwrap_or_default();
        return format!(
            "invalid argument '{shown}': not valid UTF-8; {}",
            cli::port_forms()
        );
    }
    if let Some(arg) = negative_number(error, &raw) {
        return format!(
            "invalid port '{}': a port is a whole number from 1 to 65535; {}",
            sanitize::sanitize_str(&arg),
            cli::port_forms()
        );
    }
    if error.kind() == ErrorKind::MissingRequiredArgument
        && let Some(ContextValue::Strings(missing)) = error.get(ContextKind::InvalidArg)
    {
        let missing = missing.join(", ");
        // An example of the option that is missing, not of another one.
        let example = if missing.contains("--bind") {
            "portscope 3000 --bind --as nobody"
        } else if missing.contains("--kill") {
            "portscope 3000 --kill --yes"
        } else {
            "portscope 3000 --bind 127.0.0.1"
        };
        return sanitize::sanitize_str(&format!(
            "an option given works only with {missing}: add it, e.g. {example} (see portscope --help)"
        ))
        .into_owned();
    }
    let value = error.get(ContextKind::InvalidValue);
    let arg = error.get(ContextKind::InvalidArg);
    if let (Some(ContextValue::String(value)), Some(ContextValue::String(arg))) = (value, arg) {
        if let Some(reason) = std::error::Error::source(error) {
            let reason = reason.to_string();
            return sanitize::sanitize_str(&format!("invalid value '{value}' for {arg}: {reason}"))
                .into_owned();
        }
        if let Some(ContextValue::Strings(valid)) = error.get(ContextKind::ValidValue) {
            let valid = valid.join(", ");
            // `--owner-scan` last, or `--owner-scan=`: clap reports an empty value.
            if value.is_empty() {
                return sanitize::sanitize_str(&format!("{arg} needs a value: one of {valid}"))
                    .into_owned();
            }
            return sanitize::sanitize_str(&format!(
                "invalid value '{value}' for {arg}: use one of {valid}"
            ))
            .into_owned();
        }
    }
    sanitize::sanitize_str(&rendered_line(error)).into_owned()
}

/// `-3000` or `-80-90` typed as a port: clap sees an unknown short flag `-3`.
fn negative_number(error: &clap::Error, raw: &[std::ffi::OsString]) -> Option<String> {
    if error.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(flag)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let digits = flag.strip_prefix('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = raw
        .iter()
        .filter_map(|a| a.to_str())
        .find(|a| a.starts_with(flag.as_str()));
    Some(whole.unwrap_or(flag).to_string())
}

/// clap's own message and tips folded onto one line.
fn rendered_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let mut parts = rendered
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("error:") || l.starts_with("tip:"))
        .map(|l| l.trim_start_matches("error: ").trim_start_matches("tip: "));
    let first = parts.next().unwrap_or("invalid arguments").to_string();
    let rest: Vec<&str> = parts.collect();
    let mut line = if rest.is_empty() {
        first
    } else {
        format!("{first}; {}", rest.join("; "))
    };
    line.push_str(" (see portscope --help)");
    line
}
