//! One module per subcommand, each with its own clap arguments next to its code. Each `run`
//! returns the exit code or an error for `main`; [`crate::cli`] assembles and dispatches them.

pub mod ask;
pub mod daemon;
pub mod data;
pub mod debug;
pub mod gateway;
pub mod generate;
pub mod instructions;
pub mod login;
pub mod logs;
pub mod service;
pub mod sessions;
pub mod shell;
pub mod status;

use crate::client::Client;
use crate::connect::Policy;

/// Options every command sees.
pub struct Ctx {
    /// `--json`
    pub json: bool,
    /// How to reach the daemon.
    pub policy: Policy,
}

impl Ctx {
    /// From the global flags and the environment.
    pub fn new(json: bool, no_autostart: bool) -> Self {
        Self {
            json,
            policy: Policy::new(no_autostart),
        }
    }

    /// Connect to the daemon under this command line's policy ([`crate::connect`]).
    pub fn connect(&self) -> anyhow::Result<Client> {
        crate::connect::connect(self.policy, &service::Installed)
    }
}
