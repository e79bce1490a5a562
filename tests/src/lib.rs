//! End-to-end tests, local fakes and the benchmark for codexd.
//!
//! - [`fakes`] — OpenAI auth, the Codex backend and GitHub, faithful enough to test against,
//!   started on 127.0.0.1 (also runnable by hand: `cargo run -p codexd-tests --bin codexd-fakes`).
//! - [`harness`] — isolated environments that run the real `codexd` and `codexctl`.
//! - [`bench`] — measurement helpers of the benchmark command (`--bin bench`).
//! - [`tmux`] — drive terminal programs (shells, `codexctl ask` on a TTY) in tmux.
//! - `tests/*.rs` — the end-to-end tests, one file per area.

pub mod bench;
pub mod fakes;
pub mod harness;
pub mod tmux;
