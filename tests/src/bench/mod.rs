//! Pieces of the benchmark command (`cargo run --release -p codexd-tests --bin bench`),
//! shared with the reliability tests where useful.
//!
//! - [`stats`] — median and spread of repeated samples.
//! - [`procfs`] — a process's RSS, CPU time and wakeups from `/proc`.
//! - [`child`] — time a whole child process and get its peak RSS (`wait4`).
//! - [`wire`] — a raw synchronous protocol client (no `codexctl` process in the way).
//! - [`report`] — result rows, the printed table, the JSON file.
//! - [`cases`] — the benchmark cases against fakes + a real daemon.
//! - [`codex_cli`] — the upstream Codex CLI side by side (when `CODEX_BIN` is set).
//! - [`gateway`] — the OpenAI-compatible gateway: TTFB overhead, 500 streams, idle RSS.

pub mod cases;
pub mod child;
pub mod codex_cli;
pub mod gateway;
pub mod procfs;
pub mod report;
pub mod stats;
pub mod wire;
