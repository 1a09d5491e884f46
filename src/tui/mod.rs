//! The live view: one event channel fed by an input thread, a signal thread and the collector
//! thread; the main thread does `recv → App::update → carry out the effect → draw`.

pub mod app;
pub mod keys;
pub mod render;
mod terminal;
mod worker;

use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::Duration;

use crossterm::event::{self, Event as TermEvent};

use crate::filter::Filter;
use crate::present::sent_line;
use crate::stop::{self, Plan, StopSignal};
use app::{App, Effect, Event, StopWatch};
pub use render::Theme;
use worker::Request;

/// Why the live view ended without a normal quit.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Terminal(#[from] std::io::Error),
    #[error("the collector stopped: {0}")]
    Collector(String),
}

/// Runs until the user quits; returns the exit status (128 + signal when a signal ended it).
pub fn run(filter: Filter, interval: Duration, theme: Theme) -> Result<u8, LiveError> {
    let (events, inbox) = mpsc::channel();
    let (mut term, _guard) = terminal::enter()?;
    spawn_input(events.clone());
    spawn_signals(events.clone())?;
    let mut app = App::new(filter.selection, interval);
    let requests = worker::spawn(filter, interval, events.clone());
    loop {
        term.draw(|frame| render::draw(frame, &mut app, theme))?;
        let Ok(event) = inbox.recv() else {
            return Ok(0);
        };
        // Handle everything already queued before drawing again.
        for event in std::iter::once(event).chain(inbox.try_iter()) {
            let effect = app.update(event);
            if let Some(end) = carry_out(&app, effect, &requests, &events) {
                return end;
            }
        }
        if let Some((key, path)) = app.bind_wanted() {
            let _ = requests.send(Request::Bind(key, path));
        }
    }
}

/// Does what `update` asked; Some(result) when the view should close.
fn carry_out(
    app: &App,
    effect: Effect,
    requests: &Sender<Request>,
    events: &Sender<Event>,
) -> Option<Result<u8, LiveError>> {
    let request = match effect {
        Effect::None => return None,
        Effect::Quit(code) => return Some(Ok(code)),
        Effect::Fail(message) => return Some(Err(LiveError::Collector(message))),
        Effect::Refresh => Request::Refresh,
        Effect::Reconfigure(selection) => Request::Reconfigure(selection),
        Effect::Pause(paused) => Request::Pause(paused),
        Effect::PlanStop(socket) => {
            let plan = app
                .snapshot
                .as_ref()
                .map_or_else(Plan::default, |snapshot| {
                    stop::plan(snapshot, &[&socket], &Default::default())
                });
            let _ = events.send(Event::StopPlanned(Box::new(plan)));
            return None;
        }
        Effect::ExecuteStop(plan) => {
            let (messages, watch) = execute_stop(&plan, app.generation);
            let _ = events.send(Event::StopSent(messages, watch));
            return None;
        }
    };
    // The worker only goes away with the process; nothing to do if it has.
    let _ = requests.send(request);
    None
}

/// Signals the planned holders (each re-verified first) and watches the port for a few
/// refreshes.
fn execute_stop(plan: &Plan, generation: u64) -> (Vec<String>, Option<StopWatch>) {
    let signal = StopSignal::Term;
    let messages = plan
        .targets
        .iter()
        .map(|target| sent_line(target, signal, &stop::signal(target, signal)))
        .collect();
    let watch = plan
        .targets
        .first()
        .and_then(|t| t.sockets.first())
        .map(|s| StopWatch {
            proto: s.proto,
            port: s.port,
            until_generation: generation + 5,
        });
    (messages, watch)
}

/// Terminal input on its own thread; it blocks in `read` and dies with the process.
fn spawn_input(events: Sender<Event>) {
    thread::spawn(move || {
        while let Ok(input) = event::read() {
            let event = match input {
                TermEvent::Key(key) => Event::Key(key),
                TermEvent::Mouse(mouse) => Event::Mouse(mouse),
                TermEvent::Resize(_, _) => Event::Resize,
                _ => continue,
            };
            if events.send(event).is_err() {
                return;
            }
        }
    });
}

/// SIGTERM, SIGHUP, SIGINT and SIGQUIT end the view through the normal path, so the terminal
/// is restored.
#[cfg(unix)]
fn spawn_signals(events: Sender<Event>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    use signal_hook::iterator::Signals;
    let mut signals = Signals::new([SIGTERM, SIGHUP, SIGINT, SIGQUIT])?;
    thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let _ = events.send(Event::Signal(signal));
        }
    });
    Ok(())
}

/// Windows: Ctrl-C arrives as a key in raw mode; there are no other signals to watch.
#[cfg(not(unix))]
fn spawn_signals(_events: Sender<Event>) -> std::io::Result<()> {
    Ok(())
}
