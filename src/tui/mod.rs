//! The live view: one event channel fed by an input thread, a signal thread and the collector
//! thread; the main thread does `recv → update → draw`.

pub mod keys;
pub mod render;
pub mod state;
mod terminal;
mod worker;

use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::Duration;

use crossterm::event::{self, Event as TermEvent, KeyEvent, MouseEvent, MouseEventKind};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::filter::Filter;
use crate::model::Snapshot;
use crate::report::stop::sent_line;
pub use render::Theme;
use state::{Action, App, Overlay, View};
use worker::Request;

pub enum Event {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize,
    Snapshot(Box<Snapshot>),
    CollectError(String),
    Signal(i32),
}

/// Runs until the user quits; returns the exit status (128 + signal when a signal ended it).
pub fn run(filter: Filter, interval: Duration, theme: Theme) -> std::io::Result<u8> {
    let (events, inbox) = mpsc::channel();
    spawn_input(events.clone());
    spawn_signals(events.clone())?;
    let view = View {
        tcp: filter.tables.tcp,
        udp: filter.tables.udp,
        ipv4: filter.tables.ipv4,
        ipv6: filter.tables.ipv6,
        all: filter.all,
    };
    let mut worker_filter = filter;
    worker_filter.tables = view.tables();
    let requests = worker::spawn(worker_filter, interval, events);
    let mut app = App::new(view, interval, host_name());
    let (mut term, _guard) = terminal::enter()?;
    loop {
        term.draw(|frame| render::draw(frame, &mut app, theme))?;
        let Ok(event) = inbox.recv() else {
            return Ok(0);
        };
        // Handle everything already queued before drawing again.
        for event in std::iter::once(event).chain(inbox.try_iter()) {
            match handle(&mut app, event, &requests) {
                Some(code) => return Ok(code),
                None => continue,
            }
        }
    }
}

/// Applies one event; Some(exit status) when the view should close.
fn handle(app: &mut App, event: Event, requests: &Sender<Request>) -> Option<u8> {
    let action = match event {
        Event::Key(key) => on_key(app, key),
        Event::Mouse(mouse) => on_mouse(app, mouse),
        Event::Resize => Action::None,
        Event::Snapshot(snapshot) => {
            app.apply_snapshot(*snapshot);
            Action::None
        }
        Event::CollectError(message) => {
            app.apply_error(message);
            Action::None
        }
        Event::Signal(signal) => return Some(128 + signal as u8),
    };
    let request = match action {
        Action::None => return None,
        Action::Quit => return Some(0),
        Action::Refresh => Request::Refresh,
        Action::Reconfigure(tables) => Request::Reconfigure(tables),
        Action::Pause(paused) => Request::Pause(paused),
        Action::PrepareStop => {
            prepare_stop(app);
            return None;
        }
        Action::ExecuteStop => {
            execute_stop(app);
            Request::Refresh
        }
    };
    // The worker only goes away with the process; nothing to do if it has.
    let _ = requests.send(request);
    None
}

fn on_key(app: &mut App, key: KeyEvent) -> Action {
    let ctrl_c = key.code == crossterm::event::KeyCode::Char('c')
        && key
            .modifiers
            .contains(crossterm::event::KeyModifiers::CONTROL);
    if ctrl_c {
        return Action::Quit;
    }
    if app.overlay == Overlay::ConfirmStop {
        let yes = matches!(key.code, crossterm::event::KeyCode::Char('y' | 'Y'));
        return app.answer_stop(yes);
    }
    if app.overlay == Overlay::Filter {
        if let Some(input) = keys::filter_input(key) {
            app.filter_input(input);
        }
        return Action::None;
    }
    match keys::command_for(key) {
        Some(keys::Command::Close) if !app.has_open_layer() => Action::Quit,
        Some(command) => app.command(command),
        None => Action::None,
    }
}

fn on_mouse(app: &mut App, mouse: MouseEvent) -> Action {
    match mouse.kind {
        MouseEventKind::ScrollDown => app.move_by(3),
        MouseEventKind::ScrollUp => app.move_by(-3),
        MouseEventKind::Down(_) => app.click(mouse.row),
        _ => {}
    }
    Action::None
}

/// Opens pidfds for every holder of the selected listener, then asks.
fn prepare_stop(app: &mut App) {
    let (Some(snapshot), Some(socket)) = (&app.snapshot, app.selected_socket()) else {
        return;
    };
    let plan = crate::stop::plan(snapshot, &[socket]);
    app.show_stop_plan(plan);
}

/// Signals the planned holders (each re-verified first) and watches the port for a few
/// refreshes.
fn execute_stop(app: &mut App) {
    let Some(plan) = app.stop_plan.take() else {
        return;
    };
    let signal = crate::stop::StopSignal::Term;
    let messages = plan
        .targets
        .iter()
        .map(|target| sent_line(target, signal, &crate::stop::signal(target, signal)))
        .collect();
    let watch = plan
        .targets
        .first()
        .and_then(|t| t.sockets.first())
        .map(|s| state::StopWatch {
            proto: s.proto,
            port: s.port,
            until_generation: app.generation + 5,
        });
    app.stop_sent(messages, watch);
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
fn spawn_signals(events: Sender<Event>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGHUP, SIGINT, SIGQUIT])?;
    thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let _ = events.send(Event::Signal(signal));
        }
    });
    Ok(())
}

fn host_name() -> String {
    let name = sysinfo::System::host_name().unwrap_or_else(|_| "localhost".into());
    crate::model::SafeText::new(&name).to_string()
}
