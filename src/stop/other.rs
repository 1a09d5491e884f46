//! Without pidfds a signal could hit a process that reused the pid, so nothing is ever sent.

use super::{Refusal, Sent, StopSignal};

pub fn parent_pid() -> Option<u32> {
    None
}

pub fn refuse_process(_pid: u32) -> Option<Refusal> {
    Some(Refusal::Unsupported)
}

pub fn holds_socket(_pid: u32, _inode: u64) -> bool {
    false
}

#[derive(Debug)]
pub struct Handle;

impl Handle {
    pub fn open(_pid: u32, _expected_ticks: u64) -> Result<Self, Refusal> {
        Err(Refusal::Unsupported)
    }
    pub fn is_same_process(&self) -> bool {
        false
    }
    pub fn is_alive(&self) -> bool {
        false
    }
    pub fn send(&self, _signal: StopSignal) -> Sent {
        Sent::Failed("stopping processes is only supported on Linux".into())
    }
}
