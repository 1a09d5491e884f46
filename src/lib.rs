//! portscope: a local port inspector.
//!
//! `collect` turns the OS's socket tables into a [`model::Snapshot`]; `report`, `query` and the
//! live view read only that snapshot. `collect` and `model` never touch the terminal or the CLI.

pub mod app;
pub mod cli;
pub mod collect;
pub mod filter;
pub mod model;
pub mod query;
pub mod report;
pub mod sanitize;
pub mod stop;
pub mod tui;
