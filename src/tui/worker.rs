//! The collector thread: owns the long-lived Collector, collects on a timer or on request,
//! never two collections at once, and the latest request wins. A panic here ends the view with
//! the error shown, instead of leaving it drawing stale data.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use super::app::Event;
use super::terminal;
use crate::collect::{Collector, Request as Collect};
use crate::filter::Filter;
use crate::model::Selection;

pub enum Request {
    Refresh,
    Reconfigure(Selection),
    Pause(bool),
}

struct Worker {
    collector: Collector,
    filter: Filter,
    interval: Duration,
    paused: bool,
    events: Sender<Event>,
}

/// Starts the thread; it ends when the request sender is dropped or the UI is gone.
pub fn spawn(filter: Filter, interval: Duration, events: Sender<Event>) -> Sender<Request> {
    let (requests, inbox) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let failed = events.clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut worker = Worker {
                collector: Collector::new(),
                filter,
                interval,
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
                    due = Instant::now() + self.interval;
                }
                continue;
            }
            if !self.collect_and_send() {
                return;
            }
            due = Instant::now() + self.interval;
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
        }
    }

    /// False when the UI has gone away.
    fn collect_and_send(&mut self) -> bool {
        let filter = &self.filter;
        let request = Collect {
            selection: filter.selection,
            connections: true,
        };
        let event = match self.collector.collect(&request, &|s| filter.keep_socket(s)) {
            Ok(snapshot) => Event::Snapshot(Box::new(filter.apply(snapshot))),
            Err(error) => Event::CollectError(error.to_string()),
        };
        self.events.send(event).is_ok()
    }
}
