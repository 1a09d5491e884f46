//! The words for stopping holders, shared by `--kill` and the live view's `K` dialog.

use super::Role;
use crate::stop::{Plan, Sent, StaysOpen, StopSignal, Target};

/// The lines under the targets: who is left alone, and what stays open (shared with the live
/// view's dialog).
pub fn plan_notes(plan: &Plan) -> Vec<(String, Role)> {
    let mut lines = Vec::new();
    for (pid, name, refusal) in &plan.refused {
        lines.push((
            format!("  pid {pid} ({name}) is left alone: {refusal}"),
            Role::Warn,
        ));
    }
    for (pid, name) in &plan.left_out {
        lines.push((
            format!(
                "  pid {pid} ({name}) is left alone: outside the --pid/--user/--process filter"
            ),
            Role::Warn,
        ));
    }
    for (socket, uid, why) in &plan.hidden {
        let uid = uid.map_or_else(|| "unknown".to_string(), |u| u.to_string());
        lines.push((
            format!("  {socket}: owner hidden (socket uid {uid}), cannot be signalled: {why}"),
            Role::Hidden,
        ));
    }
    for open in &plan.stays_open {
        let line = match open {
            StaysOpen::HeldBy(socket, pids) => {
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                format!(
                    "  {socket} stays open: also held by pid {}, which will not be signalled",
                    pids.join(", ")
                )
            }
            StaysOpen::MaybeHidden(socket, why) => format!(
                "  {socket} may stay open: holders portscope cannot see may keep it ({why})"
            ),
        };
        lines.push((line, Role::Hidden));
    }
    lines
}

/// What happened to one target, in the words both the CLI and the live view use.
pub fn sent_line(target: &Target, signal: StopSignal, sent: &Sent) -> String {
    let who = format!("pid {} ({})", target.pid, target.name);
    match sent {
        Sent::Signalled => format!("sent {signal} to {who}"),
        Sent::Skipped(refusal) => format!("{who}: nothing sent: {refusal}"),
        Sent::NoLongerHolds => format!("{who}: nothing sent: it no longer holds the socket"),
        Sent::PermissionDenied => {
            let user = target
                .user
                .as_ref()
                .map_or_else(|| "another user".to_string(), |u| format!("user {u}"));
            format!("{who}: permission denied: it belongs to {user}; try again with sudo")
        }
        Sent::Failed(error) => format!("{who}: could not send {signal}: {error}"),
    }
}
