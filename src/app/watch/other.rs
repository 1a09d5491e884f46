//! Sleeping between refreshes where there is no `poll` on stdout to lean on: short naps that
//! check a flag SIGINT and SIGTERM set. A reader that went away is noticed at the next write.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};

use super::Wake;

const NAP: Duration = Duration::from_millis(100);

pub struct Waiter {
    stop: Arc<AtomicBool>,
}

impl Waiter {
    pub fn new() -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&stop))?;
        }
        Ok(Waiter { stop })
    }

    pub fn sleep(&mut self, interval: Duration) -> Wake {
        let deadline = Instant::now() + interval;
        while !self.stop.load(Ordering::Relaxed) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Wake::Tick;
            }
            std::thread::sleep(left.min(NAP));
        }
        Wake::Stop
    }
}
