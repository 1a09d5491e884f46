//! Identity facts about one process, read fresh, for stopping it safely.

use std::collections::HashSet;
use std::fs;

use super::owners::scan_one;

/// PF_KTHREAD in the flags field of /proc/<pid>/stat.
const PF_KTHREAD: u64 = 0x0020_0000;

/// What makes a process *this* process: its start time in clock ticks since boot (a reused pid
/// gets a new one), and whether it is a kernel thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub start_ticks: u64,
    pub kernel_thread: bool,
}

pub fn identity(pid: u32) -> Option<Identity> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Fields after the command name, which may itself contain spaces and parentheses.
fn parse_stat(stat: &str) -> Option<Identity> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state): flags is field 9, starttime field 22.
    let flags: u64 = fields.get(6)?.parse().ok()?;
    let start_ticks = fields.get(19)?.parse().ok()?;
    Some(Identity {
        start_ticks,
        kernel_thread: flags & PF_KTHREAD != 0,
    })
}

/// Does `pid` hold an fd to socket `inode` right now?
pub fn holds_socket(pid: u32, inode: u64) -> bool {
    scan_one(pid, &HashSet::from([inode]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parens() {
        let stat = "42 (evil) (x y) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 0 0";
        assert_eq!(
            parse_stat(stat),
            Some(Identity {
                start_ticks: 123456,
                kernel_thread: false
            })
        );
        let kthread = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 7 0 0";
        assert_eq!(parse_stat(kthread).map(|i| i.kernel_thread), Some(true));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_identified() {
        let me = identity(std::process::id()).expect("own stat");
        assert!(!me.kernel_thread && me.start_ticks > 0);
    }
}
