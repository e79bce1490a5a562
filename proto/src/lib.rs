//! The wire contract between `codexd` and its clients.
//!
//! Layout:
//! - [`message`] — the envelope: handshake, client messages, server messages, and the
//!   request / event / reply enums every command is expressed in.
//! - [`auth`], [`conversation`], [`instructions`], [`logs`], [`status`], [`data`] — the payload
//!   types of each area, so each daemon actor has one file to look at.
//! - [`error`] — typed error codes carried on the wire; clients choose exit codes from them.
//! - [`frame`] — the codec: u32 big-endian length + bincode 2 body, with a hard size cap.
//! - [`socket`] — where the socket lives and the directory safety rules.
//! - [`process`] — whether the daemon's process still runs (stop and the tests wait on it).
//! - [`human`] — times and durations for people, so daemon messages and client output agree.
//! - [`text`] — model text made safe for a terminal, and the rule that cleans a suggestion.
//!
//! bincode is not self-describing: never use `#[serde(tag = ...)]`, `untagged`, `flatten`
//! or `skip_serializing_if` in these types (they encode but fail to decode).
#![deny(missing_docs)]

pub mod auth;
pub mod conversation;
pub mod data;
pub mod error;
pub mod frame;
pub mod gateway;
pub mod human;
pub mod instructions;
pub mod logs;
pub mod message;
pub mod process;
pub mod socket;
pub mod status;
pub mod text;
pub mod version;

pub use error::{ErrorCode, WireError};
pub use message::{ClientMessage, Event, Hello, HelloReply, Reply, Request, ServerMessage};

/// Version of this wire protocol. Bump on any change to the message types or framing.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame body either side accepts, checked before allocating.
pub const MAX_FRAME_LEN: u32 = 4 * 1024 * 1024;

/// The version of this crate, which daemon and client share (one workspace).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
