//! Helper scripts (tests/support/*.py) that print one JSON ready line, hold what they made
//! until their stdin closes, then undo it.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A helper script that prints one JSON ready line and undoes everything when its stdin closes.
pub struct Ready {
    child: Child,
    stdin: Option<ChildStdin>,
    pub line: Value,
}

impl Ready {
    /// None when the script exits 77 (a tool it needs is missing), with its reason.
    pub fn start(argv: &[&str]) -> Result<Ready, String> {
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the ready line");
        if line.trim().is_empty() {
            let output = child.wait_with_output().expect("wait");
            let why = String::from_utf8_lossy(&output.stderr).trim().to_string();
            if output.status.code() == Some(77) {
                return Err(why);
            }
            panic!("{argv:?} failed ({:?}): {why}", output.status);
        }
        let stdin = child.stdin.take();
        Ok(Ready {
            child,
            stdin,
            line: serde_json::from_str(&line).expect("ready line is JSON"),
        })
    }
}

impl Drop for Ready {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
