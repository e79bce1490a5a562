//! codexd: one per-user daemon that owns the ChatGPT sign-in and every call to OpenAI.
//!
//! Layout (follow the names):
//! - [`run`] — startup and shutdown: config, logging, state lock, socket, actors, serving.
//! - [`config`] / [`paths`] — settings (file + environment) and where files live;
//!   [`endpoint_policy`] — HTTPS only, except to loopback.
//! - [`server`] — the Unix socket: binding or adopting it, peer checks, one task per
//!   connection, and [`server::dispatch`] which routes each request to an actor.
//! - [`supervisor`] — restarts an actor that panicked or stopped, with its state reloaded.
//! - [`auth`] — AuthActor: sign-in flows, credential store, refresh, revoke.
//! - [`backend`] — the one Codex backend client: headers, compatibility version, routing,
//!   retries, 401 → refresh, SSE parsing, usage headers.
//! - [`instructions`] — InstructionCacheActor: base instructions from GitHub and the model catalog.
//! - [`session`] — SessionRegistry and one SessionActor per conversation.
//! - [`log`] — LogActor: log files, redaction, live stream, request logs.
//! - [`gateway`] — the OpenAI-compatible HTTP endpoint for other tools (Unix socket, loopback TCP).
//! - [`services`] — what every request may need (settings, paths, actor handles);
//!   [`status`] — `codexctl status`; [`data`] — what codexd stores where, and purging it.
//! - [`request`] — the per-request channel from an actor back to its client.
//! - [`hardening`] — no core dumps, descriptor limits, at start-up; [`memory`] — giving the
//!   heap back when the last client leaves.
//! - [`secret`], [`fsutil`], [`http`] — small shared pieces.

pub mod auth;
pub mod backend;
pub mod config;
pub(crate) mod data;
pub(crate) mod endpoint_policy;
pub(crate) mod fsutil;
pub mod gateway;
pub(crate) mod hardening;
pub mod http;
pub mod instructions;
pub mod log;
pub(crate) mod memory;
pub mod paths;
pub(crate) mod request;
pub mod run;
pub mod secret;
pub(crate) mod server;
pub(crate) mod services;
pub(crate) mod session;
pub(crate) mod status;
pub(crate) mod supervisor;

/// Current time as unix seconds (the protocol crate's clock: one definition for both sides).
pub use codexd_proto::human::now as now_unix;
