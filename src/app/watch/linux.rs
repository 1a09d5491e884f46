//! Sleeping between refreshes on Linux: one `poll` on a self-pipe that SIGINT, SIGTERM and
//! SIGHUP write to, and on stdout for POLLERR/POLLHUP, so a signal or a reader that went away
//! ends the watch at once rather than at the next write, however long `--interval` is.

use std::io;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use signal_hook::SigId;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::low_level::{pipe, unregister};

use super::Wake;

pub struct Waiter {
    signals: UnixStream,
    registered: Vec<SigId>,
}

impl Waiter {
    pub fn new() -> io::Result<Self> {
        let (signals, wake) = UnixStream::pair()?;
        let mut registered = Vec::new();
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            registered.push(pipe::register(signal, wake.try_clone()?)?);
        }
        Ok(Waiter {
            signals,
            registered,
        })
    }

    /// Waits `interval`, or less when told to stop.
    pub fn sleep(&mut self, interval: Duration) -> Wake {
        let deadline = Instant::now() + interval;
        let stdout = io::stdout();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Wake::Tick;
            }
            let mut fds = [
                PollFd::new(&self.signals, PollFlags::IN),
                // No event asked for: POLLERR and POLLHUP are always reported.
                PollFd::new(&stdout, PollFlags::empty()),
            ];
            match poll(&mut fds, Some(&timespec(left))) {
                Ok(0) | Err(Errno::INTR) => continue,
                Ok(_) => return Wake::Stop,
                // poll itself failed (never expected): keep the pace without it.
                Err(_) => {
                    std::thread::sleep(left);
                    return Wake::Tick;
                }
            }
        }
    }
}

fn timespec(duration: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(duration.subsec_nanos()),
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        for id in self.registered.drain(..) {
            unregister(id);
        }
    }
}
