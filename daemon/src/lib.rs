//! codexd: one per-user daemon that owns the ChatGPT sign-in and every call to OpenAI.
//!
//! Layout (follow the names):
//! - [`run`] — startup and shutdown: config, logging, state lock, socket, actors, serving.
//! - [`config`] / [`paths`] — settings (file + environment) and where files live.
//! - [`server`] — the Unix socket: binding or adopting it, peer checks, one task per
//!   connection, and [`server::dispatch`] which routes each request to an actor.
//! - [`supervisor`] — restarts an actor that panicked or stopped, with its state reloaded.
//! - [`auth`] — AuthActor: sign-in flows, credential store, refresh, revoke.
//! - [`instructions`] — InstructionCacheActor: base instructions from GitHub and the model catalog.
//! - [`session`] — SessionRegistry and one SessionActor per conversation.
//! - [`log`] — LogActor: log files, redaction, live stream, request logs.
//! - [`gateway`] — the OpenAI-compatible HTTP endpoint for other tools (Unix socket, loopback TCP).
//! - [`data`] — what codexd stores where, and purging it.
//! - [`request`] — the per-request channel from an actor back to its client.
//! - [`secret`], [`fsutil`], [`http`] — small shared pieces.

pub mod auth;
pub mod config;
pub mod data;
pub mod fsutil;
pub mod gateway;
pub mod http;
pub mod instructions;
pub mod log;
pub mod paths;
pub mod request;
pub mod run;
pub mod secret;
pub mod server;
pub mod session;
pub mod supervisor;

/// Current time as unix seconds.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
