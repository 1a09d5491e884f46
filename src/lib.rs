//! portscope: a local port inspector.
//!
//! `collect` turns the OS's socket tables into a [`model::Snapshot`]; `report`, `query` and the
//! live view (`tui`) read only that snapshot, and show it in the words of `present`. `cli` is
//! read only by `app` (and `main`); `collect` and `model` never touch the terminal or the CLI.

pub mod app;
pub mod bind;
pub mod cli;
pub mod collect;
pub mod filter;
pub mod model;
pub mod present;
pub mod query;
pub mod report;
pub mod sanitize;
pub mod stop;
pub mod tui;
