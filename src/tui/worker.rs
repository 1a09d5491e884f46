//! The collector thread: owns the long-lived Collector, collects on a timer or on request,
//! never two collections at once, and the latest request wins. A panic here ends the view with
//! the error shown, instead of leaving it drawing stale data.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use super::app::Event;
use super::terminal;
use crate::collect::{Collector, Refresh, Request as Collect};
use crate::filter::Filter;
use crate::model::Selection;

/// The collector may use at most this share of one core. On a huge host (100,000 listeners,
/// where the kernel alone needs ~100 ms to dump the table) refreshes are spaced out, and the
/// header says so, rather than the view eating a core.
const CPU_BUDGET: f64 = 0.08;

pub enum Request {
    Refresh,
    Reconfigure(Selection),
    Pause(bool),
    /// What a new bind of this port would meet in that namespace (at that path; None: ours).
    Bind(super::app::BindKey, Option<std::path::PathBuf>),
}

struct Worker {
    collector: Collector,
    filter: Filter,
    interval: Duration,
    /// The interval actually kept: `interval`, or longer when a refresh costs more CPU than
    /// the budget allows.
    pace: Duration,
    /// What the last few refreshes cost: the budget is an average, so one that had to do a
    /// full scan does not slow the next one down on its own.
    costs: std::collections::VecDeque<Duration>,
    /// The first collection happened (it is not counted).
    primed: bool,
    paused: bool,
    events: Sender<Event>,
}

/// How many refreshes the cost is averaged over.
const COST_WINDOW: usize = 8;

/// Starts the thread; it ends when the request sender is dropped or the UI is gone.
pub fn spawn(filter: Filter, interval: Duration, events: Sender<Event>) -> Sender<Request> {
    let (requests, inbox) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let failed = events.clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut worker = Worker {
                collector: filter.collector(),
                filter,
                interval,
                pace: interval,
                costs: std::collections::VecDeque::with_capacity(COST_WINDOW),
                primed: false,
                paused: false,
                events,
            };
            worker.run(&inbox);
        }));
        if let Err(panic) = outcome {
            let message = terminal::panic_message(panic.as_ref());
            let _ = failed.send(Event::CollectorFailed(message));
        }
    });
    requests
}

impl Worker {
    fn run(&mut self, inbox: &Receiver<Request>) {
        let mut due = Instant::now();
        loop {
            let wait = due.saturating_duration_since(Instant::now());
            let forced = match inbox.recv_timeout(wait) {
                Ok(request) => self.apply_all(request, inbox),
                Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let timer_fired = Instant::now() >= due;
            if !(forced || (timer_fired && !self.paused)) {
                if timer_fired {
                    due = Instant::now() + self.pace;
                }
                continue;
            }
            let before = process_cpu();
            if !self.collect_and_send() {
                return;
            }
            if std::env::var_os("PORTSCOPE_DEBUG_PACE").is_some() {
                eprintln!("cost {:?}", process_cpu().saturating_sub(before));
            }
            if !self.keep_pace(process_cpu().saturating_sub(before)) {
                return;
            }
            due = Instant::now() + self.pace;
        }
    }

    /// Applies this request and every one queued behind it; true if a collection is wanted now.
    fn apply_all(&mut self, first: Request, inbox: &Receiver<Request>) -> bool {
        let mut now = self.apply(first);
        while let Ok(next) = inbox.try_recv() {
            now |= self.apply(next);
        }
        now
    }

    fn apply(&mut self, request: Request) -> bool {
        match request {
            Request::Refresh => true,
            Request::Reconfigure(selection) => {
                self.filter.selection = selection;
                true
            }
            Request::Pause(paused) => {
                self.paused = paused;
                !paused
            }
            Request::Bind(key, path) => {
                let (_, proto, port) = key;
                let report =
                    crate::app::bind::wildcard_report(&mut self.collector, path, proto, port);
                let _ = self.events.send(Event::Bind(key, report.map(Box::new)));
                false
            }
        }
    }

    /// Spaces refreshes out when one cost more than the budget; tells the view when the pace
    /// changes. False when the UI has gone away.
    fn keep_pace(&mut self, cost: Duration) -> bool {
        // The first collection reads everything from scratch; the budget is for the ones after.
        if !std::mem::replace(&mut self.primed, true) {
            return true;
        }
        if self.costs.len() == COST_WINDOW {
            self.costs.pop_front();
        }
        self.costs.push_back(cost);
        let count = u32::try_from(self.costs.len()).unwrap_or(1).max(1);
        let average = self.costs.iter().sum::<Duration>() / count;
        let pace = pace_for(average, self.interval);
        if pace == self.pace {
            return true;
        }
        self.pace = pace;
        let slowed = (pace > self.interval).then_some(pace);
        self.events.send(Event::Pace(slowed)).is_ok()
    }

    /// False when the UI has gone away.
    fn collect_and_send(&mut self) -> bool {
        let filter = &self.filter;
        let request = Collect {
            selection: filter.selection,
            connections: true,
        };
        let event = match self.collector.refresh(&request, &|s| filter.keep_socket(s)) {
            Ok(Refresh::Changed(snapshot)) => Event::Snapshot(Box::new(filter.apply(*snapshot))),
            Ok(Refresh::Unchanged {
                taken_at,
                connections,
            }) => Event::Unchanged(taken_at, connections),
            Err(error) => Event::CollectError(error.to_string()),
        };
        self.events.send(event).is_ok()
    }
}

/// The interval to keep after a refresh that cost `cost` of CPU: `interval`, or as long as it
/// takes for that cost to stay within the budget, in tenths of a second (so the header does
/// not flicker with every refresh).
fn pace_for(cost: Duration, interval: Duration) -> Duration {
    let needed = cost.div_f64(CPU_BUDGET);
    let tenths = u64::try_from(needed.as_millis().div_ceil(100)).unwrap_or(u64::MAX / 100);
    Duration::from_millis(tenths.saturating_mul(100)).max(interval)
}

/// CPU time of the whole process so far: the collection runs on helper threads too (the
/// parallel owner scan, the namespace workers), and the budget is for all of it.
#[cfg(target_os = "linux")]
fn process_cpu() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// Elsewhere the wall clock stands in (the collector thread mostly computes).
#[cfg(not(target_os = "linux"))]
fn process_cpu() -> Duration {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_are_spaced_out_only_past_the_budget() {
        let ms = Duration::from_millis;
        assert_eq!(pace_for(ms(5), ms(1000)), ms(1000));
        assert_eq!(pace_for(ms(80), ms(1000)), ms(1000));
        assert_eq!(pace_for(ms(170), ms(1000)), ms(2200));
        assert_eq!(pace_for(ms(170), ms(5000)), ms(5000));
        assert!(process_cpu() > Duration::ZERO);
    }
}
