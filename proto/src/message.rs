//! The envelope: what travels in each frame.
//!
//! A connection starts with the client's [`Hello`] and the daemon's [`HelloReply`]. Then the
//! client sends one [`ClientMessage::Request`] at a time; the daemon answers with any number of
//! [`ServerMessage::Event`]s followed by exactly one [`ServerMessage::Reply`] or
//! [`ServerMessage::Error`]. While a request runs, the client may send
//! [`ClientMessage::Input`] (e.g. a pasted redirect URL) or [`ClientMessage::Cancel`];
//! closing the connection cancels too.

use serde::{Deserialize, Serialize};

use crate::auth::{AccountSummary, LoginEvent, LoginRequest, LogoutOutcome};
use crate::conversation::{
    AskEvent, AskOutcome, AskRequest, SessionDetail, SessionInfo, SessionsRequest,
};
use crate::data::{DataLocation, DataRequest};
use crate::error::WireError;
use crate::gateway::{GatewayReply, GatewayRequest};
use crate::instructions::{InstructionsInfo, InstructionsRequest, ModelCatalog};
use crate::logs::{LogLine, LogsRequest};
use crate::status::{ActorKind, DaemonStatus};

/// First frame a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The client's [`crate::PROTOCOL_VERSION`].
    pub protocol: u32,
    /// Client name and version, e.g. `codexctl 0.1.0`, for the daemon's log.
    pub client: String,
}

/// The daemon's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HelloReply {
    /// Same protocol: go ahead.
    Welcome {
        /// The daemon's protocol version (equal to the client's).
        protocol: u32,
        /// The daemon's package version.
        daemon_version: String,
        /// The daemon's process id.
        pid: u32,
    },
    /// Different protocol: the daemon closes the connection after this frame.
    Mismatch {
        /// The daemon's protocol version.
        daemon_protocol: u32,
        /// The daemon's package version.
        daemon_version: String,
        /// The daemon's process id, so the client can say what to restart.
        pid: u32,
    },
    /// Every connection slot is taken: the daemon closes the connection after this frame.
    Busy {
        /// Connections open right now.
        connections: u32,
        /// The connection cap.
        limit: u32,
        /// The daemon's process id.
        pid: u32,
    },
}

/// A frame from client to daemon after the handshake.
// One message lives briefly per frame; boxing the request would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// Start a request. Only one runs per connection at a time.
    Request(Request),
    /// A line of user input for the running request (the `login --paste` redirect URL).
    Input(String),
    /// Cancel the running request; the daemon answers with a `Cancelled` error.
    Cancel,
}

/// Everything a client can ask the daemon.
// One value per request, moved once into its frame: boxing variants would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Liveness check; answered with [`Reply::Pong`]. Not counted as activity.
    Ping,
    /// Daemon, actor, sign-in, instructions, sessions and usage state.
    Status,
    /// Stop the daemon gracefully.
    Shutdown,
    /// Sign in (browser, device code, paste, or import of a Codex CLI login).
    Login(LoginRequest),
    /// Revoke at OpenAI, then delete local credentials (or only delete, with `local_only`).
    Logout {
        /// Skip the revoke call; tokens stay valid at OpenAI until they expire.
        local_only: bool,
    },
    /// Send a prompt to the model and stream the answer.
    Ask(AskRequest),
    /// List, show, remove or rename conversations.
    Sessions(SessionsRequest),
    /// Describe (and optionally refresh or show) the base instructions for a model.
    Instructions(InstructionsRequest),
    /// The model catalog.
    Models {
        /// Revalidate the catalog with the backend now.
        refresh: bool,
    },
    /// Recent log lines, optionally followed live.
    Logs(LogsRequest),
    /// Turn the opt-in request logs on or off.
    SetRequestLogging {
        /// New state.
        enabled: bool,
    },
    /// List or purge the places codexd stores data.
    Data(DataRequest),
    /// Test hooks; refused unless the daemon runs with `CODEXD_TEST_HOOKS=1`.
    Debug(DebugRequest),
    /// The OpenAI-compatible gateway: status, TCP on/off, key. (Last, so older variants
    /// keep their wire tags.)
    Gateway(GatewayRequest),
}

/// Requests that exist only to let tests break the daemon on purpose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DebugRequest {
    /// Make the named actor panic inside a message handler.
    PanicActor(ActorKind),
    /// Make the named actor panic inside the future an async handler returned.
    PanicActorInFuture(ActorKind),
    /// Ask the AuthActor for an access token as a backend call would (answered with
    /// [`Reply::DebugAccess`]); `after_unauthorized` reports the current token as rejected by
    /// the backend first (reactive refresh).
    Access {
        /// Treat the current token as rejected with a 401.
        after_unauthorized: bool,
    },
}

/// A frame from daemon to client after the handshake.
// One value per frame, encoded and dropped at once: boxing variants would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// Progress of the running request; more frames follow.
    Event(Event),
    /// The request finished successfully; nothing more for it follows.
    Reply(Reply),
    /// The request failed; nothing more for it follows.
    Error(WireError),
}

/// Streamed progress of a running request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Sign-in progress.
    Login(LoginEvent),
    /// Answer streaming.
    Ask(AskEvent),
    /// One log line (for `logs`).
    Log(LogLine),
    /// A log subscriber fell behind; this many lines were skipped for it.
    LogsMissed(u64),
}

/// The final, successful answer to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// Answer to [`Request::Ping`].
    Pong,
    /// Generic success with nothing to report.
    Done,
    /// Answer to [`Request::Status`].
    Status(Box<DaemonStatus>),
    /// Sign-in finished.
    LoggedIn(AccountSummary),
    /// Sign-out finished.
    LoggedOut(LogoutOutcome),
    /// The answer of a finished turn.
    Answer(AskOutcome),
    /// Conversation list.
    Sessions(Vec<SessionInfo>),
    /// One conversation in full.
    Session(SessionDetail),
    /// Instructions description.
    Instructions(InstructionsInfo),
    /// Model catalog.
    Models(ModelCatalog),
    /// Request logging state after a change.
    RequestLogging {
        /// Whether request logs are now written.
        enabled: bool,
        /// Where they go.
        dir: String,
    },
    /// Storage locations (list), or what was deleted (purge).
    Data(Vec<DataLocation>),
    /// Answer to `DebugRequest::Access`: which account, and a fingerprint of the token
    /// (never the token itself).
    DebugAccess {
        /// `ChatGPT-Account-ID`.
        account_id: String,
        /// Hex SHA-256 of the access token.
        token_sha256: String,
    },
    /// Answer to [`Request::Gateway`].
    Gateway(GatewayReply),
}
