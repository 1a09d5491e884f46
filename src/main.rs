//! portscope: who holds that port? The binary is only the edge: parse, run, map to an exit code.

use std::process::ExitCode;

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use portscope::app::{self, exit};
use portscope::cli::{self, Cli};
use portscope::sanitize;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return ExitCode::from(usage_error(&error)),
    };
    match app::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) if error.is_broken_pipe() => ExitCode::from(exit::OK),
        Err(error) => {
            eprintln!("portscope: {}", sanitize::sanitize_str(&error.to_string()));
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
        return match error.print() {
            Ok(()) => exit::OK,
            Err(_) => exit::OUTPUT_FAILED,
        };
    }
    eprintln!("portscope: {}", sanitize::sanitize_str(&one_line(error)));
    exit::USAGE
}

fn one_line(error: &clap::Error) -> String {
    if let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg)
        && error.kind() == ErrorKind::UnknownArgument
        && let Some(digits) = arg.strip_prefix('-')
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return format!(
            "invalid port '{arg}': a port is a whole number from 1 to 65535; {}",
            cli::PORT_FORMS
        );
    }
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
